package integration

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/utils/ptr"

	"github.com/kubequeue/kubequeue"
	"github.com/kubequeue/kubequeue/internal/wire"
	"github.com/kubequeue/kubequeue/localcluster"
)

func TestQueue_Enqueue_RunsToComplete(t *testing.T) {
	t.Parallel()
	e := setup(t)
	// The kubelet expands $(VAR) in env values, with the variables defined
	// before (KUBEQUEUE_WORKER is) and $$ as $: none of it may change the
	// payload.
	in := greeting{Name: `it's "quoted" $HOME $(HOME) $$ \ costs $5, 5$, $$5; $(KUBEQUEUE_WORKER) $(NOT_DEFINED) $$(KUBEQUEUE_WORKER)`}

	h, err := e.queue.Enqueue(e.ctx, greetWorker, in)
	require.NoError(t, err)
	require.Equal(t, e.ns, h.Namespace)
	require.NotEmpty(t, h.UID, "the server assigns the UID")

	job := waitJob(t, e, h.Name, time.Minute, finished)
	require.NotNil(t, condition(job, batchv1.JobComplete), "conditions: %+v", job.Status.Conditions)
	require.Equal(t, h.UID, job.UID)
	require.EqualValues(t, 1, job.Status.Succeeded)
	require.Zero(t, job.Status.Failed)
	require.NotNil(t, job.Status.StartTime)
	require.NotNil(t, job.Status.CompletionTime)

	pods := jobPods(t, e, h.Name)
	require.Len(t, pods, 1)
	pod := pods[0]
	require.Equal(t, corev1.PodSucceeded, pod.Status.Phase)
	require.Equal(t, localcluster.LocalNodeName, pod.Spec.NodeName, "the scheduler placed the pod")
	require.Equal(t, "kubequeue", pod.Labels[kubequeue.LabelManagedBy])
	require.Equal(t, "greet", pod.Labels[kubequeue.LabelWorker])

	// The payload reaches the pod as the server stored it.
	env := map[string]string{}
	for _, v := range pod.Spec.Containers[0].Env {
		env[v.Name] = v.Value
	}
	require.Equal(t, "greet", env[wire.EnvWorker])
	got, err := wire.Decode[greeting](env[wire.EnvPayload])
	require.NoError(t, err)
	require.Equal(t, in, got)

	// The worker ran: it exited 0 and printed the payload as it was sent,
	// through the kubelet's expansion of $(VAR) and $$ in env values.
	terminated := pod.Status.ContainerStatuses[0].State.Terminated
	require.NotNil(t, terminated)
	require.Zero(t, terminated.ExitCode)
	require.Equal(t, "Completed", terminated.Reason)
	require.Equal(t, "hello, "+in.Name+"\n", output(podLogs(t, e, pod.Name, nil)))
}

func TestQueue_Enqueue_BackoffLimitExceeded(t *testing.T) {
	t.Parallel()
	e := setup(t)
	h, err := e.queue.Enqueue(e.ctx, failingWorker, greeting{}, kubequeue.WithBackoffLimit(1))
	require.NoError(t, err)

	// The Job controller waits 10 s before the second attempt.
	job := waitJob(t, e, h.Name, 90*time.Second, finished)
	failed := condition(job, batchv1.JobFailed)
	require.NotNil(t, failed, "conditions: %+v", job.Status.Conditions)
	require.Equal(t, batchv1.JobReasonBackoffLimitExceeded, failed.Reason)
	require.EqualValues(t, 2, job.Status.Failed, "backoffLimit 1 allows 2 attempts")
	require.Zero(t, job.Status.Succeeded)

	pods := jobPods(t, e, h.Name)
	require.Len(t, pods, 2)
	for _, p := range pods {
		require.Equal(t, corev1.PodFailed, p.Status.Phase, "pod %s", p.Name)
		require.Len(t, p.Status.ContainerStatuses, 1, "pod %s", p.Name)
		terminated := p.Status.ContainerStatuses[0].State.Terminated
		require.NotNil(t, terminated, "pod %s", p.Name)
		require.EqualValues(t, kubequeue.ExitRetryable, terminated.ExitCode)
		require.Equal(t, "Error", terminated.Reason)
		// FallbackToLogsOnError: the message is the end of the log, where
		// the runtime wrote the error.
		require.Contains(t, terminated.Message, "the worker failed on purpose")
	}
}

func TestQueue_Enqueue_TTLAfterFinished(t *testing.T) {
	t.Parallel()
	e := setup(t)
	h, err := e.queue.Enqueue(e.ctx, greetWorker, greeting{}, kubequeue.WithTTLAfterFinished(time.Second))
	require.NoError(t, err)

	// The TTL controller deletes the Job a second after it completes.
	completed := false
	job := watchJob(t, e, h.Name, time.Minute, func(ev watch.EventType, job *batchv1.Job) (bool, error) {
		if condition(job, batchv1.JobComplete) != nil {
			completed = true
		}
		return ev == watch.Deleted, nil
	})
	require.True(t, completed, "the job was deleted before it completed")
	require.EqualValues(t, 1, *job.Spec.TTLSecondsAfterFinished)

	// The garbage collector deletes its pods.
	err = wait.PollUntilContextTimeout(e.ctx, 100*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		return len(jobPods(t, e, h.Name)) == 0, nil
	})
	require.NoError(t, err, "the garbage collector did not delete the pods of job %s", h.Name)
}

func TestQueue_Enqueue_LongestNames(t *testing.T) {
	t.Parallel()
	e := setup(t)
	worker := longNameWorker
	name := worker.Name()
	require.Len(t, name, kubequeue.MaxWorkerNameLen)

	// Generated names, then an explicit name of the maximum length.
	var names []string
	for range 5 {
		h, err := e.queue.Enqueue(e.ctx, worker, greeting{})
		require.NoError(t, err)
		require.Len(t, h.Name, 63)
		names = append(names, h.Name)
	}
	explicit := strings.Repeat("j", 63)
	h, err := e.queue.Enqueue(e.ctx, worker, greeting{}, kubequeue.WithJobName(explicit))
	require.NoError(t, err)
	names = append(names, h.Name)

	// The server also accepts what the Job controller derives from them:
	// pod names, and the job-name label on every pod.
	for _, n := range names {
		job := waitJob(t, e, n, time.Minute, finished)
		require.NotNil(t, condition(job, batchv1.JobComplete), "job %s: %+v", n, job.Status.Conditions)
		pods := jobPods(t, e, n)
		require.Len(t, pods, 1, "job %s", n)
		require.Equal(t, name, pods[0].Labels[kubequeue.LabelWorker])
	}
}

func TestQueue_Build_ServerAcceptsEveryOption(t *testing.T) {
	t.Parallel()
	e := setup(t)
	worker := kubequeue.NewWorker("every-option", greet,
		kubequeue.WithImage("registry.example.com/app@sha256:"+strings.Repeat("a", 64)),
		kubequeue.WithContainerName("main"),
		kubequeue.WithArgs("--verbose"),
		kubequeue.WithEnv("MODE", "batch"),
		kubequeue.WithEnvVars(corev1.EnvVar{Name: "POD", ValueFrom: &corev1.EnvVarSource{
			FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"},
		}}),
		kubequeue.WithEnvFromConfigMap("settings"),
		kubequeue.WithEnvFromSecret("credentials"),
		kubequeue.WithCPU("250m", "1"),
		kubequeue.WithMemory("64Mi", "128Mi"),
		kubequeue.WithServiceAccount("worker"),
		kubequeue.WithImagePullSecrets("registry"),
		kubequeue.WithNodeSelector(map[string]string{"kubernetes.io/os": "linux"}),
		kubequeue.WithTolerations(corev1.Toleration{Key: "dedicated", Operator: corev1.TolerationOpEqual, Value: "jobs", Effect: corev1.TaintEffectNoSchedule}),
		kubequeue.WithPriorityClass("system-cluster-critical"),
		kubequeue.WithVolumes(corev1.Volume{Name: "scratch", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}),
		kubequeue.WithVolumeMounts(corev1.VolumeMount{Name: "scratch", MountPath: "/scratch"}),
		kubequeue.WithLabels(map[string]string{"team": "media"}),
		kubequeue.WithAnnotations(map[string]string{"example.com/owner": "media"}),
		kubequeue.WithPodLabels(map[string]string{"tier": "batch"}),
		kubequeue.WithPodAnnotations(map[string]string{"example.com/trace": "on"}),
		kubequeue.WithBackoffLimit(0),
		kubequeue.WithActiveDeadline(10*time.Minute),
		kubequeue.WithTTLAfterFinished(time.Hour),
		kubequeue.WithAutomountServiceAccountToken(false),
		kubequeue.WithPodSecurityContext(&corev1.PodSecurityContext{RunAsUser: ptr.To[int64](1000), RunAsNonRoot: ptr.To(true)}),
		kubequeue.WithSecurityContext(&corev1.SecurityContext{ReadOnlyRootFilesystem: ptr.To(true)}),
		kubequeue.WithPodFailurePolicyRules(batchv1.PodFailurePolicyRule{
			Action:      batchv1.PodFailurePolicyActionIgnore,
			OnExitCodes: &batchv1.PodFailurePolicyOnExitCodesRequirement{Operator: batchv1.PodFailurePolicyOnExitCodesOpIn, Values: []int32{3}},
		}),
	)
	job, err := e.queue.Build(worker, greeting{Name: "x"}, kubequeue.WithSensitivePayload(), kubequeue.WithUniqueKey("order-42"))
	require.NoError(t, err)

	// A server-side dry run validates and defaults without storing.
	got, err := client.BatchV1().Jobs(e.ns).Create(e.ctx, job, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
	require.NoError(t, err)
	_, err = client.BatchV1().Jobs(e.ns).Get(e.ctx, job.Name, metav1.GetOptions{})
	require.True(t, apierrors.IsNotFound(err), "a dry run stores nothing: %v", err)

	// What kubequeue set comes back unchanged, but for the field reference's
	// API version, which the server defaults.
	env := job.Spec.Template.Spec.Containers[0].Env
	i := slices.IndexFunc(env, func(v corev1.EnvVar) bool { return v.Name == "POD" })
	require.GreaterOrEqual(t, i, 0, "env: %+v", env)
	require.NotNil(t, env[i].ValueFrom)
	require.NotNil(t, env[i].ValueFrom.FieldRef)
	require.Empty(t, env[i].ValueFrom.FieldRef.APIVersion)
	env[i].ValueFrom.FieldRef.APIVersion = "v1"
	require.Equal(t, env, got.Spec.Template.Spec.Containers[0].Env)
	require.Equal(t, job.Spec.Template.Spec.Containers[0].Resources, got.Spec.Template.Spec.Containers[0].Resources)
	require.Equal(t, job.Spec.BackoffLimit, got.Spec.BackoffLimit)
	require.Equal(t, job.Spec.ActiveDeadlineSeconds, got.Spec.ActiveDeadlineSeconds)
	require.Equal(t, job.Spec.TTLSecondsAfterFinished, got.Spec.TTLSecondsAfterFinished)
	require.Equal(t, job.Spec.PodFailurePolicy, got.Spec.PodFailurePolicy)
	require.Equal(t, job.Spec.Suspend, got.Spec.Suspend)
	require.Equal(t, job.Spec.Template.Spec.SecurityContext, got.Spec.Template.Spec.SecurityContext)
	require.Equal(t, job.Spec.Template.Spec.Containers[0].SecurityContext, got.Spec.Template.Spec.Containers[0].SecurityContext)
	require.Equal(t, job.Spec.Template.Spec.Containers[0].VolumeMounts, got.Spec.Template.Spec.Containers[0].VolumeMounts)
	require.Equal(t, job.Annotations, got.Annotations)
	for k, v := range job.Labels {
		require.Equal(t, v, got.Labels[k], "label %s", k)
	}
	require.True(t, *got.Spec.Suspend, "suspended until Enqueue has created its payload Secret")
	got.Spec.Suspend = ptr.To(false)
	requireServerDefaults(t, got)
}

// requireServerDefaults checks the fields the API server fills in on a
// kubequeue Job, which the fake clientset leaves empty.
func requireServerDefaults(t *testing.T, got *batchv1.Job) {
	t.Helper()
	require.NotEmpty(t, got.UID)
	require.EqualValues(t, 1, *got.Spec.Completions)
	require.EqualValues(t, 1, *got.Spec.Parallelism)
	require.Equal(t, batchv1.NonIndexedCompletion, *got.Spec.CompletionMode)
	require.False(t, *got.Spec.Suspend)
	require.NotNil(t, got.Spec.Selector, "the server generates the selector")
	require.Equal(t, string(got.UID), got.Spec.Template.Labels[batchv1.ControllerUidLabel])
	require.Equal(t, got.Name, got.Spec.Template.Labels[batchv1.JobNameLabel])
	spec := got.Spec.Template.Spec
	require.Equal(t, corev1.RestartPolicyNever, spec.RestartPolicy)
	require.EqualValues(t, 30, *spec.TerminationGracePeriodSeconds)
	require.Equal(t, corev1.DNSClusterFirst, spec.DNSPolicy)
	require.Equal(t, corev1.DefaultSchedulerName, spec.SchedulerName)
	c := spec.Containers[0]
	require.Equal(t, "/dev/termination-log", c.TerminationMessagePath)
	require.Equal(t, corev1.TerminationMessageFallbackToLogsOnError, c.TerminationMessagePolicy)
	require.NotEmpty(t, c.ImagePullPolicy)
}

// TestQueue_EnqueueMany: payloads, some large enough to travel in a
// Secret, become one Job each on the API server, the handles in the order
// of the payloads.
func TestQueue_EnqueueMany(t *testing.T) {
	t.Parallel()
	e := setup(t)
	worker := kubequeue.NewWorker("many", greet, kubequeue.WithImage(testImage), suspended)
	payloads := make([]greeting, 300)
	large := map[int]bool{}
	for i := range payloads {
		payloads[i].Name = strconv.Itoa(i)
		if i%60 == 1 {
			large[i] = true
			payloads[i].Name += strings.Repeat("x", kubequeue.MaxEnvPayloadSize)
		}
	}
	handles, err := e.queue.EnqueueMany(e.ctx, worker, payloads)
	require.NoError(t, err)
	require.Len(t, handles, len(payloads))

	list, err := client.BatchV1().Jobs(e.ns).List(e.ctx, metav1.ListOptions{})
	require.NoError(t, err)
	require.Len(t, list.Items, len(payloads), "one Job per payload")
	jobs := map[string]*batchv1.Job{}
	for i := range list.Items {
		jobs[list.Items[i].Name] = &list.Items[i]
	}
	for i, h := range handles {
		job := jobs[h.Name]
		require.NotNil(t, job, "payload %d: no Job %s", i, h.Name)
		require.Equal(t, job.UID, h.UID)
		env := map[string]string{}
		for _, v := range job.Spec.Template.Spec.Containers[0].Env {
			env[v.Name] = v.Value
		}
		data, inEnv := env[wire.EnvPayload]
		require.Equal(t, !large[i], inEnv, "payload %d travels in the environment unless it is large", i)
		if !inEnv {
			vol := wire.SecretVolumeOf(&job.Spec.Template.Spec)
			require.NotNil(t, vol)
			secret, err := client.CoreV1().Secrets(e.ns).Get(e.ctx, vol.SecretName, metav1.GetOptions{})
			require.NoError(t, err)
			data = string(secret.Data[wire.SecretKey])
			require.NotContains(t, job.Annotations, "kubequeue.io/resume", "payload %d's Job has its Secret", i)
		}
		got, err := wire.Decode[greeting](data)
		require.NoError(t, err)
		require.Equal(t, payloads[i], got, "handle %d names the Job of payload %d", i, i)
	}
	secrets, err := client.CoreV1().Secrets(e.ns).List(e.ctx, metav1.ListOptions{LabelSelector: kubequeue.LabelWorker + "=many"})
	require.NoError(t, err)
	require.Len(t, secrets.Items, len(large), "one Secret per large payload")
}
