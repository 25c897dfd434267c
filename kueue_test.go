package kubequeue_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/utils/ptr"

	"github.com/kubequeue/kubequeue"
)

func TestQueue_Build_Kueue(t *testing.T) {
	t.Parallel()
	queue := buildQueue(t)

	t.Run("Worker", func(t *testing.T) {
		t.Parallel()
		w := newGreeter(kubequeue.WithQueueName("team-a"), kubequeue.WithWorkloadPriorityClass("low"))
		job, err := queue.Build(w, greeting{Name: "x"})
		require.NoError(t, err)
		require.Equal(t, "team-a", job.Labels[kubequeue.LabelQueueName])
		require.Equal(t, "low", job.Labels[kubequeue.LabelWorkloadPriorityClass])
		require.Equal(t, ptr.To(true), job.Spec.Suspend, "created suspended: Kueue resumes it on admission")
		require.NotContains(t, job.Annotations, kubequeue.AnnotationResume, "the payload is in the Job: nothing to wait for")
		require.NotContains(t, job.Spec.Template.Labels, kubequeue.LabelQueueName, "Kueue reads the Job's labels, not the pods'")
	})
	t.Run("CallOverridesWorker", func(t *testing.T) {
		t.Parallel()
		w := newGreeter(kubequeue.WithQueueName("team-a"), kubequeue.WithWorkloadPriorityClass("low"))
		job, err := queue.Build(w, greeting{}, kubequeue.WithQueueName("team-b"), kubequeue.WithWorkloadPriorityClass("high.example"))
		require.NoError(t, err)
		require.Equal(t, "team-b", job.Labels[kubequeue.LabelQueueName])
		require.Equal(t, "high.example", job.Labels[kubequeue.LabelWorkloadPriorityClass])
	})
	t.Run("PerCallOnly", func(t *testing.T) {
		t.Parallel()
		job, err := queue.Build(newGreeter(), greeting{}, kubequeue.WithQueueName("q"))
		require.NoError(t, err)
		require.Equal(t, "q", job.Labels[kubequeue.LabelQueueName])
		require.NotContains(t, job.Labels, kubequeue.LabelWorkloadPriorityClass)
	})
	t.Run("NotQueued", func(t *testing.T) {
		t.Parallel()
		job, err := queue.Build(newGreeter(), greeting{})
		require.NoError(t, err)
		require.NotContains(t, job.Labels, kubequeue.LabelQueueName)
		require.Nil(t, job.Spec.Suspend)
	})
	t.Run("SecretPayloadNotResumed", func(t *testing.T) {
		t.Parallel()
		job, err := queue.Build(newGreeter(kubequeue.WithSensitivePayload()), greeting{}, kubequeue.WithQueueName("q"))
		require.NoError(t, err)
		require.Equal(t, ptr.To(true), job.Spec.Suspend)
		require.Equal(t, "false", job.Annotations[kubequeue.AnnotationResume], "Enqueue stores the Secret and leaves resuming to Kueue")
	})
}

func TestQueue_Build_KueueInvalid(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		worker []kubequeue.WorkerOption
		call   []kubequeue.EnqueueOption
		field  string
		value  string
		reason string
	}{
		{name: "QueueEmpty", call: []kubequeue.EnqueueOption{kubequeue.WithQueueName("")}, field: "WithQueueName", value: ""},
		{name: "QueueUpperCase", call: []kubequeue.EnqueueOption{kubequeue.WithQueueName("Team")}, field: "WithQueueName", value: "Team"},
		{name: "QueueTooLong", call: []kubequeue.EnqueueOption{kubequeue.WithQueueName("a234567890123456789012345678901234567890123456789012345678901234")}, field: "WithQueueName", value: "a234567890123456789012345678901234567890123456789012345678901234"},
		{name: "PriorityInvalid", call: []kubequeue.EnqueueOption{kubequeue.WithQueueName("q"), kubequeue.WithWorkloadPriorityClass("High_1")}, field: "WithWorkloadPriorityClass", value: "High_1"},
		{name: "PriorityWithoutQueue", call: []kubequeue.EnqueueOption{kubequeue.WithWorkloadPriorityClass("high")}, field: "WithWorkloadPriorityClass", value: "high", reason: "needs WithQueueName"},
		{name: "QueueLabel", call: []kubequeue.EnqueueOption{kubequeue.WithLabels(map[string]string{kubequeue.LabelQueueName: "q"})}, field: "WithLabels", value: "kueue.x-k8s.io/queue-name=q", reason: "WithQueueName"},
		{name: "PriorityLabel", call: []kubequeue.EnqueueOption{kubequeue.WithLabels(map[string]string{kubequeue.LabelWorkloadPriorityClass: "high"})}, field: "WithLabels", value: "kueue.x-k8s.io/priority-class=high", reason: "WithWorkloadPriorityClass"},
		{name: "QueueWithGate", call: []kubequeue.EnqueueOption{kubequeue.WithQueueName("q"), kubequeue.WithDelay(time.Minute)}, field: "WithQueueName", value: "q", reason: "cannot have gates"},
		{name: "QueueWithKeyOnWorker", worker: []kubequeue.WorkerOption{kubequeue.WithConcurrencyKey("k", 1)}, call: []kubequeue.EnqueueOption{kubequeue.WithQueueName("q")}, field: "WithQueueName", value: "q", reason: "cannot have gates"},
		{name: "WorkerPriorityWithoutQueue", worker: []kubequeue.WorkerOption{kubequeue.WithWorkloadPriorityClass("high")}, field: "WithWorkloadPriorityClass", value: "high", reason: "needs WithQueueName"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w := newGreeter(tt.worker...)
			_, err := buildQueue(t).Build(w, greeting{}, tt.call...)
			require.Error(t, err)
			var ve *kubequeue.ValidationError
			require.ErrorAs(t, err, &ve)
			require.Equal(t, tt.field, ve.Field)
			require.Equal(t, tt.value, ve.Value)
			require.Contains(t, ve.Error(), tt.reason)

			client, queue := setup(t)
			_, err = queue.Enqueue(t.Context(), w, greeting{}, tt.call...)
			require.Error(t, err)
			requireNoAPICall(t, client)
		})
	}
	t.Run("InvalidOnWorker", func(t *testing.T) {
		t.Parallel()
		_, err := buildQueue(t).Build(newGreeter(kubequeue.WithQueueName("Bad Queue")), greeting{})
		require.ErrorIs(t, err, kubequeue.ErrInvalidWorker)
	})
}

// TestQueue_Enqueue_KueueSecretPayload: a queued Job whose payload is in a
// Secret is created suspended, its Secret stored, and the annotation
// removed, but kubequeue does not resume it: Kueue does, on admission.
func TestQueue_Enqueue_KueueSecretPayload(t *testing.T) {
	t.Parallel()
	client, queue, w := secretSetup(t)
	h, err := queue.Enqueue(t.Context(), w, greeting{Name: "s"}, kubequeue.WithQueueName("q"))
	require.NoError(t, err)

	var verbs []string
	for _, a := range client.Actions() {
		verbs = append(verbs, a.GetVerb()+" "+a.GetResource().Resource)
	}
	require.Equal(t, []string{"create jobs", "create secrets", "patch jobs"}, verbs)
	require.NotContains(t, string(client.Actions()[2].(k8stesting.PatchAction).GetPatch()), "suspend", "kubequeue never resumes a queued Job")
	job, err := client.BatchV1().Jobs("ns").Get(t.Context(), h.Name, metav1.GetOptions{})
	require.NoError(t, err)
	require.Equal(t, ptr.To(true), job.Spec.Suspend, "left to Kueue")
	require.NotContains(t, job.Annotations, kubequeue.AnnotationResume, "no longer waits for its payload")

	st, err := queue.Status(t.Context(), h)
	require.NoError(t, err)
	require.Equal(t, kubequeue.StateQueued, st.State)
	require.Empty(t, st.Reason, "the fake clientset serves no Workloads")
}

func TestKueueStatus(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		workloads string
		state     kubequeue.State
		reason    string
		message   string
	}{
		{name: "NoWorkloadYet", workloads: `[]`, state: kubequeue.StateQueued},
		{
			name:      "InsufficientQuota",
			workloads: `[{"metadata":{"name":"job-a-1"},"status":{"conditions":[{"type":"QuotaReserved","status":"False","reason":"Pending","message":"couldn't assign flavors to pod set main: insufficient unused quota for cpu in flavor default-flavor, 500m more needed"}]}}]`,
			state:     kubequeue.StateQueued, reason: "Pending",
			message: "couldn't assign flavors to pod set main: insufficient unused quota for cpu in flavor default-flavor, 500m more needed",
		},
		{
			name:      "Inadmissible",
			workloads: `[{"status":{"conditions":[{"type":"QuotaReserved","status":"False","reason":"Inadmissible","message":"LocalQueue lq doesn't exist"}]}}]`,
			state:     kubequeue.StateQueued, reason: "Inadmissible", message: "LocalQueue lq doesn't exist",
		},
		{
			name:      "Preempted",
			workloads: `[{"status":{"conditions":[{"type":"QuotaReserved","status":"False","reason":"Pending","message":"waiting"},{"type":"Evicted","status":"True","reason":"Preempted","message":"Preempted to accommodate a workload (UID: 1) due to prioritization in the ClusterQueue"}]}}]`,
			state:     kubequeue.StatePreempted, reason: "Preempted",
			message: "Preempted to accommodate a workload (UID: 1) due to prioritization in the ClusterQueue",
		},
		{
			name:      "PreemptedCondition",
			workloads: `[{"status":{"conditions":[{"type":"Preempted","status":"True","reason":"InClusterQueue","message":"preempted"}]}}]`,
			state:     kubequeue.StatePreempted, reason: "Preempted", message: "preempted",
		},
		{
			name:      "EvictedOtherwise",
			workloads: `[{"status":{"conditions":[{"type":"QuotaReserved","status":"False","reason":"Pending","message":"m"},{"type":"Evicted","status":"True","reason":"InactiveWorkload","message":"x"}]}}]`,
			state:     kubequeue.StateQueued, reason: "Pending", message: "m",
		},
		{
			name: "NewestWorkload",
			workloads: `[{"metadata":{"creationTimestamp":"2026-01-01T00:00:00Z"},"status":{"conditions":[{"type":"QuotaReserved","status":"False","reason":"Old","message":"old"}]}},
				{"metadata":{"creationTimestamp":"2026-01-02T00:00:00Z"},"status":{"conditions":[{"type":"QuotaReserved","status":"False","reason":"New","message":"new"}]}}]`,
			state: kubequeue.StateQueued, reason: "New", message: "new",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			st := kubequeue.Status{State: kubequeue.StateQueued}
			require.NoError(t, kubequeue.KueueStatus(&st, tt.workloads))
			require.Equal(t, tt.state, st.State)
			require.Equal(t, tt.reason, st.Reason)
			require.Equal(t, tt.message, st.Message)
		})
	}
}

func TestQueue_Status_Queued(t *testing.T) {
	t.Parallel()
	suspended := func(labels map[string]string) *batchv1.Job {
		return &batchv1.Job{
			ObjectMeta: metav1.ObjectMeta{Name: "j", Namespace: "ns", UID: "u", Labels: labels},
			Spec:       batchv1.JobSpec{Suspend: new(bool)},
		}
	}
	for name, tt := range map[string]struct {
		labels map[string]string
		state  kubequeue.State
	}{
		"Queued":    {labels: map[string]string{kubequeue.LabelQueueName: "q"}, state: kubequeue.StateQueued},
		"Suspended": {state: kubequeue.StateSuspended},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			job := suspended(tt.labels)
			*job.Spec.Suspend = true
			_, queue := setupWith(t, job)
			st, err := queue.Status(t.Context(), kubequeue.HandleFor(job))
			require.NoError(t, err)
			require.Equal(t, tt.state, st.State)
			require.False(t, st.State.Done())
		})
	}
}
