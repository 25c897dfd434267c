package kubequeueotel_test

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	k8stesting "k8s.io/client-go/testing"

	"github.com/kubequeue/kubequeue"
	"github.com/kubequeue/kubequeue/kubequeueotel"
	"github.com/kubequeue/kubequeue/kubequeuetest"
)

type args struct {
	N int `json:"n"`
}

var errOdd = errors.New("odd")

var worker = kubequeue.NewWorker("traced", func(_ context.Context, a args) error {
	if a.N%2 == 1 {
		return kubequeue.Permanent(errOdd)
	}
	return nil
}, kubequeue.WithImage("registry.example.com/app:v1"), kubequeue.WithEnv("TRACEPARENT", "stale"))

// setup returns a queue and a runtime traced into an in-memory exporter.
func setup(t *testing.T) (*kubequeue.Queue, *kubequeue.Runtime, *tracetest.InMemoryExporter, *sdktrace.TracerProvider) {
	t.Helper()
	exporter := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exporter))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	queue, _, err := kubequeuetest.NewQueue(kubequeue.WithEnqueueMiddleware(kubequeueotel.EnqueueMiddleware(kubequeueotel.WithTracerProvider(tp))))
	require.NoError(t, err)
	rt := kubequeue.NewRuntime([]kubequeue.AnyWorker{worker}, kubequeue.WithPerformMiddleware(kubequeueotel.PerformMiddleware(kubequeueotel.WithTracerProvider(tp))))
	return queue, rt, exporter, tp
}

func attrs(s tracetest.SpanStub) map[attribute.Key]attribute.Value {
	m := map[attribute.Key]attribute.Value{}
	for _, kv := range s.Attributes {
		m[kv.Key] = kv.Value
	}
	return m
}

func envValue(c corev1.Container, name string) (string, int) {
	v, n := "", 0
	for _, e := range c.Env {
		if e.Name == name {
			v, n = e.Value, n+1
		}
	}
	return v, n
}

func TestMiddleware_PerformSpanIsChildOfEnqueueSpan(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		n        int
		wantCode int
	}{
		{name: "Succeeds", n: 2, wantCode: kubequeue.ExitSuccess},
		{name: "FailsPermanently", n: 3, wantCode: kubequeue.ExitPermanent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			queue, rt, exporter, tp := setup(t)
			ctx, parent := tp.Tracer("test").Start(t.Context(), "handler")
			h, err := queue.Enqueue(ctx, worker, args{N: tt.n}, kubequeue.WithNamespace("shop"))
			require.NoError(t, err)
			parent.End()
			job, err := queue.Get(t.Context(), h)
			require.NoError(t, err)

			spans := exporter.GetSpans()
			require.Len(t, spans, 2, "the enqueue span, then the handler's")
			send := spans[0]
			require.Equal(t, "send traced", send.Name)
			require.Equal(t, trace.SpanKindProducer, send.SpanKind)
			require.Equal(t, parent.SpanContext().SpanID(), send.Parent.SpanID(), "a child of the span in ctx")
			a := attrs(send)
			require.Equal(t, "traced", a["messaging.destination.name"].AsString())
			require.Equal(t, "shop", a["k8s.namespace.name"].AsString())
			require.Equal(t, h.Name, a["k8s.job.name"].AsString())
			require.Equal(t, int64(0), a["kubequeue.api.retries"].AsInt64())

			tp0 := job.Annotations[kubequeueotel.AnnotationTraceparent]
			require.Equal(t, "00-"+send.SpanContext.TraceID().String()+"-"+send.SpanContext.SpanID().String()+"-01", tp0)
			env, n := envValue(job.Spec.Template.Spec.Containers[0], kubequeueotel.EnvTraceparent)
			require.Equal(t, tp0, env, "handed to the container")
			require.Equal(t, 1, n, "the worker's own TRACEPARENT replaced")

			// The container, in this process: a fresh context, as a new
			// process has.
			_, err = rt.PerformJob(context.Background(), job)
			require.Equal(t, tt.wantCode, kubequeue.ExitCode(err))
			spans = exporter.GetSpans()
			require.Len(t, spans, 3)
			process := spans[2]
			require.Equal(t, "process traced", process.Name)
			require.Equal(t, trace.SpanKindConsumer, process.SpanKind)
			require.Equal(t, send.SpanContext.TraceID(), process.SpanContext.TraceID(), "one trace")
			require.Equal(t, send.SpanContext.SpanID(), process.Parent.SpanID(), "the enqueue span is the parent")
			require.True(t, process.Parent.IsRemote())
			a = attrs(process)
			require.Equal(t, int64(tt.wantCode), a["kubequeue.exit_code"].AsInt64())
			require.Equal(t, h.Name, a["k8s.job.name"].AsString())
			if tt.wantCode == kubequeue.ExitSuccess {
				require.Equal(t, codes.Unset, process.Status.Code)
				require.Empty(t, process.Events)
			} else {
				require.Equal(t, codes.Error, process.Status.Code)
				require.Equal(t, "odd", process.Status.Description)
				require.Len(t, process.Events, 1, "the error recorded")
				require.Equal(t, "exception", process.Events[0].Name)
			}
		})
	}
}

func TestEnqueueMiddleware_Error(t *testing.T) {
	t.Parallel()
	exporter := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exporter))
	queue, client, err := kubequeuetest.NewQueue(kubequeue.WithEnqueueMiddleware(kubequeueotel.EnqueueMiddleware(kubequeueotel.WithTracerProvider(tp))))
	require.NoError(t, err)
	client.PrependReactor("create", "jobs", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(schema.GroupResource{Group: "batch", Resource: "jobs"}, "x", errors.New("no"))
	})
	_, err = queue.Enqueue(t.Context(), worker, args{N: 2})
	require.Error(t, err)
	spans := exporter.GetSpans()
	require.Len(t, spans, 1)
	require.Equal(t, codes.Error, spans[0].Status.Code)
	require.Contains(t, spans[0].Status.Description, "forbidden")
}

func TestPerformMiddleware_WithoutTraceContext(t *testing.T) {
	t.Parallel()
	exporter := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exporter))
	// A Job built without the enqueue middleware, as a schedule's are.
	queue, _, err := kubequeuetest.NewQueue()
	require.NoError(t, err)
	job, err := queue.Build(kubequeue.NewWorker("traced", func(context.Context, args) error { return nil }, kubequeue.WithImage("registry.example.com/app:v1")), args{})
	require.NoError(t, err)
	rt := kubequeue.NewRuntime([]kubequeue.AnyWorker{worker}, kubequeue.WithPerformMiddleware(kubequeueotel.PerformMiddleware(kubequeueotel.WithTracerProvider(tp))))
	_, err = rt.PerformJob(context.Background(), job)
	require.NoError(t, err)
	spans := exporter.GetSpans()
	require.Len(t, spans, 1)
	require.False(t, spans[0].Parent.IsValid(), "a trace of its own")
}

func TestEnqueueMiddleware_NoProvider(t *testing.T) {
	t.Parallel()
	// The global provider is a no-op one unless set: nothing to hand on.
	queue, _, err := kubequeuetest.NewQueue(kubequeue.WithEnqueueMiddleware(kubequeueotel.EnqueueMiddleware()))
	require.NoError(t, err)
	h, err := queue.Enqueue(t.Context(), kubequeue.NewWorker("plain", func(context.Context, args) error { return nil }, kubequeue.WithImage("registry.example.com/app:v1")), args{})
	require.NoError(t, err)
	job, err := queue.Get(t.Context(), h)
	require.NoError(t, err)
	require.NotContains(t, job.Annotations, kubequeueotel.AnnotationTraceparent)
	_, n := envValue(job.Spec.Template.Spec.Containers[0], kubequeueotel.EnvTraceparent)
	require.Zero(t, n)
}
