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
		a := args(7, size)
		data, err := json.Marshal(a)
		require.NoError(t, err)
		require.Len(t, data, size, "payload %s", sizeName(size))
		job, err := queue.Build(worker, a)
		require.NoError(t, err)
		inSecret := payloadVolume(job) != nil
		require.Equal(t, size > kubequeue.MaxEnvPayloadSize, inSecret, "payload %s in a Secret", sizeName(size))
	}
	require.Equal(t, sortedKeys(Full.Payload), sortedKeys(Smoke.Payload), "the smoke run measures every size")
	require.Equal(t, sortedKeys(Full.Enqueue), sortedKeys(Smoke.Enqueue), "the smoke run measures every concurrency")
}
