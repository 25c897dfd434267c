package kubequeue_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/ptr"

	"github.com/kubequeue/kubequeue"
)

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
			opts:   []kubequeue.WorkerOption{kubequeue.WithImage(testImage)},
			field:  "name",
			value:  "Resize_Image",
		},
		{
			name:        "MissingImage",
			worker:      resizeName,
			field:       "WithImage",
			value:       "",
			errContains: "must not be empty",
		},
		{
			name:        "ImageUpperCaseRepository",
			worker:      resizeName,
			opts:        []kubequeue.WorkerOption{kubequeue.WithImage("registry.example.com/Team/app:v1")},
			field:       "WithImage",
			value:       "registry.example.com/Team/app:v1",
			errContains: "lower-case",
		},
		{
			name:        "ImageWhitespace",
			worker:      resizeName,
			opts:        []kubequeue.WorkerOption{kubequeue.WithImage("registry.example.com/app :v1")},
			field:       "WithImage",
			value:       "registry.example.com/app :v1",
			errContains: "whitespace",
		},
		{
			name:        "ImageTrailingNewline",
			worker:      resizeName,
			opts:        []kubequeue.WorkerOption{kubequeue.WithImage("perl\n")},
			field:       "WithImage",
			value:       "perl\n",
			errContains: "whitespace",
		},
		{
			name:        "CPUUnparsable",
			worker:      resizeName,
			opts:        []kubequeue.WorkerOption{kubequeue.WithImage(testImage), kubequeue.WithCPU("lots", "")},
			field:       "WithCPU request",
			value:       "lots",
			errContains: "quantity",
		},
		{
			name:        "MemoryNegative",
			worker:      resizeName,
			opts:        []kubequeue.WorkerOption{kubequeue.WithImage(testImage), kubequeue.WithMemory("", "-1Gi")},
			field:       "WithMemory limit",
			value:       "-1Gi",
			errContains: "negative",
		},
		{
			name:        "MemoryMilli",
			worker:      resizeName,
			opts:        []kubequeue.WorkerOption{kubequeue.WithImage(testImage), kubequeue.WithMemory("100m", "")},
			field:       "WithMemory request",
			value:       "100m",
			errContains: `"100Mi"`,
		},
		{
			name:        "MemoryFraction",
			worker:      resizeName,
			opts:        []kubequeue.WorkerOption{kubequeue.WithImage(testImage), kubequeue.WithMemory("", "0.5")},
			field:       "WithMemory limit",
			value:       "0.5",
			errContains: "not a whole number of bytes",
		},
		{
			name:        "CPURequestAboveLimit",
			worker:      resizeName,
			opts:        []kubequeue.WorkerOption{kubequeue.WithImage(testImage), kubequeue.WithCPU("2", "1500m")},
			field:       "WithCPU request",
			value:       "2",
			errContains: `"1500m"`,
		},
		{
			name:   "MemoryRequestAboveLimit",
			worker: resizeName,
			opts:   []kubequeue.WorkerOption{kubequeue.WithImage(testImage), kubequeue.WithMemory("1Gi", "512Mi")},
			field:  "WithMemory request",
			value:  "1Gi",
		},
		{
			name:        "NegativeBackoffLimit",
			worker:      resizeName,
			opts:        []kubequeue.WorkerOption{kubequeue.WithImage(testImage), kubequeue.WithBackoffLimit(-1)},
			field:       "WithBackoffLimit",
			value:       "-1",
			errContains: "negative",
		},
		{
			name:        "ZeroActiveDeadline",
			worker:      resizeName,
			opts:        []kubequeue.WorkerOption{kubequeue.WithImage(testImage), kubequeue.WithActiveDeadline(0)},
			field:       "WithActiveDeadline",
			value:       "0s",
			errContains: "positive",
		},
		{
			name:        "NegativeActiveDeadline",
			worker:      resizeName,
			opts:        []kubequeue.WorkerOption{kubequeue.WithImage(testImage), kubequeue.WithActiveDeadline(-time.Second)},
			field:       "WithActiveDeadline",
			value:       "-1s",
			errContains: "positive",
		},
		{
			name:        "NegativeTTLAfterFinished",
			worker:      resizeName,
			opts:        []kubequeue.WorkerOption{kubequeue.WithImage(testImage), kubequeue.WithTTLAfterFinished(-time.Minute)},
			field:       "WithTTLAfterFinished",
			value:       "-1m0s",
			errContains: "negative",
		},
		{
			name:        "RestartPolicyAlways",
			worker:      resizeName,
			opts:        []kubequeue.WorkerOption{kubequeue.WithImage(testImage), kubequeue.WithRestartPolicy(corev1.RestartPolicyAlways)},
			field:       "WithRestartPolicy",
			value:       "Always",
			errContains: "Never or OnFailure",
		},
		{
			name:        "EnvReservedPrefix",
			worker:      resizeName,
			opts:        []kubequeue.WorkerOption{kubequeue.WithImage(testImage), kubequeue.WithEnv("KUBEQUEUE_X", "1")},
			field:       "environment variable",
			value:       "KUBEQUEUE_X",
			errContains: "reserved",
		},
		{
			name:   "EnvVarsReservedPayload",
			worker: resizeName,
			opts: []kubequeue.WorkerOption{kubequeue.WithImage(testImage), kubequeue.WithEnvVars(corev1.EnvVar{
				Name: "KUBEQUEUE_PAYLOAD", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}},
			})},
			field:       "environment variable",
			value:       "KUBEQUEUE_PAYLOAD",
			errContains: "reserved",
		},
		{
			name:   "EnvInvalidName",
			worker: resizeName,
			opts:   []kubequeue.WorkerOption{kubequeue.WithImage(testImage), kubequeue.WithEnv("MY VAR", "1")},
			field:  "environment variable",
			value:  "MY VAR",
		},
		{
			name:   "EnvFromConfigMapInvalidName",
			worker: resizeName,
			opts:   []kubequeue.WorkerOption{kubequeue.WithImage(testImage), kubequeue.WithEnvFromConfigMap("App_Config")},
			field:  "WithEnvFromConfigMap",
			value:  "App_Config",
		},
		{
			name:        "LabelReservedWorkerKey",
			worker:      resizeName,
			opts:        []kubequeue.WorkerOption{kubequeue.WithImage(testImage), kubequeue.WithLabels(map[string]string{kubequeue.LabelWorker: "other"})},
			field:       "WithLabels",
			value:       "kubequeue.io/worker=other",
			errContains: "set by kubequeue",
		},
		{
			name:        "PodLabelReservedManagedByKey",
			worker:      resizeName,
			opts:        []kubequeue.WorkerOption{kubequeue.WithImage(testImage), kubequeue.WithPodLabels(map[string]string{kubequeue.LabelManagedBy: "helm"})},
			field:       "WithPodLabels",
			value:       "app.kubernetes.io/managed-by=helm",
			errContains: "set by kubequeue",
		},
		{
			name:   "LabelInvalidValue",
			worker: resizeName,
			opts:   []kubequeue.WorkerOption{kubequeue.WithImage(testImage), kubequeue.WithLabels(map[string]string{"team": "-bad-"})},
			field:  "WithLabels",
			value:  "-bad-",
		},
		{
			name:   "NamespaceInvalid",
			worker: resizeName,
			opts:   []kubequeue.WorkerOption{kubequeue.WithImage(testImage), kubequeue.WithNamespace("Jobs")},
			field:  "WithNamespace",
			value:  "Jobs",
		},
		{
			name:   "VolumeMountUnknownVolume",
			worker: resizeName,
			opts: []kubequeue.WorkerOption{
				kubequeue.WithImage(testImage),
				kubequeue.WithVolumes(corev1.Volume{Name: "scratch", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}),
				kubequeue.WithVolumeMounts(corev1.VolumeMount{Name: "data", MountPath: "/data"}),
			},
			field:       "WithVolumeMounts name",
			value:       "data",
			errContains: "WithVolumes",
		},
		{
			name:        "VolumeWithoutSource",
			worker:      resizeName,
			opts:        []kubequeue.WorkerOption{kubequeue.WithImage(testImage), kubequeue.WithVolumes(corev1.Volume{Name: "data"})},
			field:       "WithVolumes",
			value:       "data",
			errContains: "exactly one volume source",
		},
		{
			name:   "VolumeMountPathTwice",
			worker: resizeName,
			opts: []kubequeue.WorkerOption{
				kubequeue.WithImage(testImage),
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
			worker: resizeName,
			opts: []kubequeue.WorkerOption{
				kubequeue.WithImage(testImage),
				kubequeue.WithVolumes(corev1.Volume{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}),
				kubequeue.WithVolumeMounts(corev1.VolumeMount{Name: "data", MountPath: "/data", SubPath: "../etc"}),
			},
			field:       "WithVolumeMounts subPath",
			value:       "../etc",
			errContains: "without '..'",
		},
		{
			name:   "EnvValueAndValueFrom",
			worker: resizeName,
			opts: []kubequeue.WorkerOption{kubequeue.WithImage(testImage), kubequeue.WithEnvVars(corev1.EnvVar{Name: "TOKEN", Value: "x", ValueFrom: &corev1.EnvVarSource{
				SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "s"}, Key: "k"},
			}})},
			field:       "environment variable",
			value:       "TOKEN",
			errContains: "both value and valueFrom",
		},
		{
			name:        "EnvEmptyValueFrom",
			worker:      resizeName,
			opts:        []kubequeue.WorkerOption{kubequeue.WithImage(testImage), kubequeue.WithEnvVars(corev1.EnvVar{Name: "TOKEN", ValueFrom: &corev1.EnvVarSource{}})},
			field:       "environment variable",
			value:       "TOKEN",
			errContains: "exactly one source, not 0",
		},
		{
			name:        "TolerationExistsWithValue",
			worker:      resizeName,
			opts:        []kubequeue.WorkerOption{kubequeue.WithImage(testImage), kubequeue.WithTolerations(corev1.Toleration{Key: "gpu", Operator: corev1.TolerationOpExists, Value: "x"})},
			field:       "WithTolerations value",
			value:       "x",
			errContains: "must be empty",
		},
		{
			name:   "TolerationBadKey",
			worker: resizeName,
			opts:   []kubequeue.WorkerOption{kubequeue.WithImage(testImage), kubequeue.WithTolerations(corev1.Toleration{Key: "bad key!", Operator: corev1.TolerationOpExists})},
			field:  "WithTolerations key",
			value:  "bad key!",
		},
		{
			name:   "TolerationBadEffect",
			worker: resizeName,
			opts:   []kubequeue.WorkerOption{kubequeue.WithImage(testImage), kubequeue.WithTolerations(corev1.Toleration{Key: "gpu", Operator: corev1.TolerationOpExists, Effect: "Nope"})},
			field:  "WithTolerations effect",
			value:  "Nope",
		},
		{
			name:   "TolerationSecondsWithoutNoExecute",
			worker: resizeName,
			opts:   []kubequeue.WorkerOption{kubequeue.WithImage(testImage), kubequeue.WithTolerations(corev1.Toleration{Key: "gpu", Operator: corev1.TolerationOpExists, TolerationSeconds: ptr.To(int64(5))})},
			field:  "WithTolerations tolerationSeconds",
			value:  "5",
		},
		{
			name:        "PodLabelSetByJobController",
			worker:      resizeName,
			opts:        []kubequeue.WorkerOption{kubequeue.WithImage(testImage), kubequeue.WithPodLabels(map[string]string{"batch.kubernetes.io/job-name": "x"})},
			field:       "WithPodLabels",
			value:       "batch.kubernetes.io/job-name=x",
			errContains: "Job controller",
		},
		{
			name:   "VolumeMountRelativePath",
			worker: resizeName,
			opts: []kubequeue.WorkerOption{
				kubequeue.WithImage(testImage),
				kubequeue.WithVolumes(corev1.Volume{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}),
				kubequeue.WithVolumeMounts(corev1.VolumeMount{Name: "data", MountPath: "data"}),
			},
			field:       "WithVolumeMounts mountPath",
			value:       "data",
			errContains: "absolute",
		},
		{
			name:        "NilPerformWithoutCommand",
			worker:      resizeName,
			nilPerform:  true,
			opts:        []kubequeue.WorkerOption{kubequeue.WithImage(testImage), kubequeue.WithArgs("--run")},
			field:       "perform",
			value:       "nil",
			errContains: "WithCommand",
		},
		{
			name:   "NilJobMutator",
			worker: resizeName,
			opts:   []kubequeue.WorkerOption{kubequeue.WithImage(testImage), kubequeue.WithJobMutator(nil)},
			field:  "WithJobMutator",
			value:  "nil",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			perform := performResize
			if tt.nilPerform {
				perform = nil
			}
			var w *kubequeue.Worker[resizeArgs]
			require.NotPanics(t, func() { w = kubequeue.NewWorker(tt.worker, perform, tt.opts...) })

			err := w.Validate()
			require.ErrorIs(t, err, kubequeue.ErrInvalidWorker)
			require.NotErrorIs(t, err, kubequeue.ErrInvalidOption)
			var ve *kubequeue.ValidationError
			require.ErrorAs(t, err, &ve)
			require.Equal(t, tt.field, ve.Field)
			require.Equal(t, tt.value, ve.Value)
			require.Equal(t, tt.worker, ve.Worker)
			require.Len(t, validationErrors(err), 1, "the case has exactly one problem: %v", err)
			if tt.errContains != "" {
				require.ErrorContains(t, err, tt.errContains)
			}

			job, buildErr := buildQueue(t).Build(w, resizeArgs{ID: 1})
			require.Nil(t, job)
			require.Equal(t, err, buildErr)

			client := fake.NewClientset()
			handle, enqueueErr := newQueue(t, client).Enqueue(t.Context(), w, resizeArgs{ID: 1})
			require.Equal(t, err, enqueueErr)
			require.Zero(t, handle)
			requireNoAPICall(t, client)
		})
	}

	t.Run("SeveralProblems", func(t *testing.T) {
		t.Parallel()
		var w *kubequeue.Worker[resizeArgs]
		require.NotPanics(t, func() {
			w = kubequeue.NewWorker[resizeArgs]("Bad_Name", nil,
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
		for _, ve := range validationErrors(err) {
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
		_, buildErr := buildQueue(t).Build(w, resizeArgs{})
		require.Equal(t, err, buildErr)
	})

	t.Run("NilWorker", func(t *testing.T) {
		t.Parallel()
		var w *kubequeue.Worker[resizeArgs]
		require.NotPanics(t, func() {
			require.ErrorIs(t, w.Validate(), kubequeue.ErrInvalidWorker)
			require.Empty(t, w.Name())

			job, err := buildQueue(t).Build(w, resizeArgs{})
			require.Nil(t, job)
			require.ErrorIs(t, err, kubequeue.ErrInvalidWorker)

			client := fake.NewClientset()
			handle, enqueueErr := newQueue(t, client).Enqueue(t.Context(), w, resizeArgs{})
			require.ErrorIs(t, enqueueErr, kubequeue.ErrInvalidWorker)
			require.Equal(t, err, enqueueErr)
			require.Zero(t, handle)
			requireNoAPICall(t, client)
		})
	})

	t.Run("NilJob", func(t *testing.T) {
		t.Parallel()
		require.NotPanics(t, func() {
			job, err := buildQueue(t).Build(nil, resizeArgs{})
			require.Nil(t, job)
			require.ErrorIs(t, err, kubequeue.ErrInvalidWorker)
		})
	})
}

func TestNewWorker_NilPerformWithCommand(t *testing.T) {
	t.Parallel()
	w := kubequeue.NewWorker[resizeArgs](resizeName, nil, kubequeue.WithImage("perl:5.40"), kubequeue.WithCommand("perl", "-e", "print 1"))
	require.NoError(t, w.Validate())
	job := build(t, w, resizeArgs{ID: 2})
	require.Equal(t, []string{"perl", "-e", "print 1"}, containerOf(t, job).Command)
	require.JSONEq(t, `{"id":2}`, envOf(t, job, "KUBEQUEUE_PAYLOAD"), "the payload is still in the environment")
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
			w := kubequeue.NewWorker(resizeName, performResize, kubequeue.WithImage(testImage), kubequeue.WithMemory(tt.memory, ""))
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
	w := resizeWorker(t)

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
			job, err := buildQueue(t).Build(w, resizeArgs{ID: 1}, tt.call...)
			require.Nil(t, job)
			require.ErrorIs(t, err, kubequeue.ErrInvalidOption)
			require.NotErrorIs(t, err, kubequeue.ErrInvalidWorker)
			var ve *kubequeue.ValidationError
			require.ErrorAs(t, err, &ve)
			require.Equal(t, tt.field, ve.Field)
			require.Equal(t, tt.value, ve.Value)
			require.Equal(t, resizeName, ve.Worker)
			require.Len(t, validationErrors(err), 1, "the case has exactly one problem: %v", err)

			client := fake.NewClientset()
			handle, enqueueErr := newQueue(t, client).Enqueue(t.Context(), w, resizeArgs{ID: 1}, tt.call...)
			require.Equal(t, err, enqueueErr)
			require.Zero(t, handle)
			requireNoAPICall(t, client)
		})
	}

	t.Run("SeveralProblems", func(t *testing.T) {
		t.Parallel()
		_, err := buildQueue(t).Build(w, resizeArgs{},
			kubequeue.WithJobName("Bad"), kubequeue.WithBackoffLimit(-2), kubequeue.WithLabels(map[string]string{"k": "-v"}))
		require.ErrorIs(t, err, kubequeue.ErrInvalidOption)
		require.NotErrorIs(t, err, kubequeue.ErrInvalidWorker)
		require.Len(t, validationErrors(err), 3)
	})

	t.Run("WorkerErrorFirst", func(t *testing.T) {
		t.Parallel()
		bad := kubequeue.NewWorker(resizeName, performResize)
		_, err := buildQueue(t).Build(bad, resizeArgs{}, kubequeue.WithBackoffLimit(-1))
		require.ErrorIs(t, err, kubequeue.ErrInvalidWorker)
	})
}
