package controlplane

import "syscall"

// setParentDeathSignal makes the kernel kill the child when the process that
// started it dies, so an interrupted or crashed test leaves nothing running.
func setParentDeathSignal(attr *syscall.SysProcAttr) {
	attr.Pdeathsig = syscall.SIGKILL
}
