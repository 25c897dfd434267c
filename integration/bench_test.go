package integration

import (
	"testing"

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
