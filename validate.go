package kubequeue

import (
	"errors"
	"fmt"
	"path"
	"reflect"
	"slices"
	"strconv"
	"strings"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/kubequeue/kubequeue/internal/names"
	"github.com/kubequeue/kubequeue/internal/wire"
)

// ValidationError describes one invalid setting of a worker, or of an option
// passed to Build or Enqueue. It matches [ErrInvalidWorker] or
// [ErrInvalidOption] with [errors.Is]. When several settings are invalid,
// their errors are joined with [errors.Join].
type ValidationError struct {
	// Worker is the worker's name, or empty for an option of the Queue.
	Worker string
	// Field names the setting, by the option that sets it.
	Field string
	// Value is the rejected value.
	Value string
	// Reason says what is wrong.
	Reason string

	sentinel error
}

// Error implements error.
func (e *ValidationError) Error() string {
	if e.Worker == "" {
		return fmt.Sprintf("kubequeue: %s %q: %s", e.Field, e.Value, e.Reason)
	}
	return fmt.Sprintf("kubequeue: worker %q: %s %q: %s", e.Worker, e.Field, e.Value, e.Reason)
}

// Is reports whether target is the sentinel this error belongs to:
// [ErrInvalidWorker] for a worker's settings, [ErrInvalidOption] for a call's.
func (e *ValidationError) Is(target error) bool { return target == e.sentinel }

// problems collects validation errors.
type problems struct {
	worker   string
	sentinel error
	errs     []error
}

func (p *problems) add(field, value, reason string) {
	p.errs = append(p.errs, &ValidationError{Worker: p.worker, Field: field, Value: value, Reason: reason, sentinel: p.sentinel})
}

func (p *problems) addAll(field, value string, reasons []string) {
	for _, r := range reasons {
		p.add(field, value, r)
	}
}

func (p *problems) addFieldErrors(field string, errs field.ErrorList) {
	for _, e := range errs {
		p.add(field, fmt.Sprint(e.BadValue), e.Detail)
	}
}

func (p *problems) err() error { return errors.Join(p.errs...) }

// validateWorker checks a worker's name and options, as normalise left them.
func validateWorker(name string, c *workerConfig) error {
	p := &problems{worker: name, sentinel: ErrInvalidWorker}
	p.addAll("name", name, names.ValidateWorkerName(name))
	if c.ownCommand && len(c.command) == 0 {
		p.add("perform", "nil", "must not be nil unless WithCommand sets the program the Job runs")
	}
	p.addAll("WithImage", c.image, names.ValidateImage(c.image))
	p.addAll("WithContainerName", c.containerName, validation.IsDNS1123Label(c.containerName))
	for _, e := range c.env {
		p.addAll("environment variable", e.Name, validation.IsEnvVarName(e.Name))
		if strings.HasPrefix(e.Name, wire.EnvPrefix) {
			p.add("environment variable", e.Name, "names that start with "+wire.EnvPrefix+" are reserved for kubequeue")
		}
		if e.ValueFrom != nil {
			if e.Value != "" {
				p.add("environment variable", e.Name, "sets both value and valueFrom")
			}
			if n := setFields(*e.ValueFrom); n != 1 {
				p.add("environment variable", e.Name, fmt.Sprintf("valueFrom must name exactly one source, not %d", n))
			}
		}
	}
	for _, e := range c.envFrom {
		if e.ConfigMapRef != nil {
			p.addAll("WithEnvFromConfigMap", e.ConfigMapRef.Name, validation.IsDNS1123Subdomain(e.ConfigMapRef.Name))
		}
		if e.SecretRef != nil {
			p.addAll("WithEnvFromSecret", e.SecretRef.Name, validation.IsDNS1123Subdomain(e.SecretRef.Name))
		}
	}
	validateQuantities(p, "WithCPU", corev1.ResourceCPU, c.cpu)
	validateQuantities(p, "WithMemory", corev1.ResourceMemory, c.memory)
	switch c.restartPolicy {
	case corev1.RestartPolicyNever, corev1.RestartPolicyOnFailure:
	default:
		p.add("WithRestartPolicy", string(c.restartPolicy), "must be Never or OnFailure")
	}
	if c.serviceAccount != "" {
		p.addAll("WithServiceAccount", c.serviceAccount, validation.IsDNS1123Subdomain(c.serviceAccount))
	}
	for _, s := range c.imagePullSecrets {
		p.addAll("WithImagePullSecrets", s.Name, validation.IsDNS1123Subdomain(s.Name))
	}
	if len(c.nodeSelector) > 0 {
		p.addFieldErrors("WithNodeSelector", metav1validation.ValidateLabels(c.nodeSelector, field.NewPath("nodeSelector")))
	}
	if c.priorityClass != "" {
		p.addAll("WithPriorityClass", c.priorityClass, validation.IsDNS1123Subdomain(c.priorityClass))
	}
	validateTolerations(p, c.tolerations)
	volumes := make(map[string]bool, len(c.volumes))
	for _, v := range c.volumes {
		p.addAll("WithVolumes name", v.Name, validation.IsDNS1123Label(v.Name))
		if v.Name == wire.SecretVolume {
			p.add("WithVolumes name", v.Name, "is reserved for the payload's Secret")
		}
		if volumes[v.Name] {
			p.add("WithVolumes name", v.Name, "is used by more than one volume")
		}
		volumes[v.Name] = true
		if n := setFields(v.VolumeSource); n != 1 {
			p.add("WithVolumes", v.Name, fmt.Sprintf("must have exactly one volume source (such as secret or emptyDir), not %d", n))
		}
	}
	mountPaths := make(map[string]bool, len(c.volumeMounts))
	for _, m := range c.volumeMounts {
		if !volumes[m.Name] {
			p.add("WithVolumeMounts name", m.Name, "names no volume added with WithVolumes")
		}
		if !path.IsAbs(m.MountPath) {
			p.add("WithVolumeMounts mountPath", m.MountPath, "must be an absolute path")
		}
		if overlapsPayload(m.MountPath) {
			p.add("WithVolumeMounts mountPath", m.MountPath, "is reserved for the payload's Secret, mounted at "+wire.SecretDir+": a mount there, above it or in it would hide it")
		}
		if mountPaths[m.MountPath] {
			p.add("WithVolumeMounts mountPath", m.MountPath, "is used by more than one mount")
		}
		mountPaths[m.MountPath] = true
		if m.SubPath != "" && (path.IsAbs(m.SubPath) || slices.Contains(strings.Split(m.SubPath, "/"), "..")) {
			p.add("WithVolumeMounts subPath", m.SubPath, "must be a relative path without '..'")
		}
	}
	validateJobConfig(p, &c.job)
	if len(c.job.annotations) > 0 && apivalidation.ValidateAnnotationsSize(c.job.annotations) == nil { // else reported above
		annotationsSizeProblem(p, c.job.annotations)
	}
	// A worker's rules may fail an index: they apply to its batches too.
	validateFailureRules(p, c.restartPolicy, ruleContainer(c, nil), c.job.failureRules, len(c.job.failureRules), true)
	return p.err()
}

// validateCall checks the options passed to one call for a worker w: of
// Build or Enqueue when items is 0, else of a batch of items (BuildBatch,
// EnqueueBatch).
func validateCall(worker string, w *workerConfig, c *callConfig, items int) error {
	p := &problems{worker: worker, sentinel: ErrInvalidOption}
	if c.uniqueKeySet {
		switch {
		case c.uniqueKey == "" || len(c.uniqueKey) > maxUniqueKeyLen:
			p.add("WithUniqueKey", truncate(c.uniqueKey), fmt.Sprintf("must be 1 to %d bytes, not %d", maxUniqueKeyLen, len(c.uniqueKey)))
		case c.name != "":
			p.add("WithUniqueKey", truncate(c.uniqueKey), "cannot be combined with WithJobName "+c.name+": the key names the Job")
		}
	}
	if c.name != "" {
		p.addAll("WithJobName", c.name, names.ValidateJobName(c.name))
		if items > 0 && len(names.ValidateJobName(c.name)) == 0 {
			// The Job controller names the pod of index i's host
			// "<job>-<i>", a DNS label too.
			if host := fmt.Sprintf("%s-%d", c.name, items-1); len(validation.IsDNS1123Label(host)) > 0 {
				p.add("WithJobName", c.name, fmt.Sprintf("must leave room for the index of a batch of %d: the host name of its last pod, %s, must be a DNS label of at most 63 characters", items, host))
			}
		}
	}
	if c.many && c.name != "" {
		p.add("WithJobName", c.name, "names one Job, and EnqueueMany creates one per payload: call Enqueue for each")
	}
	if c.many && c.uniqueKeySet {
		p.add("WithUniqueKey", truncate(c.uniqueKey), "is one key, and EnqueueMany creates one Job per payload: call Enqueue for each")
	}
	switch {
	case c.concurrencySet && !c.many:
		p.add("WithEnqueueConcurrency", strconv.Itoa(c.concurrency), "applies to EnqueueMany only")
	case c.concurrencySet && (c.concurrency < 1 || c.concurrency > MaxEnqueueConcurrency):
		p.add("WithEnqueueConcurrency", strconv.Itoa(c.concurrency), fmt.Sprintf("must be 1 to %d", MaxEnqueueConcurrency))
	}
	validateJobConfig(p, &c.job)
	validateFailureRules(p, w.restartPolicy, ruleContainer(w, c), c.job.failureRules, len(w.job.failureRules)+len(c.job.failureRules), items > 0)
	if items == 0 {
		validateSingle(p, w, c)
	} else {
		validateBatch(p, c, items)
	}
	queue, priority := kueueLabels(w, c)
	if priority != "" && queue == "" {
		p.add("WithWorkloadPriorityClass", priority, "needs WithQueueName: Kueue reads it only on a queued Job")
	}
	if queue != "" && (hasGate(&w.job.gate) || hasGate(&c.job.gate)) {
		p.add("WithQueueName", queue, "Kueue admits and resumes a queued Job, and the release controller leaves it alone: it cannot have gates (WithRunAt, WithDelay, WithConcurrencyKey, WithAfter)")
	}
	// Each map was checked alone; their union must fit the size limit too.
	if len(c.job.annotations) > 0 && len(w.job.annotations) > 0 {
		validateAnnotations(p, "WithAnnotations", merged(w.job.annotations, c.job.annotations))
	}
	if len(c.job.podAnnotations) > 0 && len(w.job.podAnnotations) > 0 {
		validateAnnotations(p, "WithPodAnnotations", merged(w.job.podAnnotations, c.job.podAnnotations))
	}
	return p.err()
}

// validateJobConfig checks the options that both workers and calls accept.
func validateJobConfig(p *problems, c *jobConfig) {
	if c.namespace != nil {
		p.addAll("WithNamespace", *c.namespace, validation.IsDNS1123Label(*c.namespace))
	}
	validateLabels(p, "WithLabels", c.labels)
	validateLabels(p, "WithPodLabels", c.podLabels)
	validateAnnotations(p, "WithAnnotations", c.annotations)
	validateAnnotations(p, "WithPodAnnotations", c.podAnnotations)
	if c.backoffLimit != nil && *c.backoffLimit < 0 {
		p.add("WithBackoffLimit", fmt.Sprint(*c.backoffLimit), "must not be negative")
	}
	if c.activeDeadline != nil && *c.activeDeadline <= 0 {
		p.add("WithActiveDeadline", c.activeDeadline.String(), "must be positive")
	}
	if c.ttl != nil && *c.ttl < 0 {
		p.add("WithTTLAfterFinished", c.ttl.String(), "must not be negative")
	}
	if c.queueName != nil {
		p.addAll("WithQueueName", *c.queueName, validation.IsDNS1123Label(*c.queueName))
	}
	if c.priority != nil {
		p.addAll("WithWorkloadPriorityClass", *c.priority, validation.IsDNS1123Subdomain(*c.priority))
		p.addAll("WithWorkloadPriorityClass", *c.priority, validation.IsValidLabelValue(*c.priority))
	}
	for _, m := range c.mutators {
		if m == nil {
			p.add("WithJobMutator", "nil", "must not be nil")
		}
	}
	if c.parallelism != nil && (*c.parallelism < 1 || *c.parallelism > MaxBatchItems) {
		p.add("WithParallelism", fmt.Sprint(*c.parallelism), fmt.Sprintf("must be 1 to %d (to pause a batch, suspend it)", MaxBatchItems))
	}
	if c.maxFailedIndexes != nil && (*c.maxFailedIndexes < 0 || *c.maxFailedIndexes > MaxBatchItems) {
		p.add("WithMaxFailedItems", fmt.Sprint(*c.maxFailedIndexes), fmt.Sprintf("must be 0 to %d", MaxBatchItems))
	}
	validateGateConfig(p, &c.gate)
}

// overlapsPayload reports whether a volume mounted at mountPath would hide
// the payload's Secret, or be hidden by it: mounted at its directory, above
// it or inside it.
func overlapsPayload(mountPath string) bool {
	m := path.Clean(mountPath)
	return m == wire.SecretDir || strings.HasPrefix(wire.SecretDir, strings.TrimSuffix(m, "/")+"/") || strings.HasPrefix(m, wire.SecretDir+"/")
}

// ruleContainer returns the name of the worker's container, which a pod
// failure policy rule's containerName must name, or "" when a mutator,
// which may add containers, decides (validateMutated checks it then).
func ruleContainer(w *workerConfig, call *callConfig) string {
	if len(w.job.mutators) > 0 || call != nil && len(call.job.mutators) > 0 {
		return ""
	}
	return w.containerName
}

// Limits of a pod failure policy rule that the API server enforces.
const (
	maxFailureRuleExitCodes  = 255
	maxFailureRuleConditions = 20
)

// validateFailureRules checks pod failure policy rules for a pod with
// restart policy restart, of total rules in the Job's policy before
// kubequeue's own, as the API server does; a rule's containerName must be
// container, unless that is "". FailIndex is allowed for an indexed Job (a
// batch) only.
func validateFailureRules(p *problems, restart corev1.RestartPolicy, container string, rules []batchv1.PodFailurePolicyRule, total int, indexed bool) {
	if len(rules) > 0 && restart != corev1.RestartPolicyNever {
		p.add("WithPodFailurePolicyRules", fmt.Sprintf("%d rules", len(rules)), "needs restartPolicy Never, and the worker sets "+string(restart))
	}
	if total+2 > maxFailureRules {
		p.add("WithPodFailurePolicyRules", fmt.Sprintf("%d rules", total+2), fmt.Sprintf("must be at most %d with kubequeue's own", maxFailureRules))
	}
	for i, r := range rules {
		where := fmt.Sprintf("rule %d", i)
		switch r.Action {
		case batchv1.PodFailurePolicyActionFailJob, batchv1.PodFailurePolicyActionIgnore, batchv1.PodFailurePolicyActionCount:
		case batchv1.PodFailurePolicyActionFailIndex:
			if !indexed {
				p.add("WithPodFailurePolicyRules action", where+": FailIndex", failIndexSingle)
			}
		default:
			p.add("WithPodFailurePolicyRules action", where+": "+string(r.Action), "must be FailJob, FailIndex (in a batch), Ignore or Count")
		}
		if (r.OnExitCodes == nil) == (len(r.OnPodConditions) == 0) {
			p.add("WithPodFailurePolicyRules", where, "must set exactly one of onExitCodes and onPodConditions")
		}
		if e := r.OnExitCodes; e != nil {
			validateOnExitCodes(p, where, container, e)
		}
		if len(r.OnPodConditions) > maxFailureRuleConditions {
			p.add("WithPodFailurePolicyRules onPodConditions", fmt.Sprintf("%s: %d patterns", where, len(r.OnPodConditions)), fmt.Sprintf("must be at most %d", maxFailureRuleConditions))
		}
		for _, c := range r.OnPodConditions {
			p.addAll("WithPodFailurePolicyRules onPodConditions type", where+": "+string(c.Type), validation.IsQualifiedName(string(c.Type)))
			switch c.Status {
			case corev1.ConditionTrue, corev1.ConditionFalse, corev1.ConditionUnknown:
			default:
				p.add("WithPodFailurePolicyRules onPodConditions status", where+": "+string(c.Status), "must be True, False or Unknown")
			}
		}
	}
}

// validateOnExitCodes checks a rule's onExitCodes requirement as the API
// server does: a known operator, 1 to 255 values in increasing order
// without duplicates, no 0 with In, and a containerName that names the
// worker's container (unless container is "").
func validateOnExitCodes(p *problems, where, container string, e *batchv1.PodFailurePolicyOnExitCodesRequirement) {
	const option = "WithPodFailurePolicyRules onExitCodes"
	switch e.Operator {
	case batchv1.PodFailurePolicyOnExitCodesOpIn, batchv1.PodFailurePolicyOnExitCodesOpNotIn:
	case "":
		p.add(option+" operator", where, "is required: In or NotIn")
	default:
		p.add(option+" operator", where+": "+string(e.Operator), "must be In or NotIn")
	}
	if e.ContainerName != nil && container != "" && *e.ContainerName != container {
		p.add(option+" containerName", where+": "+*e.ContainerName, "names no container of the pod; the worker's is "+container)
	}
	values := fmt.Sprintf("%s: %s %v", where, e.Operator, e.Values)
	switch {
	case len(e.Values) == 0:
		p.add(option, where, "must list at least one exit code")
	case len(e.Values) > maxFailureRuleExitCodes:
		p.add(option, fmt.Sprintf("%s: %d exit codes", where, len(e.Values)), fmt.Sprintf("must list at most %d exit codes", maxFailureRuleExitCodes))
	}
	if e.Operator == batchv1.PodFailurePolicyOnExitCodesOpIn && slices.Contains(e.Values, 0) {
		p.add(option, values, "must not match exit code 0, which is success")
	}
	if !slices.IsSorted(e.Values) {
		p.add(option, values, "must list the exit codes in increasing order")
	}
	seen := make(map[int32]bool, len(e.Values))
	for _, v := range e.Values {
		if seen[v] {
			p.add(option, values, fmt.Sprintf("must not list an exit code twice, as %d", v))
			break
		}
		seen[v] = true
	}
}

// failIndexSingle says why a single Job cannot have a FailIndex rule.
const failIndexSingle = "needs an Indexed Job, a batch (EnqueueBatch); a single Job is NonIndexed: use FailJob"

// validateSingle checks what only a single Job's call cannot have: the
// options of batches, and the worker's FailIndex rules (the call's were
// checked with the rest).
func validateSingle(p *problems, w *workerConfig, c *callConfig) {
	const batchOnly = "applies to a batch only (EnqueueBatch, BuildBatch)"
	if c.job.parallelism != nil {
		p.add("WithParallelism", fmt.Sprint(*c.job.parallelism), batchOnly)
	}
	if c.job.maxFailedIndexes != nil {
		p.add("WithMaxFailedItems", fmt.Sprint(*c.job.maxFailedIndexes), batchOnly)
	}
	if len(c.successPolicy) > 0 {
		p.add("WithSuccessPolicy", fmt.Sprintf("%d rules", len(c.successPolicy)), batchOnly)
	}
	for i, r := range w.job.failureRules {
		if r.Action == batchv1.PodFailurePolicyActionFailIndex {
			p.add("WithPodFailurePolicyRules action", fmt.Sprintf("worker rule %d: FailIndex", i), failIndexSingle)
		}
	}
}

// validateBatch checks a batch's success policy against its items, as the
// API server does.
func validateBatch(p *problems, c *callConfig, items int) {
	if len(c.successPolicy) > maxSuccessPolicyRules {
		p.add("WithSuccessPolicy", fmt.Sprintf("%d rules", len(c.successPolicy)), fmt.Sprintf("must be at most %d", maxSuccessPolicyRules))
	}
	for i, r := range c.successPolicy {
		where := fmt.Sprintf("rule %d", i)
		if r.SucceededCount == nil && r.SucceededIndexes == nil {
			p.add("WithSuccessPolicy", where, "must set succeededCount, succeededIndexes or both")
		}
		total := items
		if r.SucceededIndexes != nil {
			n, err := countIndexes(*r.SucceededIndexes, items)
			if err != nil {
				p.add("WithSuccessPolicy succeededIndexes", where+": "+truncate(*r.SucceededIndexes), err.Error())
			}
			total = n
		}
		if n := r.SucceededCount; n != nil {
			switch {
			case *n < 1:
				p.add("WithSuccessPolicy succeededCount", fmt.Sprintf("%s: %d", where, *n), "must be at least 1")
			case int(*n) > items:
				p.add("WithSuccessPolicy succeededCount", fmt.Sprintf("%s: %d", where, *n), fmt.Sprintf("must be at most the batch's %d items", items))
			case r.SucceededIndexes != nil && int(*n) > total:
				p.add("WithSuccessPolicy succeededCount", fmt.Sprintf("%s: %d", where, *n), fmt.Sprintf("must be at most the %d indexes of succeededIndexes", total))
			}
		}
	}
}

// maxSuccessPolicyRules is the most rules the API server accepts in a
// success policy, and maxSucceededIndexesLen the longest succeededIndexes.
const (
	maxSuccessPolicyRules  = 20
	maxSucceededIndexesLen = 64 << 10
)

// countIndexes parses an interval list of indexes, such as "0,2-4,9", as
// the API server does for a success policy: intervals in increasing order,
// not overlapping, each index below items. It returns how many indexes it
// lists.
func countIndexes(list string, items int) (int, error) {
	if len(list) > maxSucceededIndexesLen {
		return 0, fmt.Errorf("must be at most %d characters", maxSucceededIndexesLen)
	}
	if list == "" {
		return 0, errors.New("must list at least one index")
	}
	total, prev := 0, -1
	for _, part := range strings.Split(list, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		first, err := strconv.Atoi(lo)
		last := first
		if err == nil && isRange {
			last, err = strconv.Atoi(hi)
		}
		switch {
		case err != nil || first < 0 || last < 0:
			return 0, fmt.Errorf("%q is neither an index nor a range first-last of them", part)
		case isRange && first >= last:
			return 0, fmt.Errorf("%q: a range's first index must be below its last", part)
		case first <= prev:
			return 0, fmt.Errorf("%q: the indexes must be in increasing order without overlaps", part)
		case last >= items:
			return 0, fmt.Errorf("%q: the batch's indexes are 0 to %d", part, items-1)
		}
		total += last - first + 1
		prev = last
	}
	return total, nil
}

func validateLabels(p *problems, option string, labels map[string]string) {
	if len(labels) == 0 {
		return
	}
	p.addFieldErrors(option, metav1validation.ValidateLabels(labels, field.NewPath("labels")))
	for _, k := range []string{LabelManagedBy, LabelWorker} {
		if v, ok := labels[k]; ok {
			p.add(option, k+"="+v, "is set by kubequeue and cannot be changed")
		}
	}
	for k, opt := range map[string]string{LabelQueueName: "WithQueueName", LabelWorkloadPriorityClass: "WithWorkloadPriorityClass"} {
		if v, ok := labels[k]; ok {
			p.add(option, k+"="+v, "is set with "+opt+", which also leaves resuming the Job to Kueue")
		}
	}
	for _, k := range jobControllerLabels {
		if v, ok := labels[k]; ok {
			p.add(option, k+"="+v, "is set by the Job controller and cannot be changed")
		}
	}
}

// jobControllerLabels are the pod labels the API server sets from the Job's
// name and UID; it rejects a Job whose template sets them otherwise.
var jobControllerLabels = []string{
	"job-name", "controller-uid",
	batchv1.JobNameLabel, batchv1.ControllerUidLabel,
}

// validateTolerations checks what the API server checks of each toleration.
func validateTolerations(p *problems, tolerations []corev1.Toleration) {
	for _, t := range tolerations {
		if t.Key != "" {
			p.addFieldErrors("WithTolerations key", metav1validation.ValidateLabelName(t.Key, field.NewPath("key")))
		}
		switch t.Operator {
		case corev1.TolerationOpEqual, "":
			if t.Key == "" {
				p.add("WithTolerations", t.Value, "an empty key requires the operator Exists")
			}
			p.addAll("WithTolerations value", t.Value, validation.IsValidLabelValue(t.Value))
		case corev1.TolerationOpExists:
			if t.Value != "" {
				p.add("WithTolerations value", t.Value, "must be empty when the operator is Exists")
			}
		} // other operators (Lt, Gt) are feature-gated: the API server decides
		switch t.Effect {
		case "", corev1.TaintEffectNoSchedule, corev1.TaintEffectPreferNoSchedule, corev1.TaintEffectNoExecute:
		default:
			p.add("WithTolerations effect", string(t.Effect), "must be NoSchedule, PreferNoSchedule, NoExecute or empty")
		}
		if t.TolerationSeconds != nil && t.Effect != corev1.TaintEffectNoExecute {
			p.add("WithTolerations tolerationSeconds", fmt.Sprint(*t.TolerationSeconds), "requires the effect NoExecute")
		}
	}
}

// setFields counts the non-nil pointer fields of a struct of optional
// sources, such as a VolumeSource or an EnvVarSource.
func setFields(v any) int {
	rv := reflect.ValueOf(v)
	n := 0
	for i := range rv.NumField() {
		if f := rv.Field(i); f.Kind() == reflect.Pointer && !f.IsNil() {
			n++
		}
	}
	return n
}

func validateAnnotations(p *problems, option string, annotations map[string]string) {
	if len(annotations) == 0 {
		return
	}
	p.addFieldErrors(option, apivalidation.ValidateAnnotations(annotations, field.NewPath("annotations")))
}

// validateQuantities checks a request and a limit.
func validateQuantities(p *problems, option string, name corev1.ResourceName, pair quantityPair) {
	request, okRequest := validateQuantity(p, option+" request", name, pair.request)
	limit, okLimit := validateQuantity(p, option+" limit", name, pair.limit)
	if okRequest && okLimit && request.Cmp(limit) > 0 {
		p.add(option+" request", pair.request, fmt.Sprintf("must not exceed the limit %q", pair.limit))
	}
}

// validateQuantity parses s, if not empty, and reports it if invalid; ok is
// false when s is empty or invalid.
func validateQuantity(p *problems, field string, name corev1.ResourceName, s string) (q resource.Quantity, ok bool) {
	if s == "" {
		return q, false
	}
	q, reason := parseQuantity(name, s)
	if reason != "" {
		p.add(field, s, reason)
		return q, false
	}
	return q, true
}

// parseQuantity parses s as a quantity of the resource name; reason says
// why it is not one, or is empty.
func parseQuantity(name corev1.ResourceName, s string) (q resource.Quantity, reason string) {
	q, err := resource.ParseQuantity(s)
	switch {
	case err != nil:
		return q, "not a Kubernetes quantity such as \"500m\", \"2\", \"128Mi\" or \"1Gi\""
	case q.Sign() < 0:
		return q, "must not be negative"
	case name == corev1.ResourceMemory && hasFraction(q):
		if strings.HasSuffix(s, "m") {
			return q, fmt.Sprintf("the suffix m means thousandths, so this is %s bytes; did you mean %q?", strconv.FormatFloat(q.AsApproximateFloat64(), 'f', -1, 64), strings.TrimSuffix(s, "m")+"Mi")
		}
		return q, "is not a whole number of bytes"
	}
	return q, ""
}

// hasFraction reports whether q is not a whole number, exactly, at any
// magnitude.
func hasFraction(q resource.Quantity) bool {
	d := q.AsDec().String()
	i := strings.IndexByte(d, '.')
	return i >= 0 && strings.TrimRight(d[i+1:], "0") != ""
}

// enqueueIDSize is what the annotation AnnotationEnqueueID, which Enqueue
// adds to every Job after Build, takes of the annotations' size limit.
const enqueueIDSize = len(AnnotationEnqueueID) + 32

// annotationsSizeProblem adds a problem to p when annotations, kubequeue's
// own with the user's and the enqueue ID that Enqueue adds, exceed the
// API server's limit on their total size. Their keys and values were
// checked before.
func annotationsSizeProblem(p *problems, annotations map[string]string) {
	size := enqueueIDSize
	for k, v := range annotations {
		if k != AnnotationEnqueueID { // set by a mutator: Enqueue replaces it
			size += len(k) + len(v)
		}
	}
	if size > apivalidation.TotalAnnotationSizeLimitB {
		p.add("WithAnnotations", fmt.Sprintf("%d bytes", size), fmt.Sprintf("with kubequeue's own (%s, and %s or %s where they apply), the Job's annotations must total at most %d bytes, keys and values, for the API server to accept it",
			AnnotationEnqueueID, AnnotationUniqueKey, annotationResume, apivalidation.TotalAnnotationSizeLimitB))
	}
}

// maxFailureRules is the most rules the API server accepts in a pod
// failure policy.
const maxFailureRules = 20

// validateMutated checks that what kubequeue relies on in a built Job
// survived its mutators: its name and namespace, kubequeue's labels on the
// Job and its pod template (by which WaitAll and List select), the worker
// container and its variables, the payload's Secret volume and mount, and
// the containers the pod failure policy names.
func validateMutated(worker string, job *batchv1.Job, name, namespace string, inSecret bool, items int32) error {
	p := &problems{worker: worker, sentinel: ErrInvalidOption}
	if job.Name != name || job.Namespace != namespace {
		p.add("WithJobMutator", job.Namespace+"/"+job.Name, "must not change the name or namespace ("+namespace+"/"+name+"): use WithJobName or WithNamespace")
	}
	for _, l := range []struct {
		what   string
		labels map[string]string
	}{{"labels", job.Labels}, {"pod template labels", job.Spec.Template.Labels}} {
		for _, k := range []string{LabelManagedBy, LabelWorker} {
			if want := kubequeueLabels(nil, worker)[k]; l.labels[k] != want {
				p.add("WithJobMutator "+l.what, k+"="+l.labels[k], "must stay "+k+"="+want+": WaitAll and List select kubequeue's Jobs and pods by it")
			}
		}
	}
	spec := &job.Spec.Template.Spec
	i := wire.WorkerContainer(spec)
	if i < 0 {
		p.add("WithJobMutator", wire.EnvWorker, "must not remove the worker container or its "+wire.EnvWorker+" variable")
	} else if inSecret {
		c := &spec.Containers[i]
		vol := wire.SecretVolumeOf(spec)
		fileVar := wire.EnvPayloadFile
		if items > 0 {
			fileVar = wire.EnvBatchFile
		}
		ok := vol != nil && vol.SecretName == name &&
			slices.ContainsFunc(c.Env, func(e corev1.EnvVar) bool { return e.Name == fileVar }) &&
			slices.ContainsFunc(c.VolumeMounts, func(m corev1.VolumeMount) bool { return m.Name == wire.SecretVolume && m.MountPath == wire.SecretDir })
		if !ok {
			p.add("WithJobMutator", wire.SecretVolume, "must not remove or change the payload's Secret volume, mount or "+fileVar+" variable")
		}
	}
	indexed := job.Spec.CompletionMode != nil && *job.Spec.CompletionMode == batchv1.IndexedCompletion
	switch {
	case items > 0 && (!indexed || job.Spec.Completions == nil || *job.Spec.Completions != items):
		p.add("WithJobMutator completions", fmt.Sprint(job.Spec.Completions), fmt.Sprintf("must stay %d, Indexed: the batch's items", items))
	case items == 0 && indexed:
		p.add("WithJobMutator completionMode", string(batchv1.IndexedCompletion), "a single Job must stay NonIndexed: enqueue a batch with EnqueueBatch")
	}
	if pfp := job.Spec.PodFailurePolicy; pfp != nil {
		for _, r := range pfp.Rules {
			if r.OnExitCodes == nil || r.OnExitCodes.ContainerName == nil {
				continue
			}
			if cn := *r.OnExitCodes.ContainerName; !slices.ContainsFunc(spec.Containers, func(c corev1.Container) bool { return c.Name == cn }) {
				p.add("pod failure policy containerName", cn, "names no container of the pod (did WithJobMutator rename it?)")
			}
		}
	}
	return p.err()
}

// maxUniqueKeyLen is the longest key WithUniqueKey takes.
const maxUniqueKeyLen = 1024

// truncate shortens a long value for an error message.
func truncate(s string) string {
	if len(s) <= 64 {
		return s
	}
	return s[:61] + "..."
}

// hasGate reports whether g sets a gate.
func hasGate(g *gateConfig) bool {
	return g.runAt != nil || g.delay != nil || g.key != nil || len(g.after) > 0
}
