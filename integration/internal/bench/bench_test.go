package bench

import (
	"encoding/json"
	"testing"

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
