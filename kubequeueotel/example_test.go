package kubequeueotel_test

import (
	"context"
	"fmt"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/kubequeue/kubequeue"
	"github.com/kubequeue/kubequeue/kubequeueotel"
)

type ResizeArgs struct {
	ImageID string `json:"imageID"`
}

var resizeImage = kubequeue.NewWorker("resize-image", func(context.Context, ResizeArgs) error { return nil },
	kubequeue.WithImage("registry.example.com/shop/api:v1.4.2"))

// The queue traces each Enqueue, and the runtime, in the Job's container,
// continues the trace around perform. Here both run in one process, with
// an in-memory exporter; a service sets its own provider (or the global
// one) and calls Main of the runtime first in main.
func Example() {
	exporter := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exporter))
	defer tp.Shutdown(context.Background())

	queue, err := kubequeue.New(fake.NewClientset(),
		kubequeue.WithEnqueueMiddleware(kubequeueotel.EnqueueMiddleware(kubequeueotel.WithTracerProvider(tp))))
	if err != nil {
		panic(err)
	}
	runtime := kubequeue.NewRuntime([]kubequeue.AnyWorker{resizeImage},
		kubequeue.WithPerformMiddleware(kubequeueotel.PerformMiddleware(kubequeueotel.WithTracerProvider(tp))))

	h, err := queue.Enqueue(context.Background(), resizeImage, ResizeArgs{ImageID: "img-1"})
	if err != nil {
		panic(err)
	}
	job, err := queue.Get(context.Background(), h)
	if err != nil {
		panic(err)
	}
	if _, err := runtime.PerformJob(context.Background(), job); err != nil {
		panic(err)
	}

	spans := exporter.GetSpans()
	send, process := spans[0], spans[1]
	fmt.Println(send.Name, send.SpanKind)
	fmt.Println(process.Name, process.SpanKind)
	fmt.Println("annotated:", job.Annotations[kubequeueotel.AnnotationTraceparent] != "")
	fmt.Println("child of the enqueue span:", process.Parent.SpanID() == send.SpanContext.SpanID())
	// Output:
	// send resize-image producer
	// process resize-image consumer
	// annotated: true
	// child of the enqueue span: true
}
