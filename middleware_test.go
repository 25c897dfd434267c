package kubequeue_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	k8stesting "k8s.io/client-go/testing"

	"github.com/kubequeue/kubequeue"
)

// recorder is an enqueue middleware that records what it saw and marks
// the Job, as a tracing middleware does.
type recorder struct {
	name string
	mu   sync.Mutex
	log  *[]string
	seen []kubequeue.EnqueueRequest
}

func (r *recorder) middleware(ctx context.Context, req *kubequeue.EnqueueRequest, next kubequeue.EnqueueFunc) (kubequeue.Handle, error) {
	r.mu.Lock()
	*r.log = append(*r.log, r.name+" before")
	r.mu.Unlock()
	req.Job.Annotations["example.com/"+r.name] = "1"
	c := &req.Job.Spec.Template.Spec.Containers[0]
	c.Env = append(c.Env, corev1.EnvVar{Name: strings.ToUpper(r.name), Value: req.Name})
	h, err := next(ctx, req)
	r.mu.Lock()
	defer r.mu.Unlock()
	*r.log = append(*r.log, r.name+" after")
	seen := *req
	seen.Job = nil
	r.seen = append(r.seen, seen)
	return h, err
}

func TestWithEnqueueMiddleware(t *testing.T) {
	t.Parallel()
	t.Run("Enqueue", func(t *testing.T) {
		t.Parallel()
		var log []string
		outer, inner := &recorder{name: "outer", log: &log}, &recorder{name: "inner", log: &log}
		client, queue := setup(t, kubequeue.WithEnqueueMiddleware(outer.middleware), kubequeue.WithEnqueueMiddleware(inner.middleware, nil))
		h, err := queue.Enqueue(t.Context(), newGreeter(), greeting{Name: "a"})
		require.NoError(t, err)
		require.Equal(t, []string{"outer before", "inner before", "inner after", "outer after"}, log, "the first given is the outermost")
		require.Equal(t, []kubequeue.EnqueueRequest{{Worker: "greet", Namespace: "default", Name: h.Name}}, inner.seen)

		jobs := listJobs(t, client)
		require.Len(t, jobs, 1)
		require.Equal(t, "1", jobs[0].Annotations["example.com/outer"], "the middleware's changes are created")
		require.Equal(t, "1", jobs[0].Annotations["example.com/inner"])
		require.Equal(t, h.Name, envOf(t, &jobs[0], "OUTER"))
	})
	t.Run("EnqueueManyEachPayload", func(t *testing.T) {
		t.Parallel()
		var log []string
		r := &recorder{name: "rec", log: &log}
		client, queue := setup(t, kubequeue.WithEnqueueMiddleware(r.middleware))
		handles, err := queue.EnqueueMany(t.Context(), newGreeter(), []greeting{{Name: "a"}, {Name: "b"}, {Name: "c"}})
		require.NoError(t, err)
		require.Len(t, r.seen, 3)
		for _, h := range handles {
			require.Contains(t, r.seen, kubequeue.EnqueueRequest{Worker: "greet", Namespace: "default", Name: h.Name})
		}
		for _, j := range listJobs(t, client) {
			require.Equal(t, "1", j.Annotations["example.com/rec"])
		}
	})
	t.Run("EnqueueBatchOnce", func(t *testing.T) {
		t.Parallel()
		var log []string
		r := &recorder{name: "rec", log: &log}
		_, queue := setup(t, kubequeue.WithEnqueueMiddleware(r.middleware))
		h, err := queue.EnqueueBatch(t.Context(), newGreeter(), []greeting{{Name: "a"}, {Name: "b"}})
		require.NoError(t, err)
		require.Equal(t, []kubequeue.EnqueueRequest{{Worker: "greet", Namespace: "default", Name: h.Name, Items: 2}}, r.seen)
	})
	t.Run("PayloadInSecret", func(t *testing.T) {
		t.Parallel()
		var log []string
		r := &recorder{name: "rec", log: &log}
		client, queue := setup(t, kubequeue.WithEnqueueMiddleware(r.middleware))
		h, err := queue.Enqueue(t.Context(), newGreeter(kubequeue.WithSensitivePayload()), greeting{Name: "a"})
		require.NoError(t, err)
		jobs := listJobs(t, client)
		require.Len(t, jobs, 1)
		require.Equal(t, "1", jobs[0].Annotations["example.com/rec"])
		require.NotContains(t, jobs[0].Annotations, kubequeue.AnnotationResume, "started once its Secret exists")
		secrets, err := client.CoreV1().Secrets(h.Namespace).List(t.Context(), metav1.ListOptions{})
		require.NoError(t, err)
		require.Len(t, secrets.Items, 1)
	})
	t.Run("NotForScheduleOrInvalidCalls", func(t *testing.T) {
		t.Parallel()
		var log []string
		r := &recorder{name: "rec", log: &log}
		_, queue := setup(t, kubequeue.WithEnqueueMiddleware(r.middleware))
		_, err := queue.Schedule(t.Context(), "nightly", newGreeter(), "@daily", greeting{Name: "a"})
		require.NoError(t, err)
		_, err = queue.Enqueue(t.Context(), newGreeter(), "not a greeting")
		require.ErrorIs(t, err, kubequeue.ErrPayloadType)
		require.Empty(t, log)
	})
}

func TestWithEnqueueMiddleware_Retries(t *testing.T) {
	t.Parallel()
	var got []int
	count := func(ctx context.Context, req *kubequeue.EnqueueRequest, next kubequeue.EnqueueFunc) (kubequeue.Handle, error) {
		h, err := next(ctx, req)
		got = append(got, req.Retries)
		return h, err
	}
	client, queue := setup(t, kubequeue.WithEnqueueMiddleware(count), kubequeue.WithSleep(func(context.Context, time.Duration) error { return nil }))
	fails := 2
	client.PrependReactor("create", "jobs", func(k8stesting.Action) (bool, runtime.Object, error) {
		if fails > 0 {
			fails--
			return true, nil, apierrors.NewTooManyRequests("slow down", 0)
		}
		return false, nil, nil
	})
	_, err := queue.Enqueue(t.Context(), newGreeter(), greeting{Name: "a"})
	require.NoError(t, err)
	_, err = queue.Enqueue(t.Context(), newGreeter(), greeting{Name: "b"})
	require.NoError(t, err)
	require.Equal(t, []int{2, 0}, got, "two creates refused, then one at the first try")
}

func TestWithEnqueueMiddleware_Refused(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		change func(*kubequeue.EnqueueRequest)
	}{
		{name: "Renamed", change: func(r *kubequeue.EnqueueRequest) { r.Job.Name = "other" }},
		{name: "WorkerLabelRemoved", change: func(r *kubequeue.EnqueueRequest) { delete(r.Job.Labels, kubequeue.LabelWorker) }},
		{name: "NilJob", change: func(r *kubequeue.EnqueueRequest) { r.Job = nil }},
		{name: "WorkerContainerRemoved", change: func(r *kubequeue.EnqueueRequest) { r.Job.Spec.Template.Spec.Containers[0].Env = nil }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			mw := func(ctx context.Context, req *kubequeue.EnqueueRequest, next kubequeue.EnqueueFunc) (kubequeue.Handle, error) {
				tt.change(req)
				return next(ctx, req)
			}
			client, queue := setup(t, kubequeue.WithEnqueueMiddleware(mw))
			h, err := queue.Enqueue(t.Context(), newGreeter(), greeting{Name: "a"})
			require.ErrorIs(t, err, kubequeue.ErrInvalidOption)
			require.ErrorContains(t, err, "enqueue middleware changed the job")
			require.Zero(t, h)
			require.Empty(t, client.Actions(), "refused before any API call")
		})
	}
}

func TestRuntime_PerformJob_Middleware(t *testing.T) {
	t.Parallel()
	boom := errors.New("boom")
	tests := []struct {
		name     string
		perform  error
		mw       kubequeue.PerformMiddleware
		wantErr  error
		wantCode int
	}{
		{
			name: "PassesThrough",
			mw: func(ctx context.Context, req *kubequeue.PerformRequest, next kubequeue.PerformFunc) error {
				return next(ctx, req)
			},
			wantCode: kubequeue.ExitSuccess,
		},
		{
			name:    "SeesTheError",
			perform: kubequeue.Permanent(boom),
			mw: func(ctx context.Context, req *kubequeue.PerformRequest, next kubequeue.PerformFunc) error {
				return next(ctx, req)
			},
			wantErr:  boom,
			wantCode: kubequeue.ExitPermanent,
		},
		{
			name:    "ReplacesTheError",
			perform: boom,
			mw: func(ctx context.Context, req *kubequeue.PerformRequest, next kubequeue.PerformFunc) error {
				_ = next(ctx, req)
				return nil
			},
			wantCode: kubequeue.ExitSuccess,
		},
		{
			name: "Panics",
			mw: func(context.Context, *kubequeue.PerformRequest, kubequeue.PerformFunc) error {
				panic("middleware")
			},
			wantErr:  kubequeue.ErrPanic,
			wantCode: kubequeue.ExitRetryable,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w := rtWorker("observed", func(context.Context, rtArgs) error { return tt.perform })
			rt := kubequeue.NewRuntime([]kubequeue.AnyWorker{w}, kubequeue.WithPerformMiddleware(tt.mw))
			_, err := rt.PerformJob(t.Context(), build(t, w, rtArgs{N: 1}))
			if tt.wantErr == nil {
				require.NoError(t, err)
			} else {
				require.ErrorIs(t, err, tt.wantErr)
			}
			require.Equal(t, tt.wantCode, kubequeue.ExitCode(err))
		})
	}
}

func TestRuntime_PerformJob_Request(t *testing.T) {
	t.Parallel()
	var log []string
	var got kubequeue.PerformRequest
	type ctxKey struct{}
	mw := func(name string) kubequeue.PerformMiddleware {
		return func(ctx context.Context, req *kubequeue.PerformRequest, next kubequeue.PerformFunc) error {
			log = append(log, name)
			got = *req
			return next(context.WithValue(ctx, ctxKey{}, name), req)
		}
	}
	w := rtWorker("observed", func(ctx context.Context, a rtArgs) error {
		log = append(log, "perform "+ctx.Value(ctxKey{}).(string))
		return kubequeue.SetResult(ctx, a.N)
	})
	rt := kubequeue.NewRuntime([]kubequeue.AnyWorker{w}, kubequeue.WithPerformMiddleware(mw("outer")), kubequeue.WithPerformMiddleware(mw("inner")))
	job := build(t, w, rtArgs{N: 5}, kubequeue.WithNamespace("team"))
	result, err := rt.PerformJob(t.Context(), job)
	require.NoError(t, err)
	require.JSONEq(t, "5", string(result), "the result perform set through the middleware's ctx")
	require.Equal(t, []string{"outer", "inner", "perform inner"}, log)
	require.Equal(t, "observed", got.Worker)
	require.Equal(t, "team", got.Namespace)
	require.Equal(t, job.Name, got.JobName)
	require.Empty(t, got.PodName)
	require.Equal(t, -1, got.Index)
	require.Zero(t, got.Attempt)
	v, ok := got.LookupEnv("KUBEQUEUE_WORKER")
	require.True(t, ok)
	require.Equal(t, "observed", v)
}

// TestRuntime_Run_Logs runs in a container's environment as the downward
// API sets it, so it does not run in parallel.
func TestRuntime_Run_Logs(t *testing.T) {
	w := rtWorker("logged", func(context.Context, rtArgs) error { return nil })
	job := build(t, w, rtArgs{N: 1})
	for _, e := range rtContainerEnv(t, job) {
		name, value, _ := strings.Cut(e, "=")
		t.Setenv(name, value)
	}
	t.Setenv("KUBEQUEUE_NAMESPACE", "team")
	t.Setenv("KUBEQUEUE_JOB_NAME", job.Name)
	t.Setenv("KUBEQUEUE_POD_NAME", job.Name+"-abcde")
	t.Setenv("KUBEQUEUE_LOCAL_ROOT", t.TempDir())
	var logged strings.Builder
	var seen kubequeue.PerformRequest
	rt := kubequeue.NewRuntime([]kubequeue.AnyWorker{w},
		kubequeue.WithRuntimeLogger(slog.New(slog.NewTextHandler(&logged, nil))),
		kubequeue.WithPerformMiddleware(func(ctx context.Context, req *kubequeue.PerformRequest, next kubequeue.PerformFunc) error {
			seen = *req
			return next(ctx, req)
		}))
	require.Equal(t, kubequeue.ExitSuccess, rt.Run(t.Context()))
	require.Contains(t, logged.String(), "msg=\"kubequeue: job succeeded\" worker=logged namespace=team job="+job.Name+" pod="+job.Name+"-abcde duration=")
	require.Equal(t, "team", seen.Namespace)
	require.Equal(t, job.Name+"-abcde", seen.PodName)
	require.Equal(t, -1, seen.Index)
}

// TestRuntime_Run_BatchAttempt: a batch's pod knows its item and attempt.
func TestRuntime_Run_BatchAttempt(t *testing.T) {
	w := rtWorker("logged", func(context.Context, rtArgs) error { return errors.New("again") })
	queue, _ := fakeQueue(t)
	job, err := queue.BuildBatch(w, []rtArgs{{N: 1}, {N: 2}})
	require.NoError(t, err)
	for _, e := range rtContainerEnv(t, job) {
		name, value, _ := strings.Cut(e, "=")
		t.Setenv(name, value)
	}
	t.Setenv("JOB_COMPLETION_INDEX", "1")
	t.Setenv("KUBEQUEUE_INDEX_FAILURES", "2")
	t.Setenv("KUBEQUEUE_LOCAL_ROOT", t.TempDir())
	var logged strings.Builder
	rt := kubequeue.NewRuntime([]kubequeue.AnyWorker{w}, kubequeue.WithRuntimeLogger(slog.New(slog.NewTextHandler(&logged, nil))))
	require.Equal(t, kubequeue.ExitRetryable, rt.Run(t.Context()))
	require.Contains(t, logged.String(), "msg=\"kubequeue: job failed\" worker=logged item=1 attempt=3 duration=")
	require.Contains(t, logged.String(), "exit_code=1 error=again")
}
