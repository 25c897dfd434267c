package kubequeue_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilrand "k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/ptr"

	"github.com/kubequeue/kubequeue"
	"github.com/kubequeue/kubequeue/kubequeuetest"
)

// Identifiers in this file start with "js" so that they cannot collide with
// the helpers of the other _test.go files of package kubequeue_test.

// jsArgs is the payload type of the workers in this file.
type jsArgs struct {
	ID   int    `json:"id"`
	Note string `json:"note,omitempty"`
}

// jsOther is a payload type no worker in this file takes.
type jsOther struct {
	ID int `json:"id"`
}

func jsPerform(context.Context, jsArgs) error { return nil }

const (
	jsWorkerName = "resize"
	jsImage      = "registry.example.com/team/app:v1.2.3"
	jsDigest     = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
)

// jsWorker declares a valid worker named jsWorkerName with jsImage and opts.
func jsWorker(t *testing.T, opts ...kubequeue.WorkerOption) *kubequeue.Worker[jsArgs] {
	t.Helper()
	all := append([]kubequeue.WorkerOption{kubequeue.WithImage(jsImage)}, opts...)
	w := kubequeue.NewWorker(jsWorkerName, jsPerform, all...)
	require.NoError(t, w.Validate())
	return w
}

// jsContainer returns the Job's only container.
func jsContainer(t *testing.T, job *batchv1.Job) corev1.Container {
	t.Helper()
	require.Len(t, job.Spec.Template.Spec.Containers, 1)
	return job.Spec.Template.Spec.Containers[0]
}

// jsEnv returns the value of the container's variable name, which must be
// set with a plain value.
func jsEnv(t *testing.T, job *batchv1.Job, name string) string {
	t.Helper()
	for _, e := range jsContainer(t, job).Env {
		if e.Name == name {
			require.Nil(t, e.ValueFrom, "variable %s", name)
			return e.Value
		}
	}
	require.FailNow(t, "variable not set", "no %s in the container's environment", name)
	return ""
}

// jsUserEnv returns the container's variables after KUBEQUEUE_WORKER and
// KUBEQUEUE_PAYLOAD, which it requires to come first.
func jsUserEnv(t *testing.T, job *batchv1.Job) []corev1.EnvVar {
	t.Helper()
	env := jsContainer(t, job).Env
	require.GreaterOrEqual(t, len(env), 2)
	require.Equal(t, "KUBEQUEUE_WORKER", env[0].Name)
	require.Equal(t, "KUBEQUEUE_PAYLOAD", env[1].Name)
	return env[2:]
}

// jsQuantities renders a resource list as canonical strings, nil for nil.
func jsQuantities(list corev1.ResourceList) map[corev1.ResourceName]string {
	if list == nil {
		return nil
	}
	out := make(map[corev1.ResourceName]string, len(list))
	for name, q := range list {
		out[name] = q.String()
	}
	return out
}

// jsLabels returns the labels kubequeue sets for worker, plus extra.
func jsLabels(worker string, extra map[string]string) map[string]string {
	out := map[string]string{
		kubequeue.LabelManagedBy: "kubequeue",
		kubequeue.LabelWorker:    worker,
	}
	for k, v := range extra {
		out[k] = v
	}
	return out
}

// jsValidationErrors returns every *ValidationError in err's tree.
func jsValidationErrors(err error) []*kubequeue.ValidationError {
	var out []*kubequeue.ValidationError
	var walk func(error)
	walk = func(e error) {
		switch e := e.(type) { //nolint:errorlint // walking the tree on purpose
		case nil:
		case *kubequeue.ValidationError:
			out = append(out, e)
		case interface{ Unwrap() []error }:
			for _, inner := range e.Unwrap() {
				walk(inner)
			}
		case interface{ Unwrap() error }:
			walk(e.Unwrap())
		}
	}
	walk(err)
	return out
}

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
	baseLabels := jsLabels(jsWorkerName, nil)

	tests := []struct {
		name  string
		opts  []kubequeue.WorkerOption
		call  []kubequeue.EnqueueOption
		check func(t *testing.T, job *batchv1.Job)
	}{
		{
			name: "WithImage",
			opts: []kubequeue.WorkerOption{kubequeue.WithImage("registry.example.com:5000/other/app@" + jsDigest)},
			check: func(t *testing.T, job *batchv1.Job) {
				require.Equal(t, "registry.example.com:5000/other/app@"+jsDigest, jsContainer(t, job).Image)
			},
		},
		{
			name: "WithContainerName",
			opts: []kubequeue.WorkerOption{kubequeue.WithContainerName("resizer")},
			check: func(t *testing.T, job *batchv1.Job) {
				require.Equal(t, "resizer", jsContainer(t, job).Name)
			},
		},
		{
			name: "WithCommand",
			opts: []kubequeue.WorkerOption{kubequeue.WithCommand("/bin/app", "work")},
			check: func(t *testing.T, job *batchv1.Job) {
				c := jsContainer(t, job)
				require.Equal(t, []string{"/bin/app", "work"}, c.Command)
				require.Nil(t, c.Args)
			},
		},
		{
			name: "WithCommandRepeatedReplaces",
			opts: []kubequeue.WorkerOption{kubequeue.WithCommand("/bin/old"), kubequeue.WithCommand("/bin/new", "-x")},
			check: func(t *testing.T, job *batchv1.Job) {
				require.Equal(t, []string{"/bin/new", "-x"}, jsContainer(t, job).Command)
			},
		},
		{
			name: "WithArgs",
			opts: []kubequeue.WorkerOption{kubequeue.WithArgs("--verbose", "-n=1", "")},
			check: func(t *testing.T, job *batchv1.Job) {
				c := jsContainer(t, job)
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
				}, jsUserEnv(t, job))
				require.Equal(t, jsWorkerName, jsEnv(t, job, "KUBEQUEUE_WORKER"))
				require.JSONEq(t, `{"id":7}`, jsEnv(t, job, "KUBEQUEUE_PAYLOAD"))
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
				env := jsUserEnv(t, job)
				require.Equal(t, []corev1.EnvVar{{Name: "FIRST", Value: "1"}, secretVar, fieldVar, {Name: "LAST", Value: "3"}}, env)
				require.NotSame(t, secretVar.ValueFrom, env[1].ValueFrom)
			},
		},
		{
			name: "WithEnvFromConfigMap",
			opts: []kubequeue.WorkerOption{kubequeue.WithEnvFromConfigMap("app-config")},
			check: func(t *testing.T, job *batchv1.Job) {
				require.Equal(t, []corev1.EnvFromSource{configMapEnv}, jsContainer(t, job).EnvFrom)
			},
		},
		{
			name: "WithEnvFromSecret",
			opts: []kubequeue.WorkerOption{kubequeue.WithEnvFromSecret("app-secrets")},
			check: func(t *testing.T, job *batchv1.Job) {
				require.Equal(t, []corev1.EnvFromSource{secretEnv}, jsContainer(t, job).EnvFrom)
			},
		},
		{
			name: "WithEnvFromSecretAndConfigMap",
			opts: []kubequeue.WorkerOption{
				kubequeue.WithEnvFromSecret("app-secrets"),
				kubequeue.WithEnvFromConfigMap("app-config"),
			},
			check: func(t *testing.T, job *batchv1.Job) {
				require.Equal(t, []corev1.EnvFromSource{secretEnv, configMapEnv}, jsContainer(t, job).EnvFrom)
				require.Empty(t, jsUserEnv(t, job))
			},
		},
		{
			name: "WithCPU",
			opts: []kubequeue.WorkerOption{kubequeue.WithCPU("250m", "1")},
			check: func(t *testing.T, job *batchv1.Job) {
				r := jsContainer(t, job).Resources
				require.Equal(t, map[corev1.ResourceName]string{corev1.ResourceCPU: "250m"}, jsQuantities(r.Requests))
				require.Equal(t, map[corev1.ResourceName]string{corev1.ResourceCPU: "1"}, jsQuantities(r.Limits))
			},
		},
		{
			name: "WithCPURequestOnly",
			opts: []kubequeue.WorkerOption{kubequeue.WithCPU("0.5", "")},
			check: func(t *testing.T, job *batchv1.Job) {
				r := jsContainer(t, job).Resources
				require.Equal(t, map[corev1.ResourceName]string{corev1.ResourceCPU: "500m"}, jsQuantities(r.Requests))
				require.Nil(t, r.Limits)
			},
		},
		{
			name: "WithMemory",
			opts: []kubequeue.WorkerOption{kubequeue.WithMemory("256Mi", "512Mi")},
			check: func(t *testing.T, job *batchv1.Job) {
				r := jsContainer(t, job).Resources
				require.Equal(t, map[corev1.ResourceName]string{corev1.ResourceMemory: "256Mi"}, jsQuantities(r.Requests))
				require.Equal(t, map[corev1.ResourceName]string{corev1.ResourceMemory: "512Mi"}, jsQuantities(r.Limits))
			},
		},
		{
			name: "WithMemoryRequestOnly",
			opts: []kubequeue.WorkerOption{kubequeue.WithMemory("500M", "")},
			check: func(t *testing.T, job *batchv1.Job) {
				r := jsContainer(t, job).Resources
				require.Equal(t, map[corev1.ResourceName]string{corev1.ResourceMemory: "500M"}, jsQuantities(r.Requests))
				require.Nil(t, r.Limits)
			},
		},
		{
			name: "WithMemoryLimitOnly",
			opts: []kubequeue.WorkerOption{kubequeue.WithMemory("", "1Gi")},
			check: func(t *testing.T, job *batchv1.Job) {
				r := jsContainer(t, job).Resources
				require.Nil(t, r.Requests)
				require.Equal(t, map[corev1.ResourceName]string{corev1.ResourceMemory: "1Gi"}, jsQuantities(r.Limits))
			},
		},
		{
			name: "WithCPUAndMemory",
			opts: []kubequeue.WorkerOption{kubequeue.WithCPU("100m", ""), kubequeue.WithMemory("64Mi", "128Mi")},
			check: func(t *testing.T, job *batchv1.Job) {
				r := jsContainer(t, job).Resources
				require.Equal(t, map[corev1.ResourceName]string{corev1.ResourceCPU: "100m", corev1.ResourceMemory: "64Mi"}, jsQuantities(r.Requests))
				require.Equal(t, map[corev1.ResourceName]string{corev1.ResourceMemory: "128Mi"}, jsQuantities(r.Limits))
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
				require.Equal(t, mounts, jsContainer(t, job).VolumeMounts)
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
				require.Equal(t, jsLabels(jsWorkerName, map[string]string{"team": "imaging", "example.com/tier": "batch"}), job.Labels)
				require.Equal(t, baseLabels, job.Spec.Template.Labels, "job labels are not copied to pods")
			},
		},
		{
			name: "WithLabelsOnCall",
			call: []kubequeue.EnqueueOption{kubequeue.WithLabels(map[string]string{"request": "r-1"})},
			check: func(t *testing.T, job *batchv1.Job) {
				require.Equal(t, jsLabels(jsWorkerName, map[string]string{"request": "r-1"}), job.Labels)
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
				require.Equal(t, jsLabels(jsWorkerName, map[string]string{"app": "resize"}), job.Spec.Template.Labels)
				require.Equal(t, baseLabels, job.Labels, "pod labels are not copied to the job")
			},
		},
		{
			name: "WithPodLabelsOnCall",
			call: []kubequeue.EnqueueOption{kubequeue.WithPodLabels(map[string]string{"request": "r-1"})},
			check: func(t *testing.T, job *batchv1.Job) {
				require.Equal(t, jsLabels(jsWorkerName, map[string]string{"request": "r-1"}), job.Spec.Template.Labels)
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
				if job.Labels[kubequeue.LabelWorker] == jsWorkerName && len(job.Spec.Template.Spec.Containers) == 1 {
					job.Spec.Parallelism = ptr.To(int32(1))
					job.Spec.Template.Spec.Containers[0].ImagePullPolicy = corev1.PullAlways
				}
			})},
			check: func(t *testing.T, job *batchv1.Job) {
				require.Equal(t, ptr.To(int32(1)), job.Spec.Parallelism)
				require.Equal(t, corev1.PullAlways, jsContainer(t, job).ImagePullPolicy)
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
			w := jsWorker(t, tt.opts...)
			job := build(t, w, jsArgs{ID: 7}, tt.call...)
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
	w := jsWorker(t,
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
	workerLabels := jsLabels(jsWorkerName, map[string]string{"team": "imaging", "tier": "batch"})
	workerPodLabels := jsLabels(jsWorkerName, map[string]string{"app": "resize", "tier": "batch"})
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
			require.True(t, strings.HasPrefix(job.Name, jsWorkerName+"-"), job.Name)
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
				require.Equal(t, jsLabels(jsWorkerName, map[string]string{"team": "imaging", "tier": "urgent", "request": "r-1"}), job.Labels)
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
				require.Equal(t, jsLabels(jsWorkerName, map[string]string{"app": "resize", "tier": "urgent", "request": "r-1"}), job.Spec.Template.Labels)
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
				require.Equal(t, jsLabels(jsWorkerName, map[string]string{"team": "imaging", "tier": "batch", "a": "1", "b": "2"}), job.Labels)
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
				require.Equal(t, jsLabels(jsWorkerName, map[string]string{"team": "video", "tier": "batch"}), job.Labels)
				require.Equal(t, map[string]string{"owner": "video", "note": "worker", "order": "worker-1;worker-2;call;"}, job.Annotations)
				require.Equal(t, jsLabels(jsWorkerName, map[string]string{"app": "resize-v2", "tier": "batch"}), job.Spec.Template.Labels)
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
			tt.check(t, build(t, w, jsArgs{ID: 1}, tt.call...))
		})
	}

	t.Run("WorkerUnchanged", func(t *testing.T) {
		t.Parallel()
		before := build(t, w, jsArgs{ID: 1}, kubequeue.WithJobName("same"))
		want := before.DeepCopy()
		for _, tt := range tests {
			build(t, w, jsArgs{ID: 1}, tt.call...)
		}
		after := build(t, w, jsArgs{ID: 1}, kubequeue.WithJobName("same"))
		require.Equal(t, want, after)
		require.Equal(t, want, before)
		require.NoError(t, w.Validate())
	})
}

func TestQueue_Build_Defaults(t *testing.T) {
	t.Parallel()

	t.Run("Job", func(t *testing.T) {
		t.Parallel()
		job := build(t, jsWorker(t), jsArgs{ID: 3})

		require.Equal(t, metav1.TypeMeta{APIVersion: "batch/v1", Kind: "Job"}, job.TypeMeta)
		require.Equal(t, kubequeue.DefaultNamespace, job.Namespace)
		require.Equal(t, "default", job.Namespace)
		require.Equal(t, jsLabels(jsWorkerName, nil), job.Labels)
		require.Equal(t, map[string]string{kubequeue.LabelManagedBy: "kubequeue", kubequeue.LabelWorker: jsWorkerName}, job.Spec.Template.Labels)
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

		c := jsContainer(t, job)
		require.Equal(t, kubequeue.DefaultContainerName, c.Name)
		require.Equal(t, "worker", c.Name)
		require.Equal(t, jsImage, c.Image)
		require.Nil(t, c.Command)
		require.Nil(t, c.Args)
		require.Nil(t, c.EnvFrom)
		require.Nil(t, c.VolumeMounts)
		require.Equal(t, corev1.ResourceRequirements{}, c.Resources)
		require.Equal(t, corev1.TerminationMessageFallbackToLogsOnError, c.TerminationMessagePolicy)
		require.Equal(t, []corev1.EnvVar{
			{Name: "KUBEQUEUE_WORKER", Value: jsWorkerName},
			{Name: "KUBEQUEUE_PAYLOAD", Value: `{"id":3}`},
		}, c.Env)
	})

	t.Run("QueueDefaultNamespace", func(t *testing.T) {
		t.Parallel()
		q := buildQueue(t, kubequeue.WithDefaultNamespace("batch"))

		job, err := q.Build(jsWorker(t), jsArgs{})
		require.NoError(t, err)
		require.Equal(t, "batch", job.Namespace)

		job, err = q.Build(jsWorker(t, kubequeue.WithNamespace("worker-ns")), jsArgs{})
		require.NoError(t, err)
		require.Equal(t, "worker-ns", job.Namespace)

		job, err = q.Build(jsWorker(t, kubequeue.WithNamespace("worker-ns")), jsArgs{}, kubequeue.WithNamespace("call-ns"))
		require.NoError(t, err)
		require.Equal(t, "call-ns", job.Namespace)

		job, err = q.Build(jsWorker(t), jsArgs{}, kubequeue.WithNamespace("call-ns"))
		require.NoError(t, err)
		require.Equal(t, "call-ns", job.Namespace)
	})

	t.Run("NilOptionsIgnored", func(t *testing.T) {
		t.Parallel()
		w := kubequeue.NewWorker(jsWorkerName, jsPerform, nil, kubequeue.WithImage(jsImage), nil)
		require.NoError(t, w.Validate())
		job, err := buildQueue(t, nil).Build(w, jsArgs{}, nil)
		require.NoError(t, err)
		require.Equal(t, kubequeue.DefaultNamespace, job.Namespace)
	})
}

// jsWorkerNameOfLen returns a valid worker name of n characters: letters and
// digits, with a '-' now and then but never first or last.
func jsWorkerNameOfLen(n int) string {
	b := make([]byte, n)
	for i := range b {
		switch {
		case i%7 == 3 && i != n-1:
			b[i] = '-'
		case i%2 == 0:
			b[i] = 'a'
		default:
			b[i] = '0' + byte(i%10)
		}
	}
	return string(b)
}

func TestQueue_Build_GeneratedNames(t *testing.T) {
	t.Parallel()

	t.Run("EveryLength", func(t *testing.T) {
		t.Parallel()
		require.Equal(t, 52, kubequeue.MaxWorkerNameLen)
		q := buildQueue(t)
		for n := 1; n <= kubequeue.MaxWorkerNameLen; n++ {
			worker := jsWorkerNameOfLen(n)
			require.Len(t, worker, n)
			w := kubequeue.NewWorker(worker, jsPerform, kubequeue.WithImage(jsImage))
			require.NoError(t, w.Validate(), "worker name %q", worker)
			for range 40 {
				job, err := q.Build(w, jsArgs{})
				require.NoError(t, err)
				name := job.Name
				require.Empty(t, validation.IsDNS1123Label(name), "job name %q", name)
				require.Empty(t, validation.IsValidLabelValue(name), "job name %q", name)
				require.LessOrEqual(t, len(name), 63, "job name %q", name)
				require.True(t, strings.HasPrefix(name, worker+"-"), "job name %q", name)
				require.Len(t, name, n+1+10, "job name %q: a 10-character suffix", name)
				require.Equal(t, worker, job.Labels[kubequeue.LabelWorker])
				require.Equal(t, worker, job.Spec.Template.Labels[kubequeue.LabelWorker])
			}
		}
	})

	t.Run("TooLong", func(t *testing.T) {
		t.Parallel()
		worker := jsWorkerNameOfLen(kubequeue.MaxWorkerNameLen + 1)
		require.Empty(t, validation.IsDNS1123Label(worker), "only the length is wrong")
		w := kubequeue.NewWorker(worker, jsPerform, kubequeue.WithImage(jsImage))
		err := w.Validate()
		require.ErrorIs(t, err, kubequeue.ErrInvalidWorker)
		require.ErrorContains(t, err, fmt.Sprint(kubequeue.MaxWorkerNameLen))
		var ve *kubequeue.ValidationError
		require.ErrorAs(t, err, &ve)
		require.Equal(t, "name", ve.Field)
		require.Equal(t, worker, ve.Value)

		job, buildErr := buildQueue(t).Build(w, jsArgs{})
		require.Nil(t, job)
		require.Equal(t, err, buildErr)
	})

	t.Run("Invalid", func(t *testing.T) {
		t.Parallel()
		tests := []struct {
			name   string
			worker string
		}{
			{name: "Empty", worker: ""},
			{name: "UpperCase", worker: "Resize"},
			{name: "Underscore", worker: "resize_image"},
			{name: "LeadingDash", worker: "-resize"},
			{name: "TrailingDash", worker: "resize-"},
			{name: "OnlyDash", worker: "-"},
			{name: "Dot", worker: "resize.image"},
			{name: "Space", worker: "resize image"},
			{name: "NonASCII", worker: "résumé"},
			{name: "LongerThanALabel", worker: strings.Repeat("a", 64)},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				var w *kubequeue.Worker[jsArgs]
				require.NotPanics(t, func() { w = kubequeue.NewWorker(tt.worker, jsPerform, kubequeue.WithImage(jsImage)) })
				err := w.Validate()
				require.ErrorIs(t, err, kubequeue.ErrInvalidWorker)
				errs := jsValidationErrors(err)
				require.NotEmpty(t, errs)
				for _, ve := range errs {
					require.Equal(t, "name", ve.Field)
					require.Equal(t, tt.worker, ve.Value)
				}
				job, buildErr := buildQueue(t).Build(w, jsArgs{})
				require.Nil(t, job)
				require.ErrorIs(t, buildErr, kubequeue.ErrInvalidWorker)
			})
		}
	})

	t.Run("RandSourceReproducible", func(t *testing.T) {
		t.Parallel()
		w := jsWorker(t)
		names := func(q *kubequeue.Queue) []string {
			out := make([]string, 50)
			for i := range out {
				job, err := q.Build(w, jsArgs{})
				require.NoError(t, err)
				out[i] = job.Name
			}
			return out
		}
		first := names(buildQueue(t, kubequeue.WithRandSource(rand.NewPCG(1, 2))))
		second := names(buildQueue(t, kubequeue.WithRandSource(rand.NewPCG(1, 2))))
		other := names(buildQueue(t, kubequeue.WithRandSource(rand.NewPCG(3, 4))))
		require.Equal(t, first, second)
		require.NotEqual(t, first, other)
		seen := map[string]bool{}
		for _, n := range first {
			seen[n] = true
		}
		require.Len(t, seen, len(first), "a seeded source still gives distinct names")
	})

	t.Run("RandSourceConcurrent", func(t *testing.T) {
		t.Parallel()
		w := jsWorker(t)
		q := buildQueue(t, kubequeue.WithRandSource(rand.NewPCG(5, 6)))
		var (
			mu   sync.Mutex
			seen = map[string]bool{}
			wg   sync.WaitGroup
		)
		for range 8 {
			wg.Go(func() {
				for range 100 {
					job, err := q.Build(w, jsArgs{})
					if err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					seen[job.Name] = true
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		require.Len(t, seen, 800)
	})

	t.Run("NoDuplicates", func(t *testing.T) {
		t.Parallel()
		w := jsWorker(t)
		q := buildQueue(t)
		seen := make(map[string]bool, 10000)
		for range 10000 {
			job, err := q.Build(w, jsArgs{})
			require.NoError(t, err)
			require.False(t, seen[job.Name], "duplicate name %q", job.Name)
			seen[job.Name] = true
		}
	})
}

func TestNewWorker_Invalid(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name        string
		worker      string
		nilPerform  bool
		opts        []kubequeue.WorkerOption
		field       string
		value       string
		errContains string
	}{
		{
			name:   "BadName",
			worker: "Resize_Image",
			opts:   []kubequeue.WorkerOption{kubequeue.WithImage(jsImage)},
			field:  "name",
			value:  "Resize_Image",
		},
		{
			name:        "MissingImage",
			worker:      jsWorkerName,
			field:       "WithImage",
			value:       "",
			errContains: "must not be empty",
		},
		{
			name:        "ImageUpperCaseRepository",
			worker:      jsWorkerName,
			opts:        []kubequeue.WorkerOption{kubequeue.WithImage("registry.example.com/Team/app:v1")},
			field:       "WithImage",
			value:       "registry.example.com/Team/app:v1",
			errContains: "lower-case",
		},
		{
			name:        "ImageWhitespace",
			worker:      jsWorkerName,
			opts:        []kubequeue.WorkerOption{kubequeue.WithImage("registry.example.com/app :v1")},
			field:       "WithImage",
			value:       "registry.example.com/app :v1",
			errContains: "whitespace",
		},
		{
			name:        "ImageTrailingNewline",
			worker:      jsWorkerName,
			opts:        []kubequeue.WorkerOption{kubequeue.WithImage("perl\n")},
			field:       "WithImage",
			value:       "perl\n",
			errContains: "whitespace",
		},
		{
			name:        "CPUUnparsable",
			worker:      jsWorkerName,
			opts:        []kubequeue.WorkerOption{kubequeue.WithImage(jsImage), kubequeue.WithCPU("lots", "")},
			field:       "WithCPU request",
			value:       "lots",
			errContains: "quantity",
		},
		{
			name:        "MemoryNegative",
			worker:      jsWorkerName,
			opts:        []kubequeue.WorkerOption{kubequeue.WithImage(jsImage), kubequeue.WithMemory("", "-1Gi")},
			field:       "WithMemory limit",
			value:       "-1Gi",
			errContains: "negative",
		},
		{
			name:        "MemoryMilli",
			worker:      jsWorkerName,
			opts:        []kubequeue.WorkerOption{kubequeue.WithImage(jsImage), kubequeue.WithMemory("100m", "")},
			field:       "WithMemory request",
			value:       "100m",
			errContains: `"100Mi"`,
		},
		{
			name:        "MemoryFraction",
			worker:      jsWorkerName,
			opts:        []kubequeue.WorkerOption{kubequeue.WithImage(jsImage), kubequeue.WithMemory("", "0.5")},
			field:       "WithMemory limit",
			value:       "0.5",
			errContains: "not a whole number of bytes",
		},
		{
			name:        "CPURequestAboveLimit",
			worker:      jsWorkerName,
			opts:        []kubequeue.WorkerOption{kubequeue.WithImage(jsImage), kubequeue.WithCPU("2", "1500m")},
			field:       "WithCPU request",
			value:       "2",
			errContains: `"1500m"`,
		},
		{
			name:   "MemoryRequestAboveLimit",
			worker: jsWorkerName,
			opts:   []kubequeue.WorkerOption{kubequeue.WithImage(jsImage), kubequeue.WithMemory("1Gi", "512Mi")},
			field:  "WithMemory request",
			value:  "1Gi",
		},
		{
			name:        "NegativeBackoffLimit",
			worker:      jsWorkerName,
			opts:        []kubequeue.WorkerOption{kubequeue.WithImage(jsImage), kubequeue.WithBackoffLimit(-1)},
			field:       "WithBackoffLimit",
			value:       "-1",
			errContains: "negative",
		},
		{
			name:        "ZeroActiveDeadline",
			worker:      jsWorkerName,
			opts:        []kubequeue.WorkerOption{kubequeue.WithImage(jsImage), kubequeue.WithActiveDeadline(0)},
			field:       "WithActiveDeadline",
			value:       "0s",
			errContains: "positive",
		},
		{
			name:        "NegativeActiveDeadline",
			worker:      jsWorkerName,
			opts:        []kubequeue.WorkerOption{kubequeue.WithImage(jsImage), kubequeue.WithActiveDeadline(-time.Second)},
			field:       "WithActiveDeadline",
			value:       "-1s",
			errContains: "positive",
		},
		{
			name:        "NegativeTTLAfterFinished",
			worker:      jsWorkerName,
			opts:        []kubequeue.WorkerOption{kubequeue.WithImage(jsImage), kubequeue.WithTTLAfterFinished(-time.Minute)},
			field:       "WithTTLAfterFinished",
			value:       "-1m0s",
			errContains: "negative",
		},
		{
			name:        "RestartPolicyAlways",
			worker:      jsWorkerName,
			opts:        []kubequeue.WorkerOption{kubequeue.WithImage(jsImage), kubequeue.WithRestartPolicy(corev1.RestartPolicyAlways)},
			field:       "WithRestartPolicy",
			value:       "Always",
			errContains: "Never or OnFailure",
		},
		{
			name:        "EnvReservedPrefix",
			worker:      jsWorkerName,
			opts:        []kubequeue.WorkerOption{kubequeue.WithImage(jsImage), kubequeue.WithEnv("KUBEQUEUE_X", "1")},
			field:       "environment variable",
			value:       "KUBEQUEUE_X",
			errContains: "reserved",
		},
		{
			name:   "EnvVarsReservedPayload",
			worker: jsWorkerName,
			opts: []kubequeue.WorkerOption{kubequeue.WithImage(jsImage), kubequeue.WithEnvVars(corev1.EnvVar{
				Name: "KUBEQUEUE_PAYLOAD", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}},
			})},
			field:       "environment variable",
			value:       "KUBEQUEUE_PAYLOAD",
			errContains: "reserved",
		},
		{
			name:   "EnvInvalidName",
			worker: jsWorkerName,
			opts:   []kubequeue.WorkerOption{kubequeue.WithImage(jsImage), kubequeue.WithEnv("MY VAR", "1")},
			field:  "environment variable",
			value:  "MY VAR",
		},
		{
			name:   "EnvFromConfigMapInvalidName",
			worker: jsWorkerName,
			opts:   []kubequeue.WorkerOption{kubequeue.WithImage(jsImage), kubequeue.WithEnvFromConfigMap("App_Config")},
			field:  "WithEnvFromConfigMap",
			value:  "App_Config",
		},
		{
			name:        "LabelReservedWorkerKey",
			worker:      jsWorkerName,
			opts:        []kubequeue.WorkerOption{kubequeue.WithImage(jsImage), kubequeue.WithLabels(map[string]string{kubequeue.LabelWorker: "other"})},
			field:       "WithLabels",
			value:       "kubequeue.io/worker=other",
			errContains: "set by kubequeue",
		},
		{
			name:        "PodLabelReservedManagedByKey",
			worker:      jsWorkerName,
			opts:        []kubequeue.WorkerOption{kubequeue.WithImage(jsImage), kubequeue.WithPodLabels(map[string]string{kubequeue.LabelManagedBy: "helm"})},
			field:       "WithPodLabels",
			value:       "app.kubernetes.io/managed-by=helm",
			errContains: "set by kubequeue",
		},
		{
			name:   "LabelInvalidValue",
			worker: jsWorkerName,
			opts:   []kubequeue.WorkerOption{kubequeue.WithImage(jsImage), kubequeue.WithLabels(map[string]string{"team": "-bad-"})},
			field:  "WithLabels",
			value:  "-bad-",
		},
		{
			name:   "NamespaceInvalid",
			worker: jsWorkerName,
			opts:   []kubequeue.WorkerOption{kubequeue.WithImage(jsImage), kubequeue.WithNamespace("Jobs")},
			field:  "WithNamespace",
			value:  "Jobs",
		},
		{
			name:   "VolumeMountUnknownVolume",
			worker: jsWorkerName,
			opts: []kubequeue.WorkerOption{
				kubequeue.WithImage(jsImage),
				kubequeue.WithVolumes(corev1.Volume{Name: "scratch", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}),
				kubequeue.WithVolumeMounts(corev1.VolumeMount{Name: "data", MountPath: "/data"}),
			},
			field:       "WithVolumeMounts name",
			value:       "data",
			errContains: "WithVolumes",
		},
		{
			name:        "VolumeWithoutSource",
			worker:      jsWorkerName,
			opts:        []kubequeue.WorkerOption{kubequeue.WithImage(jsImage), kubequeue.WithVolumes(corev1.Volume{Name: "data"})},
			field:       "WithVolumes",
			value:       "data",
			errContains: "exactly one volume source",
		},
		{
			name:   "VolumeMountPathTwice",
			worker: jsWorkerName,
			opts: []kubequeue.WorkerOption{
				kubequeue.WithImage(jsImage),
				kubequeue.WithVolumes(
					corev1.Volume{Name: "a", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
					corev1.Volume{Name: "b", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
				),
				kubequeue.WithVolumeMounts(corev1.VolumeMount{Name: "a", MountPath: "/data"}, corev1.VolumeMount{Name: "b", MountPath: "/data"}),
			},
			field:       "WithVolumeMounts mountPath",
			value:       "/data",
			errContains: "more than one mount",
		},
		{
			name:   "VolumeMountSubPathEscapes",
			worker: jsWorkerName,
			opts: []kubequeue.WorkerOption{
				kubequeue.WithImage(jsImage),
				kubequeue.WithVolumes(corev1.Volume{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}),
				kubequeue.WithVolumeMounts(corev1.VolumeMount{Name: "data", MountPath: "/data", SubPath: "../etc"}),
			},
			field:       "WithVolumeMounts subPath",
			value:       "../etc",
			errContains: "without '..'",
		},
		{
			name:   "EnvValueAndValueFrom",
			worker: jsWorkerName,
			opts: []kubequeue.WorkerOption{kubequeue.WithImage(jsImage), kubequeue.WithEnvVars(corev1.EnvVar{Name: "TOKEN", Value: "x", ValueFrom: &corev1.EnvVarSource{
				SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "s"}, Key: "k"},
			}})},
			field:       "environment variable",
			value:       "TOKEN",
			errContains: "both value and valueFrom",
		},
		{
			name:        "EnvEmptyValueFrom",
			worker:      jsWorkerName,
			opts:        []kubequeue.WorkerOption{kubequeue.WithImage(jsImage), kubequeue.WithEnvVars(corev1.EnvVar{Name: "TOKEN", ValueFrom: &corev1.EnvVarSource{}})},
			field:       "environment variable",
			value:       "TOKEN",
			errContains: "exactly one source, not 0",
		},
		{
			name:        "TolerationExistsWithValue",
			worker:      jsWorkerName,
			opts:        []kubequeue.WorkerOption{kubequeue.WithImage(jsImage), kubequeue.WithTolerations(corev1.Toleration{Key: "gpu", Operator: corev1.TolerationOpExists, Value: "x"})},
			field:       "WithTolerations value",
			value:       "x",
			errContains: "must be empty",
		},
		{
			name:   "TolerationBadKey",
			worker: jsWorkerName,
			opts:   []kubequeue.WorkerOption{kubequeue.WithImage(jsImage), kubequeue.WithTolerations(corev1.Toleration{Key: "bad key!", Operator: corev1.TolerationOpExists})},
			field:  "WithTolerations key",
			value:  "bad key!",
		},
		{
			name:   "TolerationBadEffect",
			worker: jsWorkerName,
			opts:   []kubequeue.WorkerOption{kubequeue.WithImage(jsImage), kubequeue.WithTolerations(corev1.Toleration{Key: "gpu", Operator: corev1.TolerationOpExists, Effect: "Nope"})},
			field:  "WithTolerations effect",
			value:  "Nope",
		},
		{
			name:   "TolerationSecondsWithoutNoExecute",
			worker: jsWorkerName,
			opts:   []kubequeue.WorkerOption{kubequeue.WithImage(jsImage), kubequeue.WithTolerations(corev1.Toleration{Key: "gpu", Operator: corev1.TolerationOpExists, TolerationSeconds: ptr.To(int64(5))})},
			field:  "WithTolerations tolerationSeconds",
			value:  "5",
		},
		{
			name:        "PodLabelSetByJobController",
			worker:      jsWorkerName,
			opts:        []kubequeue.WorkerOption{kubequeue.WithImage(jsImage), kubequeue.WithPodLabels(map[string]string{"batch.kubernetes.io/job-name": "x"})},
			field:       "WithPodLabels",
			value:       "batch.kubernetes.io/job-name=x",
			errContains: "Job controller",
		},
		{
			name:   "VolumeMountRelativePath",
			worker: jsWorkerName,
			opts: []kubequeue.WorkerOption{
				kubequeue.WithImage(jsImage),
				kubequeue.WithVolumes(corev1.Volume{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}),
				kubequeue.WithVolumeMounts(corev1.VolumeMount{Name: "data", MountPath: "data"}),
			},
			field:       "WithVolumeMounts mountPath",
			value:       "data",
			errContains: "absolute",
		},
		{
			name:        "NilPerformWithoutCommand",
			worker:      jsWorkerName,
			nilPerform:  true,
			opts:        []kubequeue.WorkerOption{kubequeue.WithImage(jsImage), kubequeue.WithArgs("--run")},
			field:       "perform",
			value:       "nil",
			errContains: "WithCommand",
		},
		{
			name:   "NilJobMutator",
			worker: jsWorkerName,
			opts:   []kubequeue.WorkerOption{kubequeue.WithImage(jsImage), kubequeue.WithJobMutator(nil)},
			field:  "WithJobMutator",
			value:  "nil",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			perform := jsPerform
			if tt.nilPerform {
				perform = nil
			}
			var w *kubequeue.Worker[jsArgs]
			require.NotPanics(t, func() { w = kubequeue.NewWorker(tt.worker, perform, tt.opts...) })

			err := w.Validate()
			require.ErrorIs(t, err, kubequeue.ErrInvalidWorker)
			require.NotErrorIs(t, err, kubequeue.ErrInvalidOption)
			var ve *kubequeue.ValidationError
			require.ErrorAs(t, err, &ve)
			require.Equal(t, tt.field, ve.Field)
			require.Equal(t, tt.value, ve.Value)
			require.Equal(t, tt.worker, ve.Worker)
			require.Len(t, jsValidationErrors(err), 1, "the case has exactly one problem: %v", err)
			if tt.errContains != "" {
				require.ErrorContains(t, err, tt.errContains)
			}

			job, buildErr := buildQueue(t).Build(w, jsArgs{ID: 1})
			require.Nil(t, job)
			require.Equal(t, err, buildErr)

			client := fake.NewClientset()
			handle, enqueueErr := newQueue(t, client).Enqueue(t.Context(), w, jsArgs{ID: 1})
			require.Equal(t, err, enqueueErr)
			require.Zero(t, handle)
			requireNoAPICall(t, client)
		})
	}

	t.Run("SeveralProblems", func(t *testing.T) {
		t.Parallel()
		var w *kubequeue.Worker[jsArgs]
		require.NotPanics(t, func() {
			w = kubequeue.NewWorker[jsArgs]("Bad_Name", nil,
				kubequeue.WithCPU("lots", ""),
				kubequeue.WithMemory("100m", ""),
				kubequeue.WithBackoffLimit(-1),
				kubequeue.WithRestartPolicy(corev1.RestartPolicyAlways),
				kubequeue.WithEnv("KUBEQUEUE_X", "1"),
				kubequeue.WithLabels(map[string]string{kubequeue.LabelWorker: "x"}),
				kubequeue.WithJobMutator(nil),
			)
		})
		err := w.Validate()
		require.ErrorIs(t, err, kubequeue.ErrInvalidWorker)
		fields := map[string]bool{}
		for _, ve := range jsValidationErrors(err) {
			fields[ve.Field] = true
		}
		require.Equal(t, map[string]bool{
			"name":                 true,
			"perform":              true,
			"WithImage":            true,
			"WithCPU request":      true,
			"WithMemory request":   true,
			"WithBackoffLimit":     true,
			"WithRestartPolicy":    true,
			"environment variable": true,
			"WithLabels":           true,
			"WithJobMutator":       true,
		}, fields)
		for _, s := range []string{"Bad_Name", "lots", "100Mi", "KUBEQUEUE_X", "WithJobMutator"} {
			require.ErrorContains(t, err, s)
		}
		_, buildErr := buildQueue(t).Build(w, jsArgs{})
		require.Equal(t, err, buildErr)
	})

	t.Run("NilWorker", func(t *testing.T) {
		t.Parallel()
		var w *kubequeue.Worker[jsArgs]
		require.NotPanics(t, func() {
			require.ErrorIs(t, w.Validate(), kubequeue.ErrInvalidWorker)
			require.Empty(t, w.Name())

			job, err := buildQueue(t).Build(w, jsArgs{})
			require.Nil(t, job)
			require.ErrorIs(t, err, kubequeue.ErrInvalidWorker)

			client := fake.NewClientset()
			handle, enqueueErr := newQueue(t, client).Enqueue(t.Context(), w, jsArgs{})
			require.ErrorIs(t, enqueueErr, kubequeue.ErrInvalidWorker)
			require.Equal(t, err, enqueueErr)
			require.Zero(t, handle)
			requireNoAPICall(t, client)
		})
	})

	t.Run("NilJob", func(t *testing.T) {
		t.Parallel()
		require.NotPanics(t, func() {
			job, err := buildQueue(t).Build(nil, jsArgs{})
			require.Nil(t, job)
			require.ErrorIs(t, err, kubequeue.ErrInvalidWorker)
		})
	})
}

func TestNewWorker_NilPerformWithCommand(t *testing.T) {
	t.Parallel()
	w := kubequeue.NewWorker[jsArgs](jsWorkerName, nil, kubequeue.WithImage("perl:5.40"), kubequeue.WithCommand("perl", "-e", "print 1"))
	require.NoError(t, w.Validate())
	job := build(t, w, jsArgs{ID: 2})
	require.Equal(t, []string{"perl", "-e", "print 1"}, jsContainer(t, job).Command)
	require.JSONEq(t, `{"id":2}`, jsEnv(t, job, "KUBEQUEUE_PAYLOAD"), "the payload is still in the environment")
}

// TestNewWorker_MemoryFractionCheckOverflow checks that a fraction of a byte
// is told exactly at every magnitude, also past the int64 range of milli
// values (about 9.2e15 bytes).
func TestNewWorker_MemoryFractionCheckOverflow(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		memory   string
		wantFrac bool
	}{
		{name: "OneExbibyte", memory: "1Ei"},
		{name: "NinePebibytes", memory: "9Pi"},
		{name: "EightPebibytes", memory: "8Pi"},
		{name: "TenExabytes", memory: "10E"},
		{name: "LargeFraction", memory: "239807672958224171.008", wantFrac: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			q := resource.MustParse(tt.memory)
			require.Positive(t, q.Sign())
			w := kubequeue.NewWorker(jsWorkerName, jsPerform, kubequeue.WithImage(jsImage), kubequeue.WithMemory(tt.memory, ""))
			err := w.Validate()
			if tt.wantFrac {
				require.ErrorIs(t, err, kubequeue.ErrInvalidWorker, "%s is a fraction of a byte", tt.memory)
				return
			}
			require.NoError(t, err, "%s is a whole number of bytes", tt.memory)
		})
	}
}

func TestQueue_Build_InvalidCallOptions(t *testing.T) {
	t.Parallel()
	w := jsWorker(t)

	tests := []struct {
		name  string
		call  []kubequeue.EnqueueOption
		field string
		value string
	}{
		{name: "JobNameUpperCase", call: []kubequeue.EnqueueOption{kubequeue.WithJobName("Resize-1")}, field: "WithJobName", value: "Resize-1"},
		{name: "JobNameUnderscore", call: []kubequeue.EnqueueOption{kubequeue.WithJobName("resize_1")}, field: "WithJobName", value: "resize_1"},
		{name: "JobNameLeadingDash", call: []kubequeue.EnqueueOption{kubequeue.WithJobName("-resize")}, field: "WithJobName", value: "-resize"},
		{name: "JobNameTooLong", call: []kubequeue.EnqueueOption{kubequeue.WithJobName(strings.Repeat("a", 64))}, field: "WithJobName", value: strings.Repeat("a", 64)},
		{name: "LabelInvalidValue", call: []kubequeue.EnqueueOption{kubequeue.WithLabels(map[string]string{"team": "-bad-"})}, field: "WithLabels", value: "-bad-"},
		{name: "LabelInvalidKey", call: []kubequeue.EnqueueOption{kubequeue.WithLabels(map[string]string{"bad key": "x"})}, field: "WithLabels", value: "bad key"},
		{name: "LabelReservedKey", call: []kubequeue.EnqueueOption{kubequeue.WithLabels(map[string]string{kubequeue.LabelWorker: "other"})}, field: "WithLabels", value: "kubequeue.io/worker=other"},
		{name: "PodLabelReservedKey", call: []kubequeue.EnqueueOption{kubequeue.WithPodLabels(map[string]string{kubequeue.LabelManagedBy: "me"})}, field: "WithPodLabels", value: "app.kubernetes.io/managed-by=me"},
		{name: "NegativeBackoffLimit", call: []kubequeue.EnqueueOption{kubequeue.WithBackoffLimit(-1)}, field: "WithBackoffLimit", value: "-1"},
		{name: "ZeroActiveDeadline", call: []kubequeue.EnqueueOption{kubequeue.WithActiveDeadline(0)}, field: "WithActiveDeadline", value: "0s"},
		{name: "NegativeTTLAfterFinished", call: []kubequeue.EnqueueOption{kubequeue.WithTTLAfterFinished(-time.Second)}, field: "WithTTLAfterFinished", value: "-1s"},
		{name: "NamespaceInvalid", call: []kubequeue.EnqueueOption{kubequeue.WithNamespace("bad ns")}, field: "WithNamespace", value: "bad ns"},
		{name: "NilJobMutator", call: []kubequeue.EnqueueOption{kubequeue.WithJobMutator(nil)}, field: "WithJobMutator", value: "nil"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			job, err := buildQueue(t).Build(w, jsArgs{ID: 1}, tt.call...)
			require.Nil(t, job)
			require.ErrorIs(t, err, kubequeue.ErrInvalidOption)
			require.NotErrorIs(t, err, kubequeue.ErrInvalidWorker)
			var ve *kubequeue.ValidationError
			require.ErrorAs(t, err, &ve)
			require.Equal(t, tt.field, ve.Field)
			require.Equal(t, tt.value, ve.Value)
			require.Equal(t, jsWorkerName, ve.Worker)
			require.Len(t, jsValidationErrors(err), 1, "the case has exactly one problem: %v", err)

			client := fake.NewClientset()
			handle, enqueueErr := newQueue(t, client).Enqueue(t.Context(), w, jsArgs{ID: 1}, tt.call...)
			require.Equal(t, err, enqueueErr)
			require.Zero(t, handle)
			requireNoAPICall(t, client)
		})
	}

	t.Run("SeveralProblems", func(t *testing.T) {
		t.Parallel()
		_, err := buildQueue(t).Build(w, jsArgs{},
			kubequeue.WithJobName("Bad"), kubequeue.WithBackoffLimit(-2), kubequeue.WithLabels(map[string]string{"k": "-v"}))
		require.ErrorIs(t, err, kubequeue.ErrInvalidOption)
		require.NotErrorIs(t, err, kubequeue.ErrInvalidWorker)
		require.Len(t, jsValidationErrors(err), 3)
	})

	t.Run("WorkerErrorFirst", func(t *testing.T) {
		t.Parallel()
		bad := kubequeue.NewWorker(jsWorkerName, jsPerform)
		_, err := buildQueue(t).Build(bad, jsArgs{}, kubequeue.WithBackoffLimit(-1))
		require.ErrorIs(t, err, kubequeue.ErrInvalidWorker)
	})
}

// Payload types for TestQueue_Build_Payload.
type (
	jsChanPayload struct {
		Name string
		C    chan int
	}
	jsFuncPayload struct{ F func() }
	jsNode        struct{ Next *jsNode }
	jsBadMarshal  struct{}
)

func (jsBadMarshal) MarshalJSON() ([]byte, error) { return nil, errors.New("cannot marshal") }

func TestQueue_Build_Payload(t *testing.T) {
	t.Parallel()

	t.Run("WrongType", func(t *testing.T) {
		t.Parallel()
		w := jsWorker(t)
		tests := []struct {
			name    string
			payload any
			got     string
		}{
			{name: "Pointer", payload: &jsArgs{ID: 1}, got: "*kubequeue_test.jsArgs"},
			{name: "OtherStruct", payload: jsOther{ID: 1}, got: "kubequeue_test.jsOther"},
			{name: "Nil", payload: nil, got: "<nil>"},
			{name: "Int", payload: 1, got: "int"},
			{name: "Map", payload: map[string]any{"id": 1}, got: "map[string]interface {}"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				job, err := buildQueue(t).Build(w, tt.payload)
				require.Nil(t, job)
				require.ErrorIs(t, err, kubequeue.ErrPayloadType)
				require.NotErrorIs(t, err, kubequeue.ErrInvalidWorker)
				require.ErrorContains(t, err, "kubequeue_test.jsArgs")
				require.ErrorContains(t, err, tt.got)
				require.ErrorContains(t, err, jsWorkerName)

				client := fake.NewClientset()
				_, enqueueErr := newQueue(t, client).Enqueue(t.Context(), w, tt.payload)
				require.Equal(t, err, enqueueErr)
				requireNoAPICall(t, client)
			})
		}
	})

	t.Run("PointerWorker", func(t *testing.T) {
		t.Parallel()
		w := kubequeue.NewWorker(jsWorkerName, func(context.Context, *jsArgs) error { return nil }, kubequeue.WithImage(jsImage))
		_, err := buildQueue(t).Build(w, jsArgs{ID: 1})
		require.ErrorIs(t, err, kubequeue.ErrPayloadType)
		require.ErrorContains(t, err, "*kubequeue_test.jsArgs")
		job := build(t, w, &jsArgs{ID: 1})
		require.Equal(t, `{"id":1}`, jsEnv(t, job, "KUBEQUEUE_PAYLOAD"))
	})

	t.Run("Size", func(t *testing.T) {
		t.Parallel()
		w := kubequeue.NewWorker(jsWorkerName, func(context.Context, string) error { return nil }, kubequeue.WithImage(jsImage))
		// A string of n plain characters encodes as n+2 bytes.
		inEnv := strings.Repeat("x", kubequeue.MaxEnvPayloadSize-2)
		job, err := buildQueue(t).Build(w, inEnv)
		require.NoError(t, err)
		require.Len(t, jsEnv(t, job, "KUBEQUEUE_PAYLOAD"), kubequeue.MaxEnvPayloadSize)
		require.Nil(t, job.Spec.Suspend)

		// One byte more travels in a Secret.
		job, err = buildQueue(t).Build(w, inEnv+"x")
		require.NoError(t, err)
		require.Equal(t, "/var/run/kubequeue/payload/payload.json", jsEnv(t, job, "KUBEQUEUE_PAYLOAD_FILE"))
		require.True(t, *job.Spec.Suspend, "created suspended until its Secret exists")

		fits := strings.Repeat("x", kubequeue.MaxPayloadSize-2)
		_, err = buildQueue(t).Build(w, fits)
		require.NoError(t, err)
		job, err = buildQueue(t).Build(w, fits+"x")
		require.Nil(t, job)
		require.ErrorIs(t, err, kubequeue.ErrPayloadTooLarge)
		require.ErrorContains(t, err, fmt.Sprint(kubequeue.MaxPayloadSize))
		require.ErrorContains(t, err, fmt.Sprint(kubequeue.MaxPayloadSize+1))

		// Escaping counts: a quote encodes as two bytes.
		quotes := strings.Repeat(`"`, (kubequeue.MaxPayloadSize-2)/2)
		_, err = buildQueue(t).Build(w, quotes)
		require.NoError(t, err)
		_, err = buildQueue(t).Build(w, quotes+`"`)
		require.ErrorIs(t, err, kubequeue.ErrPayloadTooLarge)

		client := fake.NewClientset()
		_, err = newQueue(t, client).Enqueue(t.Context(), w, fits+"x")
		require.ErrorIs(t, err, kubequeue.ErrPayloadTooLarge)
		requireNoAPICall(t, client)
	})

	t.Run("Unencodable", func(t *testing.T) {
		t.Parallel()
		cycle := &jsNode{}
		cycle.Next = cycle
		tests := []struct {
			name  string
			build func() (*batchv1.Job, error)
		}{
			{name: "ChanField", build: jsBuildFunc(jsChanPayload{Name: "x", C: make(chan int)})},
			{name: "NilChanField", build: jsBuildFunc(jsChanPayload{Name: "x"})},
			{name: "FuncField", build: jsBuildFunc(jsFuncPayload{F: func() {}})},
			{name: "NaN", build: jsBuildFunc(math.NaN())},
			{name: "PositiveInfinity", build: jsBuildFunc(math.Inf(1))},
			{name: "NaNInSlice", build: jsBuildFunc([]float64{1, math.NaN()})},
			{name: "NegativeInfinityFloat32", build: jsBuildFunc(float32(math.Inf(-1)))},
			{name: "Cycle", build: jsBuildFunc(cycle)},
			{name: "MarshalerError", build: jsBuildFunc(jsBadMarshal{})},
			{name: "Complex", build: jsBuildFunc(complex(1, 2))},
			{name: "InvalidUTF8", build: jsBuildFunc("caf\xe9")},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				var (
					job *batchv1.Job
					err error
				)
				require.NotPanics(t, func() { job, err = tt.build() })
				require.Nil(t, job)
				require.Error(t, err)
				require.ErrorIs(t, err, kubequeue.ErrPayloadEncode)
				require.NotErrorIs(t, err, kubequeue.ErrPayloadType)
			})
		}
	})
}

// TestQueue_Build_NilPayloadForInterfaceWorker checks that nil is a payload
// of a worker whose payload type is an interface.
func TestQueue_Build_NilPayloadForInterfaceWorker(t *testing.T) {
	t.Parallel()
	var (
		got    any = "not called"
		called bool
	)
	w := kubequeue.NewWorker("any-payload", func(_ context.Context, p any) error {
		got, called = p, true
		return nil
	}, kubequeue.WithImage(jsImage))
	job, err := buildQueue(t).Build(w, nil)
	require.NoError(t, err, "nil is a value of type any")
	require.Equal(t, "null", jsEnv(t, job, "KUBEQUEUE_PAYLOAD"))
	_, err = kubequeue.PerformJob(t.Context(), job, w)
	require.NoError(t, err)
	require.True(t, called)
	require.Nil(t, got)
}

// jsBuildFunc returns a function that builds a Job for payload with a worker
// of payload's type.
func jsBuildFunc[T any](payload T) func() (*batchv1.Job, error) {
	return func() (*batchv1.Job, error) {
		w := kubequeue.NewWorker(jsWorkerName, func(context.Context, T) error { return nil }, kubequeue.WithImage(jsImage))
		queue, err := kubequeue.New(fake.NewClientset())
		if err != nil {
			return nil, err
		}
		return queue.Build(w, payload)
	}
}

// Payload types for TestPayloadRoundTrip.
type (
	jsLevel struct {
		Level int `json:"level"`
	}
	jsInner struct {
		Name  string            `json:"name"`
		Tags  []string          `json:"tags"`
		Attrs map[string]string `json:"attrs,omitempty"`
	}
	jsTricky struct {
		jsLevel
		Text     string                      `json:"text"`
		Ptr      *string                     `json:"ptr"`
		NilPtr   *int                        `json:"nil_ptr"`
		PtrPtr   **int                       `json:"ptr_ptr"`
		Inner    jsInner                     `json:"inner"`
		InnerPtr *jsInner                    `json:"inner_ptr"`
		Items    []jsInner                   `json:"items"`
		Empty    []int                       `json:"empty"`
		Nil      []int                       `json:"nil"`
		Array    [3]int8                     `json:"array"`
		ByID     map[int]string              `json:"by_id"`
		Nested   map[string][]map[string]int `json:"nested"`
		EmptyMap map[string]bool             `json:"empty_map"`
		When     time.Time                   `json:"when"`
		Zero     time.Time                   `json:"zero"`
		Took     time.Duration               `json:"took"`
		Bytes    []byte                      `json:"bytes"`
		Flag     bool                        `json:"flag"`
		Raw      json.RawMessage             `json:"raw,omitempty"`
	}
	jsNumbers struct {
		MaxInt64        int64   `json:"max_int64"`
		MinInt64        int64   `json:"min_int64"`
		MaxUint64       uint64  `json:"max_uint64"`
		MaxInt32        int32   `json:"max_int32"`
		MinInt8         int8    `json:"min_int8"`
		MaxFloat64      float64 `json:"max_float64"`
		NegMaxFloat64   float64 `json:"neg_max_float64"`
		SmallestFloat64 float64 `json:"smallest_float64"`
		SmallestNormal  float64 `json:"smallest_normal"`
		NegZero         float64 `json:"neg_zero"`
		Tenth           float64 `json:"tenth"`
		OneThird        float64 `json:"one_third"`
		Above2To53      float64 `json:"above_2_to_53"`
		MaxFloat32      float32 `json:"max_float32"`
		SmallestFloat32 float32 `json:"smallest_float32"`
		Uintptr         uintptr `json:"uintptr"`
	}
)

// jsRoundTrip returns a test that builds a Job for v with a worker of v's
// type, performs the Job in-process and requires perform to get v back.
func jsRoundTrip[T any](v T) func(t *testing.T) {
	return func(t *testing.T) {
		var (
			got    T
			called int
		)
		w := kubequeue.NewWorker("round-trip", func(_ context.Context, p T) error {
			got = p
			called++
			return nil
		}, kubequeue.WithImage(jsImage))
		job := build(t, w, v)
		require.True(t, json.Valid([]byte(jsEnv(t, job, "KUBEQUEUE_PAYLOAD"))))
		_, err := kubequeue.PerformJob(t.Context(), job, w)
		require.NoError(t, err)
		require.Equal(t, 1, called)
		require.Equal(t, v, got)
	}
}

func TestPayloadRoundTrip(t *testing.T) {
	t.Parallel()

	controls := make([]byte, 0, 32)
	for c := byte(1); c < 0x20; c++ {
		controls = append(controls, c)
	}
	controls = append(controls, 0x7f)
	seven := 7
	sevenPtr := &seven
	text := "pointed-to"

	tests := []struct {
		name string
		run  func(t *testing.T)
	}{
		{name: "EmptyString", run: jsRoundTrip("")},
		{name: "Quotes", run: jsRoundTrip(`he said "hi" and 'bye' ""`)},
		{name: "Backslashes", run: jsRoundTrip(`C:\path\to\file \\server\share \" \u0041 \n`)},
		{name: "Newlines", run: jsRoundTrip("line 1\nline 2\r\nline 3\r")},
		{name: "Tabs", run: jsRoundTrip("a\tb\t\tc\v\f")},
		{name: "ControlCharacters", run: jsRoundTrip(string(controls))},
		{name: "Unicode", run: jsRoundTrip("héllo wörld — 日本語 中文 한국어 Ελληνικά")},
		{name: "Emoji", run: jsRoundTrip("🚀 👩‍👩‍👧‍👦 🇺🇸 👍🏽 ❤️")},
		{name: "RightToLeft", run: jsRoundTrip("مرحبا بالعالم \u200fשלום עולם\u202e reversed\u202c")},
		{name: "LineAndParagraphSeparators", run: jsRoundTrip("a\u2028b\u2029c\ufeffd")},
		{name: "HTML", run: jsRoundTrip(`<script>alert("x")</script> & &amp; <>`)},
		{name: "JSONLookalike", run: jsRoundTrip(`{"id": 1, "note": null}`)},
		{name: "DollarSigns", run: jsRoundTrip("costs $$5, $(HOME) ${PATH} $ $$(X) \\$(Y)")},
		{name: "DollarSignsInMapKeys", run: jsRoundTrip(map[string]string{"$(HOME)": "$$", "$": ""})},
		{name: "LongString", run: jsRoundTrip(strings.Repeat("ab\"\\\n🚀", 2000))},
		{name: "MaxInt64", run: jsRoundTrip(int64(math.MaxInt64))},
		{name: "MinInt64", run: jsRoundTrip(int64(-math.MaxInt64 - 1))},
		{name: "MaxUint64", run: jsRoundTrip(uint64(math.MaxUint64))},
		{name: "MaxFloat64", run: jsRoundTrip(math.MaxFloat64)},
		{name: "SmallestFloat64", run: jsRoundTrip(math.SmallestNonzeroFloat64)},
		{name: "Numbers", run: jsRoundTrip(jsNumbers{
			MaxInt64:        math.MaxInt64,
			MinInt64:        -math.MaxInt64 - 1,
			MaxUint64:       math.MaxUint64,
			MaxInt32:        math.MaxInt32,
			MinInt8:         math.MinInt8,
			MaxFloat64:      math.MaxFloat64,
			NegMaxFloat64:   -math.MaxFloat64,
			SmallestFloat64: math.SmallestNonzeroFloat64,
			SmallestNormal:  0x1p-1022,
			NegZero:         math.Copysign(0, -1),
			Tenth:           0.1,
			OneThird:        1.0 / 3,
			Above2To53:      1<<53 + 2,
			MaxFloat32:      math.MaxFloat32,
			SmallestFloat32: math.SmallestNonzeroFloat32,
			Uintptr:         ^uintptr(0),
		})},
		{name: "EmptyStruct", run: jsRoundTrip(struct{}{})},
		{name: "ZeroStruct", run: jsRoundTrip(jsTricky{})},
		{name: "Nested", run: jsRoundTrip(jsTricky{
			jsLevel:  jsLevel{Level: 3},
			Text:     "tab\there \"quoted\" <b>&</b> 🚀",
			Ptr:      &text,
			PtrPtr:   &sevenPtr,
			Inner:    jsInner{Name: "inner", Tags: []string{"a", "", "ü"}, Attrs: map[string]string{"k": "v", "": "empty key", "new\nline": "x"}},
			InnerPtr: &jsInner{Name: "pointer", Tags: []string{}},
			Items:    []jsInner{{Name: "one"}, {Name: "two", Tags: []string{"x"}}},
			Empty:    []int{},
			Array:    [3]int8{math.MinInt8, 0, math.MaxInt8},
			ByID:     map[int]string{-1: "minus one", 0: "zero", math.MaxInt: "max"},
			Nested:   map[string][]map[string]int{"a": {{"x": 1}, {}, nil}},
			EmptyMap: map[string]bool{},
			When:     time.Date(2024, time.February, 29, 23, 59, 59, 123456789, time.UTC),
			Took:     -90 * time.Minute,
			Bytes:    []byte{0, 1, 2, 0xff, '"', '\\'},
			Flag:     true,
			Raw:      json.RawMessage(`{"a":[1,2,{"b":null}]}`),
		})},
		{name: "Slice", run: jsRoundTrip([]string{"a", "", `"`, "\x01\x02\x1f"})},
		{name: "NilSlice", run: jsRoundTrip([]int(nil))},
		{name: "Map", run: jsRoundTrip(map[string][]int{"": nil, "a": {1, -1}, "🚀": {}})},
		{name: "Pointer", run: jsRoundTrip(&jsInner{Name: "p", Tags: []string{"t"}})},
		{name: "NilPointer", run: jsRoundTrip((*jsInner)(nil))},
		{name: "Time", run: jsRoundTrip(time.Date(1, time.January, 1, 0, 0, 0, 1, time.UTC))},
		{name: "TimeLate", run: jsRoundTrip(time.Date(9999, time.December, 31, 23, 59, 59, 999999999, time.UTC))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.run(t)
		})
	}

	t.Run("HTMLNotEscaped", func(t *testing.T) {
		t.Parallel()
		w := kubequeue.NewWorker(jsWorkerName, func(context.Context, string) error { return nil }, kubequeue.WithImage(jsImage))
		job := build(t, w, "<a> & <b>")
		require.Equal(t, `"<a> & <b>"`, jsEnv(t, job, "KUBEQUEUE_PAYLOAD"))
	})

	// The kubelet expands $(NAME) and turns $$ into $ in environment values,
	// so the payload must not contain either as written.
	t.Run("DollarsNotExpandedByKubelet", func(t *testing.T) {
		t.Parallel()
		w := kubequeue.NewWorker(jsWorkerName, func(context.Context, map[string]string) error { return nil }, kubequeue.WithImage(jsImage))
		job := build(t, w, map[string]string{"$(KEY)": "costs $$5 and $(HOME)"})
		value := jsEnv(t, job, "KUBEQUEUE_PAYLOAD")
		require.NotContains(t, value, "$(")
		require.NotContains(t, value, "$$")
	})

	t.Run("MaxSize", func(t *testing.T) {
		t.Parallel()
		jsRoundTrip(strings.Repeat("é", (kubequeue.MaxEnvPayloadSize-2)/2))(t)
	})
}

func TestQueue_Build_CallerOwnsJob(t *testing.T) {
	t.Parallel()

	w := jsWorker(t,
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
		first := build(t, w, jsArgs{ID: 1}, kubequeue.WithJobName("same"))
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

		second := build(t, w, jsArgs{ID: 1}, kubequeue.WithJobName("same"))
		require.Equal(t, want, second)
	})

	t.Run("MutatingResultDoesNotChangeOtherResult", func(t *testing.T) {
		t.Parallel()
		a := build(t, w, jsArgs{ID: 1})
		b := build(t, w, jsArgs{ID: 1})
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

		w := jsWorker(t,
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
		want := build(t, w, jsArgs{}, kubequeue.WithJobName("same"))

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

		got := build(t, w, jsArgs{}, kubequeue.WithJobName("same"))
		require.Equal(t, want, got)
		require.Equal(t, "imaging", got.Labels["team"])
		require.NotContains(t, got.Labels, "added")
		require.Equal(t, []string{"/bin/app", "work"}, jsContainer(t, got).Command)
	})

	t.Run("CallOptionsCopyInputs", func(t *testing.T) {
		t.Parallel()
		labels := map[string]string{"request": "r-1"}
		annotations := map[string]string{"trace": "abc"}
		job := build(t, w, jsArgs{}, kubequeue.WithLabels(labels), kubequeue.WithAnnotations(annotations))
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
	w := kubequeue.NewWorker(jsWorkerName, func(context.Context, string) error { return nil }, kubequeue.WithImage(jsImage))

	// n dollars encode as n+2 bytes, and as 6n+2 in the environment.
	const mostInEnv = (kubequeue.MaxEnvPayloadSize - 2) / 6
	job, err := buildQueue(t).Build(w, strings.Repeat("$", mostInEnv))
	require.NoError(t, err)
	require.Len(t, jsEnv(t, job, "KUBEQUEUE_PAYLOAD"), 6*mostInEnv+2)
	require.NotContains(t, jsEnv(t, job, "KUBEQUEUE_PAYLOAD"), "$")
	job, err = buildQueue(t).Build(w, strings.Repeat("$", mostInEnv+1))
	require.NoError(t, err)
	require.Equal(t, "/var/run/kubequeue/payload/payload.json", jsEnv(t, job, "KUBEQUEUE_PAYLOAD_FILE"),
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
		_, err = kubequeuetest.Perform(t.Context(), kubequeue.NewWorker(jsWorkerName, func(_ context.Context, s string) error {
			if s != text {
				return fmt.Errorf("performed with %d bytes, want the %d enqueued", len(s), len(text))
			}
			return nil
		}, kubequeue.WithImage(jsImage)), text, opts...)
		require.NoError(t, err)
	}
}

// TestQueue_Build_AtTheLimits checks that what the API server and the
// runtime accept passes Build: the counterparts of the refusals in
// TestBadInput.
func TestQueue_Build_AtTheLimits(t *testing.T) {
	t.Parallel()
	const annotationLimit, enqueueID, uniqueKey = 256 << 10, 23 + 32, 23 + 64
	annotations := func(total int) map[string]string { return map[string]string{"k": strings.Repeat("a", total-1)} }
	emptyDir := corev1.Volume{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}

	t.Run("Annotations", func(t *testing.T) {
		t.Parallel()
		w := jsWorker(t, kubequeue.WithAnnotations(annotations(annotationLimit-enqueueID)))
		job := build(t, w, jsArgs{})
		job.Annotations[kubequeue.AnnotationEnqueueID] = strings.Repeat("0", 32) // as Enqueue adds it
		size := 0
		for k, v := range job.Annotations {
			size += len(k) + len(v)
		}
		require.Equal(t, annotationLimit, size)
		build(t, jsWorker(t), jsArgs{}, kubequeue.WithAnnotations(annotations(annotationLimit-enqueueID-uniqueKey)), kubequeue.WithUniqueKey("order-42"))

		// Annotations too large by themselves are reported once.
		tooLarge := kubequeue.NewWorker(jsWorkerName, jsPerform, kubequeue.WithImage(jsImage), kubequeue.WithAnnotations(annotations(annotationLimit+1)))
		require.Len(t, jsValidationErrors(tooLarge.Validate()), 1, "%v", tooLarge.Validate())
	})

	t.Run("Mounts", func(t *testing.T) {
		t.Parallel()
		for _, p := range []string{"/var/run/kubequeue-other", "/var/run/kubequeue/payloads", "/var/run/other", "/var/runx", "/data"} {
			build(t, jsWorker(t, kubequeue.WithVolumes(emptyDir), kubequeue.WithVolumeMounts(corev1.VolumeMount{Name: "data", MountPath: p})), jsArgs{})
		}
	})

	t.Run("FailurePolicyRules", func(t *testing.T) {
		t.Parallel()
		rules := kubequeue.WithPodFailurePolicyRules(
			batchv1.PodFailurePolicyRule{Action: batchv1.PodFailurePolicyActionCount, OnExitCodes: &batchv1.PodFailurePolicyOnExitCodesRequirement{
				ContainerName: ptr.To("worker"), Operator: batchv1.PodFailurePolicyOnExitCodesOpNotIn, Values: []int32{0, 1, 2, 42},
			}},
			batchv1.PodFailurePolicyRule{Action: batchv1.PodFailurePolicyActionIgnore, OnPodConditions: []batchv1.PodFailurePolicyOnPodConditionsPattern{
				{Type: "example.com/Preempted", Status: corev1.ConditionUnknown},
			}},
		)
		build(t, jsWorker(t, rules), jsArgs{})
		build(t, jsWorker(t), jsArgs{}, rules)
		// A mutator may add the container a rule names.
		build(t, jsWorker(t), jsArgs{}, kubequeue.WithPodFailurePolicyRules(batchv1.PodFailurePolicyRule{
			Action: batchv1.PodFailurePolicyActionIgnore, OnExitCodes: &batchv1.PodFailurePolicyOnExitCodesRequirement{
				ContainerName: ptr.To("sidecar"), Operator: batchv1.PodFailurePolicyOnExitCodesOpIn, Values: []int32{3},
			},
		}), kubequeue.WithJobMutator(func(j *batchv1.Job) {
			j.Spec.Template.Spec.Containers = append(j.Spec.Template.Spec.Containers, corev1.Container{Name: "sidecar", Image: jsImage})
		}))
	})

	t.Run("Payloads", func(t *testing.T) {
		t.Parallel()
		// A valid escape of U+FFFD in a raw message is no replacement.
		jsRoundTrip(json.RawMessage(`{"text":"\ufffd"}`))(t)
		jsRoundTrip(jsTricky{Raw: json.RawMessage(`"a\ufffdb"`), Text: `\ufffd`})(t)
		// An interface field decodes when it is nil; a recursive type
		// when it is not too deep.
		jsRoundTrip(jsStringerField{})(t)
		chain := &jsNode{}
		for range 100 {
			chain = &jsNode{Next: chain}
		}
		jsRoundTrip(chain)(t)
		jsRoundTrip(map[string]any{"a": []any{"b", 1.5, true, nil, map[string]any{}}})(t)
	})
}

type jsStringerField struct{ S fmt.Stringer }
