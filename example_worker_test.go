package kubequeue_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/kubequeue/kubequeue"
)

// ResizeArgs is the payload of the resize-image worker.
type ResizeArgs struct {
	ImageID string `json:"imageID"`
	Width   int    `json:"width"`
}

func resize(ctx context.Context, args ResizeArgs) error {
	if args.Width <= 0 {
		// Retrying cannot fix a bad width: fail the Job now.
		return kubequeue.Permanent(fmt.Errorf("width %d: must be positive", args.Width))
	}
	// ... fetch, resize and store the image, honouring ctx ...
	return nil
}

// Declare a worker once, as a package-level variable shared by the code that
// enqueues it and the runtime that performs it. The payload type is inferred
// from the perform function.
func ExampleNewWorker() {
	resizeImage := kubequeue.NewWorker("resize-image", resize,
		kubequeue.WithImage("registry.example.com/shop/api:v1.4.2"),
		kubequeue.WithCPU("250m", "1"),
		kubequeue.WithMemory("256Mi", "512Mi"),
		kubequeue.WithBackoffLimit(5),
	)
	fmt.Println(resizeImage, resizeImage.Validate())

	// Mistakes are reported, never panicked on.
	broken := kubequeue.NewWorker("Resize_Image", resize,
		kubequeue.WithImage("registry.example.com/shop/api:v1.4.2"),
		kubequeue.WithMemory("", "100m"),
	)
	err := broken.Validate()
	fmt.Println(errors.Is(err, kubequeue.ErrInvalidWorker))
	fmt.Println(err)
	// Output:
	// resize-image(kubequeue_test.ResizeArgs) <nil>
	// true
	// kubequeue: worker "Resize_Image": name "Resize_Image": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')
	// kubequeue: worker "Resize_Image": WithMemory limit "100m": the suffix m means thousandths, so this is 0.1 bytes; did you mean "100Mi"?
}

// A worker whose container runs a program of its own has no perform
// function; its payload type is then given explicitly.
func ExampleNewWorker_command() {
	computePi := kubequeue.NewWorker[struct{}]("compute-pi", nil,
		kubequeue.WithImage("perl"),
		kubequeue.WithCommand("perl", "-Mbignum=bpi", "-wle", "print bpi(2000)"),
	)
	fmt.Println(computePi.Validate())
	// Output:
	// <nil>
}

// Permanent marks a failure that retrying cannot fix; ExitCode maps errors to
// the container's exit code.
func ExamplePermanent() {
	fmt.Println(kubequeue.ExitCode(nil))
	fmt.Println(kubequeue.ExitCode(errors.New("database unavailable")))
	fmt.Println(kubequeue.ExitCode(kubequeue.Permanent(errors.New("no such image"))))
	// Output:
	// 0
	// 1
	// 42
}
