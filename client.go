package kubequeue

import (
	"context"
	crand "crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
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

	"github.com/kubequeue/kubequeue/internal/wire"
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
// it. It returns the Job's handle once the API server has stored the Job
// and, for a payload in a Secret, the Secret.
//
// Invalid input, and a ctx that has already ended, are reported before any
// API call. Every request is tried again (see [WithRetries]) after an error
// that says to, or that leaves it unknown whether the API server acted on
// it, such as a timeout or a lost connection. The Job's name is chosen
// here, never by the API server, and a Job that an earlier try created is
// recognized by its [AnnotationEnqueueID], so one Enqueue never creates two
// Jobs.
//
// An error matching [ErrMaybeEnqueued] means that Enqueue may have left a
// Job: answers were lost and looking the Job up failed too, or storing its
// payload Secret or resuming it failed and so did deleting it. The Job may
// then exist and run, or, with a payload in a Secret, wait suspended until
// an Enqueue of its unique key finishes it or it is cancelled; the returned
// Handle names it. Any other error means that no Job of this call exists:
// the API server refused it, or had none when Enqueue looked after a lost
// answer, or Enqueue deleted it before it could start. [WithUniqueKey]
// makes a caller's own retry safe: an Enqueue of the same key returns the
// Job of the key.
//
// API errors are wrapped with the Job's namespace and name and remain
// testable with the k8s.io/apimachinery/pkg/api/errors functions, such as
// IsAlreadyExists (a [WithJobName] already taken) or IsForbidden. When ctx
// ends first, the error wraps ctx's.
func (q *Queue) Enqueue(ctx context.Context, worker AnyWorker, payload any, opts ...EnqueueOption) (Handle, error) {
	job, secretPayload, err := q.build(worker, payload, opts...)
	if err != nil {
		return Handle{}, err
	}
	if ctx.Err() != nil {
		return Handle{}, fmt.Errorf("kubequeue: enqueue job %s/%s: %w", job.Namespace, job.Name, ctxErr(ctx))
	}
	id := newEnqueueID()
	if job.Annotations == nil {
		job.Annotations = make(map[string]string, 1)
	}
	job.Annotations[AnnotationEnqueueID] = id
	if secretPayload != "" {
		// Each Enqueue its own Secret: a retried create recognizes it by
		// name, and a Secret left by an earlier Job of the same unique
		// key is in no one's way.
		wire.SecretVolumeOf(&job.Spec.Template.Spec).SecretName = job.Name + "-" + id[:8]
	}
	h := Handle{Namespace: job.Namespace, Name: job.Name, Worker: worker.Name()}
	got, err := q.createJob(ctx, job)
	if err != nil {
		if errors.Is(err, ErrMaybeEnqueued) {
			return h, err
		}
		return Handle{}, err
	}
	if pending(got) {
		data := secretPayload
		if data == "" {
			// The Job of this unique key waits for a payload that another
			// Enqueue has not stored: this call's payload finishes it.
			if data, err = worker.encodePayload(payload); err != nil {
				return Handle{}, err
			}
		}
		if got, err = q.finish(ctx, got, data); err != nil {
			if errors.Is(err, ErrMaybeEnqueued) {
				h.UID = got.UID
				return h, err
			}
			return Handle{}, err
		}
	}
	h.UID = got.UID
	return h, nil
}

// pending reports whether job waits for its payload Secret: Enqueue
// created it suspended, with annotationResume, and has not yet stored the
// Secret and removed the annotation.
func pending(job *batchv1.Job) bool {
	_, ok := job.Annotations[annotationResume]
	return ok
}

// createJob creates job, trying again after errors that say to or that leave
// the outcome unknown. It returns the Job Enqueue goes on with: job as a try
// created it, or the Job of the same unique key (see sameJob). When a try's
// outcome stayed unknown and no later try settled it, it looks the Job up.
func (q *Queue) createJob(ctx context.Context, job *batchv1.Job) (*batchv1.Job, error) {
	jobs := q.client.BatchV1().Jobs(job.Namespace)
	unknown := false // whether a try may have created the Job unseen
	var got *batchv1.Job
	err := q.retry(ctx, func() error {
		created, err := jobs.Create(ctx, job, metav1.CreateOptions{FieldManager: q.fieldManager})
		switch {
		case err == nil:
			got = created
			return nil
		case apierrors.IsAlreadyExists(err):
			got, err = q.existing(ctx, job, err)
			return err
		}
		if maybe, _ := outcome(err); maybe {
			unknown = true
		}
		return err
	})
	if err == nil {
		return got, nil
	}
	if !unknown {
		return nil, fmt.Errorf("kubequeue: create job %s/%s: %w", job.Namespace, job.Name, err)
	}
	// A try whose answer was lost may have created the Job: find it, so
	// that it is neither run unknown to the caller nor left waiting for
	// its payload. This runs even when ctx has ended, within its own
	// bound.
	lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), undoTimeout)
	defer cancel()
	var found *batchv1.Job
	lerr := q.retry(lctx, func() error {
		var err error
		found, err = jobs.Get(lctx, job.Name, metav1.GetOptions{})
		return err
	})
	switch {
	case apierrors.IsNotFound(lerr):
		return nil, fmt.Errorf("kubequeue: create job %s/%s: %w (the job does not exist)", job.Namespace, job.Name, err)
	case lerr != nil:
		return nil, fmt.Errorf("%w: create job %s/%s: %w; looking the job up failed too: %w; it may exist and run: enqueue again with the same WithUniqueKey, or look at the returned handle, to settle it",
			ErrMaybeEnqueued, job.Namespace, job.Name, err, lerr)
	}
	got, serr := sameJob(job, found, fmt.Errorf("%w (the name is another job's)", err))
	if serr != nil {
		return nil, fmt.Errorf("kubequeue: create job %s/%s: %w", job.Namespace, job.Name, serr)
	}
	return got, nil
}

// existing returns the Job that took job's name if Enqueue goes on with it
// (see sameJob), else an error: alreadyExists, or one that says why.
func (q *Queue) existing(ctx context.Context, job *batchv1.Job, alreadyExists error) (*batchv1.Job, error) {
	got, err := q.client.BatchV1().Jobs(job.Namespace).Get(ctx, job.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, errNameFreed // gone since: create again
	}
	if err != nil {
		return nil, fmt.Errorf("get the job that has the name: %w", err)
	}
	return sameJob(job, got, alreadyExists)
}

// sameJob returns got, the Job that has job's name, if it is job, created by
// an earlier try of this Enqueue, or the Job of the same unique key, which
// Enqueue returns (finishing it first if it is pending). Else it returns
// alreadyExists, for a Job of another key or of none, or an error that
// says the Job of the key is being deleted.
func sameJob(job, got *batchv1.Job, alreadyExists error) (*batchv1.Job, error) {
	if got.Annotations[AnnotationEnqueueID] == job.Annotations[AnnotationEnqueueID] {
		return got, nil
	}
	if key := job.Annotations[AnnotationUniqueKey]; key == "" || got.Annotations[AnnotationUniqueKey] != key {
		return nil, alreadyExists
	}
	if got.DeletionTimestamp != nil {
		return nil, fmt.Errorf("%w: the job of this unique key is being deleted; enqueue again once it is gone", alreadyExists)
	}
	return got, nil
}

// finish completes job, which is pending: it stores data in the payload
// Secret the Job mounts, owned by the Job, then removes annotationResume
// and, unless the caller's options suspended the Job, resumes it. If that
// fails, it deletes the Job, which has not started (see undo). It returns
// the Job as it now is.
func (q *Queue) finish(ctx context.Context, job *batchv1.Job, data string) (*batchv1.Job, error) {
	done, err := q.attachPayload(ctx, job, data)
	switch {
	case err == nil:
		return done, nil
	case errors.Is(err, errJobGone):
		return nil, fmt.Errorf("kubequeue: enqueue job %s/%s: %w", job.Namespace, job.Name, err)
	}
	return q.undo(ctx, job, err)
}

// attachPayload creates job's payload Secret with data, then lets the Job
// start (see finish). A Secret of that name that exists already is this
// Job's: its name holds the enqueue ID of the Enqueue that created the Job.
func (q *Queue) attachPayload(ctx context.Context, job *batchv1.Job, data string) (*batchv1.Job, error) {
	vol := wire.SecretVolumeOf(&job.Spec.Template.Spec)
	if vol == nil {
		return nil, fmt.Errorf("job %s/%s has the annotation %s but mounts no payload secret", job.Namespace, job.Name, annotationResume)
	}
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{
			Name:      vol.SecretName,
			Namespace: job.Namespace,
			Labels:    map[string]string{LabelManagedBy: managedBy, LabelWorker: job.Labels[LabelWorker]},
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion: "batch/v1", Kind: "Job", Name: job.Name, UID: job.UID,
			}},
		},
		Immutable: ptr.To(true),
		Type:      corev1.SecretTypeOpaque,
		Data:      map[string][]byte{wire.SecretKey: []byte(data)},
	}
	secrets := q.client.CoreV1().Secrets(job.Namespace)
	err := q.retry(ctx, func() error {
		_, err := secrets.Create(ctx, secret, metav1.CreateOptions{FieldManager: q.fieldManager})
		if apierrors.IsAlreadyExists(err) {
			return nil
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("create payload secret %s/%s: %w", job.Namespace, vol.SecretName, err)
	}
	// One patch removes the annotation and resumes the Job, so that a Job
	// suspended later can be told from one that waits for its payload. A
	// merge patch that carries the UID fails if the Job was replaced.
	patch := fmt.Appendf(nil, `{"metadata":{"uid":%q,"annotations":{%q:null}}}`, job.UID, annotationResume)
	if job.Annotations[annotationResume] != "false" {
		patch = fmt.Appendf(nil, `{"metadata":{"uid":%q,"annotations":{%q:null}},"spec":{"suspend":false}}`, job.UID, annotationResume)
	}
	jobs := q.client.BatchV1().Jobs(job.Namespace)
	var done *batchv1.Job
	err = q.retry(ctx, func() error {
		var err error
		done, err = jobs.Patch(ctx, job.Name, types.MergePatchType, patch, metav1.PatchOptions{FieldManager: q.fieldManager})
		return err
	})
	switch {
	case err == nil:
		return done, nil
	case apierrors.IsNotFound(err), uidChanged(err):
		return nil, fmt.Errorf("%w: start job once its payload secret exists: %w", errJobGone, err)
	}
	return nil, fmt.Errorf("start job %s/%s once its payload secret exists: %w", job.Namespace, job.Name, err)
}

// errJobGone reports a pending Job that was deleted before Enqueue could
// start it.
var errJobGone = errors.New("the job was deleted before it started")

// undo deletes job, which is pending and has not started, and with it, by
// the garbage collector, its Secret, so that nothing half made is left; it
// returns an error that wraps cause and says what happened. The delete is
// conditional on the Job being as last seen (UID and resourceVersion): a
// Job that was changed meanwhile is looked at again, and one that is no
// longer pending (its resume took effect although its answer was lost, or
// another Enqueue of its unique key finished it) may run and is never
// deleted: undo returns it, with a nil error. When the delete fails within
// its tries and undoTimeout, the error matches ErrMaybeEnqueued.
func (q *Queue) undo(ctx context.Context, job *batchv1.Job, cause error) (*batchv1.Job, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), undoTimeout)
	defer cancel()
	jobs := q.client.BatchV1().Jobs(job.Namespace)
	policy := metav1.DeletePropagationBackground
	seen := job
	var started *batchv1.Job
	gone := false
	// look reads the Job again; it sets gone or started when there is
	// nothing left to delete.
	look := func() error {
		got, err := jobs.Get(ctx, seen.Name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			gone = true
		case err != nil:
			return err
		case got.UID != seen.UID || got.DeletionTimestamp != nil:
			gone = true // replaced, or going
		case !pending(got):
			started = got
		default:
			seen = got
		}
		return nil
	}
	// Without a resourceVersion the delete cannot be conditional on it:
	// look first.
	stale := job.ResourceVersion == ""
	err := q.retry(ctx, func() error {
		if stale {
			if err := look(); err != nil || gone || started != nil {
				return err
			}
			stale = false
		}
		pre := metav1.NewUIDPreconditions(string(seen.UID))
		if seen.ResourceVersion != "" {
			pre.ResourceVersion = ptr.To(seen.ResourceVersion)
		}
		err := jobs.Delete(ctx, seen.Name, metav1.DeleteOptions{PropagationPolicy: &policy, Preconditions: pre})
		switch {
		case err == nil, apierrors.IsNotFound(err):
			gone = true
			return nil
		case apierrors.IsConflict(err):
			stale = true // changed since seen, or replaced
			return errChanged
		}
		return err
	})
	switch {
	case started != nil:
		return started, nil
	case gone:
		return nil, fmt.Errorf("kubequeue: enqueue job %s/%s: %w (the job was deleted)", job.Namespace, job.Name, cause)
	}
	return job, fmt.Errorf("%w: enqueue job %s/%s: %w; deleting the job, which has not started unless its resume took effect, failed too: %w; enqueue again with the same WithUniqueKey to finish it, or cancel the returned handle",
		ErrMaybeEnqueued, job.Namespace, job.Name, cause, err)
}

// undoTimeout bounds the look-up after a lost answer and the clean-up of a
// failed Enqueue, which run even when the caller's context has ended.
const undoTimeout = 10 * time.Second

// retry runs op, and again after errors that say to try again or leave the
// outcome unknown (see outcome), with capped exponential back-off and
// jitter, at most q.tries times, within ctx. It makes no try once ctx has
// ended.
func (q *Queue) retry(ctx context.Context, op func() error) error {
	delay := retryInitial
	var err error
	for try := 1; ; try++ {
		if ctx.Err() != nil {
			if err == nil {
				return ctxErr(ctx)
			}
			return fmt.Errorf("%w (after: %w)", ctxErr(ctx), err)
		}
		err = op()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("%w (after: %w)", ctxErr(ctx), err)
		}
		if _, transient := outcome(err); try >= q.tries || !transient {
			return err
		}
		wait := time.Duration(rand.Int64N(int64(delay))) + delay/2 // jitter: 0.5 to 1.5 times
		if s, ok := apierrors.SuggestsClientDelay(err); ok {
			wait = max(wait, time.Duration(s)*time.Second)
		}
		delay = min(2*delay, retryMax)
		if q.sleep(ctx, wait) != nil {
			return fmt.Errorf("%w (after: %w)", ctxErr(ctx), err)
		}
	}
}

// sleepCtx waits for d, or until ctx ends, and then returns ctx's error.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Errors by which a try asks retry for another.
var (
	// errNameFreed reports that the Job that took a name was deleted
	// before it could be read: the create is tried again.
	errNameFreed = errors.New("kubequeue: the job that had the name was deleted meanwhile")
	// errChanged reports that a Job changed between a look and a delete
	// conditional on it: the delete is tried again.
	errChanged = errors.New("kubequeue: the job changed meanwhile")
)

// Back-off between tries: from retryInitial, doubling up to retryMax, each
// with jitter.
const (
	retryInitial = 100 * time.Millisecond
	retryMax     = 5 * time.Second
)

// outcome classifies a request that failed with err: maybe reports whether
// the API server may have acted on it, and transient whether another try
// can succeed. An answer of the API server tells both; an error from before
// the request could be sent (a refused dial, a failed DNS lookup or TLS
// handshake, a request that could not be built) means it was not acted on;
// any other error (a lost connection, a broken pipe, EOF, a reset, a
// timeout, the caller's context ending) may have come after the request
// was written, so its outcome is unknown, and it is tried again.
func outcome(err error) (maybe, transient bool) {
	if errors.Is(err, errNameFreed) || errors.Is(err, errChanged) {
		return false, true
	}
	var status apierrors.APIStatus
	if errors.As(err, &status) {
		code := status.Status().Code
		switch {
		case apierrors.IsTooManyRequests(err):
			return false, true // refused before it was handled
		case apierrors.IsServerTimeout(err), apierrors.IsTimeout(err), apierrors.IsInternalError(err),
			apierrors.IsServiceUnavailable(err), code >= 500:
			return true, true
		case code != 0 || status.Status().Reason != metav1.StatusReasonUnknown:
			return false, false // a definite answer
		}
		return true, true
	}
	var (
		verify    *tls.CertificateVerificationError
		authority x509.UnknownAuthorityError
		hostname  x509.HostnameError
		invalid   x509.CertificateInvalidError
		header    tls.RecordHeaderError
		construct *rest.RequestConstructionError
		op        *net.OpError
		dns       *net.DNSError
	)
	switch {
	case errors.As(err, &verify), errors.As(err, &authority), errors.As(err, &hostname), errors.As(err, &invalid),
		errors.As(err, &header), errors.As(err, &construct):
		return false, false // cannot be sent, and never will
	case errors.As(err, &op) && op.Op == "dial", errors.As(err, &dns), utilnet.IsConnectionRefused(err):
		return false, true // not sent: the API server may come back
	}
	return true, true
}

// retryable reports whether a request that failed with err may succeed
// when tried again, while ctx lasts.
func retryable(ctx context.Context, err error) bool {
	_, transient := outcome(err)
	return transient && ctx.Err() == nil
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
//	...
//	queue, err := kubequeue.New(client, kubequeue.WithDefaultNamespace(namespace))
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
// invalid handle.
func (q *Queue) jobs(h Handle) (batchv1client.JobInterface, error) {
	if err := h.validate(); err != nil {
		return nil, err
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
