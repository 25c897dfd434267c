package leakcheck

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/watch"
)

func TestLeaked(t *testing.T) {
	before := Goroutines()
	b := watch.NewBroadcaster(0, watch.WaitIfChannelFull)
	require.NotEmpty(t, Leaked(before, 50*time.Millisecond), "a running broadcaster")
	b.Shutdown()
	require.Empty(t, Leaked(before, 5*time.Second), "a shut-down broadcaster")
}

func TestSuspected(t *testing.T) {
	stack := func(header, frame, createdBy string) string {
		return header + "\n" + frame + "(...)\n\t/src/x.go:1 +0x1\ncreated by " + createdBy + "\n\t/src/y.go:2 +0x2"
	}
	all := map[int]goroutine{}
	for _, s := range []string{
		stack("goroutine 5 [select]:", "github.com/kubequeue/kubequeue/localcluster/internal/localkubelet.Run", "github.com/kubequeue/kubequeue/localcluster.(*Cluster).startKubelet in goroutine 1"),
		stack("goroutine 9 [chan receive]:", "k8s.io/client-go/tools/cache.(*Reflector).watch", "sync.(*WaitGroup).Go in goroutine 5"),
		stack("goroutine 12 [chan receive]:", "k8s.io/apimachinery/pkg/watch.(*StreamWatcher).receive", "k8s.io/apimachinery/pkg/watch.NewStreamWatcher in goroutine 9"),
		stack("goroutine 14 [chan receive]:", "k8s.io/client-go/tools/cache.(*Reflector).watch", "github.com/kubequeue/kubequeue.(*Queue).WaitAll in goroutine 3"),
		stack("goroutine 15 [IO wait]:", "net.(*conn).Read", "net/http.(*Transport).dialConn in goroutine 14"),
	} {
		g := goroutine{id: headerID(s), parent: parentID(s), stack: s}
		all[g.id] = g
	}
	require.Equal(t, 9, all[12].parent)
	// The local cluster's descendants are left out however deep; a
	// goroutine without a suspect frame is left out too.
	require.Equal(t, []int{14}, keys(suspected(all)))
}

func keys(m map[int]string) []int {
	var out []int
	for k := range m {
		out = append(out, k)
	}
	return out
}
