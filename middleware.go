package kubequeue

import (
	"context"
	"fmt"

	batchv1 "k8s.io/api/batch/v1"
)

// EnqueueRequest describes one Job that a [Queue] is about to create, as an
// [EnqueueMiddleware] sees it: the Job of an Enqueue, of one payload of an
// EnqueueMany, of an EnqueueBatch, or of a Retry.
type EnqueueRequest struct {
	// Worker is the worker's name.
	Worker string
	// Namespace and Name are the Job's.
	Namespace, Name string
	// Job is the built Job, not yet created. A middleware may change it
	// before it calls next: add annotations and labels, or environment
	// variables of its worker container (the first container; names that
	// start with KUBEQUEUE_ are kubequeue's). What kubequeue relies on is
	// checked as after [WithJobMutator] (the name, namespace, kubequeue's
	// labels, the worker container and the payload), and a change to it
	// fails the call with an error matching [ErrInvalidOption] before any
	// API call. The Job is the call's own: a middleware must not keep it
	// after next returns. Its Annotations are not nil.
	Job *batchv1.Job
	// Items is a batch's number of items (see [Queue.EnqueueBatch]), or 0
	// for a single Job.
	Items int
	// Retries is how many requests to the API server the call tried again
	// (see [WithRetries]): 0 when each succeeded, or failed for good, at
	// its first try. It is set when next returns.
	Retries int
}

// EnqueueFunc creates the Job of req; an [EnqueueMiddleware] calls it as
// next.
type EnqueueFunc func(ctx context.Context, req *EnqueueRequest) (Handle, error)

// EnqueueMiddleware runs around the creation of each Job a [Queue]
// enqueues: it may change req.Job, must call next once to create it (not
// calling it enqueues nothing, and then it must return an error), and
// returns what next returned, or another error. It may pass next a ctx of
// its own, holding a trace span say; ctx carries the call's deadline.
// Middleware is called concurrently by [Queue.EnqueueMany] and must be
// safe for that. Set it with [WithEnqueueMiddleware].
type EnqueueMiddleware func(ctx context.Context, req *EnqueueRequest, next EnqueueFunc) (Handle, error)

// WithEnqueueMiddleware adds middleware around the creation of each Job:
// once per [Queue.Enqueue], once per payload of [Queue.EnqueueMany], once
// per [Queue.EnqueueBatch] (one Job of all its items) and once per
// [Queue.Retry]. The first middleware given is the outermost: it runs first and sees next return
// last, as grpc's chained interceptors do. It does not run for what
// [Queue.Build] or [Queue.BuildBatch] return (nothing is created), for
// calls refused before any API call (an invalid payload or option), nor
// for [Queue.Schedule]: a schedule's Jobs are created by the CronJob
// controller at each run, with no Enqueue call to go around (the
// middleware of the runtime, [WithPerformMiddleware], still runs in their
// pods). Default: none. Repeating it adds.
func WithEnqueueMiddleware(mw ...EnqueueMiddleware) QueueOption {
	return queueOption(func(q *Queue) {
		for _, m := range mw {
			if m != nil {
				q.enqueueMiddleware = append(q.enqueueMiddleware, m)
			}
		}
	})
}

// chainEnqueue returns final inside q's middleware, the first outermost.
func (q *Queue) chainEnqueue(final EnqueueFunc) EnqueueFunc {
	next := final
	for i := len(q.enqueueMiddleware) - 1; i >= 0; i-- {
		mw, inner := q.enqueueMiddleware[i], next
		next = func(ctx context.Context, req *EnqueueRequest) (Handle, error) { return mw(ctx, req, inner) }
	}
	return next
}

// PerformRequest describes the Job a runtime performs, as a
// [PerformMiddleware] sees it. What the container's environment does not
// tell is zero.
type PerformRequest struct {
	// Worker is the worker's name, from KUBEQUEUE_WORKER: the name the
	// Job was enqueued with, even when no worker of the runtime has it.
	Worker string
	// Namespace and JobName are the Job's: in a pod, from variables the
	// Job's container gets through the downward API (a Job built before
	// they were added has none, and they are ""); in [Runtime.PerformJob],
	// from the Job.
	Namespace, JobName string
	// PodName is the pod's name, or "" outside a pod.
	PodName string
	// Index is the item's index in a batch (JOB_COMPLETION_INDEX), or -1
	// for a single Job.
	Index int
	// Attempt counts the runs of this item, from 1, for a batch's item:
	// the Job controller counts the failed pods of each index (in the pod
	// annotation batch.kubernetes.io/job-index-failure-count). A single
	// Job's pod cannot know how many pods failed before it: Attempt is 0,
	// unknown (Queue.Status counts them).
	Attempt int
	// LookupEnv reads the container's environment, as [os.LookupEnv]
	// does: a trace context a middleware of the Queue put there, say.
	LookupEnv func(key string) (string, bool)
}

// PerformFunc performs the Job of req; a [PerformMiddleware] calls it as
// next. Its error is what the worker's perform function returned, or one
// of the runtime's (see [PerformJob]); [ExitCode] gives the container's
// exit code for it.
type PerformFunc func(ctx context.Context, req *PerformRequest) error

// PerformMiddleware runs around perform in the Job's container: it must
// call next once and returns its error, or another one, which then decides
// the exit code and the termination message (returning nil after a
// failure makes the Job succeed). It may pass next a ctx of its own,
// holding a trace span say. It runs before the worker is looked up and the
// payload decoded, so it sees those failures too. A middleware that panics
// fails the Job as a panicking perform does. Set it with
// [WithPerformMiddleware].
type PerformMiddleware func(ctx context.Context, req *PerformRequest, next PerformFunc) error

// RuntimeOption configures a [Runtime].
type RuntimeOption interface {
	applyRuntime(*Runtime)
}

type runtimeOption func(*Runtime)

func (f runtimeOption) applyRuntime(r *Runtime) { f(r) }

// WithPerformMiddleware adds middleware around perform. The first given is
// the outermost. Default: none. Repeating it adds.
func WithPerformMiddleware(mw ...PerformMiddleware) RuntimeOption {
	return runtimeOption(func(r *Runtime) {
		for _, m := range mw {
			if m != nil {
				r.middleware = append(r.middleware, m)
			}
		}
	})
}

// chainPerform returns final inside r's middleware, the first outermost.
func (r *Runtime) chainPerform(final PerformFunc) PerformFunc {
	next := final
	for i := len(r.middleware) - 1; i >= 0; i-- {
		mw, inner := r.middleware[i], next
		next = func(ctx context.Context, req *PerformRequest) error { return mw(ctx, req, inner) }
	}
	return next
}

// errMiddlewareChanged reports an enqueue middleware that changed what
// kubequeue relies on.
func errMiddlewareChanged(err error) error {
	return fmt.Errorf("kubequeue: enqueue middleware changed the job: %w", err)
}
