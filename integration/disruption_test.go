package integration

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/kubequeue/kubequeue"
)

// podWatch watches the pods of a Job from the moment it is opened, so that a
// test sees every state a pod goes through, even one that is deleted a
// moment later.
type podWatch struct {
	w watch.Interface
}

// watchJobPods lists the Job's pods and watches them from there on.
func watchJobPods(t *testing.T, e *env, job string) *podWatch {
	t.Helper()
	opts := metav1.ListOptions{LabelSelector: batchv1.JobNameLabel + "=" + job}
	list, err := client.CoreV1().Pods(e.ns).List(e.ctx, opts)
	require.NoError(t, err)
	opts.ResourceVersion = list.ResourceVersion
	w, err := client.CoreV1().Pods(e.ns).Watch(e.ctx, opts)
	require.NoError(t, err)
	t.Cleanup(w.Stop)
	return &podWatch{w: w}
}

// next returns the first pod, in the events from now on, that satisfies
// cond; it fails the test after timeout, naming what it waited for.
func (pw *podWatch) next(t *testing.T, what string, timeout time.Duration, cond func(*corev1.Pod) bool) *corev1.Pod {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	var last *corev1.Pod
	for {
		select {
		case ev, ok := <-pw.w.ResultChan():
			require.True(t, ok, "the pod watch ended while waiting for %s", what)
			require.NotEqual(t, watch.Error, ev.Type, "pod watch: %+v", ev.Object)
			pod, ok := ev.Object.(*corev1.Pod)
			require.True(t, ok, "unexpected %T in the pod watch", ev.Object)
			last = pod
			if cond(pod) {
				return pod
			}
		case <-deadline.C:
			var status any
			if last != nil {
				status = last.Status
			}
			require.FailNow(t, "timed out waiting for "+what, "last pod seen (%v): %+v", last != nil, status)
		}
	}
}

func podCondition(pod *corev1.Pod, ct corev1.PodConditionType) *corev1.PodCondition {
	for i, c := range pod.Status.Conditions {
		if c.Type == ct {
			return &pod.Status.Conditions[i]
		}
	}
	return nil
}

// TestJob_EvictionDoesNotUseARetry proves "a node drain does not use up a
// retry": kubectl drain evicts each pod through the Eviction API. The API
// server marks the pod with condition DisruptionTarget and deletes it; the
// kubelet stops the worker (SIGTERM: perform's context is cancelled) and
// reports the pod Failed, condition kept; the rule kubequeue adds to every
// Job's podFailurePolicy (DisruptionTarget: Ignore) makes the Job
// controller start a new pod without counting a failure. With backoffLimit
// 0, a counted failure would fail the Job, as a plain delete of the pod
// does.
func TestJob_EvictionDoesNotUseARetry(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// stop ends the Job's first pod.
		stop func(t *testing.T, e *env, pod string)
		// evicted is whether the API server marks the pod as disrupted.
		evicted bool
	}{
		{
			name: "Eviction",
			stop: func(t *testing.T, e *env, pod string) {
				require.NoError(t, client.CoreV1().Pods(e.ns).EvictV1(e.ctx, &policyv1.Eviction{
					ObjectMeta: metav1.ObjectMeta{Name: pod, Namespace: e.ns},
				}))
			},
			evicted: true,
		},
		{
			// What the rule is for: without the condition, the stopped
			// worker's exit is a failure like any other.
			name: "DeleteIsAFailure",
			stop: func(t *testing.T, e *env, pod string) {
				require.NoError(t, client.CoreV1().Pods(e.ns).Delete(e.ctx, pod, metav1.DeleteOptions{}))
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := setup(t)
			// The worker waits for this file, which appears only once the
			// first pod has been stopped.
			m := marker{File: filepath.Join(t.TempDir(), "go")}
			h, err := e.queue.Enqueue(e.ctx, fileWorker, m, kubequeue.WithBackoffLimit(0))
			require.NoError(t, err)
			first := runningPod(t, e, h.Name)
			require.Eventually(t, func() bool {
				return len(podLogs(t, e, first.Name, nil)) > 0
			}, time.Minute, 50*time.Millisecond, "the worker of pod %s never wrote its first line", first.Name)

			pods := watchJobPods(t, e, h.Name)
			tt.stop(t, e, first.Name)

			// The kubelet stopped the worker: perform saw its context
			// cancelled and returned, so the runtime exited 1.
			stopped := pods.next(t, "pod "+first.Name+" to fail", time.Minute, func(p *corev1.Pod) bool {
				return p.Name == first.Name && p.Status.Phase == corev1.PodFailed
			})
			require.NotNil(t, stopped.DeletionTimestamp)
			terminated := stopped.Status.ContainerStatuses[0].State.Terminated
			require.NotNil(t, terminated, "%+v", stopped.Status.ContainerStatuses)
			require.EqualValues(t, 1, terminated.ExitCode)
			require.Contains(t, terminated.Message, "context canceled")
			disruption := podCondition(stopped, corev1.DisruptionTarget)

			if !tt.evicted {
				require.Nil(t, disruption, "a plain delete is no disruption")
				job := waitJob(t, e, h.Name, time.Minute, finished)
				failed := condition(job, batchv1.JobFailed)
				require.NotNil(t, failed, "conditions: %+v", job.Status.Conditions)
				require.Equal(t, batchv1.JobReasonBackoffLimitExceeded, failed.Reason)
				require.EqualValues(t, 1, job.Status.Failed)
				return
			}

			// The API server's mark, kept by the kubelet through the
			// terminal status that the Job controller judges.
			require.NotNil(t, disruption, "conditions: %+v", stopped.Status.Conditions)
			require.Equal(t, corev1.ConditionTrue, disruption.Status)
			require.Equal(t, "EvictionByEvictionAPI", disruption.Reason)

			// A new pod runs, and no failure was counted.
			second := pods.next(t, "a second pod to run", time.Minute, func(p *corev1.Pod) bool {
				return p.Name != first.Name && p.Status.Phase == corev1.PodRunning
			})
			require.NoError(t, os.WriteFile(m.File, nil, 0o644))
			job := waitJob(t, e, h.Name, time.Minute, finished)
			require.NotNil(t, condition(job, batchv1.JobComplete), "conditions: %+v", job.Status.Conditions)
			require.EqualValues(t, 0, job.Status.Failed, "the eviction counted as a failure")
			require.EqualValues(t, 1, job.Status.Succeeded)
			log := podLogs(t, e, second.Name, nil)
			require.Contains(t, log, "found it")

			st, err := e.queue.Status(e.ctx, h)
			require.NoError(t, err)
			require.Equal(t, kubequeue.StateSucceeded, st.State)
		})
	}
}
