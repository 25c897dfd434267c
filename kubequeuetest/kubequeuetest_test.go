package kubequeuetest_test

import (
	"context"
	"errors"
	"fmt"
	goruntime "runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes/fake"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/cache"

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
	queue, client, err := kubequeuetest.NewQueue(kubequeue.WithDefaultNamespace("billing"))
	require.NoError(t, err)
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
	queue, client, err := kubequeuetest.NewQueue()
	require.NoError(t, err)
	w := newInvoiceWorker(func(context.Context, invoice) error { return nil })
	other := kubequeue.NewWorker("other", func(context.Context, invoice) error { return nil }, kubequeue.WithImage("app"))

	want := []invoice{{ID: 3, Note: `"quoted"`}, {ID: 1, Note: "ünïcode\n"}, {ID: 2, Extras: map[string]string{"a": "b"}}}
	for _, inv := range want {
		_, err := queue.Enqueue(t.Context(), w, inv, kubequeue.WithNamespace("ns-"+string(rune('a'+inv.ID))))
		require.NoError(t, err)
	}
	_, err = queue.Enqueue(t.Context(), other, invoice{ID: 99})
	require.NoError(t, err)

	require.Equal(t, want, kubequeuetest.RequireEnqueued(t, client, w), "payloads of w only, oldest first, across namespaces")
	require.Equal(t, []invoice{{ID: 99}}, kubequeuetest.RequireEnqueued(t, client, other))
}

func TestRequireEnqueued_FailsWhenNone(t *testing.T) {
	t.Parallel()
	_, client, err := kubequeuetest.NewQueue()
	require.NoError(t, err)
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
	queue, client, err := kubequeuetest.NewQueue()
	require.NoError(t, err)
	w := newInvoiceWorker(func(context.Context, invoice) error { return nil })
	_, err = queue.Enqueue(t.Context(), w, invoice{ID: 1})
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
			_, err := kubequeuetest.Perform(t.Context(), w, tt.payload)
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
	queue, client, err := kubequeuetest.NewQueue()
	require.NoError(t, err)
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
	err = kubequeuetest.PerformEnqueued(t.Context(), client, w)
	require.ErrorContains(t, err, "card declined")
	require.Equal(t, []int64{1, 2, 3}, seen)
	require.Len(t, kubequeuetest.RequireEnqueued(t, client, w), 3, "performing does not remove Jobs")
}

func TestPayload_Undecodable(t *testing.T) {
	t.Parallel()
	w := newInvoiceWorker(nil)
	queue, _, err := kubequeuetest.NewQueue()
	require.NoError(t, err)
	job, err := queue.Build(newInvoiceWorker(func(context.Context, invoice) error { return nil }), invoice{ID: 1})
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
	goruntime.Goexit()
}

func TestSetSucceeded_SetFailed_Errors(t *testing.T) {
	t.Parallel()
	queue, client, err := kubequeuetest.NewQueue()
	require.NoError(t, err)
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

// deadline returns a context that ends after 10 s with a cause that names
// what the test waits for.
func deadline(t *testing.T, what string) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeoutCause(t.Context(), 10*time.Second, fmt.Errorf("the test waited 10s for %s", what))
	t.Cleanup(cancel)
	return ctx
}

// nextEvent returns the next event of w, or fails the test if none comes
// before ctx ends.
func nextEvent(t *testing.T, ctx context.Context, w watch.Interface) watch.Event {
	t.Helper()
	select {
	case ev, ok := <-w.ResultChan():
		require.True(t, ok, "the watch ended")
		return ev
	case <-ctx.Done():
		t.Fatalf("no watch event: %v", context.Cause(ctx))
		return watch.Event{}
	}
}

// noEvent fails the test if w delivers an event within 100 ms.
func noEvent(t *testing.T, w watch.Interface) {
	t.Helper()
	select {
	case ev := <-w.ResultChan():
		t.Fatalf("unexpected watch event %s of %T", ev.Type, ev.Object)
	case <-time.After(100 * time.Millisecond):
	}
}

func TestNewClientset_WatchReplaysDeletions(t *testing.T) {
	t.Parallel()
	secret := func(name string) *corev1.Secret {
		return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns"}}
	}
	setup := func(t *testing.T, names ...string) (*fake.Clientset, corev1client.SecretInterface) {
		client := kubequeuetest.NewClientset()
		secrets := client.CoreV1().Secrets("ns")
		for _, name := range names {
			_, err := secrets.Create(t.Context(), secret(name), metav1.CreateOptions{})
			require.NoError(t, err)
		}
		return client, secrets
	}
	list := func(t *testing.T, secrets corev1client.SecretInterface) string {
		l, err := secrets.List(t.Context(), metav1.ListOptions{})
		require.NoError(t, err)
		return l.ResourceVersion
	}
	watchFrom := func(t *testing.T, secrets corev1client.SecretInterface, rv string) (watch.Interface, error) {
		w, err := secrets.Watch(t.Context(), metav1.ListOptions{ResourceVersion: rv})
		if err == nil {
			t.Cleanup(w.Stop)
		}
		return w, err
	}

	t.Run("DeletedAfterTheList", func(t *testing.T) {
		t.Parallel()
		_, secrets := setup(t, "a", "b")
		rv := list(t, secrets)
		require.NoError(t, secrets.Delete(t.Context(), "a", metav1.DeleteOptions{}))
		w, err := watchFrom(t, secrets, rv)
		require.NoError(t, err)
		ev := nextEvent(t, deadline(t, "the deletion of secret a, made between the list and the watch"), w)
		require.Equal(t, watch.Deleted, ev.Type)
		require.Equal(t, "a", ev.Object.(*corev1.Secret).Name)
		noEvent(t, w)

		// Deletions after the watch started arrive as they happen, as a
		// graceful deletion does: the deletion timestamp, then the
		// deletion.
		require.NoError(t, secrets.Delete(t.Context(), "b", metav1.DeleteOptions{}))
		ctx := deadline(t, "the deletion of secret b")
		ev = nextEvent(t, ctx, w)
		require.Equal(t, watch.Modified, ev.Type)
		require.NotNil(t, ev.Object.(*corev1.Secret).DeletionTimestamp)
		ev = nextEvent(t, ctx, w)
		require.Equal(t, watch.Deleted, ev.Type)
		require.Equal(t, "b", ev.Object.(*corev1.Secret).Name)
		noEvent(t, w)
	})

	t.Run("DeletedBeforeTheList", func(t *testing.T) {
		t.Parallel()
		_, secrets := setup(t, "a", "b")
		require.NoError(t, secrets.Delete(t.Context(), "a", metav1.DeleteOptions{}))
		rv := list(t, secrets)
		w, err := watchFrom(t, secrets, rv)
		require.NoError(t, err)
		noEvent(t, w) // the list did not hold it: no deletion to replay
	})

	t.Run("OtherNamespace", func(t *testing.T) {
		t.Parallel()
		client, secrets := setup(t, "a")
		rv := list(t, secrets)
		require.NoError(t, secrets.Delete(t.Context(), "a", metav1.DeleteOptions{}))
		w, err := client.CoreV1().Secrets("other").Watch(t.Context(), metav1.ListOptions{ResourceVersion: rv})
		require.NoError(t, err)
		t.Cleanup(w.Stop)
		noEvent(t, w)
	})

	t.Run("CreatedAgain", func(t *testing.T) {
		t.Parallel()
		_, secrets := setup(t, "a")
		rv := list(t, secrets)
		require.NoError(t, secrets.Delete(t.Context(), "a", metav1.DeleteOptions{}))
		_, err := secrets.Create(t.Context(), secret("a"), metav1.CreateOptions{})
		require.NoError(t, err)
		_, err = watchFrom(t, secrets, rv)
		require.True(t, apierrors.IsResourceExpired(err), "a watch that would replay the deletion after the creation is refused with 410 Gone, got %v", err)

		// Listed again, the watch goes.
		w, err := watchFrom(t, secrets, list(t, secrets))
		require.NoError(t, err)
		noEvent(t, w)
	})
}

// TestNewClientset_InformerSeesDeletion runs a client-go informer on the
// clientset and deletes a Job between its list and its watch.
func TestNewClientset_InformerSeesDeletion(t *testing.T) {
	t.Parallel()
	queue, client, err := kubequeuetest.NewQueue(kubequeue.WithDefaultNamespace("ns"))
	require.NoError(t, err)
	w := newInvoiceWorker(func(context.Context, invoice) error { return nil })
	h, err := queue.Enqueue(t.Context(), w, invoice{ID: 1})
	require.NoError(t, err)

	listed := make(chan struct{})
	watching := make(chan struct{})
	jobs := client.BatchV1().Jobs("ns")
	lw := &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
			defer close(listed)
			return jobs.List(ctx, opts)
		},
		WatchFuncWithContext: func(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
			<-watching // the deletion has been made
			return jobs.Watch(ctx, opts)
		},
	}
	deleted := make(chan string, 1)
	_, informer := cache.NewInformerWithOptions(cache.InformerOptions{
		ListerWatcher: cache.ToListWatcherWithWatchListSemantics(lw, client),
		ObjectType:    &batchv1.Job{},
		Handler: cache.ResourceEventHandlerFuncs{DeleteFunc: func(obj any) {
			if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = d.Obj
			}
			deleted <- obj.(*batchv1.Job).Name
		}},
	})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		informer.RunWithContext(ctx)
	}()
	defer func() { cancel(); <-done }()

	wait := deadline(t, "the informer to report the deletion of the job")
	select {
	case <-listed:
	case <-wait.Done():
		t.Fatalf("the informer did not list: %v", context.Cause(wait))
	}
	require.NoError(t, queue.Cancel(t.Context(), h))
	close(watching)
	select {
	case name := <-deleted:
		require.Equal(t, h.Name, name)
	case <-wait.Done():
		t.Fatal(context.Cause(wait))
	}
}

func TestNewClientset_UIDPreconditions(t *testing.T) {
	t.Parallel()
	queue, client, err := kubequeuetest.NewQueue(kubequeue.WithDefaultNamespace("ns"))
	require.NoError(t, err)
	w := newInvoiceWorker(func(context.Context, invoice) error { return nil })
	h, err := queue.Enqueue(t.Context(), w, invoice{ID: 1})
	require.NoError(t, err)
	stale := h
	stale.UID = "00000000-0000-0000-0000-000000000000"
	jobs := client.BatchV1().Jobs("ns")

	err = jobs.Delete(t.Context(), h.Name, metav1.DeleteOptions{Preconditions: metav1.NewUIDPreconditions(string(stale.UID))})
	require.True(t, apierrors.IsConflict(err), "a delete with another UID is refused as the API server refuses it, got %v", err)
	require.ErrorContains(t, err, "Precondition failed: UID in precondition")

	require.NoError(t, queue.Cancel(t.Context(), stale), "a stale handle's Job is gone: nothing to cancel")
	require.ErrorIs(t, queue.Suspend(t.Context(), stale), kubequeue.ErrJobNotFound)
	job, err := jobs.Get(t.Context(), h.Name, metav1.GetOptions{})
	require.NoError(t, err, "the Job of the name is not the stale handle's: it stays")
	require.Equal(t, h.UID, job.UID, "a patch may not change the UID")
	require.False(t, job.Spec.Suspend != nil && *job.Spec.Suspend)

	err = jobs.Delete(t.Context(), h.Name, metav1.DeleteOptions{DryRun: []string{metav1.DryRunAll}})
	require.NoError(t, err)
	_, err = jobs.Get(t.Context(), h.Name, metav1.GetOptions{})
	require.NoError(t, err, "a dry-run delete deletes nothing")

	require.NoError(t, queue.Suspend(t.Context(), h))
	require.NoError(t, queue.Cancel(t.Context(), h))
	_, err = jobs.Get(t.Context(), h.Name, metav1.GetOptions{})
	require.True(t, apierrors.IsNotFound(err), "the handle's own UID deletes it, got %v", err)
}

func TestEnqueued_OldestFirstWithSecretPayloads(t *testing.T) {
	t.Parallel()
	queue, client, err := kubequeuetest.NewQueue()
	require.NoError(t, err)
	w := newInvoiceWorker(func(context.Context, invoice) error { return nil })
	var want []invoice
	for id := range int64(8) {
		var opts []kubequeue.EnqueueOption
		if id%2 == 1 {
			opts = append(opts, kubequeue.WithSensitivePayload()) // created, then patched to resume
		}
		_, err := queue.Enqueue(t.Context(), w, invoice{ID: id}, opts...)
		require.NoError(t, err)
		want = append(want, invoice{ID: id})
	}
	require.Equal(t, want, kubequeuetest.RequireEnqueued(t, client, w), "oldest first, whether the payload is in a Secret or not")

	jobs, err := kubequeuetest.Jobs(t.Context(), client, w)
	require.NoError(t, err)
	for _, job := range jobs {
		require.Zero(t, job.CreationTimestamp.Nanosecond(), "the API server keeps whole seconds")
	}
}

func TestSetSucceeded_Logs(t *testing.T) {
	t.Parallel()
	queue, client, err := kubequeuetest.NewQueue()
	require.NoError(t, err)
	w := newInvoiceWorker(func(context.Context, invoice) error { return nil })
	logs := func(h kubequeue.Handle) []kubequeue.LogLine {
		var lines []kubequeue.LogLine
		for line, err := range queue.Logs(deadline(t, "the logs of job "+h.String()), h, kubequeue.LogOptions{}) {
			require.NoError(t, err)
			lines = append(lines, line)
		}
		return lines
	}
	enqueue := func() kubequeue.Handle {
		h, err := queue.Enqueue(t.Context(), w, invoice{ID: 1})
		require.NoError(t, err)
		return h
	}

	plain := enqueue()
	require.NoError(t, kubequeuetest.SetSucceeded(t.Context(), client, plain, nil))
	require.Equal(t, []kubequeue.LogLine{{Attempt: 1, Pod: plain.Name + "-1", Text: "fake logs"}}, logs(plain),
		"a pod that ran has a log: client-go's default")

	printed := enqueue()
	require.NoError(t, kubequeuetest.SetSucceeded(t.Context(), client, printed, nil, kubequeuetest.WithLog("sending invoice 1\nsent\n")))
	require.Equal(t, []kubequeue.LogLine{
		{Attempt: 1, Pod: printed.Name + "-1", Text: "sending invoice 1"},
		{Attempt: 1, Pod: printed.Name + "-1", Text: "sent"},
	}, logs(printed))

	failed := enqueue()
	require.NoError(t, kubequeuetest.SetFailed(t.Context(), client, failed, batchv1.JobReasonBackoffLimitExceeded, 1, "card declined",
		kubequeuetest.WithLog("charging\n"), kubequeuetest.WithLog("charging card\ncard declined")))
	require.Equal(t, []kubequeue.LogLine{
		{Attempt: 1, Pod: failed.Name + "-1", Text: "charging card"},
		{Attempt: 1, Pod: failed.Name + "-1", Text: "card declined"},
	}, logs(failed), "the last WithLog wins")

	// A reactor on pods/log still decides, as on client-go's fake.
	client.PrependReactor("get", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if a.GetSubresource() != "log" {
			return false, nil, nil
		}
		return true, nil, errors.New("the kubelet is unreachable")
	})
	for _, err := range queue.Logs(deadline(t, "the logs of job "+printed.String()), printed, kubequeue.LogOptions{}) {
		require.ErrorContains(t, err, "the kubelet is unreachable")
		break
	}
}

type receipt struct {
	Invoice int64 `json:"invoice"`
}

func TestPerformJob_SecretPayload(t *testing.T) {
	t.Parallel()
	queue, client, err := kubequeuetest.NewQueue()
	require.NoError(t, err)
	w := newInvoiceWorker(func(ctx context.Context, inv invoice) error {
		return kubequeue.SetResult(ctx, receipt{Invoice: inv.ID})
	})
	_, err = queue.Enqueue(t.Context(), w, invoice{ID: 7, Note: "card 4242"}, kubequeue.WithSensitivePayload())
	require.NoError(t, err)
	_, err = queue.Enqueue(t.Context(), w, invoice{ID: 8, Note: strings.Repeat("x", kubequeue.MaxEnvPayloadSize)})
	require.NoError(t, err)
	jobs, err := kubequeuetest.Jobs(t.Context(), client, w)
	require.NoError(t, err)
	require.Len(t, jobs, 2)

	for i, job := range jobs {
		_, err = kubequeue.PerformJob(t.Context(), &job, w)
		require.ErrorIs(t, err, kubequeue.ErrPayloadDecode, "outside a container the mounted payload file is not there")

		result, err := kubequeuetest.PerformJob(t.Context(), client, &job, w)
		require.NoError(t, err)
		require.JSONEq(t, fmt.Sprintf(`{"invoice":%d}`, 7+i), string(result))
	}

	_, err = kubequeuetest.PerformJob(t.Context(), client, nil, w)
	require.ErrorIs(t, err, kubequeue.ErrNotInJob)
}

func TestPerform_Result(t *testing.T) {
	t.Parallel()
	w := newInvoiceWorker(func(ctx context.Context, inv invoice) error {
		if inv.ID < 0 {
			_ = kubequeue.SetResult(ctx, receipt{Invoice: inv.ID})
			return errors.New("negative")
		}
		return kubequeue.SetResult(ctx, receipt{Invoice: inv.ID})
	})
	for _, opts := range [][]kubequeue.EnqueueOption{nil, {kubequeue.WithSensitivePayload()}} {
		result, err := kubequeuetest.Perform(t.Context(), w, invoice{ID: 3}, opts...)
		require.NoError(t, err)
		require.JSONEq(t, `{"invoice":3}`, string(result))

		result, err = kubequeuetest.Perform(t.Context(), w, invoice{ID: -1}, opts...)
		require.ErrorContains(t, err, "negative")
		require.Nil(t, result, "a failed perform's result is dropped, as the runtime drops it")
	}
}

func TestWithPodLogs(t *testing.T) {
	t.Parallel()
	client := kubequeuetest.NewClientset()
	enqueuer, err := kubequeue.New(client)
	require.NoError(t, err)
	h, err := enqueuer.Enqueue(t.Context(), newInvoiceWorker(func(context.Context, invoice) error { return nil }), invoice{ID: 1})
	require.NoError(t, err)
	require.NoError(t, kubequeuetest.SetSucceeded(t.Context(), client, h, nil, kubequeuetest.WithLog("sent\n")))

	read := func(queue *kubequeue.Queue) []string {
		var out []string
		for line, err := range queue.Logs(t.Context(), h, kubequeue.LogOptions{}) {
			require.NoError(t, err)
			out = append(out, line.Text)
		}
		return out
	}
	require.Equal(t, []string{"fake logs"}, read(enqueuer), "the bare fake answers client-go's log")
	queue, err := kubequeue.New(kubequeuetest.WithPodLogs(client))
	require.NoError(t, err)
	require.Equal(t, []string{"sent"}, read(queue))
}
