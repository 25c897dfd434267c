package kubequeue

import (
	"log/slog"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// WorkerOption configures a worker in [NewWorker]. Options are applied in
// order; each constructor says whether repeating it adds or replaces.
type WorkerOption interface {
	applyWorker(*workerConfig)
}

// EnqueueOption configures one call of [Queue.Enqueue] or [Queue.Build]. It
// overrides the worker's setting of the same option.
type EnqueueOption interface {
	applyEnqueue(*callConfig)
}

// JobOption is an option that can be set on a worker, as a default for all
// its Jobs, or passed to Enqueue for one Job, where it overrides the worker's,
// or to [Queue.Schedule] for every Job of a schedule.
type JobOption interface {
	WorkerOption
	EnqueueOption
	ScheduleOption
}

// QueueOption configures a [Queue] in [New].
type QueueOption interface {
	applyQueue(*Queue)
}

// CancelOption configures [Queue.Cancel].
type CancelOption interface {
	applyCancel(*cancelConfig)
}

type cancelOption func(*cancelConfig)

func (f cancelOption) applyCancel(c *cancelConfig) { f(c) }

type workerOption func(*workerConfig)

func (f workerOption) applyWorker(c *workerConfig) { f(c) }

type jobOption func(*jobConfig)

func (f jobOption) applyWorker(c *workerConfig) { f(&c.job) }
func (f jobOption) applyEnqueue(c *callConfig)  { f(&c.job) }

type enqueueOption func(*callConfig)

func (f enqueueOption) applyEnqueue(c *callConfig) { f(c) }

type queueOption func(*Queue)

func (f queueOption) applyQueue(q *Queue) { f(q) }

// WithDefaultNamespace sets the namespace of Jobs whose worker and call set
// none. Default: [DefaultNamespace]. Repeating it replaces.
func WithDefaultNamespace(namespace string) QueueOption {
	return queueOption(func(q *Queue) { q.namespace = namespace })
}

// WithFieldManager sets the field manager recorded for created Jobs.
// Default: [DefaultFieldManager]. Repeating it replaces.
func WithFieldManager(name string) QueueOption {
	return queueOption(func(q *Queue) { q.fieldManager = name })
}

// WithImage sets the container image. Required. It must be a valid image
// reference such as "registry.example.com/team/app:v1.2.3". For a worker
// whose code is in the service binary, it is the service's own image.
// Repeating it replaces.
func WithImage(image string) WorkerOption {
	return workerOption(func(c *workerConfig) { c.image = image })
}

// WithContainerName sets the name of the Job's container. Default:
// [DefaultContainerName]. Repeating it replaces.
func WithContainerName(name string) WorkerOption {
	return workerOption(func(c *workerConfig) { c.containerName = name })
}

// WithCommand sets the container's command (its entrypoint). Default: the
// image's entrypoint, which for a service image is the service binary whose
// main calls [Main]. A worker with a command and no perform function runs a
// program of its own; the payload is still in its environment. Repeating it
// replaces.
func WithCommand(command ...string) WorkerOption {
	return workerOption(func(c *workerConfig) { c.command = append([]string(nil), command...) })
}

// WithArgs sets the container's arguments. Default: the image's. Repeating it
// replaces.
func WithArgs(args ...string) WorkerOption {
	return workerOption(func(c *workerConfig) { c.args = append([]string(nil), args...) })
}

// WithEnv adds the environment variable name=value to the container. Variables
// keep the order in which they were added. Names that start with KUBEQUEUE_
// are reserved. Repeating it adds.
func WithEnv(name, value string) WorkerOption {
	return workerOption(func(c *workerConfig) {
		c.env = append(c.env, corev1.EnvVar{Name: name, Value: value})
	})
}

// WithEnvVars adds environment variables, including ones whose value comes
// from a ConfigMap, a Secret or a field (valueFrom, with exactly one
// source). Variables keep the order in which they were added. Names that
// start with KUBEQUEUE_ are reserved. Repeating it adds.
func WithEnvVars(vars ...corev1.EnvVar) WorkerOption {
	return workerOption(func(c *workerConfig) {
		for _, v := range vars {
			c.env = append(c.env, *v.DeepCopy())
		}
	})
}

// WithEnvFromConfigMap adds every key of the named ConfigMap to the
// container's environment (envFrom). Repeating it adds.
func WithEnvFromConfigMap(name string) WorkerOption {
	return workerOption(func(c *workerConfig) {
		c.envFrom = append(c.envFrom, corev1.EnvFromSource{
			ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: name}},
		})
	})
}

// WithEnvFromSecret adds every key of the named Secret to the container's
// environment (envFrom). Repeating it adds.
func WithEnvFromSecret(name string) WorkerOption {
	return workerOption(func(c *workerConfig) {
		c.envFrom = append(c.envFrom, corev1.EnvFromSource{
			SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: name}},
		})
	})
}

// WithCPU sets the container's CPU request and limit as Kubernetes
// quantities ("250m", "0.5", "2"); an empty string leaves that one unset.
// The request must not exceed the limit. Default: neither. Repeating it
// replaces.
func WithCPU(request, limit string) WorkerOption {
	return workerOption(func(c *workerConfig) { c.cpu = quantityPair{request, limit} })
}

// WithMemory sets the container's memory request and limit as Kubernetes
// quantities in bytes ("64Mi", "1Gi", "500M"); an empty string leaves that
// one unset. The request must not exceed the limit. A fraction of a byte,
// such as "100m" (0.1 bytes, a common slip for "100Mi"), is an error.
// Default: neither. Repeating it replaces.
func WithMemory(request, limit string) WorkerOption {
	return workerOption(func(c *workerConfig) { c.memory = quantityPair{request, limit} })
}

// WithRestartPolicy sets the pod's restart policy: [corev1.RestartPolicyNever]
// (the default: each retry is a new pod, counted against the backoff limit)
// or [corev1.RestartPolicyOnFailure] (the container restarts in the same
// pod). A pod failure policy needs Never, so with OnFailure the Job has
// none: a [Permanent] error is retried like any other, and disruptions
// count against the backoff limit. Repeating it replaces.
func WithRestartPolicy(policy corev1.RestartPolicy) WorkerOption {
	return workerOption(func(c *workerConfig) { c.restartPolicy = policy })
}

// WithServiceAccount sets the pod's service account, and leaves whether its
// API token is mounted to the service account's automountServiceAccountToken
// (true unless it says otherwise), or to
// [WithAutomountServiceAccountToken]. Default: the namespace's default
// service account, whose token is not mounted. Repeating it replaces.
func WithServiceAccount(name string) WorkerOption {
	return workerOption(func(c *workerConfig) { c.serviceAccount = name })
}

// WithAutomountServiceAccountToken sets whether the service account's API
// token is mounted into the container (automountServiceAccountToken).
// Default: only with [WithServiceAccount]; a worker that does not call the
// Kubernetes API needs no token. Repeating it replaces.
func WithAutomountServiceAccountToken(mount bool) WorkerOption {
	return workerOption(func(c *workerConfig) { c.automountToken = &mount })
}

// WithPodSecurityContext replaces the pod's security context (it is not
// merged with kubequeue's). Default: runAsNonRoot true and seccompProfile
// RuntimeDefault, which with the container's default (see
// [WithSecurityContext]) passes the Pod Security Standard "restricted". nil
// removes it. With runAsNonRoot, the image must run as a numeric user other
// than 0 (USER 65534 in its Dockerfile, not USER app), or RunAsUser must be
// set here; else the kubelet refuses to start the container and the pod
// stays pending. Repeating it replaces.
func WithPodSecurityContext(sc *corev1.PodSecurityContext) WorkerOption {
	return workerOption(func(c *workerConfig) { c.podSecurity, c.podSecuritySet = sc.DeepCopy(), true })
}

// WithSecurityContext replaces the container's security context (it is not
// merged with kubequeue's: set AllowPrivilegeEscalation false and drop ALL
// capabilities again to stay "restricted"). Default:
// allowPrivilegeEscalation false and all capabilities dropped. nil removes
// it. Repeating it replaces.
func WithSecurityContext(sc *corev1.SecurityContext) WorkerOption {
	return workerOption(func(c *workerConfig) { c.security, c.securitySet = sc.DeepCopy(), true })
}

// WithImagePullSecrets adds Secrets used to pull the image. Repeating it adds.
func WithImagePullSecrets(names ...string) WorkerOption {
	return workerOption(func(c *workerConfig) {
		for _, n := range names {
			c.imagePullSecrets = append(c.imagePullSecrets, corev1.LocalObjectReference{Name: n})
		}
	})
}

// WithNodeSelector adds node labels the pod's node must have. Repeating it
// adds keys; a repeated key takes the last value.
func WithNodeSelector(selector map[string]string) WorkerOption {
	return workerOption(func(c *workerConfig) { c.nodeSelector = merged(c.nodeSelector, selector) })
}

// WithTolerations adds tolerations to the pod. kubequeue checks keys,
// values and effects as the API server does; operators other than Equal and
// Exists are left to the server. Repeating it adds.
func WithTolerations(tolerations ...corev1.Toleration) WorkerOption {
	return workerOption(func(c *workerConfig) {
		for _, t := range tolerations {
			c.tolerations = append(c.tolerations, *t.DeepCopy())
		}
	})
}

// WithAffinity sets the pod's affinity. Default: none. kubequeue does not
// check it: a mistake is an API error from Enqueue that
// apierrors.IsInvalid recognizes. Repeating it replaces.
func WithAffinity(affinity *corev1.Affinity) WorkerOption {
	return workerOption(func(c *workerConfig) { c.affinity = affinity.DeepCopy() })
}

// WithPriorityClass sets the pod's priority class. Default: none (the
// cluster's default priority). Repeating it replaces.
func WithPriorityClass(name string) WorkerOption {
	return workerOption(func(c *workerConfig) { c.priorityClass = name })
}

// WithVolumes adds volumes to the pod. Mount them with [WithVolumeMounts].
// kubequeue checks names and that each volume has exactly one source; the
// source itself is checked by the API server. Repeating it adds.
func WithVolumes(volumes ...corev1.Volume) WorkerOption {
	return workerOption(func(c *workerConfig) {
		for _, v := range volumes {
			c.volumes = append(c.volumes, *v.DeepCopy())
		}
	})
}

// WithVolumeMounts adds volume mounts to the container. Each must name a
// volume added with [WithVolumes], at an absolute mount path used once, with
// a subPath (if any) that stays inside the volume. Repeating it adds.
func WithVolumeMounts(mounts ...corev1.VolumeMount) WorkerOption {
	return workerOption(func(c *workerConfig) {
		for _, m := range mounts {
			c.volumeMounts = append(c.volumeMounts, *m.DeepCopy())
		}
	})
}

// WithNamespace sets the namespace of the Job. Default: the queue's (see
// [WithDefaultNamespace]). On Enqueue it overrides the worker's. Repeating
// it replaces.
func WithNamespace(namespace string) JobOption {
	return jobOption(func(c *jobConfig) { c.namespace = &namespace })
}

// WithLabels adds labels to the Job. They are not copied to its pods; see
// [WithPodLabels]. Repeating it adds keys; on Enqueue, a key the worker also
// sets takes the call's value. The labels [LabelManagedBy] and [LabelWorker]
// cannot be set, nor can Kueue's [LabelQueueName] and
// [LabelWorkloadPriorityClass]: [WithQueueName] and
// [WithWorkloadPriorityClass] set them, and leave resuming the Job to Kueue.
func WithLabels(labels map[string]string) JobOption {
	return jobOption(func(c *jobConfig) { c.labels = merged(c.labels, labels) })
}

// WithAnnotations adds annotations to the Job. Repeating it adds keys; on
// Enqueue, a key the worker also sets takes the call's value.
func WithAnnotations(annotations map[string]string) JobOption {
	return jobOption(func(c *jobConfig) { c.annotations = merged(c.annotations, annotations) })
}

// WithPodLabels adds labels to the Job's pods. Repeating it adds keys; on
// Enqueue, a key the worker also sets takes the call's value. The labels
// [LabelManagedBy] and [LabelWorker] cannot be set, nor those the Job
// controller sets (job-name, controller-uid and their batch.kubernetes.io/
// forms), nor Kueue's [LabelQueueName] and [LabelWorkloadPriorityClass].
func WithPodLabels(labels map[string]string) JobOption {
	return jobOption(func(c *jobConfig) { c.podLabels = merged(c.podLabels, labels) })
}

// WithPodAnnotations adds annotations to the Job's pods. Repeating it adds
// keys; on Enqueue, a key the worker also sets takes the call's value.
func WithPodAnnotations(annotations map[string]string) JobOption {
	return jobOption(func(c *jobConfig) { c.podAnnotations = merged(c.podAnnotations, annotations) })
}

// WithBackoffLimit sets how many failed pods the Job tolerates before it
// fails (spec.backoffLimit): a Job runs at most limit+1 times. In a batch
// (see [Queue.EnqueueBatch]) it is each item's limit instead
// (spec.backoffLimitPerIndex): an item runs at most limit+1 times, and
// fails alone, without using up the other items' retries. Default:
// [DefaultBackoffLimit]. Must not be negative. Repeating it replaces.
func WithBackoffLimit(limit int32) JobOption {
	return jobOption(func(c *jobConfig) { c.backoffLimit = &limit })
}

// WithActiveDeadline bounds the Job's whole run, retries included
// (spec.activeDeadlineSeconds, rounded up to whole seconds); past it the Job
// fails with reason DeadlineExceeded. Default: no deadline. Must be
// positive. Repeating it replaces.
func WithActiveDeadline(d time.Duration) JobOption {
	return jobOption(func(c *jobConfig) { c.activeDeadline = &d })
}

// WithTTLAfterFinished sets how long a finished Job and its pods are kept
// before Kubernetes deletes them (spec.ttlSecondsAfterFinished, rounded up to
// whole seconds). Zero deletes them as soon as they finish. Default:
// [DefaultTTLAfterFinished]. Must not be negative. Repeating it replaces.
func WithTTLAfterFinished(d time.Duration) JobOption {
	return jobOption(func(c *jobConfig) { c.ttl = &d })
}

// WithPodFailurePolicyRules adds rules to the Job's podFailurePolicy,
// before kubequeue's own: a pod whose worker container exits with
// [ExitPermanent] fails the Job at once (FailJob; in a batch, FailIndex
// fails only its item; not for a worker whose [WithCommand] runs a
// program of its own), and a pod disrupted by
// Kubernetes (condition DisruptionTarget: a node drain, a preemption, an
// eviction by the kubelet under node pressure) is retried without counting
// against the backoff limit (Ignore); a deadline ([WithActiveDeadline])
// bounds such retries. Any other failure counts. With a pod failure policy
// the Job controller replaces a failed pod only once it has ended
// (podReplacementPolicy Failed). At most 20 rules in all, kubequeue's
// included; the API server checks the rest. A pod failure policy needs
// restartPolicy Never, so with [WithRestartPolicy](OnFailure) the Job has
// none and adding rules is an error. The action FailIndex is for batches:
// a worker may have such rules, but then Enqueue refuses to create a
// single Job of it. Repeating it adds.
func WithPodFailurePolicyRules(rules ...batchv1.PodFailurePolicyRule) JobOption {
	return jobOption(func(c *jobConfig) {
		for _, r := range rules {
			c.failureRules = append(c.failureRules, *r.DeepCopy())
		}
	})
}

// WithSensitivePayload makes the payload travel in a Secret instead of the
// Job's environment, so that it appears in no Job or pod spec, and so in no
// `kubectl get job -o yaml`. The Secret, "<job>-<8 hex digits>", is owned by
// the Job, so that the garbage collector deletes it with the Job, and is
// mounted read-only into the container. A payload above [MaxEnvPayloadSize]
// travels the same way without it. Enqueue then needs the right to create
// Secrets and patch Jobs (see deploy/rbac.yaml). Repeating it changes
// nothing.
func WithSensitivePayload() JobOption {
	return jobOption(func(c *jobConfig) { c.sensitive = ptr.To(true) })
}

// WithQueueName puts the Job in the Kueue (sigs.k8s.io/kueue) LocalQueue
// named queue of its namespace, with the label [LabelQueueName]. Kueue
// then decides when the Job runs: the Job is created suspended and Kueue
// resumes it once its ClusterQueue admits it (quota, priority, fair
// sharing), and may suspend it again to preempt it. kubequeue never
// resumes such a Job itself: a payload in a Secret is stored right after
// the Job is created, and a pod that Kueue lets start before then waits
// for it, as the kubelet does for any missing Secret volume.
// [Queue.Status] reports a Job waiting for admission as [StateQueued] and
// one preempted as [StatePreempted]; [Queue.Wait] waits through both. The
// queue must be a DNS-1123 label (at most 63 characters); a LocalQueue
// that does not exist leaves the Job queued with reason Inadmissible.
// Kueue must run and manage batch/v1 Jobs (its default), or the Job stays
// suspended, or is refused if Kueue's webhook is registered but down.
// Default: none. Repeating it replaces; the call's replaces the worker's.
func WithQueueName(queue string) JobOption {
	return jobOption(func(c *jobConfig) { c.queueName = &queue })
}

// WithWorkloadPriorityClass sets the Kueue WorkloadPriorityClass of a Job
// that [WithQueueName] queues, with the label [LabelWorkloadPriorityClass]:
// Kueue admits higher priorities first and, where the ClusterQueue's
// preemption policy allows, preempts lower ones. It is not the pods'
// priority class (see [WithPriorityClass]). The name must be a DNS-1123
// subdomain of at most 63 characters; a Job without a queue name is an
// error. Default: none (Kueue's default priority). Repeating it replaces;
// the call's replaces the worker's.
func WithWorkloadPriorityClass(name string) JobOption {
	return jobOption(func(c *jobConfig) { c.priority = &name })
}

// WithStrictPayload makes the runtime refuse a payload that has a field
// the worker's type T does not have, failing the Job with an error
// matching [ErrPayloadDecode] (and so [ExitPermanent]). By default such a
// field is ignored, as encoding/json does, so that an enqueuer deployed
// with a new field can run beside workers that do not know it yet; strict
// decoding instead catches a payload meant for another type, or a field
// renamed on one side only. It applies to the payloads of T's structs
// (json.Decoder.DisallowUnknownFields), not to maps or to types with an
// UnmarshalJSON method of their own. Repeating it changes nothing.
func WithStrictPayload() WorkerOption {
	return workerOption(func(c *workerConfig) { c.strictPayload = true })
}

// WithJobMutator adds a function that changes the built Job before it is
// returned by Build or created by Enqueue: the typed escape hatch for any
// field kubequeue has no option for. Mutators run in order, the worker's
// before the call's, after kubequeue has built and checked the Job. Build
// and Enqueue then check what kubequeue relies on, and refuse with an error
// matching [ErrInvalidOption] a Job whose name or namespace, whose labels
// [LabelManagedBy] and [LabelWorker] (on the Job or its pod template:
// WaitAll and List select by them), whose worker container, or payload
// Secret volume, mount or variable, a mutator removed or changed, whose pod
// failure policy names a container the pod does not have, or whose
// annotations exceed the API server's size limit. The API server checks
// the rest.
// Repeating it adds.
func WithJobMutator(mutate func(*batchv1.Job)) JobOption {
	return jobOption(func(c *jobConfig) { c.mutators = append(c.mutators, mutate) })
}

// WithJobName sets the Job's name instead of generating "<worker>-<suffix>".
// It must be a DNS-1123 label of at most 63 characters. Creating a second Job
// with the same name in the same namespace fails with an AlreadyExists error.
// Repeating it replaces.
func WithJobName(name string) EnqueueOption {
	return enqueueOption(func(c *callConfig) { c.name = name })
}

// WithEnqueueConcurrency sets how many Jobs [Queue.EnqueueMany] creates at
// once: from 1 to [MaxEnqueueConcurrency]. Default:
// [DefaultEnqueueConcurrency]. Past the point where the API server or the
// client's rate limit sets the pace, more only queues requests. Enqueue
// and Build, which create one Job, refuse it. Repeating it replaces.
func WithEnqueueConcurrency(n int) EnqueueOption {
	return enqueueOption(func(c *callConfig) { c.concurrency, c.concurrencySet = n, true })
}

// WithPropagation sets how [Queue.Cancel] deletes the Job's pods:
// metav1.DeletePropagationForeground (the default) deletes them before the
// Job, metav1.DeletePropagationBackground deletes the Job at once and the
// pods after it, and metav1.DeletePropagationOrphan leaves the pods running
// without their Job (and a payload Secret without its owner, so that the
// garbage collector no longer deletes it). Repeating it replaces.
func WithPropagation(policy metav1.DeletionPropagation) CancelOption {
	return cancelOption(func(c *cancelConfig) { c.propagation = policy })
}

// WithUniqueKey makes the Job unique for its worker and key in its
// namespace for as long as the Job exists, until it is cancelled or its
// TTL after finishing ends (see [WithTTLAfterFinished]): an Enqueue of the
// key from any process returns the existing Job's handle with a nil error
// and drops its own payload and options, finishing the Job first if it
// still waits for its payload Secret. So a caller may enqueue a key again
// after any error without running the work twice. A Job of the key that
// is being deleted gives an AlreadyExists error. The key (1 to 1024 bytes,
// such as "order-42") is not stored: the Job's name is derived from it,
// and [AnnotationUniqueKey] holds its SHA-256. Two keys of one worker share
// a name with a chance of about 1 in 400 among a million live Jobs (the
// second gets AlreadyExists). It cannot be combined with [WithJobName].
// Repeating it replaces.
func WithUniqueKey(key string) EnqueueOption {
	return enqueueOption(func(c *callConfig) { c.uniqueKey, c.uniqueKeySet = key, true })
}

// WithLogger sets the logger of the queue's messages; so far there is one,
// a warning from [New] when the client has client-go's default rate limit.
// Default: nil, which logs to [slog.Default] as it is when a message is
// written. Repeating it replaces.
func WithLogger(logger *slog.Logger) QueueOption {
	return queueOption(func(q *Queue) { q.logger = logger })
}

// WithRetries sets how many times Enqueue tries each of its requests that
// fails with an error that says to try again (429 Too Many Requests, a
// 5xx, a timeout, a refused connection) or that leaves it unknown whether
// the API server acted on it (a lost connection, the client's own request
// timeout). Between tries it waits 0.5 to 1.5 times a delay that starts at
// 100 ms and doubles up to 5 s, or what a Retry-After header asks if that is
// longer, within its context. Default: [DefaultRetries] (8); 1 tries once;
// at most 100. Repeating it replaces.
func WithRetries(tries int) QueueOption {
	return queueOption(func(q *Queue) { q.tries = tries })
}
