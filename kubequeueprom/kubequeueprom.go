// Package kubequeueprom counts kubequeue's enqueues and performs with
// Prometheus (github.com/prometheus/client_golang).
//
// [New] registers the collectors on a [prometheus.Registerer]; its
// [Metrics.EnqueueMiddleware] goes to [kubequeue.WithEnqueueMiddleware] in
// the service that enqueues, and [Metrics.PerformMiddleware] to
// [kubequeue.WithPerformMiddleware] in the runtime of the Jobs' containers:
//
//	metrics, err := kubequeueprom.New(prometheus.DefaultRegisterer)
//	queue, err := kubequeue.New(client, kubequeue.WithEnqueueMiddleware(metrics.EnqueueMiddleware()))
//
// The metrics, each labelled with the worker's name:
//
//	kubequeue_enqueues_total{worker,outcome}             counter: outcome is "enqueued", "failed" or "maybe_enqueued" (ErrMaybeEnqueued)
//	kubequeue_enqueue_duration_seconds{worker}           histogram: how long the creation took, retries included
//	kubequeue_enqueue_api_retries_total{worker}          counter: requests to the API server tried again
//	kubequeue_perform_duration_seconds{worker}           histogram: how long perform took
//	kubequeue_performs_total{worker,exit_code}           counter: performs by the container's exit code (0, 1, 42)
//
// An EnqueueMany counts each payload; an EnqueueBatch counts one enqueue of
// its Job, and each item's pod one perform. A Job's container is a process
// that exits once perform returns, so nothing scrapes it: the runtime's
// metrics reach Prometheus only if the program sends them before it exits,
// to a Pushgateway say (github.com/prometheus/client_golang/prometheus/push),
// by wrapping [kubequeue.Runtime.Run]; or a perform that runs in a
// long-lived process ([kubequeue.Runtime.PerformJob]) is scraped with it.
package kubequeueprom

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kubequeue/kubequeue"
)

// Outcomes of an enqueue, the values of the label outcome of
// kubequeue_enqueues_total.
const (
	OutcomeEnqueued      = "enqueued"
	OutcomeFailed        = "failed"
	OutcomeMaybeEnqueued = "maybe_enqueued"
)

// Metrics holds kubequeue's collectors. It is safe for concurrent use.
type Metrics struct {
	enqueues        *prometheus.CounterVec
	enqueueDuration *prometheus.HistogramVec
	apiRetries      *prometheus.CounterVec
	performDuration *prometheus.HistogramVec
	performs        *prometheus.CounterVec
}

// durationBuckets are the buckets of the histograms, in seconds: from 5 ms
// (an enqueue) to about 1.5 hours (a long perform), each 4 times the last.
var durationBuckets = prometheus.ExponentialBuckets(0.005, 4, 11)

// New makes kubequeue's collectors and registers them on reg. The
// histograms' buckets go from 5 ms to about 1.5 hours, each 4 times the
// last. It returns
// the error of reg.Register, such as a prometheus.AlreadyRegisteredError
// when reg has them already (one Metrics per registry), having registered
// none of them.
func New(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		enqueues: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kubequeue_enqueues_total",
			Help: "Jobs a queue tried to create, by worker and outcome (enqueued, failed, maybe_enqueued).",
		}, []string{"worker", "outcome"}),
		enqueueDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "kubequeue_enqueue_duration_seconds",
			Help:    "How long creating a Job took, its retries included, by worker.",
			Buckets: durationBuckets,
		}, []string{"worker"}),
		apiRetries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kubequeue_enqueue_api_retries_total",
			Help: "Requests to the Kubernetes API server that enqueues tried again, by worker.",
		}, []string{"worker"}),
		performDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "kubequeue_perform_duration_seconds",
			Help:    "How long performing a Job took, by worker.",
			Buckets: durationBuckets,
		}, []string{"worker"}),
		performs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kubequeue_performs_total",
			Help: "Jobs performed, by worker and the container's exit code (0 success, 1 retryable, 42 permanent).",
		}, []string{"worker", "exit_code"}),
	}
	cs := []prometheus.Collector{m.enqueues, m.enqueueDuration, m.apiRetries, m.performDuration, m.performs}
	for i, c := range cs {
		if err := reg.Register(c); err != nil {
			for _, done := range cs[:i] {
				reg.Unregister(done)
			}
			return nil, err
		}
	}
	return m, nil
}

// EnqueueMiddleware returns middleware for [kubequeue.WithEnqueueMiddleware]
// that counts each Job's creation, its outcome, duration and API retries.
func (m *Metrics) EnqueueMiddleware() kubequeue.EnqueueMiddleware {
	return func(ctx context.Context, req *kubequeue.EnqueueRequest, next kubequeue.EnqueueFunc) (kubequeue.Handle, error) {
		start := time.Now()
		h, err := next(ctx, req)
		m.enqueueDuration.WithLabelValues(req.Worker).Observe(time.Since(start).Seconds())
		outcome := OutcomeEnqueued
		switch {
		case errors.Is(err, kubequeue.ErrMaybeEnqueued):
			outcome = OutcomeMaybeEnqueued
		case err != nil:
			outcome = OutcomeFailed
		}
		m.enqueues.WithLabelValues(req.Worker, outcome).Inc()
		m.apiRetries.WithLabelValues(req.Worker).Add(float64(req.Retries))
		return h, err
	}
}

// PerformMiddleware returns middleware for [kubequeue.WithPerformMiddleware]
// that counts each perform by exit code and observes its duration.
func (m *Metrics) PerformMiddleware() kubequeue.PerformMiddleware {
	return func(ctx context.Context, req *kubequeue.PerformRequest, next kubequeue.PerformFunc) error {
		start := time.Now()
		err := next(ctx, req)
		m.performDuration.WithLabelValues(req.Worker).Observe(time.Since(start).Seconds())
		m.performs.WithLabelValues(req.Worker, strconv.Itoa(kubequeue.ExitCode(err))).Inc()
		return err
	}
}
