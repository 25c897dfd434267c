package spawn

import (
	"os/exec"
	"runtime"
	"syscall"
	"testing"
	"time"
)

// The main goroutine keeps the process's first thread, which the Go runtime
// never ends (a goroutine that returns locked to it leaves it wedged), so
// that the goroutines of the tests run on threads that can end.
func init() { runtime.LockOSThread() }

// alive reports whether cmd's process still runs half a second later.
func alive(cmd *exec.Cmd) bool {
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	select {
	case <-done:
		return false
	case <-time.After(500 * time.Millisecond):
		return true
	}
}

// TestStart_ThreadEnds starts a child with a parent-death signal from a
// goroutine locked to its thread, which then returns, ending the thread: a
// child started there by exec.Cmd.Start dies with the thread, one started
// by Start does not.
func TestStart_ThreadEnds(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the parent-death signal is Linux's")
	}
	tests := []struct {
		name      string
		start     func(*exec.Cmd) error
		wantAlive bool
	}{
		{name: "ExecStart", start: (*exec.Cmd).Start, wantAlive: false},
		{name: "Start", start: Start, wantAlive: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := exec.Command("sleep", "300")
			cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
			errc := make(chan error)
			go func() {
				runtime.LockOSThread() // not unlocked: the thread ends with the goroutine
				errc <- tt.start(cmd)
			}()
			if err := <-errc; err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = cmd.Process.Kill() })
			time.Sleep(100 * time.Millisecond) // the thread ends
			if got := alive(cmd); got != tt.wantAlive {
				t.Fatalf("child alive after its starting thread ended: %v, want %v", got, tt.wantAlive)
			}
		})
	}
}
