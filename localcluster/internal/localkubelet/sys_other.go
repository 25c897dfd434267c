//go:build unix && !linux

package localkubelet

import "syscall"

// sysProcAttr puts a container's process in a process group of its own, so
// that everything it starts can be signalled at once. Outside Linux there is
// no parent-death signal: processes outlive a kubelet that is killed.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}

// hostMemory is not measured outside Linux: 16 GiB is reported.
func hostMemory() int64 { return 16 << 30 }
