package kubequeue_test

import (
	"testing"

	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/kubequeue/kubequeue"
)

// build builds the Job of job for payload, as Enqueue would create it, with a
// queue that has no client, and requires success.
func build(t *testing.T, job kubequeue.Job, payload any, opts ...kubequeue.EnqueueOption) *batchv1.Job {
	t.Helper()
	built, err := kubequeue.New(nil).Build(job, payload, opts...)
	require.NoError(t, err)
	require.NotNil(t, built)
	return built
}

// requireNoAPICall requires that client saw no API call at all.
func requireNoAPICall(t *testing.T, client *fake.Clientset) {
	t.Helper()
	require.Empty(t, client.Actions(), "invalid input must be refused before any API call")
}
