package localkubelet

import (
	"context"
	"encoding/json"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"
)

// statusPatcher is the pods client virtual-kubelet's pod controller writes
// statuses with. Its UpdateStatus sends a merge patch of the status alone
// (with the pod's UID as a precondition) instead of the whole object, so a
// status computed a moment ago never writes back labels, annotations or
// finalizers that others changed since: the Job controller removes its
// batch.kubernetes.io/job-tracking finalizer while the pod runs.
type statusPatcher struct{ corev1client.PodsGetter }

func (g statusPatcher) Pods(namespace string) corev1client.PodInterface {
	return statusPatchingPods{g.PodsGetter.Pods(namespace)}
}

type statusPatchingPods struct{ corev1client.PodInterface }

func (p statusPatchingPods) UpdateStatus(ctx context.Context, pod *corev1.Pod, _ metav1.UpdateOptions) (*corev1.Pod, error) {
	patch, err := json.Marshal(map[string]any{
		"metadata": map[string]any{"uid": pod.UID},
		"status":   pod.Status,
	})
	if err != nil {
		return nil, err
	}
	return p.Patch(ctx, pod.Name, types.MergePatchType, patch, metav1.PatchOptions{}, "status")
}
