package localcluster

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
)

// The tests in this file start real clusters, one at a time (none is
// parallel): they need the binaries installed (make localcluster, or an
// Install that may take minutes the first time) and skip under -short.

// startCluster starts a cluster for the test, stopped when it ends, and
// prints the tail of its logs if the test fails.
func startCluster(t *testing.T, opts Options) *Cluster {
	t.Helper()
	skipUnlessCluster(t)
	c, err := Start(t.Context(), opts)
	require.NoError(t, err)
	t.Cleanup(c.Stop)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("cluster logs:\n%s", c.LogTail(30))
		}
	})
	return c
}

func skipUnlessCluster(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("starts a cluster; run without -short")
	}
	if runtime.GOOS != "linux" {
		t.Skip("the cluster's processes are checked through /proc, on Linux")
	}
}

// sleeperPod is a pod on the local node whose shell starts a child, writes
// the child's pid to pidFile, and waits.
func sleeperPod(name, pidFile string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PodSpec{
			RestartPolicy: corev1.RestartPolicyNever,
			Containers: []corev1.Container{{
				Name: "sleep", Image: "busybox",
				Command: []string{"sh", "-c", "sleep 300 & echo $! > " + pidFile + "; wait"},
			}},
		},
	}
}

// runningPod creates pod and returns the pid of its container's process
// and of the child it wrote to pidFile, once both run.
func runningPod(t *testing.T, c kubernetes.Interface, pod *corev1.Pod, pidFile string) (podPID, childPID int) {
	t.Helper()
	pod, err := c.CoreV1().Pods(metav1.NamespaceDefault).Create(t.Context(), pod, metav1.CreateOptions{})
	require.NoError(t, err)
	err = wait.PollUntilContextTimeout(t.Context(), 50*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		p, err := c.CoreV1().Pods(pod.Namespace).Get(ctx, pod.Name, metav1.GetOptions{})
		if err != nil || len(p.Status.ContainerStatuses) == 0 || p.Status.ContainerStatuses[0].State.Running == nil {
			return false, err
		}
		_, id, _ := strings.Cut(p.Status.ContainerStatuses[0].ContainerID, "://")
		podPID, err = strconv.Atoi(id)
		if err != nil {
			return false, err
		}
		b, err := os.ReadFile(pidFile)
		if err != nil || !bytes.HasSuffix(b, []byte("\n")) {
			return false, nil
		}
		childPID, err = strconv.Atoi(strings.TrimSpace(string(b)))
		return true, err
	})
	require.NoError(t, err)
	return podPID, childPID
}

// referring returns the pids of the processes whose command line or
// environment names a path under dir.
func referring(t *testing.T, dir string) []int {
	t.Helper()
	needle := []byte(filepath.Clean(dir) + "/")
	entries, err := os.ReadDir("/proc")
	require.NoError(t, err)
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() || !running(pid) {
			continue
		}
		for _, f := range []string{"cmdline", "environ"} {
			b, err := os.ReadFile(filepath.Join("/proc", e.Name(), f))
			if err == nil && bytes.Contains(b, needle) {
				pids = append(pids, pid)
				break
			}
		}
	}
	return pids
}

// kubeletGoroutines returns the stacks of the goroutines of the kubelet and
// of virtual-kubelet.
func kubeletGoroutines() []string {
	buf := make([]byte, 8<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var out []string
	for g := range strings.SplitSeq(string(buf), "\n\n") {
		if strings.Contains(g, "/localcluster/internal/localkubelet.") || strings.Contains(g, "github.com/virtual-kubelet/") {
			out = append(out, g)
		}
	}
	return out
}

// TestCluster_StopLeavesNothing starts a cluster, checks it reports the
// pinned version and runs a pod whose shell has a child, and that Stop ends
// every process it started, the kubelet's goroutines in this process, and
// removes its files.
func TestCluster_StopLeavesNothing(t *testing.T) {
	skipUnlessCluster(t)
	require.Empty(t, kubeletGoroutines(), "no kubelet runs before the test")
	c := startCluster(t, Options{Log: testWriter{t}})

	client, err := kubernetes.NewForConfig(c.Config())
	require.NoError(t, err)
	v, err := client.Discovery().ServerVersion()
	require.NoError(t, err)
	require.Equal(t, KubernetesVersion, v.GitVersion)
	require.NotEmpty(t, kubeletGoroutines(), "the kubelet runs in this process")

	pidFile := filepath.Join(t.TempDir(), "child.pid")
	podPID, childPID := runningPod(t, client, sleeperPod("sleeper", pidFile), pidFile)

	pids := c.PIDs()
	require.Len(t, pids, 5, "etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok")
	pids = append(pids, podPID)
	for _, pid := range pids {
		require.True(t, running(pid), "pid %d runs", pid)
	}
	require.True(t, running(childPID))
	require.NotEmpty(t, referring(t, c.Dir()))
	dirs := []string{c.Dir(), c.etcdDir}

	start := time.Now()
	c.Stop()
	t.Logf("Stop took %s", time.Since(start).Round(10*time.Millisecond))
	for _, pid := range pids {
		// Each was the leader of its process group: nothing in it is left.
		require.ErrorIs(t, syscall.Kill(-pid, 0), syscall.ESRCH, "process group %d after Stop", pid)
	}
	require.False(t, running(childPID), "the pod's child %d after Stop", childPID)
	require.Empty(t, referring(t, c.Dir()), "processes that name the cluster's directory after Stop")
	for _, dir := range dirs {
		_, err = os.Stat(dir)
		require.ErrorIs(t, err, os.ErrNotExist, "%s after Stop", dir)
	}
	require.True(t, waitUntil(5*time.Second, func() bool { return len(kubeletGoroutines()) == 0 }),
		"the kubelet's goroutines after Stop:\n%s", strings.Join(kubeletGoroutines(), "\n\n"))
	c.Stop() // idempotent
}

// envDyingHelper makes the test binary, run with -test.run of
// TestHelper_DyingCluster, start a cluster and a pod, write the cluster's
// directory and the pod's pids to the file it names, and wait to be
// killed.
const envDyingHelper = "LOCALCLUSTER_TEST_DYING_HELPER"

func TestHelper_DyingCluster(t *testing.T) {
	out := os.Getenv(envDyingHelper)
	if out == "" {
		t.Skip("a helper process for TestCluster_ProcessDies")
	}
	c, err := Start(context.Background(), Options{})
	require.NoError(t, err)
	client, err := kubernetes.NewForConfig(c.Config())
	require.NoError(t, err)
	pidFile := filepath.Join(filepath.Dir(out), "child.pid")
	podPID, childPID := runningPod(t, client, sleeperPod("sleeper", pidFile), pidFile)
	require.NoError(t, os.WriteFile(out+".tmp", fmt.Appendf(nil, "%s %s %d %d\n", c.Dir(), c.etcdDir, podPID, childPID), 0o644))
	require.NoError(t, os.Rename(out+".tmp", out))
	select {} // until killed
}

// TestCluster_ProcessDies kills, with SIGKILL, a process that runs a cluster
// and a pod, as a test timeout or kill -9 would: the kernel ends the
// components and the pod's process, and the next start ends what the pod
// started and removes the files.
func TestCluster_ProcessDies(t *testing.T) {
	skipUnlessCluster(t)
	if _, err := Install(t.Context(), Options{}); err != nil {
		require.NoError(t, err)
	}
	out := filepath.Join(t.TempDir(), "helper.out")
	helper := exec.Command(os.Args[0], "-test.run=^TestHelper_DyingCluster$", "-test.v")
	helper.Env = append(os.Environ(), envDyingHelper+"="+out)
	var helperOut bytes.Buffer
	helper.Stdout, helper.Stderr = &helperOut, &helperOut
	require.NoError(t, helper.Start())
	t.Cleanup(func() { _ = helper.Process.Kill(); _ = helper.Wait() })

	var dir, etcdDir string
	var podPID, childPID int
	require.True(t, waitUntil(2*time.Minute, func() bool {
		b, err := os.ReadFile(out)
		if err != nil {
			return false
		}
		_, err = fmt.Sscan(string(b), &dir, &etcdDir, &podPID, &childPID)
		return err == nil
	}), "the helper never started its cluster:\n%s", &helperOut)
	components := referring(t, dir)
	require.GreaterOrEqual(t, len(components), 5, "the components and the pod's processes name the cluster's directory")

	require.NoError(t, helper.Process.Kill())
	_ = helper.Wait()
	require.True(t, waitUntil(10*time.Second, func() bool { return !running(podPID) }),
		"the pod's process %d outlived the kubelet's process", podPID)
	for _, pid := range components {
		if pid == childPID {
			continue
		}
		require.True(t, waitUntil(10*time.Second, func() bool { return !running(pid) }),
			"process %d outlived the process that started it", pid)
	}
	// The pod's child is in no one's care: the next start ends it.
	require.True(t, running(childPID), "the pod's child %d, which only the next start ends", childPID)
	_, err := os.Stat(dir)
	require.NoError(t, err, "the dead process could not remove its directory")

	removeStale(filepath.Dir(dir), dirPrefix) // what Start does first
	removeStale(filepath.Dir(etcdDir), "kubequeue-etcd-")
	require.True(t, waitUntil(5*time.Second, func() bool { return !running(childPID) }),
		"the pod's child %d after the next start's clean-up", childPID)
	for _, d := range []string{dir, etcdDir} {
		_, err = os.Stat(d)
		require.ErrorIs(t, err, os.ErrNotExist, "%s after the next start's clean-up", d)
	}
}

// TestStart_FromMirror starts a cluster with an empty cache and a mirror
// that serves the release files, made here from the installed binaries:
// the first start downloads and checks them, the second uses the cache.
func TestStart_FromMirror(t *testing.T) {
	skipUnlessCluster(t)
	noBinDir(t)
	bin, err := Install(t.Context(), Options{Log: testWriter{t}})
	require.NoError(t, err)
	m := newMirror(t, mirrorLayout(t, bin, t.TempDir()))
	cache := t.TempDir()
	swapBuild(t, &fakeBuild{err: fmt.Errorf("the test allows no build")})

	var progress bytes.Buffer
	start := time.Now()
	c := startCluster(t, Options{CacheDir: cache, ReleaseURL: m.URL, Log: &progress})
	cold := time.Since(start)
	t.Logf("%s", &progress)
	installed, err := os.ReadFile(filepath.Join(cache, cacheKey(), installedFile))
	require.NoError(t, err)
	require.Equal(t, 5, strings.Count(string(installed), "from "+m.URL+"/"), "INSTALLED:\n%s", installed)
	c.Stop()

	start = time.Now()
	startCluster(t, Options{CacheDir: cache, ReleaseURL: m.URL}).Stop()
	warm := time.Since(start)
	t.Logf("start with an empty cache from a local mirror: %s; with the cache: %s", cold.Round(100*time.Millisecond), warm.Round(100*time.Millisecond))
	require.Less(t, cold, 2*time.Minute)
}

// testWriter writes to the test's log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
