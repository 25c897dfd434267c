package kubequeue_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	batchv1 "k8s.io/api/batch/v1"

	"github.com/kubequeue/kubequeue"
	"github.com/kubequeue/kubequeue/kubequeuetest"
)

// MakeThumbnail is the worker of the lifecycle examples. It records the size of the
// thumbnail it made as its result.
var MakeThumbnail = kubequeue.NewWorker("make-thumbnail", func(ctx context.Context, a ThumbArgs) error {
	// ... make the thumbnail ...
	return kubequeue.SetResult(ctx, Thumbnail{URL: "https://cdn.example.com/t/" + a.ImageID + ".jpg", Bytes: 18324})
}, kubequeue.WithImage("registry.example.com/shop/api:v1.4.2"))

// ThumbArgs is MakeThumbnail's payload.
type ThumbArgs struct {
	ImageID string `json:"imageID"`
}

// Thumbnail is MakeThumbnail's result.
type Thumbnail struct {
	URL   string `json:"url"`
	Bytes int    `json:"bytes"`
}

// A handle is plain data: one request enqueues and stores it, another
// rebuilds it and waits for the Job, decoding the result that perform
// recorded with SetResult. Here kubequeuetest plays the Job controller.
func ExampleQueue_Wait() {
	ctx := context.Background()
	queue, client, _ := kubequeuetest.NewQueue()

	handle, _ := queue.Enqueue(ctx, MakeThumbnail, ThumbArgs{ImageID: "img-7"})
	stored, _ := json.Marshal(handle)
	_ = kubequeuetest.SetSucceeded(ctx, client, handle, Thumbnail{URL: "https://cdn.example.com/t/img-7.jpg", Bytes: 18324})

	// Later, elsewhere:
	var h kubequeue.Handle
	_ = json.Unmarshal(stored, &h)
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	st, err := queue.Wait(ctx, h)
	if err != nil {
		fmt.Println(err)
		return
	}
	var thumb Thumbnail
	_ = st.DecodeResult(&thumb)
	fmt.Println(st.State, thumb.URL, thumb.Bytes)
	// Output:
	// succeeded https://cdn.example.com/t/img-7.jpg 18324
}

// WaitAll waits for many Jobs with two watches per namespace and yields each
// as it finishes. A failed Job's error tells why.
func ExampleQueue_WaitAll() {
	ctx := context.Background()
	queue, client, _ := kubequeuetest.NewQueue()
	var handles []kubequeue.Handle
	for _, id := range []string{"img-1", "img-2", "img-3"} {
		h, _ := queue.Enqueue(ctx, MakeThumbnail, ThumbArgs{ImageID: id})
		handles = append(handles, h)
	}
	_ = kubequeuetest.SetSucceeded(ctx, client, handles[0], nil)
	_ = kubequeuetest.SetFailed(ctx, client, handles[1], batchv1.JobReasonBackoffLimitExceeded, kubequeue.ExitRetryable, "decode image: unexpected EOF")
	_ = kubequeuetest.SetSucceeded(ctx, client, handles[2], nil)

	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	succeeded, failed := 0, 0
	for st, err := range queue.WaitAll(ctx, handles...) {
		var jobErr *kubequeue.JobFailedError
		switch {
		case err == nil:
			succeeded++
		case errors.As(err, &jobErr):
			failed++
			fmt.Printf("%s: exit code %d: %s\n", jobErr.Reason, jobErr.ExitCode, jobErr.TerminationMessage)
		default:
			fmt.Println(st.Handle, err)
		}
	}
	fmt.Println(succeeded, "succeeded,", failed, "failed")
	// Output:
	// BackoffLimitExceeded: exit code 1: decode image: unexpected EOF
	// 2 succeeded, 1 failed
}

// Status summarizes a Job without waiting.
func ExampleQueue_Status() {
	ctx := context.Background()
	queue, client, _ := kubequeuetest.NewQueue()
	h, _ := queue.Enqueue(ctx, MakeThumbnail, ThumbArgs{ImageID: "img-9"})

	st, _ := queue.Status(ctx, h)
	fmt.Println(st.State, st.Failures)
	_ = kubequeuetest.SetFailed(ctx, client, h, batchv1.JobReasonPodFailurePolicy, kubequeue.ExitPermanent, "image img-9 does not exist")
	st, _ = queue.Status(ctx, h)
	fmt.Println(st.State, st.Failures, st.Reason, st.ExitCode, st.TerminationMessage)
	// Output:
	// pending 0
	// failed 1 PodFailurePolicy 42 image img-9 does not exist
}

// List returns a worker's Jobs newest first, a page at a time.
func ExampleQueue_List() {
	ctx := context.Background()
	queue, _, _ := kubequeuetest.NewQueue()
	for range 3 {
		_, _ = queue.Enqueue(ctx, MakeThumbnail, ThumbArgs{ImageID: "img"})
	}
	opts := kubequeue.ListOptions{Worker: MakeThumbnail.Name(), Limit: 2}
	for page := 1; ; page++ {
		list, err := queue.List(ctx, opts)
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println("page", page, "has", len(list.Items), "jobs")
		if list.Continue == "" {
			break
		}
		opts.Continue = list.Continue
	}
	// Output:
	// page 1 has 2 jobs
	// page 2 has 1 jobs
}

// Cancel deletes the Job and its pods; cancelling again is fine.
func ExampleQueue_Cancel() {
	ctx := context.Background()
	queue, _, _ := kubequeuetest.NewQueue()
	h, _ := queue.Enqueue(ctx, MakeThumbnail, ThumbArgs{ImageID: "img-3"})

	fmt.Println(queue.Cancel(ctx, h))
	fmt.Println(queue.Cancel(ctx, h))
	_, err := queue.Status(ctx, h)
	fmt.Println(errors.Is(err, kubequeue.ErrJobNotFound))
	// Output:
	// <nil>
	// <nil>
	// true
}

// Inside the container, perform records a small result with SetResult;
// PerformJob runs the worker in-process and returns it, as a test would.
func ExampleSetResult() {
	queue, _, _ := kubequeuetest.NewQueue()
	job, _ := queue.Build(MakeThumbnail, ThumbArgs{ImageID: "img-5"})
	result, err := kubequeue.PerformJob(context.Background(), job, MakeThumbnail)
	fmt.Println(string(result), err)
	// Output:
	// {"url":"https://cdn.example.com/t/img-5.jpg","bytes":18324} <nil>
}
