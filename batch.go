package kubequeue

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"

	batchv1 "k8s.io/api/batch/v1"

	"github.com/kubequeue/kubequeue/internal/names"
	"github.com/kubequeue/kubequeue/internal/wire"
)

// MaxBatchItems is the most items of one batch: Kubernetes' limit for an
// Indexed Job with per-index retries (backoffLimitPerIndex) that sets no
// further constraint (above it the API server requires maxFailedIndexes
// and limits parallelism to 10,000). A larger batch is refused, as is one
// whose items take more than [MaxPayloadSize] encoded: split it, and
// enqueue each part as a batch of its own.
const MaxBatchItems = 100_000

// maxBatchNameLen is the longest name of a batch's Job: the Job controller
// names the host of the pod of index i "<job>-<i>", a DNS label of at most
// 63 characters, and a batch's indexes have up to 5 digits.
const maxBatchNameLen = names.MaxJobNameLen - 1 - 5

// ErrEmptyBatch reports a batch without items, which EnqueueBatch and
// BuildBatch refuse.
var ErrEmptyBatch = errors.New("kubequeue: empty batch")

// WithParallelism sets how many items of a batch run at a time
// (spec.parallelism): 1 to [MaxBatchItems]. Default: all of them, as they
// would if each were enqueued as a Job of its own; the cluster's capacity
// sets the pace. It applies to batches ([Queue.EnqueueBatch]) only: a
// worker's setting is the default of its batches, and passing it to
// Enqueue is an error. Repeating it replaces.
func WithParallelism(n int32) JobOption {
	return jobOption(func(c *jobConfig) { c.parallelism = &n })
}

// WithMaxFailedItems makes a batch fail as soon as more than n of its
// items have failed (spec.maxFailedIndexes), stopping its running pods
// and starting no more. Default: no limit, so that every item runs; a
// batch with a failed item still fails, with reason FailedIndexes, once
// the others have finished (unless [WithSuccessPolicy] says it
// succeeded). 0 to [MaxBatchItems]; a limit above the batch's size is the
// same as none. It applies to batches only, as [WithParallelism] does.
// Repeating it replaces.
func WithMaxFailedItems(n int32) JobOption {
	return jobOption(func(c *jobConfig) { c.maxFailedIndexes = &n })
}

// WithSuccessPolicy sets when a batch succeeds before all its items have
// (spec.successPolicy): as soon as one of the rules is met, the batch
// succeeds with reason SuccessPolicy and its other pods are stopped. A
// rule names indexes (SucceededIndexes, such as "0-9,20") that must all
// have succeeded, or a number of items (SucceededCount) of which at least
// that many must have, or both (that many of those indexes). Default: a
// batch succeeds when all its items have. At most 20 rules, checked
// against the batch's size. It applies to one EnqueueBatch call only.
// Repeating it adds rules.
func WithSuccessPolicy(rules ...batchv1.SuccessPolicyRule) EnqueueOption {
	return enqueueOption(func(c *callConfig) {
		for _, r := range rules {
			c.successPolicy = append(c.successPolicy, *r.DeepCopy())
		}
	})
}

// BuildBatch returns the Job that [Queue.EnqueueBatch] would create for
// worker and items, without any API call: one Indexed Job whose pod of
// index i performs items[i]. items must be a []T of the worker's payload
// type T, with 1 to [MaxBatchItems] items whose JSON encodings take at
// most [MaxPayloadSize] bytes in all, each of which must decode back into
// a T.
//
// The Job is built as [Queue.Build] builds a single one, with these
// differences. Its spec sets completionMode Indexed, completions
// len(items), parallelism ([WithParallelism]), backoffLimitPerIndex (each
// item is retried up to the backoff limit, [WithBackoffLimit], without
// using up the others' retries), backoffLimit unlimited (MaxInt32),
// maxFailedIndexes ([WithMaxFailedItems]) and successPolicy
// ([WithSuccessPolicy]). Its pod failure policy fails only the item's
// index, not the Job, when perform returns a [Permanent] error (FailIndex;
// the call's and the worker's rules may use FailIndex too). Its items
// travel, one JSON encoding a line in the order of their indexes, in the
// variable KUBEQUEUE_BATCH, from which the runtime in the pod of index i
// (JOB_COMPLETION_INDEX) takes line i. Every pod holds a copy of the
// Job's environment: the items stay there only if len(items) times their
// size as written there (with '$' as \u0024) is at most
// [MaxEnvPayloadSize]. Otherwise, or with [WithSensitivePayload], they
// travel in a Secret owned by the Job, stored once, mounted as a single
// file, and the Job is built suspended as Build says. The name is
// "<worker>-<suffix>", with the worker's name cut so that the name has at
// most 57 characters, leaving room for the host names "<job>-<index>" of
// its pods; a name given with [WithJobName] must leave that room too. A
// [WithUniqueKey] names a batch of its own, apart from a single Job of the
// same key.
//
// Errors match [ErrInvalidWorker], [ErrInvalidOption], [ErrPayloadType]
// (items is not a []T), [ErrPayloadEncode] or [ErrPayloadTooLarge] (naming
// the item at fault, or the batch as a whole), or [ErrEmptyBatch].
func (q *Queue) BuildBatch(worker AnyWorker, items any, opts ...EnqueueOption) (*batchv1.Job, error) {
	built, _, err := q.buildBatch(worker, items, opts...)
	return built, err
}

// EnqueueBatch creates one Indexed Job that performs each of items, a []T
// of the worker's payload type T, in a pod of its own: the Job BuildBatch
// returns. It keeps Enqueue's guarantees: invalid input is refused before
// any API call, requests are tried again as [WithRetries] says, one call
// never creates two Jobs, a failed call leaves no Job unless its error
// matches [ErrMaybeEnqueued], and items that travel in a Secret are stored
// before the Job starts (see [Queue.Enqueue]).
//
// The Handle it returns names the batch's Job: [Queue.Status],
// [Queue.Wait] and [Queue.WaitAll] report each item in [Status.Items], by
// index, with its result; [LogOptions].Index selects an item's logs;
// [Queue.Cancel], [Queue.Suspend] and [Queue.Resume] act on the whole
// batch. A batch of 1,000 items is one Job object, and one Secret when its
// items travel in one, rather than 1,000 of each.
func (q *Queue) EnqueueBatch(ctx context.Context, worker AnyWorker, items any, opts ...EnqueueOption) (Handle, error) {
	job, secretData, err := q.buildBatch(worker, items, opts...)
	if err != nil {
		return Handle{}, err
	}
	return q.enqueue(ctx, worker.Name(), job, secretData, *job.Spec.Completions, func() (string, error) {
		encoded, err := worker.encodeItems(items)
		if err != nil {
			return "", err
		}
		return wire.JoinItems(encoded), nil
	})
}

// buildBatch is BuildBatch, which also returns the encoded items when they
// travel in a Secret, as build does.
func (q *Queue) buildBatch(worker AnyWorker, items any, opts ...EnqueueOption) (*batchv1.Job, string, error) {
	if worker == nil {
		return nil, "", fmt.Errorf("%w: nil worker", ErrInvalidWorker)
	}
	cfg, err := worker.config()
	if err != nil {
		return nil, "", err
	}
	encoded, err := worker.encodeItems(items)
	if err != nil {
		return nil, "", err
	}
	n := len(encoded)
	switch {
	case n == 0:
		return nil, "", fmt.Errorf("%w: worker %q: a batch needs at least one item", ErrEmptyBatch, worker.Name())
	case n > MaxBatchItems:
		return nil, "", fmt.Errorf("%w: worker %q: a batch of %d items, more than %d; split it into batches of at most %d", ErrPayloadTooLarge, worker.Name(), n, MaxBatchItems, MaxBatchItems)
	}
	data := wire.JoinItems(encoded)
	if len(data) > MaxPayloadSize {
		return nil, "", fmt.Errorf("%w: worker %q: the batch's %d items are %d bytes encoded, more than %d; split it into smaller batches", ErrPayloadTooLarge, worker.Name(), n, len(data), MaxPayloadSize)
	}
	call, err := callOptions(worker.Name(), cfg, opts, n)
	if err != nil {
		return nil, "", err
	}
	name := call.name
	switch {
	case call.uniqueKeySet:
		name = names.FromKeyWithin(worker.Name(), "batch\x00"+call.uniqueKey, maxBatchNameLen)
	case name == "":
		name = q.generateNameWithin(worker.Name(), maxBatchNameLen)
	}
	return q.assemble(worker.Name(), cfg, call, len(opts) > 0, name, data, int32(n))
}

// generateNameWithin returns "<worker>-<random suffix>", the worker's name
// cut so that the whole has at most maxLen characters.
func (q *Queue) generateNameWithin(worker string, maxLen int) string {
	if q.rand == nil {
		return names.GenerateWithin(worker, maxLen, rand.Uint64)
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	return names.GenerateWithin(worker, maxLen, q.rand.Uint64)
}

// isBatch reports whether job is a batch's: an Indexed Job.
func isBatch(job *batchv1.Job) bool {
	return job.Spec.CompletionMode != nil && *job.Spec.CompletionMode == batchv1.IndexedCompletion
}
