package kubequeue_test

import (
	"context"
	"errors"
	"fmt"
	"os"

	"k8s.io/client-go/kubernetes/fake"
	"sigs.k8s.io/yaml"

	"github.com/kubequeue/kubequeue"
)

// SendEmail is the worker the queue examples enqueue.
var SendEmail = kubequeue.NewWorker("send-email", sendEmail,
	kubequeue.WithImage("registry.example.com/shop/api:v1.4.2"),
	kubequeue.WithNamespace("shop"),
	kubequeue.WithEnvFromSecret("smtp"),
)

// Email is SendEmail's payload.
type Email struct {
	To      string `json:"to"`
	Subject string `json:"subject"`
}

func sendEmail(ctx context.Context, e Email) error { return nil }

// Enqueue creates the Job and returns a handle that can be stored and used
// later. A real service passes a clientset from kubequeue.NewClientset.
func ExampleQueue_Enqueue() {
	queue, err := kubequeue.New(fake.NewClientset())
	if err != nil {
		fmt.Println(err)
		return
	}
	handle, err := queue.Enqueue(context.Background(), SendEmail,
		Email{To: "ada@example.com", Subject: `Your order "42" has shipped`},
		kubequeue.WithLabels(map[string]string{"order": "42"}),
		kubequeue.WithUniqueKey("order-42-shipped"), // one email per order, however often this runs
	)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(handle.Namespace, handle.Name, handle.Worker)
	// Output:
	// shop send-email-qdzjw8xj5n send-email
}

// Build returns the Job Enqueue would create, without any API call: the
// payload is JSON in one environment variable, so quotes, newlines and
// non-ASCII text arrive exactly as sent.
func ExampleQueue_Build() {
	queue, err := kubequeue.New(fake.NewClientset())
	if err != nil {
		fmt.Println(err)
		return
	}
	job, err := queue.Build(SendEmail, Email{To: "zoë@example.com", Subject: "It's \"done\"\nreally"},
		kubequeue.WithJobName("send-email-zoe"),
		kubequeue.WithTTLAfterFinished(0),
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
	//     kubequeue.io/worker: send-email
	//   name: send-email-zoe
	//   namespace: shop
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
	//         kubequeue.io/worker: send-email
	//     spec:
	//       automountServiceAccountToken: false
	//       containers:
	//       - env:
	//         - name: KUBEQUEUE_WORKER
	//           value: send-email
	//         - name: KUBEQUEUE_PAYLOAD
	//           value: '{"to":"zoë@example.com","subject":"It''s \"done\"\nreally"}'
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
	//         envFrom:
	//         - secretRef:
	//             name: smtp
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
	//   ttlSecondsAfterFinished: 0
	// status: {}
}

// EnqueueMany enqueues a Job per payload, several at once, and returns the
// handles in the order of the payloads. A payload that failed is named, with
// its error, in an *EnqueueManyError.
func ExampleQueue_EnqueueMany() {
	queue, err := kubequeue.New(fake.NewClientset())
	if err != nil {
		fmt.Println(err)
		return
	}
	emails := []Email{
		{To: "ada@example.com", Subject: "Your order has shipped"},
		{To: "grace@example.com", Subject: "Your order has shipped"},
		{To: "alan@example.com", Subject: "Your order has shipped"},
	}
	handles, err := queue.EnqueueMany(context.Background(), SendEmail, emails,
		kubequeue.WithLabels(map[string]string{"campaign": "shipped"}),
		kubequeue.WithEnqueueConcurrency(8),
	)
	var failed *kubequeue.EnqueueManyError
	if errors.As(err, &failed) {
		for _, f := range failed.Failures {
			fmt.Printf("%s: %v\n", emails[f.Index].To, f.Err)
		}
	} else if err != nil {
		fmt.Println(err)
		return
	}
	for i, h := range handles {
		fmt.Println(emails[i].To, h.Namespace, h.Worker)
	}
	// Output:
	// ada@example.com shop send-email
	// grace@example.com shop send-email
	// alan@example.com shop send-email
}
