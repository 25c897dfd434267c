package kubequeue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/kubequeue/kubequeue/internal/order"
	"github.com/kubequeue/kubequeue/internal/wire"
)

// State is where a Job stands, as [Queue.Status] reports it.
type State string

// The states of a Job. Only [StateSucceeded] and [StateFailed] are final.
const (
	// StatePending: the Job exists but none of its pods runs: the first pod
	// is being scheduled or started, or the next attempt waits out its
	// back-off.
	StatePending State = "pending"
	// StateSuspended: spec.suspend is true (see [Queue.Suspend]); the Job
	// has no running pods and starts none until it is resumed.
	StateSuspended State = "suspended"
	// StateWaiting: the Job waits at its gates ([WithRunAt], [WithDelay],
	// [WithConcurrencyKey], [WithAfter]) for the release controller
	// ([NewScheduler]) to resume it; [Status].Gate says what holds it.
	StateWaiting State = "waiting"
	// StateQueued: the Job waits in a Kueue queue (see [WithQueueName]):
	// it is suspended until Kueue admits it. [Status.Reason] and
	// [Status.Message] say why it waits, from its Kueue Workload, such as
	// "Pending" with "couldn't assign flavors to pod set main: insufficient
	// unused quota for cpu in flavor default-flavor, 500m more needed".
	StateQueued State = "queued"
	// StatePreempted: Kueue preempted the Job to admit one of higher
	// priority: it suspended the Job, whose pods were deleted, and queued
	// it again; once admitted again, the Job starts from scratch (the
	// preempted attempt does not count as a failure). Reason is
	// "Preempted", Message Kueue's.
	StatePreempted State = "preempted"
	// StateRunning: the worker container of at least one of the Job's pods
	// is running, or the Job is bound to finish and waits for its pods to
	// end.
	StateRunning State = "running"
	// StateSucceeded: the Job has the condition Complete.
	StateSucceeded State = "succeeded"
	// StateFailed: the Job has the condition Failed.
	StateFailed State = "failed"
)

// Done reports whether s is final: [StateSucceeded] or [StateFailed].
func (s State) Done() bool { return s == StateSucceeded || s == StateFailed }

// Status is a summary of a Job that a program can act on. [Queue.Status],
// [Queue.List], [Queue.Wait] and [Queue.WaitAll] return it.
type Status struct {
	// Handle identifies the Job.
	Handle Handle `json:"handle"`
	// State is where the Job stands; empty when the Job was never seen,
	// as with an error matching [ErrJobNotFound] or [ErrInvalidHandle].
	State State `json:"state"`
	// Created is when the Job was created.
	Created time.Time `json:"created"`
	// Started is when the Job controller started the Job (status.startTime);
	// zero before that, and again while the Job is suspended.
	Started time.Time `json:"started,omitzero"`
	// Finished is when the Job succeeded or failed; zero before.
	Finished time.Time `json:"finished,omitzero"`
	// Failures is the number of attempts that failed: the Job's pods that
	// ended in phase Failed (status.failed). Each counts against the backoff
	// limit unless a pod failure policy says otherwise.
	Failures int32 `json:"failures,omitempty"`
	// Active is the number of the Job's pods that are pending or running.
	Active int32 `json:"active,omitempty"`
	// Reason is the reason of the Job's Failed condition, such as
	// "BackoffLimitExceeded", "DeadlineExceeded" or "PodFailurePolicy" (see
	// the JobReason constants of k8s.io/api/batch/v1). While the Job is
	// bound to fail but waits for its pods to end, it is the reason of the
	// FailureTarget condition. For a Job that the release controller ended
	// without running it, it is [ReasonDependencyFailed] or
	// [ReasonDependencyDeleted], from the moment it ended it. For
	// [StateQueued] and [StatePreempted], as [Queue.Status] reports them, it
	// is the reason Kueue's Workload gives (empty if the Workload cannot be
	// read). Empty otherwise.
	Reason string `json:"reason,omitempty"`
	// Message is the message of that condition.
	Message string `json:"message,omitempty"`
	// ExitCode is the exit code of the worker container's last failed run,
	// in the Job's pods that still exist (a Job that succeeded on a retry
	// keeps its failed run's code here); zero if no run failed.
	// [ExitPermanent] means perform returned a [Permanent] error.
	ExitCode int32 `json:"exitCode,omitempty"`
	// TerminationMessage is that run's termination message: the error
	// perform returned (the runtime writes it), or the end of its log if it
	// died before it could.
	TerminationMessage string `json:"terminationMessage,omitempty"`
	// Result is what perform recorded with [SetResult], as JSON, once the
	// Job succeeded and while its pod exists; nil otherwise, and for a
	// batch, whose results are its items'. Decode it with
	// [Status.DecodeResult].
	Result Result `json:"result,omitempty"`
	// Items is, for a batch (see [Queue.EnqueueBatch]), where each of its
	// items stands, by index, with its exit code, termination message and
	// result: len(Items) is the batch's size. nil for a single Job. For a
	// batch, the fields above are the whole Job's: Failures counts the
	// failed pods of every item, ExitCode and TerminationMessage are the
	// last failed run's of any item, and State is succeeded only once
	// every item has (or a success policy is met), failed once the Job
	// has failed (reason FailedIndexes: an item failed).
	Items []ItemStatus `json:"items,omitempty"`
	// Gate says what holds a Job that is [StateWaiting]; nil in any other
	// state.
	Gate *Gate `json:"gate,omitempty"`

	rawResult string // the succeeded run's termination message
	podsErr   error  // why the pods of a finished Job could not be read
}

// Result is the result of a Job: what perform recorded with [SetResult],
// as JSON. It prints as that JSON (with %v, %+v or %s, as in a [Status]
// printed with %+v) and is encoded in JSON as that JSON, as a
// [json.RawMessage] is.
type Result []byte

// String returns the result's JSON.
func (r Result) String() string { return string(r) }

// MarshalJSON returns the result's JSON, or null for no result.
func (r Result) MarshalJSON() ([]byte, error) {
	if r == nil {
		return []byte("null"), nil
	}
	return r, nil
}

// UnmarshalJSON sets r to a copy of data.
func (r *Result) UnmarshalJSON(data []byte) error {
	if r == nil {
		return errors.New("kubequeue: Result.UnmarshalJSON on a nil pointer")
	}
	*r = append((*r)[:0], data...)
	return nil
}

// DecodeResult decodes the Job's result (see [SetResult]) into v, which
// must be a pointer. It returns an error matching [ErrNoResult] when the
// Job has none: it has not succeeded, perform recorded nothing, the pod
// that held it is gone, or its pods could not be read (the error then
// wraps the API error, and a later [Queue.Status] may read them). A
// termination message that is not JSON (written by a program of its own,
// or cut short by the kubelet) gives another error.
func (s Status) DecodeResult(v any) error {
	if s.Items != nil {
		return fmt.Errorf("%w: job %s is a batch: its results are its items' (Status.Items[i].DecodeResult)", ErrNoResult, s.Handle)
	}
	if len(s.Result) == 0 && s.podsErr != nil {
		return fmt.Errorf("%w: the pods of job %s, which hold its result, could not be read: %w", ErrNoResult, s.Handle, s.podsErr)
	}
	if len(s.Result) == 0 && s.rawResult != "" {
		return fmt.Errorf("kubequeue: result of job %s is not JSON (%d bytes; cut by the kubelet, or written by another program?)", s.Handle, len(s.rawResult))
	}
	if len(s.Result) == 0 {
		return fmt.Errorf("%w: job %s is %s", ErrNoResult, s.Handle, s.State)
	}
	if err := json.Unmarshal(s.Result, v); err != nil {
		return fmt.Errorf("kubequeue: decode result of job %s into %T: %w", s.Handle, v, err)
	}
	return nil
}

// Err returns nil unless the Job failed, and then a [*JobFailedError] that
// matches [ErrJobFailed].
func (s Status) Err() error {
	if s.State != StateFailed {
		return nil
	}
	return &JobFailedError{
		Handle:             s.Handle,
		Reason:             s.Reason,
		Message:            s.Message,
		ExitCode:           s.ExitCode,
		TerminationMessage: s.TerminationMessage,
		FailedItems:        s.itemsIn(StateFailed),
	}
}

// JobFailedError is the error of a Job that failed, as [Queue.Wait] and
// [Queue.WaitAll] return it. It matches [ErrJobFailed] with [errors.Is].
type JobFailedError struct {
	// Handle identifies the Job.
	Handle Handle
	// Reason is the reason of the Job's Failed condition, such as
	// "BackoffLimitExceeded", "DeadlineExceeded" or "PodFailurePolicy".
	Reason string
	// Message is the message of that condition.
	Message string
	// ExitCode is the exit code of the last failed attempt's worker
	// container, or zero if it is not known.
	ExitCode int32
	// TerminationMessage is that container's termination message: the
	// error perform returned.
	TerminationMessage string
	// FailedItems are, for a batch, the indexes of its items that failed,
	// in increasing order (see [Status.Items] for each one's exit code and
	// message); nil for a single Job.
	FailedItems []int
}

// Error returns a one-line description of the failure.
func (e *JobFailedError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "kubequeue: job %s failed", e.Handle)
	if e.Reason != "" {
		fmt.Fprintf(&b, ": %s", e.Reason)
	}
	if e.Message != "" {
		fmt.Fprintf(&b, " (%s)", e.Message)
	}
	if n := len(e.FailedItems); n > 0 {
		fmt.Fprintf(&b, ": %d item%s failed (%s)", n, map[bool]string{true: "s", false: ""}[n > 1], formatIndexes(e.FailedItems, 5))
	}
	if e.ExitCode != 0 {
		fmt.Fprintf(&b, ": last attempt exited with code %d", e.ExitCode)
	}
	if msg := strings.TrimSpace(e.TerminationMessage); msg != "" {
		if i := strings.LastIndexByte(msg, '\n'); i >= 0 {
			msg = msg[i+1:] // the last line of a log
		}
		fmt.Fprintf(&b, ": %s", msg)
	}
	return b.String()
}

// Is reports whether target is [ErrJobFailed], or [ErrPermanent] when the
// last attempt exited with [ExitPermanent].
func (e *JobFailedError) Is(target error) bool {
	return target == ErrJobFailed || (target == ErrPermanent && e.ExitCode == ExitPermanent)
}

// condition returns the Job's condition of type t whose status is True.
func condition(job *batchv1.Job, t batchv1.JobConditionType) *batchv1.JobCondition {
	for i := range job.Status.Conditions {
		if c := &job.Status.Conditions[i]; c.Type == t && c.Status == corev1.ConditionTrue {
			return c
		}
	}
	return nil
}

// finished reports whether the Job has a final condition, Complete or
// Failed.
func finished(job *batchv1.Job) bool {
	return condition(job, batchv1.JobComplete) != nil || condition(job, batchv1.JobFailed) != nil
}

// jobStatus is jobStatusAt at the current time.
func jobStatus(job *batchv1.Job, pods []corev1.Pod) Status {
	return jobStatusAt(job, pods, time.Now())
}

// jobStatusAt summarizes a Job at time now. pods are the Job's pods; they
// give the exit code and termination message of the last failed attempt
// and the result of the successful one. It is pure.
func jobStatusAt(job *batchv1.Job, pods []corev1.Pod, now time.Time) Status {
	st := Status{
		Handle:   HandleFor(job),
		Created:  job.CreationTimestamp.Time,
		Failures: job.Status.Failed,
		Active:   job.Status.Active,
	}
	if t := job.Status.StartTime; t != nil {
		st.Started = t.Time
	}
	switch complete, failed, target := condition(job, batchv1.JobComplete), condition(job, batchv1.JobFailed), condition(job, batchv1.JobFailureTarget); {
	case complete != nil:
		st.State = StateSucceeded
		st.Finished = complete.LastTransitionTime.Time
		if t := job.Status.CompletionTime; t != nil {
			st.Finished = t.Time
		}
	case failed != nil:
		st.State = StateFailed
		st.Finished = failed.LastTransitionTime.Time
		st.Reason, st.Message = failed.Reason, failed.Message
	case target != nil:
		st.State = StateRunning // bound to fail, waiting for its pods to end
		st.Reason, st.Message = target.Reason, target.Message
	case condition(job, batchv1.JobSuccessCriteriaMet) != nil:
		st.State = StateRunning // bound to succeed, waiting for its pods to end
	case waitingAt(job):
		st.State = StateWaiting
		g := gatesOf(job)
		st.Gate = gateOf(job, &g, now)
	case condition(job, batchv1.JobSuspended) != nil || (job.Spec.Suspend != nil && *job.Spec.Suspend && job.Status.Active == 0):
		st.State = StateSuspended
		if job.Labels[LabelQueueName] != "" {
			st.State = StateQueued
		}
	case job.Status.Ready != nil && *job.Status.Ready > 0:
		st.State = StateRunning
	default:
		st.State = StatePending
	}

	if reason, ok := job.Annotations[AnnotationEndReason]; ok {
		st.Reason, st.Message = reason, job.Annotations[AnnotationEndMessage]
	}

	container := workerContainer(&job.Spec.Template.Spec)
	if st.State == StatePending && running(pods, container) {
		st.State = StateRunning // the Job controller has not counted it ready yet
	}
	if isBatch(job) {
		st.Items = itemStatuses(job, pods)
	} else if st.State == StateSucceeded {
		if c := lastTerminated(pods, container, false); c != nil && c.Message != "" {
			st.rawResult = c.Message
			if json.Valid([]byte(c.Message)) {
				st.Result = Result(c.Message)
			}
		}
	}
	if c := lastTerminated(pods, container, true); c != nil {
		st.ExitCode, st.TerminationMessage = c.ExitCode, c.Message
	}
	return st
}

// needsPods reports whether the Job's pods tell more than the Job does: a
// pod that runs before the Job controller counts it ready (it updates a
// Job's status at most once a second), the exit code of a failed attempt,
// or the result of the successful one.
func needsPods(job *batchv1.Job) bool {
	if isBatch(job) {
		// Which items run, and the results of those that succeeded.
		return job.Status.Active > 0 || job.Status.Succeeded > 0 || job.Status.Failed > 0
	}
	pendingActive := job.Status.Active > 0 && (job.Status.Ready == nil || *job.Status.Ready == 0) && !finished(job)
	return pendingActive || job.Status.Failed > 0 || condition(job, batchv1.JobComplete) != nil
}

// running reports whether the worker container of one of pods runs.
func running(pods []corev1.Pod, container string) bool {
	for i := range pods {
		if pods[i].Status.Phase != corev1.PodRunning || pods[i].DeletionTimestamp != nil {
			continue
		}
		for _, cs := range pods[i].Status.ContainerStatuses {
			if cs.Name == container && cs.State.Running != nil {
				return true
			}
		}
	}
	return false
}

// workerContainer returns the name of the container that runs the worker:
// the one whose environment names it, or else the first.
func workerContainer(spec *corev1.PodSpec) string {
	if i := wire.WorkerContainer(spec); i >= 0 {
		return spec.Containers[i].Name
	}
	if len(spec.Containers) > 0 {
		return spec.Containers[0].Name
	}
	return ""
}

// lastTerminated returns the termination state of container that ended
// last: with failed, of the runs that exited with another code than 0,
// whether their pod failed or restarted the container in place
// (restartPolicy OnFailure); else of the runs that succeeded in a pod that
// succeeded. It returns nil if there is none.
func lastTerminated(pods []corev1.Pod, container string, failed bool) *corev1.ContainerStateTerminated {
	var last *corev1.ContainerStateTerminated
	consider := func(t *corev1.ContainerStateTerminated) {
		if t == nil || (t.ExitCode != 0) != failed {
			return
		}
		if last == nil || !t.FinishedAt.Before(&last.FinishedAt) {
			last = t
		}
	}
	for i := range pods {
		if !failed && pods[i].Status.Phase != corev1.PodSucceeded {
			continue
		}
		for _, cs := range pods[i].Status.ContainerStatuses {
			if cs.Name != container {
				continue
			}
			consider(cs.State.Terminated)
			if failed {
				consider(cs.LastTerminationState.Terminated)
			}
		}
	}
	return last
}

// byAttempt sorts pods in the order the Job controller created them, the
// order of attempts.
func byAttempt(pods []corev1.Pod) {
	slices.SortStableFunc(pods, func(a, b corev1.Pod) int { return order.ByCreation(&a, &b) })
}

// Status returns a summary of the handle's Job (see [Status]). It reads the
// Job and, when the Job has pods whose state it does not show yet or once an
// attempt has failed or the Job has succeeded, its pods, for the state, the
// exit code, the termination message and the result. For a Job in
// [StateQueued] it also lists its Kueue Workloads (list on
// workloads.kueue.x-k8s.io), for the reason and [StatePreempted]; when
// they cannot be read, the Job is reported queued with no reason. It
// returns an error matching [ErrJobNotFound] if the Job does not exist.
//
// Reading the pods is tried again after errors that say to (see
// [WithRetries]). If the pods of a Job that has finished still cannot be
// read, Status reports the Job's final state without an error, since the
// Job did succeed or fail: the exit code and termination message are then
// unknown, and [Status.DecodeResult] returns an error matching
// [ErrNoResult] that wraps the one reading the pods gave. For a Job not
// finished, that error is returned.
//
// For a Job that is [StateWaiting], Status reads what holds it now (see
// [Gate]): the Jobs it waits for, and the kubequeue Jobs of its namespace
// when it waits for a concurrency slot.
func (q *Queue) Status(ctx context.Context, h Handle) (Status, error) {
	job, err := q.Get(ctx, h)
	if err != nil {
		return Status{Handle: h}, err
	}
	st, err := q.statusWithPods(ctx, job)
	if err == nil && st.State == StateQueued {
		if wls, wlErr := q.workloads(ctx, job); wlErr == nil {
			kueueStatus(&st, wls)
		}
	}
	if err != nil || st.State != StateWaiting {
		return st, err
	}
	gate, err := q.currentGate(ctx, job)
	if err != nil {
		return st, err
	}
	st.Gate = gate
	return st, nil
}

// currentGate returns the gate that holds a waiting Job now: it looks up
// the Job's dependencies in turn, and for a concurrency key, the other
// kubequeue Jobs of the namespace.
func (q *Queue) currentGate(ctx context.Context, job *batchv1.Job) (*Gate, error) {
	g := gatesOf(job)
	gate := gateOf(job, &g, q.now())
	if gate.Kind == GateAfter {
		for _, d := range g.after {
			dh := Handle{Namespace: job.Namespace, Name: d.Name, UID: d.UID}
			dep, err := q.Get(ctx, dh)
			var outcome string
			switch {
			case errors.Is(err, ErrJobNotFound):
				outcome = "is gone"
			case err != nil:
				return nil, fmt.Errorf("kubequeue: status of job %s/%s: look up its dependency: %w", job.Namespace, job.Name, err)
			case condition(dep, batchv1.JobComplete) != nil:
				continue
			case condition(dep, batchv1.JobFailed) != nil:
				outcome = "failed"
			default:
				gate.Dependency = dh
				gate.Message = "waits for job " + dh.String() + " to complete"
				return gate, nil
			}
			if g.afterAnyOutcome {
				continue
			}
			gate.Dependency = dh
			gate.Message = "job " + dh.String() + " " + outcome + ": the release controller ends this Job without running it"
			return gate, nil
		}
		gate.Dependency = Handle{}
		gate.Kind, gate.Message = GateRelease, releaseMessage
		if g.key != "" {
			gate.Kind = GateConcurrency
		}
	}
	if gate.Kind != GateConcurrency {
		return gate, nil
	}
	list, err := q.client.BatchV1().Jobs(job.Namespace).List(ctx, metav1.ListOptions{
		LabelSelector: labels.Set{LabelManagedBy: managedBy}.String(),
	})
	if err != nil {
		return nil, fmt.Errorf("kubequeue: status of job %s/%s: list the jobs of its concurrency key: %w", job.Namespace, job.Name, err)
	}
	now := q.now()
	gate.Position = 1
	for i := range list.Items {
		other := &list.Items[i]
		og := gatesOf(other)
		if og.key != g.key || other.UID == job.UID {
			continue
		}
		switch {
		case holdsSlot(other, &og):
			gate.Running++
		case waiting(other, &og) && !pending(other) && !now.Before(og.runAt) && queueOrder(other, job, &og, &g) < 0:
			gate.Position++
		}
	}
	gate.Message = fmt.Sprintf("waits for one of the %d slots of concurrency key %q: %d running, number %d in line", g.limit, g.key, gate.Running, gate.Position)
	return gate, nil
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
