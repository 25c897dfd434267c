// Package leakcheck finds goroutines that kubequeue's Wait, WaitAll and Logs
// left running, for tests.
package leakcheck

import (
	"runtime"
	"strconv"
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

// foreign is the frame of code whose goroutines, and their descendants, are
// not the code under test: the local cluster, whose kubelet runs in the
// test process and whose informers start new watches whenever they like.
const foreign = "github.com/kubequeue/kubequeue/localcluster"

// goroutine is one goroutine of a stack dump.
type goroutine struct {
	id, parent int
	stack      string
}

// dump returns every running goroutine, by id.
func dump() map[int]goroutine {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	all := map[int]goroutine{}
	for stack := range strings.SplitSeq(string(buf), "\n\n") {
		g := goroutine{id: headerID(stack), parent: parentID(stack), stack: stack}
		if g.id > 0 {
			all[g.id] = g
		}
	}
	return all
}

// headerID returns the id of "goroutine 12 [running]:", or 0.
func headerID(stack string) int {
	rest, ok := strings.CutPrefix(stack, "goroutine ")
	if !ok {
		return 0
	}
	id, _, _ := strings.Cut(rest, " ")
	n, _ := strconv.Atoi(id)
	return n
}

// parentID returns N of the final "created by f in goroutine N", or 0.
func parentID(stack string) int {
	i := strings.LastIndex(stack, "created by ")
	if i < 0 {
		return 0
	}
	line, _, _ := strings.Cut(stack[i:], "\n")
	_, id, ok := strings.Cut(line, " in goroutine ")
	if !ok {
		return 0
	}
	n, _ := strconv.Atoi(id)
	return n
}

// suspected returns the goroutines of all that have a frame of kubequeue or
// of client-go's informers and that do not descend from the local cluster.
func suspected(all map[int]goroutine) map[int]string {
	out := map[int]string{}
	for id, g := range all {
		// The goroutine running the test itself calls into kubequeue.
		if strings.Contains(g.stack, "leakcheck.") || !isSuspect(g.stack) || isForeign(all, g) {
			continue
		}
		out[id] = g.stack
	}
	return out
}

func isSuspect(stack string) bool {
	for _, s := range suspects {
		if strings.Contains(stack, s) {
			return true
		}
	}
	return false
}

// isForeign reports whether g or one of its living ancestors runs the
// local cluster's code.
func isForeign(all map[int]goroutine, g goroutine) bool {
	for range len(all) { // bounds the walk should ids ever form a cycle
		if strings.Contains(g.stack, foreign) {
			return true
		}
		parent, ok := all[g.parent]
		if !ok {
			return false
		}
		g = parent
	}
	return false
}

// Goroutines returns the stacks of the running goroutines that have a frame
// of kubequeue or of client-go's informers, leaving out those of the local
// cluster (whose kubelet may run in the test process).
func Goroutines() []string {
	var out []string
	for _, stack := range suspected(dump()) {
		out = append(out, stack)
	}
	return out
}

// Leaked waits up to timeout for every goroutine that Goroutines would
// return and that was not among before to end, and returns the stacks of
// those still running then.
func Leaked(before []string, timeout time.Duration) []string {
	had := map[int]bool{}
	for _, stack := range before {
		had[headerID(stack)] = true
	}
	deadline := time.Now().Add(timeout)
	for {
		var left []string
		for id, stack := range suspected(dump()) {
			if !had[id] {
				left = append(left, stack)
			}
		}
		if len(left) == 0 || time.Now().After(deadline) {
			return left
		}
		time.Sleep(20 * time.Millisecond)
	}
}
