package kubequeueprom_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	k8stesting "k8s.io/client-go/testing"

	"github.com/kubequeue/kubequeue"
	"github.com/kubequeue/kubequeue/kubequeueprom"
	"github.com/kubequeue/kubequeue/kubequeuetest"
)

type args struct {
	N int `json:"n"`
}

var counted = kubequeue.NewWorker("counted", func(_ context.Context, a args) error {
	switch a.N {
	case 1:
		return errors.New("retry me")
	case 42:
		return kubequeue.Permanent(errors.New("never"))
	}
	return nil
}, kubequeue.WithImage("registry.example.com/app:v1"))

func TestMetrics(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewPedanticRegistry()
	metrics, err := kubequeueprom.New(reg)
	require.NoError(t, err)
	queue, client, err := kubequeuetest.NewQueue(kubequeue.WithEnqueueMiddleware(metrics.EnqueueMiddleware()), kubequeue.WithRetries(3))
	require.NoError(t, err)
	rt := kubequeue.NewRuntime([]kubequeue.AnyWorker{counted}, kubequeue.WithPerformMiddleware(metrics.PerformMiddleware()))

	// Two payloads, whose jobs the runtime performs: exit codes 0 and 42.
	handles, err := queue.EnqueueMany(t.Context(), counted, []args{{N: 0}, {N: 42}, {N: 1}})
	require.NoError(t, err)
	for _, h := range handles {
		job, err := queue.Get(t.Context(), h)
		require.NoError(t, err)
		_, _ = rt.PerformJob(t.Context(), job)
	}
	// A create refused once (429, tried again), and one refused for good.
	refusals := []error{
		apierrors.NewTooManyRequests("slow down", 0),
		apierrors.NewForbidden(schema.GroupResource{Group: "batch", Resource: "jobs"}, "x", errors.New("no")),
	}
	client.PrependReactor("create", "jobs", func(k8stesting.Action) (bool, runtime.Object, error) {
		if len(refusals) == 0 {
			return false, nil, nil
		}
		err := refusals[0]
		refusals = refusals[1:]
		return true, nil, err
	})
	_, err = queue.Enqueue(t.Context(), counted, args{N: 0})
	require.True(t, apierrors.IsForbidden(err), "%v", err)

	require.InDelta(t, 3.0, counterValue(t, reg, "kubequeue_enqueues_total", map[string]string{"worker": "counted", "outcome": "enqueued"}), 0)
	require.InDelta(t, 1.0, counterValue(t, reg, "kubequeue_enqueues_total", map[string]string{"worker": "counted", "outcome": "failed"}), 0)
	require.InDelta(t, 1.0, counterValue(t, reg, "kubequeue_enqueue_api_retries_total", map[string]string{"worker": "counted"}), 0)
	for code, want := range map[string]float64{"0": 1, "1": 1, "42": 1} {
		require.InDelta(t, want, counterValue(t, reg, "kubequeue_performs_total", map[string]string{"worker": "counted", "exit_code": code}), 0, "exit code %s", code)
	}
	require.Equal(t, 8, testutil.CollectAndCount(reg), "enqueued and failed, retries, one histogram each, three exit codes")
	problems, err := testutil.GatherAndLint(reg)
	require.NoError(t, err)
	require.Empty(t, problems, "names, units and help as Prometheus' linter wants them")

	// A scrape shows them.
	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	for _, line := range []string{
		`kubequeue_enqueues_total{outcome="enqueued",worker="counted"} 3`,
		`kubequeue_enqueues_total{outcome="failed",worker="counted"} 1`,
		`kubequeue_enqueue_api_retries_total{worker="counted"} 1`,
		`kubequeue_enqueue_duration_seconds_count{worker="counted"} 4`,
		`kubequeue_perform_duration_seconds_count{worker="counted"} 3`,
		`kubequeue_performs_total{exit_code="0",worker="counted"} 1`,
		`kubequeue_performs_total{exit_code="1",worker="counted"} 1`,
		`kubequeue_performs_total{exit_code="42",worker="counted"} 1`,
	} {
		require.Contains(t, string(body), line+"\n")
	}
}

func TestNew_AlreadyRegistered(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	_, err := kubequeueprom.New(reg)
	require.NoError(t, err)
	_, err = kubequeueprom.New(reg)
	are := prometheus.AlreadyRegisteredError{}
	require.ErrorAs(t, err, &are)
}

// counterValue returns the value of the counter name with labels in reg.
func counterValue(t *testing.T, reg prometheus.Gatherer, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metrics:
		for _, m := range mf.GetMetric() {
			got := map[string]string{}
			for _, l := range m.GetLabel() {
				got[l.GetName()] = l.GetValue()
			}
			for k, v := range labels {
				if got[k] != v {
					continue metrics
				}
			}
			return m.GetCounter().GetValue()
		}
	}
	t.Fatalf("no %s%v", name, labels)
	return 0
}
