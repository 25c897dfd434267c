package kubequeue

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	"github.com/kubequeue/kubequeue/internal/wire"
)

// Enqueue builds the Job of worker for payload (see [Queue.Build]) and
// creates it. It returns the Job's [Handle] once the API server has stored
// the Job and, for a payload in a Secret, the Secret. Requests that fail
// with an error that says to, or that leaves it unknown whether the API
// server acted, are tried again (see [WithRetries]); one Enqueue never
// creates two Jobs (see "Enqueue" in the package documentation).
//
// Invalid input, and a ctx that has already ended, are reported before any
// API call. An error matching [ErrMaybeEnqueued] comes with the Handle of a
// Job that may exist; any other error means that no Job of this call
// exists. API errors are wrapped with the Job's namespace and name and
// remain testable with the k8s.io/apimachinery/pkg/api/errors functions,
// such as IsAlreadyExists (a [WithJobName] already taken) or IsForbidden.
// When ctx ends first, the error wraps ctx's.
func (q *Queue) Enqueue(ctx context.Context, worker AnyWorker, payload any, opts ...EnqueueOption) (Handle, error) {
	job, secretPayload, err := q.build(worker, payload, opts...)
	if err != nil {
		return Handle{}, err
	}
	return q.enqueue(ctx, worker.Name(), job, secretPayload, 0, func() (string, error) { return worker.encodePayload(payload) })
}

// enqueue creates job, built for worker, as Enqueue says: secretPayload is
// the encoded payload (or a batch's items) when it travels in a Secret
// (else ""), and encode encodes it again, to finish a Job of the same
// unique key that waits for its payload. items is a batch's number of
// items, else 0.
func (q *Queue) enqueue(ctx context.Context, worker string, job *batchv1.Job, secretPayload string, items int32, encode func() (string, error)) (Handle, error) {
	if len(q.enqueueMiddleware) == 0 {
		return q.enqueueJob(ctx, worker, job, secretPayload, items, encode)
	}
	name, namespace := job.Name, job.Namespace
	if job.Annotations == nil {
		job.Annotations = make(map[string]string, 2)
	}
	req := &EnqueueRequest{Worker: worker, Namespace: namespace, Name: name, Job: job, Items: int(items)}
	return q.chainEnqueue(func(ctx context.Context, req *EnqueueRequest) (Handle, error) {
		if req.Job == nil {
			return Handle{}, errMiddlewareChanged(fmt.Errorf("%w: the job is nil", ErrInvalidOption))
		}
		if err := validateMutated(worker, req.Job, name, namespace, secretPayload != "", items); err != nil {
			return Handle{}, errMiddlewareChanged(err)
		}
		var retries int
		h, err := q.enqueueJob(withRetryCount(ctx, &retries), worker, req.Job, secretPayload, items, encode)
		req.Retries = retries
		return h, err
	})(ctx, req)
}

// enqueueJob is enqueue without middleware.
func (q *Queue) enqueueJob(ctx context.Context, worker string, job *batchv1.Job, secretPayload string, items int32, encode func() (string, error)) (Handle, error) {
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
	h := Handle{Namespace: job.Namespace, Name: job.Name, Worker: worker}
	got, err := q.createJob(ctx, job)
	if err != nil {
		if errors.Is(err, ErrMaybeEnqueued) {
			return h, err
		}
		return Handle{}, err
	}
	if pending(got) {
		if c := got.Spec.Completions; items > 0 && (c == nil || *c != items) {
			// The batch of this unique key, which another call created,
			// has as many pods as that call had items.
			h.UID = got.UID
			return h, fmt.Errorf("%w: enqueue batch %s/%s: the batch of this unique key waits for the items of the call that created it, %d of them, and this call has %d: enqueue the key again with those items to start it, or cancel the returned handle",
				ErrMaybeEnqueued, got.Namespace, got.Name, ptr.Deref(c, 0), items)
		}
		data := secretPayload
		if data == "" {
			// The Job of this unique key waits for a payload that another
			// Enqueue has not stored: this call's payload finishes it.
			if data, err = encode(); err != nil {
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
	if key := job.Annotations[AnnotationUniqueKey]; key == "" || got.Annotations[AnnotationUniqueKey] != key || isBatch(got) != isBatch(job) {
		return nil, alreadyExists // of another key, of none, or of a batch for a single Job (or the reverse)
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
	if vol == nil || len(vol.Items) != 1 {
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
		Data:      map[string][]byte{vol.Items[0].Key: []byte(data)}, // a payload's key, or a batch's
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

// newEnqueueID returns a new random ID for AnnotationEnqueueID.
func newEnqueueID() string {
	var b [16]byte
	_, _ = crand.Read(b[:]) // never fails (crypto/rand)
	return hex.EncodeToString(b[:])
}
