package kubequeue_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilrand "k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/ptr"

	"github.com/kubequeue/kubequeue"
	"github.com/kubequeue/kubequeue/kubequeuetest"
)

// Identifiers in this file start with "js" so that they cannot collide with
// the helpers of the other _test.go files of package kubequeue_test.

func TestQueue_Build_Options(t *testing.T) {
	t.Parallel()

	secretVar := corev1.EnvVar{
		Name: "DB_PASSWORD",
		ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: "db"},
			Key:                  "password",
			Optional:             ptr.To(false),
		}},
	}
	fieldVar := corev1.EnvVar{
		Name:      "POD_NAME",
		ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}},
	}
	configMapEnv := corev1.EnvFromSource{ConfigMapRef: &corev1.ConfigMapEnvSource{
		LocalObjectReference: corev1.LocalObjectReference{Name: "app-config"},
	}}
	secretEnv := corev1.EnvFromSource{SecretRef: &corev1.SecretEnvSource{
		LocalObjectReference: corev1.LocalObjectReference{Name: "app-secrets"},
	}}
	tolerations := []corev1.Toleration{
		{Key: "dedicated", Operator: corev1.TolerationOpEqual, Value: "batch", Effect: corev1.TaintEffectNoSchedule},
		{Key: "node.kubernetes.io/not-ready", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptr.To(int64(300))},
	}
	affinity := &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{
		RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
			MatchExpressions: []corev1.NodeSelectorRequirement{{
				Key: "kubernetes.io/arch", Operator: corev1.NodeSelectorOpIn, Values: []string{"amd64", "arm64"},
			}},
		}}},
	}}
	volumes := []corev1.Volume{
		{Name: "scratch", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
		{Name: "config", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
			LocalObjectReference: corev1.LocalObjectReference{Name: "app-config"},
		}}},
	}
	mounts := []corev1.VolumeMount{
		{Name: "scratch", MountPath: "/scratch"},
		{Name: "config", MountPath: "/etc/app", ReadOnly: true},
	}
	baseLabels := labelsOf(resizeName, nil)

	tests := []struct {
		name  string
		opts  []kubequeue.WorkerOption
		call  []kubequeue.EnqueueOption
		check func(t *testing.T, job *batchv1.Job)
	}{
		{
			name: "WithImage",
			opts: []kubequeue.WorkerOption{kubequeue.WithImage("registry.example.com:5000/other/app@" + testDigest)},
			check: func(t *testing.T, job *batchv1.Job) {
				require.Equal(t, "registry.example.com:5000/other/app@"+testDigest, containerOf(t, job).Image)
			},
		},
		{
			name: "WithContainerName",
			opts: []kubequeue.WorkerOption{kubequeue.WithContainerName("resizer")},
			check: func(t *testing.T, job *batchv1.Job) {
				require.Equal(t, "resizer", containerOf(t, job).Name)
			},
		},
		{
			name: "WithCommand",
			opts: []kubequeue.WorkerOption{kubequeue.WithCommand("/bin/app", "work")},
			check: func(t *testing.T, job *batchv1.Job) {
				c := containerOf(t, job)
				require.Equal(t, []string{"/bin/app", "work"}, c.Command)
				require.Nil(t, c.Args)
			},
		},
		{
			name: "WithCommandRepeatedReplaces",
			opts: []kubequeue.WorkerOption{kubequeue.WithCommand("/bin/old"), kubequeue.WithCommand("/bin/new", "-x")},
			check: func(t *testing.T, job *batchv1.Job) {
				require.Equal(t, []string{"/bin/new", "-x"}, containerOf(t, job).Command)
			},
		},
		{
			name: "WithArgs",
			opts: []kubequeue.WorkerOption{kubequeue.WithArgs("--verbose", "-n=1", "")},
			check: func(t *testing.T, job *batchv1.Job) {
				c := containerOf(t, job)
				require.Equal(t, []string{"--verbose", "-n=1", ""}, c.Args)
				require.Nil(t, c.Command)
			},
		},
		{
			name: "WithEnv",
			opts: []kubequeue.WorkerOption{
				kubequeue.WithEnv("ZETA", "1"),
				kubequeue.WithEnv("ALPHA", "two words"),
				kubequeue.WithEnv("EMPTY", ""),
			},
			check: func(t *testing.T, job *batchv1.Job) {
				require.Equal(t, []corev1.EnvVar{
					{Name: "ZETA", Value: "1"},
					{Name: "ALPHA", Value: "two words"},
					{Name: "EMPTY", Value: ""},
				}, userEnvOf(t, job))
				require.Equal(t, resizeName, envOf(t, job, "KUBEQUEUE_WORKER"))
				require.JSONEq(t, `{"id":7}`, envOf(t, job, "KUBEQUEUE_PAYLOAD"))
			},
		},
		{
			name: "WithEnvVars",
			opts: []kubequeue.WorkerOption{
				kubequeue.WithEnv("FIRST", "1"),
				kubequeue.WithEnvVars(secretVar, fieldVar),
				kubequeue.WithEnv("LAST", "3"),
			},
			check: func(t *testing.T, job *batchv1.Job) {
				env := userEnvOf(t, job)
				require.Equal(t, []corev1.EnvVar{{Name: "FIRST", Value: "1"}, secretVar, fieldVar, {Name: "LAST", Value: "3"}}, env)
				require.NotSame(t, secretVar.ValueFrom, env[1].ValueFrom)
			},
		},
		{
			name: "WithEnvFromConfigMap",
			opts: []kubequeue.WorkerOption{kubequeue.WithEnvFromConfigMap("app-config")},
			check: func(t *testing.T, job *batchv1.Job) {
				require.Equal(t, []corev1.EnvFromSource{configMapEnv}, containerOf(t, job).EnvFrom)
			},
		},
		{
			name: "WithEnvFromSecret",
			opts: []kubequeue.WorkerOption{kubequeue.WithEnvFromSecret("app-secrets")},
			check: func(t *testing.T, job *batchv1.Job) {
				require.Equal(t, []corev1.EnvFromSource{secretEnv}, containerOf(t, job).EnvFrom)
			},
		},
		{
			name: "WithEnvFromSecretAndConfigMap",
			opts: []kubequeue.WorkerOption{
				kubequeue.WithEnvFromSecret("app-secrets"),
				kubequeue.WithEnvFromConfigMap("app-config"),
			},
			check: func(t *testing.T, job *batchv1.Job) {
				require.Equal(t, []corev1.EnvFromSource{secretEnv, configMapEnv}, containerOf(t, job).EnvFrom)
				require.Empty(t, userEnvOf(t, job))
			},
		},
		{
			name: "WithCPU",
			opts: []kubequeue.WorkerOption{kubequeue.WithCPU("250m", "1")},
			check: func(t *testing.T, job *batchv1.Job) {
				r := containerOf(t, job).Resources
				require.Equal(t, map[corev1.ResourceName]string{corev1.ResourceCPU: "250m"}, quantitiesOf(r.Requests))
				require.Equal(t, map[corev1.ResourceName]string{corev1.ResourceCPU: "1"}, quantitiesOf(r.Limits))
			},
		},
		{
			name: "WithCPURequestOnly",
			opts: []kubequeue.WorkerOption{kubequeue.WithCPU("0.5", "")},
			check: func(t *testing.T, job *batchv1.Job) {
				r := containerOf(t, job).Resources
				require.Equal(t, map[corev1.ResourceName]string{corev1.ResourceCPU: "500m"}, quantitiesOf(r.Requests))
				require.Nil(t, r.Limits)
			},
		},
		{
			name: "WithMemory",
			opts: []kubequeue.WorkerOption{kubequeue.WithMemory("256Mi", "512Mi")},
			check: func(t *testing.T, job *batchv1.Job) {
				r := containerOf(t, job).Resources
				require.Equal(t, map[corev1.ResourceName]string{corev1.ResourceMemory: "256Mi"}, quantitiesOf(r.Requests))
				require.Equal(t, map[corev1.ResourceName]string{corev1.ResourceMemory: "512Mi"}, quantitiesOf(r.Limits))
			},
		},
		{
			name: "WithMemoryRequestOnly",
			opts: []kubequeue.WorkerOption{kubequeue.WithMemory("500M", "")},
			check: func(t *testing.T, job *batchv1.Job) {
				r := containerOf(t, job).Resources
				require.Equal(t, map[corev1.ResourceName]string{corev1.ResourceMemory: "500M"}, quantitiesOf(r.Requests))
				require.Nil(t, r.Limits)
			},
		},
		{
			name: "WithMemoryLimitOnly",
			opts: []kubequeue.WorkerOption{kubequeue.WithMemory("", "1Gi")},
			check: func(t *testing.T, job *batchv1.Job) {
				r := containerOf(t, job).Resources
				require.Nil(t, r.Requests)
				require.Equal(t, map[corev1.ResourceName]string{corev1.ResourceMemory: "1Gi"}, quantitiesOf(r.Limits))
			},
		},
		{
			name: "WithCPUAndMemory",
			opts: []kubequeue.WorkerOption{kubequeue.WithCPU("100m", ""), kubequeue.WithMemory("64Mi", "128Mi")},
			check: func(t *testing.T, job *batchv1.Job) {
				r := containerOf(t, job).Resources
				require.Equal(t, map[corev1.ResourceName]string{corev1.ResourceCPU: "100m", corev1.ResourceMemory: "64Mi"}, quantitiesOf(r.Requests))
				require.Equal(t, map[corev1.ResourceName]string{corev1.ResourceMemory: "128Mi"}, quantitiesOf(r.Limits))
			},
		},
		{
			name: "WithRestartPolicyOnFailure",
			opts: []kubequeue.WorkerOption{kubequeue.WithRestartPolicy(corev1.RestartPolicyOnFailure)},
			check: func(t *testing.T, job *batchv1.Job) {
				require.Equal(t, corev1.RestartPolicyOnFailure, job.Spec.Template.Spec.RestartPolicy)
			},
		},
		{
			name: "WithRestartPolicyNever",
			opts: []kubequeue.WorkerOption{kubequeue.WithRestartPolicy(corev1.RestartPolicyNever)},
			check: func(t *testing.T, job *batchv1.Job) {
				require.Equal(t, corev1.RestartPolicyNever, job.Spec.Template.Spec.RestartPolicy)
			},
		},
		{
			name: "WithServiceAccount",
			opts: []kubequeue.WorkerOption{kubequeue.WithServiceAccount("resizer-sa")},
			check: func(t *testing.T, job *batchv1.Job) {
				require.Equal(t, "resizer-sa", job.Spec.Template.Spec.ServiceAccountName)
			},
		},
		{
			name: "WithImagePullSecrets",
			opts: []kubequeue.WorkerOption{kubequeue.WithImagePullSecrets("regcred", "mirror"), kubequeue.WithImagePullSecrets("backup")},
			check: func(t *testing.T, job *batchv1.Job) {
				require.Equal(t, []corev1.LocalObjectReference{{Name: "regcred"}, {Name: "mirror"}, {Name: "backup"}}, job.Spec.Template.Spec.ImagePullSecrets)
			},
		},
		{
			name: "WithNodeSelector",
			opts: []kubequeue.WorkerOption{
				kubequeue.WithNodeSelector(map[string]string{"disk": "hdd", "kubernetes.io/os": "linux"}),
				kubequeue.WithNodeSelector(map[string]string{"disk": "ssd"}),
			},
			check: func(t *testing.T, job *batchv1.Job) {
				require.Equal(t, map[string]string{"disk": "ssd", "kubernetes.io/os": "linux"}, job.Spec.Template.Spec.NodeSelector)
			},
		},
		{
			name: "WithTolerations",
			opts: []kubequeue.WorkerOption{kubequeue.WithTolerations(tolerations[0]), kubequeue.WithTolerations(tolerations[1])},
			check: func(t *testing.T, job *batchv1.Job) {
				got := job.Spec.Template.Spec.Tolerations
				require.Equal(t, tolerations, got)
				require.NotSame(t, tolerations[1].TolerationSeconds, got[1].TolerationSeconds)
			},
		},
		{
			name: "WithAffinity",
			opts: []kubequeue.WorkerOption{kubequeue.WithAffinity(affinity)},
			check: func(t *testing.T, job *batchv1.Job) {
				require.Equal(t, affinity, job.Spec.Template.Spec.Affinity)
				require.NotSame(t, affinity, job.Spec.Template.Spec.Affinity)
			},
		},
		{
			name: "WithPriorityClass",
			opts: []kubequeue.WorkerOption{kubequeue.WithPriorityClass("batch-low")},
			check: func(t *testing.T, job *batchv1.Job) {
				require.Equal(t, "batch-low", job.Spec.Template.Spec.PriorityClassName)
			},
		},
		{
			name: "WithVolumesAndVolumeMounts",
			opts: []kubequeue.WorkerOption{kubequeue.WithVolumes(volumes...), kubequeue.WithVolumeMounts(mounts...)},
			check: func(t *testing.T, job *batchv1.Job) {
				require.Equal(t, volumes, job.Spec.Template.Spec.Volumes)
				require.Equal(t, mounts, containerOf(t, job).VolumeMounts)
			},
		},
		{
			name: "WithNamespace",
			opts: []kubequeue.WorkerOption{kubequeue.WithNamespace("jobs")},
			check: func(t *testing.T, job *batchv1.Job) {
				require.Equal(t, "jobs", job.Namespace)
			},
		},
		{
			name: "WithNamespaceOnCall",
			call: []kubequeue.EnqueueOption{kubequeue.WithNamespace("tenant-a")},
			check: func(t *testing.T, job *batchv1.Job) {
				require.Equal(t, "tenant-a", job.Namespace)
			},
		},
		{
			name: "WithLabels",
			opts: []kubequeue.WorkerOption{
				kubequeue.WithLabels(map[string]string{"team": "imaging", "example.com/tier": "gold"}),
				kubequeue.WithLabels(map[string]string{"example.com/tier": "batch"}),
			},
			check: func(t *testing.T, job *batchv1.Job) {
				require.Equal(t, labelsOf(resizeName, map[string]string{"team": "imaging", "example.com/tier": "batch"}), job.Labels)
				require.Equal(t, baseLabels, job.Spec.Template.Labels, "job labels are not copied to pods")
			},
		},
		{
			name: "WithLabelsOnCall",
			call: []kubequeue.EnqueueOption{kubequeue.WithLabels(map[string]string{"request": "r-1"})},
			check: func(t *testing.T, job *batchv1.Job) {
				require.Equal(t, labelsOf(resizeName, map[string]string{"request": "r-1"}), job.Labels)
				require.Equal(t, baseLabels, job.Spec.Template.Labels)
			},
		},
		{
			name: "WithAnnotations",
			opts: []kubequeue.WorkerOption{kubequeue.WithAnnotations(map[string]string{"example.com/owner": "imaging", "note": "a\nb"})},
			check: func(t *testing.T, job *batchv1.Job) {
				require.Equal(t, map[string]string{"example.com/owner": "imaging", "note": "a\nb"}, job.Annotations)
				require.Nil(t, job.Spec.Template.Annotations)
			},
		},
		{
			name: "WithAnnotationsOnCall",
			call: []kubequeue.EnqueueOption{kubequeue.WithAnnotations(map[string]string{"trace": "abc"})},
			check: func(t *testing.T, job *batchv1.Job) {
				require.Equal(t, map[string]string{"trace": "abc"}, job.Annotations)
				require.Nil(t, job.Spec.Template.Annotations)
			},
		},
		{
			name: "WithPodLabels",
			opts: []kubequeue.WorkerOption{kubequeue.WithPodLabels(map[string]string{"app": "resize"})},
			check: func(t *testing.T, job *batchv1.Job) {
				require.Equal(t, labelsOf(resizeName, map[string]string{"app": "resize"}), job.Spec.Template.Labels)
				require.Equal(t, baseLabels, job.Labels, "pod labels are not copied to the job")
			},
		},
		{
			name: "WithPodLabelsOnCall",
			call: []kubequeue.EnqueueOption{kubequeue.WithPodLabels(map[string]string{"request": "r-1"})},
			check: func(t *testing.T, job *batchv1.Job) {
				require.Equal(t, labelsOf(resizeName, map[string]string{"request": "r-1"}), job.Spec.Template.Labels)
				require.Equal(t, baseLabels, job.Labels)
			},
		},
		{
			name: "WithPodAnnotations",
			opts: []kubequeue.WorkerOption{kubequeue.WithPodAnnotations(map[string]string{"prometheus.io/scrape": "true"})},
			check: func(t *testing.T, job *batchv1.Job) {
				require.Equal(t, map[string]string{"prometheus.io/scrape": "true"}, job.Spec.Template.Annotations)
				require.Nil(t, job.Annotations)
			},
		},
		{
			name: "WithPodAnnotationsOnCall",
			call: []kubequeue.EnqueueOption{kubequeue.WithPodAnnotations(map[string]string{"trace": "abc"})},
			check: func(t *testing.T, job *batchv1.Job) {
				require.Equal(t, map[string]string{"trace": "abc"}, job.Spec.Template.Annotations)
				require.Nil(t, job.Annotations)
			},
		},
		{
			name: "WithBackoffLimit",
			opts: []kubequeue.WorkerOption{kubequeue.WithBackoffLimit(7)},
			check: func(t *testing.T, job *batchv1.Job) {
				require.Equal(t, ptr.To(int32(7)), job.Spec.BackoffLimit)
			},
		},
		{
			name: "WithBackoffLimitZero",
			opts: []kubequeue.WorkerOption{kubequeue.WithBackoffLimit(0)},
			check: func(t *testing.T, job *batchv1.Job) {
				require.Equal(t, ptr.To(int32(0)), job.Spec.BackoffLimit)
			},
		},
		{
			name: "WithBackoffLimitOnCall",
			call: []kubequeue.EnqueueOption{kubequeue.WithBackoffLimit(1)},
			check: func(t *testing.T, job *batchv1.Job) {
				require.Equal(t, ptr.To(int32(1)), job.Spec.BackoffLimit)
			},
		},
		{
			name: "WithActiveDeadline",
			opts: []kubequeue.WorkerOption{kubequeue.WithActiveDeadline(10 * time.Minute)},
			check: func(t *testing.T, job *batchv1.Job) {
				require.Equal(t, ptr.To(int64(600)), job.Spec.ActiveDeadlineSeconds)
			},
		},
		{
			name: "WithActiveDeadlineRoundsUp",
			opts: []kubequeue.WorkerOption{kubequeue.WithActiveDeadline(1500 * time.Millisecond)},
			check: func(t *testing.T, job *batchv1.Job) {
				require.Equal(t, ptr.To(int64(2)), job.Spec.ActiveDeadlineSeconds)
			},
		},
		{
			name: "WithActiveDeadlineOneNanosecond",
			opts: []kubequeue.WorkerOption{kubequeue.WithActiveDeadline(time.Nanosecond)},
			check: func(t *testing.T, job *batchv1.Job) {
				require.Equal(t, ptr.To(int64(1)), job.Spec.ActiveDeadlineSeconds)
			},
		},
		{
			name: "WithActiveDeadlineOnCall",
			call: []kubequeue.EnqueueOption{kubequeue.WithActiveDeadline(90 * time.Second)},
			check: func(t *testing.T, job *batchv1.Job) {
				require.Equal(t, ptr.To(int64(90)), job.Spec.ActiveDeadlineSeconds)
			},
		},
		{
			name: "WithTTLAfterFinished",
			opts: []kubequeue.WorkerOption{kubequeue.WithTTLAfterFinished(time.Hour)},
			check: func(t *testing.T, job *batchv1.Job) {
				require.Equal(t, ptr.To(int32(3600)), job.Spec.TTLSecondsAfterFinished)
			},
		},
		{
			name: "WithTTLAfterFinishedZero",
			opts: []kubequeue.WorkerOption{kubequeue.WithTTLAfterFinished(0)},
			check: func(t *testing.T, job *batchv1.Job) {
				require.Equal(t, ptr.To(int32(0)), job.Spec.TTLSecondsAfterFinished)
			},
		},
		{
			name: "WithTTLAfterFinishedRoundsUp",
			opts: []kubequeue.WorkerOption{kubequeue.WithTTLAfterFinished(1500 * time.Millisecond)},
			check: func(t *testing.T, job *batchv1.Job) {
				require.Equal(t, ptr.To(int32(2)), job.Spec.TTLSecondsAfterFinished)
			},
		},
		{
			name: "WithTTLAfterFinishedOnCall",
			call: []kubequeue.EnqueueOption{kubequeue.WithTTLAfterFinished(0)},
			check: func(t *testing.T, job *batchv1.Job) {
				require.Equal(t, ptr.To(int32(0)), job.Spec.TTLSecondsAfterFinished)
			},
		},
		{
			name: "WithJobMutator",
			opts: []kubequeue.WorkerOption{kubequeue.WithJobMutator(func(job *batchv1.Job) {
				// The mutator sees the finished Job.
				if job.Labels[kubequeue.LabelWorker] == resizeName && len(job.Spec.Template.Spec.Containers) == 1 {
					job.Spec.Parallelism = ptr.To(int32(1))
					job.Spec.Template.Spec.Containers[0].ImagePullPolicy = corev1.PullAlways
				}
			})},
			check: func(t *testing.T, job *batchv1.Job) {
				require.Equal(t, ptr.To(int32(1)), job.Spec.Parallelism)
				require.Equal(t, corev1.PullAlways, containerOf(t, job).ImagePullPolicy)
			},
		},
		{
			name: "WithJobMutatorOnCall",
			call: []kubequeue.EnqueueOption{kubequeue.WithJobMutator(func(job *batchv1.Job) {
				job.Spec.Completions = ptr.To(int32(1))
			})},
			check: func(t *testing.T, job *batchv1.Job) {
				require.Equal(t, ptr.To(int32(1)), job.Spec.Completions)
			},
		},
		{
			name: "WithJobName",
			call: []kubequeue.EnqueueOption{kubequeue.WithJobName("resize-2024-05-01")},
			check: func(t *testing.T, job *batchv1.Job) {
				require.Equal(t, "resize-2024-05-01", job.Name)
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w := resizeWorker(t, tt.opts...)
			job := build(t, w, resizeArgs{ID: 7}, tt.call...)
			tt.check(t, job)
		})
	}
}

func TestQueue_Build_CallOverridesWorker(t *testing.T) {
	t.Parallel()

	// order records, in the "order" annotation, which mutators ran.
	order := func(tag string) kubequeue.JobOption {
		return kubequeue.WithJobMutator(func(job *batchv1.Job) { job.Annotations["order"] += tag + ";" })
	}
	w := resizeWorker(t,
		kubequeue.WithNamespace("worker-ns"),
		kubequeue.WithLabels(map[string]string{"team": "imaging", "tier": "batch"}),
		kubequeue.WithAnnotations(map[string]string{"owner": "imaging", "note": "worker"}),
		kubequeue.WithPodLabels(map[string]string{"app": "resize", "tier": "batch"}),
		kubequeue.WithPodAnnotations(map[string]string{"scrape": "true", "note": "worker"}),
		kubequeue.WithBackoffLimit(5),
		kubequeue.WithActiveDeadline(time.Hour),
		kubequeue.WithTTLAfterFinished(2*time.Hour),
		order("worker-1"),
		order("worker-2"),
	)
	workerLabels := labelsOf(resizeName, map[string]string{"team": "imaging", "tier": "batch"})
	workerPodLabels := labelsOf(resizeName, map[string]string{"app": "resize", "tier": "batch"})
	workerAnnotations := map[string]string{"owner": "imaging", "note": "worker", "order": "worker-1;worker-2;"}
	workerPodAnnotations := map[string]string{"scrape": "true", "note": "worker"}

	// requireWorker requires the worker's value of every field but those
	// named in except.
	requireWorker := func(t *testing.T, job *batchv1.Job, except ...string) {
		t.Helper()
		skip := map[string]bool{}
		for _, e := range except {
			skip[e] = true
		}
		if !skip["namespace"] {
			require.Equal(t, "worker-ns", job.Namespace)
		}
		if !skip["name"] {
			require.True(t, strings.HasPrefix(job.Name, resizeName+"-"), job.Name)
		}
		if !skip["labels"] {
			require.Equal(t, workerLabels, job.Labels)
		}
		if !skip["annotations"] {
			require.Equal(t, workerAnnotations, job.Annotations)
		}
		if !skip["podLabels"] {
			require.Equal(t, workerPodLabels, job.Spec.Template.Labels)
		}
		if !skip["podAnnotations"] {
			require.Equal(t, workerPodAnnotations, job.Spec.Template.Annotations)
		}
		if !skip["backoff"] {
			require.Equal(t, ptr.To(int32(5)), job.Spec.BackoffLimit)
		}
		if !skip["deadline"] {
			require.Equal(t, ptr.To(int64(3600)), job.Spec.ActiveDeadlineSeconds)
		}
		if !skip["ttl"] {
			require.Equal(t, ptr.To(int32(7200)), job.Spec.TTLSecondsAfterFinished)
		}
	}

	tests := []struct {
		name  string
		call  []kubequeue.EnqueueOption
		check func(t *testing.T, job *batchv1.Job)
	}{
		{
			name:  "NoCallOptions",
			check: func(t *testing.T, job *batchv1.Job) { requireWorker(t, job) },
		},
		{
			name: "Labels",
			call: []kubequeue.EnqueueOption{kubequeue.WithLabels(map[string]string{"tier": "urgent", "request": "r-1"})},
			check: func(t *testing.T, job *batchv1.Job) {
				require.Equal(t, labelsOf(resizeName, map[string]string{"team": "imaging", "tier": "urgent", "request": "r-1"}), job.Labels)
				requireWorker(t, job, "labels")
			},
		},
		{
			name: "Annotations",
			call: []kubequeue.EnqueueOption{kubequeue.WithAnnotations(map[string]string{"note": "call", "trace": "abc"})},
			check: func(t *testing.T, job *batchv1.Job) {
				require.Equal(t, map[string]string{"owner": "imaging", "note": "call", "trace": "abc", "order": "worker-1;worker-2;"}, job.Annotations)
				requireWorker(t, job, "annotations")
			},
		},
		{
			name: "PodLabels",
			call: []kubequeue.EnqueueOption{kubequeue.WithPodLabels(map[string]string{"tier": "urgent", "request": "r-1"})},
			check: func(t *testing.T, job *batchv1.Job) {
				require.Equal(t, labelsOf(resizeName, map[string]string{"app": "resize", "tier": "urgent", "request": "r-1"}), job.Spec.Template.Labels)
				requireWorker(t, job, "podLabels")
			},
		},
		{
			name: "PodAnnotations",
			call: []kubequeue.EnqueueOption{kubequeue.WithPodAnnotations(map[string]string{"note": "call", "trace": "abc"})},
			check: func(t *testing.T, job *batchv1.Job) {
				require.Equal(t, map[string]string{"scrape": "true", "note": "call", "trace": "abc"}, job.Spec.Template.Annotations)
				requireWorker(t, job, "podAnnotations")
			},
		},
		{
			name: "BackoffLimit",
			call: []kubequeue.EnqueueOption{kubequeue.WithBackoffLimit(0)},
			check: func(t *testing.T, job *batchv1.Job) {
				require.Equal(t, ptr.To(int32(0)), job.Spec.BackoffLimit)
				requireWorker(t, job, "backoff")
			},
		},
		{
			name: "ActiveDeadline",
			call: []kubequeue.EnqueueOption{kubequeue.WithActiveDeadline(90 * time.Second)},
			check: func(t *testing.T, job *batchv1.Job) {
				require.Equal(t, ptr.To(int64(90)), job.Spec.ActiveDeadlineSeconds)
				requireWorker(t, job, "deadline")
			},
		},
		{
			name: "TTLAfterFinished",
			call: []kubequeue.EnqueueOption{kubequeue.WithTTLAfterFinished(0)},
			check: func(t *testing.T, job *batchv1.Job) {
				require.Equal(t, ptr.To(int32(0)), job.Spec.TTLSecondsAfterFinished)
				requireWorker(t, job, "ttl")
			},
		},
		{
			name: "Namespace",
			call: []kubequeue.EnqueueOption{kubequeue.WithNamespace("call-ns")},
			check: func(t *testing.T, job *batchv1.Job) {
				require.Equal(t, "call-ns", job.Namespace)
				requireWorker(t, job, "namespace")
			},
		},
		{
			name: "JobMutatorsRunWorkerThenCall",
			call: []kubequeue.EnqueueOption{order("call-1"), order("call-2")},
			check: func(t *testing.T, job *batchv1.Job) {
				require.Equal(t, "worker-1;worker-2;call-1;call-2;", job.Annotations["order"])
				requireWorker(t, job, "annotations")
			},
		},
		{
			name: "JobName",
			call: []kubequeue.EnqueueOption{kubequeue.WithJobName("resize-manual")},
			check: func(t *testing.T, job *batchv1.Job) {
				require.Equal(t, "resize-manual", job.Name)
				requireWorker(t, job, "name")
			},
		},
		{
			name: "RepeatedCallOptions",
			call: []kubequeue.EnqueueOption{
				kubequeue.WithJobName("first"), kubequeue.WithJobName("second"),
				kubequeue.WithNamespace("ns-1"), kubequeue.WithNamespace("ns-2"),
				kubequeue.WithBackoffLimit(1), kubequeue.WithBackoffLimit(2),
				kubequeue.WithLabels(map[string]string{"a": "1", "b": "1"}), kubequeue.WithLabels(map[string]string{"b": "2"}),
			},
			check: func(t *testing.T, job *batchv1.Job) {
				require.Equal(t, "second", job.Name)
				require.Equal(t, "ns-2", job.Namespace)
				require.Equal(t, ptr.To(int32(2)), job.Spec.BackoffLimit)
				require.Equal(t, labelsOf(resizeName, map[string]string{"team": "imaging", "tier": "batch", "a": "1", "b": "2"}), job.Labels)
				requireWorker(t, job, "name", "namespace", "backoff", "labels")
			},
		},
		{
			name: "All",
			call: []kubequeue.EnqueueOption{
				kubequeue.WithNamespace("call-ns"),
				kubequeue.WithJobName("resize-all"),
				kubequeue.WithLabels(map[string]string{"team": "video"}),
				kubequeue.WithAnnotations(map[string]string{"owner": "video"}),
				kubequeue.WithPodLabels(map[string]string{"app": "resize-v2"}),
				kubequeue.WithPodAnnotations(map[string]string{"scrape": "false"}),
				kubequeue.WithBackoffLimit(9),
				kubequeue.WithActiveDeadline(1500 * time.Millisecond),
				kubequeue.WithTTLAfterFinished(time.Minute),
				order("call"),
			},
			check: func(t *testing.T, job *batchv1.Job) {
				require.Equal(t, "call-ns", job.Namespace)
				require.Equal(t, "resize-all", job.Name)
				require.Equal(t, labelsOf(resizeName, map[string]string{"team": "video", "tier": "batch"}), job.Labels)
				require.Equal(t, map[string]string{"owner": "video", "note": "worker", "order": "worker-1;worker-2;call;"}, job.Annotations)
				require.Equal(t, labelsOf(resizeName, map[string]string{"app": "resize-v2", "tier": "batch"}), job.Spec.Template.Labels)
				require.Equal(t, map[string]string{"scrape": "false", "note": "worker"}, job.Spec.Template.Annotations)
				require.Equal(t, ptr.To(int32(9)), job.Spec.BackoffLimit)
				require.Equal(t, ptr.To(int64(2)), job.Spec.ActiveDeadlineSeconds)
				require.Equal(t, ptr.To(int32(60)), job.Spec.TTLSecondsAfterFinished)
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.check(t, build(t, w, resizeArgs{ID: 1}, tt.call...))
		})
	}

	t.Run("WorkerUnchanged", func(t *testing.T) {
		t.Parallel()
		before := build(t, w, resizeArgs{ID: 1}, kubequeue.WithJobName("same"))
		want := before.DeepCopy()
		for _, tt := range tests {
			build(t, w, resizeArgs{ID: 1}, tt.call...)
		}
		after := build(t, w, resizeArgs{ID: 1}, kubequeue.WithJobName("same"))
		require.Equal(t, want, after)
		require.Equal(t, want, before)
		require.NoError(t, w.Validate())
	})
}

func TestQueue_Build_Defaults(t *testing.T) {
	t.Parallel()

	t.Run("Job", func(t *testing.T) {
		t.Parallel()
		job := build(t, resizeWorker(t), resizeArgs{ID: 3})

		require.Equal(t, metav1.TypeMeta{APIVersion: "batch/v1", Kind: "Job"}, job.TypeMeta)
		require.Equal(t, kubequeue.DefaultNamespace, job.Namespace)
		require.Equal(t, "default", job.Namespace)
		require.Equal(t, labelsOf(resizeName, nil), job.Labels)
		require.Equal(t, map[string]string{kubequeue.LabelManagedBy: "kubequeue", kubequeue.LabelWorker: resizeName}, job.Spec.Template.Labels)
		require.Nil(t, job.Annotations)
		require.Nil(t, job.Spec.Template.Annotations)

		require.Equal(t, ptr.To(kubequeue.DefaultBackoffLimit), job.Spec.BackoffLimit)
		require.Equal(t, ptr.To(int32(kubequeue.DefaultTTLAfterFinished/time.Second)), job.Spec.TTLSecondsAfterFinished)
		require.Equal(t, ptr.To(int32(86400)), job.Spec.TTLSecondsAfterFinished)
		require.Nil(t, job.Spec.ActiveDeadlineSeconds)

		pod := job.Spec.Template.Spec
		require.Equal(t, corev1.RestartPolicyNever, pod.RestartPolicy)
		require.Empty(t, pod.ServiceAccountName)
		require.Nil(t, pod.ImagePullSecrets)
		require.Nil(t, pod.NodeSelector)
		require.Nil(t, pod.Tolerations)
		require.Nil(t, pod.Affinity)
		require.Empty(t, pod.PriorityClassName)
		require.Nil(t, pod.Volumes)

		c := containerOf(t, job)
		require.Equal(t, kubequeue.DefaultContainerName, c.Name)
		require.Equal(t, "worker", c.Name)
		require.Equal(t, testImage, c.Image)
		require.Nil(t, c.Command)
		require.Nil(t, c.Args)
		require.Nil(t, c.EnvFrom)
		require.Nil(t, c.VolumeMounts)
		require.Equal(t, corev1.ResourceRequirements{}, c.Resources)
		require.Equal(t, corev1.TerminationMessageFallbackToLogsOnError, c.TerminationMessagePolicy)
		require.Equal(t, append([]corev1.EnvVar{
			{Name: "KUBEQUEUE_WORKER", Value: resizeName},
			{Name: "KUBEQUEUE_PAYLOAD", Value: `{"id":3}`},
		}, downwardEnv...), c.Env)
	})

	t.Run("QueueDefaultNamespace", func(t *testing.T) {
		t.Parallel()
		q := buildQueue(t, kubequeue.WithDefaultNamespace("batch"))

		job, err := q.Build(resizeWorker(t), resizeArgs{})
		require.NoError(t, err)
		require.Equal(t, "batch", job.Namespace)

		job, err = q.Build(resizeWorker(t, kubequeue.WithNamespace("worker-ns")), resizeArgs{})
		require.NoError(t, err)
		require.Equal(t, "worker-ns", job.Namespace)

		job, err = q.Build(resizeWorker(t, kubequeue.WithNamespace("worker-ns")), resizeArgs{}, kubequeue.WithNamespace("call-ns"))
		require.NoError(t, err)
		require.Equal(t, "call-ns", job.Namespace)

		job, err = q.Build(resizeWorker(t), resizeArgs{}, kubequeue.WithNamespace("call-ns"))
		require.NoError(t, err)
		require.Equal(t, "call-ns", job.Namespace)
	})

	t.Run("NilOptionsIgnored", func(t *testing.T) {
		t.Parallel()
		w := kubequeue.NewWorker(resizeName, performResize, nil, kubequeue.WithImage(testImage), nil)
		require.NoError(t, w.Validate())
		job, err := buildQueue(t, nil).Build(w, resizeArgs{}, nil)
		require.NoError(t, err)
		require.Equal(t, kubequeue.DefaultNamespace, job.Namespace)
	})
}

func TestQueue_Build_CallerOwnsJob(t *testing.T) {
	t.Parallel()

	w := resizeWorker(t,
		kubequeue.WithCommand("/bin/app", "work"),
		kubequeue.WithArgs("--flag"),
		kubequeue.WithEnv("MODE", "fast"),
		kubequeue.WithEnvVars(corev1.EnvVar{Name: "SECRET", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: "db"}, Key: "password",
		}}}),
		kubequeue.WithEnvFromConfigMap("app-config"),
		kubequeue.WithCPU("250m", "1"),
		kubequeue.WithMemory("64Mi", "128Mi"),
		kubequeue.WithImagePullSecrets("regcred"),
		kubequeue.WithNodeSelector(map[string]string{"disk": "ssd"}),
		kubequeue.WithTolerations(corev1.Toleration{Key: "k", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptr.To(int64(60))}),
		kubequeue.WithAffinity(&corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{}}),
		kubequeue.WithVolumes(corev1.Volume{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}),
		kubequeue.WithVolumeMounts(corev1.VolumeMount{Name: "data", MountPath: "/data"}),
		kubequeue.WithLabels(map[string]string{"team": "imaging"}),
		kubequeue.WithAnnotations(map[string]string{"owner": "imaging"}),
		kubequeue.WithPodLabels(map[string]string{"app": "resize"}),
		kubequeue.WithPodAnnotations(map[string]string{"scrape": "true"}),
		kubequeue.WithBackoffLimit(2),
		kubequeue.WithActiveDeadline(time.Minute),
		kubequeue.WithTTLAfterFinished(time.Hour),
	)

	t.Run("MutatingResultDoesNotChangeLaterJobs", func(t *testing.T) {
		t.Parallel()
		first := build(t, w, resizeArgs{ID: 1}, kubequeue.WithJobName("same"))
		want := first.DeepCopy()

		first.Labels["team"] = "changed"
		delete(first.Labels, kubequeue.LabelWorker)
		first.Annotations["owner"] = "changed"
		first.Spec.Template.Labels["app"] = "changed"
		first.Spec.Template.Annotations["scrape"] = "changed"
		*first.Spec.BackoffLimit = 99
		*first.Spec.ActiveDeadlineSeconds = 99
		*first.Spec.TTLSecondsAfterFinished = 99
		pod := &first.Spec.Template.Spec
		pod.NodeSelector["disk"] = "changed"
		pod.ImagePullSecrets[0].Name = "changed"
		pod.Tolerations[0].Key = "changed"
		*pod.Tolerations[0].TolerationSeconds = 99
		pod.Affinity.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution = []corev1.PodAffinityTerm{{TopologyKey: "changed"}}
		pod.Volumes[0].EmptyDir.Medium = corev1.StorageMediumMemory
		c := &pod.Containers[0]
		c.Command[0] = "changed"
		c.Args[0] = "changed"
		c.Env[0].Value = "changed"
		c.Env[1].Value = "changed"
		c.Env[2].Value = "changed"
		c.Env[3].ValueFrom.SecretKeyRef.Name = "changed"
		c.Env = append(c.Env, corev1.EnvVar{Name: "ADDED", Value: "1"})
		c.EnvFrom[0].ConfigMapRef.Name = "changed"
		c.Resources.Requests[corev1.ResourceCPU] = resource.MustParse("99")
		c.Resources.Limits[corev1.ResourceMemory] = resource.MustParse("99Gi")
		c.VolumeMounts[0].MountPath = "/changed"

		second := build(t, w, resizeArgs{ID: 1}, kubequeue.WithJobName("same"))
		require.Equal(t, want, second)
	})

	t.Run("MutatingResultDoesNotChangeOtherResult", func(t *testing.T) {
		t.Parallel()
		a := build(t, w, resizeArgs{ID: 1})
		b := build(t, w, resizeArgs{ID: 1})
		want := b.DeepCopy()
		a.Spec.Template.Spec.Containers[0].Env[2].Value = "changed"
		a.Spec.Template.Spec.NodeSelector["disk"] = "changed"
		a.Labels["team"] = "changed"
		require.Equal(t, want, b)
	})

	t.Run("WorkerOptionsCopyInputs", func(t *testing.T) {
		t.Parallel()
		labels := map[string]string{"team": "imaging"}
		selector := map[string]string{"disk": "ssd"}
		command := []string{"/bin/app", "work"}
		args := []string{"--flag"}
		vars := []corev1.EnvVar{{Name: "SECRET", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: "db"}, Key: "password",
		}}}}
		tolerations := []corev1.Toleration{{Key: "k", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptr.To(int64(60))}}
		affinity := &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{}}
		volumes := []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}
		mounts := []corev1.VolumeMount{{Name: "data", MountPath: "/data"}}
		annotations := map[string]string{"owner": "imaging"}
		podLabels := map[string]string{"app": "resize"}

		w := resizeWorker(t,
			kubequeue.WithLabels(labels),
			kubequeue.WithAnnotations(annotations),
			kubequeue.WithPodLabels(podLabels),
			kubequeue.WithNodeSelector(selector),
			kubequeue.WithCommand(command...),
			kubequeue.WithArgs(args...),
			kubequeue.WithEnvVars(vars...),
			kubequeue.WithTolerations(tolerations...),
			kubequeue.WithAffinity(affinity),
			kubequeue.WithVolumes(volumes...),
			kubequeue.WithVolumeMounts(mounts...),
		)
		want := build(t, w, resizeArgs{}, kubequeue.WithJobName("same"))

		labels["team"] = "changed"
		labels["added"] = "x"
		annotations["owner"] = "changed"
		podLabels["app"] = "changed"
		selector["disk"] = "changed"
		command[0] = "changed"
		args[0] = "changed"
		vars[0].ValueFrom.SecretKeyRef.Name = "changed"
		tolerations[0].Key = "changed"
		*tolerations[0].TolerationSeconds = 1
		affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution = &corev1.NodeSelector{}
		volumes[0].EmptyDir.Medium = corev1.StorageMediumMemory
		mounts[0].MountPath = "/changed"

		got := build(t, w, resizeArgs{}, kubequeue.WithJobName("same"))
		require.Equal(t, want, got)
		require.Equal(t, "imaging", got.Labels["team"])
		require.NotContains(t, got.Labels, "added")
		require.Equal(t, []string{"/bin/app", "work"}, containerOf(t, got).Command)
	})

	t.Run("CallOptionsCopyInputs", func(t *testing.T) {
		t.Parallel()
		labels := map[string]string{"request": "r-1"}
		annotations := map[string]string{"trace": "abc"}
		job := build(t, w, resizeArgs{}, kubequeue.WithLabels(labels), kubequeue.WithAnnotations(annotations))
		labels["request"] = "changed"
		annotations["trace"] = "changed"
		require.Equal(t, "r-1", job.Labels["request"])
		require.Equal(t, "abc", job.Annotations["trace"])
	})
}

// sink keeps benchmark results alive, so the compiler cannot drop them or
// keep them on the stack.
var sink *batchv1.Job

// benchPayload is a typical small payload.
type benchPayload struct {
	OrderID int64  `json:"orderID"`
	Email   string `json:"email"`
	Note    string `json:"note"`
}

// BenchmarkBuild compares Build with the hand-written batchv1.Job literal
// (same fields, payload encoded the same way) a client-go user would write.
func BenchmarkBuild(b *testing.B) {
	payload := benchPayload{OrderID: 42, Email: "ada@example.com", Note: `a "quoted" note`}
	w := kubequeue.NewWorker("send-receipt", func(context.Context, benchPayload) error { return nil },
		kubequeue.WithImage("registry.example.com/shop/api:v1.4.2"),
		kubequeue.WithNamespace("shop"),
		kubequeue.WithEnv("LOG_LEVEL", "info"),
		kubequeue.WithCPU("100m", "500m"),
		kubequeue.WithMemory("64Mi", "256Mi"),
		kubequeue.WithLabels(map[string]string{"team": "checkout"}),
	)
	b.Run("kubequeue", func(b *testing.B) {
		queue := buildQueue(b)
		b.ReportAllocs()
		for b.Loop() {
			job, err := queue.Build(w, payload)
			if err != nil {
				b.Fatal(err)
			}
			sink = job
		}
	})
	// A payload type with an interface (here a map[string]any) is decoded
	// back at every Build (see NewWorker); one of plain fields, times and
	// raw messages is not.
	b.Run("kubequeue-decodedback", func(b *testing.B) {
		type tagged struct {
			benchPayload
			Meta map[string]any `json:"meta"`
		}
		w := kubequeue.NewWorker("send-receipt", func(context.Context, tagged) error { return nil },
			kubequeue.WithImage("registry.example.com/shop/api:v1.4.2"),
			kubequeue.WithNamespace("shop"),
			kubequeue.WithEnv("LOG_LEVEL", "info"),
			kubequeue.WithCPU("100m", "500m"),
			kubequeue.WithMemory("64Mi", "256Mi"),
			kubequeue.WithLabels(map[string]string{"team": "checkout"}),
		)
		p := tagged{benchPayload: payload, Meta: map[string]any{"source": "web"}}
		queue := buildQueue(b)
		b.ReportAllocs()
		for b.Loop() {
			job, err := queue.Build(w, p)
			if err != nil {
				b.Fatal(err)
			}
			sink = job
		}
	})
	b.Run("literal", func(b *testing.B) {
		cpuReq, cpuLim := resource.MustParse("100m"), resource.MustParse("500m")
		memReq, memLim := resource.MustParse("64Mi"), resource.MustParse("256Mi")
		literal := func() *batchv1.Job {
			data, err := json.Marshal(payload)
			if err != nil {
				b.Fatal(err)
			}
			backoff, ttl := int32(3), int32(86400)
			job := &batchv1.Job{
				TypeMeta: metav1.TypeMeta{APIVersion: "batch/v1", Kind: "Job"},
				ObjectMeta: metav1.ObjectMeta{
					Name:      "send-receipt-" + utilrand.String(10),
					Namespace: "shop",
					Labels:    map[string]string{"team": "checkout", kubequeue.LabelManagedBy: "kubequeue", kubequeue.LabelWorker: "send-receipt"},
				},
				Spec: batchv1.JobSpec{
					BackoffLimit:            &backoff,
					TTLSecondsAfterFinished: &ttl,
					PodFailurePolicy: &batchv1.PodFailurePolicy{Rules: []batchv1.PodFailurePolicyRule{
						{Action: batchv1.PodFailurePolicyActionFailJob, OnExitCodes: &batchv1.PodFailurePolicyOnExitCodesRequirement{
							ContainerName: ptr.To("worker"), Operator: batchv1.PodFailurePolicyOnExitCodesOpIn, Values: []int32{42},
						}},
						{Action: batchv1.PodFailurePolicyActionIgnore, OnPodConditions: []batchv1.PodFailurePolicyOnPodConditionsPattern{
							{Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue},
						}},
					}},
					Template: corev1.PodTemplateSpec{
						ObjectMeta: metav1.ObjectMeta{
							Labels: map[string]string{kubequeue.LabelManagedBy: "kubequeue", kubequeue.LabelWorker: "send-receipt"},
						},
						Spec: corev1.PodSpec{
							RestartPolicy:                corev1.RestartPolicyNever,
							AutomountServiceAccountToken: ptr.To(false),
							SecurityContext: &corev1.PodSecurityContext{
								RunAsNonRoot:   ptr.To(true),
								SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
							},
							Containers: []corev1.Container{{
								Name:  "worker",
								Image: "registry.example.com/shop/api:v1.4.2",
								Env: []corev1.EnvVar{
									{Name: "KUBEQUEUE_WORKER", Value: "send-receipt"},
									{Name: "KUBEQUEUE_PAYLOAD", Value: string(data)},
									{Name: "LOG_LEVEL", Value: "info"},
									{Name: "KUBEQUEUE_NAMESPACE", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.namespace"}}},
									{Name: "KUBEQUEUE_JOB_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.labels['batch.kubernetes.io/job-name']"}}},
									{Name: "KUBEQUEUE_POD_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.name"}}},
								},
								Resources: corev1.ResourceRequirements{
									Requests: corev1.ResourceList{corev1.ResourceCPU: cpuReq, corev1.ResourceMemory: memReq},
									Limits:   corev1.ResourceList{corev1.ResourceCPU: cpuLim, corev1.ResourceMemory: memLim},
								},
								TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
								SecurityContext: &corev1.SecurityContext{
									AllowPrivilegeEscalation: ptr.To(false),
									Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
								},
							}},
						},
					},
				},
			}
			return job
		}
		// The two sides must build the same Job, apart from the random name.
		want, err := buildQueue(b).Build(w, payload)
		if err != nil {
			b.Fatal(err)
		}
		got := literal()
		got.Name = want.Name
		if !equality.Semantic.DeepEqual(want, got) {
			b.Fatalf("the literal differs from Build:\nBuild:   %+v\nliteral: %+v", want, got)
		}
		b.ReportAllocs()
		for b.Loop() {
			sink = literal()
		}
	})
}

// jsPermanentRule and jsDisruptionRule are kubequeue's own pod failure policy
// rules, last in every Job's policy.
var (
	jsPermanentRule = batchv1.PodFailurePolicyRule{
		Action: batchv1.PodFailurePolicyActionFailJob,
		OnExitCodes: &batchv1.PodFailurePolicyOnExitCodesRequirement{
			ContainerName: ptr.To("worker"), Operator: batchv1.PodFailurePolicyOnExitCodesOpIn, Values: []int32{42},
		},
	}
	jsDisruptionRule = batchv1.PodFailurePolicyRule{
		Action:          batchv1.PodFailurePolicyActionIgnore,
		OnPodConditions: []batchv1.PodFailurePolicyOnPodConditionsPattern{{Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue}},
	}
	jsIgnoreExit3 = batchv1.PodFailurePolicyRule{
		Action:      batchv1.PodFailurePolicyActionIgnore,
		OnExitCodes: &batchv1.PodFailurePolicyOnExitCodesRequirement{Operator: batchv1.PodFailurePolicyOnExitCodesOpIn, Values: []int32{3}},
	}
	jsFailOn7 = batchv1.PodFailurePolicyRule{
		Action:      batchv1.PodFailurePolicyActionFailJob,
		OnExitCodes: &batchv1.PodFailurePolicyOnExitCodesRequirement{Operator: batchv1.PodFailurePolicyOnExitCodesOpIn, Values: []int32{7}},
	}
)

func TestQueue_Build_SecureDefaults(t *testing.T) {
	t.Parallel()
	restrictedPod := &corev1.PodSecurityContext{RunAsNonRoot: ptr.To(true), SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}}
	restrictedContainer := &corev1.SecurityContext{AllowPrivilegeEscalation: ptr.To(false), Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}}
	tests := []struct {
		name          string
		opts          []kubequeue.WorkerOption
		wantPod       *corev1.PodSecurityContext
		wantContainer *corev1.SecurityContext
		wantAutomount *bool
	}{
		{name: "Defaults", wantPod: restrictedPod, wantContainer: restrictedContainer, wantAutomount: ptr.To(false)},
		{
			name:    "ServiceAccountMountsItsToken",
			opts:    []kubequeue.WorkerOption{kubequeue.WithServiceAccount("reporter")},
			wantPod: restrictedPod, wantContainer: restrictedContainer, wantAutomount: nil,
		},
		{
			name:    "ServiceAccountWithoutToken",
			opts:    []kubequeue.WorkerOption{kubequeue.WithServiceAccount("reporter"), kubequeue.WithAutomountServiceAccountToken(false)},
			wantPod: restrictedPod, wantContainer: restrictedContainer, wantAutomount: ptr.To(false),
		},
		{
			name:    "TokenForTheDefaultAccount",
			opts:    []kubequeue.WorkerOption{kubequeue.WithAutomountServiceAccountToken(true)},
			wantPod: restrictedPod, wantContainer: restrictedContainer, wantAutomount: ptr.To(true),
		},
		{
			name: "OwnSecurityContexts",
			opts: []kubequeue.WorkerOption{
				kubequeue.WithPodSecurityContext(&corev1.PodSecurityContext{RunAsUser: ptr.To[int64](1000), FSGroup: ptr.To[int64](2000)}),
				kubequeue.WithSecurityContext(&corev1.SecurityContext{ReadOnlyRootFilesystem: ptr.To(true)}),
			},
			wantPod:       &corev1.PodSecurityContext{RunAsUser: ptr.To[int64](1000), FSGroup: ptr.To[int64](2000)},
			wantContainer: &corev1.SecurityContext{ReadOnlyRootFilesystem: ptr.To(true)},
			wantAutomount: ptr.To(false),
		},
		{
			name:          "NoSecurityContexts",
			opts:          []kubequeue.WorkerOption{kubequeue.WithPodSecurityContext(nil), kubequeue.WithSecurityContext(nil)},
			wantAutomount: ptr.To(false),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			job := build(t, newGreeter(tt.opts...), greeting{})
			spec := job.Spec.Template.Spec
			require.Equal(t, tt.wantPod, spec.SecurityContext)
			require.Equal(t, tt.wantContainer, spec.Containers[0].SecurityContext)
			require.Equal(t, tt.wantAutomount, spec.AutomountServiceAccountToken)
		})
	}

	// A security context passed to an option is copied.
	sc := &corev1.SecurityContext{ReadOnlyRootFilesystem: ptr.To(true)}
	w := newGreeter(kubequeue.WithSecurityContext(sc))
	*sc.ReadOnlyRootFilesystem = false
	require.True(t, *build(t, w, greeting{}).Spec.Template.Spec.Containers[0].SecurityContext.ReadOnlyRootFilesystem)
}

func TestQueue_Build_PodFailurePolicy(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		worker []kubequeue.WorkerOption
		call   []kubequeue.EnqueueOption
		want   *batchv1.PodFailurePolicy
	}{
		{name: "Defaults", want: &batchv1.PodFailurePolicy{Rules: []batchv1.PodFailurePolicyRule{jsPermanentRule, jsDisruptionRule}}},
		{
			name:   "UserRulesFirst",
			worker: []kubequeue.WorkerOption{kubequeue.WithPodFailurePolicyRules(jsIgnoreExit3)},
			call:   []kubequeue.EnqueueOption{kubequeue.WithPodFailurePolicyRules(jsFailOn7)},
			want:   &batchv1.PodFailurePolicy{Rules: []batchv1.PodFailurePolicyRule{jsIgnoreExit3, jsFailOn7, jsPermanentRule, jsDisruptionRule}},
		},
		{
			name:   "ContainerNamed",
			worker: []kubequeue.WorkerOption{kubequeue.WithContainerName("main")},
			want: &batchv1.PodFailurePolicy{Rules: []batchv1.PodFailurePolicyRule{func() batchv1.PodFailurePolicyRule {
				r := *jsPermanentRule.DeepCopy()
				r.OnExitCodes.ContainerName = ptr.To("main")
				return r
			}(), jsDisruptionRule}},
		},
		{
			// A program of its own may mean something else by 42.
			name:   "OwnCommand",
			worker: []kubequeue.WorkerOption{kubequeue.WithCommand("perl", "-e", "exit 42")},
			want:   &batchv1.PodFailurePolicy{Rules: []batchv1.PodFailurePolicyRule{jsDisruptionRule}},
		},
		{
			// A pod failure policy needs restartPolicy Never.
			name:   "OnFailureHasNone",
			worker: []kubequeue.WorkerOption{kubequeue.WithRestartPolicy(corev1.RestartPolicyOnFailure)},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w := newGreeter(tt.worker...)
			if tt.name == "OwnCommand" {
				w = kubequeue.NewWorker[greeting]("greet", nil, append([]kubequeue.WorkerOption{kubequeue.WithImage("registry.example.com/app:v1")}, tt.worker...)...)
			}
			job := build(t, w, greeting{}, tt.call...)
			require.Equal(t, tt.want, job.Spec.PodFailurePolicy)
		})
	}
}

// TestQueue_Build_DollarsEscapedOnlyInEnv checks that '$' is written
// \u0024 only in the environment variable, where the kubelet expands
// $(NAME) and $$, and that each size limit counts what is stored: the
// escaped form against MaxEnvPayloadSize, the payload as it is in the
// Secret against MaxPayloadSize.
func TestQueue_Build_DollarsEscapedOnlyInEnv(t *testing.T) {
	t.Parallel()
	w := kubequeue.NewWorker(resizeName, func(context.Context, string) error { return nil }, kubequeue.WithImage(testImage))

	// n dollars encode as n+2 bytes, and as 6n+2 in the environment.
	const mostInEnv = (kubequeue.MaxEnvPayloadSize - 2) / 6
	job, err := buildQueue(t).Build(w, strings.Repeat("$", mostInEnv))
	require.NoError(t, err)
	require.Len(t, envOf(t, job, "KUBEQUEUE_PAYLOAD"), 6*mostInEnv+2)
	require.NotContains(t, envOf(t, job, "KUBEQUEUE_PAYLOAD"), "$")
	job, err = buildQueue(t).Build(w, strings.Repeat("$", mostInEnv+1))
	require.NoError(t, err)
	require.Equal(t, "/var/run/kubequeue/payload/payload.json", envOf(t, job, "KUBEQUEUE_PAYLOAD_FILE"),
		"a payload whose escaped form exceeds MaxEnvPayloadSize travels in a Secret")

	// A Secret holds up to MaxPayloadSize bytes of dollars, as they are.
	most := strings.Repeat("$", kubequeue.MaxPayloadSize-2)
	_, err = buildQueue(t).Build(w, most)
	require.NoError(t, err)
	_, err = buildQueue(t).Build(w, most+"$")
	require.ErrorIs(t, err, kubequeue.ErrPayloadTooLarge)

	for _, opts := range [][]kubequeue.EnqueueOption{nil, {kubequeue.WithSensitivePayload()}} {
		text := "costs $$5 and $(HOME) " + strings.Repeat("$", 200_000)
		if opts != nil {
			text = "costs $$5 and $(HOME)"
		}
		client := fake.NewClientset()
		_, err := newQueue(t, client).Enqueue(t.Context(), w, text, opts...)
		require.NoError(t, err)
		secrets, err := client.CoreV1().Secrets(kubequeue.DefaultNamespace).List(t.Context(), metav1.ListOptions{})
		require.NoError(t, err)
		require.Len(t, secrets.Items, 1)
		stored := string(secrets.Items[0].Data["payload.json"])
		require.NotContains(t, stored, `\u0024`, "no kubelet expands a Secret's files")
		var got string
		require.NoError(t, json.Unmarshal([]byte(stored), &got))
		require.Equal(t, text, got)
		_, err = kubequeuetest.Perform(t.Context(), kubequeue.NewWorker(resizeName, func(_ context.Context, s string) error {
			if s != text {
				return fmt.Errorf("performed with %d bytes, want the %d enqueued", len(s), len(text))
			}
			return nil
		}, kubequeue.WithImage(testImage)), text, opts...)
		require.NoError(t, err)
	}
}
