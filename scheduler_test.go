package kubequeue_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/utils/ptr"

	"github.com/kubequeue/kubequeue"
)

func TestNewScheduler_Invalid(t *testing.T) {
	t.Parallel()
	_, err := kubequeue.NewScheduler(nil)
	require.ErrorContains(t, err, "nil kubernetes client")
	var nilClient *fake.Clientset
	_, err = kubequeue.NewScheduler(nilClient)
	require.ErrorContains(t, err, "nil kubernetes client")

	tests := []struct {
		name string
		opt  kubequeue.SchedulerOption
		say  string
	}{
		{name: "Namespace", opt: kubequeue.WithSchedulerNamespaces("Not_A_Namespace"), say: "WithSchedulerNamespaces"},
		{name: "LeaseNamespace", opt: kubequeue.WithLease("Bad_NS", "lease"), say: "WithLease namespace"},
		{name: "LeaseName", opt: kubequeue.WithLease("default", "Bad Name"), say: "WithLease name"},
		{name: "Retry", opt: kubequeue.WithLeaseDurations(15*time.Second, 10*time.Second, 0), say: "retry"},
		{name: "Renew", opt: kubequeue.WithLeaseDurations(15*time.Second, 2*time.Second, 2*time.Second), say: "renew"},
		{name: "Lease", opt: kubequeue.WithLeaseDurations(10*time.Second, 10*time.Second, 2*time.Second), say: "must exceed renew"},
		{name: "Identity", opt: kubequeue.WithSchedulerIdentity(strings.Repeat("x", 129)), say: "WithSchedulerIdentity"},
		{name: "PendingGrace", opt: kubequeue.WithPendingGrace(0), say: "WithPendingGrace"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := kubequeue.NewScheduler(fake.NewClientset(), tt.opt)
			require.ErrorIs(t, err, kubequeue.ErrInvalidOption)
			require.ErrorContains(t, err, tt.say)
		})
	}
}

func TestNewScheduler_Defaults(t *testing.T) {
	t.Parallel()
	s, err := kubequeue.NewScheduler(fake.NewClientset(), nil)
	require.NoError(t, err)
	require.NotEmpty(t, s.Identity())
	s2, err := kubequeue.NewScheduler(fake.NewClientset(), kubequeue.WithSchedulerIdentity("replica-1"))
	require.NoError(t, err)
	require.Equal(t, "replica-1", s2.Identity())
	require.NotEqual(t, s.Identity(), func() string {
		s3, err := kubequeue.NewScheduler(fake.NewClientset())
		require.NoError(t, err)
		return s3.Identity()
	}(), "identities are unique")
}

// runScheduler runs a release controller on client for namespace default
// until the test ends, with short lease durations.
func runScheduler(t *testing.T, client kubernetes.Interface, opts ...kubequeue.SchedulerOption) {
	t.Helper()
	all := append([]kubequeue.SchedulerOption{
		kubequeue.WithSchedulerIdentity("test-replica"),
		kubequeue.WithLeaseDurations(3*time.Second, 2*time.Second, 100*time.Millisecond),
		kubequeue.WithSchedulerLogger(slog.New(slog.DiscardHandler)),
	}, opts...)
	s, err := kubequeue.NewScheduler(client, all...)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			require.NoError(t, err)
		case <-time.After(10 * time.Second):
			t.Error("Run did not return within 10 s of its context's end")
		}
	})
}

// getJob returns the Job of namespace default named name, or nil if there
// is none.
func getJob(t *testing.T, client *fake.Clientset, name string) *batchv1.Job {
	t.Helper()
	job, err := client.BatchV1().Jobs("default").Get(t.Context(), name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	require.NoError(t, err)
	return job
}

// releasedJob reports whether the Job was released by the test's
// controller.
func releasedJob(job *batchv1.Job) bool {
	return job != nil && job.Spec.Suspend != nil && !*job.Spec.Suspend &&
		job.Annotations[kubequeue.AnnotationReleasedBy] == "test-replica" &&
		job.Annotations[kubequeue.AnnotationReleased] != ""
}

// patches returns the merge patches the client saw, by Job name.
func patches(client *fake.Clientset) map[string][]map[string]any {
	out := make(map[string][]map[string]any)
	for _, a := range client.Actions() {
		p, ok := a.(k8stesting.PatchActionImpl)
		if !ok || p.GetResource().Resource != "jobs" {
			continue
		}
		var m map[string]any
		if json.Unmarshal(p.GetPatch(), &m) == nil {
			out[p.GetName()] = append(out[p.GetName()], m)
		}
	}
	return out
}

// TestScheduler_Run: the controller releases a Job whose time has come,
// leaves alone those not its own or not due, ends a Job whose dependency
// failed, releases the oldest Job of a full concurrency key only, and
// deletes a Job left waiting for its payload past the grace.
func TestScheduler_Run(t *testing.T) {
	t.Parallel()
	now := time.Now()
	past := now.Add(-time.Minute).Format(time.RFC3339Nano)
	future := now.Add(time.Hour).Format(time.RFC3339Nano)
	withRV := func(job *batchv1.Job) *batchv1.Job { job.ResourceVersion = "7"; return job }
	created := func(job *batchv1.Job, ago time.Duration) *batchv1.Job {
		job.CreationTimestamp = metav1.NewTime(now.Add(-ago))
		return job
	}
	kueue := gatedJob("kueue", "u-kueue", 0, map[string]string{kubequeue.AnnotationRunAt: past})
	kueue.Labels[kubequeue.LabelKueueQueue] = "q"
	ungated := gatedJob("ungated", "u-ungated", 0, nil)
	failedDep := finishedJob("failed-dep", "u-failed-dep", cond(batchv1.JobFailed, corev1.ConditionTrue, batchv1.JobReasonBackoffLimitExceeded, "", 5))
	keyJob := func(name string, queuedAt time.Duration) *batchv1.Job {
		return gatedJob(name, "u-"+name, 0, map[string]string{
			kubequeue.AnnotationConcurrencyKey: "reports", kubequeue.AnnotationConcurrencyLimit: "2",
			kubequeue.AnnotationQueuedAt: now.Add(queuedAt).Format(time.RFC3339Nano),
		})
	}
	keyRunning := keyJob("key-running", -time.Hour)
	keyRunning.Spec.Suspend = ptr.To(false)
	keyRunning.Annotations[kubequeue.AnnotationReleased] = past
	objects := []runtime.Object{
		withRV(gatedJob("due", "u-due", 0, map[string]string{kubequeue.AnnotationRunAt: past})),
		gatedJob("later", "u-later", 0, map[string]string{kubequeue.AnnotationRunAt: future}),
		kueue, ungated, failedDep,
		gatedJob("dependent", "u-dependent", 0, map[string]string{kubequeue.AnnotationAfter: `[{"name":"failed-dep","uid":"u-failed-dep"}]`}),
		gatedJob("dependent-any", "u-dependent-any", 0, map[string]string{kubequeue.AnnotationAfter: `[{"name":"failed-dep","uid":"u-failed-dep"}]`, kubequeue.AnnotationAfterAnyOutcome: "true"}),
		gatedJob("dependent-gone", "u-dependent-gone", 0, map[string]string{kubequeue.AnnotationAfter: `[{"name":"gone","uid":"u-gone"}]`}),
		keyRunning, keyJob("key-3", -time.Second), keyJob("key-2", -2*time.Second), keyJob("key-4", 0),
		created(gatedJob("abandoned", "u-abandoned", 0, map[string]string{"kubequeue.io/resume": "true"}), time.Hour),
		created(gatedJob("enqueuing", "u-enqueuing", 0, map[string]string{"kubequeue.io/resume": "true"}), time.Second),
	}
	client := fake.NewClientset(objects...)
	runScheduler(t, client, kubequeue.WithPendingGrace(10*time.Minute))

	require.Eventually(t, func() bool {
		return releasedJob(getJob(t, client, "due")) && releasedJob(getJob(t, client, "key-2")) &&
			releasedJob(getJob(t, client, "dependent-any")) &&
			getJob(t, client, "abandoned") == nil &&
			getJob(t, client, "dependent").Annotations[kubequeue.AnnotationEndReason] != "" &&
			getJob(t, client, "dependent-gone").Annotations[kubequeue.AnnotationEndReason] != ""
	}, 10*time.Second, 20*time.Millisecond)
	// Whatever was not done at once is not done a moment later either.
	time.Sleep(300 * time.Millisecond)

	for _, name := range []string{"later", "kueue", "ungated", "key-3", "key-4", "enqueuing"} {
		job := getJob(t, client, name)
		require.NotNil(t, job, name)
		require.Equal(t, ptr.To(true), job.Spec.Suspend, "%s stays suspended", name)
		require.NotContains(t, job.Annotations, kubequeue.AnnotationReleased, name)
	}
	p := patches(client)
	require.Len(t, p["due"], 1, "released once")
	require.Equal(t, "7", p["due"][0]["metadata"].(map[string]any)["resourceVersion"], "a release is conditional on the Job being as cached")
	require.Empty(t, p["later"])

	dependent := getJob(t, client, "dependent")
	require.Equal(t, kubequeue.ReasonDependencyFailed, dependent.Annotations[kubequeue.AnnotationEndReason])
	require.Equal(t, "dependency default/failed-dep failed: BackoffLimitExceeded", dependent.Annotations[kubequeue.AnnotationEndMessage])
	require.Equal(t, ptr.To(false), dependent.Spec.Suspend)
	require.Equal(t, ptr.To(int64(1)), dependent.Spec.ActiveDeadlineSeconds)
	require.Equal(t, []corev1.PodSchedulingGate{{Name: "kubequeue.io/ended"}}, dependent.Spec.Template.Spec.SchedulingGates)
	gone := getJob(t, client, "dependent-gone")
	require.Equal(t, kubequeue.ReasonDependencyDeleted, gone.Annotations[kubequeue.AnnotationEndReason])
	require.Contains(t, gone.Annotations[kubequeue.AnnotationEndMessage], "default/gone")

	lease, err := client.CoordinationV1().Leases("default").Get(t.Context(), kubequeue.DefaultLeaseName, metav1.GetOptions{})
	require.NoError(t, err)
	require.Equal(t, "test-replica", *lease.Spec.HolderIdentity)
}

// TestScheduler_Run_KeyFreed: when a Job of a full concurrency key
// finishes, the oldest waiting one is released.
func TestScheduler_Run_KeyFreed(t *testing.T) {
	t.Parallel()
	job := func(name string, queuedAt int) *batchv1.Job {
		return gatedJob(name, "u-"+name, 0, map[string]string{
			kubequeue.AnnotationConcurrencyKey: "k", kubequeue.AnnotationConcurrencyLimit: "1",
			kubequeue.AnnotationQueuedAt: epoch.Add(time.Duration(queuedAt) * time.Second).Format(time.RFC3339Nano),
		})
	}
	client := fake.NewClientset(job("first", 1), job("second", 2), job("third", 3))
	runScheduler(t, client)
	require.Eventually(t, func() bool { return releasedJob(getJob(t, client, "first")) }, 10*time.Second, 20*time.Millisecond)
	time.Sleep(200 * time.Millisecond)
	require.False(t, releasedJob(getJob(t, client, "second")), "the key is full")

	first := getJob(t, client, "first")
	first.Status.Conditions = []batchv1.JobCondition{cond(batchv1.JobComplete, corev1.ConditionTrue, "", "", 5)}
	_, err := client.BatchV1().Jobs("default").UpdateStatus(t.Context(), first, metav1.UpdateOptions{})
	require.NoError(t, err)
	require.Eventually(t, func() bool { return releasedJob(getJob(t, client, "second")) }, 10*time.Second, 20*time.Millisecond)
	time.Sleep(200 * time.Millisecond)
	require.False(t, releasedJob(getJob(t, client, "third")), "the key is full again")
	require.NoError(t, client.BatchV1().Jobs("default").Delete(t.Context(), "second", metav1.DeleteOptions{}))
	require.Eventually(t, func() bool { return releasedJob(getJob(t, client, "third")) }, 10*time.Second, 20*time.Millisecond)
}

// TestScheduler_Run_RunAt: a Job is released at its time, not before.
func TestScheduler_Run_RunAt(t *testing.T) {
	t.Parallel()
	runAt := time.Now().Add(time.Second)
	client := fake.NewClientset(gatedJob("soon", "u-soon", 0, map[string]string{kubequeue.AnnotationRunAt: runAt.UTC().Format(time.RFC3339Nano)}))
	runScheduler(t, client)
	require.Eventually(t, func() bool { return releasedJob(getJob(t, client, "soon")) }, 10*time.Second, 10*time.Millisecond)
	require.False(t, time.Now().Before(runAt), "released before its time")
	stamped, err := time.Parse(time.RFC3339Nano, getJob(t, client, "soon").Annotations[kubequeue.AnnotationReleased])
	require.NoError(t, err)
	require.False(t, stamped.Before(runAt.Truncate(time.Millisecond)), "stamped %s, before its time %s", stamped, runAt)
}
