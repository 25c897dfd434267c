// Package kubequeuetest helps test code that uses kubequeue, without a
// cluster: a queue on client-go's fake clientset, the payloads that were
// enqueued, and performing a worker in-process exactly as its container
// would.
//
// client-go's fake clientset stores objects but does no validation,
// defaulting or admission, and no controller runs the Jobs it holds.
package kubequeuetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/kubequeue/kubequeue"
	"github.com/kubequeue/kubequeue/internal/payload"
)

// NewQueue returns a queue on a new fake clientset (see [NewClientset]), and
// the clientset, so that a test can inspect what was created or inject
// failures with PrependReactor.
func NewQueue(opts ...kubequeue.QueueOption) (*kubequeue.Queue, *fake.Clientset) {
	client := NewClientset()
	return kubequeue.New(client, opts...), client
}

// NewClientset returns client-go's fake clientset holding objects, made to
// give each created object a UID and a creation time as an API server does.
func NewClientset(objects ...runtime.Object) *fake.Clientset {
	client := fake.NewClientset(objects...)
	var seq atomic.Int64
	client.PrependReactor("create", "*", func(action k8stesting.Action) (bool, runtime.Object, error) {
		obj, ok := action.(k8stesting.CreateAction)
		if !ok {
			return false, nil, nil
		}
		if m, ok := obj.GetObject().(metav1.Object); ok {
			n := seq.Add(1)
			if m.GetUID() == "" {
				m.SetUID(types.UID(fmt.Sprintf("00000000-0000-4000-8000-%012d", n)))
			}
			if ts := m.GetCreationTimestamp(); ts.IsZero() {
				m.SetCreationTimestamp(metav1.NewTime(time.Now()))
			}
		}
		return false, nil, nil
	})
	return client
}

// Jobs returns the Jobs of worker held by client in any namespace, oldest
// first (by creation time, then name).
func Jobs(ctx context.Context, client kubernetes.Interface, worker kubequeue.Job) ([]batchv1.Job, error) {
	selector := labels.SelectorFromSet(labels.Set{kubequeue.LabelWorker: worker.Name()}).String()
	list, err := client.BatchV1().Jobs(metav1.NamespaceAll).List(ctx, metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		return nil, fmt.Errorf("kubequeuetest: list jobs of worker %q: %w", worker.Name(), err)
	}
	jobs := list.Items
	slices.SortStableFunc(jobs, func(a, b batchv1.Job) int {
		if c := a.CreationTimestamp.Compare(b.CreationTimestamp.Time); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
	return jobs, nil
}

// Enqueued returns the decoded payloads of the Jobs of w held by client,
// oldest first, decoded as the runtime in the container decodes them.
func Enqueued[T any](ctx context.Context, client kubernetes.Interface, w *kubequeue.Worker[T]) ([]T, error) {
	jobs, err := Jobs(ctx, client, w)
	if err != nil {
		return nil, err
	}
	out := make([]T, 0, len(jobs))
	for i := range jobs {
		v, err := Payload(&jobs[i], w)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// Payload decodes the payload of a Job of w, as the runtime in its container
// would.
func Payload[T any](job *batchv1.Job, w *kubequeue.Worker[T]) (T, error) {
	var zero T
	env, _ := payload.JobEnv(job)
	data, ok := env[payload.EnvPayload]
	if !ok {
		return zero, fmt.Errorf("kubequeuetest: job %s/%s has no %s variable", job.Namespace, job.Name, payload.EnvPayload)
	}
	v, err := payload.Decode[T](data)
	if err != nil {
		return zero, fmt.Errorf("kubequeuetest: job %s/%s of worker %q: %w: %w", job.Namespace, job.Name, w.Name(), kubequeue.ErrPayloadDecode, err)
	}
	return v, nil
}

// RequireEnqueued fails t now unless client holds at least one Job of w,
// and returns their decoded payloads, oldest first.
func RequireEnqueued[T any](t testing.TB, client kubernetes.Interface, w *kubequeue.Worker[T]) []T {
	t.Helper()
	payloads, err := Enqueued(t.Context(), client, w)
	if err != nil {
		t.Fatalf("kubequeuetest: %v", err)
	}
	if len(payloads) == 0 {
		t.Fatalf("kubequeuetest: no job of worker %q was enqueued", w.Name())
	}
	return payloads
}

// RequireNotEnqueued fails t now if client holds a Job of w.
func RequireNotEnqueued[T any](t testing.TB, client kubernetes.Interface, w *kubequeue.Worker[T]) {
	t.Helper()
	jobs, err := Jobs(t.Context(), client, w)
	if err != nil {
		t.Fatalf("kubequeuetest: %v", err)
	}
	if len(jobs) > 0 {
		t.Fatalf("kubequeuetest: %d job(s) of worker %q were enqueued, want none; first: %s/%s", len(jobs), w.Name(), jobs[0].Namespace, jobs[0].Name)
	}
}

// Perform runs w's perform function in this process with payload, exactly as
// w's container would: it builds w's Job with payload, then runs the runtime
// on that Job's environment, which decodes the payload and calls perform,
// recovering a panic. It returns perform's error, or the error Build or the
// runtime gave; [kubequeue.ExitCode] tells the exit code the container would
// have had. To check a result perform records with [kubequeue.SetResult],
// build the Job and call [kubequeue.PerformJob], which returns it.
func Perform[T any](ctx context.Context, w *kubequeue.Worker[T], payload T, opts ...kubequeue.EnqueueOption) error {
	job, err := kubequeue.New(nil).Build(w, payload, opts...)
	if err != nil {
		return err
	}
	_, err = kubequeue.PerformJob(ctx, job, w)
	return err
}

// PerformEnqueued performs, in this process and oldest first, each Job of w
// held by client, as [Perform] does, and returns the errors of those that
// failed, joined. The Jobs stay in client.
func PerformEnqueued[T any](ctx context.Context, client kubernetes.Interface, w *kubequeue.Worker[T]) error {
	jobs, err := Jobs(ctx, client, w)
	if err != nil {
		return err
	}
	var errs []error
	for i := range jobs {
		if _, err := kubequeue.PerformJob(ctx, &jobs[i], w); err != nil {
			errs = append(errs, fmt.Errorf("job %s/%s: %w", jobs[i].Namespace, jobs[i].Name, err))
		}
	}
	return errors.Join(errs...)
}
