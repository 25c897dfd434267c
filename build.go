package kubequeue

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	"k8s.io/utils/ptr"

	"github.com/kubequeue/kubequeue/internal/names"
	"github.com/kubequeue/kubequeue/internal/wire"
)

// generateName returns "<worker>-<random suffix>".
func (q *Queue) generateName(worker string) string {
	if q.rand == nil {
		return names.Generate(worker, rand.Uint64)
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	return names.Generate(worker, q.rand.Uint64)
}

// Build returns the Job that [Queue.Enqueue] would create for worker and
// payload, without any API call. The payload must be of the worker's type
// T, its JSON encoding at most [MaxPayloadSize] bytes, and that encoding
// must decode back into a T (see "Payloads" in the package documentation).
//
// The Job is named "<worker>-<suffix>" with a random 10-character suffix
// (derived from the key with [WithUniqueKey]) unless [WithJobName] names
// it; its namespace is the call's, else the worker's, else the queue's. A
// payload that travels in a Secret (above [MaxEnvPayloadSize], or with
// [WithSensitivePayload]) is not in the Job: the Job is suspended and
// mounts a Secret named after it, which Enqueue creates before it resumes
// the Job. Each Enqueue adds to the Job the annotation
// [AnnotationEnqueueID] and, for a payload in a Secret, 8 hex digits of that
// ID to the name of the Secret. The caller owns the result and may change
// it.
//
// Errors match [ErrInvalidWorker], [ErrInvalidOption], [ErrPayloadType],
// [ErrPayloadEncode] or [ErrPayloadTooLarge].
func (q *Queue) Build(worker AnyWorker, payload any, opts ...EnqueueOption) (*batchv1.Job, error) {
	built, _, err := q.build(worker, payload, opts...)
	return built, err
}

// build is Build, which also returns the encoded payload when it travels
// in a Secret, and "" when it is in the Job. Such a Job is suspended, to be
// resumed once its Secret exists, unless the caller's options suspended it
// themselves (then its annotationResume is "false").
func (q *Queue) build(worker AnyWorker, payload any, opts ...EnqueueOption) (*batchv1.Job, string, error) {
	if worker == nil {
		return nil, "", fmt.Errorf("%w: nil worker", ErrInvalidWorker)
	}
	cfg, err := worker.config()
	if err != nil {
		return nil, "", err
	}
	data, err := worker.encodePayload(payload)
	if err != nil {
		return nil, "", err
	}
	call, err := callOptions(worker.Name(), cfg, opts, 0)
	if err != nil {
		return nil, "", err
	}
	name := call.name
	switch {
	case call.uniqueKeySet:
		name = names.FromKey(worker.Name(), call.uniqueKey)
	case name == "":
		name = q.generateName(worker.Name())
	}
	return q.assemble(worker.Name(), cfg, call, len(opts) > 0, name, data, 0)
}

// callOptions applies and checks the options of one call for a worker
// with configuration cfg, of a batch of items (0 for a single Job).
func callOptions(worker string, cfg *workerConfig, opts []EnqueueOption, items int) (*callConfig, error) {
	call := applyOptions(opts)
	if err := validateCall(worker, cfg, call, items); err != nil {
		return nil, err
	}
	return call, nil
}

// applyOptions applies opts to a new callConfig, unchecked.
func applyOptions(opts []EnqueueOption) *callConfig {
	call := new(callConfig)
	for _, opt := range opts {
		if opt != nil {
			opt.applyEnqueue(call)
			call.options++
		}
	}
	return call
}

// assemble builds the Job named name of a worker, a call and its encoded
// payload data, or of a batch of items (items > 0) when data holds them,
// as build says. withOpts tells whether the call passed options.
func (q *Queue) assemble(worker string, cfg *workerConfig, call *callConfig, withOpts bool, name, data string, items int32) (*batchv1.Job, string, error) {
	namespace := q.namespace
	for _, c := range []*jobConfig{&cfg.job, &call.job} {
		if c.namespace != nil {
			namespace = *c.namespace
		}
	}
	inSecret := false
	for _, c := range []*jobConfig{&cfg.job, &call.job} {
		if c.sensitive != nil && *c.sensitive {
			inSecret = true
		}
	}
	// The sizes count what is stored: the escaped form in the environment,
	// data as it is in a Secret. Each pod of a batch holds a copy of the
	// Job's environment: its items stay there only if all the copies take
	// no more room than one payload in the environment may.
	var env string
	if !inSecret {
		env = wire.EnvValue(data)
		inSecret = int64(len(env))*int64(max(items, 1)) > MaxEnvPayloadSize
	}
	built := newJob(worker, cfg, call, namespace, name, env, inSecret, items)
	if len(cfg.job.mutators)+len(call.job.mutators) > 0 { // without, all holds by construction
		if err := validateMutated(worker, built, name, namespace, inSecret, items); err != nil {
			return nil, "", err
		}
	}
	// Suspended by the caller's options (a mutator), before kubequeue
	// suspends it for its gates or its payload.
	userSuspended := isSuspended(built)
	now := q.now()
	g := resolveGates(&cfg.job, &call.job, now)
	gated := g.any()
	if gated {
		// A worker's own mistake only when the call adds nothing.
		p := &problems{worker: worker, sentinel: ErrInvalidOption}
		if call.options == 0 {
			p.sentinel = ErrInvalidWorker
		}
		validateGates(p, &g, namespace, name, built.Labels)
		if call.template && (!g.runAt.IsZero() || len(g.after) > 0) {
			p.add("Schedule", "WithRunAt, WithDelay or WithAfter", "a schedule's Jobs run when the schedule says: only WithConcurrencyKey may gate them")
		}
		if userSuspended {
			p.add("WithJobMutator", "spec.suspend=true", "a Job with gates (WithRunAt, WithDelay, WithConcurrencyKey, WithAfter) is suspended until the release controller resumes it: to hold it longer, call Queue.Suspend after Enqueue")
		}
		if err := p.err(); err != nil {
			return nil, "", err
		}
		if call.template {
			now = time.Time{} // each Job is queued when the CronJob makes it
		}
		setGates(built, &g, now)
	}
	if call.uniqueKeySet {
		if built.Annotations == nil {
			built.Annotations = make(map[string]string, 1)
		}
		built.Annotations[AnnotationUniqueKey] = names.KeyHash(call.uniqueKey)
	}
	switch {
	case inSecret && call.template:
		// A schedule's Secret exists before its Jobs: they start at once.
	case inSecret:
		// Created suspended: Enqueue creates the Secret, owned by the Job,
		// then lets the Job start, unless a mutator suspended it or it
		// waits for the release controller.
		resume := !userSuspended && !gated
		built.Spec.Suspend = ptr.To(true)
		if built.Annotations == nil {
			built.Annotations = make(map[string]string, 1)
		}
		built.Annotations[annotationResume] = strconv.FormatBool(resume)
	default:
		data = ""
	}
	if len(built.Annotations) > 0 {
		// Too large with the worker's annotations alone is the worker's
		// mistake; with a call's options, the call's.
		p := &problems{worker: worker, sentinel: ErrInvalidOption}
		if !withOpts {
			p.sentinel = ErrInvalidWorker
		}
		if annotationsSizeProblem(p, built.Annotations); len(p.errs) > 0 {
			return nil, "", p.err()
		}
	}
	return built, data, nil
}
