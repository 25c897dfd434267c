package integration

import (
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/kubequeue/kubequeue"
)

// loseResponses is a round tripper that sends every create of a Job to the
// API server but, for one in every, drops the answer after the server
// handled it, as a connection that breaks at that moment would.
type loseResponses struct {
	next          http.RoundTripper
	every         int64
	creates, lost atomic.Int64
}

func (l *loseResponses) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method != http.MethodPost || !strings.HasSuffix(req.URL.Path, "/jobs") {
		return l.next.RoundTrip(req)
	}
	resp, err := l.next.RoundTrip(req)
	if err != nil || l.creates.Add(1)%l.every != 0 {
		return resp, err
	}
	// The server created the Job; the client never learns it.
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	l.lost.Add(1)
	return nil, io.ErrUnexpectedEOF
}

// TestQueue_Enqueue_LostResponses (R1) enqueues 1,000 Jobs through a
// connection that loses the answer to one create in ten after the API
// server stored the Job: every Enqueue returns the Job that exists, and no
// Job is created twice.
func TestQueue_Enqueue_LostResponses(t *testing.T) {
	t.Parallel()
	const enqueues, every = 1000, 10
	e := setup(t)
	cfg := cluster.Config()
	lose := &loseResponses{every: every}
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper { lose.next = rt; return lose })
	c, err := kubernetes.NewForConfig(cfg)
	require.NoError(t, err)
	queue := kubequeue.New(c, kubequeue.WithDefaultNamespace(e.ns))
	// Suspended: the Jobs are what counts, not their pods.
	suspended := kubequeue.WithJobMutator(func(j *batchv1.Job) { j.Spec.Suspend = ptr.To(true) })

	handles := make([]kubequeue.Handle, enqueues)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	next := atomic.Int64{}
	for range 10 {
		wg.Go(func() {
			for i := next.Add(1) - 1; i < enqueues; i = next.Add(1) - 1 {
				h, err := queue.Enqueue(e.ctx, greetWorker, greeting{Name: "x"}, suspended)
				if err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
				handles[i] = h
			}
		})
	}
	wg.Wait()
	require.Empty(t, errs)
	// Each lost answer costs one more create, which finds the Job.
	require.GreaterOrEqual(t, lose.lost.Load(), int64(enqueues/every), "answers lost")
	require.Equal(t, int64(enqueues)+lose.lost.Load(), lose.creates.Load(), "creates sent")

	list, err := client.BatchV1().Jobs(e.ns).List(e.ctx, metav1.ListOptions{})
	require.NoError(t, err)
	require.Len(t, list.Items, enqueues, "one Job per Enqueue: no duplicates")
	byName := make(map[string]batchv1.Job, len(list.Items))
	ids := map[string]bool{}
	for _, j := range list.Items {
		byName[j.Name] = j
		ids[j.Annotations[kubequeue.AnnotationEnqueueID]] = true
	}
	require.Len(t, ids, enqueues, "each Job from another Enqueue")
	for _, h := range handles {
		j, ok := byName[h.Name]
		require.True(t, ok, "the handle %s names a Job that exists", h)
		require.Equal(t, j.UID, h.UID)
	}
	t.Logf("%d enqueues, %d creates sent, %d answers lost, %d Jobs, 0 duplicates, 0 errors",
		enqueues, lose.creates.Load(), lose.lost.Load(), len(list.Items))
}
