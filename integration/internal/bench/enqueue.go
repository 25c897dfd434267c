package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"runtime"
	"runtime/metrics"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	utilrand "k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/kubequeue/kubequeue"
)

// A side creates one Job of payload number i.
type side func(ctx context.Context, i int) error

// sides returns the two sides creating Jobs of worker with payloads of
// size bytes, through client in namespace ns: kubequeue's Enqueue, and
// client-go creating Build's output with a fresh name and the payload
// encoded with encoding/json, as a client-go program must encode its own.
// For a payload in a Secret that means the same three writes as Enqueue
// (the Job suspended, the Secret, a patch that lets the Job start).
func sides(client kubernetes.Interface, ns string, worker *kubequeue.Worker[Args], size int) (kq, raw side, err error) {
	queue, err := kubequeue.New(client, kubequeue.WithDefaultNamespace(ns))
	if err != nil {
		return nil, nil, err
	}
	payload := args(firstOrderID, size)
	kq = func(ctx context.Context, i int) error {
		_, err := queue.Enqueue(ctx, worker, numbered(payload, i))
		return err
	}
	template, err := queue.Build(worker, payload)
	if err != nil {
		return nil, nil, err
	}
	data, err := json.Marshal(payload)
	if err != nil {
		return nil, nil, err
	}
	// Where the payload goes: the environment variable that holds it, or
	// else the Secret.
	env := -1
	if payloadVolume(template) == nil {
		for i, e := range template.Spec.Template.Spec.Containers[0].Env {
			if e.Value == string(data) {
				env = i
			}
		}
		if env < 0 {
			return nil, nil, fmt.Errorf("bench: no environment variable of Build's Job holds the payload %s", data)
		}
	}
	jobs := client.BatchV1().Jobs(ns)
	secrets := client.CoreV1().Secrets(ns)
	create := metav1.CreateOptions{FieldManager: kubequeue.DefaultFieldManager}
	raw = func(ctx context.Context, i int) error {
		data, err := json.Marshal(numbered(payload, i))
		if err != nil {
			return err
		}
		job := template.DeepCopy()
		job.Name = worker.Name() + "-" + utilrand.String(10)
		if env >= 0 {
			job.Spec.Template.Spec.Containers[0].Env[env].Value = string(data)
		}
		vol := payloadVolume(job)
		if vol == nil {
			_, err := jobs.Create(ctx, job, create)
			return err
		}
		vol.SecretName = job.Name + "-payload"
		created, err := jobs.Create(ctx, job, create)
		if err != nil {
			return err
		}
		secret := &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{
				Name:   vol.SecretName,
				Labels: map[string]string{kubequeue.LabelManagedBy: "kubequeue", kubequeue.LabelWorker: worker.Name()},
				OwnerReferences: []metav1.OwnerReference{{
					APIVersion: "batch/v1", Kind: "Job", Name: created.Name, UID: created.UID,
				}},
			},
			Immutable: ptr.To(true),
			Data:      map[string][]byte{vol.Items[0].Key: data},
		}
		if _, err := secrets.Create(ctx, secret, create); err != nil {
			return err
		}
		// The worker suspends its Jobs: the patch only removes the
		// annotation, as Enqueue's does.
		patch := fmt.Appendf(nil, `{"metadata":{"uid":%q,"annotations":{"kubequeue.io/resume":null}}}`, created.UID)
		_, err = jobs.Patch(ctx, created.Name, types.MergePatchType, patch, metav1.PatchOptions{FieldManager: kubequeue.DefaultFieldManager})
		return err
	}
	return kq, raw, nil
}

// payloadVolume returns the Secret volume of a Job that Build made for a
// payload too large for the environment, or nil: the only Secret volume
// of the Job, whose one item is the payload's key.
func payloadVolume(job *batchv1.Job) *corev1.SecretVolumeSource {
	for _, v := range job.Spec.Template.Spec.Volumes {
		if v.Secret != nil && len(v.Secret.Items) == 1 {
			return v.Secret
		}
	}
	return nil
}

// batch is what one side did in one round.
type batch struct {
	elapsed   time.Duration
	latencies []time.Duration
	cpu       time.Duration // process CPU time
}

// perSecond returns the Jobs created per second.
func (b batch) perSecond() float64 {
	return float64(len(b.latencies)) / b.elapsed.Seconds()
}

// cpuPerJob returns the process CPU time per Job.
func (b batch) cpuPerJob() time.Duration {
	return b.cpu / time.Duration(len(b.latencies))
}

// run makes n calls of create, concurrency at a time, and measures them.
// The garbage of earlier work is collected first, so that it is not
// counted.
func run(ctx context.Context, n, concurrency int, create side) (batch, error) {
	runtime.GC()
	latencies := make([]time.Duration, n)
	var next atomic.Int64
	var first error
	var once sync.Once
	var wg sync.WaitGroup
	cpu0, err := processCPU()
	if err != nil {
		return batch{}, err
	}
	start := time.Now()
	for range min(concurrency, n) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				t := time.Now()
				if err := create(ctx, i); err != nil {
					once.Do(func() { first = err })
					return
				}
				latencies[i] = time.Since(t)
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	cpu1, err := processCPU()
	if err != nil {
		return batch{}, err
	}
	if first == nil && ctx.Err() != nil {
		first = ctx.Err()
	}
	if first != nil {
		return batch{}, fmt.Errorf("bench: create a job: %w", first)
	}
	return batch{elapsed: elapsed, latencies: latencies, cpu: cpu1 - cpu0}, nil
}

// rounds runs both sides rounds times, alternating which goes first, and
// clears namespace ns after each side.
func (b *bench) rounds(ctx context.Context, ns string, rounds int, kq, raw func(context.Context) (batch, error)) (kqs, raws []batch, err error) {
	for r := range rounds {
		order := []bool{true, false} // true: kubequeue
		if r%2 == 1 {
			order = []bool{false, true}
		}
		for _, isKQ := range order {
			f := raw
			if isKQ {
				f = kq
			}
			got, err := f(ctx)
			if err != nil {
				return nil, nil, err
			}
			if isKQ {
				kqs = append(kqs, got)
			} else {
				raws = append(raws, got)
			}
			if err := b.clear(ctx, ns); err != nil {
				return nil, nil, err
			}
		}
	}
	return kqs, raws, nil
}

// throughputs returns each batch's Jobs per second.
func throughputs(bs []batch) []float64 {
	out := make([]float64, len(bs))
	for i, b := range bs {
		out[i] = b.perSecond()
	}
	return out
}

// cpus returns each batch's CPU time per Job, in seconds.
func cpus(bs []batch) []float64 {
	out := make([]float64, len(bs))
	for i, b := range bs {
		out[i] = b.cpuPerJob().Seconds()
	}
	return out
}

// enqueue measures throughput and latency at each concurrency, with the
// two sides interleaved, and the client CPU time per Job at
// cpuConcurrency, in rounds; it remembers client-go's best concurrency for
// the bulk measurement.
func (b *bench) enqueue(ctx context.Context) error {
	ns, err := b.namespace(ctx, "enqueue")
	if err != nil {
		return err
	}
	kq, raw, err := sides(b.client, ns, newWorker("bench"), 0)
	if err != nil {
		return err
	}
	best := 0.0
	for _, c := range sortedKeys(b.cfg.Scale.Enqueue) {
		n := b.cfg.Scale.Enqueue[c]
		b.progress("enqueue: concurrency %d, %d Jobs each side, interleaved", c, n)
		lk, lr, err := b.throughput(ctx, ns, fmt.Sprintf("enqueue, concurrency %d: Jobs/s", c), n, c, kq, raw)
		if err != nil {
			return err
		}
		tk, tr := littlesLaw(c, lk), littlesLaw(c, lr)
		b.report.add(fmt.Sprintf("enqueue, concurrency %d: latency p50 / p99, ms", c),
			ms(percentile(lk, 50))+" / "+ms(percentile(lk, 99)), ms(percentile(lr, 50))+" / "+ms(percentile(lr, 99)), "")
		b.report.target(fmt.Sprintf("enqueue_c%d", c), tk/tr, ">=", 0.97)
		if tr > best {
			best, b.bestConcurrency = tr, c
		}
	}

	n := b.cfg.Scale.CPU
	b.progress("enqueue: client CPU, %d rounds of %d Jobs each side at concurrency %d", b.cfg.Scale.Rounds, n, cpuConcurrency)
	cpu, err := b.cpuPerJob(ctx, ns, fmt.Sprintf("client CPU per Job (getrusage over %d enqueues at concurrency %d): ms", n, cpuConcurrency),
		b.cfg.Scale.Rounds, n, cpuConcurrency, kq, raw)
	if err != nil {
		return err
	}
	b.report.target("cpu_per_job", cpu, "<=", 1.1)
	return nil
}

// throughput measures both sides' Jobs/s at concurrency, n creates each,
// interleaved; it adds the row named what, clears namespace ns, and
// returns each side's latencies.
func (b *bench) throughput(ctx context.Context, ns, what string, n, concurrency int, kq, raw side) (kqs, raws []time.Duration, err error) {
	kqs, raws, err = interleave(ctx, n, concurrency, kq, raw)
	if err != nil {
		return nil, nil, err
	}
	tk, tr := littlesLaw(concurrency, kqs), littlesLaw(concurrency, raws)
	b.report.add(what, fmt.Sprintf("%.0f", tk), fmt.Sprintf("%.0f", tr), number(tk/tr))
	return kqs, raws, b.clear(ctx, ns)
}

// cpuPerJob measures both sides' process CPU time per Job: rounds rounds
// of n creates each at concurrency, alternating which side goes first,
// in namespace ns. It adds the row named what and returns the median of
// the rounds' ratios.
func (b *bench) cpuPerJob(ctx context.Context, ns, what string, rounds, n, concurrency int, kq, raw side) (float64, error) {
	kqs, raws, err := b.rounds(ctx, ns, rounds,
		func(ctx context.Context) (batch, error) { return run(ctx, n, concurrency, kq) },
		func(ctx context.Context) (batch, error) { return run(ctx, n, concurrency, raw) })
	if err != nil {
		return 0, err
	}
	ratio := median(ratios(cpus(kqs), cpus(raws)))
	b.report.add(what, fmt.Sprintf("%.3f", median(cpus(kqs))*1000), fmt.Sprintf("%.3f", median(cpus(raws))*1000), number(ratio))
	return ratio, nil
}

// interleave makes n calls of each side from one pool of concurrency
// workers, which take kubequeue's and client-go's calls in turn, so that
// both sides meet the same moments of a noisy machine and the same load on
// the API server. It returns each side's latencies.
func interleave(ctx context.Context, n, concurrency int, kq, raw side) (kqs, raws []time.Duration, err error) {
	both := func(ctx context.Context, i int) error {
		if i%2 == 0 {
			return kq(ctx, i/2)
		}
		return raw(ctx, i/2)
	}
	b, err := run(ctx, 2*n, concurrency, both)
	if err != nil {
		return nil, nil, err
	}
	for i, l := range b.latencies {
		if i%2 == 0 {
			kqs = append(kqs, l)
		} else {
			raws = append(raws, l)
		}
	}
	return kqs, raws, nil
}

// littlesLaw returns the Jobs per second that concurrency workers, each
// making one call after another, create when a call takes the mean of
// latencies (Little's law: throughput = concurrency ÷ mean latency).
func littlesLaw(concurrency int, latencies []time.Duration) float64 {
	var sum time.Duration
	for _, l := range latencies {
		sum += l
	}
	if sum == 0 {
		return 0
	}
	return float64(concurrency) * float64(len(latencies)) / sum.Seconds()
}

// bulk measures EnqueueMany against client-go at its best concurrency.
func (b *bench) bulk(ctx context.Context) error {
	ns, err := b.namespace(ctx, "bulk")
	if err != nil {
		return err
	}
	worker := newWorker("bench")
	queue, err := kubequeue.New(b.client, kubequeue.WithDefaultNamespace(ns))
	if err != nil {
		return err
	}
	_, raw, err := sides(b.client, ns, worker, 0)
	if err != nil {
		return err
	}
	n := b.cfg.Scale.Bulk
	payloads := make([]Args, n)
	for i := range payloads {
		payloads[i] = args(int64(i), 0)
	}
	b.progress("bulk: %d rounds of %d Jobs: EnqueueMany, client-go at concurrency %d", b.cfg.Scale.BulkRounds, n, b.bestConcurrency)
	many := func(ctx context.Context) (batch, error) {
		runtime.GC()
		start := time.Now()
		if _, err := queue.EnqueueMany(ctx, worker, payloads); err != nil {
			return batch{}, err
		}
		return batch{elapsed: time.Since(start), latencies: make([]time.Duration, n)}, nil
	}
	kqs, raws, err := b.rounds(ctx, ns, b.cfg.Scale.BulkRounds, many,
		func(ctx context.Context) (batch, error) { return run(ctx, n, b.bestConcurrency, raw) })
	if err != nil {
		return err
	}
	ratio := median(ratios(throughputs(kqs), throughputs(raws)))
	b.report.add(fmt.Sprintf("bulk, %d Jobs: Jobs/s (EnqueueMany; client-go at concurrency %d)", n, b.bestConcurrency),
		fmt.Sprintf("%.0f", median(throughputs(kqs))), fmt.Sprintf("%.0f", median(throughputs(raws))), number(ratio))
	b.report.target("enqueue_many", ratio, ">=", 0.9)
	return nil
}

// cpuConcurrency is the concurrency of the enqueue rounds whose process
// CPU time per Job is reported: Full creates 1,000 Jobs per round at it.
const cpuConcurrency = 32

// payloadConcurrency is the concurrency of the payload sweep.
const payloadConcurrency = 8

// payloads measures throughput (the sides interleaved) and CPU per Job (in
// rounds) by payload size.
func (b *bench) payloads(ctx context.Context) error {
	ns, err := b.namespace(ctx, "payload")
	if err != nil {
		return err
	}
	for _, size := range sortedKeys(b.cfg.Scale.Payload) {
		n := b.cfg.Scale.Payload[size]
		kq, raw, err := sides(b.client, ns, newWorker("bench"), size)
		if err != nil {
			return err
		}
		where := "env"
		if size > kubequeue.MaxEnvPayloadSize {
			where = "Secret: 3 writes"
		}
		b.progress("payload %s: %d Jobs each side interleaved, then %d rounds of %d", sizeName(size), 2*n, b.cfg.Scale.PayloadRounds, n)
		_, _, err = b.throughput(ctx, ns, fmt.Sprintf("payload %s (%s), concurrency %d: Jobs/s", sizeName(size), where, payloadConcurrency),
			2*n, payloadConcurrency, kq, raw)
		if err != nil {
			return err
		}
		_, err = b.cpuPerJob(ctx, ns, fmt.Sprintf("payload %s: client CPU per Job, ms", sizeName(size)),
			b.cfg.Scale.PayloadRounds, n, payloadConcurrency, kq, raw)
		if err != nil {
			return err
		}
	}
	return nil
}

// sizeName names a payload size of the sweep.
func sizeName(size int) string {
	switch {
	case size == payload1MiB:
		return "1 MiB"
	case size%1024 == 0:
		return fmt.Sprintf("%d KiB", size/1024)
	}
	return fmt.Sprintf("%d B", size)
}

// heapConcurrency is the concurrency of the heap measurements.
const heapConcurrency = 32

// heap measures the Go heap in use after HeapFirst and after HeapTotal
// enqueues of kubequeue, and after HeapFirst of client-go.
func (b *bench) heap(ctx context.Context) error {
	ns, err := b.namespace(ctx, "heap")
	if err != nil {
		return err
	}
	kq, raw, err := sides(b.client, ns, newWorker("bench"), 0)
	if err != nil {
		return err
	}
	first, total := b.cfg.Scale.HeapFirst, b.cfg.Scale.HeapTotal
	// client-go's side only up to first, as a baseline: the target is
	// about kubequeue's growth, and 10,000 more creates take minutes.
	b.progress("heap: %d enqueues with kubequeue, %d with client-go", total, first)
	if _, err := run(ctx, first, heapConcurrency, raw); err != nil {
		return err
	}
	r1 := heapInUse()
	if err := b.clear(ctx, ns); err != nil {
		return err
	}
	if _, err := run(ctx, first, heapConcurrency, kq); err != nil {
		return err
	}
	k1 := heapInUse()
	if _, err := run(ctx, total-first, heapConcurrency, kq); err != nil {
		return err
	}
	kAll := heapInUse()
	// The 10,000 Jobs go with the namespace at the end: deleting them in
	// one request can outlast the API server's request timeout.
	b.report.add(fmt.Sprintf("Go heap in use after %d enqueues", first), mib(k1), mib(r1), "")
	b.report.add(fmt.Sprintf("Go heap in use after %d enqueues (÷ after %d)", total, first),
		fmt.Sprintf("%s (%s)", mib(kAll), number(float64(kAll)/float64(k1))), "not measured", "")
	b.report.target("heap_growth", float64(kAll)/float64(k1), "<=", 1.1)
	return nil
}

// heapInUse returns the bytes of heap objects, live and not yet swept,
// after a full collection.
func heapInUse() uint64 {
	runtime.GC()
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// rateLimits measures EnqueueMany through clients with client-go's
// default rate limit, LoadConfig's, and none.
func (b *bench) rateLimits(ctx context.Context) error {
	ns, err := b.namespace(ctx, "ratelimit")
	if err != nil {
		return err
	}
	limits := []struct {
		name       string
		qps        float32
		burst      int
		n          int
		defaultsOf string
	}{
		{"client-go's default", 0, 0, b.cfg.Scale.RateLimited, "QPS 5, burst 10"},
		{"LoadConfig's default", kubequeue.DefaultQPS, kubequeue.DefaultBurst, b.cfg.Scale.RateLimit, fmt.Sprintf("QPS %d, burst %d", kubequeue.DefaultQPS, kubequeue.DefaultBurst)},
		{"raised", 2 * kubequeue.DefaultQPS, 2 * kubequeue.DefaultBurst, b.cfg.Scale.RateLimit, fmt.Sprintf("QPS %d, burst %d", 2*kubequeue.DefaultQPS, 2*kubequeue.DefaultBurst)},
		{"none", -1, 0, b.cfg.Scale.RateLimit, "no limit"},
	}
	worker := newWorker("bench")
	for _, l := range limits {
		client, err := newClient(b.cfg.Rest, l.qps, l.burst, nil)
		if err != nil {
			return err
		}
		queue, err := kubequeue.New(client, kubequeue.WithDefaultNamespace(ns), kubequeue.WithLogger(slog.New(slog.NewTextHandler(b.cfg.Progress, nil))))
		if err != nil {
			return err
		}
		payloads := make([]Args, l.n)
		for i := range payloads {
			payloads[i] = args(int64(i), 0)
		}
		b.progress("rate limit %s (%s): EnqueueMany of %d Jobs", l.name, l.defaultsOf, l.n)
		start := time.Now()
		if _, err := queue.EnqueueMany(ctx, worker, payloads); err != nil {
			return err
		}
		rate := float64(l.n) / time.Since(start).Seconds()
		b.report.add(fmt.Sprintf("EnqueueMany of %d Jobs, client rate limit %s (%s): Jobs/s", l.n, l.name, l.defaultsOf),
			fmt.Sprintf("%.0f", rate), "", "")
		if err := b.clear(ctx, ns); err != nil {
			return err
		}
	}
	return nil
}

// sortedKeys returns m's keys in increasing order.
func sortedKeys(m map[int]int) []int {
	keys := make([]int, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
