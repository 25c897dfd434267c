package kubequeuetest

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/kubequeue/kubequeue"
	"github.com/kubequeue/kubequeue/internal/wire"
)

// Outcome is what performing one item of a batch gave: what perform
// recorded with [kubequeue.SetResult] (nil if nothing, or if it failed)
// and perform's error, or the runtime's; [kubequeue.ExitCode] tells the
// exit code the item's container would have had.
type Outcome struct {
	// Index is the item's index in the batch.
	Index int
	// Result is the item's result.
	Result json.RawMessage
	// Err is the item's error.
	Err error
}

// PerformBatch performs w's batch of items in this process, index by
// index, exactly as the batch's pods would: it builds the batch's Job
// ([kubequeue.Queue.BuildBatch], with opts), then, for each index i, runs
// the runtime on that Job's environment with JOB_COMPLETION_INDEX=i, as
// the Job controller sets it in the pod of index i. Items that would
// travel in a Secret are read as the container reads them from its
// mounted file. It returns one Outcome per item, in the order of indexes,
// and an error only when the batch cannot be built (BuildBatch's).
func PerformBatch[T any](ctx context.Context, w *kubequeue.Worker[T], items []T, opts ...kubequeue.EnqueueOption) ([]Outcome, error) {
	queue, err := kubequeue.New(fake.NewClientset())
	if err != nil {
		return nil, err
	}
	job, err := queue.BuildBatch(w, items, opts...)
	if err != nil {
		return nil, err
	}
	if env, _ := wire.JobEnv(job); env[wire.EnvBatchFile] != "" {
		encoded := make([]string, len(items))
		for i, item := range items {
			if encoded[i], err = wire.Encode(item); err != nil { // as EnqueueBatch writes it into the Secret
				return nil, err
			}
		}
		job = withBatch(job, wire.JoinItems(encoded))
	}
	return performItems(ctx, job, []kubequeue.AnyWorker{w}), nil
}

// PerformBatchJob performs each item of a batch's Job held by client
// ([kubequeue.Queue.EnqueueBatch]), in this process, index by index, as
// [PerformBatch] does: items that travel in a Secret are read from the
// Secret in client. workers are those the runtime is given, as
// [kubequeue.Main] is. It returns one Outcome per item, in the order of
// indexes, and an error for a Job that is not a batch's or whose Secret
// cannot be read.
func PerformBatchJob(ctx context.Context, client kubernetes.Interface, job *batchv1.Job, workers ...kubequeue.AnyWorker) ([]Outcome, error) {
	if !isBatch(job) {
		return nil, fmt.Errorf("kubequeuetest: job %s is not a batch (an Indexed Job of kubequeue); use PerformJob", jobName(job))
	}
	job, err := inlinePayload(ctx, client, job)
	if err != nil {
		return nil, err
	}
	return performItems(ctx, job, workers), nil
}

// BatchItems returns the decoded items of a batch's Job of w held by
// client, in the order of their indexes, decoded as the runtime in each
// pod decodes its own; items that travel in a Secret are read from it.
func BatchItems[T any](ctx context.Context, client kubernetes.Interface, job *batchv1.Job, w *kubequeue.Worker[T]) ([]T, error) {
	if !isBatch(job) {
		return nil, fmt.Errorf("kubequeuetest: job %s is not a batch (an Indexed Job of kubequeue)", jobName(job))
	}
	job, err := inlinePayload(ctx, client, job)
	if err != nil {
		return nil, err
	}
	env, _ := wire.JobEnv(job)
	data := env[wire.EnvBatch]
	out := make([]T, 0, *job.Spec.Completions)
	for i := range int(*job.Spec.Completions) {
		item, err := wire.Item(data, i)
		if err != nil {
			return nil, fmt.Errorf("kubequeuetest: batch %s/%s: %w", job.Namespace, job.Name, err)
		}
		v, err := wire.Decode[T](item)
		if err != nil {
			return nil, fmt.Errorf("kubequeuetest: batch %s/%s of worker %q: item %d: %w: %w", job.Namespace, job.Name, w.Name(), i, kubequeue.ErrPayloadDecode, err)
		}
		out = append(out, v)
	}
	return out, nil
}

// performItems performs each item of job, a batch's Job whose items are in
// its environment.
func performItems(ctx context.Context, job *batchv1.Job, workers []kubequeue.AnyWorker) []Outcome {
	n := int(*job.Spec.Completions)
	out := make([]Outcome, n)
	for i := range n {
		result, err := kubequeue.PerformJob(ctx, withIndex(job, i), workers...)
		out[i] = Outcome{Index: i, Result: result, Err: err}
	}
	return out
}

// withBatch returns a copy of job with data, a batch's items, in its
// variable instead of the file.
func withBatch(job *batchv1.Job, data string) *batchv1.Job {
	job = job.DeepCopy()
	for i := range job.Spec.Template.Spec.Containers {
		c := &job.Spec.Template.Spec.Containers[i]
		for j := range c.Env {
			if c.Env[j].Name == wire.EnvBatchFile {
				c.Env[j] = corev1.EnvVar{Name: wire.EnvBatch, Value: data}
			}
		}
	}
	return job
}

// withIndex returns a copy of job, a batch's, whose worker container has
// the variable the Job controller gives the pod of index i.
func withIndex(job *batchv1.Job, i int) *batchv1.Job {
	job = job.DeepCopy()
	spec := &job.Spec.Template.Spec
	if c := wire.WorkerContainer(spec); c >= 0 {
		spec.Containers[c].Env = append(spec.Containers[c].Env, corev1.EnvVar{Name: wire.EnvCompletionIndex, Value: strconv.Itoa(i)})
	}
	return job
}

// isBatch reports whether job is a batch's: an Indexed Job with its
// number of items.
func isBatch(job *batchv1.Job) bool {
	return job != nil && job.Spec.CompletionMode != nil && *job.Spec.CompletionMode == batchv1.IndexedCompletion && job.Spec.Completions != nil
}

// jobName returns "namespace/name", or "<nil>".
func jobName(job *batchv1.Job) string {
	if job == nil {
		return "<nil>"
	}
	return job.Namespace + "/" + job.Name
}
