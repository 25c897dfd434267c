package integration

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/yaml"

	"github.com/kubequeue/kubequeue"
)

// restrict makes the namespace enforce the Pod Security Standard
// "restricted", as the API server's PodSecurity admission does for pods.
func restrict(t *testing.T, e *env) {
	t.Helper()
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"labels": map[string]string{
		"pod-security.kubernetes.io/enforce":         "restricted",
		"pod-security.kubernetes.io/enforce-version": "latest",
	}}})
	require.NoError(t, err)
	_, err = client.CoreV1().Namespaces().Patch(e.ctx, e.ns, types.MergePatchType, patch, metav1.PatchOptions{})
	require.NoError(t, err)
}

// admitPod asks the API server, without storing anything, to create a pod
// from the Job's template, as the Job controller would.
func admitPod(t *testing.T, e *env, job *batchv1.Job) error {
	t.Helper()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{GenerateName: job.Name + "-", Namespace: e.ns, Labels: job.Spec.Template.Labels},
		Spec:       *job.Spec.Template.Spec.DeepCopy(),
	}
	_, err := client.CoreV1().Pods(e.ns).Create(e.ctx, pod, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
	return err
}

func TestPodSecurity_RestrictedAdmitsDefaultJobs(t *testing.T) {
	t.Parallel()
	e := setup(t)
	restrict(t, e)

	// Every test worker's Job, and each example's as its program builds it.
	payloads := map[string]any{
		greetWorker.Name(): greeting{}, longNameWorker.Name(): greeting{}, failingWorker.Name(): greeting{},
		permanentWorker.Name(): greeting{}, sleepWorker.Name(): marker{}, flakyWorker.Name(): marker{},
		countWorker.Name(): count{}, envWorker.Name(): show{}, addWorker.Name(): sum{}, fileWorker.Name(): marker{},
		squareWorker.Name(): square{},
		stampWorker.Name():  stamp{}, napWorker.Name(): time.Duration(0),
	}
	var jobs []*batchv1.Job
	for _, w := range testWorkers {
		p, ok := payloads[w.Name()]
		require.True(t, ok, "no payload for worker %s", w.Name())
		job, err := e.queue.Build(w, p)
		require.NoError(t, err)
		jobs = append(jobs, job)
	}
	batch, err := e.queue.BuildBatch(squareWorker, squares(3)) // an Indexed Job's pods too
	require.NoError(t, err)
	jobs = append(jobs, batch)
	for _, ex := range []string{"printmessage", "computepi"} {
		out := runExample(t, exampleBinary(t, ex), "-dry-run", "-namespace", e.ns)
		var job batchv1.Job
		require.NoError(t, yaml.UnmarshalStrict(out, &job))
		jobs = append(jobs, &job)
	}
	for _, job := range jobs {
		require.NoError(t, admitPod(t, e, job), "the pod of %s", job.Name)
	}

	// Without kubequeue's security contexts, the same pod is refused.
	loose := kubequeue.NewWorker("loose", greet, kubequeue.WithImage(testImage),
		kubequeue.WithPodSecurityContext(nil), kubequeue.WithSecurityContext(nil))
	job, err := e.queue.Build(loose, greeting{})
	require.NoError(t, err)
	err = admitPod(t, e, job)
	require.True(t, apierrors.IsForbidden(err), "%v", err)
	require.ErrorContains(t, err, `violates PodSecurity "restricted:latest"`)

	// And a default Job runs there to the end.
	h, err := e.queue.Enqueue(e.ctx, greetWorker, greeting{Name: "restricted"})
	require.NoError(t, err)
	st, err := e.queue.Wait(e.ctx, h)
	require.NoError(t, err)
	require.Equal(t, kubequeue.StateSucceeded, st.State)
}
