package kubequeue_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/ptr"

	"github.com/kubequeue/kubequeue"
)

func TestQueue_Schedule_Invalid(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		schedule string
		spec     string
		opts     []kubequeue.ScheduleOption
		want     error
		say      string
	}{
		{name: "FourFields", schedule: "s", spec: "0 7 * *", want: kubequeue.ErrInvalidOption, say: "expected exactly 5 fields"},
		{name: "Seconds", schedule: "s", spec: "0 0 7 * * *", want: kubequeue.ErrInvalidOption, say: "expected exactly 5 fields"},
		{name: "OutOfRange", schedule: "s", spec: "61 * * * *", want: kubequeue.ErrInvalidOption, say: "Schedule spec"},
		{name: "Empty", schedule: "s", spec: "", want: kubequeue.ErrInvalidOption, say: "Schedule spec"},
		{name: "UnknownDescriptor", schedule: "s", spec: "@fortnightly", want: kubequeue.ErrInvalidOption, say: "Schedule spec"},
		{name: "TZ", schedule: "s", spec: "TZ=UTC 0 7 * * *", want: kubequeue.ErrInvalidOption, say: "use WithTimeZone"},
		{name: "CRON_TZ", schedule: "s", spec: "CRON_TZ=Europe/Berlin 0 7 * * *", want: kubequeue.ErrInvalidOption, say: "use WithTimeZone"},
		{name: "UnknownTimeZone", schedule: "s", spec: "@daily", opts: []kubequeue.ScheduleOption{kubequeue.WithTimeZone("Mars/Olympus")}, want: kubequeue.ErrInvalidOption, say: "WithTimeZone"},
		{name: "LocalTimeZone", schedule: "s", spec: "@daily", opts: []kubequeue.ScheduleOption{kubequeue.WithTimeZone("Local")}, want: kubequeue.ErrInvalidOption, say: "explicit"},
		{name: "EmptyTimeZone", schedule: "s", spec: "@daily", opts: []kubequeue.ScheduleOption{kubequeue.WithTimeZone("")}, want: kubequeue.ErrInvalidOption, say: "must not be empty"},
		{name: "TimeZonePath", schedule: "s", spec: "@daily", opts: []kubequeue.ScheduleOption{kubequeue.WithTimeZone("../etc/passwd")}, want: kubequeue.ErrInvalidOption, say: "unknown time zone"},
		{name: "Policy", schedule: "s", spec: "@daily", opts: []kubequeue.ScheduleOption{kubequeue.WithConcurrencyPolicy("Sometimes")}, want: kubequeue.ErrInvalidOption, say: "Allow, Forbid or Replace"},
		{name: "Deadline", schedule: "s", spec: "@daily", opts: []kubequeue.ScheduleOption{kubequeue.WithStartingDeadline(-time.Second)}, want: kubequeue.ErrInvalidOption, say: "WithStartingDeadline"},
		{name: "History", schedule: "s", spec: "@daily", opts: []kubequeue.ScheduleOption{kubequeue.WithHistoryLimits(1, -1)}, want: kubequeue.ErrInvalidOption, say: "WithHistoryLimits failed"},
		{name: "Name", schedule: "Daily_Digest", spec: "@daily", want: kubequeue.ErrInvalidOption, say: "Schedule name"},
		{name: "LongName", schedule: strings.Repeat("a", 53), spec: "@daily", want: kubequeue.ErrInvalidOption, say: "no more than 52"},
		{name: "RunAt", schedule: "s", spec: "@daily", opts: []kubequeue.ScheduleOption{kubequeue.WithDelay(time.Minute)}, want: kubequeue.ErrInvalidOption, say: "only WithConcurrencyKey"},
		{name: "After", schedule: "s", spec: "@daily", opts: []kubequeue.ScheduleOption{kubequeue.WithAfter(depA)}, want: kubequeue.ErrInvalidOption, say: "only WithConcurrencyKey"},
		{name: "JobOption", schedule: "s", spec: "@daily", opts: []kubequeue.ScheduleOption{kubequeue.WithBackoffLimit(-1)}, want: kubequeue.ErrInvalidOption, say: "WithBackoffLimit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			client, queue := setup(t)
			_, err := queue.Schedule(t.Context(), tt.schedule, newGreeter(), tt.spec, greeting{}, tt.opts...)
			require.ErrorIs(t, err, tt.want)
			require.ErrorContains(t, err, tt.say)
			require.Empty(t, client.Actions(), "no API call for bad input")
		})
	}
	_, queue := setup(t)
	_, err := queue.Schedule(t.Context(), "s", newGreeter(), "@daily", 42)
	require.ErrorIs(t, err, kubequeue.ErrPayloadType)
	_, err = queue.Schedule(t.Context(), "s", nil, "@daily", greeting{})
	require.ErrorIs(t, err, kubequeue.ErrInvalidWorker)
}

// cronJobs returns the CronJobs of namespace default.
func cronJobs(t *testing.T, client *fake.Clientset) []batchv1.CronJob {
	t.Helper()
	list, err := client.BatchV1().CronJobs("default").List(t.Context(), metav1.ListOptions{})
	require.NoError(t, err)
	return list.Items
}

// TestQueue_Schedule_Update: scheduling again with the same name updates
// the one CronJob to what the call says, options left out included.
func TestQueue_Schedule_Update(t *testing.T) {
	t.Parallel()
	client, queue := setup(t)
	info, err := queue.Schedule(t.Context(), "digest", newGreeter(), "*/5 * * * *", greeting{Name: "first"},
		kubequeue.WithTimeZone("Europe/Berlin"), kubequeue.WithConcurrencyPolicy(batchv1.ForbidConcurrent),
		kubequeue.WithStartingDeadline(1500*time.Millisecond), kubequeue.WithHistoryLimits(5, 2), kubequeue.WithScheduleSuspended(true),
		kubequeue.WithLabels(map[string]string{"team": "a"}))
	require.NoError(t, err)
	require.Equal(t, kubequeue.ScheduleInfo{Namespace: "default", Name: "digest", UID: info.UID, Worker: "greet", Spec: "*/5 * * * *", TimeZone: "Europe/Berlin", Suspended: true}, info)
	cjs := cronJobs(t, client)
	require.Len(t, cjs, 1)
	cj := cjs[0]
	require.Equal(t, ptr.To("Europe/Berlin"), cj.Spec.TimeZone)
	require.Equal(t, batchv1.ForbidConcurrent, cj.Spec.ConcurrencyPolicy)
	require.Equal(t, ptr.To(int64(2)), cj.Spec.StartingDeadlineSeconds, "rounded up to whole seconds")
	require.Equal(t, ptr.To(int32(5)), cj.Spec.SuccessfulJobsHistoryLimit)
	require.Equal(t, ptr.To(int32(2)), cj.Spec.FailedJobsHistoryLimit)
	require.Equal(t, ptr.To(true), cj.Spec.Suspend)
	require.Equal(t, "a", cj.Spec.JobTemplate.Labels["team"])
	require.Equal(t, "kubequeue", cj.Labels[kubequeue.LabelManagedBy])
	require.Empty(t, cj.Spec.JobTemplate.Name)
	require.NotContains(t, cj.Spec.JobTemplate.Annotations, kubequeue.AnnotationEnqueueID)
	require.Contains(t, cj.Spec.JobTemplate.Spec.Template.Spec.Containers[0].Env[1].Value, "first")

	info, err = queue.Schedule(t.Context(), "digest", newGreeter(), "@hourly", greeting{Name: "second"})
	require.NoError(t, err)
	require.Equal(t, "@hourly", info.Spec)
	cjs = cronJobs(t, client)
	require.Len(t, cjs, 1, "updated, not duplicated")
	cj = cjs[0]
	require.Equal(t, "@hourly", cj.Spec.Schedule)
	require.Nil(t, cj.Spec.TimeZone, "an option left out goes back to its default")
	require.Nil(t, cj.Spec.StartingDeadlineSeconds)
	require.Equal(t, ptr.To(false), cj.Spec.Suspend)
	require.NotContains(t, cj.Spec.JobTemplate.Labels, "team")
	require.Contains(t, cj.Spec.JobTemplate.Spec.Template.Spec.Containers[0].Env[1].Value, "second")
}

// TestQueue_Schedule_SensitivePayload: a sensitive payload is stored in a
// Secret owned by the CronJob, which every run mounts; the runs are not
// suspended.
func TestQueue_Schedule_SensitivePayload(t *testing.T) {
	t.Parallel()
	client, queue := setup(t)
	info, err := queue.Schedule(t.Context(), "digest", newGreeter(), "@daily", greeting{Name: "secret"}, kubequeue.WithSensitivePayload())
	require.NoError(t, err)
	cj := cronJobs(t, client)[0]
	require.Nil(t, cj.Spec.JobTemplate.Spec.Suspend)
	require.NotContains(t, cj.Spec.JobTemplate.Annotations, "kubequeue.io/resume", "a run must not wait for a payload")
	var secretName string
	for _, v := range cj.Spec.JobTemplate.Spec.Template.Spec.Volumes {
		if v.Secret != nil {
			secretName = v.Secret.SecretName
		}
	}
	require.Equal(t, "digest-payload", secretName)
	secret, err := client.CoreV1().Secrets("default").Get(t.Context(), secretName, metav1.GetOptions{})
	require.NoError(t, err)
	require.Len(t, secret.OwnerReferences, 1)
	require.Equal(t, "CronJob", secret.OwnerReferences[0].Kind)
	require.Equal(t, info.UID, secret.OwnerReferences[0].UID)
	require.Contains(t, string(secret.Data["payload.json"]), "secret")
	for _, e := range cj.Spec.JobTemplate.Spec.Template.Spec.Containers[0].Env {
		require.NotContains(t, e.Value, "secret", "the payload is not in the environment")
	}

	_, err = queue.Schedule(t.Context(), "digest", newGreeter(), "@daily", greeting{Name: "updated"}, kubequeue.WithSensitivePayload())
	require.NoError(t, err)
	secret, err = client.CoreV1().Secrets("default").Get(t.Context(), secretName, metav1.GetOptions{})
	require.NoError(t, err)
	require.Contains(t, string(secret.Data["payload.json"]), "updated")
}

// TestQueue_Schedule_ConcurrencyKey: a schedule's Jobs may have a
// concurrency key; they are then created suspended, with no queued-at time
// of their own (the release controller orders them by creation).
func TestQueue_Schedule_ConcurrencyKey(t *testing.T) {
	t.Parallel()
	client, queue := setup(t)
	_, err := queue.Schedule(t.Context(), "digest", newGreeter(), "@daily", greeting{}, kubequeue.WithConcurrencyKey("digest", 1))
	require.NoError(t, err)
	tmpl := cronJobs(t, client)[0].Spec.JobTemplate
	require.Equal(t, ptr.To(true), tmpl.Spec.Suspend)
	require.Equal(t, "digest", tmpl.Annotations[kubequeue.AnnotationConcurrencyKey])
	require.NotContains(t, tmpl.Annotations, kubequeue.AnnotationQueuedAt)
}

func TestQueue_UnscheduleListSchedules(t *testing.T) {
	t.Parallel()
	client, queue := setup(t)
	for _, name := range []string{"b-digest", "a-digest"} {
		_, err := queue.Schedule(t.Context(), name, newGreeter(), "@daily", greeting{})
		require.NoError(t, err)
	}
	foreign := &batchv1.CronJob{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "foreign"}}
	require.NoError(t, client.Tracker().Add(foreign))

	list, err := queue.ListSchedules(t.Context(), "")
	require.NoError(t, err)
	require.Len(t, list, 2)
	require.Equal(t, "a-digest", list[0].Name)
	require.Equal(t, "b-digest", list[1].Name)
	require.Equal(t, "greet", list[0].Worker)

	require.NoError(t, queue.Unschedule(t.Context(), "", "a-digest"))
	require.NoError(t, queue.Unschedule(t.Context(), "default", "a-digest"), "already gone")
	err = queue.Unschedule(t.Context(), "", "foreign")
	require.ErrorIs(t, err, kubequeue.ErrInvalidOption)
	require.ErrorContains(t, err, "not made by kubequeue")
	list, err = queue.ListSchedules(t.Context(), "default")
	require.NoError(t, err)
	require.Len(t, list, 1)
	require.Equal(t, "b-digest", list[0].Name)
	require.Len(t, cronJobs(t, client), 2, "the foreign CronJob stays")

	require.ErrorIs(t, queue.Unschedule(t.Context(), "", "Bad_Name"), kubequeue.ErrInvalidOption)
	_, err = queue.ListSchedules(t.Context(), "Bad_NS")
	require.ErrorIs(t, err, kubequeue.ErrInvalidOption)
}
