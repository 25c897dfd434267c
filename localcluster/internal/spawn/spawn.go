// Package spawn starts processes from one OS thread that lives as long as
// the process. Linux sends a child its parent-death signal
// (SysProcAttr.Pdeathsig) when the thread that started it ends, not the
// process; the Go runtime ends a thread when a goroutine locked to it
// (runtime.LockOSThread) returns without unlocking, which code in the same
// process may do at any time. Started here, a child gets the signal only
// when this process dies.
package spawn

import (
	"os/exec"
	"runtime"
	"sync"
)

var (
	once     sync.Once
	requests chan func()
)

// Start starts cmd, as cmd.Start does, from the spawning thread.
func Start(cmd *exec.Cmd) error {
	once.Do(func() {
		requests = make(chan func())
		go func() {
			// Never unlocked, and the goroutine never returns: the thread
			// lives as long as the process.
			runtime.LockOSThread()
			for f := range requests {
				f()
			}
		}()
	})
	done := make(chan error, 1)
	requests <- func() { done <- cmd.Start() }
	return <-done
}
