package kubequeue

import (
	"maps"
	"math"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/kubequeue/kubequeue/internal/wire"
)

// Defaults of the Jobs kubequeue builds.
const (
	// DefaultBackoffLimit is the Job's spec.backoffLimit unless
	// WithBackoffLimit sets another: a Job runs at most 4 times.
	DefaultBackoffLimit int32 = 3
	// DefaultTTLAfterFinished is how long a finished Job and its pods are
	// kept (spec.ttlSecondsAfterFinished) unless WithTTLAfterFinished sets
	// another: long enough to read a result or logs the next day, short
	// enough that finished Jobs do not pile up.
	DefaultTTLAfterFinished = 24 * time.Hour
	// DefaultContainerName is the name of the Job's container unless
	// WithContainerName sets another.
	DefaultContainerName = "worker"
	// MaxEnvPayloadSize is the largest encoded payload that travels in the
	// Job's environment variable, counted as written there: the JSON
	// encoding with each '$' as \u0024, six bytes, so that the kubelet's
	// $(VAR) expansion cannot change it. Linux refuses to start a process
	// with a single variable above 128 KiB; 64 KiB leaves room for the
	// rest and keeps Job objects small. A larger payload travels in a
	// Secret, as a sensitive one does (see [WithSensitivePayload]).
	MaxEnvPayloadSize = 64 << 10
	// MaxPayloadSize is the largest encoded payload: 1 MiB, the most a
	// Secret holds, counted as the Secret stores it (the JSON encoding,
	// '$' as it is).
	MaxPayloadSize = wire.MaxPayloadSize
)

// seconds converts d to whole seconds, rounding up.
func seconds(d time.Duration) int64 {
	s := d / time.Second
	if d%time.Second != 0 {
		s++
	}
	return int64(min(s, math.MaxInt64))
}

// newJob builds the Job for a worker, a call and an encoded payload. It is
// pure: the name and namespace are chosen by the caller. w and call must
// have been validated. items is 0 for a single Job, and else the number of
// items of a batch, whose data are the items joined by wire.JoinItems.
func newJob(worker string, w *workerConfig, call *callConfig, namespace, name, data string, inSecret bool, items int32) *batchv1.Job {
	backoffLimit := DefaultBackoffLimit
	ttl := DefaultTTLAfterFinished
	var deadline *int64
	for _, c := range []*jobConfig{&w.job, &call.job} {
		if c.backoffLimit != nil {
			backoffLimit = *c.backoffLimit
		}
		if c.ttl != nil {
			ttl = *c.ttl
		}
		if c.activeDeadline != nil {
			s := seconds(*c.activeDeadline)
			deadline = &s
		}
	}
	ttlSeconds := int32(min(seconds(ttl), math.MaxInt32))

	downward := wire.DownwardEnv(items > 0)
	env := make([]corev1.EnvVar, 0, len(w.env)+2+len(downward))
	env = append(env, corev1.EnvVar{Name: wire.EnvWorker, Value: worker})
	dataVar, fileVar, key := wire.EnvPayload, wire.EnvPayloadFile, wire.SecretKey
	if items > 0 {
		dataVar, fileVar, key = wire.EnvBatch, wire.EnvBatchFile, wire.BatchKey
	}
	if inSecret {
		env = append(env, corev1.EnvVar{Name: fileVar, Value: wire.SecretDir + "/" + key})
	} else {
		env = append(env, corev1.EnvVar{Name: dataVar, Value: data})
	}
	for _, e := range w.env {
		env = append(env, *e.DeepCopy())
	}
	env = append(env, downward...)

	job := &batchv1.Job{
		TypeMeta: metav1.TypeMeta{APIVersion: "batch/v1", Kind: "Job"},
		ObjectMeta: metav1.ObjectMeta{
			Name:        name,
			Namespace:   namespace,
			Labels:      merged(w.jobLabels, call.job.labels),
			Annotations: merged(w.job.annotations, call.job.annotations),
		},
		Spec: batchv1.JobSpec{
			BackoffLimit:            &backoffLimit,
			ActiveDeadlineSeconds:   deadline,
			TTLSecondsAfterFinished: &ttlSeconds,
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{
					Labels:      merged(w.podLabels, call.job.podLabels),
					Annotations: merged(w.job.podAnnotations, call.job.podAnnotations),
				},
				Spec: corev1.PodSpec{
					RestartPolicy:                w.restartPolicy,
					ServiceAccountName:           w.serviceAccount,
					AutomountServiceAccountToken: automountToken(w),
					SecurityContext:              podSecurityContext(w),
					ImagePullSecrets:             cloneSlice(w.imagePullSecrets),
					NodeSelector:                 maps.Clone(w.nodeSelector),
					Tolerations:                  deepCopySlice(w.tolerations),
					Affinity:                     w.affinity.DeepCopy(),
					PriorityClassName:            w.priorityClass,
					Volumes:                      deepCopySlice(w.volumes),
					Containers: []corev1.Container{{
						Name:                     w.containerName,
						Image:                    w.image,
						Command:                  cloneSlice(w.command),
						Args:                     cloneSlice(w.args),
						Env:                      env,
						EnvFrom:                  deepCopySlice(w.envFrom),
						VolumeMounts:             deepCopySlice(w.volumeMounts),
						TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
						SecurityContext:          containerSecurityContext(w),
					}},
				},
			},
		},
	}
	w.resources.DeepCopyInto(&job.Spec.Template.Spec.Containers[0].Resources)
	job.Spec.PodFailurePolicy = podFailurePolicy(w, call, items > 0)
	if items > 0 {
		indexed(&job.Spec, w, call, items)
	}
	if inSecret {
		spec := &job.Spec.Template.Spec
		spec.Volumes = append(spec.Volumes, corev1.Volume{Name: wire.SecretVolume, VolumeSource: corev1.VolumeSource{
			Secret: &corev1.SecretVolumeSource{SecretName: name, Items: []corev1.KeyToPath{{Key: key, Path: key}}},
		}})
		c := &spec.Containers[0]
		c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: wire.SecretVolume, MountPath: wire.SecretDir, ReadOnly: true})
	}
	if queue, priority := kueueLabels(w, call); queue != "" {
		// Kueue's webhook suspends it anyway; Kueue resumes it on admission.
		job.Labels[LabelQueueName] = queue
		if priority != "" {
			job.Labels[LabelWorkloadPriorityClass] = priority
		}
		job.Spec.Suspend = ptr.To(true)
	}
	for _, c := range []*jobConfig{&w.job, &call.job} {
		for _, mutate := range c.mutators {
			mutate(job)
		}
	}
	return job
}

// kueueLabels returns the queue name and workload priority class of a Job:
// the call's, else the worker's.
func kueueLabels(w *workerConfig, call *callConfig) (queue, priority string) {
	for _, c := range []*jobConfig{&w.job, &call.job} {
		if c.queueName != nil {
			queue = *c.queueName
		}
		if c.priority != nil {
			priority = *c.priority
		}
	}
	return queue, priority
}

// automountToken is the pod's automountServiceAccountToken: the worker's
// choice, or false unless the worker runs as a service account of its own.
func automountToken(w *workerConfig) *bool {
	if w.automountToken != nil {
		return ptr.To(*w.automountToken)
	}
	if w.serviceAccount != "" {
		return nil // the service account decides; true unless it says otherwise
	}
	return ptr.To(false)
}

// podSecurityContext is the worker's pod security context, or kubequeue's
// default, which with the container's passes Pod Security "restricted".
func podSecurityContext(w *workerConfig) *corev1.PodSecurityContext {
	if w.podSecuritySet {
		return w.podSecurity.DeepCopy()
	}
	return &corev1.PodSecurityContext{
		RunAsNonRoot:   ptr.To(true),
		SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
	}
}

// containerSecurityContext is the worker's container security context, or
// kubequeue's default.
func containerSecurityContext(w *workerConfig) *corev1.SecurityContext {
	if w.securitySet {
		return w.security.DeepCopy()
	}
	return &corev1.SecurityContext{
		AllowPrivilegeEscalation: ptr.To(false),
		Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
	}
}

// podFailurePolicy is the Job's pod failure policy: the worker's and the
// call's rules, then kubequeue's: ExitPermanent from the worker container
// fails the Job, or in a batch only the item's index (unless the container
// runs a program of its own, for which 42 may mean something else), and a
// disruption is not counted. A pod that restarts on failure can have none.
func podFailurePolicy(w *workerConfig, call *callConfig, batch bool) *batchv1.PodFailurePolicy {
	if w.restartPolicy != corev1.RestartPolicyNever {
		return nil
	}
	rules := make([]batchv1.PodFailurePolicyRule, 0, len(w.job.failureRules)+len(call.job.failureRules)+2)
	rules = append(rules, deepCopySlice(w.job.failureRules)...)
	rules = append(rules, deepCopySlice(call.job.failureRules)...)
	if !w.ownCommand {
		action := batchv1.PodFailurePolicyActionFailJob
		if batch {
			action = batchv1.PodFailurePolicyActionFailIndex
		}
		rules = append(rules, batchv1.PodFailurePolicyRule{
			Action: action,
			OnExitCodes: &batchv1.PodFailurePolicyOnExitCodesRequirement{
				ContainerName: ptr.To(w.containerName),
				Operator:      batchv1.PodFailurePolicyOnExitCodesOpIn,
				Values:        []int32{ExitPermanent},
			},
		})
	}
	rules = append(rules, batchv1.PodFailurePolicyRule{
		Action: batchv1.PodFailurePolicyActionIgnore,
		OnPodConditions: []batchv1.PodFailurePolicyOnPodConditionsPattern{{
			Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue,
		}},
	})
	return &batchv1.PodFailurePolicy{Rules: rules}
}

// indexed makes spec the spec of a batch of items: an Indexed Job whose
// pod of index i performs item i, as many at a time as the parallelism
// (by default all), each item retried up to the backoff limit without
// using up the others' (backoffLimitPerIndex), with no limit on the failed
// pods of the whole Job (the API server's default with
// backoffLimitPerIndex, made explicit).
func indexed(spec *batchv1.JobSpec, w *workerConfig, call *callConfig, items int32) {
	parallelism := items
	var maxFailed *int32
	for _, c := range []*jobConfig{&w.job, &call.job} {
		if c.parallelism != nil {
			parallelism = min(*c.parallelism, items)
		}
		if c.maxFailedIndexes != nil {
			// More than the items could never be exceeded: the same.
			maxFailed = ptr.To(min(*c.maxFailedIndexes, items))
		}
	}
	spec.CompletionMode = ptr.To(batchv1.IndexedCompletion)
	spec.Completions = ptr.To(items)
	spec.Parallelism = ptr.To(parallelism)
	spec.BackoffLimitPerIndex = spec.BackoffLimit
	spec.BackoffLimit = ptr.To[int32](math.MaxInt32)
	spec.MaxFailedIndexes = maxFailed
	if len(call.successPolicy) > 0 {
		spec.SuccessPolicy = &batchv1.SuccessPolicy{Rules: deepCopySlice(call.successPolicy)}
	}
}

// merged returns a new map with the entries of each of ms in turn, a later
// one's replacing an earlier one's of the same key, or nil if all are
// empty.
func merged(ms ...map[string]string) map[string]string {
	var out map[string]string
	for _, m := range ms {
		if len(m) > 0 && out == nil {
			out = make(map[string]string, len(m))
		}
		maps.Copy(out, m)
	}
	return out
}

func cloneSlice[S ~[]E, E any](s S) S {
	if len(s) == 0 {
		return nil
	}
	return append(S(nil), s...)
}

// deepCopySlice copies s and each element with its DeepCopy method.
func deepCopySlice[E any, P interface {
	*E
	DeepCopy() *E
}](s []E) []E {
	if len(s) == 0 {
		return nil
	}
	out := make([]E, len(s))
	for i := range s {
		out[i] = *P(&s[i]).DeepCopy()
	}
	return out
}
