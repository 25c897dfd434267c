package integration

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/kubequeue/kubequeue"
	"github.com/kubequeue/kubequeue/localcluster"
)

// squareWorker performs the items of batches: see squareItem. Built with
// -race, this binary would sleep a second on exit (the race detector's
// atexit_sleep_ms), in each of a batch's 1,000 pods.
var squareWorker = kubequeue.NewWorker("squares", squareItem, kubequeue.WithImage(testImage),
	kubequeue.WithEnv("GORACE", "atexit_sleep_ms=0"))

// squares returns the items 0 to n-1, those of fail failing permanently.
func squares(n int, fail ...int) []square {
	items := make([]square, n)
	for i := range items {
		items[i] = square{N: i}
	}
	for _, i := range fail {
		items[i].Fail = true
	}
	return items
}

// batchParallelism is how many of a batch's pods the local kubelet runs at
// a time in these tests: each is a process of this test binary.
const batchParallelism = 50

// TestQueue_EnqueueBatch_ThousandItems performs 1,000 items in one Indexed
// Job, each in a pod of its own that really runs the worker on the local
// kubelet, and reads each item's result from the batch's Status.
func TestQueue_EnqueueBatch_ThousandItems(t *testing.T) {
	t.Parallel()
	e := setup(t)
	const n = 1000
	start := time.Now()
	h, err := e.queue.EnqueueBatch(e.ctx, squareWorker, squares(n), kubequeue.WithParallelism(batchParallelism))
	require.NoError(t, err)
	st, err := e.queue.Wait(e.ctx, h)
	took := time.Since(start)
	require.NoError(t, err)
	t.Logf("a batch of %d items, %d at a time, on the local kubelet: enqueued to succeeded in %v (%.0f items/s)",
		n, batchParallelism, took.Round(time.Millisecond), n/took.Seconds())

	require.Equal(t, kubequeue.StateSucceeded, st.State)
	require.Len(t, st.Items, n)
	require.Equal(t, n, st.CountItems(kubequeue.StateSucceeded))
	for i, item := range st.Items {
		require.Equal(t, i, item.Index)
		var got int
		require.NoError(t, item.DecodeResult(&got), "item %d", i)
		require.Equal(t, i*i, got, "item %d", i)
	}

	// One Job, and one Secret for its items (1,000 copies of them in the
	// pods' environments would be too many), rather than 1,000 of each.
	jobs, err := client.BatchV1().Jobs(e.ns).List(e.ctx, metav1.ListOptions{})
	require.NoError(t, err)
	require.Len(t, jobs.Items, 1)
	job := &jobs.Items[0]
	require.Equal(t, h.Name, job.Name)
	require.Equal(t, batchv1.IndexedCompletion, *job.Spec.CompletionMode)
	require.Equal(t, int32(n), job.Status.Succeeded)
	secrets, err := client.CoreV1().Secrets(e.ns).List(e.ctx, metav1.ListOptions{})
	require.NoError(t, err)
	require.Len(t, secrets.Items, 1)
	require.Equal(t, job.UID, secrets.Items[0].OwnerReferences[0].UID, "the items' Secret belongs to the batch's Job")
	require.Len(t, jobPods(t, e, h.Name), n, "one pod per item, none retried")
}

// TestQueue_EnqueueBatch_PermanentFailures fails 3 items of 10 with a
// Permanent error: each fails its own index at once (FailIndex), without
// retries, and the other items succeed; the batch then fails, and its
// Status and error name the 3.
func TestQueue_EnqueueBatch_PermanentFailures(t *testing.T) {
	t.Parallel()
	e := setup(t)
	failing := []int{2, 5, 7}
	h, err := e.queue.EnqueueBatch(e.ctx, squareWorker, squares(10, failing...), kubequeue.WithBackoffLimit(3))
	require.NoError(t, err)

	st, err := e.queue.Wait(e.ctx, h)
	require.ErrorIs(t, err, kubequeue.ErrJobFailed)
	var failed *kubequeue.JobFailedError
	require.ErrorAs(t, err, &failed)
	require.Equal(t, failing, failed.FailedItems, "%v", err)
	require.Equal(t, batchv1.JobReasonFailedIndexes, failed.Reason, "%v", err)
	require.Contains(t, err.Error(), "3 items failed (2, 5 and 7)")

	require.Equal(t, kubequeue.StateFailed, st.State)
	require.Len(t, st.Items, 10)
	require.Equal(t, 7, st.CountItems(kubequeue.StateSucceeded))
	require.Equal(t, 3, st.CountItems(kubequeue.StateFailed))
	require.Equal(t, int32(3), st.Failures, "one failed pod per failing item: a Permanent error is not retried")
	for i, item := range st.Items {
		if slices.Contains(failing, i) {
			require.Equal(t, kubequeue.StateFailed, item.State, "item %d", i)
			require.Equal(t, int32(kubequeue.ExitPermanent), item.ExitCode, "item %d", i)
			require.Contains(t, item.TerminationMessage, fmt.Sprintf("item %d can never succeed", i))
			require.Equal(t, int32(1), item.Failures, "item %d", i)
			require.ErrorIs(t, item.DecodeResult(new(int)), kubequeue.ErrNoResult)
			continue
		}
		require.Equal(t, kubequeue.StateSucceeded, item.State, "item %d", i)
		require.Zero(t, item.Failures, "item %d", i)
		var got int
		require.NoError(t, item.DecodeResult(&got), "item %d", i)
		require.Equal(t, i*i, got, "item %d", i)
	}
	require.Len(t, jobPods(t, e, h.Name), 10)

	// The failing item's logs, alone, and the whole batch's, item by item.
	var lines []string
	for line, err := range e.queue.Logs(e.ctx, h, kubequeue.LogOptions{Index: ptr.To(5)}) {
		require.NoError(t, err)
		require.Equal(t, 5, line.Index)
		lines = append(lines, line.Text)
	}
	require.Contains(t, lines, "squaring 5")
	require.True(t, slices.ContainsFunc(lines, func(l string) bool { return strings.Contains(l, "item 5 can never succeed") }), "%q", lines)
	lines = nil
	for line, err := range e.queue.Logs(e.ctx, h, kubequeue.LogOptions{}) {
		require.NoError(t, err)
		if strings.HasPrefix(line.Text, "squaring ") {
			lines = append(lines, line.Text)
		}
	}
	want := make([]string, 10)
	for i := range want {
		want[i] = fmt.Sprintf("squaring %d", i)
	}
	require.Equal(t, want, lines)
}

// TestQueue_EnqueueBatch_Limits enqueues the largest batch kubequeue
// accepts, MaxBatchItems items under the longest worker name, suspended so
// that no pod runs, and shows that the API server accepts it and refuses
// the same Job with one more item, as kubequeue does before any request.
func TestQueue_EnqueueBatch_Limits(t *testing.T) {
	t.Parallel()
	e := setup(t)
	worker := kubequeue.NewWorker("a-worker-whose-name-is-as-long-as-kubequeue-allows-x",
		func(context.Context, struct{}) error { return nil }, kubequeue.WithImage(testImage))
	h, err := e.queue.EnqueueBatch(e.ctx, worker, make([]struct{}, kubequeue.MaxBatchItems), suspended)
	require.NoError(t, err)
	require.Len(t, h.Name, 57, "room for the host name of the pod of index 99999")
	job, err := client.BatchV1().Jobs(e.ns).Get(e.ctx, h.Name, metav1.GetOptions{})
	require.NoError(t, err)
	require.Equal(t, int32(kubequeue.MaxBatchItems), *job.Spec.Completions)
	require.Equal(t, int32(kubequeue.MaxBatchItems), *job.Spec.Parallelism)

	_, err = e.queue.EnqueueBatch(e.ctx, worker, make([]struct{}, kubequeue.MaxBatchItems+1), suspended)
	require.ErrorIs(t, err, kubequeue.ErrPayloadTooLarge)
	require.ErrorContains(t, err, "a batch of 100001 items, more than 100000")

	more := job.DeepCopy()
	more.ObjectMeta = metav1.ObjectMeta{Name: "one-more", Namespace: e.ns}
	more.Spec.Completions = ptr.To(*more.Spec.Completions + 1)
	more.Spec.Selector, more.Spec.Template.Labels = nil, nil
	more.Spec.Template.Spec.Volumes = nil
	more.Spec.Template.Spec.Containers[0].VolumeMounts = nil
	_, err = client.BatchV1().Jobs(e.ns).Create(e.ctx, more, metav1.CreateOptions{})
	require.True(t, apierrors.IsInvalid(err), "%v", err)
	require.ErrorContains(t, err, "maxFailedIndexes")
}

// BenchmarkBatch measures the throughput, in items per second from the
// first request to the last item's success, of 1,000 items enqueued as one
// batch beside the same 1,000 enqueued as single Jobs (16 requests at a
// time, then waited for with WaitAll), in the same run. The pods are
// simulated (kwok), so that the control plane rather than 1,000 processes
// sets the pace. It reports both rates and their ratio (batch-x).
func BenchmarkBatch(b *testing.B) {
	const n = 1000
	selector, tolerations := localcluster.Simulated()
	worker := kubequeue.NewWorker("simulated", greet,
		kubequeue.WithImage("registry.example.com/not-mapped:v1"),
		kubequeue.WithNodeSelector(selector),
		kubequeue.WithTolerations(tolerations...),
	)
	items := make([]greeting, n)
	var batchTook, jobsTook time.Duration
	for b.Loop() {
		b.StopTimer()
		e := setup(b)
		b.StartTimer()
		start := time.Now()
		h, err := e.queue.EnqueueBatch(e.ctx, worker, items)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := e.queue.Wait(e.ctx, h); err != nil {
			b.Fatal(err)
		}
		batchTook += time.Since(start)

		b.StopTimer()
		e = setup(b)
		b.StartTimer()
		start = time.Now()
		handles := make([]kubequeue.Handle, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		next := make(chan int)
		for range 16 {
			wg.Go(func() {
				for i := range next {
					handles[i], errs[i] = e.queue.Enqueue(e.ctx, worker, items[i])
				}
			})
		}
		for i := range n {
			next <- i
		}
		close(next)
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				b.Fatal(err)
			}
		}
		for _, err := range e.queue.WaitAll(e.ctx, handles...) {
			if err != nil {
				b.Fatal(err)
			}
		}
		jobsTook += time.Since(start)
	}
	batchRate := float64(n*b.N) / batchTook.Seconds()
	jobsRate := float64(n*b.N) / jobsTook.Seconds()
	b.ReportMetric(batchRate, "batch-items/s")
	b.ReportMetric(jobsRate, "jobs-items/s")
	b.ReportMetric(batchRate/jobsRate, "batch-x")
}
