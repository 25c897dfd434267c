//go:build !linux

package localcluster

import "os/exec"

// privateMounts is never called: Kueue runs on Linux only.
func privateMounts(*exec.Cmd) {}
