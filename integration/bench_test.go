package integration

import (
	"context"
	"slices"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilrand "k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/utils/ptr"

	"github.com/kubequeue/kubequeue"
)

// BenchmarkEnqueue creates Jobs on the real API server: kubequeue's Enqueue
// beside client-go creating the same Job from a template. The Jobs are
// suspended so that no pods add load while it runs.
func BenchmarkEnqueue(b *testing.B) {
	e := setup(b)
	worker := kubequeue.NewWorker("greet", greet,
		kubequeue.WithImage("registry.example.com/app:v1"),
		kubequeue.WithCPU("100m", "500m"),
		kubequeue.WithMemory("64Mi", "256Mi"),
		kubequeue.WithJobMutator(func(j *batchv1.Job) { j.Spec.Suspend = ptr.To(true) }),
	)
	in := greeting{Name: "Ada"}
	b.Run("kubequeue", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := e.queue.Enqueue(e.ctx, worker, in); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("clientgo", func(b *testing.B) {
		template, err := e.queue.Build(worker, in)
		if err != nil {
			b.Fatal(err)
		}
		jobs := client.BatchV1().Jobs(e.ns)
		b.ReportAllocs()
		for b.Loop() {
			job := template.DeepCopy()
			job.Name = "greet-" + utilrand.String(10)
			if _, err := jobs.Create(e.ctx, job, metav1.CreateOptions{FieldManager: "kubequeue"}); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkEnqueueToComplete measures, per Job, the time from Enqueue to the
// Job's Complete condition as a watch sees it, with the pod really running
// the printmessage example on the local kubelet: kubequeue's Enqueue beside
// client-go creating the same Job. Most of it is the Job controller's own
// batching (about a second). Beside ns/op it reports the median and the
// slowest Job (ms-p50, ms-max).
func BenchmarkEnqueueToComplete(b *testing.B) {
	e := setup(b)
	exampleBinary(b, "printmessage") // the pods run it
	type message struct {
		Message string `json:"message"`
	}
	// The printmessage example's worker, as that binary declares it.
	worker := kubequeue.NewWorker("print-message", func(context.Context, message) error { return nil },
		kubequeue.WithImage(printMessageImage))
	in := message{Message: "benchmark"}
	complete := func(job *batchv1.Job) bool {
		if condition(job, batchv1.JobFailed) != nil {
			b.Fatalf("job %s failed: %+v", job.Name, job.Status.Conditions)
		}
		return condition(job, batchv1.JobComplete) != nil
	}
	report := func(b *testing.B, took []time.Duration) {
		slices.Sort(took)
		b.ReportMetric(float64(took[len(took)/2])/float64(time.Millisecond), "ms-p50")
		b.ReportMetric(float64(took[len(took)-1])/float64(time.Millisecond), "ms-max")
	}
	b.Run("kubequeue", func(b *testing.B) {
		var took []time.Duration
		for b.Loop() {
			start := time.Now()
			h, err := e.queue.Enqueue(e.ctx, worker, in)
			if err != nil {
				b.Fatal(err)
			}
			waitJob(b, e, h.Name, time.Minute, complete)
			took = append(took, time.Since(start))
		}
		report(b, took)
	})
	b.Run("clientgo", func(b *testing.B) {
		template, err := e.queue.Build(worker, in)
		if err != nil {
			b.Fatal(err)
		}
		jobs := client.BatchV1().Jobs(e.ns)
		var took []time.Duration
		for b.Loop() {
			start := time.Now()
			job := template.DeepCopy()
			job.Name = "print-message-" + utilrand.String(10)
			if _, err := jobs.Create(e.ctx, job, metav1.CreateOptions{FieldManager: "kubequeue"}); err != nil {
				b.Fatal(err)
			}
			waitJob(b, e, job.Name, time.Minute, complete)
			took = append(took, time.Since(start))
		}
		report(b, took)
	})
}
