package kubequeue_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/ptr"

	"github.com/kubequeue/kubequeue"
)

// Payload types for TestInvalidInput_RefusedBeforeAnyAPICall whose methods misbehave.
type (
	panicky        struct{}
	stringerField  struct{ S fmt.Stringer }
	nested         struct{ Next *nested }
	oneWay         struct{ N int } // encodes as a string, decodes as an object
	panicsDecoding struct{}
)

func (panicky) MarshalJSON() ([]byte, error)       { panic("marshal-boom") }
func (o oneWay) MarshalJSON() ([]byte, error)      { return json.Marshal(fmt.Sprint(o.N)) }
func (*panicsDecoding) UnmarshalJSON([]byte) error { panic("unmarshal-boom") }

// TestInvalidInput_RefusedBeforeAnyAPICall feeds invalid input to every entry point. Each gives an
// error that matches its sentinel and names the setting, the value and the
// rule, without an API call and without a panic.
func TestInvalidInput_RefusedBeforeAnyAPICall(t *testing.T) {
	t.Parallel()
	type ctx = context.Context
	img := kubequeue.WithImage("registry.example.com/app:v1")
	noop := func(context.Context, greeting) error { return nil }
	worker := func(opts ...kubequeue.WorkerOption) *kubequeue.Worker[greeting] {
		return kubequeue.NewWorker("greet", noop, append([]kubequeue.WorkerOption{img}, opts...)...)
	}
	enqueueWith := func(w kubequeue.AnyWorker, payload any, opts ...kubequeue.EnqueueOption) func(ctx, *kubequeue.Queue) error {
		return func(c ctx, q *kubequeue.Queue) error { _, err := q.Enqueue(c, w, payload, opts...); return err }
	}
	enqueue := func(opts ...kubequeue.WorkerOption) func(ctx, *kubequeue.Queue) error {
		return enqueueWith(worker(opts...), greeting{})
	}
	call := func(opts ...kubequeue.EnqueueOption) func(ctx, *kubequeue.Queue) error {
		return enqueueWith(worker(), greeting{}, opts...)
	}
	vol := func(name string) corev1.Volume {
		return corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}
	}
	exit := func(action batchv1.PodFailurePolicyAction, codes ...int32) batchv1.PodFailurePolicyRule {
		return batchv1.PodFailurePolicyRule{Action: action, OnExitCodes: &batchv1.PodFailurePolicyOnExitCodesRequirement{Operator: batchv1.PodFailurePolicyOnExitCodesOpIn, Values: codes}}
	}
	type channel struct{ C chan int }
	type number struct{ F float64 }
	long := func(n int) string { return strings.Repeat("a", n) }
	withCodes := func(op batchv1.PodFailurePolicyOnExitCodesOperator, codes ...int32) kubequeue.JobOption {
		return kubequeue.WithPodFailurePolicyRules(batchv1.PodFailurePolicyRule{Action: batchv1.PodFailurePolicyActionIgnore, OnExitCodes: &batchv1.PodFailurePolicyOnExitCodesRequirement{Operator: op, Values: codes}})
	}
	onCondition := func(typ corev1.PodConditionType, status corev1.ConditionStatus) kubequeue.JobOption {
		return kubequeue.WithPodFailurePolicyRules(batchv1.PodFailurePolicyRule{Action: batchv1.PodFailurePolicyActionIgnore, OnPodConditions: []batchv1.PodFailurePolicyOnPodConditionsPattern{{Type: typ, Status: status}}})
	}
	mount := func(path string) func(ctx, *kubequeue.Queue) error {
		return enqueue(kubequeue.WithVolumes(vol("data")), kubequeue.WithVolumeMounts(corev1.VolumeMount{Name: "data", MountPath: path}))
	}
	// The API server's limit on a Job's annotations, and what kubequeue's
	// own take of it: kubequeue.io/enqueue-id with 32 hex digits, always;
	// kubequeue.io/unique-key with 64 with WithUniqueKey; kubequeue.io/resume
	// "true" for a payload in a Secret.
	const annotationLimit, enqueueID, uniqueKey, resume = 256 << 10, 23 + 32, 23 + 64, 19 + 4
	annotations := func(total int) map[string]string { return map[string]string{"k": long(total - 1)} }
	deep := &nested{}
	for range 10_002 {
		deep = &nested{Next: deep}
	}
	anyDeep := any([]any{})
	for range 10_002 {
		anyDeep = []any{anyDeep}
	}

	tests := []struct {
		name     string
		queue    []kubequeue.QueueOption
		run      func(ctx, *kubequeue.Queue) error
		sentinel error
		field    string // the setting the error names
		value    string // the value it names
		rule     string // what it says is wrong
	}{
		// Worker names.
		{"NameEmpty", nil, enqueueWith(kubequeue.NewWorker("", noop, img), greeting{}), kubequeue.ErrInvalidWorker, "name", "", "must not be empty"},
		{"NameUpperCase", nil, enqueueWith(kubequeue.NewWorker("Resize", noop, img), greeting{}), kubequeue.ErrInvalidWorker, "name", "Resize", "RFC 1123"},
		{"NameUnderscore", nil, enqueueWith(kubequeue.NewWorker("resize_image", noop, img), greeting{}), kubequeue.ErrInvalidWorker, "name", "resize_image", "RFC 1123"},
		{"NameTooLong", nil, enqueueWith(kubequeue.NewWorker(long(53), noop, img), greeting{}), kubequeue.ErrInvalidWorker, "name", long(53), "no more than 52 characters"},
		{"NameLeadingDash", nil, enqueueWith(kubequeue.NewWorker("-resize", noop, img), greeting{}), kubequeue.ErrInvalidWorker, "name", "-resize", "RFC 1123"},
		{"NameDot", nil, enqueueWith(kubequeue.NewWorker("resize.image", noop, img), greeting{}), kubequeue.ErrInvalidWorker, "name", "resize.image", "must not contain dots"},
		{"NilWorker", nil, enqueueWith(nil, greeting{}), kubequeue.ErrInvalidWorker, "", "", "nil worker"},
		{"NoPerformNoCommand", nil, enqueueWith(kubequeue.NewWorker[greeting]("greet", nil, img), greeting{}), kubequeue.ErrInvalidWorker, "perform", "nil", "must not be nil unless WithCommand"},
		// Images.
		{"ImageMissing", nil, enqueueWith(kubequeue.NewWorker("greet", noop), greeting{}), kubequeue.ErrInvalidWorker, "WithImage", "", "must not be empty"},
		{"ImageUpperCase", nil, enqueue(kubequeue.WithImage("registry.example.com/App:v1")), kubequeue.ErrInvalidWorker, "WithImage", "registry.example.com/App:v1", "must be lower-case"},
		{"ImageSpace", nil, enqueue(kubequeue.WithImage("app:v 1")), kubequeue.ErrInvalidWorker, "WithImage", "app:v 1", "must not contain whitespace"},
		{"ImageEmptyTag", nil, enqueue(kubequeue.WithImage("registry.example.com/app:")), kubequeue.ErrInvalidWorker, "WithImage", "registry.example.com/app:", "must be a reference like"},
		{"ImageShortDigest", nil, enqueue(kubequeue.WithImage("app@sha256:abc")), kubequeue.ErrInvalidWorker, "WithImage", "app@sha256:abc", "must be a reference like"},
		{"ContainerName", nil, enqueue(kubequeue.WithContainerName("Main")), kubequeue.ErrInvalidWorker, "WithContainerName", "Main", "RFC 1123"},
		// Environment.
		{"EnvNameDigit", nil, enqueue(kubequeue.WithEnv("1BAD", "x")), kubequeue.ErrInvalidWorker, "environment variable", "1BAD", "valid environment variable name"},
		{"EnvNameEquals", nil, enqueue(kubequeue.WithEnv("A=B", "x")), kubequeue.ErrInvalidWorker, "environment variable", "A=B", "valid environment variable name"},
		{"EnvNameReserved", nil, enqueue(kubequeue.WithEnv("KUBEQUEUE_TOKEN", "x")), kubequeue.ErrInvalidWorker, "environment variable", "KUBEQUEUE_TOKEN", "reserved for kubequeue"},
		{"EnvValueAndValueFrom", nil, enqueue(kubequeue.WithEnvVars(corev1.EnvVar{Name: "A", Value: "x", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}})), kubequeue.ErrInvalidWorker, "environment variable", "A", "both value and valueFrom"},
		{"EnvTwoSources", nil, enqueue(kubequeue.WithEnvVars(corev1.EnvVar{Name: "A", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}, SecretKeyRef: &corev1.SecretKeySelector{Key: "k"}}})), kubequeue.ErrInvalidWorker, "environment variable", "A", "exactly one source, not 2"},
		{"EnvFromConfigMap", nil, enqueue(kubequeue.WithEnvFromConfigMap("Bad_Name")), kubequeue.ErrInvalidWorker, "WithEnvFromConfigMap", "Bad_Name", "RFC 1123"},
		{"EnvFromSecretEmpty", nil, enqueue(kubequeue.WithEnvFromSecret("")), kubequeue.ErrInvalidWorker, "WithEnvFromSecret", "", "RFC 1123"},
		// Quantities.
		{"MemoryMilli", nil, enqueue(kubequeue.WithMemory("100m", "")), kubequeue.ErrInvalidWorker, "WithMemory request", "100m", "100Mi"},
		{"MemoryFraction", nil, enqueue(kubequeue.WithMemory("", "1.5")), kubequeue.ErrInvalidWorker, "WithMemory limit", "1.5", "not a whole number of bytes"},
		{"MemoryWord", nil, enqueue(kubequeue.WithMemory("lots", "")), kubequeue.ErrInvalidWorker, "WithMemory request", "lots", "not a Kubernetes quantity"},
		{"CPUNegative", nil, enqueue(kubequeue.WithCPU("-1", "")), kubequeue.ErrInvalidWorker, "WithCPU request", "-1", "must not be negative"},
		{"CPURequestAboveLimit", nil, enqueue(kubequeue.WithCPU("2", "1")), kubequeue.ErrInvalidWorker, "WithCPU request", "2", `must not exceed the limit "1"`},
		{"CPUUnit", nil, enqueue(kubequeue.WithCPU("1 core", "")), kubequeue.ErrInvalidWorker, "WithCPU request", "1 core", "not a Kubernetes quantity"},
		// Pod settings.
		{"RestartAlways", nil, enqueue(kubequeue.WithRestartPolicy(corev1.RestartPolicyAlways)), kubequeue.ErrInvalidWorker, "WithRestartPolicy", "Always", "must be Never or OnFailure"},
		{"ServiceAccount", nil, enqueue(kubequeue.WithServiceAccount("Bad SA")), kubequeue.ErrInvalidWorker, "WithServiceAccount", "Bad SA", "RFC 1123"},
		{"ImagePullSecret", nil, enqueue(kubequeue.WithImagePullSecrets("bad/name")), kubequeue.ErrInvalidWorker, "WithImagePullSecrets", "bad/name", "RFC 1123"},
		{"NodeSelectorKey", nil, enqueue(kubequeue.WithNodeSelector(map[string]string{"bad key": "x"})), kubequeue.ErrInvalidWorker, "WithNodeSelector", "bad key", "name part must consist"},
		{"TolerationKey", nil, enqueue(kubequeue.WithTolerations(corev1.Toleration{Key: "bad key", Operator: corev1.TolerationOpExists})), kubequeue.ErrInvalidWorker, "WithTolerations key", "bad key", "name part must consist"},
		{"TolerationValue", nil, enqueue(kubequeue.WithTolerations(corev1.Toleration{Key: "k", Value: "bad value!", Operator: corev1.TolerationOpEqual})), kubequeue.ErrInvalidWorker, "WithTolerations value", "bad value!", "valid label"},
		{"PriorityClass", nil, enqueue(kubequeue.WithPriorityClass("High")), kubequeue.ErrInvalidWorker, "WithPriorityClass", "High", "RFC 1123"},
		// Volumes.
		{"VolumeName", nil, enqueue(kubequeue.WithVolumes(vol("Data"))), kubequeue.ErrInvalidWorker, "WithVolumes name", "Data", "RFC 1123"},
		{"VolumeTwice", nil, enqueue(kubequeue.WithVolumes(vol("data"), vol("data"))), kubequeue.ErrInvalidWorker, "WithVolumes name", "data", "more than one volume"},
		{"VolumeNoSource", nil, enqueue(kubequeue.WithVolumes(corev1.Volume{Name: "data"})), kubequeue.ErrInvalidWorker, "WithVolumes", "data", "exactly one volume source"},
		{"VolumeReserved", nil, enqueue(kubequeue.WithVolumes(vol("kubequeue-payload"))), kubequeue.ErrInvalidWorker, "WithVolumes name", "kubequeue-payload", "reserved"},
		{"MountUnknownVolume", nil, enqueue(kubequeue.WithVolumeMounts(corev1.VolumeMount{Name: "data", MountPath: "/data"})), kubequeue.ErrInvalidWorker, "WithVolumeMounts name", "data", "names no volume"},
		{"MountRelative", nil, enqueue(kubequeue.WithVolumes(vol("data")), kubequeue.WithVolumeMounts(corev1.VolumeMount{Name: "data", MountPath: "data"})), kubequeue.ErrInvalidWorker, "WithVolumeMounts mountPath", "data", "absolute path"},
		{"MountSubPathEscapes", nil, enqueue(kubequeue.WithVolumes(vol("data")), kubequeue.WithVolumeMounts(corev1.VolumeMount{Name: "data", MountPath: "/data", SubPath: "../etc"})), kubequeue.ErrInvalidWorker, "WithVolumeMounts subPath", "../etc", "without '..'"},
		{"MountReserved", nil, enqueue(kubequeue.WithVolumes(vol("data")), kubequeue.WithVolumeMounts(corev1.VolumeMount{Name: "data", MountPath: "/var/run/kubequeue/payload"})), kubequeue.ErrInvalidWorker, "WithVolumeMounts mountPath", "/var/run/kubequeue/payload", "reserved"},
		{"MountReservedUnclean", nil, mount("/var/run//kubequeue/payload/"), kubequeue.ErrInvalidWorker, "WithVolumeMounts mountPath", "/var/run//kubequeue/payload/", "reserved"},
		{"MountAbovePayload", nil, mount("/var/run/kubequeue"), kubequeue.ErrInvalidWorker, "WithVolumeMounts mountPath", "/var/run/kubequeue", "above it"},
		{"MountAtRoot", nil, mount("/"), kubequeue.ErrInvalidWorker, "WithVolumeMounts mountPath", "/", "above it"},
		{"MountInPayload", nil, mount("/var/run/kubequeue/payload/payload.json"), kubequeue.ErrInvalidWorker, "WithVolumeMounts mountPath", "/var/run/kubequeue/payload/payload.json", "in it"},
		// Job settings, on the worker or the call.
		{"Namespace", nil, call(kubequeue.WithNamespace("Bad NS")), kubequeue.ErrInvalidOption, "WithNamespace", "Bad NS", "RFC 1123"},
		{"NamespaceOnWorker", nil, enqueue(kubequeue.WithNamespace("a_b")), kubequeue.ErrInvalidWorker, "WithNamespace", "a_b", "RFC 1123"},
		{"LabelKey", nil, call(kubequeue.WithLabels(map[string]string{"bad key": "x"})), kubequeue.ErrInvalidOption, "WithLabels", "bad key", "name part must consist"},
		{"LabelValueTooLong", nil, call(kubequeue.WithLabels(map[string]string{"k": long(64)})), kubequeue.ErrInvalidOption, "WithLabels", long(64), "63"},
		{"LabelReserved", nil, call(kubequeue.WithLabels(map[string]string{"app.kubernetes.io/managed-by": "me"})), kubequeue.ErrInvalidOption, "WithLabels", "app.kubernetes.io/managed-by=me", "set by kubequeue"},
		{"PodLabelJobName", nil, call(kubequeue.WithPodLabels(map[string]string{"batch.kubernetes.io/job-name": "x"})), kubequeue.ErrInvalidOption, "WithPodLabels", "batch.kubernetes.io/job-name=x", "set by the Job controller"},
		{"AnnotationKey", nil, call(kubequeue.WithAnnotations(map[string]string{"bad key": "x"})), kubequeue.ErrInvalidOption, "WithAnnotations", "bad key", "name part must consist"},
		{"AnnotationsTooLarge", nil, call(kubequeue.WithAnnotations(map[string]string{"k": long(256 << 10)})), kubequeue.ErrInvalidOption, "WithAnnotations", "<value omitted>", "may not be more than 262144 bytes"},
		{"AnnotationsAndEnqueueID", nil, enqueue(kubequeue.WithAnnotations(annotations(annotationLimit - enqueueID + 1))), kubequeue.ErrInvalidWorker, "WithAnnotations", fmt.Sprintf("%d bytes", annotationLimit+1), "with kubequeue's own"},
		{"CallAnnotationsAndEnqueueID", nil, call(kubequeue.WithAnnotations(annotations(annotationLimit - enqueueID + 1))), kubequeue.ErrInvalidOption, "WithAnnotations", fmt.Sprintf("%d bytes", annotationLimit+1), "with kubequeue's own"},
		{"AnnotationsAndUniqueKey", nil, call(kubequeue.WithAnnotations(annotations(annotationLimit-enqueueID)), kubequeue.WithUniqueKey("order-42")), kubequeue.ErrInvalidOption, "WithAnnotations", fmt.Sprintf("%d bytes", annotationLimit+uniqueKey), "with kubequeue's own"},
		{"AnnotationsAndResume", nil, call(kubequeue.WithAnnotations(annotations(annotationLimit-enqueueID)), kubequeue.WithSensitivePayload()), kubequeue.ErrInvalidOption, "WithAnnotations", fmt.Sprintf("%d bytes", annotationLimit+resume), "with kubequeue's own"},
		{"WorkerAnnotationsAndResume", nil, enqueueWith(worker(kubequeue.WithAnnotations(annotations(annotationLimit-enqueueID)), kubequeue.WithSensitivePayload()), greeting{}), kubequeue.ErrInvalidWorker, "WithAnnotations", fmt.Sprintf("%d bytes", annotationLimit+resume), "with kubequeue's own"},
		{"BackoffNegative", nil, call(kubequeue.WithBackoffLimit(-1)), kubequeue.ErrInvalidOption, "WithBackoffLimit", "-1", "must not be negative"},
		{"DeadlineZero", nil, call(kubequeue.WithActiveDeadline(0)), kubequeue.ErrInvalidOption, "WithActiveDeadline", "0s", "must be positive"},
		{"DeadlineNegative", nil, enqueue(kubequeue.WithActiveDeadline(-time.Hour)), kubequeue.ErrInvalidWorker, "WithActiveDeadline", "-1h0m0s", "must be positive"},
		{"TTLNegative", nil, call(kubequeue.WithTTLAfterFinished(-time.Second)), kubequeue.ErrInvalidOption, "WithTTLAfterFinished", "-1s", "must not be negative"},
		{"MutatorNil", nil, call(kubequeue.WithJobMutator(nil)), kubequeue.ErrInvalidOption, "WithJobMutator", "nil", "must not be nil"},
		{"JobName", nil, call(kubequeue.WithJobName("Bad_Name")), kubequeue.ErrInvalidOption, "WithJobName", "Bad_Name", "RFC 1123"},
		{"JobNameTooLong", nil, call(kubequeue.WithJobName(long(64))), kubequeue.ErrInvalidOption, "WithJobName", long(64), "63"},
		{"UniqueKeyEmpty", nil, call(kubequeue.WithUniqueKey("")), kubequeue.ErrInvalidOption, "WithUniqueKey", "", "1 to 1024 bytes"},
		{"UniqueKeyTooLong", nil, call(kubequeue.WithUniqueKey(long(1025))), kubequeue.ErrInvalidOption, "WithUniqueKey", long(61) + "...", "1 to 1024 bytes"},
		{"UniqueKeyAndJobName", nil, call(kubequeue.WithUniqueKey("order-42"), kubequeue.WithJobName("order-42")), kubequeue.ErrInvalidOption, "WithUniqueKey", "order-42", "cannot be combined with WithJobName"},
		// Pod failure policy rules.
		{"FailIndexNeedsIndexed", nil, call(kubequeue.WithPodFailurePolicyRules(exit(batchv1.PodFailurePolicyActionFailIndex, 3))), kubequeue.ErrInvalidOption, "WithPodFailurePolicyRules action", "rule 0: FailIndex", "needs an Indexed Job"},
		{"RulesNeedNever", nil, enqueue(kubequeue.WithRestartPolicy(corev1.RestartPolicyOnFailure), kubequeue.WithPodFailurePolicyRules(exit(batchv1.PodFailurePolicyActionIgnore, 3))), kubequeue.ErrInvalidWorker, "WithPodFailurePolicyRules", "1 rules", "needs restartPolicy Never"},
		{"RuleWithoutCondition", nil, call(kubequeue.WithPodFailurePolicyRules(batchv1.PodFailurePolicyRule{Action: batchv1.PodFailurePolicyActionIgnore})), kubequeue.ErrInvalidOption, "WithPodFailurePolicyRules", "rule 0", "exactly one of onExitCodes and onPodConditions"},
		{"RuleOnSuccess", nil, call(kubequeue.WithPodFailurePolicyRules(exit(batchv1.PodFailurePolicyActionFailJob, 0))), kubequeue.ErrInvalidOption, "WithPodFailurePolicyRules onExitCodes", "rule 0: In [0]", "exit code 0"},
		{"RuleNoOperator", nil, call(withCodes("", 3)), kubequeue.ErrInvalidOption, "WithPodFailurePolicyRules onExitCodes operator", "rule 0", "is required: In or NotIn"},
		{"RuleUnknownOperator", nil, enqueue(withCodes("Equals", 3)), kubequeue.ErrInvalidWorker, "WithPodFailurePolicyRules onExitCodes operator", "rule 0: Equals", "must be In or NotIn"},
		{"RuleCodesUnsorted", nil, call(withCodes(batchv1.PodFailurePolicyOnExitCodesOpIn, 5, 3)), kubequeue.ErrInvalidOption, "WithPodFailurePolicyRules onExitCodes", "rule 0: In [5 3]", "increasing order"},
		{"RuleCodeTwice", nil, call(withCodes(batchv1.PodFailurePolicyOnExitCodesOpNotIn, 3, 3)), kubequeue.ErrInvalidOption, "WithPodFailurePolicyRules onExitCodes", "rule 0: NotIn [3 3]", "twice"},
		{"RuleTooManyCodes", nil, call(withCodes(batchv1.PodFailurePolicyOnExitCodesOpIn, func() []int32 {
			codes := make([]int32, 256)
			for i := range codes {
				codes[i] = int32(i + 1)
			}
			return codes
		}()...)), kubequeue.ErrInvalidOption, "WithPodFailurePolicyRules onExitCodes", "rule 0: 256 exit codes", "at most 255"},
		{"RuleOtherContainer", nil, enqueue(kubequeue.WithPodFailurePolicyRules(batchv1.PodFailurePolicyRule{Action: batchv1.PodFailurePolicyActionIgnore, OnExitCodes: &batchv1.PodFailurePolicyOnExitCodesRequirement{ContainerName: ptr.To("sidecar"), Operator: batchv1.PodFailurePolicyOnExitCodesOpIn, Values: []int32{3}}})), kubequeue.ErrInvalidWorker, "WithPodFailurePolicyRules onExitCodes containerName", "rule 0: sidecar", "names no container"},
		{"RuleConditionStatus", nil, call(onCondition(corev1.DisruptionTarget, "Maybe")), kubequeue.ErrInvalidOption, "WithPodFailurePolicyRules onPodConditions status", "rule 0: Maybe", "True, False or Unknown"},
		{"RuleConditionType", nil, call(onCondition("bad type", corev1.ConditionTrue)), kubequeue.ErrInvalidOption, "WithPodFailurePolicyRules onPodConditions type", "rule 0: bad type", "name part must consist"},
		{"RuleUnknownAction", nil, call(kubequeue.WithPodFailurePolicyRules(exit("Retry", 1))), kubequeue.ErrInvalidOption, "WithPodFailurePolicyRules action", "rule 0: Retry", "must be FailJob, Ignore or Count"},
		// Mutators that break what kubequeue relies on.
		{"MutatorRenames", nil, call(kubequeue.WithJobName("a"), kubequeue.WithJobMutator(func(j *batchv1.Job) { j.Name = "b" })), kubequeue.ErrInvalidOption, "WithJobMutator", "default/b", "must not change the name"},
		{"MutatorDropsPayloadVolume", nil, call(kubequeue.WithSensitivePayload(), kubequeue.WithJobMutator(func(j *batchv1.Job) { j.Spec.Template.Spec.Volumes = nil })), kubequeue.ErrInvalidOption, "WithJobMutator", "kubequeue-payload", "payload's Secret volume"},
		{"MutatorDropsWorkerVariable", nil, call(kubequeue.WithJobMutator(func(j *batchv1.Job) { j.Spec.Template.Spec.Containers[0].Env = nil })), kubequeue.ErrInvalidOption, "WithJobMutator", "KUBEQUEUE_WORKER", "must not remove the worker container"},
		{"MutatorRenamesContainer", nil, call(kubequeue.WithJobMutator(func(j *batchv1.Job) { j.Spec.Template.Spec.Containers[0].Name = "main" })), kubequeue.ErrInvalidOption, "pod failure policy containerName", "worker", "names no container"},
		{"TooManyRules", nil, call(kubequeue.WithPodFailurePolicyRules(slices.Repeat([]batchv1.PodFailurePolicyRule{exit(batchv1.PodFailurePolicyActionIgnore, 3)}, 19)...)), kubequeue.ErrInvalidOption, "WithPodFailurePolicyRules", "21 rules", "at most 20"},
		// Payloads.
		{"PayloadType", nil, enqueueWith(worker(), "a string"), kubequeue.ErrPayloadType, "", "", "takes kubequeue_test.greeting, not string"},
		{"PayloadChannel", nil, enqueueWith(kubequeue.NewWorker("c", func(context.Context, channel) error { return nil }, img), channel{C: make(chan int)}), kubequeue.ErrPayloadEncode, "", "", "unsupported type: chan int"},
		{"PayloadNaN", nil, enqueueWith(kubequeue.NewWorker("n", func(context.Context, number) error { return nil }, img), number{F: math.NaN()}), kubequeue.ErrPayloadEncode, "", "", "unsupported value: NaN"},
		{"PayloadInf", nil, enqueueWith(kubequeue.NewWorker("n", func(context.Context, number) error { return nil }, img), number{F: math.Inf(1)}), kubequeue.ErrPayloadEncode, "", "", "unsupported value: +Inf"},
		{"PayloadInvalidUTF8", nil, enqueueWith(worker(), greeting{Name: "\xff"}), kubequeue.ErrPayloadEncode, "", "", "not valid UTF-8"},
		{"PayloadRawMessageInvalidUTF8", nil, enqueueWith(kubequeue.NewWorker("r", func(context.Context, json.RawMessage) error { return nil }, img), json.RawMessage("\"caf\xe9\"")), kubequeue.ErrPayloadEncode, "", "", "not valid UTF-8"},
		{"PayloadMarshalJSONPanics", nil, enqueueWith(kubequeue.NewWorker("p", func(context.Context, panicky) error { return nil }, img), panicky{}), kubequeue.ErrPayloadEncode, "", "", "MarshalJSON or MarshalText method panicked: marshal-boom"},
		// Payloads that encode but would never decode in the container.
		{"PayloadInterfaceField", nil, enqueueWith(kubequeue.NewWorker("i", func(context.Context, stringerField) error { return nil }, img), stringerField{S: net.IPv4(10, 0, 0, 1)}), kubequeue.ErrPayloadEncode, "", "", "does not decode back into kubequeue_test.stringerField"},
		{"PayloadTooDeep", nil, enqueueWith(kubequeue.NewWorker("d", func(context.Context, *nested) error { return nil }, img), deep), kubequeue.ErrPayloadEncode, "", "", "nested deeper than encoding/json decodes"},
		{"PayloadAnyTooDeep", nil, enqueueWith(kubequeue.NewWorker("a", func(context.Context, any) error { return nil }, img), anyDeep), kubequeue.ErrPayloadEncode, "", "", "nested deeper than encoding/json decodes"},
		{"PayloadMarshalsWhatItCannotDecode", nil, enqueueWith(kubequeue.NewWorker("o", func(context.Context, oneWay) error { return nil }, img), oneWay{N: 1}), kubequeue.ErrPayloadEncode, "", "", "cannot be decoded into Go type kubequeue_test.oneWay"},
		{"PayloadUnmarshalJSONPanics", nil, enqueueWith(kubequeue.NewWorker("u", func(context.Context, panicsDecoding) error { return nil }, img), panicsDecoding{}), kubequeue.ErrPayloadEncode, "", "", "UnmarshalJSON or UnmarshalText method panicked"},
		{"PayloadTooLarge", nil, enqueueWith(worker(), greeting{Name: long(1 << 20)}), kubequeue.ErrPayloadTooLarge, "", "", "more than 1048576"},
		// Queue options, refused by New.
		{"QueueNamespace", []kubequeue.QueueOption{kubequeue.WithDefaultNamespace("x_y")}, nil, kubequeue.ErrInvalidOption, "WithDefaultNamespace", "x_y", "RFC 1123"},
		{"FieldManagerEmpty", []kubequeue.QueueOption{kubequeue.WithFieldManager("")}, nil, kubequeue.ErrInvalidOption, "WithFieldManager", "", "1 to 128 characters"},
		{"RetriesZero", []kubequeue.QueueOption{kubequeue.WithRetries(0)}, nil, kubequeue.ErrInvalidOption, "WithRetries", "0", "1 to 100"},
		{"RetriesAbsurd", []kubequeue.QueueOption{kubequeue.WithRetries(1000)}, nil, kubequeue.ErrInvalidOption, "WithRetries", "1000", "1 to 100"},
		// The other calls.
		{"CancelPropagation", nil, func(c ctx, q *kubequeue.Queue) error {
			return q.Cancel(c, kubequeue.Handle{Namespace: "ns", Name: "j"}, kubequeue.WithPropagation("Sometimes"))
		}, kubequeue.ErrInvalidOption, "", "", `WithPropagation "Sometimes": must be`},
		{"HandleEmpty", nil, func(c ctx, q *kubequeue.Queue) error { _, err := q.Status(c, kubequeue.Handle{}); return err }, kubequeue.ErrInvalidHandle, "Handle.Namespace", "", "RFC 1123"},
		{"HandleName", nil, func(c ctx, q *kubequeue.Queue) error {
			return q.Suspend(c, kubequeue.Handle{Namespace: "ns", Name: "Bad/Name"})
		}, kubequeue.ErrInvalidHandle, "Handle.Name", "Bad/Name", "RFC 1123"},
		{"ListLimit", nil, func(c ctx, q *kubequeue.Queue) error {
			_, err := q.List(c, kubequeue.ListOptions{Limit: -1})
			return err
		}, kubequeue.ErrInvalidOption, "ListOptions.Limit", "-1", "must not be negative"},
		{"ListContinue", nil, func(c ctx, q *kubequeue.Queue) error {
			_, err := q.List(c, kubequeue.ListOptions{Continue: "!!"})
			return err
		}, kubequeue.ErrInvalidOption, "ListOptions.Continue", "!!", "not a token returned by List"},
		{"LogsTail", nil, func(c ctx, q *kubequeue.Queue) error {
			for _, err := range q.Logs(c, kubequeue.Handle{Namespace: "ns", Name: "j"}, kubequeue.LogOptions{TailLines: -5}) {
				return err
			}
			return nil
		}, kubequeue.ErrInvalidOption, "LogOptions.TailLines", "-5", "must not be negative"},
		{"WaitHandle", nil, func(c ctx, q *kubequeue.Queue) error {
			_, err := q.Wait(c, kubequeue.Handle{Namespace: "NS", Name: "j"})
			return err
		}, kubequeue.ErrInvalidHandle, "Handle.Namespace", "NS", "RFC 1123"},
	}
	require.GreaterOrEqual(t, len(tests), 60)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			client := fake.NewClientset()
			queue, err := kubequeue.New(client, tt.queue...)
			if err == nil {
				require.NotPanics(t, func() { err = tt.run(t.Context(), queue) })
			}
			require.ErrorIs(t, err, tt.sentinel)
			require.ErrorContains(t, err, tt.rule)
			if tt.field != "" {
				var ve *kubequeue.ValidationError
				require.ErrorAs(t, err, &ve)
				require.Equal(t, tt.field, ve.Field, "%v", err)
				require.Equal(t, tt.value, ve.Value, "%v", err)
				require.ErrorContains(t, err, fmt.Sprintf("%s %q", tt.field, ve.Value))
			}
			requireNoAPICall(t, client)
		})
	}
}

// TestDocumentedConstants pins the values that the README and the doc
// comments state, as literals, so that changing one fails until the docs
// change with it.
func TestDocumentedConstants(t *testing.T) {
	t.Parallel()
	require.EqualValues(t, 65536, kubequeue.MaxEnvPayloadSize, "64 KiB")
	require.EqualValues(t, 1048576, kubequeue.MaxPayloadSize, "1 MiB")
	require.EqualValues(t, 4096, kubequeue.MaxResultSize)
	require.EqualValues(t, 8, kubequeue.DefaultRetries)
	require.EqualValues(t, 3, kubequeue.DefaultBackoffLimit)
	require.Equal(t, 86400*time.Second, kubequeue.DefaultTTLAfterFinished, "24 hours")
	require.EqualValues(t, 52, kubequeue.MaxWorkerNameLen)
	require.EqualValues(t, 0, kubequeue.ExitSuccess)
	require.EqualValues(t, 1, kubequeue.ExitRetryable)
	require.EqualValues(t, 42, kubequeue.ExitPermanent)
	require.EqualValues(t, 50, kubequeue.DefaultQPS)
	require.EqualValues(t, 100, kubequeue.DefaultBurst)
	require.Equal(t, "default", kubequeue.DefaultNamespace)
	require.Equal(t, "kubequeue", kubequeue.DefaultFieldManager)
}

func TestNew_InvalidOptions(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		opts  []kubequeue.QueueOption
		field string
	}{
		{"EmptyNamespace", []kubequeue.QueueOption{kubequeue.WithDefaultNamespace("")}, "WithDefaultNamespace"},
		{"BadNamespace", []kubequeue.QueueOption{kubequeue.WithDefaultNamespace("Bad_NS")}, "WithDefaultNamespace"},
		{"EmptyFieldManager", []kubequeue.QueueOption{kubequeue.WithFieldManager("")}, "WithFieldManager"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			client := fake.NewClientset()
			queue, err := kubequeue.New(client, tt.opts...)
			require.ErrorIs(t, err, kubequeue.ErrInvalidOption)
			require.Nil(t, queue)
			var verr *kubequeue.ValidationError
			require.ErrorAs(t, err, &verr)
			require.Equal(t, tt.field, verr.Field)
			requireNoAPICall(t, client)
		})
	}
}

func TestNew_NilClient(t *testing.T) {
	t.Parallel()
	var cs *kubernetes.Clientset // as left by a failed NewClientset
	for _, client := range []kubernetes.Interface{nil, cs} {
		queue, err := kubequeue.New(client)
		require.ErrorContains(t, err, "nil kubernetes client")
		require.Nil(t, queue)
	}
}
