package kubequeuetest_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubequeue/kubequeue"
	"github.com/kubequeue/kubequeue/kubequeuetest"
)

type invoice struct {
	ID     int64             `json:"id"`
	Note   string            `json:"note"`
	Extras map[string]string `json:"extras,omitempty"`
}

func newInvoiceWorker(perform func(context.Context, invoice) error) *kubequeue.Worker[invoice] {
	return kubequeue.NewWorker("send-invoice", perform, kubequeue.WithImage("registry.example.com/billing:v2"))
}

func TestNewQueue(t *testing.T) {
	t.Parallel()
	queue, client := kubequeuetest.NewQueue(kubequeue.WithDefaultNamespace("billing"))
	w := newInvoiceWorker(func(context.Context, invoice) error { return nil })

	h1, err := queue.Enqueue(t.Context(), w, invoice{ID: 1})
	require.NoError(t, err)
	h2, err := queue.Enqueue(t.Context(), w, invoice{ID: 2})
	require.NoError(t, err)

	require.Equal(t, "billing", h1.Namespace)
	require.NotEmpty(t, h1.UID, "the clientset gives UIDs as a server does")
	require.NotEqual(t, h1.UID, h2.UID)
	job, err := client.BatchV1().Jobs("billing").Get(t.Context(), h1.Name, metav1.GetOptions{})
	require.NoError(t, err)
	require.False(t, job.CreationTimestamp.IsZero())
}

func TestRequireEnqueued(t *testing.T) {
	t.Parallel()
	queue, client := kubequeuetest.NewQueue()
	w := newInvoiceWorker(func(context.Context, invoice) error { return nil })
	other := kubequeue.NewWorker("other", func(context.Context, invoice) error { return nil }, kubequeue.WithImage("app"))

	want := []invoice{{ID: 3, Note: `"quoted"`}, {ID: 1, Note: "ünïcode\n"}, {ID: 2, Extras: map[string]string{"a": "b"}}}
	for _, inv := range want {
		_, err := queue.Enqueue(t.Context(), w, inv, kubequeue.WithNamespace("ns-"+string(rune('a'+inv.ID))))
		require.NoError(t, err)
	}
	_, err := queue.Enqueue(t.Context(), other, invoice{ID: 99})
	require.NoError(t, err)

	require.Equal(t, want, kubequeuetest.RequireEnqueued(t, client, w), "payloads of w only, oldest first, across namespaces")
	require.Equal(t, []invoice{{ID: 99}}, kubequeuetest.RequireEnqueued(t, client, other))
}

func TestRequireEnqueued_FailsWhenNone(t *testing.T) {
	t.Parallel()
	_, client := kubequeuetest.NewQueue()
	w := newInvoiceWorker(nil)
	rec := &recorder{TB: t}
	done := make(chan struct{})
	go func() { // Fatalf ends the goroutine, as it ends a test.
		defer close(done)
		kubequeuetest.RequireEnqueued(rec, client, w)
	}()
	<-done
	require.True(t, rec.failed)
	require.Contains(t, rec.msg, `no job of worker "send-invoice" was enqueued`)

	kubequeuetest.RequireNotEnqueued(t, client, w)
}

func TestRequireNotEnqueued_FailsWhenSome(t *testing.T) {
	t.Parallel()
	queue, client := kubequeuetest.NewQueue()
	w := newInvoiceWorker(func(context.Context, invoice) error { return nil })
	_, err := queue.Enqueue(t.Context(), w, invoice{ID: 1})
	require.NoError(t, err)
	rec := &recorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		kubequeuetest.RequireNotEnqueued(rec, client, w)
	}()
	<-done
	require.True(t, rec.failed)
	require.Contains(t, rec.msg, `1 job(s) of worker "send-invoice" were enqueued`)
}

func TestPerform(t *testing.T) {
	t.Parallel()
	errBoom := errors.New("boom")
	tests := []struct {
		name     string
		perform  func(context.Context, invoice) error
		payload  invoice
		wantErr  error
		wantCode int
	}{
		{"Success", func(context.Context, invoice) error { return nil }, invoice{ID: 1}, nil, kubequeue.ExitSuccess},
		{"Error", func(context.Context, invoice) error { return errBoom }, invoice{ID: 1}, errBoom, kubequeue.ExitRetryable},
		{"Permanent", func(context.Context, invoice) error { return kubequeue.Permanent(errBoom) }, invoice{ID: 1}, kubequeue.ErrPermanent, kubequeue.ExitPermanent},
		{"Panic", func(context.Context, invoice) error { panic("oops") }, invoice{ID: 1}, kubequeue.ErrPanic, kubequeue.ExitRetryable},
		{"TooLarge", func(context.Context, invoice) error { return nil }, invoice{Note: string(make([]byte, kubequeue.MaxPayloadSize))}, kubequeue.ErrPayloadTooLarge, kubequeue.ExitRetryable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var got invoice
			w := newInvoiceWorker(func(ctx context.Context, inv invoice) error {
				got = inv
				return tt.perform(ctx, inv)
			})
			err := kubequeuetest.Perform(t.Context(), w, tt.payload)
			if tt.wantErr == nil {
				require.NoError(t, err)
				require.Equal(t, tt.payload, got)
			} else {
				require.ErrorIs(t, err, tt.wantErr)
			}
			if !errors.Is(err, kubequeue.ErrPayloadTooLarge) {
				require.Equal(t, tt.wantCode, kubequeue.ExitCode(err))
			}
		})
	}
}

func TestPerformEnqueued(t *testing.T) {
	t.Parallel()
	queue, client := kubequeuetest.NewQueue()
	var seen []int64
	w := newInvoiceWorker(func(_ context.Context, inv invoice) error {
		seen = append(seen, inv.ID)
		if inv.ID == 2 {
			return errors.New("card declined")
		}
		return nil
	})
	for id := range int64(3) {
		_, err := queue.Enqueue(t.Context(), w, invoice{ID: id + 1})
		require.NoError(t, err)
	}
	err := kubequeuetest.PerformEnqueued(t.Context(), client, w)
	require.ErrorContains(t, err, "card declined")
	require.Equal(t, []int64{1, 2, 3}, seen)
	require.Len(t, kubequeuetest.RequireEnqueued(t, client, w), 3, "performing does not remove Jobs")
}

func TestPayload_Undecodable(t *testing.T) {
	t.Parallel()
	w := newInvoiceWorker(nil)
	job, err := kubequeue.New(nil).Build(newInvoiceWorker(func(context.Context, invoice) error { return nil }), invoice{ID: 1})
	require.NoError(t, err)
	job.Spec.Template.Spec.Containers[0].Env[1].Value = `{"id":"not a number"}`
	_, err = kubequeuetest.Payload(job, w)
	require.ErrorIs(t, err, kubequeue.ErrPayloadDecode)

	// The error names the field, not its value.
	job.Spec.Template.Spec.Containers[0].Env[1].Value = `{"id":7e999}`
	_, err = kubequeuetest.Payload(job, w)
	require.ErrorIs(t, err, kubequeue.ErrPayloadDecode)
	require.ErrorContains(t, err, "invoice.id")
	require.NotContains(t, err.Error(), "7e999")

	_, err = kubequeuetest.Payload(&batchv1.Job{}, w)
	require.ErrorContains(t, err, "has no KUBEQUEUE_PAYLOAD variable")
}

// recorder is a testing.TB that records a fatal failure instead of
// failing the test that runs it.
type recorder struct {
	testing.TB
	failed bool
	msg    string
}

func (r *recorder) Helper() {}

func (r *recorder) Fatalf(format string, args ...any) {
	r.failed = true
	r.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func TestSetSucceeded_SetFailed_Errors(t *testing.T) {
	t.Parallel()
	queue, client := kubequeuetest.NewQueue()
	w := kubequeue.NewWorker("noop", func(context.Context, struct{}) error { return nil }, kubequeue.WithImage("registry.example.com/app:v1"))
	h, err := queue.Enqueue(t.Context(), w, struct{}{})
	require.NoError(t, err)

	require.ErrorContains(t, kubequeuetest.SetFailed(t.Context(), client, h, "BackoffLimitExceeded", 0, "x"), "other than 0")
	missing := kubequeue.Handle{Namespace: h.Namespace, Name: "no-such-job"}
	require.ErrorContains(t, kubequeuetest.SetSucceeded(t.Context(), client, missing, nil), "kubequeuetest: get job")
	require.ErrorContains(t, kubequeuetest.SetSucceeded(t.Context(), client, h, make(chan int)), "encode result")

	require.ErrorIs(t, kubequeuetest.SetSucceeded(t.Context(), client, h, strings.Repeat("x", kubequeue.MaxResultSize)), kubequeue.ErrResultTooLarge)

	require.NoError(t, kubequeuetest.SetSucceeded(t.Context(), client, h, nil))
	require.ErrorContains(t, kubequeuetest.SetFailed(t.Context(), client, h, "BackoffLimitExceeded", 1, "x"), "already finished")
	st, err := queue.Status(t.Context(), h)
	require.NoError(t, err)
	require.Equal(t, kubequeue.StateSucceeded, st.State)
	require.ErrorIs(t, st.DecodeResult(new(any)), kubequeue.ErrNoResult)
}
