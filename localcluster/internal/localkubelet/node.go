package localkubelet

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"runtime"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
)

// maxPods is the node's pod capacity, the kubelet's default.
const maxPods = 110

// nodeSpec returns the Node the kubelet registers: address 127.0.0.1, the
// kubelet API's port, the host's CPUs and memory, and the API server's
// version as its kubelet version.
func nodeSpec(client kubernetes.Interface, cfg Config) (corev1.Node, error) {
	_, portStr, _ := net.SplitHostPort(cfg.Addr)
	port, err := strconv.ParseInt(portStr, 10, 32)
	if err != nil {
		return corev1.Node{}, fmt.Errorf("localkubelet: listen port %q: %w", portStr, err)
	}
	version, err := client.Discovery().ServerVersion()
	if err != nil {
		return corev1.Node{}, fmt.Errorf("localkubelet: API server version: %w", err)
	}
	labels := map[string]string{
		"kubernetes.io/hostname": cfg.NodeName,
		"kubernetes.io/os":       runtime.GOOS,
		"kubernetes.io/arch":     runtime.GOARCH,
		"type":                   "local-kubelet",
	}
	for k, v := range cfg.Labels {
		labels[k] = v
	}
	resources := corev1.ResourceList{
		corev1.ResourceCPU:    *resource.NewQuantity(int64(runtime.NumCPU()), resource.DecimalSI),
		corev1.ResourceMemory: *resource.NewQuantity(hostMemory(), resource.BinarySI),
		corev1.ResourcePods:   *resource.NewQuantity(maxPods, resource.DecimalSI),
	}
	condition := func(t corev1.NodeConditionType, s corev1.ConditionStatus, reason string) corev1.NodeCondition {
		return corev1.NodeCondition{Type: t, Status: s, Reason: reason, LastHeartbeatTime: metav1.Now(), LastTransitionTime: metav1.Now()}
	}
	return corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: cfg.NodeName, Labels: labels},
		Spec:       corev1.NodeSpec{Taints: cfg.Taints},
		Status: corev1.NodeStatus{
			Phase: corev1.NodePending,
			Conditions: []corev1.NodeCondition{
				condition(corev1.NodeReady, corev1.ConditionFalse, "KubeletNotReady"),
				condition(corev1.NodeMemoryPressure, corev1.ConditionFalse, "KubeletHasSufficientMemory"),
				condition(corev1.NodeDiskPressure, corev1.ConditionFalse, "KubeletHasNoDiskPressure"),
				condition(corev1.NodePIDPressure, corev1.ConditionFalse, "KubeletHasSufficientPID"),
				condition(corev1.NodeNetworkUnavailable, corev1.ConditionFalse, "RouteCreated"),
			},
			Addresses: []corev1.NodeAddress{
				{Type: corev1.NodeInternalIP, Address: localIP},
				{Type: corev1.NodeHostName, Address: cfg.NodeName},
			},
			DaemonEndpoints: corev1.NodeDaemonEndpoints{KubeletEndpoint: corev1.DaemonEndpoint{Port: int32(port)}},
			Capacity:        resources,
			Allocatable:     resources.DeepCopy(),
			NodeInfo: corev1.NodeSystemInfo{
				KubeletVersion:          version.GitVersion,
				OperatingSystem:         runtime.GOOS,
				Architecture:            runtime.GOARCH,
				ContainerRuntimeVersion: "localprocess://" + version.GitVersion,
			},
		},
	}, nil
}

// setReady marks the node Ready.
func setReady(n *corev1.Node) {
	n.Status.Phase = corev1.NodeRunning
	for i, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			now := metav1.Now()
			n.Status.Conditions[i] = corev1.NodeCondition{
				Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady", Message: "kubelet is posting ready status",
				LastHeartbeatTime: now, LastTransitionTime: now,
			}
		}
	}
}

// setTaints replaces the node's taints. Admission adds
// node.kubernetes.io/not-ready when the Node is created, even when it is
// created Ready; the node controller only writes status afterwards, so this
// patch stays.
func setTaints(ctx context.Context, client kubernetes.Interface, name string, taints []corev1.Taint) error {
	if taints == nil {
		taints = []corev1.Taint{}
	}
	patch, err := json.Marshal(map[string]any{"spec": map[string]any{"taints": taints}})
	if err != nil {
		return err
	}
	if _, err := client.CoreV1().Nodes().Patch(ctx, name, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		return fmt.Errorf("localkubelet: set taints of node %s: %w", name, err)
	}
	return nil
}
