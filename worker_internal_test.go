package kubequeue

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"
	"k8s.io/client-go/kubernetes/fake"
)

// TestNewWorker_ChecksOnce: a worker's options are checked once, in
// NewWorker; Build, Enqueue and the runtime report what NewWorker found
// and never check again.
func TestNewWorker_ChecksOnce(t *testing.T) {
	t.Parallel()
	perform := func(context.Context, struct{}) error { return nil }

	queue, err := New(fake.NewClientset())
	require.NoError(t, err)

	bad := NewWorker("greet", perform, WithImage("Not An Image"))
	require.ErrorIs(t, bad.Validate(), ErrInvalidWorker)
	bad.err = nil // as if NewWorker had found nothing wrong
	_, err = queue.Build(bad, struct{}{})
	require.NoError(t, err, "Build checked the options again")
	_, err = queue.Enqueue(t.Context(), bad, struct{}{})
	require.NoError(t, err, "Enqueue checked the options again")

	good := NewWorker("greet", perform, WithImage("registry.example.com/app:v1"))
	stored := errors.New("what NewWorker found")
	good.err = stored
	_, err = queue.Build(good, struct{}{})
	require.ErrorIs(t, err, stored)
	require.ErrorIs(t, good.Validate(), stored)
}
