package kubequeue_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/utils/ptr"

	"github.com/kubequeue/kubequeue"
)

// lgJob returns testHandle's Job, with a sidecar before the worker container so that
// the container is found by its KUBEQUEUE_WORKER variable, not its place.
func lgJob(conditions ...batchv1.JobConditionType) *batchv1.Job {
	job := handleJob(testHandle.UID)
	job.Spec.Template.Spec = corev1.PodSpec{
		RestartPolicy: corev1.RestartPolicyNever,
		Containers: []corev1.Container{
			{Name: "sidecar", Image: "registry.example.com/proxy:v1"},
			{Name: "worker", Image: "registry.example.com/app:v1", Env: []corev1.EnvVar{{Name: "KUBEQUEUE_WORKER", Value: "greet"}}},
		},
	}
	for _, c := range conditions {
		job.Status.Conditions = append(job.Status.Conditions, batchv1.JobCondition{Type: c, Status: corev1.ConditionTrue})
	}
	return job
}

var (
	lgTerminated = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 1, ContainerID: "containerd://0123"}}
	// lgNeverCreated is a container the runtime never created (ContainerStatusUnknown).
	lgNeverCreated = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 137, Reason: "ContainerStatusUnknown"}}
	lgRunning      = corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}
	lgWaiting      = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}}
)

// lgPod returns a pod of the Job created at epoch+age, whose worker
// container is in state.
func lgPod(name string, age time.Duration, phase corev1.PodPhase, state corev1.ContainerState) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Namespace:         testHandle.Namespace,
			Name:              name,
			UID:               types.UID("uid-" + name),
			CreationTimestamp: metav1.NewTime(epoch.Add(age)),
			Labels: map[string]string{
				batchv1.ControllerUidLabel: string(testHandle.UID),
				batchv1.JobNameLabel:       testHandle.Name,
			},
		},
		Status: corev1.PodStatus{
			Phase: phase,
			ContainerStatuses: []corev1.ContainerStatus{
				{Name: "sidecar", State: lgRunning},
				{Name: "worker", State: state},
			},
		},
	}
}

// lgRetries returns a running Job, and its pods, whose names sort in another
// order than their creation: attempt 1 and 2 failed, attempt 3 never
// started its container, attempt 4 runs, and attempt 5 waits to restart
// a container that has run before. A pod of another Job is among them.
func lgRetries() []runtime.Object {
	crashLoop := lgPod("greet-1-ccccc", 4*time.Minute, corev1.PodRunning, corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}})
	crashLoop.Status.ContainerStatuses[1].LastTerminationState = lgTerminated
	other := lgPod("greet-2-xxxxx", -time.Minute, corev1.PodSucceeded, lgTerminated)
	other.Labels[batchv1.ControllerUidLabel] = "uid-2"
	return []runtime.Object{
		lgJob(),
		lgPod("greet-1-zzzzz", 0, corev1.PodFailed, lgTerminated),
		lgPod("greet-1-aaaaa", time.Minute, corev1.PodFailed, lgTerminated),
		lgPod("greet-1-mmmmm", 2*time.Minute, corev1.PodPending, lgWaiting),
		lgPod("greet-1-bbbbb", 3*time.Minute, corev1.PodRunning, lgRunning),
		crashLoop,
		other,
	}
}

// lgCollect ranges over seq to its end and returns the lines and errors.
func lgCollect(seq func(func(kubequeue.LogLine, error) bool)) ([]kubequeue.LogLine, []error) {
	var lines []kubequeue.LogLine
	var errs []error
	for line, err := range seq {
		if err != nil {
			errs = append(errs, err)
			continue
		}
		lines = append(lines, line)
	}
	return lines, errs
}

// lgLogRequests returns the options of each pods/log request client saw.
func lgLogRequests(t *testing.T, client *fake.Clientset) []*corev1.PodLogOptions {
	t.Helper()
	var out []*corev1.PodLogOptions
	for _, a := range client.Actions() {
		if a.GetVerb() != "get" || a.GetResource().Resource != "pods" || a.GetSubresource() != "log" {
			continue
		}
		generic, ok := a.(k8stesting.GenericAction)
		require.True(t, ok, "got %T", a)
		require.Equal(t, testHandle.Namespace, a.GetNamespace())
		opts, ok := generic.GetValue().(*corev1.PodLogOptions)
		require.True(t, ok, "got %T", generic.GetValue())
		out = append(out, opts)
	}
	return out
}

func lgLine(attempt int, pod string) kubequeue.LogLine {
	return kubequeue.LogLine{Attempt: attempt, Pod: pod, Text: "fake logs"}
}

func TestQueue_Logs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		opts kubequeue.LogOptions
		want []kubequeue.LogLine
	}{
		{
			name: "AllAttempts",
			want: []kubequeue.LogLine{
				lgLine(1, "greet-1-zzzzz"),
				lgLine(2, "greet-1-aaaaa"),
				// Attempt 3 never started its container: skipped.
				lgLine(4, "greet-1-bbbbb"),
				lgLine(5, "greet-1-ccccc"),
			},
		},
		{
			name: "FirstAttempt",
			opts: kubequeue.LogOptions{Attempt: 1},
			want: []kubequeue.LogLine{lgLine(1, "greet-1-zzzzz")},
		},
		{
			name: "SecondAttempt",
			opts: kubequeue.LogOptions{Attempt: 2},
			want: []kubequeue.LogLine{lgLine(2, "greet-1-aaaaa")},
		},
		{
			name: "AttemptNeverStarted",
			opts: kubequeue.LogOptions{Attempt: 3},
		},
		{
			name: "AttemptRestarting",
			opts: kubequeue.LogOptions{Attempt: 5},
			want: []kubequeue.LogLine{lgLine(5, "greet-1-ccccc")},
		},
		{
			name: "AttemptNotYetMade",
			opts: kubequeue.LogOptions{Attempt: 9},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			client, queue := setupWith(t, lgRetries()...)
			lines, errs := lgCollect(queue.Logs(t.Context(), testHandle, tt.opts))
			require.Empty(t, errs)
			require.Equal(t, tt.want, lines)

			requests := lgLogRequests(t, client)
			require.Len(t, requests, len(tt.want), "one request per attempt with a log")
			for _, po := range requests {
				require.Equal(t, "worker", po.Container, "the container with KUBEQUEUE_WORKER, not the first one")
				require.False(t, po.Follow)
			}
		})
	}
}

func TestQueue_Logs_HandleWithoutUID(t *testing.T) {
	t.Parallel()
	_, queue := setupWith(t, lgJob(), lgPod("greet-1-zzzzz", 0, corev1.PodRunning, lgRunning))
	lines, errs := lgCollect(queue.Logs(t.Context(), kubequeue.Handle{Namespace: testHandle.Namespace, Name: testHandle.Name}, kubequeue.LogOptions{}))
	require.Empty(t, errs)
	require.Equal(t, []kubequeue.LogLine{lgLine(1, "greet-1-zzzzz")}, lines)
}

func TestQueue_Logs_FirstContainer(t *testing.T) {
	t.Parallel()
	// A Job whose containers do not name a worker: its first container.
	job := lgJob()
	job.Spec.Template.Spec.Containers = []corev1.Container{{Name: "main", Image: "busybox"}}
	pod := lgPod("greet-1-zzzzz", 0, corev1.PodRunning, lgRunning)
	pod.Status.ContainerStatuses[1].Name = "main"
	client, queue := setupWith(t, job, pod)
	lines, errs := lgCollect(queue.Logs(t.Context(), testHandle, kubequeue.LogOptions{}))
	require.Empty(t, errs)
	require.Len(t, lines, 1)
	requests := lgLogRequests(t, client)
	require.Len(t, requests, 1)
	require.Equal(t, "main", requests[0].Container)
}

func TestQueue_Logs_Options(t *testing.T) {
	t.Parallel()
	sinceTime := time.Date(2026, 3, 1, 11, 0, 0, 0, time.UTC)
	tests := []struct {
		name  string
		opts  kubequeue.LogOptions
		check func(t *testing.T, po *corev1.PodLogOptions)
	}{
		{
			name: "Zero",
			check: func(t *testing.T, po *corev1.PodLogOptions) {
				require.Equal(t, &corev1.PodLogOptions{Container: "worker"}, po)
			},
		},
		{
			name: "TailLines",
			opts: kubequeue.LogOptions{TailLines: 10},
			check: func(t *testing.T, po *corev1.PodLogOptions) {
				require.Equal(t, ptr.To[int64](10), po.TailLines)
			},
		},
		{
			name: "Timestamps",
			opts: kubequeue.LogOptions{Timestamps: true},
			check: func(t *testing.T, po *corev1.PodLogOptions) {
				require.True(t, po.Timestamps)
			},
		},
		{
			name: "Since",
			opts: kubequeue.LogOptions{Since: 90 * time.Second},
			check: func(t *testing.T, po *corev1.PodLogOptions) {
				require.Equal(t, ptr.To[int64](90), po.SinceSeconds)
				require.Nil(t, po.SinceTime)
			},
		},
		{
			name: "SinceRoundsToSeconds",
			opts: kubequeue.LogOptions{Since: 1500 * time.Millisecond},
			check: func(t *testing.T, po *corev1.PodLogOptions) {
				require.Equal(t, ptr.To[int64](2), po.SinceSeconds)
			},
		},
		{
			name: "SinceUnderASecond",
			opts: kubequeue.LogOptions{Since: 100 * time.Millisecond},
			check: func(t *testing.T, po *corev1.PodLogOptions) {
				require.Equal(t, ptr.To[int64](1), po.SinceSeconds, "the API server refuses sinceSeconds=0")
			},
		},
		{
			name: "SinceTime",
			opts: kubequeue.LogOptions{SinceTime: sinceTime},
			check: func(t *testing.T, po *corev1.PodLogOptions) {
				require.NotNil(t, po.SinceTime)
				require.True(t, po.SinceTime.Time.Equal(sinceTime), "got %v", po.SinceTime)
				require.Nil(t, po.SinceSeconds)
			},
		},
		{
			name: "All",
			opts: kubequeue.LogOptions{TailLines: 3, Timestamps: true, SinceTime: sinceTime, Attempt: 1},
			check: func(t *testing.T, po *corev1.PodLogOptions) {
				require.Equal(t, "worker", po.Container)
				require.Equal(t, ptr.To[int64](3), po.TailLines)
				require.True(t, po.Timestamps)
				require.True(t, po.SinceTime.Time.Equal(sinceTime))
				require.False(t, po.Follow)
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			client, queue := setupWith(t, lgJob(), lgPod("greet-1-zzzzz", 0, corev1.PodFailed, lgTerminated))
			lines, errs := lgCollect(queue.Logs(t.Context(), testHandle, tt.opts))
			require.Empty(t, errs)
			require.Len(t, lines, 1)
			requests := lgLogRequests(t, client)
			require.Len(t, requests, 1)
			require.Equal(t, "worker", requests[0].Container)
			tt.check(t, requests[0])
		})
	}
}

// lgLogBody makes client's pods/log requests return body.
func lgLogBody(client *fake.Clientset, body string) {
	client.PrependReactor("get", "pods", func(action k8stesting.Action) (bool, runtime.Object, error) {
		if action.GetSubresource() != "log" {
			return false, nil, nil
		}
		return true, &runtime.Unknown{Raw: []byte(body)}, nil
	})
}

func TestQueue_Logs_Lines(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		body       string
		timestamps bool
		want       []kubequeue.LogLine
	}{
		{
			name: "Empty",
			body: "",
		},
		{
			name: "Lines",
			body: "one\ntwo\n",
			want: []kubequeue.LogLine{{Attempt: 1, Pod: "greet-1-zzzzz", Text: "one"}, {Attempt: 1, Pod: "greet-1-zzzzz", Text: "two"}},
		},
		{
			name: "NoFinalNewline",
			body: "one\n\ntwo",
			want: []kubequeue.LogLine{{Attempt: 1, Pod: "greet-1-zzzzz", Text: "one"}, {Attempt: 1, Pod: "greet-1-zzzzz", Text: ""}, {Attempt: 1, Pod: "greet-1-zzzzz", Text: "two"}},
		},
		{
			name:       "Timestamps",
			body:       "2026-03-01T12:00:00.5Z hello world\n2026-03-01T12:00:01Z \nno time here\n",
			timestamps: true,
			want: []kubequeue.LogLine{
				{Attempt: 1, Pod: "greet-1-zzzzz", Time: time.Date(2026, 3, 1, 12, 0, 0, 5e8, time.UTC), Text: "hello world"},
				{Attempt: 1, Pod: "greet-1-zzzzz", Time: time.Date(2026, 3, 1, 12, 0, 1, 0, time.UTC), Text: ""},
				{Attempt: 1, Pod: "greet-1-zzzzz", Text: "no time here"},
			},
		},
		{
			name: "TimestampsNotAsked",
			body: "2026-03-01T12:00:00Z hello\n",
			want: []kubequeue.LogLine{{Attempt: 1, Pod: "greet-1-zzzzz", Text: "2026-03-01T12:00:00Z hello"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			client, queue := setupWith(t, lgJob(), lgPod("greet-1-zzzzz", 0, corev1.PodFailed, lgTerminated))
			lgLogBody(client, tt.body)
			lines, errs := lgCollect(queue.Logs(t.Context(), testHandle, kubequeue.LogOptions{Timestamps: tt.timestamps}))
			require.Empty(t, errs)
			require.Len(t, lines, len(tt.want))
			for i := range tt.want {
				require.Equal(t, tt.want[i].Attempt, lines[i].Attempt)
				require.Equal(t, tt.want[i].Pod, lines[i].Pod)
				require.Equal(t, tt.want[i].Text, lines[i].Text)
				require.True(t, tt.want[i].Time.Equal(lines[i].Time), "line %d: time %v, want %v", i, lines[i].Time, tt.want[i].Time)
			}
		})
	}
}

func TestQueue_Logs_Break(t *testing.T) {
	t.Parallel()
	t.Run("AfterFirstLine", func(t *testing.T) {
		t.Parallel()
		client, queue := setupWith(t, lgRetries()...)
		lgLogBody(client, "one\ntwo\nthree\n")
		var got []string
		for line, err := range queue.Logs(t.Context(), testHandle, kubequeue.LogOptions{}) {
			require.NoError(t, err)
			got = append(got, line.Text)
			break
		}
		require.Equal(t, []string{"one"}, got)
		require.Len(t, lgLogRequests(t, client), 1, "no attempt is read after the loop stopped")
	})
	t.Run("AfterFirstAttempt", func(t *testing.T) {
		t.Parallel()
		client, queue := setupWith(t, lgRetries()...)
		var got []kubequeue.LogLine
		for line, err := range queue.Logs(lgWithTimeout(t, 10*time.Second), testHandle, kubequeue.LogOptions{Follow: true}) {
			require.NoError(t, err)
			got = append(got, line)
			if line.Attempt == 2 {
				break
			}
		}
		require.Equal(t, []kubequeue.LogLine{lgLine(1, "greet-1-zzzzz"), lgLine(2, "greet-1-aaaaa")}, got)
		require.Len(t, lgLogRequests(t, client), 2)
	})
	t.Run("OnError", func(t *testing.T) {
		t.Parallel()
		_, queue := setupWith(t)
		n := 0
		for _, err := range queue.Logs(t.Context(), testHandle, kubequeue.LogOptions{}) {
			n++
			require.ErrorIs(t, err, kubequeue.ErrJobNotFound)
			break
		}
		require.Equal(t, 1, n)
	})
}

// lgWithTimeout returns a context that ends after d, so that a Logs that
// follows too long fails the test, with an error that says so, instead of
// hanging it.
func lgWithTimeout(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeoutCause(t.Context(), d, fmt.Errorf("the test waited %s for the followed logs to end", d))
	t.Cleanup(cancel)
	return ctx
}

func TestQueue_Logs_Follow(t *testing.T) {
	t.Parallel()

	t.Run("FinishedJobEnds", func(t *testing.T) {
		t.Parallel()
		neverStarted := lgPod("greet-1-mmmmm", time.Minute, corev1.PodFailed, lgWaiting)
		client, queue := setupWith(t, lgJob(batchv1.JobSuccessCriteriaMet, batchv1.JobComplete),
			lgPod("greet-1-zzzzz", 0, corev1.PodFailed, lgTerminated),
			neverStarted,
			lgPod("greet-1-aaaaa", 2*time.Minute, corev1.PodSucceeded, lgTerminated),
		)
		lines, errs := lgCollect(queue.Logs(lgWithTimeout(t, 10*time.Second), testHandle, kubequeue.LogOptions{Follow: true}))
		require.Empty(t, errs, "following a finished Job ends without waiting")
		require.Equal(t, []kubequeue.LogLine{lgLine(1, "greet-1-zzzzz"), lgLine(3, "greet-1-aaaaa")}, lines)
		for _, po := range lgLogRequests(t, client) {
			require.False(t, po.Follow, "an ended pod's log is read, not followed")
		}
	})

	t.Run("FailedJobEnds", func(t *testing.T) {
		t.Parallel()
		_, queue := setupWith(t, lgJob(batchv1.JobFailureTarget, batchv1.JobFailed),
			lgPod("greet-1-zzzzz", 0, corev1.PodFailed, lgTerminated),
			// Deleted by the Job controller before it started.
			lgPod("greet-1-aaaaa", time.Minute, corev1.PodPending, lgWaiting),
		)
		lines, errs := lgCollect(queue.Logs(lgWithTimeout(t, 10*time.Second), testHandle, kubequeue.LogOptions{Follow: true}))
		require.Empty(t, errs)
		require.Equal(t, []kubequeue.LogLine{lgLine(1, "greet-1-zzzzz")}, lines)
	})

	t.Run("WaitsForContainerToStart", func(t *testing.T) {
		t.Parallel()
		client, queue := setupWith(t, lgJob(),
			lgPod("greet-1-zzzzz", 0, corev1.PodFailed, lgTerminated),
			lgPod("greet-1-aaaaa", time.Minute, corev1.PodPending, lgWaiting),
		)
		var lines []kubequeue.LogLine
		for line, err := range queue.Logs(lgWithTimeout(t, 10*time.Second), testHandle, kubequeue.LogOptions{Follow: true}) {
			require.NoError(t, err)
			lines = append(lines, line)
			if line.Attempt == 1 {
				// The second attempt starts and succeeds.
				require.NoError(t, client.Tracker().Update(corev1.SchemeGroupVersion.WithResource("pods"),
					lgPod("greet-1-aaaaa", time.Minute, corev1.PodRunning, lgRunning), testHandle.Namespace))
				require.NoError(t, client.Tracker().Update(batchv1.SchemeGroupVersion.WithResource("jobs"),
					lgJob(batchv1.JobSuccessCriteriaMet, batchv1.JobComplete), testHandle.Namespace))
			}
		}
		require.Equal(t, []kubequeue.LogLine{lgLine(1, "greet-1-zzzzz"), lgLine(2, "greet-1-aaaaa")}, lines)
		requests := lgLogRequests(t, client)
		require.Len(t, requests, 2)
		require.False(t, requests[0].Follow, "attempt 1 had ended")
		require.True(t, requests[1].Follow, "attempt 2 was running")
	})

	t.Run("NextAttempt", func(t *testing.T) {
		t.Parallel()
		client, queue := setupWith(t, lgJob(), lgPod("greet-1-zzzzz", 0, corev1.PodRunning, lgRunning))
		var lines []kubequeue.LogLine
		for line, err := range queue.Logs(lgWithTimeout(t, 10*time.Second), testHandle, kubequeue.LogOptions{Follow: true}) {
			require.NoError(t, err)
			lines = append(lines, line)
			if line.Attempt == 1 {
				// Attempt 1 fails, attempt 2 runs, and the Job succeeds.
				require.NoError(t, client.Tracker().Update(corev1.SchemeGroupVersion.WithResource("pods"),
					lgPod("greet-1-zzzzz", 0, corev1.PodFailed, lgTerminated), testHandle.Namespace))
				require.NoError(t, client.Tracker().Add(lgPod("greet-1-aaaaa", time.Minute, corev1.PodSucceeded, lgTerminated)))
				require.NoError(t, client.Tracker().Update(batchv1.SchemeGroupVersion.WithResource("jobs"),
					lgJob(batchv1.JobSuccessCriteriaMet, batchv1.JobComplete), testHandle.Namespace))
			}
		}
		require.Equal(t, []kubequeue.LogLine{lgLine(1, "greet-1-zzzzz"), lgLine(2, "greet-1-aaaaa")}, lines,
			"each attempt once, in order")
		require.Len(t, lgLogRequests(t, client), 2)
	})

	t.Run("AttemptEndsWithItsPod", func(t *testing.T) {
		t.Parallel()
		// Attempt 2 does not exist yet; it is created while Logs waits, and
		// once its log is read, Logs ends although the Job runs on.
		client, queue := setupWith(t, lgJob(), lgPod("greet-1-zzzzz", 0, corev1.PodFailed, lgTerminated))
		var gets atomic.Int32
		client.PrependReactor("get", "jobs", func(k8stesting.Action) (bool, runtime.Object, error) {
			if gets.Add(1) == 2 {
				require.NoError(t, client.Tracker().Add(lgPod("greet-1-aaaaa", time.Minute, corev1.PodRunning, lgRunning)))
			}
			return false, nil, nil
		})
		lines, errs := lgCollect(queue.Logs(lgWithTimeout(t, 10*time.Second), testHandle, kubequeue.LogOptions{Follow: true, Attempt: 2}))
		require.Empty(t, errs)
		require.Equal(t, []kubequeue.LogLine{lgLine(2, "greet-1-aaaaa")}, lines)
		requests := lgLogRequests(t, client)
		require.Len(t, requests, 1)
		require.True(t, requests[0].Follow)
	})

	t.Run("ContextCancelled", func(t *testing.T) {
		t.Parallel()
		_, queue := setupWith(t, lgJob(), lgPod("greet-1-zzzzz", 0, corev1.PodRunning, lgRunning))
		ctx, cancel := context.WithCancel(lgWithTimeout(t, 10*time.Second))
		defer cancel()
		var lines []kubequeue.LogLine
		var errs []error
		for line, err := range queue.Logs(ctx, testHandle, kubequeue.LogOptions{Follow: true}) {
			if err != nil {
				errs = append(errs, err)
				continue
			}
			lines = append(lines, line)
			cancel()
		}
		require.Equal(t, []kubequeue.LogLine{lgLine(1, "greet-1-zzzzz")}, lines)
		require.Len(t, errs, 1, "ctx's error ends the sequence")
		require.ErrorIs(t, errs[0], context.Canceled)
		require.ErrorContains(t, errs[0], "kubequeue: logs of job jobs/greet-1")
	})

	t.Run("JobDeletedWhileFollowing", func(t *testing.T) {
		t.Parallel()
		client, queue := setupWith(t, lgJob(), lgPod("greet-1-zzzzz", 0, corev1.PodRunning, lgRunning))
		var lines []kubequeue.LogLine
		var errs []error
		for line, err := range queue.Logs(lgWithTimeout(t, 10*time.Second), testHandle, kubequeue.LogOptions{Follow: true}) {
			if err != nil {
				errs = append(errs, err)
				continue
			}
			lines = append(lines, line)
			require.NoError(t, client.Tracker().Delete(batchv1.SchemeGroupVersion.WithResource("jobs"), testHandle.Namespace, testHandle.Name))
		}
		require.Len(t, lines, 1)
		require.Len(t, errs, 1)
		require.ErrorIs(t, errs[0], kubequeue.ErrJobNotFound)
	})
}

func TestQueue_Logs_InvalidOptions(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		opts  kubequeue.LogOptions
		field string
	}{
		{name: "NegativeAttempt", opts: kubequeue.LogOptions{Attempt: -1}, field: "LogOptions.Attempt"},
		{name: "NegativeTailLines", opts: kubequeue.LogOptions{TailLines: -10}, field: "LogOptions.TailLines"},
		{name: "NegativeSince", opts: kubequeue.LogOptions{Since: -time.Minute}, field: "LogOptions.Since"},
		{name: "SinceAndSinceTime", opts: kubequeue.LogOptions{Since: time.Minute, SinceTime: epoch}, field: "LogOptions.SinceTime"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			client, queue := setupWith(t)
			lines, errs := lgCollect(queue.Logs(t.Context(), testHandle, tt.opts))
			require.Empty(t, lines)
			require.Len(t, errs, 1)
			require.ErrorIs(t, errs[0], kubequeue.ErrInvalidOption)
			require.ErrorContains(t, errs[0], tt.field)
			var verr *kubequeue.ValidationError
			require.ErrorAs(t, errs[0], &verr)
			require.Equal(t, tt.field, verr.Field)
			require.Len(t, client.Actions(), 0, "invalid options must be refused before any API call")
		})
	}
}

func TestQueue_Logs_InvalidHandle(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		handle kubequeue.Handle
	}{
		{name: "Zero", handle: kubequeue.Handle{}},
		{name: "EmptyName", handle: kubequeue.Handle{Namespace: testHandle.Namespace}},
		{name: "EmptyNamespace", handle: kubequeue.Handle{Name: testHandle.Name}},
		{name: "BadNamespace", handle: kubequeue.Handle{Namespace: "Bad_NS", Name: testHandle.Name}},
		{name: "BadWorker", handle: kubequeue.Handle{Namespace: testHandle.Namespace, Name: testHandle.Name, Worker: "has space"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			client, queue := setupWith(t)
			lines, errs := lgCollect(queue.Logs(t.Context(), tt.handle, kubequeue.LogOptions{}))
			require.Empty(t, lines)
			require.Len(t, errs, 1)
			require.ErrorIs(t, errs[0], kubequeue.ErrInvalidHandle)
			requireNoAPICall(t, client)
		})
	}
}

func TestQueue_Logs_JobNotFound(t *testing.T) {
	t.Parallel()
	t.Run("Missing", func(t *testing.T) {
		t.Parallel()
		client, queue := setupWith(t)
		lines, errs := lgCollect(queue.Logs(t.Context(), testHandle, kubequeue.LogOptions{}))
		require.Empty(t, lines)
		require.Len(t, errs, 1)
		require.ErrorIs(t, errs[0], kubequeue.ErrJobNotFound)
		require.True(t, apierrors.IsNotFound(errs[0]))
		require.Len(t, client.Actions(), 1, "only the get of the Job")
	})
	t.Run("OtherUID", func(t *testing.T) {
		t.Parallel()
		client, queue := setupWith(t, lgRetries()...)
		h := testHandle
		h.UID = "uid-old"
		lines, errs := lgCollect(queue.Logs(t.Context(), h, kubequeue.LogOptions{}))
		require.Empty(t, lines, "the logs of a Job that took the name are not the handle's")
		require.Len(t, errs, 1)
		require.ErrorIs(t, errs[0], kubequeue.ErrJobNotFound)
		require.Empty(t, lgLogRequests(t, client))
	})
}

func TestQueue_Logs_APIErrors(t *testing.T) {
	t.Parallel()
	pods := schema.GroupResource{Resource: "pods"}

	t.Run("ListPods", func(t *testing.T) {
		t.Parallel()
		client, queue := setupWith(t, lgRetries()...)
		forbidden := apierrors.NewForbidden(pods, "", errors.New("rbac says no"))
		client.PrependReactor("list", "pods", func(k8stesting.Action) (bool, runtime.Object, error) {
			return true, nil, forbidden
		})
		lines, errs := lgCollect(queue.Logs(t.Context(), testHandle, kubequeue.LogOptions{}))
		require.Empty(t, lines)
		require.Len(t, errs, 1)
		require.True(t, apierrors.IsForbidden(errs[0]), "error %v lost its API type", errs[0])
		require.ErrorContains(t, errs[0], "kubequeue: list pods of job jobs/greet-1")
	})

	t.Run("PodLogForbidden", func(t *testing.T) {
		t.Parallel()
		client, queue := setupWith(t, lgRetries()...)
		client.PrependReactor("get", "pods", func(action k8stesting.Action) (bool, runtime.Object, error) {
			if action.GetSubresource() != "log" {
				return false, nil, nil
			}
			return true, nil, apierrors.NewForbidden(pods, "greet-1-zzzzz", errors.New("no pods/log"))
		})
		lines, errs := lgCollect(queue.Logs(t.Context(), testHandle, kubequeue.LogOptions{}))
		require.Empty(t, lines)
		require.Len(t, errs, 1, "an error ends the sequence")
		require.True(t, apierrors.IsForbidden(errs[0]), "error %v lost its API type", errs[0])
		require.ErrorContains(t, errs[0], "kubequeue: logs of attempt 1 of job jobs/greet-1 (pod greet-1-zzzzz)")
		require.Len(t, lgLogRequests(t, client), 1)
	})

	t.Run("PodGone", func(t *testing.T) {
		t.Parallel()
		// The first attempt's pod was deleted after it was listed: its log
		// is skipped and the next attempt's read.
		client, queue := setupWith(t, lgRetries()...)
		var calls atomic.Int32
		client.PrependReactor("get", "pods", func(action k8stesting.Action) (bool, runtime.Object, error) {
			if action.GetSubresource() != "log" || calls.Add(1) > 1 {
				return false, nil, nil
			}
			return true, nil, apierrors.NewNotFound(pods, "greet-1-zzzzz")
		})
		lines, errs := lgCollect(queue.Logs(t.Context(), testHandle, kubequeue.LogOptions{}))
		require.Empty(t, errs)
		require.Equal(t, []kubequeue.LogLine{lgLine(2, "greet-1-aaaaa"), lgLine(4, "greet-1-bbbbb"), lgLine(5, "greet-1-ccccc")}, lines)
	})
}

// TestQueue_Logs_ContainerNeverCreated: a pod whose container the runtime
// never created has no log; the next attempt's is read, under its own
// number.
func TestQueue_Logs_ContainerNeverCreated(t *testing.T) {
	t.Parallel()
	client, queue := setupWith(t, lgJob(batchv1.JobComplete),
		lgPod("greet-1-zzzzz", 0, corev1.PodFailed, lgNeverCreated),
		lgPod("greet-1-aaaaa", time.Minute, corev1.PodSucceeded, lgTerminated),
	)
	lines, errs := lgCollect(queue.Logs(t.Context(), testHandle, kubequeue.LogOptions{}))
	require.Empty(t, errs)
	require.Len(t, lines, 1)
	require.Equal(t, 2, lines[0].Attempt)
	require.Equal(t, "greet-1-aaaaa", lines[0].Pod)

	// The kubelet refusing the log of a pod that ended (400) skips it.
	client.PrependReactor("get", "pods", func(action k8stesting.Action) (bool, runtime.Object, error) {
		if action.GetSubresource() != "log" {
			return false, nil, nil
		}
		return true, nil, apierrors.NewBadRequest(`container "worker" in pod "greet-1-aaaaa" is terminated`)
	})
	lines, errs = lgCollect(queue.Logs(t.Context(), testHandle, kubequeue.LogOptions{}))
	require.Empty(t, errs)
	require.Empty(t, lines)
}
