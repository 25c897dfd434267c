package kubequeuecli_test

import (
	"context"
	"os"
	"time"

	"github.com/spf13/cobra"
	batchv1 "k8s.io/api/batch/v1"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/kubequeue/kubequeue"
	"github.com/kubequeue/kubequeue/cmd/kubequeue/kubequeuecli"
	"github.com/kubequeue/kubequeue/kubequeuetest"
)

// A service mounts the commands under its own root command, with its
// workers; render prints the Job that enqueue would create, without any
// API call. Here the fake clientset stands in for the cluster.
func ExampleNewCommand_render() {
	root := &cobra.Command{Use: "myservice"}
	root.AddCommand(kubequeuecli.NewCommand(kubequeuecli.WithWorkers(Resize, SendEmail),
		kubequeuecli.WithClientset(kubequeuetest.NewClientset())))

	root.SetArgs([]string{"kubequeue", "render", "resize-image", `{"imageID": "img-7"}`, "-n", "media", "--name", "resize-img-7"})
	_ = kubequeuecli.Execute(context.Background(), root)
	// Output:
	// apiVersion: batch/v1
	// kind: Job
	// metadata:
	//   labels:
	//     app.kubernetes.io/managed-by: kubequeue
	//     kubequeue.io/worker: resize-image
	//   name: resize-img-7
	//   namespace: media
	// spec:
	//   backoffLimit: 3
	//   podFailurePolicy:
	//     rules:
	//     - action: FailJob
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
	//         kubequeue.io/worker: resize-image
	//     spec:
	//       automountServiceAccountToken: false
	//       containers:
	//       - env:
	//         - name: KUBEQUEUE_WORKER
	//           value: resize-image
	//         - name: KUBEQUEUE_PAYLOAD
	//           value: '{"imageID":"img-7"}'
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

// list shows each Job's worker, state, attempts, age and run time.
func ExampleNewCommand_list() {
	ctx := context.Background()
	queue, client, _ := kubequeuetest.NewQueue()
	done, _ := queue.Enqueue(ctx, Resize, ResizeArgs{ImageID: "img-1"}, kubequeue.WithJobName("resize-image-1"))
	_ = kubequeuetest.SetSucceeded(ctx, client, done, nil)
	failed, _ := queue.Enqueue(ctx, Resize, ResizeArgs{ImageID: "img-2"}, kubequeue.WithJobName("resize-image-2"))
	_ = kubequeuetest.SetFailed(ctx, client, failed, batchv1.JobReasonPodFailurePolicy, kubequeue.ExitPermanent, "no such image")

	list := func(args ...string) {
		cmd := kubequeuecli.NewCommand(
			kubequeuecli.WithClientset(client),
			kubequeuecli.WithClock(func() time.Time { return time.Now().Add(3 * time.Hour) }), // three hours later
			kubequeuecli.WithIOStreams(genericiooptions.IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stdout}),
		)
		cmd.SetArgs(append([]string{"list"}, args...))
		_ = kubequeuecli.Execute(ctx, cmd)
	}
	list("--worker", "resize-image", "--state", "failed", "-o", "wide")
	list("--state", "succeeded", "-o", "name")
	// Output:
	// NAME             WORKER         STATE    ATTEMPTS   AGE   DURATION   ITEMS   REASON             WAITING-FOR
	// resize-image-2   resize-image   failed   1          3h    0s                 PodFailurePolicy
	// job.batch/resize-image-1
}
