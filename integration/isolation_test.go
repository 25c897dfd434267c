package integration

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	authenticationv1 "k8s.io/api/authentication/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubequeue/kubequeue"
)

// serviceAccountDir is where Kubernetes mounts a pod's service-account
// token, and where client-go's in-cluster configuration reads it.
const serviceAccountDir = "/var/run/secrets/kubernetes.io/serviceaccount"

// onlyPod waits for the Job to finish and returns its one pod as the API
// server stores it.
func onlyPod(t *testing.T, e *env, job string) (*batchv1.Job, corev1.Pod) {
	t.Helper()
	stored := waitJob(t, e, job, time.Minute, finished)
	pods := jobPods(t, e, job)
	require.Len(t, pods, 1)
	return stored, pods[0]
}

// mountAt returns the container's volume mount at path, or nil.
func mountAt(c corev1.Container, path string) *corev1.VolumeMount {
	for i, m := range c.VolumeMounts {
		if m.MountPath == path {
			return &c.VolumeMounts[i]
		}
	}
	return nil
}

// volumeNamed returns the pod's volume of that name, or nil.
func volumeNamed(spec corev1.PodSpec, name string) *corev1.Volume {
	for i, v := range spec.Volumes {
		if v.Name == name {
			return &spec.Volumes[i]
		}
	}
	return nil
}

// TestJob_PayloadSecretMountedReadOnly: the payload Secret of a sensitive
// payload is mounted read-only at /var/run/kubequeue/payload in the pod the
// Job controller creates, as the API server stores it. (The local kubelet
// does not enforce read-only mounts: its processes run as the user running
// the tests, often root. A kubelet mounts every Secret volume read-only
// whatever the mount says.)
func TestJob_PayloadSecretMountedReadOnly(t *testing.T) {
	t.Parallel()
	e := setup(t)
	h, err := e.queue.Enqueue(e.ctx, greetWorker, greeting{Name: "read-only"}, kubequeue.WithSensitivePayload())
	require.NoError(t, err)
	job, pod := onlyPod(t, e, h.Name)
	require.NotNil(t, condition(job, batchv1.JobComplete), "conditions: %+v", job.Status.Conditions)
	require.Equal(t, "hello, read-only\n", output(podLogs(t, e, pod.Name, nil)))

	mount := mountAt(pod.Spec.Containers[0], "/var/run/kubequeue/payload")
	require.NotNil(t, mount, "mounts: %+v", pod.Spec.Containers[0].VolumeMounts)
	require.True(t, mount.ReadOnly, "the payload mount is read-only")
	require.Equal(t, "kubequeue-payload", mount.Name)
	v := volumeNamed(pod.Spec, mount.Name)
	require.NotNil(t, v)
	require.NotNil(t, v.Secret, "the payload volume is a Secret: %+v", v.VolumeSource)
	require.True(t, strings.HasPrefix(v.Secret.SecretName, h.Name+"-"), v.Secret.SecretName)
}

// TestJob_ServiceAccountToken: a worker without WithServiceAccount gets no
// API token, neither in its pod as the API server admitted it nor on the
// filesystem its process sees; one with WithServiceAccount gets the
// projected, pod-bound token of that service account, which its process
// reads and the API server accepts.
func TestJob_ServiceAccountToken(t *testing.T) {
	t.Parallel()
	tokenFile := serviceAccountDir + "/token"

	t.Run("WithoutServiceAccount", func(t *testing.T) {
		t.Parallel()
		e := setup(t)
		h, err := e.queue.Enqueue(e.ctx, envWorker, show{Files: []string{tokenFile}}, kubequeue.WithBackoffLimit(0))
		require.NoError(t, err)
		job, pod := onlyPod(t, e, h.Name)

		// Admission added no token volume: automountServiceAccountToken is
		// false, for the namespace's default service account.
		require.Equal(t, "default", pod.Spec.ServiceAccountName)
		require.NotNil(t, pod.Spec.AutomountServiceAccountToken)
		require.False(t, *pod.Spec.AutomountServiceAccountToken)
		for _, v := range pod.Spec.Volumes {
			require.Nil(t, v.Projected, "volume %s: %+v", v.Name, v.VolumeSource)
		}
		require.Nil(t, mountAt(pod.Spec.Containers[0], serviceAccountDir))

		// The process finds no token where client-go looks for one.
		require.NotNil(t, condition(job, batchv1.JobFailed), "conditions: %+v", job.Status.Conditions)
		terminated := pod.Status.ContainerStatuses[0].State.Terminated
		require.NotNil(t, terminated)
		require.EqualValues(t, 1, terminated.ExitCode)
		require.Contains(t, terminated.Message, serviceAccountDir+"/token: no such file or directory")
	})

	t.Run("WithServiceAccount", func(t *testing.T) {
		t.Parallel()
		e := setup(t)
		_, err := client.CoreV1().ServiceAccounts(e.ns).Create(e.ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "worker"}}, metav1.CreateOptions{})
		require.NoError(t, err)
		// The same perform function as envWorker's, as another service
		// account.
		worker := kubequeue.NewWorker(envWorker.Name(), printEnv, kubequeue.WithImage(testImage), kubequeue.WithServiceAccount("worker"))
		h, err := e.queue.Enqueue(e.ctx, worker, show{Files: []string{tokenFile}})
		require.NoError(t, err)
		job, pod := onlyPod(t, e, h.Name)
		log := podLogs(t, e, pod.Name, nil)
		require.NotNil(t, condition(job, batchv1.JobComplete), "conditions: %+v\nlog:\n%s", job.Status.Conditions, log)

		// Admission mounted the projected token volume.
		require.Equal(t, "worker", pod.Spec.ServiceAccountName)
		mount := mountAt(pod.Spec.Containers[0], serviceAccountDir)
		require.NotNil(t, mount, "mounts: %+v", pod.Spec.Containers[0].VolumeMounts)
		require.True(t, mount.ReadOnly)
		v := volumeNamed(pod.Spec, mount.Name)
		require.NotNil(t, v)
		require.NotNil(t, v.Projected, "%+v", v.VolumeSource)
		hasToken := false
		for _, src := range v.Projected.Sources {
			hasToken = hasToken || src.ServiceAccountToken != nil
		}
		require.True(t, hasToken, "sources: %+v", v.Projected.Sources)

		// The process read a token of its service account, bound to its
		// pod, that the API server accepts.
		token, ok := strings.CutPrefix(strings.TrimSpace(output(log)), "token: ")
		require.True(t, ok, "log:\n%s", log)
		review, err := client.AuthenticationV1().TokenReviews().Create(e.ctx, &authenticationv1.TokenReview{
			Spec: authenticationv1.TokenReviewSpec{Token: token},
		}, metav1.CreateOptions{})
		require.NoError(t, err)
		require.True(t, review.Status.Authenticated, "token review: %+v", review.Status)
		require.Equal(t, "system:serviceaccount:"+e.ns+":worker", review.Status.User.Username)
		require.Equal(t, authenticationv1.ExtraValue{pod.Name}, review.Status.User.Extra["authentication.kubernetes.io/pod-name"])
	})
}
