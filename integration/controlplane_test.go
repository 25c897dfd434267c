//go:build unix

package integration

import (
	"context"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	"github.com/kubequeue/kubequeue"
	"github.com/kubequeue/kubequeue/internal/controlplane"
)

// TestControlPlane_StopLeavesNothing starts a second control plane, checks
// it reports the pinned version, and that Stop ends every process it started
// and removes its files.
func TestControlPlane_StopLeavesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the embedded control plane; run without -short")
	}
	// Not parallel: a second control plane beside the other tests would
	// crowd 2 cores. Sequential tests run before the parallel ones resume.
	cp, err := controlplane.Start(t.Context(), controlplane.Options{})
	require.NoError(t, err)
	t.Cleanup(cp.Stop)
	printLogsOnFailure(t, cp)

	c, err := kubernetes.NewForConfig(cp.Config())
	require.NoError(t, err)
	v, err := c.Discovery().ServerVersion()
	require.NoError(t, err)
	require.Equal(t, controlplane.KubernetesVersion, v.GitVersion)

	// A pod's process on the local kubelet is stopped with it too.
	pod, err := c.CoreV1().Pods(metav1.NamespaceDefault).Create(t.Context(), &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "sleeper"},
		Spec: corev1.PodSpec{
			RestartPolicy: corev1.RestartPolicyNever,
			Containers:    []corev1.Container{{Name: "sleep", Image: "busybox", Command: []string{"sleep", "300"}}},
		},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	var podPID int
	err = wait.PollUntilContextTimeout(t.Context(), 50*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		p, err := c.CoreV1().Pods(pod.Namespace).Get(ctx, pod.Name, metav1.GetOptions{})
		if err != nil || len(p.Status.ContainerStatuses) == 0 || p.Status.ContainerStatuses[0].State.Running == nil {
			return false, err
		}
		_, id, _ := strings.Cut(p.Status.ContainerStatuses[0].ContainerID, "://")
		podPID, err = strconv.Atoi(id)
		return true, err
	})
	require.NoError(t, err)
	require.NoError(t, syscall.Kill(podPID, 0), "the pod's process %d runs", podPID)

	pids := cp.PIDs()
	require.Len(t, pids, 6, "etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok, the local kubelet")
	pids = append(pids, podPID)
	for _, pid := range pids {
		require.NoError(t, syscall.Kill(pid, 0), "pid %d runs", pid)
	}
	cp.Stop()
	for _, pid := range pids {
		// Each was the leader of its process group: nothing in it is left.
		require.ErrorIs(t, syscall.Kill(-pid, 0), syscall.ESRCH, "process group %d after Stop", pid)
	}
	_, err = os.Stat(cp.Dir())
	require.ErrorIs(t, err, os.ErrNotExist)
}

// TestQueue_Enqueue_RBAC checks Enqueue as a user with no rights, then with
// a Role that allows creating Jobs: the real server's Forbidden comes back
// wrapped, still recognisable, and nothing is created.
func TestQueue_Enqueue_RBAC(t *testing.T) {
	t.Parallel()
	e := setup(t)
	cfg, err := cluster.UserConfig("enqueuer")
	require.NoError(t, err)
	userClient, err := kubernetes.NewForConfig(cfg)
	require.NoError(t, err)
	queue := newQueue(t, userClient, kubequeue.WithDefaultNamespace(e.ns))
	worker := greetWorker

	_, err = queue.Enqueue(e.ctx, worker, greeting{})
	require.True(t, apierrors.IsForbidden(err), "got %v", err)
	require.ErrorContains(t, err, "kubequeue: create job "+e.ns+"/greet-")
	jobs, err := client.BatchV1().Jobs(e.ns).List(e.ctx, metav1.ListOptions{})
	require.NoError(t, err)
	require.Empty(t, jobs.Items)

	_, err = client.RbacV1().Roles(e.ns).Create(e.ctx, &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Name: "enqueue"},
		Rules: []rbacv1.PolicyRule{{
			APIGroups: []string{batchv1.GroupName},
			Resources: []string{"jobs"},
			Verbs:     []string{"create"},
		}},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	_, err = client.RbacV1().RoleBindings(e.ns).Create(e.ctx, &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "enqueue"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "enqueue"},
		Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: "enqueuer"}},
	}, metav1.CreateOptions{})
	require.NoError(t, err)

	// The authorizer's cache catches up within moments.
	var h kubequeue.Handle
	err = wait.PollUntilContextTimeout(e.ctx, 100*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		h, err = queue.Enqueue(ctx, worker, greeting{})
		if apierrors.IsForbidden(err) {
			return false, nil
		}
		return err == nil, err
	})
	require.NoError(t, err)
	require.Equal(t, "greet", h.Worker)
}
