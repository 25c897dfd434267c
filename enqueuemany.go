package kubequeue

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	batchv1 "k8s.io/api/batch/v1"
)

// DefaultEnqueueConcurrency is how many Jobs [Queue.EnqueueMany] creates at
// once unless [WithEnqueueConcurrency] says otherwise.
const DefaultEnqueueConcurrency = 32

// MaxEnqueueConcurrency is the most [WithEnqueueConcurrency] accepts.
const MaxEnqueueConcurrency = 1000

// EnqueueMany enqueues one Job of worker for each of payloads, a []T of
// the worker's payload type T (or a []any holding T values), with up to
// [DefaultEnqueueConcurrency] creates at once ([WithEnqueueConcurrency]
// changes it). opts apply to every Job, except [WithJobName] and
// [WithUniqueKey], which name one Job and are refused: enqueue such Jobs
// one at a time with [Queue.Enqueue].
//
// Every payload and option is checked first, as Build checks them: if any
// is invalid, EnqueueMany makes no API call and returns nil handles and an
// [*EnqueueManyError] that names each invalid payload (or, for an invalid
// worker or option, that error alone). So a mistake never enqueues part of
// a batch.
//
// Then each payload is enqueued exactly as [Queue.Enqueue] does it, with
// its guarantees: one payload never makes two Jobs, whatever answers are
// lost, and a payload whose Enqueue fails leaves no Job unless its error
// matches [ErrMaybeEnqueued]. When the API server pushes back (429 Too
// Many Requests, as API Priority and Fairness answers, a 5xx, or a
// Retry-After), every create of the call waits as long as the one that was
// refused, instead of each trying on its own. A failure does not stop the
// others; only the end of ctx does, and then the payloads not yet
// enqueued fail with ctx's error.
//
// The handles are in the order of payloads, one each. If some payloads
// failed, the error is an [*EnqueueManyError] that lists them with their
// errors; the handle of a failed payload is zero, or names the Job that
// may exist when its error matches ErrMaybeEnqueued. An empty list
// enqueues nothing and returns no error.
//
// The client's own rate limit still applies: client-go's default of 5
// requests per second makes EnqueueMany as slow as that (see [New]).
func (q *Queue) EnqueueMany(ctx context.Context, worker AnyWorker, payloads any, opts ...EnqueueOption) ([]Handle, error) {
	if worker == nil {
		return nil, fmt.Errorf("%w: nil worker", ErrInvalidWorker)
	}
	cfg, err := worker.config()
	if err != nil {
		return nil, err
	}
	list, err := worker.payloadList(payloads)
	if err != nil {
		return nil, err
	}
	call := applyOptions(opts)
	call.many = true
	if err := validateCall(worker.Name(), cfg, call, 0); err != nil {
		return nil, err
	}
	type built struct {
		job  *batchv1.Job
		data string // the payload, when it travels in a Secret
	}
	jobs := make([]built, len(list))
	invalid := &EnqueueManyError{Total: len(list), invalid: true}
	for i, payload := range list {
		data, err := worker.encodePayload(payload)
		if err == nil {
			jobs[i].job, jobs[i].data, err = q.assemble(worker.Name(), cfg, call, len(opts) > 0, q.generateName(worker.Name()), data, 0)
		}
		if err != nil {
			invalid.Failures = append(invalid.Failures, EnqueueFailure{Index: i, Err: err})
		}
	}
	if len(invalid.Failures) > 0 {
		return nil, invalid
	}
	if ctx.Err() != nil {
		return nil, fmt.Errorf("kubequeue: enqueue %d jobs of worker %s: %w", len(list), worker.Name(), ctxErr(ctx))
	}

	handles := make([]Handle, len(list))
	errs := make([]error, len(list))
	ctx = withSharedBackoff(ctx, new(sharedBackoff))
	workers := DefaultEnqueueConcurrency
	if call.concurrencySet {
		workers = call.concurrency
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(workers, len(list)) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(list) {
					return
				}
				payload := list[i]
				handles[i], errs[i] = q.enqueue(ctx, worker.Name(), jobs[i].job, jobs[i].data, 0, func() (string, error) { return worker.encodePayload(payload) })
				jobs[i] = built{} // done with it: let it be collected
			}
		})
	}
	wg.Wait()

	failed := &EnqueueManyError{Total: len(list)}
	for i, err := range errs {
		if err != nil {
			failed.Failures = append(failed.Failures, EnqueueFailure{Index: i, Err: err})
		}
	}
	if len(failed.Failures) > 0 {
		return handles, failed
	}
	return handles, nil
}

// EnqueueManyError reports the payloads that [Queue.EnqueueMany] did not
// enqueue, and why. It matches, with [errors.Is] and [errors.As], what any
// of their errors matches (through Unwrap), such as [ErrPayloadType],
// [ErrMaybeEnqueued] or [context.Canceled].
type EnqueueManyError struct {
	// Total is how many payloads EnqueueMany was given.
	Total int
	// Failures lists the payloads that failed, in the order given.
	Failures []EnqueueFailure

	invalid bool // found invalid before any API call
}

// EnqueueFailure is one payload that [Queue.EnqueueMany] did not enqueue.
type EnqueueFailure struct {
	// Index is the payload's position in the list given to EnqueueMany.
	Index int
	// Err is why, as Enqueue would have returned it.
	Err error
}

// maxErrorsShown bounds how many failures EnqueueManyError.Error spells
// out.
const maxErrorsShown = 3

// Error says how many payloads failed and why the first few did.
func (e *EnqueueManyError) Error() string {
	var b strings.Builder
	if e.invalid {
		fmt.Fprintf(&b, "kubequeue: enqueue many: %d of %d payloads are invalid, so none was enqueued", len(e.Failures), e.Total)
	} else {
		fmt.Fprintf(&b, "kubequeue: enqueue many: %d of %d payloads failed", len(e.Failures), e.Total)
	}
	for i, f := range e.Failures {
		if i == maxErrorsShown {
			fmt.Fprintf(&b, "; and %d more", len(e.Failures)-maxErrorsShown)
			break
		}
		sep := "; "
		if i == 0 {
			sep = ": "
		}
		fmt.Fprintf(&b, "%spayload %d: %v", sep, f.Index, f.Err)
	}
	return b.String()
}

// Unwrap returns the failures' errors, so that errors.Is and errors.As
// look at each.
func (e *EnqueueManyError) Unwrap() []error {
	errs := make([]error, len(e.Failures))
	for i, f := range e.Failures {
		errs[i] = f.Err
	}
	return errs
}
