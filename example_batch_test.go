package kubequeue_test

import (
	"context"
	"fmt"
	"os"

	"k8s.io/client-go/kubernetes/fake"
	"sigs.k8s.io/yaml"

	"github.com/kubequeue/kubequeue"
	"github.com/kubequeue/kubequeue/kubequeuetest"
)

// Render is the payload of the Renders worker: one item of a batch.
type Render struct {
	ImageID string `json:"imageID"`
}

// Renders renders one image's thumbnail and records where it is.
var Renders = kubequeue.NewWorker("render-thumbnail", func(ctx context.Context, t Render) error {
	if t.ImageID == "" {
		return kubequeue.Permanent(fmt.Errorf("no image ID")) // fails this item only
	}
	return kubequeue.SetResult(ctx, "thumbs/"+t.ImageID+".png")
}, kubequeue.WithImage("registry.example.com/shop/api:v1.4.2"), kubequeue.WithNamespace("shop"))

// BuildBatch returns the one Indexed Job that EnqueueBatch would create for
// a batch: the pod of index i performs item i, read from line i of
// KUBEQUEUE_BATCH, each item with retries of its own
// (backoffLimitPerIndex), and a Permanent error fails only its item
// (FailIndex).
func ExampleQueue_BuildBatch() {
	queue, err := kubequeue.New(fake.NewClientset())
	if err != nil {
		fmt.Println(err)
		return
	}
	job, err := queue.BuildBatch(Renders, []Render{{ImageID: "a1"}, {ImageID: "b2"}, {ImageID: "c3"}},
		kubequeue.WithJobName("render-thumbnail-x"),
		kubequeue.WithParallelism(2),
		kubequeue.WithMaxFailedItems(1),
	)
	if err != nil {
		fmt.Println(err)
		return
	}
	out, _ := yaml.Marshal(job)
	os.Stdout.Write(out)
	// Output:
	// apiVersion: batch/v1
	// kind: Job
	// metadata:
	//   labels:
	//     app.kubernetes.io/managed-by: kubequeue
	//     kubequeue.io/worker: render-thumbnail
	//   name: render-thumbnail-x
	//   namespace: shop
	// spec:
	//   backoffLimit: 2147483647
	//   backoffLimitPerIndex: 3
	//   completionMode: Indexed
	//   completions: 3
	//   maxFailedIndexes: 1
	//   parallelism: 2
	//   podFailurePolicy:
	//     rules:
	//     - action: FailIndex
	//       onExitCodes:
	//         containerName: worker
	//         operator: In
	//         values:
	//         - 42
	//     - action: Ignore
	//       onPodConditions:
	//       - status: "True"
	//         type: DisruptionTarget
	//   template:
	//     metadata:
	//       labels:
	//         app.kubernetes.io/managed-by: kubequeue
	//         kubequeue.io/worker: render-thumbnail
	//     spec:
	//       automountServiceAccountToken: false
	//       containers:
	//       - env:
	//         - name: KUBEQUEUE_WORKER
	//           value: render-thumbnail
	//         - name: KUBEQUEUE_BATCH
	//           value: |-
	//             {"imageID":"a1"}
	//             {"imageID":"b2"}
	//             {"imageID":"c3"}
	//         - name: KUBEQUEUE_NAMESPACE
	//           valueFrom:
	//             fieldRef:
	//               apiVersion: v1
	//               fieldPath: metadata.namespace
	//         - name: KUBEQUEUE_JOB_NAME
	//           valueFrom:
	//             fieldRef:
	//               apiVersion: v1
	//               fieldPath: metadata.labels['batch.kubernetes.io/job-name']
	//         - name: KUBEQUEUE_POD_NAME
	//           valueFrom:
	//             fieldRef:
	//               apiVersion: v1
	//               fieldPath: metadata.name
	//         - name: KUBEQUEUE_INDEX_FAILURES
	//           valueFrom:
	//             fieldRef:
	//               apiVersion: v1
	//               fieldPath: metadata.annotations['batch.kubernetes.io/job-index-failure-count']
	//         image: registry.example.com/shop/api:v1.4.2
	//         name: worker
	//         resources: {}
	//         securityContext:
	//           allowPrivilegeEscalation: false
	//           capabilities:
	//             drop:
	//             - ALL
	//         terminationMessagePolicy: FallbackToLogsOnError
	//       restartPolicy: Never
	//       securityContext:
	//         runAsNonRoot: true
	//         seccompProfile:
	//           type: RuntimeDefault
	//   ttlSecondsAfterFinished: 86400
	// status: {}
}

// EnqueueBatch creates one Job for the whole batch; kubequeuetest performs
// a batch in-process, item by item, as the batch's pods would.
func ExampleQueue_EnqueueBatch() {
	ctx := context.Background()
	queue, client, err := kubequeuetest.NewQueue()
	if err != nil {
		fmt.Println(err)
		return
	}
	items := []Render{{ImageID: "a1"}, {ImageID: ""}, {ImageID: "c3"}}
	handle, err := queue.EnqueueBatch(ctx, Renders, items)
	if err != nil {
		fmt.Println(err)
		return
	}
	jobs, _ := kubequeuetest.Jobs(ctx, client, Renders)
	fmt.Println(len(jobs), "job:", handle.Name == jobs[0].Name, *jobs[0].Spec.Completions, "items")

	outcomes, _ := kubequeuetest.PerformBatchJob(ctx, client, &jobs[0], Renders)
	for _, o := range outcomes {
		fmt.Printf("item %d: result %s, error %v, exit code %d\n", o.Index, o.Result, o.Err, kubequeue.ExitCode(o.Err))
	}
	// Output:
	// 1 job: true 3 items
	// item 0: result "thumbs/a1.png", error <nil>, exit code 0
	// item 1: result , error no image ID, exit code 42
	// item 2: result "thumbs/c3.png", error <nil>, exit code 0
}
