package kubequeue_test

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/kubequeue/kubequeue"
	"github.com/kubequeue/kubequeue/kubequeuetest"
)

// Gates make a Job wait: it is created suspended, with its gates in
// annotations, and Status says what holds it. (kubequeuetest's clientset
// gives Jobs a UID, as the API server does: WithAfter needs it.)
func ExampleWithAfter() {
	client := kubequeuetest.NewClientset()
	queue, err := kubequeue.New(client)
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx := context.Background()
	first, err := queue.Enqueue(ctx, SendEmail, Email{To: "ada@example.com", Subject: "1/2"})
	if err != nil {
		fmt.Println(err)
		return
	}
	second, err := queue.Enqueue(ctx, SendEmail, Email{To: "ada@example.com", Subject: "2/2"},
		kubequeue.WithAfter(first),                       // after the first completed
		kubequeue.WithConcurrencyKey("mail-ada", 1),      // one mail to Ada at a time
		kubequeue.WithRunAt(time.Now().Add(time.Minute)), // and not before a minute from now
	)
	if err != nil {
		fmt.Println(err)
		return
	}
	st, err := queue.Status(ctx, second)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(st.State, st.Gate.Kind)
	job, err := client.BatchV1().Jobs(second.Namespace).Get(ctx, second.Name, metav1.GetOptions{})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("suspended:", *job.Spec.Suspend)
	fmt.Println("key:", job.Annotations[kubequeue.AnnotationConcurrencyKey], "limit:", job.Annotations[kubequeue.AnnotationConcurrencyLimit])
	fmt.Println("after the first:", job.Annotations[kubequeue.AnnotationAfter] == fmt.Sprintf(`[{"name":%q,"uid":%q}]`, first.Name, first.UID))
	// Output:
	// waiting run-at
	// suspended: true
	// key: mail-ada limit: 1
	// after the first: true
}

// The release controller resumes a gated Job once its gates are open. Run
// it in every replica of a service: one of them acts.
func ExampleNewScheduler() {
	client := fake.NewClientset()
	queue, err := kubequeue.New(client, kubequeue.WithDefaultNamespace("shop"))
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	h, err := queue.Enqueue(ctx, SendEmail, Email{To: "ada@example.com"}, kubequeue.WithDelay(0))
	if err != nil {
		fmt.Println(err)
		return
	}
	st, err := queue.Status(ctx, h)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(st.State, st.Gate.Kind)

	s, err := kubequeue.NewScheduler(client,
		kubequeue.WithSchedulerNamespaces("shop"),
		kubequeue.WithSchedulerIdentity("replica-1"),
		kubequeue.WithSchedulerLogger(slog.New(slog.DiscardHandler)),
	)
	if err != nil {
		fmt.Println(err)
		return
	}
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if st, err = queue.Status(ctx, h); err != nil || st.State != kubequeue.StateWaiting {
			break
		}
	}
	job, err := client.BatchV1().Jobs(h.Namespace).Get(ctx, h.Name, metav1.GetOptions{})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("suspended:", *job.Spec.Suspend, "released by:", job.Annotations[kubequeue.AnnotationReleasedBy])
	cancel()
	fmt.Println("run:", <-done)
	// Output:
	// waiting release
	// suspended: false released by: replica-1
	// run: <nil>
}
