package kubequeueotel

import (
	"context"
	"errors"
	"slices"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	corev1 "k8s.io/api/core/v1"

	"github.com/kubequeue/kubequeue"
)

// Annotations in which EnqueueMiddleware writes the enqueue span's W3C
// trace context on each Job.
const (
	// AnnotationTraceparent holds the W3C traceparent header.
	AnnotationTraceparent = "kubequeue.io/traceparent"
	// AnnotationTracestate holds the W3C tracestate header, when it is
	// not empty.
	AnnotationTracestate = "kubequeue.io/tracestate"
)

// Environment variables in which EnqueueMiddleware hands the trace context
// to the Job's container and PerformMiddleware reads it, as OpenTelemetry's
// specification of environment-variable carriers names them.
const (
	EnvTraceparent = "TRACEPARENT"
	EnvTracestate  = "TRACESTATE"
)

// ScopeName is the instrumentation scope of the spans.
const ScopeName = "github.com/kubequeue/kubequeue/kubequeueotel"

// Option configures the middleware.
type Option interface {
	apply(*config)
}

type config struct {
	provider trace.TracerProvider
}

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

// WithTracerProvider sets the provider of the tracer. Default: the global
// one, [otel.GetTracerProvider], as it is when the middleware is made.
// Repeating it replaces.
func WithTracerProvider(tp trace.TracerProvider) Option {
	return optionFunc(func(c *config) { c.provider = tp })
}

func newTracer(opts []Option) trace.Tracer {
	c := &config{}
	for _, o := range opts {
		if o != nil {
			o.apply(c)
		}
	}
	if c.provider == nil {
		c.provider = otel.GetTracerProvider()
	}
	return c.provider.Tracer(ScopeName)
}

// propagator is W3C Trace Context, which the annotations and variables hold.
var propagator = propagation.TraceContext{}

// EnqueueMiddleware returns middleware for [kubequeue.WithEnqueueMiddleware]
// that runs the creation of each Job in a span of kind producer, a child of
// the span in ctx if any, and writes the span's trace context into the Job
// (see the package documentation). When the span's context is not valid
// (no provider is set, and ctx holds no span), the Job is left unchanged.
func EnqueueMiddleware(opts ...Option) kubequeue.EnqueueMiddleware {
	tracer := newTracer(opts)
	return func(ctx context.Context, req *kubequeue.EnqueueRequest, next kubequeue.EnqueueFunc) (kubequeue.Handle, error) {
		attrs := []attribute.KeyValue{
			attribute.String("messaging.system", "kubequeue"),
			attribute.String("messaging.operation.name", "send"),
			attribute.String("messaging.operation.type", "send"),
			attribute.String("messaging.destination.name", req.Worker),
			attribute.String("messaging.message.id", req.Name),
			attribute.String("k8s.namespace.name", req.Namespace),
			attribute.String("k8s.job.name", req.Name),
		}
		if req.Items > 0 {
			attrs = append(attrs, attribute.Int("messaging.batch.message_count", req.Items))
		}
		ctx, span := tracer.Start(ctx, "send "+req.Worker, trace.WithSpanKind(trace.SpanKindProducer), trace.WithAttributes(attrs...))
		defer span.End()
		carrier := propagation.MapCarrier{}
		propagator.Inject(ctx, carrier)
		if tp := carrier.Get("traceparent"); tp != "" && req.Job != nil {
			ts := carrier.Get("tracestate")
			req.Job.Annotations[AnnotationTraceparent] = tp
			if ts != "" {
				req.Job.Annotations[AnnotationTracestate] = ts
			}
			if c := workerContainer(req); c != nil {
				setEnv(c, EnvTraceparent, tp)
				setEnv(c, EnvTracestate, ts)
			}
		}
		h, err := next(ctx, req)
		span.SetAttributes(attribute.Int("kubequeue.api.retries", req.Retries))
		if err != nil {
			span.RecordError(err)
			span.SetStatus(codes.Error, err.Error())
			if errors.Is(err, kubequeue.ErrMaybeEnqueued) {
				span.SetAttributes(attribute.Bool("kubequeue.maybe_enqueued", true))
			}
		}
		return h, err
	}
}

// workerContainer returns the Job's kubequeue container: the one that sets
// KUBEQUEUE_WORKER.
func workerContainer(req *kubequeue.EnqueueRequest) *corev1.Container {
	cs := req.Job.Spec.Template.Spec.Containers
	i := slices.IndexFunc(cs, func(c corev1.Container) bool {
		return slices.ContainsFunc(c.Env, func(e corev1.EnvVar) bool { return e.Name == "KUBEQUEUE_WORKER" })
	})
	if i < 0 {
		return nil
	}
	return &cs[i]
}

// setEnv sets the variable name of c to value, replacing it where it is
// set, or removes it when value is "".
func setEnv(c *corev1.Container, name, value string) {
	c.Env = slices.DeleteFunc(c.Env, func(e corev1.EnvVar) bool { return e.Name == name })
	if value != "" {
		c.Env = append(c.Env, corev1.EnvVar{Name: name, Value: value})
	}
}

// PerformMiddleware returns middleware for [kubequeue.WithPerformMiddleware]
// that runs perform in a span of kind consumer. Its parent is the trace
// context of the container's TRACEPARENT and TRACESTATE, the enqueue span's
// (see [EnqueueMiddleware]); without them, the span in ctx, if any, or
// none. A perform that fails records its error and sets the span's status
// to Error.
func PerformMiddleware(opts ...Option) kubequeue.PerformMiddleware {
	tracer := newTracer(opts)
	return func(ctx context.Context, req *kubequeue.PerformRequest, next kubequeue.PerformFunc) error {
		carrier := propagation.MapCarrier{}
		if req.LookupEnv != nil {
			for key, name := range map[string]string{"traceparent": EnvTraceparent, "tracestate": EnvTracestate} {
				if v, ok := req.LookupEnv(name); ok {
					carrier.Set(key, v)
				}
			}
		}
		if carrier.Get("traceparent") != "" {
			ctx = propagator.Extract(ctx, carrier)
		}
		attrs := []attribute.KeyValue{
			attribute.String("messaging.system", "kubequeue"),
			attribute.String("messaging.operation.name", "process"),
			attribute.String("messaging.operation.type", "process"),
			attribute.String("messaging.destination.name", req.Worker),
		}
		for _, a := range []struct{ key, value string }{
			{"messaging.message.id", req.JobName},
			{"k8s.namespace.name", req.Namespace},
			{"k8s.job.name", req.JobName},
			{"k8s.pod.name", req.PodName},
		} {
			if a.value != "" {
				attrs = append(attrs, attribute.String(a.key, a.value))
			}
		}
		if req.Index >= 0 {
			attrs = append(attrs, attribute.Int("kubequeue.batch.index", req.Index))
		}
		if req.Attempt > 0 {
			attrs = append(attrs, attribute.Int("kubequeue.attempt", req.Attempt))
		}
		ctx, span := tracer.Start(ctx, "process "+req.Worker, trace.WithSpanKind(trace.SpanKindConsumer), trace.WithAttributes(attrs...))
		defer span.End()
		err := next(ctx, req)
		code := kubequeue.ExitCode(err)
		span.SetAttributes(attribute.Int("kubequeue.exit_code", code))
		if err != nil {
			span.RecordError(err)
			span.SetStatus(codes.Error, err.Error())
		}
		return err
	}
}
