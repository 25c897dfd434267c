//go:build unix

package localkubelet

import "syscall"

// killGroup sends sig to the process group led by pid.
func killGroup(pid int, sig syscall.Signal) error {
	return syscall.Kill(-pid, sig)
}
