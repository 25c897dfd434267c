package kubequeue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	batchv1 "k8s.io/api/batch/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	batchv1client "k8s.io/client-go/kubernetes/typed/batch/v1"
)

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
// Job changes nothing. A Job that waits at its gates ([StateWaiting]) is
// taken out of them: it waits for Resume, not for the release controller
// (Suspend and Resume set [AnnotationReleased] on every Job).
func (q *Queue) Suspend(ctx context.Context, h Handle) error {
	return q.setSuspend(ctx, h, true)
}

// Resume clears the Job's spec.suspend, so the Job controller starts its
// pods again. A Job that waits at its gates ([StateWaiting]) starts at
// once, past them; with a concurrency key, it counts against the key from
// then on.
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
	// the UID is immutable. The annotations take a Job that waits at its
	// gates out of them, so that the release controller leaves it alone.
	meta := map[string]any{"annotations": map[string]string{
		AnnotationReleased:   q.now().UTC().Format(runAtLayout),
		AnnotationReleasedBy: map[bool]string{true: "Queue.Suspend", false: "Queue.Resume"}[suspend],
	}}
	if h.UID != "" {
		meta["uid"] = h.UID
	}
	patch := map[string]any{"metadata": meta, "spec": map[string]any{"suspend": suspend}}
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
