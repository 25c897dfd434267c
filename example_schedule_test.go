package kubequeue_test

import (
	"context"
	"fmt"
	"os"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
	"sigs.k8s.io/yaml"

	"github.com/kubequeue/kubequeue"
)

// Schedule makes a CronJob whose Jobs run the worker with the payload; the
// cluster's CronJob controller runs it. Scheduling again with the same name
// updates it.
func ExampleQueue_Schedule() {
	client := fake.NewClientset()
	queue, err := kubequeue.New(client)
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx := context.Background()
	info, err := queue.Schedule(ctx, "daily-digest", SendEmail, "0 7 * * *",
		Email{To: "team@example.com", Subject: "Yesterday's orders"},
		kubequeue.WithTimeZone("Europe/Berlin"),
		kubequeue.WithConcurrencyPolicy("Forbid"),
	)
	if err != nil {
		fmt.Println(err)
		return
	}
	cj, err := client.BatchV1().CronJobs(info.Namespace).Get(ctx, info.Name, metav1.GetOptions{})
	if err != nil {
		fmt.Println(err)
		return
	}
	cj.ManagedFields = nil
	out, err := yaml.Marshal(cj)
	if err != nil {
		fmt.Println(err)
		return
	}
	os.Stdout.Write(out)
	// Output:
	// apiVersion: batch/v1
	// kind: CronJob
	// metadata:
	//   labels:
	//     app.kubernetes.io/managed-by: kubequeue
	//     kubequeue.io/worker: send-email
	//   name: daily-digest
	//   namespace: shop
	// spec:
	//   concurrencyPolicy: Forbid
	//   jobTemplate:
	//     metadata:
	//       labels:
	//         app.kubernetes.io/managed-by: kubequeue
	//         kubequeue.io/worker: send-email
	//     spec:
	//       backoffLimit: 3
	//       podFailurePolicy:
	//         rules:
	//         - action: FailJob
	//           onExitCodes:
	//             containerName: worker
	//             operator: In
	//             values:
	//             - 42
	//         - action: Ignore
	//           onPodConditions:
	//           - status: "True"
	//             type: DisruptionTarget
	//       template:
	//         metadata:
	//           labels:
	//             app.kubernetes.io/managed-by: kubequeue
	//             kubequeue.io/worker: send-email
	//         spec:
	//           automountServiceAccountToken: false
	//           containers:
	//           - env:
	//             - name: KUBEQUEUE_WORKER
	//               value: send-email
	//             - name: KUBEQUEUE_PAYLOAD
	//               value: '{"to":"team@example.com","subject":"Yesterday''s orders"}'
	//             - name: KUBEQUEUE_NAMESPACE
	//               valueFrom:
	//                 fieldRef:
	//                   apiVersion: v1
	//                   fieldPath: metadata.namespace
	//             - name: KUBEQUEUE_JOB_NAME
	//               valueFrom:
	//                 fieldRef:
	//                   apiVersion: v1
	//                   fieldPath: metadata.labels['batch.kubernetes.io/job-name']
	//             - name: KUBEQUEUE_POD_NAME
	//               valueFrom:
	//                 fieldRef:
	//                   apiVersion: v1
	//                   fieldPath: metadata.name
	//             envFrom:
	//             - secretRef:
	//                 name: smtp
	//             image: registry.example.com/shop/api:v1.4.2
	//             name: worker
	//             resources: {}
	//             securityContext:
	//               allowPrivilegeEscalation: false
	//               capabilities:
	//                 drop:
	//                 - ALL
	//             terminationMessagePolicy: FallbackToLogsOnError
	//           restartPolicy: Never
	//           securityContext:
	//             runAsNonRoot: true
	//             seccompProfile:
	//               type: RuntimeDefault
	//       ttlSecondsAfterFinished: 86400
	//   schedule: 0 7 * * *
	//   suspend: false
	//   timeZone: Europe/Berlin
	// status: {}
}

// A bad cron spec is refused before any API call.
func ExampleQueue_Schedule_invalid() {
	queue, err := kubequeue.New(fake.NewClientset())
	if err != nil {
		fmt.Println(err)
		return
	}
	_, err = queue.Schedule(context.Background(), "digest", SendEmail, "0 7 * *", Email{})
	fmt.Println(err)
	_, err = queue.Schedule(context.Background(), "digest", SendEmail, "CRON_TZ=UTC 0 7 * * *", Email{})
	fmt.Println(err)
	// Output:
	// kubequeue: worker "send-email": Schedule spec "0 7 * *": expected exactly 5 fields, found 4: [0 7 * *] (want 5 fields: minute hour day-of-month month day-of-week, or a descriptor such as "@hourly")
	// kubequeue: worker "send-email": Schedule spec "CRON_TZ=UTC 0 7 * * *": cannot use TZ or CRON_TZ in the spec: use WithTimeZone
}
