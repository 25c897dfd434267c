package kubequeue

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"time"
)

// WithSleep makes the queue wait between the tries of a request with sleep
// instead of a timer, so that a test sees the back-off without waiting for
// it.
func WithSleep(sleep func(context.Context, time.Duration) error) QueueOption {
	return queueOption(func(q *Queue) { q.sleep = sleep })
}

// SlimJob is the transform WaitAll's Job cache applies.
var SlimJob = slimJob

// WithRandSource makes the queue draw Job name suffixes from src instead of
// the runtime's random generator, for reproducible names. The queue
// serializes its own calls to src. Repeating it replaces.
func WithRandSource(src rand.Source) QueueOption {
	return queueOption(func(q *Queue) { q.rand = src })
}

// AnnotationResume is the annotation of a Job that waits for its payload
// Secret.
const AnnotationResume = annotationResume

// SetWorkerErr replaces what NewWorker found wrong with w's options.
func SetWorkerErr[T any](w *Worker[T], err error) { w.err = err }

// WithClock makes the queue read the time from now, for WithDelay and
// AnnotationQueuedAt.
func WithClock(now func() time.Time) QueueOption {
	return queueOption(func(q *Queue) { q.now = now })
}

// KueueStatus refines st, of a queued Job, with the Kueue Workloads in
// workloadsJSON (a JSON array), as Status does.
func KueueStatus(st *Status, workloadsJSON string) error {
	var wls []workload
	if err := json.Unmarshal([]byte(workloadsJSON), &wls); err != nil {
		return err
	}
	kueueStatus(st, wls)
	return nil
}
