package kubequeue_test

import (
	"testing"

	"github.com/stretchr/testify/require"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/kubequeue/kubequeue"
	"github.com/kubequeue/kubequeue/kubequeuetest"
)

// newQueue returns kubequeue.New(client, opts...) and requires success.
func newQueue(t testing.TB, client kubernetes.Interface, opts ...kubequeue.QueueOption) *kubequeue.Queue {
	t.Helper()
	queue, err := kubequeue.New(client, opts...)
	require.NoError(t, err)
	return queue
}

// buildQueue returns a queue on a fake clientset of its own, for tests that
// only build Jobs.
func buildQueue(t testing.TB, opts ...kubequeue.QueueOption) *kubequeue.Queue {
	t.Helper()
	return newQueue(t, fake.NewClientset(), opts...)
}

// fakeQueue returns kubequeuetest.NewQueue(opts...) and requires success.
func fakeQueue(t testing.TB, opts ...kubequeue.QueueOption) (*kubequeue.Queue, *fake.Clientset) {
	t.Helper()
	queue, client, err := kubequeuetest.NewQueue(opts...)
	require.NoError(t, err)
	return queue, client
}
