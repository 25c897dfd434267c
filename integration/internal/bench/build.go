package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilrand "k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/ptr"

	"github.com/kubequeue/kubequeue"
)

// sink keeps built Jobs alive, so that the compiler cannot drop them.
var sink *batchv1.Job

// build measures Build beside the hand-written batchv1.Job literal with
// the same fields, as BenchmarkBuild does: time and allocations per Job.
func (b *bench) build(context.Context) error {
	payload := Args{OrderID: 42, Email: "ada@example.com", Note: `a "quoted" note`}
	w := kubequeue.NewWorker("send-receipt", perform,
		kubequeue.WithImage("registry.example.com/shop/api:v1.4.2"),
		kubequeue.WithNamespace("shop"),
		kubequeue.WithEnv("LOG_LEVEL", "info"),
		kubequeue.WithCPU("100m", "500m"),
		kubequeue.WithMemory("64Mi", "256Mi"),
		kubequeue.WithLabels(map[string]string{"team": "checkout"}),
	)
	queue, err := kubequeue.New(fake.NewClientset())
	if err != nil {
		return err
	}
	cpuReq, cpuLim := resource.MustParse("100m"), resource.MustParse("500m")
	memReq, memLim := resource.MustParse("64Mi"), resource.MustParse("256Mi")
	literal := func() (*batchv1.Job, error) {
		data, err := json.Marshal(payload)
		if err != nil {
			return nil, err
		}
		backoff, ttl := int32(3), int32(86400)
		return &batchv1.Job{
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
		}, nil
	}
	kq := func() (*batchv1.Job, error) { return queue.Build(w, payload) }

	// Both sides must build the same Job, apart from the random name.
	want, err := kq()
	if err != nil {
		return err
	}
	got, err := literal()
	if err != nil {
		return err
	}
	got.Name = want.Name
	if !equality.Semantic.DeepEqual(want, got) {
		return fmt.Errorf("bench: the literal differs from Build:\nBuild:   %+v\nliteral: %+v", want, got)
	}

	n := b.cfg.Scale.BuildIterations
	b.progress("build: %d Jobs each side, %d rounds", n, b.cfg.Scale.Rounds)
	var kqNs, litNs, kqAllocs, litAllocs []float64
	for r := range b.cfg.Scale.Rounds {
		order := []bool{true, false} // true: kubequeue
		if r%2 == 1 {
			order = []bool{false, true}
		}
		for _, isKQ := range order {
			f := literal
			if isKQ {
				f = kq
			}
			nsPerOp, allocs, err := measureBuild(n, f)
			if err != nil {
				return err
			}
			if isKQ {
				kqNs, kqAllocs = append(kqNs, nsPerOp), append(kqAllocs, allocs)
			} else {
				litNs, litAllocs = append(litNs, nsPerOp), append(litAllocs, allocs)
			}
		}
	}
	ratio := median(kqAllocs) / median(litAllocs)
	b.report.add("Build one Job (typical worker): ns/op",
		fmt.Sprintf("%.0f", median(kqNs)), fmt.Sprintf("%.0f (literal)", median(litNs)), number(median(ratios(kqNs, litNs))))
	b.report.add("Build one Job: allocs/op",
		fmt.Sprintf("%.0f", median(kqAllocs)), fmt.Sprintf("%.0f (literal)", median(litAllocs)), number(ratio))
	b.report.target("build_allocs", ratio, "<=", 1.5)
	return nil
}

// measureBuild calls f n times and returns the time and the allocations
// per call.
func measureBuild(n int, f func() (*batchv1.Job, error)) (nsPerOp, allocsPerOp float64, err error) {
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	start := time.Now()
	for range n {
		job, err := f()
		if err != nil {
			return 0, 0, err
		}
		sink = job
	}
	elapsed := time.Since(start)
	runtime.ReadMemStats(&after)
	return float64(elapsed.Nanoseconds()) / float64(n), float64(after.Mallocs-before.Mallocs) / float64(n), nil
}
