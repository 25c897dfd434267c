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
// Strictly, the signal comes when the OS thread that started the child ends:
// children are started through package spawn, from a thread that lives as
// long as the process.
func setParentDeathSignal(attr *syscall.SysProcAttr) {
	attr.Pdeathsig = syscall.SIGKILL
}

// killLeftovers kills, with SIGKILL, the processes left by the cluster
// whose directory is dir, whose process has died: those whose environment
// sets KUBEQUEUE_LOCAL_ROOT ([EnvRoot]) to a directory in dir, which every
// container's process has and passes on to what it starts, and those with
// an argument --flag=<a path in dir>, as the components have. The
// parent-death signal ends the components and the containers' processes;
// this ends the containers' children. A program that merely names a file
// in dir, such as a pager showing a log, is left alone.
func killLeftovers(dir string) {
	in := filepath.Clean(dir) + string(filepath.Separator)
	markers := map[string][]byte{
		"environ": []byte(EnvRoot + "=" + in),
		"cmdline": []byte("=" + in),
	}
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
		for f, marker := range markers {
			b, err := os.ReadFile(filepath.Join("/proc", e.Name(), f))
			if err == nil && bytes.Contains(b, marker) {
				_ = syscall.Kill(pid, syscall.SIGKILL)
				break
			}
		}
	}
}
