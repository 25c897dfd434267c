package integration

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilrand "k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	watchtools "k8s.io/client-go/tools/watch"
	"k8s.io/utils/ptr"

	"github.com/kubequeue/kubequeue"
	"github.com/kubequeue/kubequeue/localcluster"
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

// BenchmarkWaitAll waits for 50 Jobs at a time: kubequeue's WaitAll beside
// client-go's watchtools.UntilWithSync run for each Job, as code written by
// hand would wait. The pods are simulated (kwok), so that the cluster
// rather than 50 processes sets the pace. Beside the time to wait for all 50
// (ns/op) it reports the watch requests each side made (watches/op) and, per
// Job, the time from the API server reporting the Job finished (seen by a
// watch of the benchmark's own) to the waiter returning it (ms-p50, ms-p99).
func BenchmarkWaitAll(b *testing.B) {
	const jobs = 50
	selector, tolerations := localcluster.Simulated()
	worker := kubequeue.NewWorker("simulated", greet,
		kubequeue.WithImage("registry.example.com/not-mapped:v1"),
		kubequeue.WithNodeSelector(selector),
		kubequeue.WithTolerations(tolerations...),
	)
	run := func(b *testing.B, wait func(e *env, c kubernetes.Interface, handles []kubequeue.Handle, done func(name string))) {
		var latencies []time.Duration
		var watches int32
		for b.Loop() {
			b.StopTimer()
			e := setup(b)
			counted, tripper := countingClient(b)
			seen, stop := finishedTimes(b, e)
			handles := make([]kubequeue.Handle, jobs)
			for i := range handles {
				var err error
				if handles[i], err = e.queue.Enqueue(e.ctx, worker, greeting{}); err != nil {
					b.Fatal(err)
				}
			}
			b.StartTimer()
			wait(e, counted, handles, func(name string) {
				latency := time.Duration(0) // not seen yet: the waiter was first
				if at, ok := seen.Load(name); ok {
					latency = time.Since(at.(time.Time))
				}
				latencies = append(latencies, latency)
			})
			b.StopTimer()
			stop()
			watches += tripper.allWatches.Load()
			b.StartTimer()
		}
		slices.Sort(latencies)
		b.ReportMetric(float64(watches)/float64(b.N), "watches/op")
		b.ReportMetric(float64(percentile(latencies, 50))/float64(time.Millisecond), "ms-p50")
		b.ReportMetric(float64(percentile(latencies, 99))/float64(time.Millisecond), "ms-p99")
	}
	b.Run("kubequeue", func(b *testing.B) {
		run(b, func(e *env, c kubernetes.Interface, handles []kubequeue.Handle, done func(string)) {
			queue := newQueue(b, c)
			for st, err := range queue.WaitAll(e.ctx, handles...) {
				if err != nil {
					b.Fatal(err)
				}
				done(st.Handle.Name)
			}
		})
	})
	b.Run("clientgo", func(b *testing.B) {
		run(b, func(e *env, c kubernetes.Interface, handles []kubequeue.Handle, done func(string)) {
			var mu sync.Mutex
			var wg sync.WaitGroup
			for _, h := range handles {
				wg.Go(func() {
					lw := jobListWatch(c, h.Namespace, h.Name)
					_, err := watchtools.UntilWithSync(e.ctx, lw, &batchv1.Job{}, nil, func(ev watch.Event) (bool, error) {
						job, ok := ev.Object.(*batchv1.Job)
						return ok && finished(job), nil
					})
					if err != nil {
						b.Error(err)
						return
					}
					mu.Lock()
					done(h.Name)
					mu.Unlock()
				})
			}
			wg.Wait()
		})
	})
}

// finishedTimes watches the test's namespace and records when each Job is
// first seen finished. stop ends the watch and waits for it.
func finishedTimes(tb testing.TB, e *env) (seen *sync.Map, stop func()) {
	tb.Helper()
	ctx, cancel := context.WithCancel(e.ctx)
	w, err := client.BatchV1().Jobs(e.ns).Watch(ctx, metav1.ListOptions{})
	if err != nil {
		cancel()
		tb.Fatal(err)
	}
	seen = &sync.Map{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ev := range w.ResultChan() {
			if job, ok := ev.Object.(*batchv1.Job); ok && finished(job) {
				seen.LoadOrStore(job.Name, time.Now())
			}
		}
	}()
	return seen, func() {
		cancel()
		w.Stop()
		<-done
	}
}
