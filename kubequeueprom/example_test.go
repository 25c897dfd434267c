package kubequeueprom_test

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/kubequeue/kubequeue"
	"github.com/kubequeue/kubequeue/kubequeueprom"
)

type ResizeArgs struct {
	ImageID string `json:"imageID"`
}

// The queue counts its enqueues on a registry, which the service serves
// with promhttp as it serves its other metrics.
func Example() {
	reg := prometheus.NewRegistry()
	metrics, err := kubequeueprom.New(reg)
	if err != nil {
		panic(err)
	}
	queue, err := kubequeue.New(fake.NewClientset(), kubequeue.WithEnqueueMiddleware(metrics.EnqueueMiddleware()))
	if err != nil {
		panic(err)
	}
	resizeImage := kubequeue.NewWorker("resize-image", func(context.Context, ResizeArgs) error { return nil },
		kubequeue.WithImage("registry.example.com/shop/api:v1.4.2"))
	if _, err := queue.EnqueueMany(context.Background(), resizeImage, []ResizeArgs{{ImageID: "a"}, {ImageID: "b"}}); err != nil {
		panic(err)
	}

	mfs, err := reg.Gather()
	if err != nil {
		panic(err)
	}
	for _, mf := range mfs {
		fmt.Println(mf.GetName(), mf.GetType())
	}
	err = testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP kubequeue_enqueues_total Jobs a queue tried to create, by worker and outcome (enqueued, failed, maybe_enqueued).
# TYPE kubequeue_enqueues_total counter
kubequeue_enqueues_total{outcome="enqueued",worker="resize-image"} 2
`), "kubequeue_enqueues_total")
	fmt.Fprintln(os.Stdout, "enqueues as expected:", err == nil)
	// Output:
	// kubequeue_enqueue_api_retries_total COUNTER
	// kubequeue_enqueue_duration_seconds HISTOGRAM
	// kubequeue_enqueues_total COUNTER
	// enqueues as expected: true
}
