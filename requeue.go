package kubequeue

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strconv"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/kubequeue/kubequeue/internal/wire"
)

// AnnotationRetryOf holds, on a Job that [Queue.Retry] made, the name of
// the Job it retries, in the same namespace.
const AnnotationRetryOf = "kubequeue.io/retry-of"

// ErrNotRetryable reports a Job that [Queue.Retry] cannot retry: one that
// kubequeue did not create, one that has not finished (without
// [WithRetryUnfinished]), a batch, or one whose payload Secret is gone.
var ErrNotRetryable = errors.New("kubequeue: job cannot be retried")

// RetryOption configures [Queue.Retry].
type RetryOption interface {
	applyRetry(*retryConfig)
}

// retryConfig holds what options passed to Retry set.
type retryConfig struct {
	unfinished bool
}

type retryOptionFunc func(*retryConfig)

func (f retryOptionFunc) applyRetry(c *retryConfig) { f(c) }

// WithRetryUnfinished lets [Queue.Retry] retry a Job that has not finished
// yet (pending, running, suspended or waiting): the new Job then runs
// beside the old one, which Retry leaves as it is. Default: Retry refuses
// such a Job with an error matching [ErrNotRetryable], since running the
// same payload twice at once is rarely what is meant. Repeating it
// changes nothing.
func WithRetryUnfinished() RetryOption {
	return retryOptionFunc(func(c *retryConfig) { c.unfinished = true })
}

// Retry creates a new Job that runs the handle's Job again: the same
// worker, payload and options (labels, annotations, pod template,
// resources, backoff limit, deadlines, TTL, pod failure policy, Kueue
// queue), under a fresh name "<worker>-<suffix>", with
// [AnnotationRetryOf] naming the old Job. It returns the new Job's handle.
// The old Job is kept, until its TTL after finishing removes it or it is
// cancelled. This is the replay of a dead letter: retry a Job that failed
// once its cause is fixed.
//
// The payload is read back from the old Job: from its environment, or
// from its payload Secret, which Retry copies into a Secret owned by the
// new Job (the old Secret must still exist: it goes with the old Job).
// The new Job is created by the enqueue protocol of [Queue.Enqueue], so a
// Retry whose answers are lost creates at most one Job.
//
// What belonged to the old run is not carried over: its status, its
// generated selector and pod labels, its owner (a Job of a schedule is
// retried as a Job of its own, which the schedule's history limits do not
// delete), its unique key (the new Job has its own name, so
// [WithUniqueKey] no longer finds it), and its time and dependency gates
// ([WithRunAt], [WithDelay], [WithAfter]), which were passed or decided
// once: the new Job runs at once. A concurrency key ([WithConcurrencyKey])
// is kept: the new Job waits, queued as of the retry, for a slot from the
// release controller.
//
// Retry refuses, with an error matching [ErrNotRetryable] and before
// creating anything, a Job that kubequeue did not create, a Job that has
// not finished (unless [WithRetryUnfinished]), a batch (an Indexed Job of
// [Queue.EnqueueBatch]: enqueue the items that failed, which
// [Status.Items] lists, as a batch of their own), and a Job whose payload
// Secret is gone. A Job that does not exist gives an error matching
// [ErrJobNotFound]. Creating the new Job fails as [Queue.Enqueue] does: an
// error matching [ErrMaybeEnqueued] comes with the handle of a Job that may
// exist; any other error means that Retry created nothing.
func (q *Queue) Retry(ctx context.Context, h Handle, opts ...RetryOption) (Handle, error) {
	var c retryConfig
	for _, opt := range opts {
		if opt != nil {
			opt.applyRetry(&c)
		}
	}
	old, err := q.Get(ctx, h)
	if err != nil {
		return Handle{}, err
	}
	if err := canRetry(old, c.unfinished); err != nil {
		return Handle{}, fmt.Errorf("%w: retry job %s: %w", ErrNotRetryable, h, err)
	}
	worker := old.Labels[LabelWorker]
	var secretPayload string
	if vol := wire.SecretVolumeOf(&old.Spec.Template.Spec); vol != nil {
		if len(vol.Items) != 1 {
			return Handle{}, fmt.Errorf("%w: retry job %s: its payload secret volume maps %d keys, not 1", ErrNotRetryable, h, len(vol.Items))
		}
		secret, err := q.client.CoreV1().Secrets(old.Namespace).Get(ctx, vol.SecretName, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			return Handle{}, fmt.Errorf("%w: retry job %s: its payload secret %s is gone: %w", ErrNotRetryable, h, vol.SecretName, err)
		case err != nil:
			return Handle{}, fmt.Errorf("kubequeue: retry job %s: read payload secret %s: %w", h, vol.SecretName, err)
		}
		data, ok := secret.Data[vol.Items[0].Key]
		if !ok || len(data) == 0 {
			return Handle{}, fmt.Errorf("%w: retry job %s: its payload secret %s has no key %s", ErrNotRetryable, h, vol.SecretName, vol.Items[0].Key)
		}
		secretPayload = string(data)
	}
	job := retryJob(old, q.generateName(worker), secretPayload != "", q.now())
	got, err := q.enqueue(ctx, worker, job, secretPayload, 0, func() (string, error) { return secretPayload, nil })
	if err != nil {
		return got, fmt.Errorf("kubequeue: retry job %s: %w", h, err)
	}
	return got, nil
}

// canRetry returns why old cannot be retried, or nil.
func canRetry(old *batchv1.Job, unfinished bool) error {
	switch {
	case old.Labels[LabelManagedBy] != managedBy || old.Labels[LabelWorker] == "":
		return fmt.Errorf("it is not a kubequeue job (labels %s=%s and %s)", LabelManagedBy, managedBy, LabelWorker)
	case isBatch(old):
		return errors.New("it is a batch: enqueue the items that failed (Status.Items) as a batch of their own")
	case pending(old):
		return errors.New("it still waits for its payload secret")
	case !unfinished && !finished(old):
		return errors.New("it has not finished: wait for it, cancel it, or retry it with WithRetryUnfinished")
	case wire.WorkerContainer(&old.Spec.Template.Spec) < 0:
		return errors.New("it has no worker container")
	}
	return nil
}

// retryDropped are the annotations of a Job that belong to its run, not to
// what it runs: Retry leaves them out of the new Job.
var retryDropped = []string{
	AnnotationEnqueueID, AnnotationUniqueKey, annotationResume,
	AnnotationRunAt, AnnotationAfter, AnnotationAfterAnyOutcome, AnnotationQueuedAt,
	AnnotationReleased, AnnotationReleasedBy, AnnotationEndReason, AnnotationEndMessage,
	AnnotationRetryOf,
	"batch.kubernetes.io/job-tracking", "batch.kubernetes.io/cronjob-scheduled-timestamp",
}

// generatedPodLabels are the labels the API server adds to a Job's pod
// template (and selector) when it generates the selector.
var generatedPodLabels = []string{
	"controller-uid", "job-name", batchv1.ControllerUidLabel, batchv1.JobNameLabel,
}

// retryJob returns the Job that retries old under name, as Retry says. It
// is pure. inSecret tells that the payload travels in a Secret, whose name
// Enqueue sets.
func retryJob(old *batchv1.Job, name string, inSecret bool, now time.Time) *batchv1.Job {
	job := &batchv1.Job{
		TypeMeta: metav1.TypeMeta{APIVersion: "batch/v1", Kind: "Job"},
		ObjectMeta: metav1.ObjectMeta{
			Name:        name,
			Namespace:   old.Namespace,
			Labels:      maps.Clone(old.Labels),
			Annotations: maps.Clone(old.Annotations),
		},
	}
	old.Spec.DeepCopyInto(&job.Spec)
	for _, k := range retryDropped {
		delete(job.Annotations, k)
	}
	if job.Annotations == nil {
		job.Annotations = make(map[string]string, 1)
	}
	job.Annotations[AnnotationRetryOf] = old.Name
	if !ptr.Deref(job.Spec.ManualSelector, false) {
		job.Spec.Selector = nil
		job.Spec.ManualSelector = nil
		for _, k := range generatedPodLabels {
			delete(job.Spec.Template.Labels, k)
			delete(job.Labels, k)
		}
	}
	_, kueue := job.Labels[LabelQueueName]
	_, concurrency := job.Annotations[AnnotationConcurrencyKey]
	if concurrency && !kueue {
		job.Annotations[AnnotationQueuedAt] = now.UTC().Format(time.RFC3339Nano)
	}
	// Suspended while Kueue or the release controller decides, or until
	// Enqueue has stored the payload Secret; running at once otherwise.
	job.Spec.Suspend = ptr.To(kueue || concurrency || inSecret)
	if inSecret {
		job.Annotations[annotationResume] = strconv.FormatBool(!kueue && !concurrency)
	}
	return job
}
