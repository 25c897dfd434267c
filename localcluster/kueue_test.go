package localcluster

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	admissionv1 "k8s.io/api/admissionregistration/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
)

func TestKueueWebhooks(t *testing.T) {
	t.Parallel()
	manifest := []byte(`---
apiVersion: admissionregistration.k8s.io/v1
kind: MutatingWebhookConfiguration
metadata:
  name: mutating-webhook-configuration
webhooks:
- clientConfig:
    service: {name: webhook-service, namespace: system, path: /mutate-batch-v1-job}
  name: mjob.kb.io
  rules:
  - apiGroups: [batch]
    apiVersions: [v1]
    operations: [CREATE]
    resources: [jobs]
- clientConfig:
    service: {name: webhook-service, namespace: system, path: /mutate--v1-pod}
  name: mpod.kb.io
  rules:
  - apiGroups: [""]
    apiVersions: [v1]
    operations: [CREATE]
    resources: [pods]
- clientConfig:
    service: {name: webhook-service, namespace: system, path: /mutate-kueue-x-k8s-io-v1beta2-workload}
  name: mworkload.kb.io
  rules:
  - apiGroups: [kueue.x-k8s.io]
    apiVersions: [v1beta2]
    operations: [CREATE]
    resources: [workloads]
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata:
  name: validating-webhook-configuration
webhooks:
- clientConfig:
    service: {name: webhook-service, namespace: system, path: /validate-batch-v1-job}
  name: vjob.kb.io
  rules:
  - apiGroups: [batch]
    apiVersions: [v1]
    operations: [CREATE, UPDATE]
    resources: [jobs]
- clientConfig:
    service: {name: webhook-service, namespace: system, path: /validate-apps-v1-deployment}
  name: vdeployment.kb.io
  rules:
  - apiGroups: [apps]
    apiVersions: [v1]
    operations: [CREATE]
    resources: [deployments]
`)
	mutating, validating, err := kueueWebhooks(manifest, 9443, []byte("CA"))
	require.NoError(t, err)
	require.Equal(t, kueueWebhookName, mutating.Name)
	require.Equal(t, kueueWebhookName, validating.Name)
	names := func(ws []admissionv1.MutatingWebhook) []string {
		var out []string
		for _, w := range ws {
			out = append(out, w.Name)
		}
		return out
	}
	require.Equal(t, []string{"mjob.kb.io", "mworkload.kb.io"}, names(mutating.Webhooks), "only the batch and kueue.x-k8s.io webhooks")
	require.Len(t, validating.Webhooks, 1)

	job, workload := mutating.Webhooks[0], mutating.Webhooks[1]
	require.Nil(t, job.ClientConfig.Service)
	require.Equal(t, "https://127.0.0.1:9443/mutate-batch-v1-job", *job.ClientConfig.URL)
	require.Equal(t, []byte("CA"), job.ClientConfig.CABundle)
	selector := &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: KueueQueueLabel, Operator: metav1.LabelSelectorOpExists}}}
	require.Equal(t, selector, job.ObjectSelector, "Jobs without a queue label never reach Kueue")
	require.Equal(t, selector, validating.Webhooks[0].ObjectSelector)
	require.Nil(t, workload.ObjectSelector, "Kueue's own objects are all Kueue's")
	require.Equal(t, "https://127.0.0.1:9443/mutate-kueue-x-k8s-io-v1beta2-workload", *workload.ClientConfig.URL)

	_, _, err = kueueWebhooks([]byte("kind: MutatingWebhookConfiguration\nwebhooks: []\n"), 9443, nil)
	require.ErrorContains(t, err, "no Job webhooks")
}

// TestCluster_StartKueue starts Kueue on a cluster: a labelled Job is
// suspended by Kueue's webhook and admitted through a ClusterQueue, an
// unlabelled one runs while Kueue is stopped, and /etc is left as it was.
func TestCluster_StartKueue(t *testing.T) {
	c := startCluster(t, Options{})
	_, statErr := os.Stat("/etc/kueue")
	start := time.Now()
	k, err := c.StartKueue(t.Context())
	require.NoError(t, err)
	t.Logf("Kueue ready in %s", time.Since(start).Round(time.Millisecond))
	_, err = c.StartKueue(t.Context())
	require.ErrorContains(t, err, "already running")
	_, err = os.Stat("/etc/kueue")
	require.Equal(t, os.IsNotExist(statErr), os.IsNotExist(err), "StartKueue changed the host's /etc")

	client, err := kubernetes.NewForConfig(c.Config())
	require.NoError(t, err)
	applyQueues(t, c)
	labelled := kwokJob("labelled", map[string]string{KueueQueueLabel: "lq"})
	_, err = client.BatchV1().Jobs("default").Create(t.Context(), labelled, metav1.CreateOptions{})
	require.NoError(t, err)
	waitJobComplete(t, client, "labelled")

	k.Stop()
	k.Stop()
	_, err = client.BatchV1().Jobs("default").Create(t.Context(), kwokJob("refused", map[string]string{KueueQueueLabel: "lq"}), metav1.CreateOptions{})
	require.ErrorContains(t, err, "kb.io", "a labelled Job is refused while Kueue is down (fail closed)")
	_, err = client.BatchV1().Jobs("default").Create(t.Context(), kwokJob("unlabelled", nil), metav1.CreateOptions{})
	require.NoError(t, err, "the objectSelector lets unlabelled Jobs through while Kueue is down")
	waitJobComplete(t, client, "unlabelled")

	_, err = c.StartKueue(t.Context())
	require.NoError(t, err, "Kueue starts again after Stop")
}

// kwokJob is a Job of one pod on the simulated node, which completes it at
// once.
func kwokJob(name string, labels map[string]string) *batchv1.Job {
	nodeSelector, tolerations := Simulated()
	return &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
		Spec: batchv1.JobSpec{
			BackoffLimit: new(int32),
			Template: corev1.PodTemplateSpec{
				Spec: corev1.PodSpec{
					RestartPolicy: corev1.RestartPolicyNever,
					NodeSelector:  nodeSelector,
					Tolerations:   tolerations,
					Containers: []corev1.Container{{
						Name: "c", Image: "busybox",
						Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m")}},
					}},
				},
			},
		},
	}
}

func waitJobComplete(t *testing.T, client kubernetes.Interface, name string) {
	t.Helper()
	err := wait.PollUntilContextTimeout(t.Context(), 100*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		j, err := client.BatchV1().Jobs("default").Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		for _, c := range j.Status.Conditions {
			if c.Type == batchv1.JobComplete && c.Status == corev1.ConditionTrue {
				return true, nil
			}
		}
		return false, nil
	})
	require.NoError(t, err, "Job %s did not complete", name)
}

// applyQueues creates a ResourceFlavor, a ClusterQueue with 1 CPU and a
// LocalQueue lq in default.
func applyQueues(t *testing.T, c *Cluster) {
	t.Helper()
	dyn, err := dynamic.NewForConfig(c.Config())
	require.NoError(t, err)
	kueue := func(resource string) schema.GroupVersionResource {
		return schema.GroupVersionResource{Group: "kueue.x-k8s.io", Version: "v1beta2", Resource: resource}
	}
	for _, o := range []struct {
		gvr       schema.GroupVersionResource
		namespace string
		json      string
	}{
		{kueue("resourceflavors"), "", `{"apiVersion":"kueue.x-k8s.io/v1beta2","kind":"ResourceFlavor","metadata":{"name":"default-flavor"}}`},
		{kueue("clusterqueues"), "", `{"apiVersion":"kueue.x-k8s.io/v1beta2","kind":"ClusterQueue","metadata":{"name":"cq"},"spec":{"namespaceSelector":{},"resourceGroups":[{"coveredResources":["cpu"],"flavors":[{"name":"default-flavor","resources":[{"name":"cpu","nominalQuota":"1"}]}]}]}}`},
		{kueue("localqueues"), "default", `{"apiVersion":"kueue.x-k8s.io/v1beta2","kind":"LocalQueue","metadata":{"name":"lq","namespace":"default"},"spec":{"clusterQueue":"cq"}}`},
	} {
		var u unstructured.Unstructured
		require.NoError(t, u.UnmarshalJSON([]byte(o.json)))
		_, err := dyn.Resource(o.gvr).Namespace(o.namespace).Create(t.Context(), &u, metav1.CreateOptions{})
		require.NoError(t, err, "create %s", u.GetName())
	}
}
