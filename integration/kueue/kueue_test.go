package kueue

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/kubequeue/kubequeue"
)

// TestKueue_QuotaAdmitsTwoOfThree: a ClusterQueue with quota for two Jobs
// admits two of three; the third is queued, with the Workload's reason,
// until one of the two has finished, then runs.
func TestKueue_QuotaAdmitsTwoOfThree(t *testing.T) {
	e := setup(t, "1", false)
	begin := time.Now()
	a, b := e.enqueue(t, 3000), e.enqueue(t, 3000)
	// Kueue admits in creation order: the third, created once the first
	// two are admitted, is the one that waits.
	for _, h := range []kubequeue.Handle{a, b} {
		e.waitStatus(t, h, "running", func(st kubequeue.Status) bool { return st.State == kubequeue.StateRunning })
	}
	c := e.enqueue(t, 100)
	queued := e.waitStatus(t, c, "queued with a reason", func(st kubequeue.Status) bool {
		return st.State == kubequeue.StateQueued && st.Reason != ""
	})
	require.Equal(t, "Pending", queued.Reason)
	require.Contains(t, queued.Message, "insufficient unused quota for cpu")
	t.Logf("third Job: %s: %s", queued.Reason, queued.Message)

	var finished []kubequeue.Status
	for st, err := range e.queue.WaitAll(e.ctx, a, b, c) {
		require.NoError(t, err)
		finished = append(finished, st)
	}
	require.Len(t, finished, 3)
	third := finished[2]
	require.Equal(t, c, third.Handle, "the queued Job finishes last")
	firstEnd := finished[0].Finished
	require.False(t, third.Started.Before(firstEnd.Add(-time.Second)),
		"the third started at %s, before a slot was free (first end %s; the times are whole seconds)", third.Started, firstEnd)
	t.Logf("3 Jobs with quota for 2 in %s", time.Since(begin).Round(time.Millisecond))
}

// TestKueue_PriorityBeforeAge: with the quota taken, a newer high-priority
// Job is admitted before an older low-priority one.
func TestKueue_PriorityBeforeAge(t *testing.T) {
	e := setup(t, "500m", false)
	blocker := e.enqueue(t, 2000)
	e.waitStatus(t, blocker, "running", func(st kubequeue.Status) bool { return st.State == kubequeue.StateRunning })
	low := e.enqueue(t, 100, kubequeue.WithWorkloadPriorityClass("low"))
	e.waitStatus(t, low, "queued", func(st kubequeue.Status) bool { return st.State == kubequeue.StateQueued && st.Reason != "" })
	high := e.enqueue(t, 100, kubequeue.WithWorkloadPriorityClass("high"))
	e.waitStatus(t, high, "queued", func(st kubequeue.Status) bool { return st.State == kubequeue.StateQueued && st.Reason != "" })

	var order []kubequeue.Handle
	for st, err := range e.queue.WaitAll(e.ctx, blocker, low, high) {
		require.NoError(t, err)
		order = append(order, st.Handle)
	}
	require.Equal(t, []kubequeue.Handle{blocker, high, low}, order, "the high-priority Job ran first although enqueued last")
	jl, err := e.queue.Get(e.ctx, low)
	require.NoError(t, err)
	jh, err := e.queue.Get(e.ctx, high)
	require.NoError(t, err)
	require.True(t, jl.CreationTimestamp.Time.Before(jh.CreationTimestamp.Time) || jl.CreationTimestamp.Equal(&jh.CreationTimestamp))
}

// TestKueue_PreemptionWaitReturnsFinal: a high-priority Job preempts a
// running low-priority one, which Kueue suspends (its pod is deleted):
// Status says preempted, and Wait, started before, keeps waiting and
// returns the low Job's final state once Kueue has admitted it again and
// it has run to completion.
func TestKueue_PreemptionWaitReturnsFinal(t *testing.T) {
	e := setup(t, "500m", true)
	low := e.enqueue(t, 4000, kubequeue.WithWorkloadPriorityClass("low"))
	e.waitStatus(t, low, "running", func(st kubequeue.Status) bool { return st.State == kubequeue.StateRunning })

	var wg sync.WaitGroup
	var final kubequeue.Status
	var waitErr error
	wg.Go(func() { final, waitErr = e.queue.Wait(e.ctx, low) })

	high := e.enqueue(t, 1500, kubequeue.WithWorkloadPriorityClass("high"))
	pre := e.waitStatus(t, low, "preempted", func(st kubequeue.Status) bool { return st.State == kubequeue.StatePreempted })
	require.Equal(t, "Preempted", pre.Reason)
	t.Logf("low Job: %s: %s", pre.Reason, pre.Message)
	job, err := e.queue.Get(e.ctx, low)
	require.NoError(t, err)
	require.True(t, *job.Spec.Suspend, "Kueue suspended the preempted Job")

	st, err := e.queue.Wait(e.ctx, high)
	require.NoError(t, err)
	require.Equal(t, kubequeue.StateSucceeded, st.State)
	wg.Wait()
	require.NoError(t, waitErr, "Wait went on through the preemption")
	require.Equal(t, kubequeue.StateSucceeded, final.State)
	require.Zero(t, final.Failures, "a preemption is not a failure")
	require.True(t, final.Finished.After(st.Finished) || final.Finished.Equal(st.Finished), "the low Job ended after the high one")
}

// TestKueue_SecretPayload: a queued Job whose payload is in a Secret runs
// with it. Kueue may admit the Job before Enqueue has stored the Secret;
// the second part forces that order: the Job is admitted and its pod
// created while the Secret is missing, and the pod waits for it and runs
// once it exists, as the kubelet does for any missing Secret volume.
func TestKueue_SecretPayload(t *testing.T) {
	e := setup(t, "1", false)
	h, err := e.queue.Enqueue(e.ctx, napWorker, napArgs{Millis: 10, Secret: "s3cr3t"}, kubequeue.WithQueueName("lq"), kubequeue.WithSensitivePayload())
	require.NoError(t, err)
	st, err := e.queue.Wait(e.ctx, h)
	require.NoError(t, err)
	var got string
	require.NoError(t, st.DecodeResult(&got))
	require.Equal(t, "s3cr3t", got)

	// Admitted before its Secret exists.
	job, err := e.queue.Build(napWorker, napArgs{Millis: 10, Secret: "late"}, kubequeue.WithQueueName("lq"), kubequeue.WithSensitivePayload())
	require.NoError(t, err)
	delete(job.Annotations, "kubequeue.io/resume")
	job, err = client.BatchV1().Jobs(e.ns).Create(e.ctx, job, metav1.CreateOptions{})
	require.NoError(t, err)
	var pod corev1.Pod
	err = wait.PollUntilContextTimeout(e.ctx, 50*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		pods, err := client.CoreV1().Pods(e.ns).List(ctx, metav1.ListOptions{LabelSelector: batchv1.ControllerUidLabel + "=" + string(job.UID)})
		if err != nil || len(pods.Items) == 0 {
			return false, err
		}
		pod = pods.Items[0]
		return true, nil
	})
	require.NoError(t, err, "Kueue admitted the Job and its pod was created without the Secret")
	time.Sleep(time.Second)
	p, err := client.CoreV1().Pods(e.ns).Get(e.ctx, pod.Name, metav1.GetOptions{})
	require.NoError(t, err)
	require.Equal(t, corev1.PodPending, p.Status.Phase, "the pod waits for its Secret")
	secretName := job.Spec.Template.Spec.Volumes[len(job.Spec.Template.Spec.Volumes)-1].Secret.SecretName
	_, err = client.CoreV1().Secrets(e.ns).Create(e.ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: secretName},
		Data:       map[string][]byte{"payload.json": []byte(`{"millis":10,"secret":"late"}`)},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	st, err = e.queue.Wait(e.ctx, kubequeue.HandleFor(job))
	require.NoError(t, err)
	require.NoError(t, st.DecodeResult(&got))
	require.Equal(t, "late", got)
}

// TestKueue_UnlabelledJobsRunWithKueueStopped: while Kueue is down, its
// webhooks' objectSelector lets Jobs without a queue name through, and
// they run; a queued Job is refused (Kueue's webhooks fail closed) with an
// error that says so. It restarts Kueue for the tests that follow.
func TestKueue_UnlabelledJobsRunWithKueueStopped(t *testing.T) {
	e := setup(t, "1", false)
	kueue.Stop()
	t.Cleanup(func() {
		k, err := cluster.StartKueue(context.WithoutCancel(e.ctx))
		if err != nil {
			t.Errorf("restart Kueue: %v", err)
			return
		}
		kueue = k
	})
	h, err := e.queue.Enqueue(e.ctx, napWorker, napArgs{Millis: 10})
	require.NoError(t, err)
	st, err := e.queue.Wait(e.ctx, h)
	require.NoError(t, err)
	require.Equal(t, kubequeue.StateSucceeded, st.State)

	once, err := kubequeue.New(client, kubequeue.WithDefaultNamespace(e.ns), kubequeue.WithRetries(1))
	require.NoError(t, err)
	_, err = once.Enqueue(e.ctx, napWorker, napArgs{Millis: 10}, kubequeue.WithQueueName("lq"))
	require.ErrorContains(t, err, "kb.io", "refused by Kueue's webhook, which is down")
	list, err := client.BatchV1().Jobs(e.ns).List(e.ctx, metav1.ListOptions{})
	require.NoError(t, err)
	require.Len(t, list.Items, 1, "the refused Job was not created")
}
