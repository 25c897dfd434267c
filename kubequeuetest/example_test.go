package kubequeuetest_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/kubequeue/kubequeue"
	"github.com/kubequeue/kubequeue/kubequeuetest"
)

// Welcome is the payload of the welcome worker.
type Welcome struct {
	UserID string `json:"userID"`
}

var welcome = kubequeue.NewWorker("welcome", func(ctx context.Context, w Welcome) error {
	fmt.Println("welcoming", w.UserID)
	return nil
}, kubequeue.WithImage("registry.example.com/app:v1"))

// signUp is the code under test: a handler that enqueues a job.
func signUp(ctx context.Context, queue *kubequeue.Queue, user string) error {
	_, err := queue.Enqueue(ctx, welcome, Welcome{UserID: strings.ToLower(user)})
	return err
}

// A test enqueues through a queue on the fake clientset, checks what was
// enqueued, then performs the jobs as their containers would. In a test,
// use RequireEnqueued(t, client, welcome) to fail the test when nothing was
// enqueued.
func Example() {
	ctx := context.Background()
	queue, client, _ := kubequeuetest.NewQueue()

	if err := signUp(ctx, queue, "Ada"); err != nil {
		fmt.Println(err)
		return
	}
	payloads, err := kubequeuetest.Enqueued(ctx, client, welcome)
	fmt.Println(payloads, err)

	err = kubequeuetest.PerformEnqueued(ctx, client, welcome)
	fmt.Println(err)
	// Output:
	// [{ada}] <nil>
	// welcoming ada
	// <nil>
}

// Perform runs a worker in-process, through the same encoding and decoding
// as a real Job.
func ExamplePerform() {
	_, err := kubequeuetest.Perform(context.Background(), welcome, Welcome{UserID: "grace"})
	fmt.Println(err, kubequeue.ExitCode(err))
	// Output:
	// welcoming grace
	// <nil> 0
}

// SetSucceeded and SetFailed finish Jobs on the fake clientset as the Job
// controller would, so that code that waits for Jobs can be tested.
func ExampleSetFailed() {
	ctx := context.Background()
	queue, client, _ := kubequeuetest.NewQueue()
	ok, _ := queue.Enqueue(ctx, welcome, Welcome{UserID: "ada"})
	bad, _ := queue.Enqueue(ctx, welcome, Welcome{UserID: "nobody"})

	_ = kubequeuetest.SetSucceeded(ctx, client, ok, map[string]string{"mail": "sent"})
	_ = kubequeuetest.SetFailed(ctx, client, bad, "PodFailurePolicy", kubequeue.ExitPermanent, "no such user")

	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	st, err := queue.Wait(ctx, ok)
	fmt.Println(st.State, string(st.Result), err)
	st, err = queue.Wait(ctx, bad)
	fmt.Println(st.State, st.ExitCode, errors.Is(err, kubequeue.ErrPermanent))
	// Output:
	// succeeded {"mail":"sent"} <nil>
	// failed 42 true
}

// WithLog gives a finished Job's pod what it printed, so that code that
// reads a Job's logs can be tested.
func ExampleWithLog() {
	ctx := context.Background()
	queue, client, _ := kubequeuetest.NewQueue()
	h, _ := queue.Enqueue(ctx, welcome, Welcome{UserID: "ada"})
	_ = kubequeuetest.SetFailed(ctx, client, h, "BackoffLimitExceeded", kubequeue.ExitRetryable, "smtp: connection refused",
		kubequeuetest.WithLog("welcoming ada\nsmtp: connection refused\n"))

	for line, err := range queue.Logs(ctx, h, kubequeue.LogOptions{}) {
		if err != nil {
			fmt.Println(err)
			break
		}
		fmt.Printf("[attempt %d] %s\n", line.Attempt, line.Text)
	}
	// Output:
	// [attempt 1] welcoming ada
	// [attempt 1] smtp: connection refused
}

// PerformJob performs a Job the code under test enqueued, here one whose
// payload travels in a Secret, and returns the result perform recorded.
func ExamplePerformJob() {
	ctx := context.Background()
	queue, client, _ := kubequeuetest.NewQueue()
	count := kubequeue.NewWorker("count-words", func(ctx context.Context, text string) error {
		return kubequeue.SetResult(ctx, len(strings.Fields(text)))
	}, kubequeue.WithImage("registry.example.com/app:v1"))
	_, _ = queue.Enqueue(ctx, count, "a private letter of six words", kubequeue.WithSensitivePayload())

	jobs, _ := kubequeuetest.Jobs(ctx, client, count)
	result, err := kubequeuetest.PerformJob(ctx, client, &jobs[0], count)
	fmt.Println(string(result), err)
	// Output:
	// 6 <nil>
}
