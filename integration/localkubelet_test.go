package integration

import (
	"bufio"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/ptr"

	"github.com/kubequeue/kubequeue"
	"github.com/kubequeue/kubequeue/internal/wire"
	"github.com/kubequeue/kubequeue/localcluster"
)

// podLogs reads a pod's log through the API server (pods/log), which the API
// server fetches from the local kubelet.
func podLogs(t *testing.T, e *env, pod string, opts *corev1.PodLogOptions) string {
	t.Helper()
	if opts == nil {
		opts = &corev1.PodLogOptions{}
	}
	b, err := client.CoreV1().Pods(e.ns).GetLogs(pod, opts).DoRaw(e.ctx)
	require.NoError(t, err, "logs of pod %s", pod)
	return string(b)
}

// output returns a pod log without the lines the kubequeue runtime writes
// to stderr ("kubequeue: job succeeded", ...): what the worker printed.
func output(log string) string {
	var b strings.Builder
	for line := range strings.Lines(log) {
		if !strings.Contains(line, "kubequeue: job ") {
			b.WriteString(line)
		}
	}
	return b.String()
}

// completedLog waits for the Job to complete and returns the log of its one
// pod.
func completedLog(t *testing.T, e *env, job string) string {
	t.Helper()
	stored := waitJob(t, e, job, time.Minute, finished)
	pods := jobPods(t, e, job)
	require.Len(t, pods, 1)
	logs := podLogs(t, e, pods[0].Name, nil)
	require.NotNil(t, condition(stored, batchv1.JobComplete), "conditions: %+v\nlog:\n%s", stored.Status.Conditions, logs)
	return logs
}

// runningPod waits until the Job has a pod whose container runs, and
// returns it.
func runningPod(t *testing.T, e *env, job string) corev1.Pod {
	t.Helper()
	var pod corev1.Pod
	err := wait.PollUntilContextTimeout(e.ctx, 50*time.Millisecond, time.Minute, true, func(context.Context) (bool, error) {
		for _, p := range jobPods(t, e, job) {
			if p.Status.Phase == corev1.PodRunning && len(p.Status.ContainerStatuses) == 1 && p.Status.ContainerStatuses[0].State.Running != nil {
				pod = p
				return true, nil
			}
		}
		return false, nil
	})
	require.NoError(t, err, "no running pod for job %s", job)
	return pod
}

// waitFile waits until the file contains want, and returns its content.
func waitFile(t *testing.T, path, want string) string {
	t.Helper()
	var content string
	require.Eventually(t, func() bool {
		b, _ := os.ReadFile(path)
		content = string(b)
		return strings.Contains(content, want)
	}, time.Minute, 20*time.Millisecond, "file %s never contained %q", path, want)
	return content
}

// pidOf reads the pid a sleep worker wrote.
func pidOf(t *testing.T, markerContent string) int {
	t.Helper()
	_, rest, ok := strings.Cut(markerContent, "started pid=")
	require.True(t, ok, markerContent)
	pid, err := strconv.Atoi(strings.Fields(rest)[0])
	require.NoError(t, err)
	return pid
}

func processGone(pid int) bool {
	return syscall.Kill(pid, 0) == syscall.ESRCH
}

// startSleeper enqueues a sleep worker and waits until its process runs.
// It returns the Job's handle, the worker's marker and its pid.
func startSleeper(t *testing.T, e *env) (kubequeue.Handle, marker, int) {
	t.Helper()
	m := marker{File: filepath.Join(t.TempDir(), "marker")}
	h, err := e.queue.Enqueue(e.ctx, sleepWorker, m)
	require.NoError(t, err)
	return h, m, pidOf(t, waitFile(t, m.File, "started"))
}

// requireStopped checks that a sleep worker saw its context cancelled
// (SIGTERM), and that its process is gone.
func requireStopped(t *testing.T, m marker, pid int) {
	t.Helper()
	require.Contains(t, waitFile(t, m.File, "stopped"), "stopped: context canceled", "perform saw SIGTERM through its context")
	require.Eventually(t, func() bool { return processGone(pid) }, 10*time.Second, 20*time.Millisecond, "process %d outlived its pod", pid)
}

func TestLocalKubelet_PodFailurePolicyOnExitCode(t *testing.T) {
	t.Parallel()
	e := setup(t)
	// A permanent error exits 42; a podFailurePolicy rule on that exit code
	// fails the Job at once instead of retrying it.
	h, err := e.queue.Enqueue(e.ctx, permanentWorker, greeting{},
		kubequeue.WithBackoffLimit(5),
		kubequeue.WithJobMutator(func(j *batchv1.Job) {
			j.Spec.PodFailurePolicy = &batchv1.PodFailurePolicy{Rules: []batchv1.PodFailurePolicyRule{{
				Action: batchv1.PodFailurePolicyActionFailJob,
				OnExitCodes: &batchv1.PodFailurePolicyOnExitCodesRequirement{
					Operator: batchv1.PodFailurePolicyOnExitCodesOpIn,
					Values:   []int32{kubequeue.ExitPermanent},
				},
			}}}
		}))
	require.NoError(t, err)
	job := waitJob(t, e, h.Name, time.Minute, finished)
	failed := condition(job, batchv1.JobFailed)
	require.NotNil(t, failed, "conditions: %+v", job.Status.Conditions)
	require.Equal(t, batchv1.JobReasonPodFailurePolicy, failed.Reason)
	require.EqualValues(t, 1, job.Status.Failed, "no retry after a permanent failure")
	pods := jobPods(t, e, h.Name)
	require.Len(t, pods, 1)
	terminated := pods[0].Status.ContainerStatuses[0].State.Terminated
	require.EqualValues(t, kubequeue.ExitPermanent, terminated.ExitCode)
	require.Contains(t, terminated.Message, "this payload can never succeed")
}

func TestLocalKubelet_ActiveDeadlineExceeded(t *testing.T) {
	t.Parallel()
	e := setup(t)
	m := marker{File: filepath.Join(t.TempDir(), "marker")}
	h, err := e.queue.Enqueue(e.ctx, sleepWorker, m, kubequeue.WithActiveDeadline(3*time.Second))
	require.NoError(t, err)
	content := waitFile(t, m.File, "started")

	// The Job controller fails the Job and deletes its pod; the kubelet's
	// SIGTERM cancels perform's context.
	job := waitJob(t, e, h.Name, time.Minute, finished)
	failed := condition(job, batchv1.JobFailed)
	require.NotNil(t, failed, "conditions: %+v", job.Status.Conditions)
	require.Equal(t, batchv1.JobReasonDeadlineExceeded, failed.Reason)
	waitFile(t, m.File, "stopped: context canceled")
	pid := pidOf(t, content)
	require.Eventually(t, func() bool { return processGone(pid) }, 30*time.Second, 20*time.Millisecond, "process %d outlived its pod", pid)
}

func TestLocalKubelet_ForegroundDeleteStopsTheProcess(t *testing.T) {
	t.Parallel()
	e := setup(t)
	h, m, pid := startSleeper(t, e)
	pod := runningPod(t, e, h.Name)
	require.Contains(t, podLogs(t, e, pod.Name, nil), "sleeping until stopped")

	require.NoError(t, client.BatchV1().Jobs(e.ns).Delete(e.ctx, h.Name, metav1.DeleteOptions{
		PropagationPolicy: ptr.To(metav1.DeletePropagationForeground),
	}))
	// Foreground deletion removes the pods first, then the Job.
	err := wait.PollUntilContextTimeout(e.ctx, 50*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		_, err := client.BatchV1().Jobs(e.ns).Get(ctx, h.Name, metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})
	require.NoError(t, err, "job %s was not deleted", h.Name)
	require.Empty(t, jobPods(t, e, h.Name))
	requireStopped(t, m, pid)
}

func TestLocalKubelet_EnvAndVolumesFromSecretAndConfigMap(t *testing.T) {
	t.Parallel()
	e := setup(t)
	_, err := client.CoreV1().Secrets(e.ns).Create(e.ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "credentials"},
		StringData: map[string]string{"API_TOKEN": "s3cr3t", "password": "hunter2"},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	_, err = client.CoreV1().ConfigMaps(e.ns).Create(e.ctx, &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "settings"},
		Data:       map[string]string{"LOG_LEVEL": "debug", "region": "eu-west-1", "config.yaml": "mode: batch"},
	}, metav1.CreateOptions{})
	require.NoError(t, err)

	worker := kubequeue.NewWorker("prints-env", printEnv,
		kubequeue.WithImage(testImage),
		kubequeue.WithEnvFromSecret("credentials"),
		kubequeue.WithEnvFromConfigMap("settings"),
		kubequeue.WithEnvVars(
			corev1.EnvVar{Name: "PASSWORD", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
				LocalObjectReference: corev1.LocalObjectReference{Name: "credentials"}, Key: "password"}}},
			corev1.EnvVar{Name: "REGION", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{
				LocalObjectReference: corev1.LocalObjectReference{Name: "settings"}, Key: "region"}}},
			corev1.EnvVar{Name: "POD_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
			corev1.EnvVar{Name: "POD_NAMESPACE", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.namespace"}}},
			corev1.EnvVar{Name: "WORKER_LABEL", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.labels['" + kubequeue.LabelWorker + "']"}}},
		),
		kubequeue.WithEnv("GREETING", "region is $(REGION)"),
		kubequeue.WithVolumes(
			corev1.Volume{Name: "secret", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "credentials"}}},
			corev1.Volume{Name: "config", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "settings"}}}},
		),
		kubequeue.WithVolumeMounts(
			corev1.VolumeMount{Name: "secret", MountPath: "/etc/credentials", ReadOnly: true},
			corev1.VolumeMount{Name: "config", MountPath: "/etc/settings", ReadOnly: true},
		),
	)
	h, err := e.queue.Enqueue(e.ctx, worker, show{
		Vars:  []string{"API_TOKEN", "PASSWORD", "LOG_LEVEL", "REGION", "POD_NAMESPACE", "WORKER_LABEL", "GREETING"},
		Files: []string{"/etc/credentials/password", "/etc/settings/config.yaml"},
	})
	require.NoError(t, err)
	logs := completedLog(t, e, h.Name)
	require.Contains(t, logs, "kubequeue: job succeeded")
	require.Equal(t, strings.Join([]string{
		"API_TOKEN=s3cr3t",
		"PASSWORD=hunter2",
		"LOG_LEVEL=debug",
		"REGION=eu-west-1",
		"POD_NAMESPACE=" + e.ns,
		"WORKER_LABEL=prints-env",
		"GREETING=region is eu-west-1",
		"password: hunter2",
		"config.yaml: mode: batch",
	}, "\n")+"\n", output(logs))
}

func TestLocalKubelet_PayloadFromSecretVolume(t *testing.T) {
	t.Parallel()
	e := setup(t)
	in := greeting{Name: strings.Repeat("x", 1000) + ` "from a Secret" $(HOME)`}
	data, err := wire.Encode(in)
	require.NoError(t, err)
	_, err = client.CoreV1().Secrets(e.ns).Create(e.ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "payload"},
		StringData: map[string]string{"payload.json": data},
	}, metav1.CreateOptions{})
	require.NoError(t, err)

	// The payload is a file from a Secret volume instead of an env var.
	h, err := e.queue.Enqueue(e.ctx, greetWorker, greeting{}, kubequeue.WithJobMutator(func(j *batchv1.Job) {
		spec := &j.Spec.Template.Spec
		spec.Volumes = append(spec.Volumes, corev1.Volume{Name: "payload", VolumeSource: corev1.VolumeSource{
			Secret: &corev1.SecretVolumeSource{SecretName: "payload"}}})
		c := &spec.Containers[0]
		c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: "payload", MountPath: "/var/run/kubequeue", ReadOnly: true})
		c.Env = slices.DeleteFunc(c.Env, func(v corev1.EnvVar) bool { return v.Name == wire.EnvPayload })
		c.Env = append(c.Env, corev1.EnvVar{Name: wire.EnvPayloadFile, Value: "/var/run/kubequeue/payload.json"})
	}))
	require.NoError(t, err)
	logs := completedLog(t, e, h.Name)
	require.Equal(t, "hello, "+in.Name+"\n", output(logs))
}

func TestLocalKubelet_Logs(t *testing.T) {
	t.Parallel()
	e := setup(t)
	h, err := e.queue.Enqueue(e.ctx, countWorker, count{Lines: 5, Interval: 300 * time.Millisecond})
	require.NoError(t, err)
	pod := runningPod(t, e, h.Name)

	// follow=true streams while the container runs, and ends with it.
	ctx, cancel := context.WithTimeout(e.ctx, time.Minute)
	defer cancel()
	start := time.Now()
	stream, err := client.CoreV1().Pods(e.ns).GetLogs(pod.Name, &corev1.PodLogOptions{Follow: true}).Stream(ctx)
	require.NoError(t, err)
	defer stream.Close()
	var lines []string
	var firstAt time.Duration
	sc := bufio.NewScanner(stream)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "line ") {
			if len(lines) == 0 {
				firstAt = time.Since(start)
			}
			lines = append(lines, sc.Text())
		}
	}
	require.NoError(t, sc.Err())
	require.Equal(t, []string{"line 1", "line 2", "line 3", "line 4", "line 5"}, lines)
	require.Less(t, firstAt, time.Since(start)-500*time.Millisecond, "follow delivered the lines as they were written, not at the end")
	waitJob(t, e, h.Name, time.Minute, finished)

	// tailLines, timestamps and limitBytes.
	require.Equal(t, "line 5\n", output(podLogs(t, e, pod.Name, &corev1.PodLogOptions{TailLines: ptr.To[int64](2)})), "the last two lines: line 5 and the runtime's report")
	// stdout and stderr are separate pipes, so the runtime's report may come
	// before or after the last line.
	var stamped string
	for line := range strings.Lines(podLogs(t, e, pod.Name, &corev1.PodLogOptions{Timestamps: true, TailLines: ptr.To[int64](2)})) {
		if strings.Contains(line, "line 5") {
			stamped = line
		}
	}
	fields := strings.Fields(stamped)
	require.Len(t, fields, 3, stamped)
	ts, err := time.Parse(time.RFC3339Nano, fields[0])
	require.NoError(t, err)
	require.WithinDuration(t, time.Now(), ts, time.Minute)
	require.Equal(t, "line 5", fields[1]+" "+fields[2])
	require.Equal(t, "line", podLogs(t, e, pod.Name, &corev1.PodLogOptions{LimitBytes: ptr.To[int64](4)}))
	// sinceTime after the last line: nothing.
	require.Empty(t, podLogs(t, e, pod.Name, &corev1.PodLogOptions{SinceTime: &metav1.Time{Time: time.Now().Add(time.Second)}}))
}

func TestLocalKubelet_PreviousLogsAfterRestart(t *testing.T) {
	t.Parallel()
	e := setup(t)
	m := marker{File: filepath.Join(t.TempDir(), "marker")}
	// restartPolicy OnFailure restarts the container in the same pod, after
	// the kubelet's 10 s back-off.
	worker := kubequeue.NewWorker("flaky", flaky, kubequeue.WithImage(testImage), kubequeue.WithRestartPolicy(corev1.RestartPolicyOnFailure))
	h, err := e.queue.Enqueue(e.ctx, worker, m)
	require.NoError(t, err)
	job := waitJob(t, e, h.Name, 90*time.Second, finished)
	require.NotNil(t, condition(job, batchv1.JobComplete), "conditions: %+v", job.Status.Conditions)
	pods := jobPods(t, e, h.Name)
	require.Len(t, pods, 1, "the container restarted in its pod")
	cs := pods[0].Status.ContainerStatuses[0]
	require.EqualValues(t, 1, cs.RestartCount)
	require.EqualValues(t, 1, cs.LastTerminationState.Terminated.ExitCode)
	require.Contains(t, podLogs(t, e, pods[0].Name, nil), "attempt 2")
	previous := podLogs(t, e, pods[0].Name, &corev1.PodLogOptions{Previous: true})
	require.Contains(t, previous, "attempt 1")
	require.Contains(t, previous, "the first attempt fails on purpose")

	// The restart came after the kubelet's default back-off of 10 s, not
	// doubled (it was the first). The times are whole seconds, truncated:
	// a gap of 10 s or more never shows as less than 10 s.
	gap := cs.State.Terminated.StartedAt.Sub(cs.LastTerminationState.Terminated.FinishedAt.Time)
	require.GreaterOrEqual(t, gap, 10*time.Second, "restarted too soon")
	require.Less(t, gap, 20*time.Second, "restarted too late")
}

func TestLocalKubelet_HostEnvironment(t *testing.T) {
	t.Parallel()
	e := setup(t)
	// The kubelet was started by this process, with its environment: a
	// container gets PATH, HOME, TMPDIR and LANG from there (a real
	// container gets them from its image). (The provider's tests set them
	// to values of their own, and check that nothing else leaks in.)
	h, err := e.queue.Enqueue(e.ctx, envWorker, show{Vars: []string{"HOME", "TMPDIR", "LANG", "PATH"}})
	require.NoError(t, err)
	require.NotEmpty(t, os.Getenv("HOME"))
	require.Equal(t, strings.Join([]string{
		"HOME=" + os.Getenv("HOME"),
		"TMPDIR=" + os.Getenv("TMPDIR"),
		"LANG=" + os.Getenv("LANG"),
		"PATH=" + os.Getenv("PATH"),
	}, "\n")+"\n", output(completedLog(t, e, h.Name)))
}

func TestLocalKubelet_LogsSinceSeconds(t *testing.T) {
	t.Parallel()
	e := setup(t)
	h, err := e.queue.Enqueue(e.ctx, countWorker, count{Lines: 2, Interval: 6 * time.Second})
	require.NoError(t, err)
	pod := runningPod(t, e, h.Name)

	// Once line 2 is written, 6 s after line 1, sinceSeconds=3 has line 2
	// and not line 1; sinceSeconds=60 has both.
	ctx, cancel := context.WithTimeout(e.ctx, time.Minute)
	defer cancel()
	stream, err := client.CoreV1().Pods(e.ns).GetLogs(pod.Name, &corev1.PodLogOptions{Follow: true}).Stream(ctx)
	require.NoError(t, err)
	defer stream.Close()
	sc := bufio.NewScanner(stream)
	sawLine2 := false
	for !sawLine2 && sc.Scan() {
		sawLine2 = sc.Text() == "line 2"
	}
	require.True(t, sawLine2, "the followed log ended without line 2 (%v)", sc.Err())
	recent := podLogs(t, e, pod.Name, &corev1.PodLogOptions{SinceSeconds: ptr.To[int64](3)})
	all := podLogs(t, e, pod.Name, &corev1.PodLogOptions{SinceSeconds: ptr.To[int64](60)})
	require.Equal(t, "line 2\n", output(recent))
	require.Equal(t, "line 1\nline 2\n", output(all))
}

func TestLocalKubelet_IndexedJob(t *testing.T) {
	t.Parallel()
	e := setup(t)
	h, err := e.queue.Enqueue(e.ctx, envWorker, show{Vars: []string{"JOB_COMPLETION_INDEX"}},
		kubequeue.WithJobMutator(func(j *batchv1.Job) {
			j.Spec.CompletionMode = ptr.To(batchv1.IndexedCompletion)
			j.Spec.Completions = ptr.To[int32](3)
			j.Spec.Parallelism = ptr.To[int32](3)
		}))
	require.NoError(t, err)
	job := waitJob(t, e, h.Name, time.Minute, finished)
	require.NotNil(t, condition(job, batchv1.JobComplete), "conditions: %+v", job.Status.Conditions)
	var got []string
	for _, p := range jobPods(t, e, h.Name) {
		got = append(got, strings.TrimSpace(output(podLogs(t, e, p.Name, nil))))
	}
	slices.Sort(got)
	require.Equal(t, []string{"JOB_COMPLETION_INDEX=0", "JOB_COMPLETION_INDEX=1", "JOB_COMPLETION_INDEX=2"}, got)
}

func TestLocalKubelet_UnmappedImage(t *testing.T) {
	t.Parallel()
	e := setup(t)
	worker := kubequeue.NewWorker("greet", greet, kubequeue.WithImage("registry.example.com/not-mapped:v1"))
	h, err := e.queue.Enqueue(e.ctx, worker, greeting{}, kubequeue.WithBackoffLimit(0))
	require.NoError(t, err)
	job := waitJob(t, e, h.Name, time.Minute, finished)
	require.NotNil(t, condition(job, batchv1.JobFailed), "conditions: %+v", job.Status.Conditions)
	pods := jobPods(t, e, h.Name)
	require.Len(t, pods, 1)
	terminated := pods[0].Status.ContainerStatuses[0].State.Terminated
	require.Equal(t, "ErrImageNeverPull", terminated.Reason)
	require.Contains(t, terminated.Message, `image "registry.example.com/not-mapped:v1" is not mapped to a local executable`)
}

func TestLocalKubelet_SimulatedNode(t *testing.T) {
	t.Parallel()
	e := setup(t)
	selector, tolerations := localcluster.Simulated()
	// The image is not mapped: on the simulated node nothing runs.
	worker := kubequeue.NewWorker("simulated", greet,
		kubequeue.WithImage("registry.example.com/not-mapped:v1"),
		kubequeue.WithNodeSelector(selector),
		kubequeue.WithTolerations(tolerations...),
	)
	h, err := e.queue.Enqueue(e.ctx, worker, greeting{})
	require.NoError(t, err)
	job := waitJob(t, e, h.Name, time.Minute, finished)
	require.NotNil(t, condition(job, batchv1.JobComplete), "conditions: %+v", job.Status.Conditions)
	pods := jobPods(t, e, h.Name)
	require.Len(t, pods, 1)
	require.Equal(t, localcluster.SimulatedNodeName, pods[0].Spec.NodeName)
}

// TestLocalKubelet_EnvRoot keeps the variable that kubequeue's runtime
// resolves container paths through the one the local cluster documents and
// its kubelet sets.
func TestLocalKubelet_EnvRoot(t *testing.T) {
	t.Parallel()
	require.Equal(t, localcluster.EnvRoot, wire.EnvLocalRoot)
}
