package bench

import (
	"context"
	"encoding/json"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/kubequeue/kubequeue"
)

// TestArgs_Sizes: the payloads of the sweep have the size they are named
// by, and travel where the table says: up to 64 KiB in the environment,
// above it in a Secret.
func TestArgs_Sizes(t *testing.T) {
	t.Parallel()
	queue, err := kubequeue.New(fake.NewClientset())
	require.NoError(t, err)
	worker := newWorker("bench")
	for _, size := range sortedKeys(Full.Payload) {
		a := args(firstOrderID, size)
		// Every Job of a side has a payload of that size: the first, and
		// the last of the largest run.
		for _, i := range []int{0, 1, 99_999} {
			p := numbered(a, i)
			data, err := json.Marshal(p)
			require.NoError(t, err)
			require.Len(t, data, size, "payload %s of Job %d", sizeName(size), i)
			job, err := queue.Build(worker, p)
			require.NoError(t, err)
			inSecret := payloadVolume(job) != nil
			require.Equal(t, size > kubequeue.MaxEnvPayloadSize, inSecret, "payload %s of Job %d in a Secret", sizeName(size), i)
		}
	}
	require.Equal(t, sortedKeys(Full.Payload), sortedKeys(Smoke.Payload), "the smoke run measures every size")
	require.Equal(t, sortedKeys(Full.Enqueue), sortedKeys(Smoke.Enqueue), "the smoke run measures every concurrency")
}

func TestLittlesLaw(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		concurrency int
		latencies   []time.Duration
		want        float64
	}{
		{"One", 1, []time.Duration{100 * time.Millisecond, 100 * time.Millisecond}, 10},
		{"Eight", 8, []time.Duration{50 * time.Millisecond, 150 * time.Millisecond}, 80},
		{"None", 8, nil, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			require.InDelta(t, tt.want, littlesLaw(tt.concurrency, tt.latencies), 1e-9)
		})
	}
}

// TestInterleave: each side makes each of its n calls once, and gets its
// own latencies back.
func TestInterleave(t *testing.T) {
	t.Parallel()
	const n = 50
	var mu sync.Mutex
	calls := map[string][]int{}
	side := func(name string, d time.Duration) side {
		return func(_ context.Context, i int) error {
			mu.Lock()
			calls[name] = append(calls[name], i)
			mu.Unlock()
			time.Sleep(d)
			return nil
		}
	}
	kqs, raws, err := interleave(context.Background(), n, 4, side("kq", 2*time.Millisecond), side("raw", 0))
	require.NoError(t, err)
	require.Len(t, kqs, n)
	require.Len(t, raws, n)
	want := make([]int, n)
	for i := range want {
		want[i] = i
	}
	require.Len(t, calls, 2)
	for name, got := range calls {
		slices.Sort(got)
		require.Equal(t, want, got, name)
	}
	require.Greater(t, percentile(kqs, 50), percentile(raws, 50), "kubequeue's side is the slower one here")
}
