// Package leakcheck finds goroutines that kubequeue's Wait, WaitAll and Logs
// left running, for tests.
package leakcheck

import (
	"runtime"
	"strings"
	"time"
)

// suspects are the frames of goroutines that must end with the calls that
// started them: kubequeue's own, and client-go's informers and watches.
var suspects = []string{
	"github.com/kubequeue/kubequeue.",
	"k8s.io/client-go/tools/cache.",
	"k8s.io/apimachinery/pkg/watch.",
}

// Goroutines returns the stacks of the running goroutines that have a frame
// of kubequeue or of client-go's informers.
func Goroutines() []string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	var out []string
	for g := range strings.SplitSeq(string(buf), "\n\n") {
		if isSuspect(g) {
			out = append(out, g)
		}
	}
	return out
}

func isSuspect(stack string) bool {
	// The goroutine running the test itself calls into kubequeue.
	if strings.Contains(stack, "leakcheck.Goroutines") {
		return false
	}
	for _, s := range suspects {
		if strings.Contains(stack, s) {
			return true
		}
	}
	return false
}

// Leaked waits up to timeout for the goroutines that Goroutines returns to
// be no more than before, and returns those left over.
func Leaked(before []string, timeout time.Duration) []string {
	deadline := time.Now().Add(timeout)
	for {
		now := Goroutines()
		if len(now) <= len(before) || time.Now().After(deadline) {
			if len(now) <= len(before) {
				return nil
			}
			return now
		}
		time.Sleep(20 * time.Millisecond)
	}
}
