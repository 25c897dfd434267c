// Package bench measures kubequeue beside raw client-go on a running
// cluster, each side creating the same Job (Build's output, with a fresh
// name on client-go's side), in rounds that alternate which side goes
// first so that the noise of a shared machine hits both. Run returns one
// table and the ratios the project sets targets for. The command
// cmd/bench runs it on a local cluster (make bench).
package bench

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"sync"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"

	"github.com/kubequeue/kubequeue"
)

// Scale sets how much each measurement does.
type Scale struct {
	// Enqueue maps each concurrency measured to the Jobs each side
	// creates, the two sides interleaved.
	Enqueue map[int]int
	// CPU is how many Jobs each side creates per round, in Rounds rounds,
	// to measure the client CPU time per Job.
	CPU, Rounds int
	// Bulk is how many Jobs EnqueueMany, and client-go at its best
	// concurrency, create per round, in BulkRounds rounds.
	Bulk, BulkRounds int
	// Payload maps payload sizes in bytes to the Jobs each side creates per
	// round, in PayloadRounds rounds, to measure the client CPU time per
	// Job, and twice as many interleaved, to measure throughput.
	Payload       map[int]int
	PayloadRounds int
	// Wait is how many Jobs, completed by simulated pods, WaitAll waits
	// for, in each of two runs: one that starts WaitRate of them a second,
	// and one that starts them all at once.
	Wait, WaitRate int
	// HeapFirst and HeapTotal are the enqueues after which the heap is
	// measured.
	HeapFirst, HeapTotal int
	// RateLimited is how many Jobs EnqueueMany creates through a client
	// at client-go's default rate limit; RateLimit at any other.
	RateLimited, RateLimit int
	// BuildIterations is how many Jobs each builder builds.
	BuildIterations int
}

// Full is the scale of make bench: about ten minutes on 2 cores.
var Full = Scale{
	Enqueue:         map[int]int{1: 1000, 8: 2000, 32: 5000},
	CPU:             1000,
	Rounds:          9,
	Bulk:            2000,
	BulkRounds:      5,
	Payload:         map[int]int{1 << 10: 100, payload64KiB: 60, payload65KiB: 40, payload1MiB: 16},
	PayloadRounds:   5,
	Wait:            1000,
	WaitRate:        25,
	HeapFirst:       1000,
	HeapTotal:       10000,
	RateLimited:     50,
	RateLimit:       500,
	BuildIterations: 20000,
}

// Smoke is a scale that runs every measurement in seconds, to check that
// the program works; its figures mean nothing.
var Smoke = Scale{
	Enqueue:         map[int]int{1: 4, 8: 16, 32: 32},
	CPU:             32,
	Rounds:          2,
	Bulk:            40,
	BulkRounds:      1,
	Payload:         map[int]int{1 << 10: 2, payload64KiB: 2, payload65KiB: 2, payload1MiB: 2},
	PayloadRounds:   1,
	Wait:            10,
	WaitRate:        25,
	HeapFirst:       10,
	HeapTotal:       40,
	RateLimited:     12,
	RateLimit:       20,
	BuildIterations: 200,
}

// Payload sizes of the sweep: the JSON encoding's length.
const (
	payload64KiB = 64 << 10                      // the most that travels in the environment
	payload65KiB = 65 << 10                      // in a Secret: three writes
	payload1MiB  = kubequeue.MaxPayloadSize - 64 // the most there is
)

// Config configures Run.
type Config struct {
	// Rest is a client configuration of the cluster with the right to
	// create namespaces. Its QPS and Burst are replaced.
	Rest *rest.Config
	// SimulatedNodeSelector and SimulatedTolerations place a pod on a node
	// that completes it without running anything (kwok).
	SimulatedNodeSelector map[string]string
	SimulatedTolerations  []corev1.Toleration
	// Scale sets how much each measurement does.
	Scale Scale
	// Progress receives a line as each measurement starts; nil discards
	// them.
	Progress io.Writer
	// Only, if not empty, names the measurements to run (see Steps);
	// their targets alone are then checked.
	Only []string
}

// Args is the payload of the benchmark's Jobs.
type Args struct {
	OrderID int64  `json:"orderID"`
	Email   string `json:"email"`
	Note    string `json:"note"`
}

func perform(context.Context, Args) error { return nil }

// suspend creates Jobs suspended, so that no pod loads the machine.
var suspend = kubequeue.WithJobMutator(func(j *batchv1.Job) { j.Spec.Suspend = ptr.To(true) })

// newWorker returns the worker the enqueue measurements use: a typical
// one, with resources, whose Jobs are created suspended.
func newWorker(name string, opts ...kubequeue.WorkerOption) *kubequeue.Worker[Args] {
	return kubequeue.NewWorker(name, perform, append([]kubequeue.WorkerOption{
		kubequeue.WithImage("registry.example.com/shop/api:v1.4.2"),
		kubequeue.WithCPU("100m", "500m"),
		kubequeue.WithMemory("64Mi", "256Mi"),
		suspend,
	}, opts...)...)
}

// firstOrderID is the order number of the payload of a side's first
// Job; the next Jobs count up from it. It has as many digits as any of
// them, so that every payload of a size has that size.
const firstOrderID = 1_000_000_000

// numbered returns payload p with the order number of a side's Job i.
func numbered(p Args, i int) Args {
	p.OrderID = firstOrderID + int64(i)
	return p
}

// args returns a typical payload whose JSON encoding is size bytes long
// (at least about 60), and stays so for an id of as many digits.
func args(id int64, size int) Args {
	a := Args{OrderID: id, Email: "ada@example.com"}
	base := len(fmt.Sprintf(`{"orderID":%d,"email":"ada@example.com","note":""}`, id))
	if size > base {
		a.Note = string(make([]byte, size-base))
		b := []byte(a.Note)
		for i := range b {
			b[i] = 'a' + byte(i%26)
		}
		a.Note = string(b)
	}
	return a
}

// bench holds what the measurements share.
type bench struct {
	cfg    Config
	client kubernetes.Interface // no client-side rate limit
	report *Report
	mu     sync.Mutex // guards ns
	ns     []string   // namespaces created, deleted at the end

	bestConcurrency int // client-go's best concurrency at enqueue
}

// Run runs every measurement and returns the report. It creates
// namespaces named bench-..., and deletes them before it returns.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if cfg.Progress == nil {
		cfg.Progress = io.Discard
	}
	b := &bench{cfg: cfg, report: &Report{}, bestConcurrency: 32}
	var err error
	if b.client, err = newClient(cfg.Rest, -1, 0, nil); err != nil {
		return nil, err
	}
	defer b.deleteNamespaces()
	b.report.Notes = append(b.report.Notes,
		"Jobs are created suspended, so that no pod runs, except where waited for (pods simulated by kwok).",
		fmt.Sprintf("Waiting is measured twice: with the Jobs started %d a second (the targets' run), and all at once, when the API server falls behind, closes the watches of its slowest clients, and each watches again.", cfg.Scale.WaitRate),
		"client-go creates the Job that Build returns, with a fresh name and each payload encoded with encoding/json; kubequeue is Enqueue (Build and create).",
		"Jobs/s of Enqueue, at each concurrency and payload size: one pool of workers takes kubequeue's and client-go's creates in turn, so that both sides meet the same moments of the machine; a side's Jobs/s is the concurrency ÷ its mean latency (Little's law).",
		fmt.Sprintf("Client CPU and bulk: each side is measured in rounds that alternate which goes first; figures are medians of the rounds, ratios medians of the rounds' ratios. Client without a rate limit unless stated. EnqueueMany at its default concurrency, %d.", kubequeue.DefaultEnqueueConcurrency),
	)
	for _, step := range b.steps() {
		if len(cfg.Only) > 0 && !slices.Contains(cfg.Only, step.name) {
			continue
		}
		if err := step.run(ctx); err != nil {
			return b.report, err
		}
	}
	return b.report, nil
}

// Steps returns the names of the measurements, in the order Run runs
// them.
func Steps() []string {
	var names []string
	for _, s := range (&bench{}).steps() {
		names = append(names, s.name)
	}
	return names
}

// step is one measurement.
type step struct {
	name string
	run  func(context.Context) error
}

// steps returns the measurements in the order Run runs them. bulk
// compares with client-go's best concurrency that enqueue found, or 32.
func (b *bench) steps() []step {
	return []step{
		{"enqueue", b.enqueue},
		{"bulk", b.bulk},
		{"payload", b.payloads},
		{"wait", b.wait},
		{"heap", b.heap},
		{"ratelimit", b.rateLimits},
		{"build", b.build},
	}
}

// progress writes a line of progress.
func (b *bench) progress(format string, args ...any) {
	fmt.Fprintf(b.cfg.Progress, "bench: "+format+"\n", args...)
}

// newClient returns a clientset for cfg with the given rate limit (qps <
// 0: none), its transport wrapped by wrap if not nil.
func newClient(cfg *rest.Config, qps float32, burst int, wrap func(http.RoundTripper) http.RoundTripper) (*kubernetes.Clientset, error) {
	c := rest.CopyConfig(cfg)
	c.QPS, c.Burst = qps, burst
	c.RateLimiter = nil
	if wrap != nil {
		c.Wrap(wrap)
	}
	client, err := kubernetes.NewForConfig(c)
	if err != nil {
		return nil, fmt.Errorf("bench: clientset: %w", err)
	}
	return client, nil
}

// namespace creates a namespace for a measurement and waits for its
// default service account.
func (b *bench) namespace(ctx context.Context, what string) (string, error) {
	name := fmt.Sprintf("bench-%s-%05d", what, rand.IntN(100000))
	_, err := b.client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if err != nil {
		return "", fmt.Errorf("bench: create namespace %s: %w", name, err)
	}
	b.mu.Lock()
	b.ns = append(b.ns, name)
	b.mu.Unlock()
	err = wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		_, err := b.client.CoreV1().ServiceAccounts(name).Get(ctx, "default", metav1.GetOptions{})
		return err == nil, nil
	})
	if err != nil {
		return "", fmt.Errorf("bench: wait for the default service account of %s: %w", name, err)
	}
	return name, nil
}

// clear deletes the Jobs and Secrets of namespace ns between rounds, so
// that the API server's store does not grow through the run.
func (b *bench) clear(ctx context.Context, ns string) error {
	policy := metav1.DeletePropagationBackground
	if err := b.client.BatchV1().Jobs(ns).DeleteCollection(ctx, metav1.DeleteOptions{PropagationPolicy: &policy}, metav1.ListOptions{}); err != nil {
		return fmt.Errorf("bench: delete the jobs of %s: %w", ns, err)
	}
	if err := b.client.CoreV1().Secrets(ns).DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{}); err != nil {
		return fmt.Errorf("bench: delete the secrets of %s: %w", ns, err)
	}
	return nil
}

// deleteNamespaces deletes the namespaces the run created, without
// waiting for them to go.
func (b *bench) deleteNamespaces() {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, ns := range b.ns {
		_ = b.client.CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{})
	}
}
