package kubequeue_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
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
	"github.com/kubequeue/kubequeue/kubequeuetest"
)

func at(seconds int) metav1.Time {
	return metav1.NewTime(epoch.Add(time.Duration(seconds) * time.Second))
}

// cond is a Job condition as the Job controller writes it.
func cond(t batchv1.JobConditionType, status corev1.ConditionStatus, reason, message string, when int) batchv1.JobCondition {
	return batchv1.JobCondition{Type: t, Status: status, Reason: reason, Message: message, LastProbeTime: at(when), LastTransitionTime: at(when)}
}

// The condition sets the Job controller of Kubernetes v1.37 writes, as the
// integration tests (TestQueue_Wait_*, TestQueue_SuspendResume) log them.
var (
	successCriteriaMet = cond(batchv1.JobSuccessCriteriaMet, corev1.ConditionTrue, batchv1.JobReasonCompletionsReached, "Reached expected number of succeeded pods", 5)
	complete           = cond(batchv1.JobComplete, corev1.ConditionTrue, batchv1.JobReasonCompletionsReached, "Reached expected number of succeeded pods", 5)
	backoffTarget      = cond(batchv1.JobFailureTarget, corev1.ConditionTrue, batchv1.JobReasonBackoffLimitExceeded, "Job has reached the specified backoff limit", 9)
	backoffFailed      = cond(batchv1.JobFailed, corev1.ConditionTrue, batchv1.JobReasonBackoffLimitExceeded, "Job has reached the specified backoff limit", 9)
	policyMessage      = "Container worker for pod ns/greet-abc-x1 failed with exit code 42 matching FailJob rule at index 0"
	policyTarget       = cond(batchv1.JobFailureTarget, corev1.ConditionTrue, batchv1.JobReasonPodFailurePolicy, policyMessage, 3)
	policyFailed       = cond(batchv1.JobFailed, corev1.ConditionTrue, batchv1.JobReasonPodFailurePolicy, policyMessage, 3)
	deadlineTarget     = cond(batchv1.JobFailureTarget, corev1.ConditionTrue, batchv1.JobReasonDeadlineExceeded, "Job was active longer than specified deadline", 2)
	deadlineFailed     = cond(batchv1.JobFailed, corev1.ConditionTrue, batchv1.JobReasonDeadlineExceeded, "Job was active longer than specified deadline", 2)
	suspended          = cond(batchv1.JobSuspended, corev1.ConditionTrue, "JobSuspended", "Job suspended", 1)
	resumed            = cond(batchv1.JobSuspended, corev1.ConditionFalse, "JobResumed", "Job resumed", 2)
)

const testUID types.UID = "6b1f3d1e-0000-4000-8000-000000000001"

// testJob returns a Job as Enqueue creates it for the greet worker, with
// status st.
func testJob(t *testing.T, st batchv1.JobStatus) *batchv1.Job {
	t.Helper()
	_, queue := setup(t, kubequeue.WithDefaultNamespace("ns"))
	job, err := queue.Build(newGreeter(), greeting{Name: "Ada"}, kubequeue.WithJobName("greet-abc"))
	require.NoError(t, err)
	job.UID = testUID
	job.CreationTimestamp = at(0)
	job.Status = st
	return job
}

// testPod returns a pod of testJob's Job whose worker container is in
// state, created after the given seconds.
func testPod(name string, created int, phase corev1.PodPhase, state corev1.ContainerState) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: name, Namespace: "ns", UID: types.UID("pod-" + name), CreationTimestamp: at(created),
			Labels: map[string]string{batchv1.ControllerUidLabel: string(testUID), batchv1.JobNameLabel: "greet-abc"},
		},
		Status: corev1.PodStatus{Phase: phase, ContainerStatuses: []corev1.ContainerStatus{{Name: "worker", State: state}}},
	}
}

func exited(code int32, message string, finished int) corev1.ContainerState {
	return corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
		ExitCode: code, Message: message, StartedAt: at(finished - 1), FinishedAt: at(finished),
		Reason: map[bool]string{true: "Completed", false: "Error"}[code == 0],
	}}
}

func TestQueue_Status(t *testing.T) {
	t.Parallel()
	handle := kubequeue.Handle{Namespace: "ns", Name: "greet-abc", UID: testUID, Worker: "greet"}
	result := `{"sum":42,"note":"it's \"quoted\""}`
	tests := []struct {
		name   string
		status batchv1.JobStatus
		pods   []*corev1.Pod
		want   kubequeue.Status // Handle and Created are filled in
	}{
		{
			name: "Created",
			want: kubequeue.Status{State: kubequeue.StatePending},
		},
		{
			name:   "PodScheduled",
			status: batchv1.JobStatus{StartTime: ptr.To(at(1)), Active: 1, Ready: ptr.To[int32](0)},
			want:   kubequeue.Status{State: kubequeue.StatePending, Started: epoch.Add(time.Second), Active: 1},
		},
		{
			// The container runs; the Job controller, which writes a Job's
			// status at most once a second, has not counted it ready yet.
			name:   "RunningBeforeReady",
			status: batchv1.JobStatus{StartTime: ptr.To(at(1)), Active: 1, Ready: ptr.To[int32](0)},
			pods: []*corev1.Pod{testPod("greet-abc-x1", 1, corev1.PodRunning, corev1.ContainerState{
				Running: &corev1.ContainerStateRunning{StartedAt: at(2)},
			})},
			want: kubequeue.Status{State: kubequeue.StateRunning, Started: epoch.Add(time.Second), Active: 1},
		},
		{
			name:   "Running",
			status: batchv1.JobStatus{StartTime: ptr.To(at(1)), Active: 1, Ready: ptr.To[int32](1)},
			want:   kubequeue.Status{State: kubequeue.StateRunning, Started: epoch.Add(time.Second), Active: 1},
		},
		{
			name:   "WaitingToRetry",
			status: batchv1.JobStatus{StartTime: ptr.To(at(1)), Failed: 1, Ready: ptr.To[int32](0)},
			pods:   []*corev1.Pod{testPod("greet-abc-x1", 1, corev1.PodFailed, exited(1, "boom", 3))},
			want:   kubequeue.Status{State: kubequeue.StatePending, Started: epoch.Add(time.Second), Failures: 1, ExitCode: 1, TerminationMessage: "boom"},
		},
		{
			name:   "Suspended",
			status: batchv1.JobStatus{Conditions: []batchv1.JobCondition{suspended}, Ready: ptr.To[int32](0)},
			want:   kubequeue.Status{State: kubequeue.StateSuspended},
		},
		{
			name:   "Resumed",
			status: batchv1.JobStatus{Conditions: []batchv1.JobCondition{resumed}, StartTime: ptr.To(at(2)), Active: 1, Ready: ptr.To[int32](1)},
			want:   kubequeue.Status{State: kubequeue.StateRunning, Started: epoch.Add(2 * time.Second), Active: 1},
		},
		{
			name:   "SuccessCriteriaMet",
			status: batchv1.JobStatus{Conditions: []batchv1.JobCondition{successCriteriaMet}, StartTime: ptr.To(at(1)), Ready: ptr.To[int32](0)},
			want:   kubequeue.Status{State: kubequeue.StateRunning, Started: epoch.Add(time.Second)},
		},
		{
			name: "Succeeded",
			status: batchv1.JobStatus{
				Conditions: []batchv1.JobCondition{successCriteriaMet, complete}, StartTime: ptr.To(at(1)), CompletionTime: ptr.To(at(5)),
				Succeeded: 1, Ready: ptr.To[int32](0),
			},
			pods: []*corev1.Pod{testPod("greet-abc-x1", 1, corev1.PodSucceeded, exited(0, result, 4))},
			want: kubequeue.Status{
				State: kubequeue.StateSucceeded, Started: epoch.Add(time.Second), Finished: epoch.Add(5 * time.Second),
				Result: kubequeue.Result(result),
			},
		},
		{
			name: "SucceededWithoutResult",
			status: batchv1.JobStatus{
				Conditions: []batchv1.JobCondition{successCriteriaMet, complete}, StartTime: ptr.To(at(1)), CompletionTime: ptr.To(at(5)), Succeeded: 1,
			},
			pods: []*corev1.Pod{testPod("greet-abc-x1", 1, corev1.PodSucceeded, exited(0, "", 4))},
			want: kubequeue.Status{State: kubequeue.StateSucceeded, Started: epoch.Add(time.Second), Finished: epoch.Add(5 * time.Second)},
		},
		{
			name: "SucceededWithTextMessage",
			status: batchv1.JobStatus{
				Conditions: []batchv1.JobCondition{successCriteriaMet, complete}, StartTime: ptr.To(at(1)), CompletionTime: ptr.To(at(5)), Succeeded: 1,
			},
			pods: []*corev1.Pod{testPod("greet-abc-x1", 1, corev1.PodSucceeded, exited(0, "done, not JSON", 4))},
			want: kubequeue.Status{State: kubequeue.StateSucceeded, Started: epoch.Add(time.Second), Finished: epoch.Add(5 * time.Second)},
		},
		{
			name: "SucceededOnRetry",
			status: batchv1.JobStatus{
				Conditions: []batchv1.JobCondition{successCriteriaMet, complete}, StartTime: ptr.To(at(1)), CompletionTime: ptr.To(at(15)),
				Succeeded: 1, Failed: 1,
			},
			pods: []*corev1.Pod{
				testPod("greet-abc-x2", 12, corev1.PodSucceeded, exited(0, result, 14)),
				testPod("greet-abc-x1", 1, corev1.PodFailed, exited(1, "the first attempt failed", 3)),
			},
			want: kubequeue.Status{
				State: kubequeue.StateSucceeded, Started: epoch.Add(time.Second), Finished: epoch.Add(15 * time.Second), Failures: 1,
				ExitCode: 1, TerminationMessage: "the first attempt failed", Result: kubequeue.Result(result),
			},
		},
		{
			name:   "BoundToFail",
			status: batchv1.JobStatus{Conditions: []batchv1.JobCondition{backoffTarget}, StartTime: ptr.To(at(1)), Failed: 2},
			pods: []*corev1.Pod{
				testPod("greet-abc-x1", 1, corev1.PodFailed, exited(1, "first", 3)),
				testPod("greet-abc-x2", 12, corev1.PodFailed, exited(1, "second", 14)),
			},
			want: kubequeue.Status{
				State: kubequeue.StateRunning, Started: epoch.Add(time.Second), Failures: 2,
				Reason: batchv1.JobReasonBackoffLimitExceeded, Message: "Job has reached the specified backoff limit",
				ExitCode: 1, TerminationMessage: "second",
			},
		},
		{
			name:   "BackoffLimitExceeded",
			status: batchv1.JobStatus{Conditions: []batchv1.JobCondition{backoffTarget, backoffFailed}, StartTime: ptr.To(at(1)), Failed: 2},
			pods: []*corev1.Pod{
				testPod("greet-abc-x2", 12, corev1.PodFailed, exited(1, "second", 14)),
				testPod("greet-abc-x1", 1, corev1.PodFailed, exited(1, "first", 3)),
			},
			want: kubequeue.Status{
				State: kubequeue.StateFailed, Started: epoch.Add(time.Second), Finished: epoch.Add(9 * time.Second), Failures: 2,
				Reason: batchv1.JobReasonBackoffLimitExceeded, Message: "Job has reached the specified backoff limit",
				ExitCode: 1, TerminationMessage: "second",
			},
		},
		{
			name:   "PodFailurePolicy",
			status: batchv1.JobStatus{Conditions: []batchv1.JobCondition{policyTarget, policyFailed}, StartTime: ptr.To(at(1)), Failed: 1},
			pods:   []*corev1.Pod{testPod("greet-abc-x1", 1, corev1.PodFailed, exited(42, "this payload can never succeed", 2))},
			want: kubequeue.Status{
				State: kubequeue.StateFailed, Started: epoch.Add(time.Second), Finished: epoch.Add(3 * time.Second), Failures: 1,
				Reason: batchv1.JobReasonPodFailurePolicy, Message: policyMessage,
				ExitCode: kubequeue.ExitPermanent, TerminationMessage: "this payload can never succeed",
			},
		},
		{
			// The Job controller deleted the running pod: nothing tells its
			// exit code, and the failure is not counted yet.
			name:   "DeadlineExceeded",
			status: batchv1.JobStatus{Conditions: []batchv1.JobCondition{deadlineTarget, deadlineFailed}, StartTime: ptr.To(at(0))},
			want: kubequeue.Status{
				State: kubequeue.StateFailed, Started: epoch, Finished: epoch.Add(2 * time.Second),
				Reason: batchv1.JobReasonDeadlineExceeded, Message: "Job was active longer than specified deadline",
			},
		},
		{
			// restartPolicy OnFailure: the container restarted in its pod,
			// which the Job controller deletes when the Job fails.
			name:   "FailedAfterRestartsInPlace",
			status: batchv1.JobStatus{Conditions: []batchv1.JobCondition{backoffTarget, backoffFailed}, StartTime: ptr.To(at(1)), Failed: 1},
			pods: []*corev1.Pod{func() *corev1.Pod {
				p := testPod("greet-abc-x1", 1, corev1.PodRunning, corev1.ContainerState{
					Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"},
				})
				p.Status.ContainerStatuses[0].LastTerminationState = exited(3, "failed in place", 8)
				p.Status.ContainerStatuses[0].RestartCount = 2
				return p
			}()},
			want: kubequeue.Status{
				State: kubequeue.StateFailed, Started: epoch.Add(time.Second), Finished: epoch.Add(9 * time.Second), Failures: 1,
				Reason: batchv1.JobReasonBackoffLimitExceeded, Message: "Job has reached the specified backoff limit",
				ExitCode: 3, TerminationMessage: "failed in place",
			},
		},
		{
			name:   "PodOfAnotherJob",
			status: batchv1.JobStatus{Conditions: []batchv1.JobCondition{backoffTarget, backoffFailed}, StartTime: ptr.To(at(1)), Failed: 1},
			pods: []*corev1.Pod{func() *corev1.Pod {
				p := testPod("other-x1", 1, corev1.PodFailed, exited(3, "not ours", 2))
				p.Labels[batchv1.ControllerUidLabel] = "another-uid"
				return p
			}()},
			want: kubequeue.Status{
				State: kubequeue.StateFailed, Started: epoch.Add(time.Second), Finished: epoch.Add(9 * time.Second), Failures: 1,
				Reason: batchv1.JobReasonBackoffLimitExceeded, Message: "Job has reached the specified backoff limit",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			client := fake.NewClientset(testJob(t, tt.status))
			for _, p := range tt.pods {
				require.NoError(t, client.Tracker().Add(p))
			}
			queue := newQueue(t, client)
			got, err := queue.Status(t.Context(), handle)
			require.NoError(t, err)
			want := tt.want
			want.Handle, want.Created = handle, epoch
			requireStatus(t, want, got)

			// The pods are read only when they tell more than the Job.
			reads := 1
			pendingActive := tt.status.Active > 0 && (tt.status.Ready == nil || *tt.status.Ready == 0)
			if pendingActive || tt.status.Failed > 0 || want.State == kubequeue.StateSucceeded {
				reads = 2
			}
			require.Len(t, client.Actions(), reads)
		})
	}
}

// requireStatus compares the exported fields of two Status values.
func requireStatus(t *testing.T, want, got kubequeue.Status) {
	t.Helper()
	w, err := json.Marshal(want)
	require.NoError(t, err)
	g, err := json.Marshal(got)
	require.NoError(t, err)
	require.JSONEq(t, string(w), string(g))
}

func TestStatus_Err(t *testing.T) {
	t.Parallel()
	h := kubequeue.Handle{Namespace: "ns", Name: "greet-abc"}
	tests := []struct {
		name      string
		st        kubequeue.Status
		want      string // "" for nil
		permanent bool
	}{
		{name: "Succeeded", st: kubequeue.Status{Handle: h, State: kubequeue.StateSucceeded}},
		{name: "Running", st: kubequeue.Status{Handle: h, State: kubequeue.StateRunning, Reason: "BackoffLimitExceeded"}},
		{
			name: "BackoffLimitExceeded",
			st: kubequeue.Status{
				Handle: h, State: kubequeue.StateFailed, Reason: "BackoffLimitExceeded", Message: "Job has reached the specified backoff limit",
				ExitCode: 1, TerminationMessage: "charge card: connection refused",
			},
			want: "kubequeue: job ns/greet-abc failed: BackoffLimitExceeded (Job has reached the specified backoff limit): last attempt exited with code 1: charge card: connection refused",
		},
		{
			name: "Permanent",
			st:   kubequeue.Status{Handle: h, State: kubequeue.StateFailed, Reason: "PodFailurePolicy", ExitCode: 42, TerminationMessage: "no such user"},
			want: "kubequeue: job ns/greet-abc failed: PodFailurePolicy: last attempt exited with code 42: no such user", permanent: true,
		},
		{
			name: "LogTail",
			st:   kubequeue.Status{Handle: h, State: kubequeue.StateFailed, Reason: "BackoffLimitExceeded", ExitCode: 2, TerminationMessage: "line 1\nline 2\nfatal: out of memory\n"},
			want: "kubequeue: job ns/greet-abc failed: BackoffLimitExceeded: last attempt exited with code 2: fatal: out of memory",
		},
		{
			name: "NothingKnown",
			st:   kubequeue.Status{Handle: h, State: kubequeue.StateFailed},
			want: "kubequeue: job ns/greet-abc failed",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.st.Err()
			if tt.want == "" {
				require.NoError(t, err)
				return
			}
			require.EqualError(t, err, tt.want)
			require.ErrorIs(t, err, kubequeue.ErrJobFailed)
			require.Equal(t, tt.permanent, errors.Is(err, kubequeue.ErrPermanent))
			var failed *kubequeue.JobFailedError
			require.ErrorAs(t, err, &failed)
			require.Equal(t, tt.st.Reason, failed.Reason)
			require.Equal(t, tt.st.ExitCode, failed.ExitCode)
			require.Equal(t, tt.st.TerminationMessage, failed.TerminationMessage)
		})
	}
}

func TestStatus_DecodeResult(t *testing.T) {
	t.Parallel()
	type sum struct {
		Sum int `json:"sum"`
	}
	st := kubequeue.Status{State: kubequeue.StateSucceeded, Result: kubequeue.Result(`{"sum":42}`)}
	var got sum
	require.NoError(t, st.DecodeResult(&got))
	require.Equal(t, sum{42}, got)

	require.ErrorContains(t, st.DecodeResult(got), "kubequeue: decode result of job", "not a pointer")
	var wrong []string
	require.Error(t, st.DecodeResult(&wrong))

	// A termination message that is not JSON is not reported as no result.
	client := fake.NewClientset(testJob(t, batchv1.JobStatus{Conditions: []batchv1.JobCondition{successCriteriaMet, complete}, Succeeded: 1}))
	require.NoError(t, client.Tracker().Add(testPod("greet-abc-x1", 1, corev1.PodSucceeded, exited(0, `{"sum":4`, 2))))
	text, err := newQueue(t, client).Status(t.Context(), kubequeue.HandleFor(testJob(t, batchv1.JobStatus{})))
	require.NoError(t, err)
	require.Nil(t, text.Result)
	err = text.DecodeResult(&got)
	require.ErrorContains(t, err, "is not JSON (8 bytes; cut by the kubelet")
	require.NotErrorIs(t, err, kubequeue.ErrNoResult)
	require.ErrorIs(t, kubequeue.Status{State: kubequeue.StateFailed}.DecodeResult(&got), kubequeue.ErrNoResult)
}

// TestStatus_Print checks that a Status printed with %v or %+v, as in a
// log line, shows its result as JSON rather than as bytes, and that a
// Status encoded as JSON and decoded again keeps it.
func TestStatus_Print(t *testing.T) {
	t.Parallel()
	queue, client := fakeQueue(t)
	h, err := queue.Enqueue(t.Context(), newGreeter(), greeting{Name: "Ada"})
	require.NoError(t, err)
	require.NoError(t, kubequeuetest.SetSucceeded(t.Context(), client, h, map[string]string{"greeted": "Ada"}))
	st, err := queue.Status(t.Context(), h)
	require.NoError(t, err)

	require.Contains(t, fmt.Sprintf("%+v", st), ` Result:{"greeted":"Ada"}`)
	require.NotContains(t, fmt.Sprintf("%+v", st), "Result:[")
	require.NotContains(t, fmt.Sprintf("%v", st), "[123 34 ")
	require.Equal(t, `{"greeted":"Ada"}`, fmt.Sprint(st.Result))

	data, err := json.Marshal(st)
	require.NoError(t, err)
	require.Contains(t, string(data), `"result":{"greeted":"Ada"}`)
	var back kubequeue.Status
	require.NoError(t, json.Unmarshal(data, &back))
	var got map[string]string
	require.NoError(t, back.DecodeResult(&got))
	require.Equal(t, map[string]string{"greeted": "Ada"}, got)

	st.Result = nil
	require.Contains(t, fmt.Sprintf("%+v", st), "Result: ")
	data, err = json.Marshal(st)
	require.NoError(t, err)
	require.NotContains(t, string(data), `"result"`)
}

func TestState_Done(t *testing.T) {
	t.Parallel()
	for state, done := range map[kubequeue.State]bool{
		kubequeue.StatePending: false, kubequeue.StateSuspended: false, kubequeue.StateRunning: false,
		kubequeue.StateQueued: false, kubequeue.StatePreempted: false,
		kubequeue.StateSucceeded: true, kubequeue.StateFailed: true,
	} {
		require.Equal(t, done, state.Done(), state)
	}
}

// failPodReads makes the lists of a Job's pods by its UID (the reads of
// Status, and of a finished Job whose pods WaitAll has not cached; not the
// lists of WaitAll's informer) fail with err, the first n times, or always
// when n is negative. It returns the number of such lists made.
func failPodReads(client *fake.Clientset, n int, err error) *atomic.Int32 {
	var lists atomic.Int32
	client.PrependReactor("list", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if !strings.Contains(a.(k8stesting.ListAction).GetListRestrictions().Labels.String(), batchv1.ControllerUidLabel) {
			return false, nil, nil
		}
		if i := lists.Add(1); n < 0 || int(i) <= n {
			return true, nil, err
		}
		return false, nil, nil
	})
	return &lists
}

var errUnavailable = apierrors.NewServiceUnavailable("the API server is restarting")

// TestQueue_Status_PodsUnreadable: a transient error reading a finished
// Job's pods is tried again; when the pods cannot be read, the Job's final
// state is still reported, without an error, and DecodeResult says why
// there is no result.
func TestQueue_Status_PodsUnreadable(t *testing.T) {
	t.Parallel()
	succeeded := batchv1.JobStatus{Conditions: []batchv1.JobCondition{successCriteriaMet, complete}, Succeeded: 1, CompletionTime: ptr.To(at(5))}
	result := exited(0, `{"sum":42}`, 4)

	t.Run("Retried", func(t *testing.T) {
		t.Parallel()
		client := fake.NewClientset(testJob(t, succeeded), testPod("greet-abc-x1", 1, corev1.PodSucceeded, result))
		lists := failPodReads(client, 1, errUnavailable)
		st, err := newQueue(t, client).Status(t.Context(), kubequeue.HandleFor(testJob(t, succeeded)))
		require.NoError(t, err)
		require.Equal(t, kubequeue.StateSucceeded, st.State)
		require.Equal(t, `{"sum":42}`, st.Result.String(), "read on the second try")
		require.Equal(t, int32(2), lists.Load())
	})

	for _, tt := range []struct {
		name  string
		err   error
		lists int32
	}{
		{"Transient", errUnavailable, 2}, // each of the queue's 2 tries
		{"Forbidden", apierrors.NewForbidden(schema.GroupResource{Resource: "pods"}, "", errors.New("RBAC")), 1}, // not tried again
	} {
		t.Run("Succeeded"+tt.name, func(t *testing.T) {
			t.Parallel()
			client := fake.NewClientset(testJob(t, succeeded), testPod("greet-abc-x1", 1, corev1.PodSucceeded, result))
			lists := failPodReads(client, -1, tt.err)
			st, err := newQueue(t, client, kubequeue.WithRetries(2)).Status(t.Context(), kubequeue.HandleFor(testJob(t, succeeded)))
			require.NoError(t, err, "the Job succeeded: a caller must not run it again")
			require.Equal(t, kubequeue.StateSucceeded, st.State)
			require.Equal(t, at(5).Time, st.Finished)
			require.Nil(t, st.Result)
			err = st.DecodeResult(new(any))
			require.ErrorIs(t, err, kubequeue.ErrNoResult)
			require.ErrorIs(t, err, tt.err)
			require.ErrorContains(t, err, "could not be read")
			require.Equal(t, tt.lists, lists.Load())
		})
	}

	t.Run("Failed", func(t *testing.T) {
		t.Parallel()
		failed := batchv1.JobStatus{Conditions: []batchv1.JobCondition{backoffTarget, backoffFailed}, Failed: 1}
		client := fake.NewClientset(testJob(t, failed))
		failPodReads(client, -1, errUnavailable)
		st, err := newQueue(t, client, kubequeue.WithRetries(2)).Status(t.Context(), kubequeue.HandleFor(testJob(t, failed)))
		require.NoError(t, err)
		require.Equal(t, kubequeue.StateFailed, st.State)
		require.Equal(t, batchv1.JobReasonBackoffLimitExceeded, st.Reason)
		require.Zero(t, st.ExitCode, "unknown")
	})

	t.Run("Running", func(t *testing.T) {
		t.Parallel()
		// A Job not finished is not summed up without its pods: the
		// error is returned.
		active := batchv1.JobStatus{Active: 1, Ready: ptr.To(int32(0)), StartTime: ptr.To(at(1))}
		client := fake.NewClientset(testJob(t, active))
		failPodReads(client, -1, errUnavailable)
		_, err := newQueue(t, client, kubequeue.WithRetries(2)).Status(t.Context(), kubequeue.HandleFor(testJob(t, active)))
		require.True(t, apierrors.IsServiceUnavailable(err), "%v", err)
	})
}
