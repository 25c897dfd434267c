// Package kubequeuetest helps test code that uses kubequeue, without a
// cluster: a queue on client-go's fake clientset, the payloads that were
// enqueued, performing a worker in-process exactly as its container would,
// and finishing a Job as the Job controller would, so that code that waits
// for Jobs can be tested too.
//
// The clientset is client-go's fake, made to act more as an API server does
// where kubequeue relies on it (UIDs, creation times, UID preconditions,
// watches that miss no deletion; see [NewClientset]). It still does no
// validation, defaulting or admission, and no controller runs the Jobs it
// holds.
package kubequeuetest

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/kubequeue/kubequeue"
	"github.com/kubequeue/kubequeue/internal/order"
	"github.com/kubequeue/kubequeue/internal/wire"
)

// NewQueue returns a queue on a new fake clientset (see [NewClientset]), and
// the clientset, so that a test can inspect what was created or inject
// failures with PrependReactor. The queue's [kubequeue.Queue.Logs] reads,
// for a pod that [SetSucceeded] or [SetFailed] made, the log given with
// [WithLog]. The error is [kubequeue.New]'s, for an invalid option.
func NewQueue(opts ...kubequeue.QueueOption) (*kubequeue.Queue, *fake.Clientset, error) {
	client := NewClientset()
	queue, err := kubequeue.New(WithPodLogs(client), opts...)
	if err != nil {
		return nil, nil, err
	}
	return queue, client, nil
}

// WithPodLogs returns client as a clientset whose pods/log answers, for a
// pod that [SetSucceeded] or [SetFailed] made, the log given with
// [WithLog], as the queue of [NewQueue] reads it (other pods answer
// client-go's "fake logs"). Code under test that makes its own queue from
// a clientset, such as a command, gets it instead of client.
func WithPodLogs(client *fake.Clientset) kubernetes.Interface {
	return logsClient{client}
}

// Jobs returns the Jobs of worker held by client in any namespace, oldest
// first: by creation time, which the API server keeps in whole seconds;
// within a second, those that a clientset of [NewClientset] created in the
// order it created them, and the others by name.
func Jobs(ctx context.Context, client kubernetes.Interface, worker kubequeue.AnyWorker) ([]batchv1.Job, error) {
	selector := labels.SelectorFromSet(labels.Set{kubequeue.LabelWorker: worker.Name()}).String()
	list, err := client.BatchV1().Jobs(metav1.NamespaceAll).List(ctx, metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		return nil, fmt.Errorf("kubequeuetest: list jobs of worker %q: %w", worker.Name(), err)
	}
	jobs := list.Items
	slices.SortStableFunc(jobs, func(a, b batchv1.Job) int {
		sa, okA := createdSeq(a.UID)
		sb, okB := createdSeq(b.UID)
		if okA && okB && a.CreationTimestamp.Truncate(time.Second).Equal(b.CreationTimestamp.Truncate(time.Second)) {
			return cmp.Compare(sa, sb)
		}
		return order.ByCreation(&a, &b)
	})
	return jobs, nil
}

// Enqueued returns the decoded payloads of the Jobs of w held by client,
// oldest first, decoded as the runtime in the container decodes them: what
// w is to perform. A batch ([kubequeue.Queue.EnqueueBatch]) gives its
// items, in the order of their indexes; [BatchItems] reads one batch's.
func Enqueued[T any](ctx context.Context, client kubernetes.Interface, w *kubequeue.Worker[T]) ([]T, error) {
	jobs, err := Jobs(ctx, client, w)
	if err != nil {
		return nil, err
	}
	out := make([]T, 0, len(jobs))
	for i := range jobs {
		if isBatch(&jobs[i]) {
			items, err := BatchItems(ctx, client, &jobs[i], w)
			if err != nil {
				return nil, err
			}
			out = append(out, items...)
			continue
		}
		job, err := inlinePayload(ctx, client, &jobs[i])
		if err != nil {
			return nil, err
		}
		v, err := Payload(job, w)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// inlinePayload returns job itself, or, when its payload (or a batch's
// items) travels in a Secret, a copy with the payload, read from the
// Secret in client, in its environment, as the runtime reads it from the
// mounted file.
func inlinePayload(ctx context.Context, client kubernetes.Interface, job *batchv1.Job) (*batchv1.Job, error) {
	env, _ := wire.JobEnv(job)
	_, payloadFile := env[wire.EnvPayloadFile]
	_, batchFile := env[wire.EnvBatchFile]
	if !payloadFile && !batchFile {
		return job, nil
	}
	vol := wire.SecretVolumeOf(&job.Spec.Template.Spec)
	if vol == nil {
		return nil, fmt.Errorf("kubequeuetest: job %s/%s reads its payload from a file but mounts no payload secret", job.Namespace, job.Name)
	}
	secret, err := client.CoreV1().Secrets(job.Namespace).Get(ctx, vol.SecretName, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("kubequeuetest: read the payload secret of job %s/%s: %w", job.Namespace, job.Name, err)
	}
	if batchFile {
		return withBatch(job, string(secret.Data[wire.BatchKey])), nil
	}
	return withPayload(job, string(secret.Data[wire.SecretKey])), nil
}

// withPayload returns a copy of job with data as its payload variable
// instead of the payload file.
func withPayload(job *batchv1.Job, data string) *batchv1.Job {
	job = job.DeepCopy()
	for i := range job.Spec.Template.Spec.Containers {
		c := &job.Spec.Template.Spec.Containers[i]
		for j := range c.Env {
			if c.Env[j].Name == wire.EnvPayloadFile {
				c.Env[j] = corev1.EnvVar{Name: wire.EnvPayload, Value: data}
			}
		}
	}
	return job
}

// Payload decodes the payload of a Job of w, as the runtime in its container
// would. A payload that travels in a Secret (above
// kubequeue.MaxEnvPayloadSize, or sensitive) is not in the Job: Payload
// then returns an error, and [Enqueued] reads it from the Secret.
func Payload[T any](job *batchv1.Job, w *kubequeue.Worker[T]) (T, error) {
	var zero T
	env, _ := wire.JobEnv(job)
	data, ok := env[wire.EnvPayload]
	if _, inSecret := env[wire.EnvPayloadFile]; inSecret {
		return zero, fmt.Errorf("kubequeuetest: the payload of job %s/%s travels in a Secret; use Enqueued, which reads it", job.Namespace, job.Name)
	}
	if !ok {
		return zero, fmt.Errorf("kubequeuetest: job %s/%s has no %s variable", job.Namespace, job.Name, wire.EnvPayload)
	}
	v, err := wire.Decode[T](data)
	if err != nil {
		return zero, fmt.Errorf("kubequeuetest: job %s/%s of worker %q: %w: %w", job.Namespace, job.Name, w.Name(), kubequeue.ErrPayloadDecode, err)
	}
	return v, nil
}

// RequireEnqueued fails t now unless client holds at least one Job of w,
// and returns their decoded payloads, oldest first.
func RequireEnqueued[T any](t testing.TB, client kubernetes.Interface, w *kubequeue.Worker[T]) []T {
	t.Helper()
	payloads, err := Enqueued(t.Context(), client, w)
	if err != nil {
		t.Fatalf("kubequeuetest: %v", err)
	}
	if len(payloads) == 0 {
		t.Fatalf("kubequeuetest: no job of worker %q was enqueued", w.Name())
	}
	return payloads
}

// RequireNotEnqueued fails t now if client holds a Job of w.
func RequireNotEnqueued[T any](t testing.TB, client kubernetes.Interface, w *kubequeue.Worker[T]) {
	t.Helper()
	jobs, err := Jobs(t.Context(), client, w)
	if err != nil {
		t.Fatalf("kubequeuetest: %v", err)
	}
	if len(jobs) > 0 {
		t.Fatalf("kubequeuetest: %d job(s) of worker %q were enqueued, want none; first: %s/%s", len(jobs), w.Name(), jobs[0].Namespace, jobs[0].Name)
	}
}

// Perform runs w's perform function in this process with payload, exactly as
// w's container would: it builds w's Job with payload, then runs the runtime
// on that Job's environment, which decodes the payload and calls perform,
// recovering a panic. A payload that would travel in a Secret (above
// kubequeue.MaxEnvPayloadSize, or with [kubequeue.WithSensitivePayload]) is
// encoded as Enqueue writes it into the Secret. Perform returns what
// perform recorded with [kubequeue.SetResult] (nil if nothing, or if
// perform failed), and perform's error, or the error Build or the runtime
// gave; [kubequeue.ExitCode] tells the exit code the container would have
// had.
func Perform[T any](ctx context.Context, w *kubequeue.Worker[T], p T, opts ...kubequeue.EnqueueOption) (json.RawMessage, error) {
	queue, err := kubequeue.New(fake.NewClientset())
	if err != nil {
		return nil, err
	}
	job, err := queue.Build(w, p, opts...)
	if err != nil {
		return nil, err
	}
	if env, _ := wire.JobEnv(job); env[wire.EnvPayloadFile] != "" {
		data, err := wire.Encode(p) // as Enqueue writes it into the Secret
		if err != nil {
			return nil, err
		}
		job = withPayload(job, data)
	}
	return kubequeue.PerformJob(ctx, job, w)
}

// PerformJob runs the worker of job, one of workers, in this process, as
// [kubequeue.PerformJob] does, for a Job held by client: a payload that
// travels in a Secret is read from the Secret in client, as the container
// reads it from the mounted file. It returns what perform recorded with
// [kubequeue.SetResult] and perform's error, as kubequeue.PerformJob does.
// A batch's Job is an error: [PerformBatchJob] performs its items.
func PerformJob(ctx context.Context, client kubernetes.Interface, job *batchv1.Job, workers ...kubequeue.AnyWorker) (json.RawMessage, error) {
	if job == nil {
		return kubequeue.PerformJob(ctx, job, workers...)
	}
	if isBatch(job) {
		return nil, fmt.Errorf("kubequeuetest: job %s/%s is a batch: PerformBatchJob performs its items", job.Namespace, job.Name)
	}
	job, err := inlinePayload(ctx, client, job)
	if err != nil {
		return nil, err
	}
	return kubequeue.PerformJob(ctx, job, workers...)
}

// PerformEnqueued performs, in this process and oldest first, each Job of w
// held by client, as [PerformJob] does (a batch's items index by index, as
// [PerformBatchJob] does), and returns the errors of those that failed,
// joined. The Jobs stay in client.
func PerformEnqueued[T any](ctx context.Context, client kubernetes.Interface, w *kubequeue.Worker[T]) error {
	jobs, err := Jobs(ctx, client, w)
	if err != nil {
		return err
	}
	var errs []error
	for i := range jobs {
		job, err := inlinePayload(ctx, client, &jobs[i])
		if err != nil {
			return err
		}
		if isBatch(job) {
			for _, o := range performItems(ctx, job, []kubequeue.AnyWorker{w}) {
				if o.Err != nil {
					errs = append(errs, fmt.Errorf("job %s/%s item %d: %w", job.Namespace, job.Name, o.Index, o.Err))
				}
			}
			continue
		}
		if _, err := kubequeue.PerformJob(ctx, job, w); err != nil {
			errs = append(errs, fmt.Errorf("job %s/%s: %w", jobs[i].Namespace, jobs[i].Name, err))
		}
	}
	return errors.Join(errs...)
}

// SetSucceeded makes the handle's Job in client succeed, as the Job
// controller and the kubelet would: it adds a pod of the Job that exited 0
// with result, encoded as JSON, as its termination message (none when
// result is nil; at most [kubequeue.MaxResultSize] bytes), and gives the
// Job the conditions SuccessCriteriaMet and Complete. A Job that has
// finished already is an error. [kubequeue.Queue.Wait], WaitAll and Status
// then report it succeeded, with the result, and Logs the pod's log (see
// [WithLog]). client is usually a fake clientset; nothing runs the Job.
func SetSucceeded(ctx context.Context, client kubernetes.Interface, h kubequeue.Handle, result any, opts ...FinishOption) error {
	var msg string
	if result != nil {
		data, err := wire.Encode(result) // as SetResult encodes it
		if err != nil {
			return fmt.Errorf("kubequeuetest: encode result of job %s: %w", h, err)
		}
		if len(data) > kubequeue.MaxResultSize {
			return fmt.Errorf("%w: job %s: result is %d bytes encoded, more than %d", kubequeue.ErrResultTooLarge, h, len(data), kubequeue.MaxResultSize)
		}
		msg = string(data)
	}
	return finish(ctx, client, h, 0, msg, batchv1.JobComplete, batchv1.JobReasonCompletionsReached, "Reached expected number of succeeded pods", opts)
}

// SetFailed makes the handle's Job in client fail, as the Job controller and
// the kubelet would: it adds a failed pod of the Job whose worker container
// exited with exitCode and message as its termination message, and gives
// the Job the conditions FailureTarget and Failed with reason, such as
// batchv1.JobReasonBackoffLimitExceeded. [kubequeue.Queue.Wait] then returns
// a [*kubequeue.JobFailedError] with them, and Logs the pod's log (see
// [WithLog]).
func SetFailed(ctx context.Context, client kubernetes.Interface, h kubequeue.Handle, reason string, exitCode int32, message string, opts ...FinishOption) error {
	if exitCode == 0 {
		return fmt.Errorf("kubequeuetest: job %s: a failed container exits with a code other than 0", h)
	}
	return finish(ctx, client, h, exitCode, message, batchv1.JobFailed, reason, "set by kubequeuetest.SetFailed", opts)
}

// FinishOption is an option of [SetSucceeded] and [SetFailed].
type FinishOption interface {
	applyFinish(*finishConfig)
}

type finishConfig struct {
	log string
}

type finishOptionFunc func(*finishConfig)

func (f finishOptionFunc) applyFinish(c *finishConfig) { f(c) }

// WithLog gives the pod that SetSucceeded or SetFailed adds log as what its
// worker container printed: [kubequeue.Queue.Logs] of a queue from
// [NewQueue] yields it, line by line (its options Follow, Since,
// SinceTime, TailLines and Timestamps select nothing on the fake). The log
// is kept in the pod's annotation test.kubequeue.io/log. Without WithLog,
// or with an empty log, pods/log answers client-go's default, "fake logs".
// Repeating WithLog replaces the log.
func WithLog(log string) FinishOption {
	return finishOptionFunc(func(c *finishConfig) { c.log = log })
}

// finish adds the Job's pod and sets its final conditions.
func finish(ctx context.Context, client kubernetes.Interface, h kubequeue.Handle, code int32, msg string, final batchv1.JobConditionType, reason, condMessage string, opts []FinishOption) error {
	var cfg finishConfig
	for _, opt := range opts {
		if opt != nil {
			opt.applyFinish(&cfg)
		}
	}
	jobs := client.BatchV1().Jobs(h.Namespace)
	job, err := jobs.Get(ctx, h.Name, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("kubequeuetest: get job %s: %w", h, err)
	}
	for _, c := range job.Status.Conditions {
		if (c.Type == batchv1.JobComplete || c.Type == batchv1.JobFailed) && c.Status == corev1.ConditionTrue {
			return fmt.Errorf("kubequeuetest: job %s has already finished (%s)", h, c.Type)
		}
	}
	container := kubequeue.DefaultContainerName
	if i := wire.WorkerContainer(&job.Spec.Template.Spec); i >= 0 {
		container = job.Spec.Template.Spec.Containers[i].Name
	}
	now := metav1.Now()
	phase, ended := corev1.PodSucceeded, "Completed"
	if code != 0 {
		phase, ended = corev1.PodFailed, "Error"
	}
	name := fmt.Sprintf("%s-%d", job.Name, job.Status.Failed+job.Status.Succeeded+1)
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name:      name,
			Namespace: job.Namespace,
			Labels:    podLabels(job),
		},
		Status: corev1.PodStatus{Phase: phase, ContainerStatuses: []corev1.ContainerStatus{{
			Name: container,
			State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
				ExitCode: code, Reason: ended, Message: msg, StartedAt: now, FinishedAt: now,
				ContainerID: "kubequeuetest://" + name, // it ran, so it has a log
			}},
		}}},
	}
	if cfg.log != "" {
		pod.Annotations = map[string]string{annotationLog: cfg.log}
	}
	if _, err := client.CoreV1().Pods(job.Namespace).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("kubequeuetest: create pod of job %s: %w", h, err)
	}
	if job.Status.StartTime == nil {
		job.Status.StartTime = &now
	}
	target := batchv1.JobSuccessCriteriaMet
	if code != 0 {
		target = batchv1.JobFailureTarget
		job.Status.Failed++
	} else {
		job.Status.Succeeded++
		job.Status.CompletionTime = &now
	}
	job.Status.Active = 0
	for _, t := range []batchv1.JobConditionType{target, final} {
		job.Status.Conditions = append(job.Status.Conditions, batchv1.JobCondition{
			Type: t, Status: corev1.ConditionTrue, Reason: reason, Message: condMessage, LastProbeTime: now, LastTransitionTime: now,
		})
	}
	if _, err := jobs.UpdateStatus(ctx, job, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("kubequeuetest: update status of job %s: %w", h, err)
	}
	return nil
}

// podLabels returns the labels the Job controller gives the Job's pods: the
// template's, and the Job's name and UID.
func podLabels(job *batchv1.Job) map[string]string {
	out := make(map[string]string, len(job.Spec.Template.Labels)+2)
	for k, v := range job.Spec.Template.Labels {
		out[k] = v
	}
	out[batchv1.ControllerUidLabel] = string(job.UID)
	out[batchv1.JobNameLabel] = job.Name
	return out
}
