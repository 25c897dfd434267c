package localcluster

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
)

// setParentDeathSignal makes the kernel kill the child when the process that
// started it dies, so an interrupted or crashed test leaves nothing running.
// Strictly, the signal comes when the OS thread that started the child ends;
// the Go runtime keeps its threads unless a goroutine exits while locked to
// one, which this package never does.
func setParentDeathSignal(attr *syscall.SysProcAttr) {
	attr.Pdeathsig = syscall.SIGKILL
}

// killLeftovers kills, with SIGKILL, every process whose command line or
// environment names a path under dir, the directory of a cluster whose
// process has died: its components name their files there, and every
// container's process, and whatever it started, inherits a variable
// ([EnvRoot]) that points there. The parent-death signal ends the
// components and the containers' processes; this ends their children.
func killLeftovers(dir string) {
	needle := []byte(filepath.Clean(dir) + string(filepath.Separator))
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return
	}
	self := os.Getpid()
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		for _, f := range []string{"cmdline", "environ"} {
			b, err := os.ReadFile(filepath.Join("/proc", e.Name(), f))
			if err == nil && bytes.Contains(b, needle) {
				_ = syscall.Kill(pid, syscall.SIGKILL)
				break
			}
		}
	}
}
