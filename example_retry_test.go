package kubequeue_test

import (
	"context"
	"fmt"

	batchv1 "k8s.io/api/batch/v1"

	"github.com/kubequeue/kubequeue"
	"github.com/kubequeue/kubequeue/kubequeuetest"
)

// Retry replays a failed Job: a new Job of the same worker, payload and
// options, which names the Job it retries. The failed Job is kept.
func ExampleQueue_Retry() {
	ctx := context.Background()
	queue, client, _ := kubequeuetest.NewQueue()

	failed, _ := queue.Enqueue(ctx, MakeThumbnail, ThumbArgs{ImageID: "img-9"})
	_ = kubequeuetest.SetFailed(ctx, client, failed, batchv1.JobReasonBackoffLimitExceeded, kubequeue.ExitRetryable, "cdn unreachable")

	retry, err := queue.Retry(ctx, failed)
	if err != nil {
		fmt.Println(err)
		return
	}
	job, _ := queue.Get(ctx, retry)
	payload, _ := kubequeuetest.Payload(job, MakeThumbnail)
	fmt.Println(retry.Worker, retry.Name != failed.Name)
	fmt.Println(job.Annotations[kubequeue.AnnotationRetryOf] == failed.Name, payload.ImageID)

	// A Job that has not finished is refused unless WithRetryUnfinished.
	running, _ := queue.Enqueue(ctx, MakeThumbnail, ThumbArgs{ImageID: "img-10"})
	_, err = queue.Retry(ctx, running)
	fmt.Println(err != nil)
	// Output:
	// make-thumbnail true
	// true img-9
	// true
}
