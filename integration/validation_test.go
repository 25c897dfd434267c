package integration

import (
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/kubequeue/kubequeue"
)

// TestQueue_Build_RefusesWhatServerRefuses checks Build's checks against
// the API server's: for each, the Job Build would build without the check
// is refused by a server-side dry run, Build refuses the option, and the
// nearest input that the server accepts passes Build.
func TestQueue_Build_RefusesWhatServerRefuses(t *testing.T) {
	t.Parallel()
	e := setup(t)
	// dryRun creates job as Enqueue would (with an enqueue ID) without
	// storing it.
	dryRun := func(t *testing.T, job *batchv1.Job) error {
		t.Helper()
		job = job.DeepCopy()
		if job.Annotations == nil {
			job.Annotations = map[string]string{}
		}
		job.Annotations[kubequeue.AnnotationEnqueueID] = strings.Repeat("f", 32)
		_, err := client.BatchV1().Jobs(e.ns).Create(e.ctx, job, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		return err
	}
	worker := func(opts ...kubequeue.WorkerOption) *kubequeue.Worker[greeting] {
		return kubequeue.NewWorker("refused", greet, append([]kubequeue.WorkerOption{kubequeue.WithImage(testImage)}, opts...)...)
	}

	t.Run("AnnotationsWithKubequeues", func(t *testing.T) {
		t.Parallel()
		// kubequeue.io/enqueue-id and its 32 hex digits take 55 bytes of
		// the 256 KiB; kubequeue.io/unique-key and its 64, 87 more.
		const limit, enqueueID, uniqueKey = 256 << 10, 23 + 32, 23 + 64
		annotations := func(total int) map[string]string { return map[string]string{"k": strings.Repeat("a", total-1)} }

		job, err := e.queue.Build(worker(kubequeue.WithAnnotations(annotations(limit-enqueueID))), greeting{})
		require.NoError(t, err)
		require.NoError(t, dryRun(t, job), "the largest annotations Build accepts")
		job.Annotations["k"] += "a"
		require.True(t, apierrors.IsInvalid(dryRun(t, job)), "one byte more: %v", dryRun(t, job))
		_, err = e.queue.Build(worker(kubequeue.WithAnnotations(annotations(limit-enqueueID+1))), greeting{})
		require.ErrorIs(t, err, kubequeue.ErrInvalidWorker)

		job, err = e.queue.Build(worker(), greeting{}, kubequeue.WithAnnotations(annotations(limit-enqueueID-uniqueKey)), kubequeue.WithUniqueKey("order-42"))
		require.NoError(t, err)
		require.NoError(t, dryRun(t, job))
		_, err = e.queue.Build(worker(), greeting{}, kubequeue.WithAnnotations(annotations(limit-enqueueID-uniqueKey+1)), kubequeue.WithUniqueKey("order-42"))
		require.ErrorIs(t, err, kubequeue.ErrInvalidOption)
	})

	exitRule := func(container *string, op batchv1.PodFailurePolicyOnExitCodesOperator, codes ...int32) batchv1.PodFailurePolicyRule {
		return batchv1.PodFailurePolicyRule{Action: batchv1.PodFailurePolicyActionIgnore, OnExitCodes: &batchv1.PodFailurePolicyOnExitCodesRequirement{
			ContainerName: container, Operator: op, Values: codes,
		}}
	}
	conditionRule := func(typ corev1.PodConditionType, status corev1.ConditionStatus) batchv1.PodFailurePolicyRule {
		return batchv1.PodFailurePolicyRule{Action: batchv1.PodFailurePolicyActionIgnore, OnPodConditions: []batchv1.PodFailurePolicyOnPodConditionsPattern{
			{Type: typ, Status: status},
		}}
	}
	tests := []struct {
		name     string
		refused  batchv1.PodFailurePolicyRule
		accepted batchv1.PodFailurePolicyRule
	}{
		{"Unsorted", exitRule(nil, batchv1.PodFailurePolicyOnExitCodesOpIn, 5, 3), exitRule(nil, batchv1.PodFailurePolicyOnExitCodesOpIn, 3, 5)},
		{"Duplicate", exitRule(nil, batchv1.PodFailurePolicyOnExitCodesOpNotIn, 0, 3, 3), exitRule(nil, batchv1.PodFailurePolicyOnExitCodesOpNotIn, 0, 3)},
		{"NoOperator", exitRule(nil, "", 3), exitRule(nil, batchv1.PodFailurePolicyOnExitCodesOpNotIn, 3)},
		{"OtherContainer", exitRule(ptr.To("sidecar"), batchv1.PodFailurePolicyOnExitCodesOpIn, 3), exitRule(ptr.To("worker"), batchv1.PodFailurePolicyOnExitCodesOpIn, 3)},
		{"ConditionStatus", conditionRule(corev1.DisruptionTarget, "Maybe"), conditionRule(corev1.DisruptionTarget, corev1.ConditionUnknown)},
		{"ConditionType", conditionRule("bad type", corev1.ConditionTrue), conditionRule("example.com/Preempted", corev1.ConditionTrue)},
	}
	for _, tt := range tests {
		t.Run("PodFailurePolicy"+tt.name, func(t *testing.T) {
			t.Parallel()
			job, err := e.queue.Build(worker(), greeting{}, kubequeue.WithPodFailurePolicyRules(tt.accepted))
			require.NoError(t, err)
			require.NoError(t, dryRun(t, job))

			job.Spec.PodFailurePolicy.Rules = slices.Insert(job.Spec.PodFailurePolicy.Rules, 0, tt.refused)
			err = dryRun(t, job)
			require.True(t, apierrors.IsInvalid(err), "the server accepted %+v: %v", tt.refused, err)

			_, err = e.queue.Build(worker(), greeting{}, kubequeue.WithPodFailurePolicyRules(tt.refused))
			require.ErrorIs(t, err, kubequeue.ErrInvalidOption)
			_, err = e.queue.Build(worker(kubequeue.WithPodFailurePolicyRules(tt.refused)), greeting{})
			require.ErrorIs(t, err, kubequeue.ErrInvalidWorker)
		})
	}
}

// TestQueue_Schedule_RefusesWhatServerRefuses checks Schedule's checks of
// the cron spec and time zone against the API server's: each refused input
// is refused by a server-side dry run of a CronJob too, and the nearest
// accepted one passes both.
func TestQueue_Schedule_RefusesWhatServerRefuses(t *testing.T) {
	t.Parallel()
	e := setup(t)
	job, err := e.queue.Build(greetWorker, greeting{})
	require.NoError(t, err)
	dryRun := func(spec string, tz *string) error {
		cj := &batchv1.CronJob{
			ObjectMeta: metav1.ObjectMeta{Name: "dry-run"},
			Spec: batchv1.CronJobSpec{Schedule: spec, TimeZone: tz, JobTemplate: batchv1.JobTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: job.Labels}, Spec: job.Spec,
			}},
		}
		_, err := client.BatchV1().CronJobs(e.ns).Create(e.ctx, cj, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		return err
	}
	tests := []struct {
		name               string
		refused, accepted  string
		refusedTZ, accepTZ *string
	}{
		{name: "FourFields", refused: "0 7 * *", accepted: "0 7 * * *"},
		{name: "SixFields", refused: "0 0 7 * * *", accepted: "0 7 * * 1"},
		{name: "Range", refused: "60 * * * *", accepted: "59 * * * *"},
		{name: "Descriptor", refused: "@fortnightly", accepted: "@weekly"},
		{name: "TZInSpec", refused: "CRON_TZ=UTC 0 7 * * *", accepted: "0 7 * * *"},
		{name: "TimeZone", refused: "@daily", accepted: "@daily", refusedTZ: ptr.To("Europe/Atlantis"), accepTZ: ptr.To("Europe/Berlin")},
		{name: "LocalTimeZone", refused: "@daily", accepted: "@daily", refusedTZ: ptr.To("Local"), accepTZ: ptr.To("UTC")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := dryRun(tt.refused, tt.refusedTZ)
			require.True(t, apierrors.IsInvalid(err), "the server accepted %q %v: %v", tt.refused, tt.refusedTZ, err)
			require.NoError(t, dryRun(tt.accepted, tt.accepTZ))

			var opts []kubequeue.ScheduleOption
			if tt.refusedTZ != nil {
				opts = append(opts, kubequeue.WithTimeZone(*tt.refusedTZ))
			}
			_, err = e.queue.Schedule(e.ctx, "refused", greetWorker, tt.refused, greeting{}, opts...)
			require.ErrorIs(t, err, kubequeue.ErrInvalidOption)
			opts = nil
			if tt.accepTZ != nil {
				opts = append(opts, kubequeue.WithTimeZone(*tt.accepTZ), kubequeue.WithScheduleSuspended(true))
			}
			_, err = e.queue.Schedule(e.ctx, "accepted-"+strings.ToLower(tt.name), greetWorker, tt.accepted, greeting{}, append(opts, kubequeue.WithScheduleSuspended(true))...)
			require.NoError(t, err)
		})
	}
}
