package localkubelet

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

func TestProvider_ResyncWritesAStatusNeverReported(t *testing.T) {
	t.Parallel()
	tk := newTestKubelet(t)
	tk.create(t, testPod("lost", sh(`exit 3`)))
	tk.waitFor(t, "lost", ended)

	// The statuses were pushed to the recorder only: the API server still
	// holds the pod as created, as if every notification had been lost.
	pods := tk.client.CoreV1().Pods("ns")
	phase := func() corev1.PodPhase {
		p, err := pods.Get(t.Context(), "lost", metav1.GetOptions{})
		require.NoError(t, err)
		return p.Status.Phase
	}
	require.Empty(t, phase())

	// The first sighting of the mismatch waits for a whole period, in case
	// the notification is only late.
	tk.resyncOnce(t.Context(), time.Hour)
	require.Empty(t, phase())
	tk.resyncOnce(t.Context(), time.Hour)
	require.Empty(t, phase(), "written before a period had passed")

	tk.resyncOnce(t.Context(), 0)
	got, err := pods.Get(t.Context(), "lost", metav1.GetOptions{})
	require.NoError(t, err)
	require.Equal(t, corev1.PodFailed, got.Status.Phase)
	require.EqualValues(t, 3, terminated(got).ExitCode)
}

func TestProvider_ResyncLeavesAgreeingPodsAlone(t *testing.T) {
	t.Parallel()
	tk := newTestKubelet(t)
	pod := testPod("agrees", sh(`exit 0`))
	tk.create(t, pod)
	tk.waitFor(t, "agrees", ended)
	// The API server has the terminal status already (the informer's copy
	// says so): nothing is written, not even after a period.
	cur := pod.DeepCopy()
	cur.Status.Phase = corev1.PodSucceeded
	require.NoError(t, tk.store.Update(cur))
	tk.resyncOnce(t.Context(), 0)
	tk.resyncOnce(t.Context(), 0)
	for _, a := range tk.client.(*fake.Clientset).Actions() {
		require.NotEqual(t, "patch", a.GetVerb(), "a status was written for a pod whose phase agreed")
	}
}
