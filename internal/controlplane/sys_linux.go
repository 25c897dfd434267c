package controlplane

import "syscall"

// setParentDeathSignal makes the kernel kill the child when the process that
// started it dies, so an interrupted or crashed test leaves nothing running.
// Strictly, the signal comes when the OS thread that started the child ends;
// the Go runtime keeps its threads unless a goroutine exits while locked to
// one, which this package never does.
func setParentDeathSignal(attr *syscall.SysProcAttr) {
	attr.Pdeathsig = syscall.SIGKILL
}
