package kubequeue

import (
	"fmt"

	batchv1 "k8s.io/api/batch/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"
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

// matches returns an error matching ErrJobNotFound if job is not the
// handle's.
func (h Handle) matches(job *batchv1.Job) error {
	if h.UID != "" && job.UID != h.UID {
		return fmt.Errorf("%w: job %s has UID %s, not the handle's %s: the handle's job was deleted and another took its name", ErrJobNotFound, h, job.UID, h.UID)
	}
	return nil
}

// HandleFor returns the handle of a Job that kubequeue created, such as one
// found with client-go. Its Worker is the Job's [LabelWorker] label.
func HandleFor(job *batchv1.Job) Handle {
	if job == nil {
		return Handle{}
	}
	return Handle{Namespace: job.Namespace, Name: job.Name, UID: job.UID, Worker: job.Labels[LabelWorker]}
}
