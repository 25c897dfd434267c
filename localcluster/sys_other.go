//go:build unix && !linux

package localcluster

import "syscall"

// setParentDeathSignal does nothing where the kernel has no parent-death
// signal; Stop still ends every process group it started.
func setParentDeathSignal(*syscall.SysProcAttr) {}

// killLeftovers does nothing where processes cannot be listed through
// /proc: what a dead cluster's containers started may keep running.
func killLeftovers(string) {}
