package bench

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
	watchtools "k8s.io/client-go/tools/watch"

	"github.com/kubequeue/kubequeue"
)

// requestCounter is a round tripper that counts requests, watches apart,
// and writes each watch to log.
type requestCounter struct {
	next   http.RoundTripper
	counts *requestCounts
	log    func(format string, args ...any)
}

// requestCounts are the requests a client made.
type requestCounts struct {
	watches, others atomic.Int64
}

func (c requestCounter) RoundTrip(req *http.Request) (*http.Response, error) {
	if w := req.URL.Query().Get("watch"); w == "true" || w == "1" {
		c.log("watch %d: %s", c.counts.watches.Add(1), req.URL.RequestURI())
	} else {
		c.counts.others.Add(1)
	}
	return c.next.RoundTrip(req)
}

// countRequests returns a wrapper for a client's transport that counts its
// requests in n, and writes each watch as progress, prefixed by who.
func (b *bench) countRequests(who string, n *requestCounts) func(http.RoundTripper) http.RoundTripper {
	log := func(format string, args ...any) { b.progress(who+": "+format, args...) }
	return func(rt http.RoundTripper) http.RoundTripper { return requestCounter{next: rt, counts: n, log: log} }
}

// finishedAt returns when job finished, as the API server recorded it (in
// whole seconds), and whether it has.
func finishedAt(job *batchv1.Job) (time.Time, bool) {
	for _, c := range job.Status.Conditions {
		if (c.Type == batchv1.JobComplete || c.Type == batchv1.JobFailed) && c.Status == corev1.ConditionTrue {
			return c.LastTransitionTime.Time, true
		}
	}
	return time.Time{}, false
}

// times records, by Job name, the first time something happened.
type times struct {
	mu sync.Mutex
	m  map[string]time.Time
}

func newTimes() *times { return &times{m: map[string]time.Time{}} }

// first records t for name unless a time is recorded already.
func (ts *times) first(name string, t time.Time) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if _, ok := ts.m[name]; !ok {
		ts.m[name] = t
	}
}

func (ts *times) len() int {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return len(ts.m)
}

// delays returns, for each name in from, the time from from's to ts's,
// and 0 where ts's came first.
func (ts *times) delays(from *times) []time.Duration {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	from.mu.Lock()
	defer from.mu.Unlock()
	var out []time.Duration
	for name, at := range ts.m {
		if f, ok := from.m[name]; ok {
			out = append(out, max(at.Sub(f), 0))
		}
	}
	return out
}

// waitTimeout bounds each run of the waiting measurement.
const waitTimeout = 10 * time.Minute

// wait measures waiting for Jobs that simulated pods complete: kubequeue's
// WaitAll beside a client-go informer on the namespace's Jobs, twice. The
// first run starts the Jobs at Scale.WaitRate a second, which the control
// plane keeps up with; its figures are the targets'. The second starts them
// all at once: the API server then falls behind and closes the watches of
// its slowest clients (its own controllers' too), and each closed watch is
// made again; its figures are reported, not checked.
func (b *bench) wait(ctx context.Context) error {
	n, rate := b.cfg.Scale.Wait, b.cfg.Scale.WaitRate
	paced, err := b.waitRun(ctx, n, rate)
	if err != nil {
		return err
	}
	burst, err := b.waitRun(ctx, n, 0)
	if err != nil {
		return err
	}
	for _, r := range []struct {
		how string
		f   waitFigures
	}{{started(rate), paced}, {started(0), burst}} {
		b.report.add(fmt.Sprintf("wait for %d Jobs %s: watch requests (1 namespace)", n, r.how),
			fmt.Sprint(r.f.kq.watches.Load()), fmt.Sprint(r.f.raw.watches.Load()), "")
		b.report.add(fmt.Sprintf("wait, %s: watches the API server closed as too slow (all clients)", r.how),
			fmt.Sprint(r.f.terminated), "", "")
		b.report.add(fmt.Sprintf("wait, %s: other requests (lists)", r.how),
			fmt.Sprint(r.f.kq.others.Load()), fmt.Sprint(r.f.raw.others.Load()), "")
		b.report.add(fmt.Sprintf("wait, %s: finished (own watch's event) → seen, p50 / p99, ms", r.how),
			ms(percentile(r.f.kqDelays, 50))+" / "+ms(percentile(r.f.kqDelays, 99)),
			ms(percentile(r.f.rawDelays, 50))+" / "+ms(percentile(r.f.rawDelays, 99)), "")
	}
	b.report.add(fmt.Sprintf("wait, %s: finished (condition's lastTransitionTime, whole seconds) → seen, p50 / p99, ms", started(rate)),
		ms(percentile(paced.kqLate, 50))+" / "+ms(percentile(paced.kqLate, 99)),
		ms(percentile(paced.rawLate, 50))+" / "+ms(percentile(paced.rawLate, 99)), "")
	b.report.target("wait_watches_per_namespace", float64(paced.kq.watches.Load()), "<=", 2)
	b.report.target("wait_p99_ms", float64(percentile(paced.kqDelays, 99))/float64(time.Millisecond), "<=", 100)
	return nil
}

// started says how a waiting run starts its Jobs: rate a second, or all at
// once if rate is 0.
func started(rate int) string {
	if rate == 0 {
		return "started at once"
	}
	return fmt.Sprintf("started %d/s", rate)
}

// waitFigures are what one run of the waiting measurement measured.
type waitFigures struct {
	kq, raw *requestCounts // the requests each waiter made
	// terminated is how many watches, of all clients, the API server closed
	// as too slow during the run.
	terminated int
	// kqDelays and rawDelays are the delays from the benchmark's own watch
	// seeing a Job finish to each waiter seeing it; kqLate and rawLate from
	// the finished condition's lastTransitionTime.
	kqDelays, rawDelays, kqLate, rawLate []time.Duration
}

// waitRun runs the waiting measurement once, in a namespace of its own: n
// Jobs are created suspended, and started (resumed) once both waiters
// watch, rate a second or, if rate is 0, all at once, so that each Job
// finishes while they do. Beside the watch requests each side made, it
// measures the delay from the Job finishing to the waiter seeing it, from
// two starts: the event of a watch of the benchmark's own (what the
// target is about), and the Complete condition's lastTransitionTime,
// which the API server keeps in whole seconds, and so adds up to a second.
func (b *bench) waitRun(ctx context.Context, n, rate int) (waitFigures, error) {
	ctx, cancel := context.WithTimeout(ctx, waitTimeout)
	defer cancel()
	var f waitFigures
	ns, err := b.namespace(ctx, "wait")
	if err != nil {
		return f, err
	}
	worker := kubequeue.NewWorker("bench-simulated", perform,
		kubequeue.WithImage("registry.example.com/shop/api:v1.4.2"),
		kubequeue.WithNodeSelector(b.cfg.SimulatedNodeSelector),
		kubequeue.WithTolerations(b.cfg.SimulatedTolerations...),
		suspend,
	)
	queue, err := kubequeue.New(b.client, kubequeue.WithDefaultNamespace(ns))
	if err != nil {
		return f, err
	}
	payloads := make([]Args, n)
	for i := range payloads {
		payloads[i] = args(int64(i), 0)
	}
	b.progress("wait: %d Jobs, %s, completed by simulated pods", n, started(rate))
	handles, err := queue.EnqueueMany(ctx, worker, payloads)
	if err != nil {
		return f, err
	}

	terminatedBefore := b.terminatedWatchers(ctx)

	// The benchmark's own watch, made again from where it was when the API
	// server closes it (as it does a watch that does not keep up).
	watched, transitions := newTimes(), newTimes()
	list, err := b.client.BatchV1().Jobs(ns).List(ctx, metav1.ListOptions{Limit: 1})
	if err != nil {
		return f, fmt.Errorf("bench: list jobs: %w", err)
	}
	w, err := watchtools.NewRetryWatcherWithContext(ctx, list.ResourceVersion, &cache.ListWatch{
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			return b.client.BatchV1().Jobs(ns).Watch(ctx, o)
		},
	})
	if err != nil {
		return f, fmt.Errorf("bench: watch jobs: %w", err)
	}
	var watchers sync.WaitGroup
	defer watchers.Wait()
	defer w.Stop()
	watchers.Go(func() {
		for ev := range w.ResultChan() {
			if job, ok := ev.Object.(*batchv1.Job); ok && ev.Type != watch.Deleted {
				if at, ok := finishedAt(job); ok {
					watched.first(job.Name, time.Now())
					transitions.first(job.Name, at)
				}
			}
		}
	})

	// kubequeue's WaitAll.
	var kqRequests requestCounts
	kqClient, err := newClient(b.cfg.Rest, -1, 0, b.countRequests("wait: kubequeue", &kqRequests))
	if err != nil {
		return f, err
	}
	kqQueue, err := kubequeue.New(kqClient, kubequeue.WithLogger(slog.New(slog.NewTextHandler(b.cfg.Progress, nil))))
	if err != nil {
		return f, err
	}
	kqSeen := newTimes()
	var kqErr error
	kqDone := make(chan struct{})
	go func() {
		defer close(kqDone)
		for st, err := range kqQueue.WaitAll(ctx, handles...) {
			now := time.Now()
			if err != nil {
				kqErr = errors.Join(kqErr, err)
				continue
			}
			kqSeen.first(st.Handle.Name, now)
		}
	}()

	// client-go: one informer on the namespace's Jobs of the worker.
	var rawRequests requestCounts
	rawClient, err := newClient(b.cfg.Rest, -1, 0, b.countRequests("wait: client-go", &rawRequests))
	if err != nil {
		return f, err
	}
	selector := labels.Set{kubequeue.LabelWorker: worker.Name()}.String()
	jobs := rawClient.BatchV1().Jobs(ns)
	informer := cache.NewSharedIndexInformer(&cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			o.LabelSelector = selector
			return jobs.List(ctx, o)
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			o.LabelSelector = selector
			return jobs.Watch(ctx, o)
		},
	}, &batchv1.Job{}, 0, cache.Indexers{})
	rawSeen := newTimes()
	seen := func(obj any) {
		if job, ok := obj.(*batchv1.Job); ok {
			if _, ok := finishedAt(job); ok {
				rawSeen.first(job.Name, time.Now())
			}
		}
	}
	if _, err := informer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    seen,
		UpdateFunc: func(_, obj any) { seen(obj) },
	}); err != nil {
		return f, err
	}
	informerCtx, stopInformer := context.WithCancel(ctx)
	defer stopInformer()
	watchers.Go(func() { informer.RunWithContext(informerCtx) })

	// Both waiters watch: the Jobs may start.
	err = wait.PollUntilContextTimeout(ctx, 10*time.Millisecond, time.Minute, true, func(context.Context) (bool, error) {
		return informer.HasSynced() && kqRequests.watches.Load() >= 2, nil
	})
	if err != nil {
		return f, fmt.Errorf("bench: wait for the waiters to watch: %w", err)
	}
	resume := func(ctx context.Context, i int) error {
		_, err := b.client.BatchV1().Jobs(ns).Patch(ctx, handles[i].Name, types.MergePatchType, []byte(`{"spec":{"suspend":false}}`), metav1.PatchOptions{})
		return err
	}
	if rate == 0 {
		_, err = run(ctx, n, 16, resume)
	} else {
		err = paced(ctx, n, rate, resume)
	}
	if err != nil {
		return f, err
	}
	select {
	case <-kqDone:
	case <-ctx.Done():
		return f, fmt.Errorf("bench: WaitAll: %d of %d Jobs seen finished: %w", kqSeen.len(), n, ctx.Err())
	}
	if kqErr != nil {
		return f, fmt.Errorf("bench: WaitAll: %w", kqErr)
	}
	err = wait.PollUntilContextCancel(ctx, 10*time.Millisecond, true, func(context.Context) (bool, error) {
		return rawSeen.len() == n && watched.len() == n, nil
	})
	if err != nil {
		return f, fmt.Errorf("bench: client-go informer: %d of %d Jobs seen finished: %w", rawSeen.len(), n, err)
	}

	f.terminated = b.terminatedWatchers(ctx) - terminatedBefore
	f.kq, f.raw = &kqRequests, &rawRequests
	f.kqDelays, f.rawDelays = kqSeen.delays(watched), rawSeen.delays(watched)
	f.kqLate, f.rawLate = kqSeen.delays(transitions), rawSeen.delays(transitions)
	return f, nil
}

// paced calls do for 0 to n-1 in turn, rate calls a second at most.
func paced(ctx context.Context, n, rate int, do func(context.Context, int) error) error {
	tick := time.NewTicker(time.Second / time.Duration(rate))
	defer tick.Stop()
	for i := range n {
		if err := do(ctx, i); err != nil {
			return err
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// terminatedWatchers returns how many watches the API server has closed
// because their client did not keep up (apiserver_terminated_watchers_total,
// all resources), or -1 if its metrics cannot be read.
func (b *bench) terminatedWatchers(ctx context.Context) int {
	raw, err := b.client.CoreV1().RESTClient().Get().AbsPath("/metrics").DoRaw(ctx)
	if err != nil {
		b.progress("read the API server's metrics: %v", err)
		return -1
	}
	total := 0
	for line := range strings.Lines(string(raw)) {
		if !strings.HasPrefix(line, "apiserver_terminated_watchers_total{") {
			continue
		}
		fields := strings.Fields(line)
		if v, err := strconv.ParseFloat(fields[len(fields)-1], 64); err == nil {
			b.progress("%s", strings.TrimSpace(line))
			total += int(v)
		}
	}
	return total
}
