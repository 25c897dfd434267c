package kubequeue

import (
	"cmp"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/utils/ptr"
)

// Annotations of gated Jobs: a Job that must wait for a time, a
// concurrency slot or other Jobs is created suspended with its gates in
// these annotations, and the release controller ([NewScheduler]) resumes
// it when they open. The annotations are the whole state: a restarted or
// newly elected controller rebuilds everything from them.
const (
	// AnnotationRunAt holds the time before which the Job is not released
	// (see [WithRunAt] and [WithDelay]), in RFC 3339 with milliseconds,
	// UTC.
	AnnotationRunAt = "kubequeue.io/run-at"
	// AnnotationConcurrencyKey holds the key of [WithConcurrencyKey].
	AnnotationConcurrencyKey = "kubequeue.io/concurrency-key"
	// AnnotationConcurrencyLimit holds the limit of [WithConcurrencyKey],
	// in decimal.
	AnnotationConcurrencyLimit = "kubequeue.io/concurrency-limit"
	// AnnotationAfter holds the Jobs of [WithAfter], as a JSON array of
	// {"name":..., "uid":...} objects, in the Job's namespace.
	AnnotationAfter = "kubequeue.io/after"
	// AnnotationAfterAnyOutcome is "true" for a Job with
	// [WithAfterAnyOutcome].
	AnnotationAfterAnyOutcome = "kubequeue.io/after-any-outcome"
	// AnnotationQueuedAt holds when Build made the Job, in RFC 3339 with
	// nanoseconds, UTC: Jobs waiting for the same concurrency key are
	// released oldest first by it (then by creation time and name).
	AnnotationQueuedAt = "kubequeue.io/queued-at"
	// AnnotationReleased holds when the gated Job was released, in RFC 3339
	// with milliseconds, UTC: by the release controller, or by
	// [Queue.Resume] or [Queue.Suspend], which take a Job out of its gates.
	// A Job that has it is no longer waiting.
	AnnotationReleased = "kubequeue.io/released"
	// AnnotationReleasedBy holds who released the Job: the release
	// controller's identity (see [WithSchedulerIdentity]), or
	// "Queue.Resume" or "Queue.Suspend".
	AnnotationReleasedBy = "kubequeue.io/released-by"
	// AnnotationEndReason holds why the release controller ended the Job
	// without running it: [ReasonDependencyFailed] or
	// [ReasonDependencyDeleted]. Status and Wait report it as the failed
	// Job's reason.
	AnnotationEndReason = "kubequeue.io/end-reason"
	// AnnotationEndMessage holds a sentence that says which dependency
	// ended the Job and how.
	AnnotationEndMessage = "kubequeue.io/end-message"
)

// Reasons of a Job that the release controller ended without running it
// (see [WithAfter]), as [Status].Reason and [JobFailedError].Reason report
// them.
const (
	// ReasonDependencyFailed: a Job of [WithAfter] failed.
	ReasonDependencyFailed = "DependencyFailed"
	// ReasonDependencyDeleted: a Job of [WithAfter] was deleted before it
	// completed (or removed by its TTL before the release controller saw
	// it complete), or another Job took its name.
	ReasonDependencyDeleted = "DependencyDeleted"
)

// LabelKueueQueue is the label by which Kueue queues a Job. Kueue suspends
// and resumes such Jobs itself, so the release controller never touches
// them, and Build refuses gates on them.
const LabelKueueQueue = "kueue.x-k8s.io/queue-name"

// endGate is the scheduling gate the release controller adds to the pod
// template of a Job it ends: the Job's pod is created but never scheduled.
const endGate = "kubequeue.io/ended"

// runAtLayout is the layout of AnnotationRunAt and AnnotationReleased.
const runAtLayout = "2006-01-02T15:04:05.000Z07:00"

// gateConfig holds what the gate options set at one level: a worker's, or
// a call's.
type gateConfig struct {
	runAt           *time.Time     // WithRunAt; nil when delay is set
	delay           *time.Duration // WithDelay; nil when runAt is set
	key             *string        // WithConcurrencyKey
	limit           int
	after           []Handle // WithAfter
	afterAnyOutcome *bool    // WithAfterAnyOutcome
}

// WithRunAt makes the Job wait until t: it is created suspended, and the
// release controller ([NewScheduler]) resumes it at t, or as soon after as
// its other gates allow. A time in the past releases it at once; the zero
// time is an error. It replaces [WithDelay], and on Enqueue overrides the
// worker's. Status reports the waiting Job as [StateWaiting]. Someone must
// run the release controller: without it the Job waits (nothing is lost).
func WithRunAt(t time.Time) JobOption {
	return jobOption(func(c *jobConfig) { c.gate.runAt, c.gate.delay = &t, nil })
}

// WithDelay makes the Job wait until d after Build or Enqueue made it; see
// [WithRunAt], which it replaces. d must not be negative; zero releases it
// as soon as the release controller sees it. On a worker, every Job waits d
// after its own Enqueue. On Enqueue it overrides the worker's.
func WithDelay(d time.Duration) JobOption {
	return jobOption(func(c *jobConfig) { c.gate.delay, c.gate.runAt = &d, nil })
}

// WithConcurrencyKey makes the Job one of at most limit Jobs of key that
// run at once in its namespace: it is created suspended, and the release
// controller ([NewScheduler]) resumes it when fewer than limit Jobs of key
// run, oldest first (by [AnnotationQueuedAt]). A Job counts as running from
// its release until it finishes (Complete or Failed) or is deleted. A key is
// 1 to 63 characters: letters, digits, '-', '_' and '.', starting and ending
// with a letter or digit (a label value). limit must be positive. Jobs of a
// key that carry different limits are released while fewer run than the
// limit of the oldest waiting one. Repeating it replaces; on Enqueue it
// overrides the worker's.
func WithConcurrencyKey(key string, limit int) JobOption {
	return jobOption(func(c *jobConfig) { c.gate.key, c.gate.limit = &key, limit })
}

// WithAfter makes the Job wait until each of the handles' Jobs has
// completed: it is created suspended, and the release controller
// ([NewScheduler]) resumes it then. If one of them fails, or is deleted
// before it completed, the controller ends the Job without running it: it
// fails with the reason [ReasonDependencyFailed] or
// [ReasonDependencyDeleted], which Status and Wait report (unless
// [WithAfterAnyOutcome] lets it run all the same).
//
// Each handle must name a kubequeue Job in the Job's namespace, with its
// UID (as Enqueue returns it), and not the Job itself: Build refuses
// anything else. Since a handle with a UID names a Job that exists already,
// dependencies cannot form a cycle. A handle of a Job that is gone already
// (such as one removed by its TTL after finishing) counts as deleted.
// Repeating it adds handles; on Enqueue they are added to the worker's.
func WithAfter(handles ...Handle) JobOption {
	return jobOption(func(c *jobConfig) { c.gate.after = append(c.gate.after, handles...) })
}

// WithAfterAnyOutcome makes a Job with [WithAfter] run once each of its
// dependencies has finished, however it finished, or is gone, instead of
// ending when one fails or is deleted. On Enqueue it overrides the
// worker's. Repeating it changes nothing.
func WithAfterAnyOutcome() JobOption {
	return jobOption(func(c *jobConfig) { c.gate.afterAnyOutcome = ptr.To(true) })
}

// gates are a Job's gates, from the worker's and the call's options, with a
// delay turned into a time.
type gates struct {
	runAt           time.Time
	key             string
	limit           int
	after           []Handle
	afterAnyOutcome bool
}

// any reports whether the Job has a gate.
func (g *gates) any() bool {
	return !g.runAt.IsZero() || g.key != "" || len(g.after) > 0
}

// resolveGates merges the worker's and the call's gate options, the call's
// overriding the worker's (dependencies add up), with now the time a delay
// counts from.
func resolveGates(w, call *jobConfig, now time.Time) gates {
	var g gates
	for _, c := range []*gateConfig{&w.gate, &call.gate} {
		switch {
		case c.runAt != nil:
			g.runAt = *c.runAt
		case c.delay != nil:
			g.runAt = now.Add(*c.delay)
		}
		if c.key != nil {
			g.key, g.limit = *c.key, c.limit
		}
		g.after = append(g.after, c.after...)
		if c.afterAnyOutcome != nil {
			g.afterAnyOutcome = *c.afterAnyOutcome
		}
	}
	return g
}

// validateGateConfig checks the gate options of one level, alone.
func validateGateConfig(p *problems, c *gateConfig) {
	if c.runAt != nil && c.runAt.IsZero() {
		p.add("WithRunAt", "0001-01-01T00:00:00Z", "must not be the zero time (a time in the past releases the Job at once)")
	}
	if c.delay != nil && *c.delay < 0 {
		p.add("WithDelay", c.delay.String(), "must not be negative")
	}
	if c.key != nil {
		switch {
		case *c.key == "":
			p.add("WithConcurrencyKey", "", "the key must not be empty")
		default:
			p.addAll("WithConcurrencyKey", *c.key, validation.IsValidLabelValue(*c.key))
		}
		if c.limit <= 0 {
			p.add("WithConcurrencyKey limit", strconv.Itoa(c.limit), "must be positive")
		}
	}
	for _, h := range c.after {
		if err := h.validate(); err != nil {
			p.add("WithAfter", h.String(), err.Error())
			continue
		}
		if h.UID == "" {
			p.add("WithAfter", h.String(), "the handle has no UID: use the handle Enqueue returned, or HandleFor of the Job")
		}
	}
}

// validateGates checks the gates of a Job named name in namespace: its
// dependencies must be other Jobs of its namespace, and a Job with gates
// must be one the release controller may resume.
func validateGates(p *problems, g *gates, namespace, name string, labels map[string]string) {
	for _, h := range g.after {
		switch {
		case h.Namespace != namespace:
			p.add("WithAfter", h.String(), "must name a Job in the Job's namespace "+namespace)
		case h.Name == name:
			p.add("WithAfter", h.String(), "names the Job itself, which could never start")
		}
	}
	if g.afterAnyOutcome && len(g.after) == 0 {
		p.add("WithAfterAnyOutcome", "true", "needs WithAfter")
	}
	if q, ok := labels[LabelKueueQueue]; ok && g.any() {
		p.add("WithLabels", LabelKueueQueue+"="+q, "Kueue resumes Jobs with this label itself, so the release controller never touches them: gates (WithRunAt, WithDelay, WithConcurrencyKey, WithAfter) cannot be combined with it")
	}
}

// dependency is an element of AnnotationAfter.
type dependency struct {
	Name string    `json:"name"`
	UID  types.UID `json:"uid"`
}

// setGates writes g into job's annotations, with now as its
// AnnotationQueuedAt, and suspends the Job. It is pure.
func setGates(job *batchv1.Job, g *gates, now time.Time) {
	if job.Annotations == nil {
		job.Annotations = make(map[string]string, 4)
	}
	a := job.Annotations
	if !g.runAt.IsZero() {
		a[AnnotationRunAt] = g.runAt.UTC().Format(runAtLayout)
	}
	if g.key != "" {
		a[AnnotationConcurrencyKey] = g.key
		a[AnnotationConcurrencyLimit] = strconv.Itoa(g.limit)
	}
	if len(g.after) > 0 {
		deps := make([]dependency, 0, len(g.after))
		seen := make(map[dependency]bool, len(g.after))
		for _, h := range g.after {
			d := dependency{Name: h.Name, UID: h.UID}
			if !seen[d] {
				seen[d] = true
				deps = append(deps, d)
			}
		}
		data, _ := json.Marshal(deps) // strings always encode
		a[AnnotationAfter] = string(data)
	}
	if g.afterAnyOutcome {
		a[AnnotationAfterAnyOutcome] = "true"
	}
	if !now.IsZero() {
		a[AnnotationQueuedAt] = now.UTC().Format(time.RFC3339Nano)
	}
	job.Spec.Suspend = ptr.To(true)
}

// jobGates is what a Job's annotations say about its gates.
type jobGates struct {
	runAt           time.Time // zero: none
	key             string    // "": none
	limit           int
	after           []dependency
	afterAnyOutcome bool
	queuedAt        time.Time // zero: not recorded
	err             error     // an annotation kubequeue cannot read
}

// gated reports whether the Job has gates.
func (g *jobGates) gated() bool {
	return !g.runAt.IsZero() || g.key != "" || len(g.after) > 0 || g.err != nil
}

// gatesOf reads a Job's gates from its annotations. An annotation that
// cannot be read (changed by hand) is reported in err; the Job then counts
// as gated, and the release controller leaves it waiting.
func gatesOf(job *batchv1.Job) jobGates {
	var g jobGates
	a := job.Annotations
	var errs []error
	if s, ok := a[AnnotationRunAt]; ok {
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			errs = append(errs, fmt.Errorf("annotation %s: %w", AnnotationRunAt, err))
		}
		g.runAt = t
	}
	if key, ok := a[AnnotationConcurrencyKey]; ok {
		g.key = key
		n, err := strconv.Atoi(a[AnnotationConcurrencyLimit])
		if err != nil || n <= 0 || key == "" {
			errs = append(errs, fmt.Errorf("annotations %s=%q, %s=%q: want a key and a positive limit", AnnotationConcurrencyKey, key, AnnotationConcurrencyLimit, a[AnnotationConcurrencyLimit]))
		}
		g.limit = n
	}
	if s, ok := a[AnnotationAfter]; ok {
		if err := json.Unmarshal([]byte(s), &g.after); err != nil {
			errs = append(errs, fmt.Errorf("annotation %s: %w", AnnotationAfter, err))
		}
	}
	g.afterAnyOutcome = a[AnnotationAfterAnyOutcome] == "true"
	if s, ok := a[AnnotationQueuedAt]; ok {
		g.queuedAt, _ = time.Parse(time.RFC3339Nano, s) // only an order: zero if unreadable
	}
	if len(errs) > 0 {
		g.err = fmt.Errorf("kubequeue: job %s/%s has gate annotations it cannot read: %v", job.Namespace, job.Name, errs)
	}
	return g
}

// released reports whether a gated Job was released: by the release
// controller, or taken out of its gates by Queue.Resume or Queue.Suspend.
func released(job *batchv1.Job) bool {
	_, ok := job.Annotations[AnnotationReleased]
	return ok
}

// isSuspended reports whether the Job's spec.suspend is true.
func isSuspended(job *batchv1.Job) bool {
	return job.Spec.Suspend != nil && *job.Spec.Suspend
}

// waiting reports whether job waits at its gates: it has gates, is
// suspended, and was neither released nor ended, nor has it finished.
func waiting(job *batchv1.Job, g *jobGates) bool {
	_, ended := job.Annotations[AnnotationEndReason]
	return g.gated() && isSuspended(job) && !released(job) && !ended && !finished(job)
}

// queueOrder compares two Jobs of a concurrency key by age: when Build made
// them (AnnotationQueuedAt), else when they were created, then by name.
func queueOrder(a, b *batchv1.Job, ga, gb *jobGates) int {
	ta, tb := ga.queuedAt, gb.queuedAt
	if ta.IsZero() {
		ta = a.CreationTimestamp.Time
	}
	if tb.IsZero() {
		tb = b.CreationTimestamp.Time
	}
	return cmp.Or(ta.Compare(tb), cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
}

// GateKind says what holds a waiting Job; see [Gate].
type GateKind string

// The kinds of [Gate].
const (
	// GateRunAt: its time ([WithRunAt], [WithDelay]) has not come.
	GateRunAt GateKind = "run-at"
	// GateAfter: a Job of [WithAfter] has not completed.
	GateAfter GateKind = "after"
	// GateConcurrency: as many Jobs of its concurrency key run as its
	// limit allows ([WithConcurrencyKey]).
	GateConcurrency GateKind = "concurrency"
	// GatePayload: its Enqueue has not stored its payload Secret yet.
	GatePayload GateKind = "payload"
	// GateRelease: every gate is open, and the Job waits for the release
	// controller ([NewScheduler]): if it stays so, none runs.
	GateRelease GateKind = "release"
	// GateInvalid: its gate annotations were changed into something
	// kubequeue cannot read, and the release controller leaves it waiting;
	// Message says what is wrong.
	GateInvalid GateKind = "invalid"
)

// Gate says what holds a Job that is [StateWaiting]. [Queue.Status] reports
// the gate that holds the Job now, looking up its dependencies and the other
// Jobs of its concurrency key; [Queue.List] and [Queue.WaitAll], which read
// the Job alone, report its first gate: the run-at time if it has not come,
// else its first dependency, else its concurrency key without a position.
type Gate struct {
	// Kind is what holds the Job.
	Kind GateKind `json:"kind"`
	// RunAt is the time the Job waits for, when it has one.
	RunAt time.Time `json:"runAt,omitzero"`
	// Dependency is, for GateAfter, the Job it waits for.
	Dependency Handle `json:"dependency,omitzero"`
	// Key and Limit are the Job's concurrency key and limit, when it has
	// one.
	Key   string `json:"key,omitempty"`
	Limit int    `json:"limit,omitempty"`
	// Running is, for GateConcurrency from Queue.Status, how many Jobs of
	// the key run.
	Running int `json:"running,omitempty"`
	// Position is, for GateConcurrency from Queue.Status, the Job's place
	// among the Jobs of its key that wait only for a slot: 1 is next.
	Position int `json:"position,omitempty"`
	// Message says in a sentence what the Job waits for.
	Message string `json:"message"`
}

// gateOf returns the first gate of a waiting Job, from the Job alone (see
// Gate), at time now.
func gateOf(job *batchv1.Job, g *jobGates, now time.Time) *Gate {
	gate := &Gate{RunAt: g.runAt, Key: g.key, Limit: g.limit}
	switch {
	case g.err != nil:
		gate.Kind, gate.Message = GateInvalid, g.err.Error()
	case pending(job):
		gate.Kind, gate.Message = GatePayload, "waits for its Enqueue to store its payload Secret"
	case !g.runAt.IsZero() && now.Before(g.runAt):
		gate.Kind, gate.Message = GateRunAt, "waits until "+g.runAt.UTC().Format(runAtLayout)
	case len(g.after) > 0:
		gate.Kind = GateAfter
		gate.Dependency = Handle{Namespace: job.Namespace, Name: g.after[0].Name, UID: g.after[0].UID}
		gate.Message = "waits for job " + gate.Dependency.String() + " to complete"
	case g.key != "":
		gate.Kind, gate.Message = GateConcurrency, fmt.Sprintf("waits for one of the %d slots of concurrency key %q", g.limit, g.key)
	default:
		gate.Kind, gate.Message = GateRelease, releaseMessage
	}
	return gate
}

// releaseMessage is the message of GateRelease.
const releaseMessage = "every gate is open: waits for the release controller (kubequeue.NewScheduler) to release it; if none runs, it waits forever"

// waitingAt reports whether the Job waits at its gates (see waiting).
func waitingAt(job *batchv1.Job) bool {
	g := gatesOf(job)
	return waiting(job, &g)
}

// holdsSlot reports whether job counts against its concurrency key: it was
// released (or resumed) and has neither finished nor been ended by the
// release controller. A Job being deleted counts until it is gone, since
// its pods may still run.
func holdsSlot(job *batchv1.Job, g *jobGates) bool {
	if g.key == "" || finished(job) || pending(job) {
		return false
	}
	if _, ended := job.Annotations[AnnotationEndReason]; ended {
		return false
	}
	return released(job) || !isSuspended(job)
}
