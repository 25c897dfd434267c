package kubequeue

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	utilnet "k8s.io/apimachinery/pkg/util/net"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/kubernetes"
	batchv1client "k8s.io/client-go/kubernetes/typed/batch/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/ptr"

	"github.com/kubequeue/kubequeue/internal/payload"
)

// Handle identifies an enqueued Job. It is plain data: encode it (as JSON,
// for example) to check on the Job from another process or request.
type Handle struct {
	// Namespace is the Job's namespace.
	Namespace string `json:"namespace"`
	// Name is the Job's name.
	Name string `json:"name"`
	// UID is the UID the API server gave the Job. It tells this Job apart
	// from a later one of the same name.
	UID types.UID `json:"uid,omitempty"`
	// Worker is the worker's name.
	Worker string `json:"worker"`
}

// String returns "namespace/name".
func (h Handle) String() string { return h.Namespace + "/" + h.Name }

// Enqueue builds the Job for job and payload (see [Queue.Build]) and creates
// it. It returns the Job's handle once the API server has accepted it.
//
// Invalid input is reported before any API call, with the errors of Build.
// The name is chosen here, never by the API server, so a create can be
// repeated safely: when the API server cannot be reached or asks to try
// again (a timeout, 429, a 5xx), Enqueue tries again with back-off (see
// [WithRetries]); if an earlier try did create the Job and only its answer
// was lost, the next one finds it by its [AnnotationEnqueueID] and returns
// its handle, so a retried Enqueue never creates a second Job. With
// [WithUniqueKey], a Job that already exists for the key is returned as is.
//
// Other API errors are returned at once, wrapped with the Job's namespace
// and name and testable with the k8s.io/apimachinery/pkg/api/errors
// functions, such as IsAlreadyExists (a [WithJobName] already taken) or
// IsForbidden. A failed Enqueue leaves nothing behind: when the Job was
// created but its payload Secret or its resume failed, Enqueue deletes the
// Job (and the garbage collector the Secret); when a create's answer was
// lost and the retries failed, Enqueue looks the Job up and returns it if
// it runs. Only when even that lookup fails may a Job exist that Enqueue
// reported as failed; the error then says so, and calling Enqueue again
// with the same [WithUniqueKey] settles it. When ctx ends first, the error
// wraps ctx's.
func (q *Queue) Enqueue(ctx context.Context, job Job, payload any, opts ...EnqueueOption) (Handle, error) {
	j, secretPayload, err := q.build(job, payload, opts...)
	if err != nil {
		return Handle{}, err
	}
	if q.client == nil {
		return Handle{}, ErrNoClient
	}
	id := newEnqueueID()
	if j.Annotations == nil {
		j.Annotations = make(map[string]string, 1)
	}
	j.Annotations[AnnotationEnqueueID] = id
	if secretPayload != "" {
		// Each Enqueue its own Secret: a retried create recognizes it by
		// name, and a Secret left by an earlier Job of the same unique
		// key is in no one's way.
		secretVolume(j).SecretName = j.Name + "-" + id[:8]
	}
	created, ours, err := q.createJob(ctx, j)
	if err != nil {
		return Handle{}, err
	}
	if secretPayload != "" && ours {
		if err := q.attachPayload(ctx, created, secretPayload); err != nil {
			return Handle{}, q.undo(ctx, created, err)
		}
	}
	return Handle{Namespace: created.Namespace, Name: created.Name, UID: created.UID, Worker: job.Name()}, nil
}

// createJob creates j, trying again after errors that say to. It returns
// the Job that exists: the one created by this call (ours), or the one of
// the same unique key that another Enqueue created and started.
func (q *Queue) createJob(ctx context.Context, j *batchv1.Job) (created *batchv1.Job, ours bool, err error) {
	jobs := q.client.BatchV1().Jobs(j.Namespace)
	unknown := false // whether a try may have created the Job unseen
	err = q.retry(ctx, func() error {
		var err error
		created, err = jobs.Create(ctx, j, metav1.CreateOptions{FieldManager: q.fieldManager})
		if apierrors.IsAlreadyExists(err) {
			created, ours, err = q.existing(ctx, j, err)
			return err
		}
		if err != nil && (ctx.Err() != nil || retryable(context.WithoutCancel(ctx), err)) {
			unknown = true // a request cut short may have been stored
		}
		ours = err == nil
		return err
	})
	if err == nil {
		return created, ours, nil
	}
	err = fmt.Errorf("kubequeue: create job %s/%s: %w", j.Namespace, j.Name, err)
	if !unknown {
		return nil, false, err
	}
	// A try whose answer was lost may have created the Job: find it, so
	// that it is neither run unknown to the caller nor left suspended
	// without its payload.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), undoTimeout)
	defer cancel()
	got, gerr := jobs.Get(ctx, j.Name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(gerr):
		return nil, false, err // nothing was created
	case gerr != nil:
		return nil, false, fmt.Errorf("%w; the job may exist: enqueue again with the same WithUniqueKey to settle it (%w)", err, gerr)
	case got.Annotations[AnnotationEnqueueID] != j.Annotations[AnnotationEnqueueID]:
		return nil, false, err
	case got.Annotations[AnnotationResume] == "":
		return got, true, nil // created, and running: the caller's Job
	default:
		return nil, false, q.undo(ctx, got, err) // suspended without its payload
	}
}

// secretVolume returns the payload Secret volume of a Job whose payload is
// in a Secret. (Enqueue's parameter payload hides the package of that name.)
func secretVolume(j *batchv1.Job) *corev1.SecretVolumeSource {
	return payload.SecretVolumeOf(&j.Spec.Template.Spec)
}

// attachPayload creates the Secret that holds the payload of job, owned by
// the Job so that the garbage collector deletes it with the Job, and then
// resumes the Job, which was created suspended, unless the caller wanted
// it suspended.
func (q *Queue) attachPayload(ctx context.Context, job *batchv1.Job, data string) error {
	name := secretVolume(job).SecretName
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{
			Name:      name,
			Namespace: job.Namespace,
			Labels:    map[string]string{LabelManagedBy: managedBy, LabelWorker: job.Labels[LabelWorker]},
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion: "batch/v1", Kind: "Job", Name: job.Name, UID: job.UID,
			}},
		},
		Immutable: ptr.To(true),
		Type:      corev1.SecretTypeOpaque,
		Data:      map[string][]byte{payload.SecretKey: []byte(data)},
	}
	secrets := q.client.CoreV1().Secrets(job.Namespace)
	err := q.retry(ctx, func() error {
		_, err := secrets.Create(ctx, secret, metav1.CreateOptions{FieldManager: q.fieldManager})
		if apierrors.IsAlreadyExists(err) {
			return nil // its name holds this Enqueue's ID: an earlier try made it
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("create payload secret %s/%s: %w", job.Namespace, name, err)
	}
	if job.Annotations[AnnotationResume] == "false" {
		return nil
	}
	jobs := q.client.BatchV1().Jobs(job.Namespace)
	patch := fmt.Appendf(nil, `{"metadata":{"uid":%q},"spec":{"suspend":false}}`, job.UID)
	err = q.retry(ctx, func() error {
		_, err := jobs.Patch(ctx, job.Name, types.MergePatchType, patch, metav1.PatchOptions{FieldManager: q.fieldManager})
		return err
	})
	if err == nil {
		return nil
	}
	// The resume may have taken effect with its answer lost: then the Job
	// runs, and must not be undone.
	gctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), undoTimeout)
	defer cancel()
	if got, gerr := jobs.Get(gctx, job.Name, metav1.GetOptions{}); gerr == nil && got.UID == job.UID && got.Spec.Suspend != nil && !*got.Spec.Suspend {
		return nil
	}
	return fmt.Errorf("resume job %s/%s once its payload secret exists: %w", job.Namespace, job.Name, err)
}

// undo deletes a Job whose payload could not be attached, and with it, by
// the garbage collector, its Secret, so that nothing half made is left. It
// returns err with what happened.
func (q *Queue) undo(ctx context.Context, job *batchv1.Job, err error) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), undoTimeout)
	defer cancel()
	policy := metav1.DeletePropagationBackground
	derr := q.client.BatchV1().Jobs(job.Namespace).Delete(ctx, job.Name, metav1.DeleteOptions{
		PropagationPolicy: &policy, Preconditions: metav1.NewUIDPreconditions(string(job.UID)),
	})
	// NotFound, or Conflict from the UID precondition: the Job is gone.
	if derr != nil && !apierrors.IsNotFound(derr) && !apierrors.IsConflict(derr) {
		return fmt.Errorf("kubequeue: enqueue job %s/%s: %w; deleting the suspended job failed too: %w", job.Namespace, job.Name, err, derr)
	}
	return fmt.Errorf("kubequeue: enqueue job %s/%s: %w (the job was deleted)", job.Namespace, job.Name, err)
}

// undoTimeout bounds the clean-up of a failed Enqueue, which runs even when
// the caller's context has ended.
const undoTimeout = 10 * time.Second

// retry runs op, and again after errors that say to try again, with
// capped exponential back-off and jitter, at most q.tries times, within ctx.
func (q *Queue) retry(ctx context.Context, op func() error) error {
	delay := retryInitial
	for try := 1; ; try++ {
		err := op()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("%w (after: %w)", ctxErr(ctx), err)
		}
		if try >= q.tries || !retryable(ctx, err) {
			return err
		}
		wait := time.Duration(rand.Int64N(int64(delay))) + delay/2 // jitter: 0.5 to 1.5 times
		if s, ok := apierrors.SuggestsClientDelay(err); ok {
			wait = max(wait, time.Duration(s)*time.Second)
		}
		delay = min(2*delay, retryMax)
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (after: %w)", ctxErr(ctx), err)
		case <-time.After(wait):
		}
	}
}

// existing returns the Job that took j's name if it is j, created by an
// earlier try of this Enqueue (ours), or the Job of the same unique key
// that another Enqueue created and started; else an error: alreadyExists
// (the create's) for a Job of another key or none, or one that says the
// Job of the key is being deleted or not started yet.
func (q *Queue) existing(ctx context.Context, j *batchv1.Job, alreadyExists error) (got *batchv1.Job, ours bool, err error) {
	got, err = q.client.BatchV1().Jobs(j.Namespace).Get(ctx, j.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, false, errNameFreed // gone since: create again
	}
	if err != nil {
		return nil, false, fmt.Errorf("get the job that has the name: %w", err)
	}
	if got.Annotations[AnnotationEnqueueID] == j.Annotations[AnnotationEnqueueID] {
		return got, true, nil
	}
	if key := j.Annotations[AnnotationUniqueKey]; key == "" || got.Annotations[AnnotationUniqueKey] != key {
		return nil, false, alreadyExists
	}
	switch {
	case got.DeletionTimestamp != nil:
		return nil, false, fmt.Errorf("%w: the job of this unique key is being deleted; enqueue again once it is gone", alreadyExists)
	case got.Annotations[AnnotationResume] == "true" && got.Spec.Suspend != nil && *got.Spec.Suspend:
		return nil, false, fmt.Errorf("%w: the job of this unique key is not started yet (another Enqueue is creating its payload secret, or failed to); enqueue again later", alreadyExists)
	}
	return got, false, nil
}

// errNameFreed reports that the Job that took a name was deleted before it
// could be read: the create is tried again.
var errNameFreed = errors.New("kubequeue: the job that had the name was deleted meanwhile")

// Back-off between create tries: from retryInitial, doubling up to
// retryMax, each with jitter.
const (
	retryInitial = 100 * time.Millisecond
	retryMax     = 5 * time.Second
)

// retryable reports whether a create that failed with err may have failed
// for a passing reason, so that trying again can help.
func retryable(ctx context.Context, err error) bool {
	if ctx.Err() != nil {
		return false
	}
	switch {
	case errors.Is(err, errNameFreed):
		return true
	case apierrors.IsServerTimeout(err), apierrors.IsTimeout(err), apierrors.IsTooManyRequests(err),
		apierrors.IsInternalError(err), apierrors.IsServiceUnavailable(err):
		return true
	case utilnet.IsConnectionRefused(err), utilnet.IsConnectionReset(err), utilnet.IsProbableEOF(err), utilnet.IsTimeout(err):
		return true
	case errors.Is(err, context.DeadlineExceeded): // the client's own request timeout, not ctx's
		return true
	}
	var status apierrors.APIStatus
	return errors.As(err, &status) && status.Status().Code >= 500
}

// newEnqueueID returns a new random ID for AnnotationEnqueueID.
func newEnqueueID() string {
	var b [16]byte
	_, _ = crand.Read(b[:]) // never fails (crypto/rand)
	return hex.EncodeToString(b[:])
}

// Client-side rate limits that LoadConfig sets when the configuration sets
// none. client-go's own defaults (5 requests per second, bursts of 10) would
// throttle a service that enqueues in bursts.
const (
	// DefaultQPS is the sustained rate of requests, per second.
	DefaultQPS = 50
	// DefaultBurst is the number of requests allowed at once above it.
	DefaultBurst = 100
)

// LoadConfig loads a client configuration the way kubectl does: from the
// file kubeconfig if it is not empty (pass your --kubeconfig flag), else
// from the files in $KUBECONFIG, else from ~/.kube/config, else from the
// pod's service account when running in a cluster. contextName selects a
// kubeconfig context by name; empty means the current one. It also returns
// the namespace kubectl would use: the context's, or the pod's own when in
// a cluster, or "default". It sets QPS and Burst to [DefaultQPS] and
// [DefaultBurst] when the configuration leaves them zero.
func LoadConfig(kubeconfig, contextName string) (cfg *rest.Config, namespace string, err error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = kubeconfig
	overrides := &clientcmd.ConfigOverrides{CurrentContext: contextName}
	loader := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, overrides)
	cfg, err = loader.ClientConfig()
	if err != nil {
		return nil, "", fmt.Errorf("kubequeue: load kubernetes client config: %w", err)
	}
	namespace, _, err = loader.Namespace()
	if err != nil {
		return nil, "", fmt.Errorf("kubequeue: load kubernetes namespace: %w", err)
	}
	if cfg.QPS == 0 {
		cfg.QPS = DefaultQPS
	}
	if cfg.Burst == 0 {
		cfg.Burst = DefaultBurst
	}
	return cfg, namespace, nil
}

// NewClientset loads a configuration with [LoadConfig] and returns a
// clientset for it and the namespace kubectl would use, so that a service
// starts with
//
//	client, namespace, err := kubequeue.NewClientset("", "")
//	queue := kubequeue.New(client, kubequeue.WithDefaultNamespace(namespace))
func NewClientset(kubeconfig, contextName string) (client *kubernetes.Clientset, namespace string, err error) {
	cfg, namespace, err := LoadConfig(kubeconfig, contextName)
	if err != nil {
		return nil, "", err
	}
	client, err = kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, "", fmt.Errorf("kubequeue: create kubernetes clientset: %w", err)
	}
	return client, namespace, nil
}

// validate reports a handle that cannot name a Job.
func (h Handle) validate() error {
	p := &problems{sentinel: ErrInvalidHandle}
	p.addAll("Handle.Namespace", h.Namespace, validation.IsDNS1123Label(h.Namespace))
	p.addAll("Handle.Name", h.Name, validation.IsDNS1123Subdomain(h.Name))
	if h.Worker != "" {
		p.addAll("Handle.Worker", h.Worker, validation.IsValidLabelValue(h.Worker))
	}
	return p.err()
}

// jobs returns the client of the handle's namespace, or an error for an
// invalid handle or a queue without a client.
func (q *Queue) jobs(h Handle) (batchv1client.JobInterface, error) {
	if err := h.validate(); err != nil {
		return nil, err
	}
	if q.client == nil {
		return nil, ErrNoClient
	}
	return q.client.BatchV1().Jobs(h.Namespace), nil
}

// Get returns the handle's Job as the API server has it. It returns an
// error matching [ErrJobNotFound] if there is no such Job, or if the Job of
// that name has another UID than the handle's (a handle without a UID
// matches any Job of its name).
func (q *Queue) Get(ctx context.Context, h Handle) (*batchv1.Job, error) {
	jobs, err := q.jobs(h)
	if err != nil {
		return nil, err
	}
	job, err := jobs.Get(ctx, h.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("%w: get job %s: %w", ErrJobNotFound, h, err)
	}
	if err != nil {
		return nil, fmt.Errorf("kubequeue: get job %s: %w", h, err)
	}
	if err := h.matches(job); err != nil {
		return nil, err
	}
	return job, nil
}

// matches returns an error matching ErrJobNotFound if job is not the
// handle's.
func (h Handle) matches(job *batchv1.Job) error {
	if h.UID != "" && job.UID != h.UID {
		return fmt.Errorf("%w: job %s has UID %s, not the handle's %s: the handle's job was deleted and another took its name", ErrJobNotFound, h, job.UID, h.UID)
	}
	return nil
}

// Status returns a summary of the handle's Job (see [Status]). It reads the
// Job and, when the Job has pods whose state it does not show yet or once an
// attempt has failed or the Job has succeeded, its pods, for the state, the
// exit code, the termination message and the result. It returns an error
// matching [ErrJobNotFound] if the Job does not exist.
//
// Reading the pods is tried again after errors that say to (see
// [WithRetries]). If the pods of a Job that has finished still cannot be
// read, Status reports the Job's final state without an error, since the
// Job did succeed or fail: the exit code and termination message are then
// unknown, and [Status.DecodeResult] returns an error matching
// [ErrNoResult] that wraps the one reading the pods gave. For a Job not
// finished, that error is returned.
func (q *Queue) Status(ctx context.Context, h Handle) (Status, error) {
	job, err := q.Get(ctx, h)
	if err != nil {
		return Status{Handle: h}, err
	}
	return q.statusWithPods(ctx, job)
}

// statusWithPods summarizes job, reading its pods when they hold something
// the summary needs (see needsPods), as Status says.
func (q *Queue) statusWithPods(ctx context.Context, job *batchv1.Job) (Status, error) {
	if !needsPods(job) {
		return jobStatus(job, nil), nil
	}
	var pods []corev1.Pod
	err := q.retry(ctx, func() error {
		var err error
		pods, err = q.pods(ctx, job)
		return err
	})
	if err == nil {
		return jobStatus(job, pods), nil
	}
	st := jobStatus(job, nil)
	if !st.State.Done() {
		return st, err
	}
	st.podsErr = err // the Job finished all the same
	return st, nil
}

// pods returns the Job's pods, in the order of attempts.
func (q *Queue) pods(ctx context.Context, job *batchv1.Job) ([]corev1.Pod, error) {
	list, err := q.client.CoreV1().Pods(job.Namespace).List(ctx, metav1.ListOptions{
		LabelSelector: labels.Set{batchv1.ControllerUidLabel: string(job.UID)}.String(),
	})
	if err != nil {
		return nil, fmt.Errorf("kubequeue: list pods of job %s/%s: %w", job.Namespace, job.Name, err)
	}
	byAttempt(list.Items)
	return list.Items, nil
}

// Cancel deletes the handle's Job and its pods; perform's context is then
// cancelled in each running pod (its container gets SIGTERM, and SIGKILL
// after the pod's grace period). It returns nil if the Job is already gone,
// so calling it twice is safe. With a handle that has a UID (as Enqueue
// returns), it never deletes a Job of the same name with another UID.
//
// By default the deletion is foreground: the Job stays visible, with a
// deletion timestamp, until the garbage collector has deleted its pods, so
// no pod is left without its Job. [WithPropagation] chooses another policy.
// Cancel returns once the API server has accepted the deletion; [Queue.Wait]
// then returns an error matching [ErrJobNotFound] when the Job is gone.
func (q *Queue) Cancel(ctx context.Context, h Handle, opts ...CancelOption) error {
	c := cancelConfig{propagation: metav1.DeletePropagationForeground}
	for _, opt := range opts {
		if opt != nil {
			opt.applyCancel(&c)
		}
	}
	switch c.propagation {
	case metav1.DeletePropagationForeground, metav1.DeletePropagationBackground, metav1.DeletePropagationOrphan:
	default:
		return fmt.Errorf("%w: WithPropagation %q: must be %q, %q or %q", ErrInvalidOption, c.propagation,
			metav1.DeletePropagationForeground, metav1.DeletePropagationBackground, metav1.DeletePropagationOrphan)
	}
	jobs, err := q.jobs(h)
	if err != nil {
		return err
	}
	opt := metav1.DeleteOptions{PropagationPolicy: &c.propagation}
	if h.UID != "" {
		opt.Preconditions = metav1.NewUIDPreconditions(string(h.UID))
	}
	err = jobs.Delete(ctx, h.Name, opt)
	switch {
	case err == nil, apierrors.IsNotFound(err):
		return nil
	case apierrors.IsConflict(err) && h.UID != "":
		// The UID precondition failed: the handle's Job is gone and another
		// Job has its name.
		if _, getErr := q.Get(ctx, h); errors.Is(getErr, ErrJobNotFound) {
			return nil
		}
	}
	return fmt.Errorf("kubequeue: cancel job %s: %w", h, err)
}

// Suspend sets the Job's spec.suspend: the Job controller deletes its
// running pods (perform's context is cancelled; the attempt does not count
// as a failure) and starts none until [Queue.Resume]. A Job's
// activeDeadline does not run while it is suspended. Suspending a finished
// Job changes nothing.
func (q *Queue) Suspend(ctx context.Context, h Handle) error {
	return q.setSuspend(ctx, h, true)
}

// Resume clears the Job's spec.suspend, so the Job controller starts its
// pods again.
func (q *Queue) Resume(ctx context.Context, h Handle) error {
	return q.setSuspend(ctx, h, false)
}

func (q *Queue) setSuspend(ctx context.Context, h Handle, suspend bool) error {
	verb := map[bool]string{true: "suspend", false: "resume"}[suspend]
	jobs, err := q.jobs(h)
	if err != nil {
		return err
	}
	// A merge patch that carries the UID fails if the Job was replaced:
	// the UID is immutable.
	patch := map[string]any{"spec": map[string]any{"suspend": suspend}}
	if h.UID != "" {
		patch["metadata"] = map[string]any{"uid": h.UID}
	}
	data, err := json.Marshal(patch)
	if err != nil {
		return fmt.Errorf("kubequeue: %s job %s: %w", verb, h, err)
	}
	_, err = jobs.Patch(ctx, h.Name, types.MergePatchType, data, metav1.PatchOptions{FieldManager: q.fieldManager})
	if apierrors.IsNotFound(err) || (h.UID != "" && uidChanged(err)) {
		return fmt.Errorf("%w: %s job %s: %w", ErrJobNotFound, verb, h, err)
	}
	if err != nil {
		return fmt.Errorf("kubequeue: %s job %s: %w", verb, h, err)
	}
	return nil
}

// uidChanged reports whether err refuses a write for changing the immutable
// metadata.uid: the object is not the one the UID named.
func uidChanged(err error) bool {
	var status apierrors.APIStatus
	if !apierrors.IsInvalid(err) || !errors.As(err, &status) || status.Status().Details == nil {
		return false
	}
	for _, c := range status.Status().Details.Causes {
		if c.Field == "metadata.uid" {
			return true
		}
	}
	return false
}
