package kubequeue_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	"github.com/kubequeue/kubequeue"
)

var batchHandle = kubequeue.Handle{Namespace: "ns", Name: "greet-batch", UID: testUID, Worker: "greet"}

// batchJob returns a batch of n items as EnqueueBatch creates it for the
// greet worker, named like batchHandle, with status st.
func batchJob(t *testing.T, n int, st batchv1.JobStatus) *batchv1.Job {
	t.Helper()
	_, queue := setup(t, kubequeue.WithDefaultNamespace("ns"))
	job, err := queue.BuildBatch(newGreeter(), greetings(n), kubequeue.WithJobName(batchHandle.Name))
	require.NoError(t, err)
	job.UID = testUID
	job.CreationTimestamp = at(0)
	job.Status = st
	return job
}

// itemPod returns a pod of batchJob's Job for the item of index, whose
// worker container is in state, created after the given seconds.
func itemPod(index, created int, phase corev1.PodPhase, state corev1.ContainerState) *corev1.Pod {
	name := fmt.Sprintf("%s-%d-%d", batchHandle.Name, index, created)
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: name, Namespace: "ns", UID: types.UID("pod-" + name), CreationTimestamp: at(created),
			Labels: map[string]string{
				batchv1.ControllerUidLabel: string(testUID), batchv1.JobNameLabel: batchHandle.Name,
				batchv1.JobCompletionIndexAnnotation: strconv.Itoa(index),
			},
			Annotations: map[string]string{batchv1.JobCompletionIndexAnnotation: strconv.Itoa(index)},
		},
		Status: corev1.PodStatus{Phase: phase, ContainerStatuses: []corev1.ContainerStatus{{Name: "worker", State: state}}},
	}
}

// withContainerID gives a terminated state the container ID of a container
// that ran, so that it has a log.
func withContainerID(s corev1.ContainerState) corev1.ContainerState {
	s.Terminated = s.Terminated.DeepCopy()
	s.Terminated.ContainerID = "containerd://0123"
	return s
}

// batchFailed is the status of a batch of 6 the Job controller gives when
// items 1 and 4 failed and the others succeeded.
func batchFailed() batchv1.JobStatus {
	return batchv1.JobStatus{
		StartTime: ptr.To(at(1)), Succeeded: 4, Failed: 3,
		CompletedIndexes: "0,2-3,5", FailedIndexes: ptr.To("1,4"),
		Conditions: []batchv1.JobCondition{
			cond(batchv1.JobFailureTarget, corev1.ConditionTrue, batchv1.JobReasonFailedIndexes, "Job has failed indexes", 9),
			cond(batchv1.JobFailed, corev1.ConditionTrue, batchv1.JobReasonFailedIndexes, "Job has failed indexes", 9),
		},
	}
}

// batchFailedPods are the pods of batchFailed: item 1 retried once then
// failed for good, item 4 failed with a Permanent error.
func batchFailedPods() []runtime.Object {
	ok := func(i int) corev1.ContainerState { return exited(0, fmt.Sprintf(`{"n":%d}`, i), 5) }
	return []runtime.Object{
		itemPod(0, 1, corev1.PodSucceeded, ok(0)),
		itemPod(1, 1, corev1.PodFailed, exited(1, "attempt 1 failed", 3)),
		itemPod(1, 4, corev1.PodFailed, exited(1, "attempt 2 failed", 6)),
		itemPod(2, 1, corev1.PodSucceeded, exited(0, "", 5)), // no result
		itemPod(3, 1, corev1.PodSucceeded, exited(0, "not JSON", 5)),
		itemPod(4, 1, corev1.PodFailed, exited(kubequeue.ExitPermanent, "no such user", 8)),
		itemPod(5, 1, corev1.PodSucceeded, ok(5)),
	}
}

func TestQueue_Status_Batch(t *testing.T) {
	t.Parallel()
	objects := append([]runtime.Object{batchJob(t, 6, batchFailed())}, batchFailedPods()...)
	_, queue := setupWith(t, objects...)
	st, err := queue.Status(t.Context(), batchHandle)
	require.NoError(t, err)

	require.Equal(t, kubequeue.StateFailed, st.State)
	require.Equal(t, batchv1.JobReasonFailedIndexes, st.Reason)
	require.Equal(t, int32(3), st.Failures, "the failed pods of every item")
	require.Equal(t, int32(kubequeue.ExitPermanent), st.ExitCode, "the last failed run of any item")
	require.Equal(t, "no such user", st.TerminationMessage)
	require.Nil(t, st.Result, "a batch's results are its items'")
	require.ErrorIs(t, st.DecodeResult(new(any)), kubequeue.ErrNoResult)

	want := []kubequeue.ItemStatus{
		{Index: 0, State: kubequeue.StateSucceeded, Result: kubequeue.Result(`{"n":0}`)},
		{Index: 1, State: kubequeue.StateFailed, Failures: 2, ExitCode: 1, TerminationMessage: "attempt 2 failed"},
		{Index: 2, State: kubequeue.StateSucceeded},
		{Index: 3, State: kubequeue.StateSucceeded},
		{Index: 4, State: kubequeue.StateFailed, Failures: 1, ExitCode: kubequeue.ExitPermanent, TerminationMessage: "no such user"},
		{Index: 5, State: kubequeue.StateSucceeded, Result: kubequeue.Result(`{"n":5}`)},
	}
	for i := range want {
		got := st.Items[i]
		require.Equal(t, want[i].Index, got.Index)
		require.Equal(t, want[i].State, got.State, "item %d", i)
		require.Equal(t, want[i].Failures, got.Failures, "item %d", i)
		require.Equal(t, want[i].ExitCode, got.ExitCode, "item %d", i)
		require.Equal(t, want[i].TerminationMessage, got.TerminationMessage, "item %d", i)
		require.Equal(t, want[i].Result, got.Result, "item %d", i)
	}
	require.Len(t, st.Items, 6)
	require.Equal(t, 4, st.CountItems(kubequeue.StateSucceeded))
	require.Equal(t, 2, st.CountItems(kubequeue.StateFailed))
	require.Zero(t, st.CountItems(kubequeue.StatePending))

	var n struct{ N int }
	require.NoError(t, st.Items[5].DecodeResult(&n))
	require.Equal(t, 5, n.N)
	require.ErrorIs(t, st.Items[1].DecodeResult(&n), kubequeue.ErrNoResult)
	require.ErrorIs(t, st.Items[2].DecodeResult(&n), kubequeue.ErrNoResult, "perform recorded none")
	err = st.Items[3].DecodeResult(&n)
	require.ErrorContains(t, err, "result of item 3 is not JSON")
	require.False(t, errors.Is(err, kubequeue.ErrNoResult))

	// Wait says which items failed.
	err = st.Err()
	var failed *kubequeue.JobFailedError
	require.ErrorAs(t, err, &failed)
	require.Equal(t, []int{1, 4}, failed.FailedItems)
	require.Equal(t, "kubequeue: job ns/greet-batch failed: FailedIndexes (Job has failed indexes): 2 items failed (1 and 4): last attempt exited with code 42: no such user", err.Error())

	// The items travel as JSON with the status.
	data, err := json.Marshal(st)
	require.NoError(t, err)
	require.Contains(t, string(data), `"items":[{"index":0,"state":"succeeded","result":{"n":0}},{"index":1,"state":"failed","failures":2,"exitCode":1,"terminationMessage":"attempt 2 failed"}`)
}

// TestQueue_Status_BatchRunning: before a batch finishes, each item is
// pending, running or finished as its index and pods say.
func TestQueue_Status_BatchRunning(t *testing.T) {
	t.Parallel()
	running := corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: at(2)}}
	job := batchJob(t, 5, batchv1.JobStatus{
		StartTime: ptr.To(at(1)), Active: 2, Ready: ptr.To[int32](1), Succeeded: 1, Failed: 1,
		CompletedIndexes: "0", FailedIndexes: ptr.To(""),
	})
	_, queue := setupWith(t, job,
		itemPod(0, 1, corev1.PodSucceeded, exited(0, `"done"`, 3)),
		itemPod(1, 1, corev1.PodFailed, exited(1, "retry me", 3)), // waits for its retry
		itemPod(2, 1, corev1.PodRunning, running),
		itemPod(3, 1, corev1.PodPending, corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}}),
	)
	st, err := queue.Status(t.Context(), batchHandle)
	require.NoError(t, err)
	require.Equal(t, kubequeue.StateRunning, st.State)
	states := make([]kubequeue.State, len(st.Items))
	for i, item := range st.Items {
		states[i] = item.State
	}
	require.Equal(t, []kubequeue.State{kubequeue.StateSucceeded, kubequeue.StatePending, kubequeue.StateRunning, kubequeue.StatePending, kubequeue.StatePending}, states)
	require.Equal(t, int32(1), st.Items[1].Failures)
	require.Equal(t, "retry me", st.Items[1].TerminationMessage)
	require.Equal(t, kubequeue.Result(`"done"`), st.Items[0].Result, "results as items succeed")
	require.NoError(t, st.Err())

	// List reads no pods: the items' states from the Job alone.
	page, err := queue.List(t.Context(), kubequeue.ListOptions{Namespace: "ns"})
	require.NoError(t, err)
	require.Len(t, page.Items, 1)
	require.Len(t, page.Items[0].Items, 5)
	require.Equal(t, kubequeue.StateSucceeded, page.Items[0].Items[0].State)
	require.Nil(t, page.Items[0].Items[0].Result)
	require.Equal(t, 4, page.Items[0].CountItems(kubequeue.StatePending))
}

// TestQueue_Wait_Batch: Wait returns a batch's items, from the pods its
// watch cached, and names the failed ones in its error.
func TestQueue_Wait_Batch(t *testing.T) {
	t.Parallel()
	client, queue := setupWith(t, batchJob(t, 6, batchv1.JobStatus{StartTime: ptr.To(at(1))}))
	for _, pod := range batchFailedPods() {
		_, err := client.CoreV1().Pods("ns").Create(t.Context(), pod.(*corev1.Pod), metav1.CreateOptions{})
		require.NoError(t, err)
	}
	errc := make(chan error, 1)
	var st kubequeue.Status
	go func() {
		var err error
		st, err = queue.Wait(deadline(t, "Wait for the batch"), batchHandle)
		errc <- err
	}()
	require.NoError(t, awaitWatches(deadline(t, "the watch"), client, 1))
	job := batchJob(t, 6, batchFailed())
	_, err := client.BatchV1().Jobs("ns").UpdateStatus(t.Context(), job, metav1.UpdateOptions{})
	require.NoError(t, err)
	err = receive(t, errc, "Wait")

	var failed *kubequeue.JobFailedError
	require.ErrorAs(t, err, &failed)
	require.Equal(t, []int{1, 4}, failed.FailedItems)
	require.Len(t, st.Items, 6)
	require.Equal(t, kubequeue.Result(`{"n":5}`), st.Items[5].Result)
	require.Equal(t, kubequeue.ExitPermanent, int(st.Items[4].ExitCode))
}

func TestJobFailedError_FailedItems(t *testing.T) {
	t.Parallel()
	many := make([]int, 0, 40)
	for i := 0; i < 40; i += 2 {
		many = append(many, i)
	}
	tests := []struct {
		name  string
		items []int
		want  string
	}{
		{"One", []int{7}, "1 item failed (7)"},
		{"Range", []int{3, 4, 5, 6}, "4 items failed (3 to 6)"},
		{"Mixed", []int{0, 2, 3, 4, 9}, "5 items failed (0, 2 to 4 and 9)"},
		{"Many", many, "20 items failed (0, 2, 4, 6, 8 and 15 more)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := &kubequeue.JobFailedError{Handle: batchHandle, Reason: "FailedIndexes", FailedItems: tt.items}
			require.Equal(t, "kubequeue: job ns/greet-batch failed: FailedIndexes: "+tt.want, err.Error())
		})
	}
}

// TestQueue_Wait_BatchPodCacheBehind: a batch that finished before the
// watch cached all its succeeded pods is summarized from its pods, read.
func TestQueue_Wait_BatchPodCacheBehind(t *testing.T) {
	t.Parallel()
	job := batchJob(t, 3, batchv1.JobStatus{
		StartTime: ptr.To(at(1)), Succeeded: 3, CompletedIndexes: "0-2", CompletionTime: ptr.To(at(5)),
		Conditions: []batchv1.JobCondition{successCriteriaMet, complete},
	})
	client, queue := setupWith(t, job, itemPod(0, 1, corev1.PodSucceeded, exited(0, `0`, 3)))
	lists := podLists(client)
	done := make(chan struct{})
	var st kubequeue.Status
	var err error
	go func() {
		defer close(done)
		st, err = queue.Wait(deadline(t, "Wait"), batchHandle)
	}()
	select {
	case <-done:
	case <-time.After(time.Minute):
		t.Fatal("Wait did not return")
	}
	require.NoError(t, err)
	require.Equal(t, kubequeue.StateSucceeded, st.State)
	require.Equal(t, 3, st.CountItems(kubequeue.StateSucceeded))
	require.Equal(t, kubequeue.Result(`0`), st.Items[0].Result)
	require.Greater(t, podLists(client), lists+1, "the cache held 1 of 3 succeeded pods: the pods were read")
}
