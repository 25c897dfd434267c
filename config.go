package kubequeue

import (
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// cancelConfig holds what options passed to Cancel set.
type cancelConfig struct {
	propagation metav1.DeletionPropagation
}

// quantityPair is a request and a limit as written by the user.
type quantityPair struct{ request, limit string }

// workerConfig holds what worker options set. Fields after job are derived
// by normalise.
type workerConfig struct {
	image            string
	containerName    string
	command          []string
	args             []string
	env              []corev1.EnvVar
	envFrom          []corev1.EnvFromSource
	cpu, memory      quantityPair
	restartPolicy    corev1.RestartPolicy
	serviceAccount   string
	imagePullSecrets []corev1.LocalObjectReference
	nodeSelector     map[string]string
	tolerations      []corev1.Toleration
	affinity         *corev1.Affinity
	priorityClass    string
	volumes          []corev1.Volume
	volumeMounts     []corev1.VolumeMount
	automountToken   *bool
	podSecurity      *corev1.PodSecurityContext
	podSecuritySet   bool
	security         *corev1.SecurityContext
	securitySet      bool
	strictPayload    bool
	job              jobConfig

	resources  corev1.ResourceRequirements
	ownCommand bool              // no perform: the container runs a program of its own
	jobLabels  map[string]string // job.labels plus kubequeue's
	podLabels  map[string]string // job.podLabels plus kubequeue's
}

// jobConfig holds what options accepted by both NewWorker and Enqueue set.
type jobConfig struct {
	namespace      *string
	labels         map[string]string
	annotations    map[string]string
	podLabels      map[string]string
	podAnnotations map[string]string
	backoffLimit   *int32
	activeDeadline *time.Duration
	ttl            *time.Duration
	failureRules   []batchv1.PodFailurePolicyRule
	sensitive      *bool
	queueName      *string
	priority       *string // WorkloadPriorityClass
	mutators       []func(*batchv1.Job)
	gate           gateConfig

	// Of batches only (see Queue.EnqueueBatch).
	parallelism      *int32
	maxFailedIndexes *int32
}

// callConfig holds what options passed to Build, Enqueue or EnqueueMany
// set.
type callConfig struct {
	job            jobConfig
	name           string
	uniqueKey      string
	uniqueKeySet   bool
	concurrency    int
	concurrencySet bool
	template       bool // Schedule's: the template of a CronJob's Jobs

	successPolicy []batchv1.SuccessPolicyRule // of a batch only

	options int  // how many options were given
	many    bool // the call is EnqueueMany's
}

// kubequeueLabels returns labels plus kubequeue's own.
func kubequeueLabels(labels map[string]string, worker string) map[string]string {
	return merged(labels, map[string]string{LabelManagedBy: managedBy, LabelWorker: worker})
}

// normalise fills in the defaults of c (container name, restart policy)
// and its derived fields, for a worker named name that has a perform
// function or not. Invalid quantities are left out of the resources:
// validateWorker reports them.
func (c *workerConfig) normalise(name string, hasPerform bool) {
	c.ownCommand = !hasPerform
	if c.containerName == "" {
		c.containerName = DefaultContainerName
	}
	if c.restartPolicy == "" {
		c.restartPolicy = corev1.RestartPolicyNever
	}
	c.resources = corev1.ResourceRequirements{
		Requests: quantities(c.cpu.request, c.memory.request),
		Limits:   quantities(c.cpu.limit, c.memory.limit),
	}
	c.jobLabels = kubequeueLabels(c.job.labels, name)
	c.podLabels = kubequeueLabels(c.job.podLabels, name)
}

// quantities returns the valid ones of a CPU and a memory quantity as a
// resource list, or nil if there is none.
func quantities(cpu, memory string) corev1.ResourceList {
	var list corev1.ResourceList
	for name, s := range map[corev1.ResourceName]string{corev1.ResourceCPU: cpu, corev1.ResourceMemory: memory} {
		if q, reason := parseQuantity(name, s); s != "" && reason == "" {
			if list == nil {
				list = corev1.ResourceList{}
			}
			list[name] = q
		}
	}
	return list
}
