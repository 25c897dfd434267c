package kubequeue

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/utils/ptr"

	"github.com/kubequeue/kubequeue/internal/wire"
)

// MaxScheduleNameLength is the longest name of a schedule: the CronJob
// controller adds 11 characters to it for each Job's name.
const MaxScheduleNameLength = 52

// ScheduleOption configures [Queue.Schedule]. Every [JobOption] is one: it
// applies to each Job the schedule makes, over the worker's.
type ScheduleOption interface {
	applySchedule(*scheduleConfig)
}

// scheduleConfig holds what options passed to Schedule set.
type scheduleConfig struct {
	job                []EnqueueOption
	timeZone           *string
	concurrencyPolicy  batchv1.ConcurrencyPolicy
	startingDeadline   *time.Duration
	successfulHistory  *int32
	failedHistory      *int32
	suspend            bool
	historyLimitsGiven bool
}

type scheduleOption func(*scheduleConfig)

func (f scheduleOption) applySchedule(c *scheduleConfig) { f(c) }

func (f jobOption) applySchedule(c *scheduleConfig) { c.job = append(c.job, f) }

// WithTimeZone sets the time zone of a schedule's spec, an IANA name such
// as "Europe/Berlin" (spec.timeZone). Default: the time zone of the
// kube-controller-manager, usually UTC. Repeating it replaces.
func WithTimeZone(name string) ScheduleOption {
	return scheduleOption(func(c *scheduleConfig) { c.timeZone = &name })
}

// WithConcurrencyPolicy sets what the CronJob controller does when a run is
// due while the previous one still runs (spec.concurrencyPolicy):
// batchv1.AllowConcurrent (the default), batchv1.ForbidConcurrent (skip the
// new run) or batchv1.ReplaceConcurrent (delete the running Job). Repeating
// it replaces.
func WithConcurrencyPolicy(p batchv1.ConcurrencyPolicy) ScheduleOption {
	return scheduleOption(func(c *scheduleConfig) { c.concurrencyPolicy = p })
}

// WithStartingDeadline sets how late a missed run may still start
// (spec.startingDeadlineSeconds, in whole seconds, rounded up); a run
// missed by more is skipped. Default: none (Kubernetes then starts a missed
// run however late, but gives up after 100 missed runs). It must not be
// negative. Repeating it replaces.
func WithStartingDeadline(d time.Duration) ScheduleOption {
	return scheduleOption(func(c *scheduleConfig) { c.startingDeadline = &d })
}

// WithHistoryLimits sets how many finished Jobs of a schedule are kept:
// successful ones and failed ones (spec.successfulJobsHistoryLimit and
// spec.failedJobsHistoryLimit). Defaults: 3 and 1, as Kubernetes has them.
// Neither may be negative. Repeating it replaces.
func WithHistoryLimits(successful, failed int32) ScheduleOption {
	return scheduleOption(func(c *scheduleConfig) {
		c.successfulHistory, c.failedHistory, c.historyLimitsGiven = &successful, &failed, true
	})
}

// WithScheduleSuspended makes the schedule start no run while suspend is
// true (spec.suspend); runs already started go on. Default: false. Since
// [Queue.Schedule] writes the whole schedule, scheduling again without it
// resumes the schedule. Repeating it replaces.
func WithScheduleSuspended(suspend bool) ScheduleOption {
	return scheduleOption(func(c *scheduleConfig) { c.suspend = suspend })
}

// ScheduleInfo describes a schedule: a batch/v1 CronJob that kubequeue
// made.
type ScheduleInfo struct {
	// Namespace and Name identify the CronJob.
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	// UID is the CronJob's UID.
	UID types.UID `json:"uid,omitempty"`
	// Worker is the worker its Jobs run.
	Worker string `json:"worker"`
	// Spec is its cron spec, and TimeZone its time zone ("" for the
	// controller manager's).
	Spec     string `json:"spec"`
	TimeZone string `json:"timeZone,omitempty"`
	// Suspended reports spec.suspend.
	Suspended bool `json:"suspended,omitempty"`
	// LastScheduled is when the CronJob controller last started a run, and
	// LastSucceeded when a run last succeeded; zero if never.
	LastScheduled time.Time `json:"lastScheduled,omitzero"`
	LastSucceeded time.Time `json:"lastSucceeded,omitzero"`
	// Active are the handles of its Jobs that run.
	Active []Handle `json:"active,omitempty"`
}

// scheduleInfo summarizes a CronJob.
func scheduleInfo(cj *batchv1.CronJob) ScheduleInfo {
	info := ScheduleInfo{
		Namespace: cj.Namespace, Name: cj.Name, UID: cj.UID,
		Worker:    cj.Labels[LabelWorker],
		Spec:      cj.Spec.Schedule,
		TimeZone:  ptr.Deref(cj.Spec.TimeZone, ""),
		Suspended: ptr.Deref(cj.Spec.Suspend, false),
	}
	if t := cj.Status.LastScheduleTime; t != nil {
		info.LastScheduled = t.Time
	}
	if t := cj.Status.LastSuccessfulTime; t != nil {
		info.LastSucceeded = t.Time
	}
	for _, ref := range cj.Status.Active {
		info.Active = append(info.Active, Handle{Namespace: ref.Namespace, Name: ref.Name, UID: ref.UID, Worker: info.Worker})
	}
	return info
}

// validTimeZonePart is what Kubernetes accepts in each part of a time zone
// name (see its CronJob validation).
var validTimeZonePart = regexp.MustCompile(`^[A-Za-z\.\-_0-9+]{1,14}$`)

// validateSchedule checks a schedule's name, spec and options as the API
// server would, with the cron parser Kubernetes uses.
func validateSchedule(p *problems, name, spec string, c *scheduleConfig) {
	p.addAll("Schedule name", name, validation.IsDNS1123Subdomain(name))
	if len(name) > MaxScheduleNameLength {
		p.add("Schedule name", name, fmt.Sprintf("must be no more than %d characters", MaxScheduleNameLength))
	}
	if _, err := parseCron(spec); err != nil {
		p.add("Schedule spec", spec, err.Error()+` (want 5 fields: minute hour day-of-month month day-of-week, or a descriptor such as "@hourly")`)
	}
	if strings.Contains(spec, "TZ") {
		p.add("Schedule spec", spec, "cannot use TZ or CRON_TZ in the spec: use WithTimeZone")
	}
	if c.timeZone != nil {
		tz := *c.timeZone
		switch {
		case tz == "":
			p.add("WithTimeZone", tz, "must not be empty")
		case strings.EqualFold(tz, "Local"):
			p.add("WithTimeZone", tz, "must be an explicit IANA time zone, such as Europe/Berlin")
		case slices.ContainsFunc(strings.Split(tz, "/"), func(part string) bool {
			return part == "." || part == ".." || strings.HasPrefix(part, "-") || !validTimeZonePart.MatchString(part)
		}):
			p.add("WithTimeZone", tz, "unknown time zone")
		default:
			if _, err := time.LoadLocation(tz); err != nil {
				p.add("WithTimeZone", tz, err.Error())
			}
		}
	}
	switch c.concurrencyPolicy {
	case "", batchv1.AllowConcurrent, batchv1.ForbidConcurrent, batchv1.ReplaceConcurrent:
	default:
		p.add("WithConcurrencyPolicy", string(c.concurrencyPolicy), "must be Allow, Forbid or Replace")
	}
	if c.startingDeadline != nil && *c.startingDeadline < 0 {
		p.add("WithStartingDeadline", c.startingDeadline.String(), "must not be negative")
	}
	if c.historyLimitsGiven {
		if *c.successfulHistory < 0 {
			p.add("WithHistoryLimits successful", strconv.Itoa(int(*c.successfulHistory)), "must not be negative")
		}
		if *c.failedHistory < 0 {
			p.add("WithHistoryLimits failed", strconv.Itoa(int(*c.failedHistory)), "must not be negative")
		}
	}
}

// parseCron parses spec as the API server does (cron.ParseStandard, which
// panics on some inputs).
func parseCron(spec string) (s cron.Schedule, err error) {
	defer func() {
		if r := recover(); r != nil {
			s, err = nil, fmt.Errorf("invalid schedule format: %v", r)
		}
	}()
	return cron.ParseStandard(spec)
}

// payloadSecretName is the name of the Secret that holds the payload of the
// schedule name's Jobs.
func payloadSecretName(name string) string { return name + "-payload" }

// buildCronJob returns the CronJob of Schedule, and the payload when it
// travels in a Secret ("" otherwise). It is pure.
func (q *Queue) buildCronJob(name string, worker AnyWorker, spec string, payload any, opts []ScheduleOption) (*batchv1.CronJob, string, error) {
	c := new(scheduleConfig)
	for _, opt := range opts {
		if opt != nil {
			opt.applySchedule(c)
		}
	}
	p := &problems{sentinel: ErrInvalidOption}
	if worker != nil {
		p.worker = worker.Name()
	}
	validateSchedule(p, name, spec, c)
	if err := p.err(); err != nil {
		return nil, "", err
	}
	job, data, err := q.build(worker, payload, append(slices.Clone(c.job), enqueueOption(func(c *callConfig) { c.template = true }))...)
	if err != nil {
		return nil, "", err
	}
	if data != "" {
		wire.SecretVolumeOf(&job.Spec.Template.Spec).SecretName = payloadSecretName(name)
	}
	cj := &batchv1.CronJob{
		TypeMeta: metav1.TypeMeta{APIVersion: "batch/v1", Kind: "CronJob"},
		ObjectMeta: metav1.ObjectMeta{
			Namespace: job.Namespace, Name: name,
			Labels: map[string]string{LabelManagedBy: managedBy, LabelWorker: worker.Name()},
		},
		Spec: batchv1.CronJobSpec{
			Schedule:                   spec,
			TimeZone:                   c.timeZone,
			ConcurrencyPolicy:          c.concurrencyPolicy,
			Suspend:                    ptr.To(c.suspend),
			SuccessfulJobsHistoryLimit: c.successfulHistory,
			FailedJobsHistoryLimit:     c.failedHistory,
			JobTemplate: batchv1.JobTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: job.Labels, Annotations: job.Annotations},
				Spec:       job.Spec,
			},
		},
	}
	if d := c.startingDeadline; d != nil {
		cj.Spec.StartingDeadlineSeconds = ptr.To(int64((*d + time.Second - 1) / time.Second))
	}
	return cj, data, nil
}

// Schedule makes worker run with payload on the cron spec: it creates, or
// updates, the batch/v1 CronJob name in the namespace of the Jobs (the
// queue's default, or [WithNamespace]), whose Job template is what
// [Queue.Build] makes for worker, payload and opts, without what belongs to
// one Job (its name and enqueue ID). The cluster's CronJob controller runs
// it; no kubequeue process needs to run. Its Jobs are ordinary kubequeue
// Jobs: [Queue.Status], [Queue.Wait], [Queue.Logs] and [Queue.List] work on
// them (find them with List and the worker's name, or in
// [ScheduleInfo].Active).
//
// spec is a standard cron spec of 5 fields ("*/5 * * * *") or a descriptor
// such as "@hourly", as Kubernetes parses it (github.com/robfig/cron/v3);
// the time zone is set with [WithTimeZone], never in spec. name is a DNS
// subdomain of at most [MaxScheduleNameLength] characters. Everything is
// checked before any API call: an error matching [ErrInvalidOption] (or
// [ErrInvalidWorker], [ErrPayloadType], ...) says what is wrong. Gates that
// name a time or other Jobs ([WithRunAt], [WithDelay], [WithAfter]) make no
// sense for a schedule and are refused; [WithConcurrencyKey] works (its
// Jobs wait for the release controller, [NewScheduler]).
//
// Schedule writes the CronJob by server-side apply with the queue's field
// manager, so that calling it again with the same name updates the CronJob
// to exactly what this call describes (options left out go back to their
// defaults) and never makes a second one. A payload that travels in a Secret
// ([WithSensitivePayload], or too large for the environment) is stored in
// the Secret "<name>-payload", owned by the CronJob, which each run mounts;
// updating the schedule updates it.
func (q *Queue) Schedule(ctx context.Context, name string, worker AnyWorker, spec string, payload any, opts ...ScheduleOption) (ScheduleInfo, error) {
	cj, data, err := q.buildCronJob(name, worker, spec, payload, opts)
	if err != nil {
		return ScheduleInfo{}, err
	}
	body, err := json.Marshal(cj)
	if err != nil {
		return ScheduleInfo{}, fmt.Errorf("kubequeue: schedule %s/%s: %w", cj.Namespace, name, err)
	}
	cronJobs := q.client.BatchV1().CronJobs(cj.Namespace)
	var got *batchv1.CronJob
	err = q.retry(ctx, func() error {
		var err error
		got, err = cronJobs.Patch(ctx, name, types.ApplyPatchType, body, metav1.PatchOptions{FieldManager: q.fieldManager, Force: ptr.To(true)})
		return err
	})
	if err != nil {
		return ScheduleInfo{}, fmt.Errorf("kubequeue: schedule %s/%s: apply cronjob: %w", cj.Namespace, name, err)
	}
	if data != "" {
		if err := q.applyPayloadSecret(ctx, got, data); err != nil {
			return scheduleInfo(got), err
		}
	}
	return scheduleInfo(got), nil
}

// applyPayloadSecret stores the payload of cj's Jobs in their Secret, owned
// by cj, by server-side apply.
func (q *Queue) applyPayloadSecret(ctx context.Context, cj *batchv1.CronJob, data string) error {
	secret := &corev1.Secret{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
		ObjectMeta: metav1.ObjectMeta{
			Name:      payloadSecretName(cj.Name),
			Namespace: cj.Namespace,
			Labels:    map[string]string{LabelManagedBy: managedBy, LabelWorker: cj.Labels[LabelWorker]},
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion: "batch/v1", Kind: "CronJob", Name: cj.Name, UID: cj.UID,
			}},
		},
		Type: corev1.SecretTypeOpaque,
		Data: map[string][]byte{wire.SecretKey: []byte(data)},
	}
	body, err := json.Marshal(secret)
	if err != nil {
		return fmt.Errorf("kubequeue: schedule %s/%s: %w", cj.Namespace, cj.Name, err)
	}
	secrets := q.client.CoreV1().Secrets(cj.Namespace)
	err = q.retry(ctx, func() error {
		_, err := secrets.Patch(ctx, secret.Name, types.ApplyPatchType, body, metav1.PatchOptions{FieldManager: q.fieldManager, Force: ptr.To(true)})
		return err
	})
	if err != nil {
		return fmt.Errorf("kubequeue: schedule %s/%s: apply payload secret %s: %w", cj.Namespace, cj.Name, secret.Name, err)
	}
	return nil
}

// Unschedule deletes the schedule name of namespace (the queue's default
// namespace if empty): its CronJob and, through the garbage collector, its
// payload Secret and its Jobs, finished or running (as kubectl delete
// cronjob does). A schedule that does not exist is no error; a CronJob of
// that name that kubequeue did not make is refused, matching
// [ErrInvalidOption].
func (q *Queue) Unschedule(ctx context.Context, namespace, name string) error {
	if namespace == "" {
		namespace = q.namespace
	}
	p := &problems{sentinel: ErrInvalidOption}
	p.addAll("Unschedule namespace", namespace, validation.IsDNS1123Label(namespace))
	p.addAll("Unschedule name", name, validation.IsDNS1123Subdomain(name))
	if err := p.err(); err != nil {
		return err
	}
	cronJobs := q.client.BatchV1().CronJobs(namespace)
	var cj *batchv1.CronJob
	err := q.retry(ctx, func() error {
		var err error
		cj, err = cronJobs.Get(ctx, name, metav1.GetOptions{})
		return err
	})
	switch {
	case apierrors.IsNotFound(err):
		return nil
	case err != nil:
		return fmt.Errorf("kubequeue: unschedule %s/%s: %w", namespace, name, err)
	case cj.Labels[LabelManagedBy] != managedBy:
		return fmt.Errorf("%w: unschedule %s/%s: the cronjob was not made by kubequeue (no label %s=%s)", ErrInvalidOption, namespace, name, LabelManagedBy, managedBy)
	}
	pre := metav1.NewUIDPreconditions(string(cj.UID))
	err = q.retry(ctx, func() error {
		return cronJobs.Delete(ctx, name, metav1.DeleteOptions{Preconditions: pre, PropagationPolicy: ptr.To(metav1.DeletePropagationBackground)})
	})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("kubequeue: unschedule %s/%s: %w", namespace, name, err)
	}
	return nil
}

// ListSchedules returns the schedules of namespace (the queue's default
// namespace if empty), by name: the CronJobs with the label
// [LabelManagedBy]=kubequeue.
func (q *Queue) ListSchedules(ctx context.Context, namespace string) ([]ScheduleInfo, error) {
	if namespace == "" {
		namespace = q.namespace
	}
	p := &problems{sentinel: ErrInvalidOption}
	p.addAll("ListSchedules namespace", namespace, validation.IsDNS1123Label(namespace))
	if err := p.err(); err != nil {
		return nil, err
	}
	var out []ScheduleInfo
	opts := metav1.ListOptions{LabelSelector: labels.Set{LabelManagedBy: managedBy}.String(), Limit: listPageSize}
	for {
		var list *batchv1.CronJobList
		err := q.retry(ctx, func() error {
			var err error
			list, err = q.client.BatchV1().CronJobs(namespace).List(ctx, opts)
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("kubequeue: list schedules of namespace %s: %w", namespace, err)
		}
		for i := range list.Items {
			out = append(out, scheduleInfo(&list.Items[i]))
		}
		if list.Continue == "" {
			break
		}
		opts.Continue = list.Continue
	}
	slices.SortFunc(out, func(a, b ScheduleInfo) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}
