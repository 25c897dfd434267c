package kubequeue_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/kubequeue/kubequeue"
)

// An enqueue middleware sees each Job before it is created, may change it,
// and learns how the create went: here it labels the Job with the team
// that enqueued it, hands the container a request ID, and logs the outcome
// with the API retries the call needed.
func ExampleWithEnqueueMiddleware() {
	audit := func(ctx context.Context, req *kubequeue.EnqueueRequest, next kubequeue.EnqueueFunc) (kubequeue.Handle, error) {
		req.Job.Labels["example.com/team"] = "imaging"
		c := &req.Job.Spec.Template.Spec.Containers[0]
		c.Env = append(c.Env, corev1.EnvVar{Name: "REQUEST_ID", Value: "req-42"})
		h, err := next(ctx, req)
		fmt.Printf("enqueued %s in %s: error %v, %d retries\n", req.Worker, req.Namespace, err, req.Retries)
		return h, err
	}
	client := fake.NewClientset()
	queue, err := kubequeue.New(client, kubequeue.WithEnqueueMiddleware(audit))
	if err != nil {
		panic(err)
	}
	resizeImage := kubequeue.NewWorker("resize-image", resize, kubequeue.WithImage("registry.example.com/shop/api:v1.4.2"))

	h, err := queue.Enqueue(context.Background(), resizeImage, ResizeArgs{ImageID: "img-1", Width: 640})
	if err != nil {
		panic(err)
	}
	job, err := queue.Get(context.Background(), h)
	if err != nil {
		panic(err)
	}
	fmt.Println(job.Labels["example.com/team"])
	// Output:
	// enqueued resize-image in default: error <nil>, 0 retries
	// imaging
}

// A program that wants its own logger, or middleware around perform,
// builds a Runtime and calls its Main first in main, where it would call
// kubequeue.Main. The middleware sees the Job's worker, namespace, name
// and pod, and perform's error, whose exit code ExitCode gives.
func ExampleNewRuntime() {
	resizeImage := kubequeue.NewWorker("resize-image", resize, kubequeue.WithImage("registry.example.com/shop/api:v1.4.2"))
	timed := func(ctx context.Context, req *kubequeue.PerformRequest, next kubequeue.PerformFunc) error {
		err := next(ctx, req)
		fmt.Printf("performed %s of job %s/%s: exit code %d\n", req.Worker, req.Namespace, req.JobName, kubequeue.ExitCode(err))
		return err
	}
	rt := kubequeue.NewRuntime([]kubequeue.AnyWorker{resizeImage},
		kubequeue.WithRuntimeLogger(slog.New(slog.NewJSONHandler(os.Stderr, nil))),
		kubequeue.WithPerformMiddleware(timed),
	)
	rt.Main() // returns at once here: this process is not a Job's container

	// The same runtime performs a built Job in this process, as a test
	// would.
	queue, err := kubequeue.New(fake.NewClientset(), kubequeue.WithDefaultNamespace("shop"))
	if err != nil {
		panic(err)
	}
	job, err := queue.Build(resizeImage, ResizeArgs{ImageID: "img-1", Width: 0}, kubequeue.WithJobName("resize-img-1"))
	if err != nil {
		panic(err)
	}
	_, err = rt.PerformJob(context.Background(), job)
	fmt.Println(err)
	// Output:
	// performed resize-image of job shop/resize-img-1: exit code 42
	// width 0: must be positive
}
