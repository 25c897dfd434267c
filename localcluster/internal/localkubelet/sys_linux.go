package localkubelet

import "syscall"

// sysProcAttr puts a container's process in a process group of its own, so
// that everything it starts can be signalled at once, and has the kernel kill
// it if the kubelet's process dies (it is started through package spawn, so
// that the signal does not come earlier, when a thread ends).
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// hostMemory returns the host's memory in bytes.
func hostMemory() int64 {
	var si syscall.Sysinfo_t
	if err := syscall.Sysinfo(&si); err != nil {
		return 0
	}
	return int64(si.Totalram) * int64(si.Unit)
}
