package kubequeue_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/ptr"

	"github.com/kubequeue/kubequeue"
)

// gateClock is the queue's clock in the gate tests.
var gateClock = time.Date(2026, 5, 6, 7, 8, 9, 123_456_789, time.UTC)

// gateQueue returns a fake clientset and a queue on it whose clock reads
// gateClock.
func gateQueue(t *testing.T) (*fake.Clientset, *kubequeue.Queue) {
	t.Helper()
	return setup(t, kubequeue.WithClock(func() time.Time { return gateClock }))
}

var (
	depA = kubequeue.Handle{Namespace: "default", Name: "a", UID: "uid-a"}
	depB = kubequeue.Handle{Namespace: "default", Name: "b", UID: "uid-b"}
)

func TestQueue_Build_Gates(t *testing.T) {
	t.Parallel()
	runAt := time.Date(2026, 5, 6, 8, 0, 0, 0, time.FixedZone("CEST", 2*3600))
	tests := []struct {
		name   string
		worker []kubequeue.WorkerOption
		call   []kubequeue.EnqueueOption
		want   map[string]string // the gate annotations
	}{
		{name: "None", want: nil},
		{name: "RunAt", call: []kubequeue.EnqueueOption{kubequeue.WithRunAt(runAt)},
			want: map[string]string{kubequeue.AnnotationRunAt: "2026-05-06T06:00:00.000Z"}},
		{name: "PastRunAt", call: []kubequeue.EnqueueOption{kubequeue.WithRunAt(time.Unix(0, 0))},
			want: map[string]string{kubequeue.AnnotationRunAt: "1970-01-01T00:00:00.000Z"}},
		{name: "Delay", call: []kubequeue.EnqueueOption{kubequeue.WithDelay(90 * time.Second)},
			want: map[string]string{kubequeue.AnnotationRunAt: "2026-05-06T07:09:39.123Z"}},
		{name: "DelayReplacesRunAt", call: []kubequeue.EnqueueOption{kubequeue.WithRunAt(runAt), kubequeue.WithDelay(0)},
			want: map[string]string{kubequeue.AnnotationRunAt: "2026-05-06T07:08:09.123Z"}},
		{name: "WorkerDelay", worker: []kubequeue.WorkerOption{kubequeue.WithDelay(time.Minute)},
			want: map[string]string{kubequeue.AnnotationRunAt: "2026-05-06T07:09:09.123Z"}},
		{name: "CallOverridesWorker", worker: []kubequeue.WorkerOption{kubequeue.WithDelay(time.Minute)}, call: []kubequeue.EnqueueOption{kubequeue.WithRunAt(runAt)},
			want: map[string]string{kubequeue.AnnotationRunAt: "2026-05-06T06:00:00.000Z"}},
		{name: "ConcurrencyKey", call: []kubequeue.EnqueueOption{kubequeue.WithConcurrencyKey("reports", 3)},
			want: map[string]string{kubequeue.AnnotationConcurrencyKey: "reports", kubequeue.AnnotationConcurrencyLimit: "3"}},
		{name: "CallKeyOverridesWorker", worker: []kubequeue.WorkerOption{kubequeue.WithConcurrencyKey("reports", 3)}, call: []kubequeue.EnqueueOption{kubequeue.WithConcurrencyKey("exports", 1)},
			want: map[string]string{kubequeue.AnnotationConcurrencyKey: "exports", kubequeue.AnnotationConcurrencyLimit: "1"}},
		{name: "After", call: []kubequeue.EnqueueOption{kubequeue.WithAfter(depA), kubequeue.WithAfter(depB, depA)},
			want: map[string]string{kubequeue.AnnotationAfter: `[{"name":"a","uid":"uid-a"},{"name":"b","uid":"uid-b"}]`}},
		{name: "AfterAddsToWorker", worker: []kubequeue.WorkerOption{kubequeue.WithAfter(depA)}, call: []kubequeue.EnqueueOption{kubequeue.WithAfter(depB), kubequeue.WithAfterAnyOutcome()},
			want: map[string]string{kubequeue.AnnotationAfter: `[{"name":"a","uid":"uid-a"},{"name":"b","uid":"uid-b"}]`, kubequeue.AnnotationAfterAnyOutcome: "true"}},
		{name: "Combined", call: []kubequeue.EnqueueOption{kubequeue.WithRunAt(runAt), kubequeue.WithConcurrencyKey("reports", 2), kubequeue.WithAfter(depA)},
			want: map[string]string{
				kubequeue.AnnotationRunAt:          "2026-05-06T06:00:00.000Z",
				kubequeue.AnnotationConcurrencyKey: "reports", kubequeue.AnnotationConcurrencyLimit: "2",
				kubequeue.AnnotationAfter: `[{"name":"a","uid":"uid-a"}]`,
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, queue := gateQueue(t)
			job, err := queue.Build(newGreeter(tt.worker...), greeting{Name: "x"}, tt.call...)
			require.NoError(t, err)
			got := make(map[string]string)
			for k, v := range job.Annotations {
				if strings.HasPrefix(k, "kubequeue.io/") && k != kubequeue.AnnotationQueuedAt {
					got[k] = v
				}
			}
			if tt.want == nil {
				require.Empty(t, got)
				require.NotContains(t, job.Annotations, kubequeue.AnnotationQueuedAt)
				require.Nil(t, job.Spec.Suspend)
				return
			}
			require.Equal(t, tt.want, got)
			require.Equal(t, "2026-05-06T07:08:09.123456789Z", job.Annotations[kubequeue.AnnotationQueuedAt])
			require.Equal(t, ptr.To(true), job.Spec.Suspend, "a gated Job is created suspended")
		})
	}
}

func TestQueue_Build_GatesInvalid(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		worker []kubequeue.WorkerOption
		call   []kubequeue.EnqueueOption
		want   error
		say    string
	}{
		{name: "ZeroRunAt", call: []kubequeue.EnqueueOption{kubequeue.WithRunAt(time.Time{})}, want: kubequeue.ErrInvalidOption, say: "WithRunAt"},
		{name: "NegativeDelay", call: []kubequeue.EnqueueOption{kubequeue.WithDelay(-time.Second)}, want: kubequeue.ErrInvalidOption, say: "must not be negative"},
		{name: "EmptyKey", call: []kubequeue.EnqueueOption{kubequeue.WithConcurrencyKey("", 1)}, want: kubequeue.ErrInvalidOption, say: "the key must not be empty"},
		{name: "InvalidKey", call: []kubequeue.EnqueueOption{kubequeue.WithConcurrencyKey("a/b", 1)}, want: kubequeue.ErrInvalidOption, say: `WithConcurrencyKey "a/b"`},
		{name: "ZeroLimit", call: []kubequeue.EnqueueOption{kubequeue.WithConcurrencyKey("k", 0)}, want: kubequeue.ErrInvalidOption, say: "limit"},
		{name: "NegativeLimit", call: []kubequeue.EnqueueOption{kubequeue.WithConcurrencyKey("k", -2)}, want: kubequeue.ErrInvalidOption, say: "must be positive"},
		{name: "WorkerZeroLimit", worker: []kubequeue.WorkerOption{kubequeue.WithConcurrencyKey("k", 0)}, want: kubequeue.ErrInvalidWorker, say: "must be positive"},
		{name: "AfterOtherNamespace", call: []kubequeue.EnqueueOption{kubequeue.WithAfter(kubequeue.Handle{Namespace: "other", Name: "a", UID: "u"})}, want: kubequeue.ErrInvalidOption, say: "namespace default"},
		{name: "AfterWithoutUID", call: []kubequeue.EnqueueOption{kubequeue.WithAfter(kubequeue.Handle{Namespace: "default", Name: "a"})}, want: kubequeue.ErrInvalidOption, say: "no UID"},
		{name: "AfterInvalidHandle", call: []kubequeue.EnqueueOption{kubequeue.WithAfter(kubequeue.Handle{Name: "a", UID: "u"})}, want: kubequeue.ErrInvalidOption, say: "Handle.Namespace"},
		{name: "AfterItself", call: []kubequeue.EnqueueOption{kubequeue.WithJobName("me"), kubequeue.WithAfter(kubequeue.Handle{Namespace: "default", Name: "me", UID: "u"})}, want: kubequeue.ErrInvalidOption, say: "names the Job itself"},
		{name: "AnyOutcomeAlone", call: []kubequeue.EnqueueOption{kubequeue.WithAfterAnyOutcome(), kubequeue.WithDelay(0)}, want: kubequeue.ErrInvalidOption, say: "needs WithAfter"},
		{name: "Kueue", call: []kubequeue.EnqueueOption{kubequeue.WithLabels(map[string]string{kubequeue.LabelKueueQueue: "q"}), kubequeue.WithDelay(time.Second)}, want: kubequeue.ErrInvalidOption, say: "Kueue"},
		{name: "SuspendedByMutator", call: []kubequeue.EnqueueOption{kubequeue.WithDelay(time.Second), kubequeue.WithJobMutator(func(j *batchv1.Job) { j.Spec.Suspend = ptr.To(true) })}, want: kubequeue.ErrInvalidOption, say: "Queue.Suspend"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			client, queue := gateQueue(t)
			_, err := queue.Enqueue(t.Context(), newGreeter(tt.worker...), greeting{}, tt.call...)
			require.ErrorIs(t, err, tt.want)
			require.ErrorContains(t, err, tt.say)
			require.Empty(t, client.Actions(), "no API call for bad input")
		})
	}
}

// TestQueue_Enqueue_GatedSecret: a gated Job whose payload travels in a
// Secret stays suspended after Enqueue stored the Secret: the release
// controller resumes it, not Enqueue.
func TestQueue_Enqueue_GatedSecret(t *testing.T) {
	t.Parallel()
	client, queue := gateQueue(t)
	h, err := queue.Enqueue(t.Context(), newGreeter(), greeting{Name: "x"}, kubequeue.WithSensitivePayload(), kubequeue.WithDelay(time.Minute))
	require.NoError(t, err)
	job, err := client.BatchV1().Jobs(h.Namespace).Get(t.Context(), h.Name, metav1.GetOptions{})
	require.NoError(t, err)
	require.Equal(t, ptr.To(true), job.Spec.Suspend)
	require.NotContains(t, job.Annotations, "kubequeue.io/resume", "the payload is stored")
	require.Contains(t, job.Annotations, kubequeue.AnnotationRunAt)
	secrets, err := client.CoreV1().Secrets(h.Namespace).List(t.Context(), metav1.ListOptions{})
	require.NoError(t, err)
	require.Len(t, secrets.Items, 1)

	st, err := queue.Status(t.Context(), h)
	require.NoError(t, err)
	require.Equal(t, kubequeue.StateWaiting, st.State)
	require.Equal(t, kubequeue.GateRunAt, st.Gate.Kind)
}

// gatedJob is a kubequeue Job of namespace default, suspended, with the
// given annotations and creation time epoch+created seconds.
func gatedJob(name, uid string, created int, annotations map[string]string) *batchv1.Job {
	return &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: "default", Name: name, UID: types.UID(uid),
			CreationTimestamp: at(created),
			Labels:            map[string]string{kubequeue.LabelManagedBy: "kubequeue", kubequeue.LabelWorker: "greet"},
			Annotations:       annotations,
		},
		Spec: batchv1.JobSpec{Suspend: ptr.To(true)},
	}
}

// finishedJob is a kubequeue Job of namespace default that finished with
// the condition c.
func finishedJob(name, uid string, c batchv1.JobCondition) *batchv1.Job {
	job := gatedJob(name, uid, 0, nil)
	job.Spec.Suspend = ptr.To(false)
	job.Status.Conditions = []batchv1.JobCondition{c}
	return job
}

func TestQueue_Status_Waiting(t *testing.T) {
	t.Parallel()
	future := gateClock.Add(time.Hour).Format(time.RFC3339Nano)
	past := gateClock.Add(-time.Hour).Format(time.RFC3339Nano)
	key := func(created int) *batchv1.Job {
		return gatedJob("k"+string(rune('0'+created)), "uid-k"+string(rune('0'+created)), created, map[string]string{
			kubequeue.AnnotationConcurrencyKey: "reports", kubequeue.AnnotationConcurrencyLimit: "1",
		})
	}
	runningOfKey := key(0)
	runningOfKey.Spec.Suspend = ptr.To(false)
	runningOfKey.Annotations[kubequeue.AnnotationReleased] = past
	complete := cond(batchv1.JobComplete, corev1.ConditionTrue, "", "", 5)
	failedCond := cond(batchv1.JobFailed, corev1.ConditionTrue, batchv1.JobReasonBackoffLimitExceeded, "", 5)
	tests := []struct {
		name    string
		job     *batchv1.Job
		others  []*batchv1.Job
		want    kubequeue.Gate
		message string
	}{
		{name: "RunAt", job: gatedJob("j", "uid-j", 0, map[string]string{kubequeue.AnnotationRunAt: future}),
			want: kubequeue.Gate{Kind: kubequeue.GateRunAt, RunAt: gateClock.Add(time.Hour)}, message: "waits until 2026-05-06T08:08:09.123Z"},
		{name: "RunAtPassed", job: gatedJob("j", "uid-j", 0, map[string]string{kubequeue.AnnotationRunAt: past}),
			want: kubequeue.Gate{Kind: kubequeue.GateRelease, RunAt: gateClock.Add(-time.Hour)}, message: "waits for the release controller"},
		{name: "AfterRunning", job: gatedJob("j", "uid-j", 0, map[string]string{kubequeue.AnnotationAfter: `[{"name":"a","uid":"uid-a"},{"name":"b","uid":"uid-b"}]`}),
			others: []*batchv1.Job{finishedJob("a", "uid-a", complete), gatedJob("b", "uid-b", 0, map[string]string{kubequeue.AnnotationRunAt: future})},
			want:   kubequeue.Gate{Kind: kubequeue.GateAfter, Dependency: depB}, message: "waits for job default/b"},
		{name: "AfterFailed", job: gatedJob("j", "uid-j", 0, map[string]string{kubequeue.AnnotationAfter: `[{"name":"a","uid":"uid-a"}]`}),
			others: []*batchv1.Job{finishedJob("a", "uid-a", failedCond)},
			want:   kubequeue.Gate{Kind: kubequeue.GateAfter, Dependency: depA}, message: "failed: the release controller ends this Job"},
		{name: "AfterGone", job: gatedJob("j", "uid-j", 0, map[string]string{kubequeue.AnnotationAfter: `[{"name":"a","uid":"uid-a"}]`}),
			others: []*batchv1.Job{finishedJob("a", "uid-other", complete)},
			want:   kubequeue.Gate{Kind: kubequeue.GateAfter, Dependency: depA}, message: "is gone"},
		{name: "AfterComplete", job: gatedJob("j", "uid-j", 0, map[string]string{kubequeue.AnnotationAfter: `[{"name":"a","uid":"uid-a"}]`}),
			others: []*batchv1.Job{finishedJob("a", "uid-a", complete)},
			want:   kubequeue.Gate{Kind: kubequeue.GateRelease}, message: "waits for the release controller"},
		{name: "Concurrency", job: key(3), others: []*batchv1.Job{runningOfKey, key(1), key(2), key(4)},
			want: kubequeue.Gate{Kind: kubequeue.GateConcurrency, Key: "reports", Limit: 1, Running: 1, Position: 3}, message: "1 running, number 3 in line"},
		{name: "Payload", job: gatedJob("j", "uid-j", 0, map[string]string{kubequeue.AnnotationRunAt: past, "kubequeue.io/resume": "false"}),
			want: kubequeue.Gate{Kind: kubequeue.GatePayload, RunAt: gateClock.Add(-time.Hour)}, message: "payload Secret"},
		{name: "Invalid", job: gatedJob("j", "uid-j", 0, map[string]string{kubequeue.AnnotationConcurrencyKey: "k", kubequeue.AnnotationConcurrencyLimit: "none"}),
			want: kubequeue.Gate{Kind: kubequeue.GateInvalid, Key: "k"}, message: "cannot read"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			client, queue := gateQueue(t)
			for _, o := range append(tt.others, tt.job) {
				require.NoError(t, client.Tracker().Add(o))
			}
			st, err := queue.Status(t.Context(), kubequeue.HandleFor(tt.job))
			require.NoError(t, err)
			require.Equal(t, kubequeue.StateWaiting, st.State)
			require.NotNil(t, st.Gate)
			require.Contains(t, st.Gate.Message, tt.message)
			got := *st.Gate
			got.Message = ""
			require.Equal(t, tt.want, got)
		})
	}
}

// TestQueue_Status_NotWaiting: a gated Job that was released, resumed,
// ended or finished is not waiting.
func TestQueue_Status_NotWaiting(t *testing.T) {
	t.Parallel()
	gates := func() map[string]string {
		return map[string]string{kubequeue.AnnotationRunAt: gateClock.Add(time.Hour).Format(time.RFC3339Nano)}
	}
	released := gatedJob("released", "u1", 0, gates())
	released.Annotations[kubequeue.AnnotationReleased] = gateClock.Format(time.RFC3339Nano)
	suspended := gatedJob("suspended", "u2", 0, gates())
	suspended.Annotations[kubequeue.AnnotationReleased] = gateClock.Format(time.RFC3339Nano)
	ended := gatedJob("ended", "u3", 0, gates())
	ended.Spec.Suspend = ptr.To(false)
	ended.Annotations[kubequeue.AnnotationEndReason] = kubequeue.ReasonDependencyFailed
	ended.Annotations[kubequeue.AnnotationEndMessage] = "dependency default/a failed: BackoffLimitExceeded"
	ended.Status.Conditions = []batchv1.JobCondition{cond(batchv1.JobFailed, corev1.ConditionTrue, batchv1.JobReasonDeadlineExceeded, "Job was active longer than specified deadline", 5)}
	tests := []struct {
		job    *batchv1.Job
		state  kubequeue.State
		reason string
	}{
		{job: released, state: kubequeue.StateSuspended},
		{job: suspended, state: kubequeue.StateSuspended},
		{job: ended, state: kubequeue.StateFailed, reason: kubequeue.ReasonDependencyFailed},
	}
	for _, tt := range tests {
		t.Run(tt.job.Name, func(t *testing.T) {
			t.Parallel()
			client, queue := gateQueue(t)
			require.NoError(t, client.Tracker().Add(tt.job))
			st, err := queue.Status(t.Context(), kubequeue.HandleFor(tt.job))
			require.NoError(t, err)
			require.Equal(t, tt.state, st.State)
			require.Nil(t, st.Gate)
			require.Equal(t, tt.reason, st.Reason)
			if tt.reason != "" {
				require.Equal(t, "dependency default/a failed: BackoffLimitExceeded", st.Message)
				var failed *kubequeue.JobFailedError
				require.True(t, errors.As(st.Err(), &failed), "%v", st.Err())
				require.Equal(t, kubequeue.ReasonDependencyFailed, failed.Reason)
			}
		})
	}
}
