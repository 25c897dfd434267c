package kubequeue

import (
	"context"
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
