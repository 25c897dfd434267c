//go:build unix && !linux

package controlplane

import "syscall"

// setParentDeathSignal does nothing where the kernel has no parent-death
// signal; Stop still ends every process group it started.
func setParentDeathSignal(*syscall.SysProcAttr) {}
