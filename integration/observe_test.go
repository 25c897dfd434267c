package integration

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/stdout/stdouttrace"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/kubequeue/kubequeue"
	"github.com/kubequeue/kubequeue/kubequeueotel"
	"github.com/kubequeue/kubequeue/kubequeueprom"
)

// envObserved marks the pods of observedWorker, whose runtime traces and
// counts perform (see observedMain).
const envObserved = "OBSERVED"

type observedArgs struct {
	Code int `json:"code"`
}

// observedWorker fails permanently when asked to.
var observedWorker = kubequeue.NewWorker("observed", func(_ context.Context, a observedArgs) error {
	if a.Code == kubequeue.ExitPermanent {
		return kubequeue.Permanent(errors.New("observed failure"))
	}
	return nil
}, kubequeue.WithImage(testImage), kubequeue.WithEnv(envObserved, "1"))

// observedMain, in the pod of an observedWorker Job, performs it as a
// service's main would with kubequeueotel and kubequeueprom: the spans
// go to stdout, one JSON object a line (stdouttrace), and once perform
// returns, the metrics too (Prometheus' text format), so that the test
// reads both from the pod's log. Anywhere else it returns.
func observedMain() {
	if os.Getenv(envObserved) == "" || !kubequeue.InJob() {
		return
	}
	exporter, err := stdouttrace.New(stdouttrace.WithWriter(os.Stdout))
	if err != nil {
		panic(err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exporter))
	reg := prometheus.NewRegistry()
	metrics, err := kubequeueprom.New(reg)
	if err != nil {
		panic(err)
	}
	printMetrics := func(ctx context.Context, req *kubequeue.PerformRequest, next kubequeue.PerformFunc) error {
		err := next(ctx, req)
		mfs, gerr := reg.Gather()
		if gerr != nil {
			panic(gerr)
		}
		for _, mf := range mfs {
			if _, werr := expfmt.MetricFamilyToText(os.Stdout, mf); werr != nil {
				panic(werr)
			}
		}
		return err
	}
	rt := kubequeue.NewRuntime([]kubequeue.AnyWorker{observedWorker}, kubequeue.WithPerformMiddleware(
		printMetrics, metrics.PerformMiddleware(), kubequeueotel.PerformMiddleware(kubequeueotel.WithTracerProvider(tp))))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	code := rt.Run(ctx)
	stop()
	_ = tp.Shutdown(context.Background())
	os.Exit(code)
}

// TestObservability_AcrossAPod enqueues Jobs with kubequeueotel's and
// kubequeueprom's middleware on the local cluster, and reads from each
// pod's log (the pod is a process of its own) that its perform span is a
// child of the enqueue span, with the Job's namespace, name and pod from
// the downward API, and that it counted the perform by exit code.
func TestObservability_AcrossAPod(t *testing.T) {
	t.Parallel()
	e := setup(t)
	exporter := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exporter))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	reg := prometheus.NewRegistry()
	metrics, err := kubequeueprom.New(reg)
	require.NoError(t, err)
	queue, err := kubequeue.New(client, kubequeue.WithDefaultNamespace(e.ns), kubequeue.WithEnqueueMiddleware(
		metrics.EnqueueMiddleware(), kubequeueotel.EnqueueMiddleware(kubequeueotel.WithTracerProvider(tp))))
	require.NoError(t, err)

	tests := []struct {
		name string
		code int
	}{
		{name: "Succeeds", code: kubequeue.ExitSuccess},
		{name: "FailsPermanently", code: kubequeue.ExitPermanent},
	}
	handles := make([]kubequeue.Handle, len(tests))
	for i, tt := range tests {
		handles[i], err = queue.Enqueue(e.ctx, observedWorker, observedArgs{Code: tt.code})
		require.NoError(t, err, tt.name)
	}
	sends := map[string]tracetest.SpanStub{}
	for _, s := range exporter.GetSpans() {
		sends[attrOf(s.Attributes, "k8s.job.name")] = s
	}
	require.Len(t, sends, 2)

	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := handles[i]
			_, err := queue.Wait(e.ctx, h)
			if tt.code == kubequeue.ExitSuccess {
				require.NoError(t, err)
			} else {
				require.ErrorIs(t, err, kubequeue.ErrJobFailed)
			}
			var spans []spanJSON
			var logged []string
			pod := ""
			for line, err := range queue.Logs(e.ctx, h, kubequeue.LogOptions{}) {
				require.NoError(t, err)
				logged = append(logged, line.Text)
				pod = line.Pod
				if strings.HasPrefix(line.Text, "{") {
					var s spanJSON
					require.NoError(t, json.Unmarshal([]byte(line.Text), &s), line.Text)
					spans = append(spans, s)
				}
			}
			log := strings.Join(logged, "\n")
			require.Len(t, spans, 1, "the perform span, in the pod's log:\n%s", log)
			process, send := spans[0], sends[h.Name]
			require.Equal(t, "process observed", process.Name)
			require.Equal(t, int(trace.SpanKindConsumer), process.SpanKind)
			require.Equal(t, send.SpanContext.TraceID().String(), process.SpanContext.TraceID, "one trace from enqueue to perform")
			require.Equal(t, send.SpanContext.SpanID().String(), process.Parent.SpanID, "the perform span's parent is the enqueue span")
			require.Equal(t, map[string]any{
				"messaging.system":           "kubequeue",
				"messaging.operation.name":   "process",
				"messaging.operation.type":   "process",
				"messaging.destination.name": "observed",
				"messaging.message.id":       h.Name,
				"k8s.namespace.name":         e.ns,
				"k8s.job.name":               h.Name,
				"k8s.pod.name":               pod,
				"kubequeue.exit_code":        float64(tt.code),
			}, process.attributes(), "the Job, its namespace and pod from the downward API")

			require.Contains(t, log, fmt.Sprintf(`kubequeue_performs_total{exit_code="%d",worker="observed"} 1`, tt.code))
			require.Contains(t, log, `kubequeue_perform_duration_seconds_count{worker="observed"} 1`)
			require.Contains(t, log, fmt.Sprintf("worker=observed namespace=%s job=%s pod=%s duration=", e.ns, h.Name, pod), "the runtime's log names the Job")
		})
	}
	t.Run("BatchItemKnowsItsAttempt", func(t *testing.T) {
		h, err := queue.EnqueueBatch(e.ctx, observedWorker, []observedArgs{{Code: 0}})
		require.NoError(t, err)
		_, err = queue.Wait(e.ctx, h)
		require.NoError(t, err)
		var logged []string
		for line, err := range queue.Logs(e.ctx, h, kubequeue.LogOptions{}) {
			require.NoError(t, err)
			logged = append(logged, line.Text)
		}
		log := strings.Join(logged, "\n")
		require.Contains(t, log, `"Key":"kubequeue.batch.index","Value":{"Type":"INT64","Value":0}`, log)
		require.Contains(t, log, `"Key":"kubequeue.attempt","Value":{"Type":"INT64","Value":1}`, "the Job controller's failure count of the index, through the downward API")
		require.Contains(t, log, " item=0 attempt=1 duration=")
	})

	// The enqueue side, counted in this process.
	want := fmt.Sprintf(`kubequeue_enqueues_total{outcome="enqueued",worker="observed"} %d`, len(tests)+1)
	var scraped strings.Builder
	mfs, err := reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		_, err := expfmt.MetricFamilyToText(&scraped, mf)
		require.NoError(t, err)
	}
	require.Contains(t, scraped.String(), want)
	require.Contains(t, scraped.String(), `kubequeue_enqueue_duration_seconds_count{worker="observed"} 3`)
}

// spanJSON is what stdouttrace writes of a span.
type spanJSON struct {
	Name        string
	SpanKind    int
	SpanContext struct{ TraceID, SpanID string }
	Parent      struct{ TraceID, SpanID string }
	Attributes  []struct {
		Key   string
		Value struct{ Value any }
	}
}

func (s spanJSON) attributes() map[string]any {
	m := map[string]any{}
	for _, a := range s.Attributes {
		m[a.Key] = a.Value.Value
	}
	return m
}

func attrOf(kvs []attribute.KeyValue, key string) string {
	for _, kv := range kvs {
		if string(kv.Key) == key {
			return kv.Value.AsString()
		}
	}
	return ""
}
