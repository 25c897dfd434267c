package kubequeuetest_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubequeue/kubequeue"
	"github.com/kubequeue/kubequeue/kubequeuetest"
)

// invoices returns n invoices, of IDs 0 to n-1, each with a note of size
// bytes.
func invoices(n, size int) []invoice {
	out := make([]invoice, n)
	for i := range out {
		out[i] = invoice{ID: int64(i), Note: strings.Repeat("x", size)}
	}
	return out
}

// doubler records twice the invoice's ID, and fails permanently for ID 1.
func doubler(seen *sync.Map) *kubequeue.Worker[invoice] {
	return newInvoiceWorker(func(ctx context.Context, in invoice) error {
		seen.Store(in.ID, in.Note)
		if in.ID == 1 {
			return kubequeue.Permanent(errors.New("invoice 1 is void"))
		}
		return kubequeue.SetResult(ctx, 2*in.ID)
	})
}

func TestPerformBatch(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name string
		opts []kubequeue.EnqueueOption
	}{
		{"Env", nil},
		{"Secret", []kubequeue.EnqueueOption{kubequeue.WithSensitivePayload()}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var seen sync.Map
			outcomes, err := kubequeuetest.PerformBatch(t.Context(), doubler(&seen), invoices(4, 3), tt.opts...)
			require.NoError(t, err)
			require.Len(t, outcomes, 4)
			for i, o := range outcomes {
				require.Equal(t, i, o.Index)
				note, ok := seen.Load(int64(i))
				require.True(t, ok, "item %d was performed", i)
				require.Equal(t, "xxx", note)
				if i == 1 {
					require.ErrorIs(t, o.Err, kubequeue.ErrPermanent)
					require.Equal(t, kubequeue.ExitPermanent, kubequeue.ExitCode(o.Err))
					require.Nil(t, o.Result)
					continue
				}
				require.NoError(t, o.Err)
				require.JSONEq(t, fmt.Sprint(2*i), string(o.Result))
			}
		})
	}
}

func TestPerformBatch_Invalid(t *testing.T) {
	t.Parallel()
	var seen sync.Map
	_, err := kubequeuetest.PerformBatch(t.Context(), doubler(&seen), nil)
	require.ErrorIs(t, err, kubequeue.ErrEmptyBatch)
	_, err = kubequeuetest.PerformBatch(t.Context(), doubler(&seen), invoices(2, 0), kubequeue.WithParallelism(0))
	require.ErrorIs(t, err, kubequeue.ErrInvalidOption)
	seen.Range(func(k, _ any) bool {
		t.Errorf("item %v performed", k)
		return true
	})
}

// TestEnqueuedBatch enqueues a batch whose items travel in a Secret (200
// copies of them would not fit in the pods' environments) beside a single
// Job, and performs what the clientset holds.
func TestEnqueuedBatch(t *testing.T) {
	t.Parallel()
	queue, client, err := kubequeuetest.NewQueue()
	require.NoError(t, err)
	var seen sync.Map
	w := doubler(&seen)
	items := invoices(200, 400)
	h, err := queue.EnqueueBatch(t.Context(), w, items)
	require.NoError(t, err)
	job, err := client.BatchV1().Jobs(h.Namespace).Get(t.Context(), h.Name, metav1.GetOptions{})
	require.NoError(t, err)
	require.NotEmpty(t, job.Spec.Template.Spec.Volumes, "the items travel in a Secret")

	got, err := kubequeuetest.BatchItems(t.Context(), client, job, w)
	require.NoError(t, err)
	require.Equal(t, items, got)

	// A batch is not a single Job, and the reverse.
	_, err = kubequeuetest.PerformJob(t.Context(), client, job, w)
	require.ErrorContains(t, err, "is a batch: PerformBatchJob performs its items")
	single, err := queue.Enqueue(t.Context(), w, invoice{ID: 1000})
	require.NoError(t, err)
	singleJob, err := client.BatchV1().Jobs(single.Namespace).Get(t.Context(), single.Name, metav1.GetOptions{})
	require.NoError(t, err)
	_, err = kubequeuetest.PerformBatchJob(t.Context(), client, singleJob, w)
	require.ErrorContains(t, err, "is not a batch")

	outcomes, err := kubequeuetest.PerformBatchJob(t.Context(), client, job, w)
	require.NoError(t, err)
	require.Len(t, outcomes, 200)
	require.ErrorIs(t, outcomes[1].Err, kubequeue.ErrPermanent)
	require.JSONEq(t, "398", string(outcomes[199].Result))

	// Enqueued gives the batch's items and the single Job's payload, oldest
	// first; PerformEnqueued performs them all, naming the failed item.
	all, err := kubequeuetest.Enqueued(t.Context(), client, w)
	require.NoError(t, err)
	require.Len(t, all, 201)
	require.Equal(t, items, all[:200])
	require.Equal(t, int64(1000), all[200].ID)
	seen.Clear()
	err = kubequeuetest.PerformEnqueued(t.Context(), client, w)
	require.ErrorIs(t, err, kubequeue.ErrPermanent)
	require.ErrorContains(t, err, fmt.Sprintf("job %s/%s item 1: ", h.Namespace, h.Name))
	n := 0
	seen.Range(func(any, any) bool { n++; return true })
	require.Equal(t, 201, n, "every item and the single Job were performed")
}
