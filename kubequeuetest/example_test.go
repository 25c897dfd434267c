package kubequeuetest_test

import (
	"context"
	"fmt"
	"strings"

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
	queue, client := kubequeuetest.NewQueue()

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
	err := kubequeuetest.Perform(context.Background(), welcome, Welcome{UserID: "grace"})
	fmt.Println(err, kubequeue.ExitCode(err))
	// Output:
	// welcoming grace
	// <nil> 0
}
