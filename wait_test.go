package kubequeue_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
	batchv1client "k8s.io/client-go/kubernetes/typed/batch/v1"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/utils/ptr"

	"github.com/kubequeue/kubequeue"
	"github.com/kubequeue/kubequeue/internal/leakcheck"
	"github.com/kubequeue/kubequeue/kubequeuetest"
)

// finish gives the Job in client the conditions the Job controller writes
// when it succeeds, or, with failed, when its backoff limit is exceeded.
func finish(t *testing.T, client *fake.Clientset, h kubequeue.Handle, failed bool) {
	t.Helper()
	require.NoError(t, finishJob(context.WithoutCancel(t.Context()), client, h, failed))
}

// finishJob is finish for a goroutine other than the test's: it returns
// the error instead of failing the test.
func finishJob(ctx context.Context, client kubernetes.Interface, h kubequeue.Handle, failed bool) error {
	jobs := client.BatchV1().Jobs(h.Namespace)
	job, err := jobs.Get(ctx, h.Name, metav1.GetOptions{})
	if err != nil {
		return err
	}
	job.Status.StartTime = ptr.To(at(1))
	if failed {
		job.Status.Failed = 1
		job.Status.Conditions = []batchv1.JobCondition{backoffTarget, backoffFailed}
	} else {
		job.Status.Succeeded = 1
		job.Status.CompletionTime = ptr.To(at(5))
		job.Status.Conditions = []batchv1.JobCondition{successCriteriaMet, complete}
	}
	_, err = jobs.UpdateStatus(ctx, job, metav1.UpdateOptions{})
	return err
}

// waitTimeout bounds every wait of these tests: what they wait for takes
// milliseconds, so reaching it means the wait would never have ended.
const waitTimeout = 10 * time.Second

// deadline returns a context that ends after waitTimeout, with a cause that
// names what the test waits for. A Wait or WaitAll that never ends then
// fails the test with an error that says what it waited for (the error
// wraps ctx's cause), rather than hanging it until the package's timeout.
func deadline(t *testing.T, format string, args ...any) context.Context {
	t.Helper()
	cause := fmt.Errorf("the test waited %s for "+format, append([]any{waitTimeout}, args...)...)
	ctx, cancel := context.WithTimeoutCause(t.Context(), waitTimeout, cause)
	t.Cleanup(cancel)
	return ctx
}

// enqueue enqueues n greet Jobs in namespace ns.
func enqueue(t *testing.T, queue *kubequeue.Queue, ns string, n int) []kubequeue.Handle {
	t.Helper()
	handles := make([]kubequeue.Handle, n)
	for i := range handles {
		var err error
		handles[i], err = queue.Enqueue(t.Context(), newGreeter(), greeting{Name: "Ada"}, kubequeue.WithNamespace(ns))
		require.NoError(t, err)
	}
	return handles
}

// watches counts the watch requests for Jobs that client received.
func watches(client *fake.Clientset) int {
	n := 0
	for _, a := range client.Actions() {
		if a.GetVerb() == "watch" && a.GetResource().Resource == "jobs" {
			n++
		}
	}
	return n
}

// awaitWatches waits until client has received n watch requests for Jobs,
// or ctx ends. It does not fail the test, so that goroutines other than the
// test's may call it.
func awaitWatches(ctx context.Context, client *fake.Clientset, n int) error {
	for watches(client) < n {
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %d watch(es) of jobs: %w", n, context.Cause(ctx))
		case <-time.After(time.Millisecond):
		}
	}
	return nil
}

// receive returns what errc delivers, and fails the test if nothing comes
// within waitTimeout; what names the goroutine that sends it.
func receive(t *testing.T, errc <-chan error, what string) error {
	t.Helper()
	select {
	case err := <-errc:
		return err
	case <-time.After(waitTimeout):
		t.Fatalf("the test waited %s for %s to end", waitTimeout, what)
		return nil
	}
}

func TestQueue_Wait(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// finish runs in a goroutine of its own while Wait waits: it
		// returns an error rather than failing the test.
		finish func(ctx context.Context, client *fake.Clientset, h kubequeue.Handle) error
		check  func(t *testing.T, st kubequeue.Status, err error)
	}{
		{
			name: "Succeeded",
			finish: func(ctx context.Context, c *fake.Clientset, h kubequeue.Handle) error {
				return finishJob(ctx, c, h, false)
			},
			check: func(t *testing.T, st kubequeue.Status, err error) {
				require.NoError(t, err)
				require.Equal(t, kubequeue.StateSucceeded, st.State)
			},
		},
		{
			name: "Failed",
			finish: func(ctx context.Context, c *fake.Clientset, h kubequeue.Handle) error {
				job, err := c.BatchV1().Jobs(h.Namespace).Get(ctx, h.Name, metav1.GetOptions{})
				if err != nil {
					return err
				}
				pod := testPod(h.Name+"-x1", 1, corev1.PodFailed, exited(42, "no such user", 2))
				pod.Namespace = h.Namespace
				pod.Labels[batchv1.ControllerUidLabel] = string(job.UID)
				if err := c.Tracker().Add(pod); err != nil {
					return err
				}
				return finishJob(ctx, c, h, true)
			},
			check: func(t *testing.T, st kubequeue.Status, err error) {
				require.ErrorIs(t, err, kubequeue.ErrJobFailed)
				require.ErrorIs(t, err, kubequeue.ErrPermanent)
				var failed *kubequeue.JobFailedError
				require.ErrorAs(t, err, &failed)
				require.Equal(t, batchv1.JobReasonBackoffLimitExceeded, failed.Reason)
				require.Equal(t, int32(42), failed.ExitCode)
				require.Equal(t, "no such user", failed.TerminationMessage)
				require.Equal(t, kubequeue.StateFailed, st.State)
			},
		},
		{
			name: "Deleted",
			finish: func(ctx context.Context, c *fake.Clientset, h kubequeue.Handle) error {
				return c.BatchV1().Jobs(h.Namespace).Delete(ctx, h.Name, metav1.DeleteOptions{})
			},
			check: func(t *testing.T, st kubequeue.Status, err error) {
				require.ErrorIs(t, err, kubequeue.ErrJobNotFound)
				require.ErrorContains(t, err, "deleted before it finished")
				require.Equal(t, kubequeue.StatePending, st.State)
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			client, queue := setup(t)
			h := enqueue(t, queue, "ns", 1)[0]
			ctx := deadline(t, "job %s to be %s", h, tt.name)
			errc := make(chan error, 1)
			go func() {
				if err := awaitWatches(ctx, client, 1); err != nil {
					errc <- err
					return
				}
				errc <- tt.finish(context.WithoutCancel(ctx), client, h)
			}()
			st, err := queue.Wait(ctx, h)
			require.NoError(t, receive(t, errc, "the goroutine that finishes the job"))
			require.Equal(t, h, st.Handle)
			tt.check(t, st, err)
			require.Equal(t, 1, watches(client))
		})
	}
}

func TestQueue_Wait_AlreadyFinished(t *testing.T) {
	t.Parallel()
	client, queue := setup(t)
	h := enqueue(t, queue, "ns", 1)[0]
	finish(t, client, h, false)
	st, err := queue.Wait(deadline(t, "job %s, finished already", h), h)
	require.NoError(t, err)
	require.Equal(t, kubequeue.StateSucceeded, st.State)
}

func TestQueue_Wait_NotFound(t *testing.T) {
	t.Parallel()
	client, queue := setup(t)
	h := enqueue(t, queue, "ns", 1)[0]

	_, err := queue.Wait(deadline(t, "a job that does not exist"), kubequeue.Handle{Namespace: "ns", Name: "no-such-job"})
	require.ErrorIs(t, err, kubequeue.ErrJobNotFound)

	stale := h
	stale.UID = "another-uid"
	st, err := queue.Wait(deadline(t, "a handle whose UID is not its job's"), stale)
	require.ErrorIs(t, err, kubequeue.ErrJobNotFound)
	require.Equal(t, stale, st.Handle)

	_, err = queue.Wait(deadline(t, "an invalid handle"), kubequeue.Handle{Namespace: "ns", Name: "Not A Name"})
	require.ErrorIs(t, err, kubequeue.ErrInvalidHandle)
	require.Equal(t, 2, watches(client), "an invalid handle is refused before any request")
}

func TestQueue_WaitAll(t *testing.T) {
	t.Parallel()
	client, queue := setup(t)
	handles := append(enqueue(t, queue, "ns1", 3), enqueue(t, queue, "ns2", 1)...)

	// Jobs are yielded as they finish: the first is done already, each
	// next one finishes once the previous one was yielded.
	order := []int{2, 0, 3, 1}
	finish(t, client, handles[order[0]], false)
	var got []kubequeue.Handle
	for st, err := range queue.WaitAll(deadline(t, "4 jobs, finished one after the other"), append(handles, handles[0])...) {
		if st.Handle == handles[3] { // the one that fails
			require.ErrorIs(t, err, kubequeue.ErrJobFailed)
		} else {
			require.NoError(t, err)
		}
		got = append(got, st.Handle)
		if len(got) < len(order) {
			next := order[len(got)]
			finish(t, client, handles[next], next == 3)
		}
	}
	var want []kubequeue.Handle
	for _, i := range order {
		want = append(want, handles[i])
	}
	require.Equal(t, want, got, "yielded in the order they finished, each once")
	require.Equal(t, 2, watches(client), "one watch of Jobs per namespace")
}

func TestQueue_WaitAll_Errors(t *testing.T) {
	t.Parallel()
	client, queue := setup(t)
	h := enqueue(t, queue, "ns", 2)
	finish(t, client, h[0], true)
	bad := kubequeue.Handle{Namespace: "", Name: "x"}
	results := map[kubequeue.Handle]error{}
	var first kubequeue.Handle
	for st, err := range queue.WaitAll(deadline(t, "job %s to fail and job %s to be deleted", h[0], h[1]), bad, h[0], h[1]) {
		if first == (kubequeue.Handle{}) {
			first = st.Handle
		}
		results[st.Handle] = err
		if st.Handle == h[0] {
			require.NoError(t, client.BatchV1().Jobs("ns").Delete(t.Context(), h[1].Name, metav1.DeleteOptions{}))
		}
	}
	require.Equal(t, bad, first, "an invalid handle is yielded at once")
	require.ErrorIs(t, results[bad], kubequeue.ErrInvalidHandle)
	require.ErrorIs(t, results[h[0]], kubequeue.ErrJobFailed)
	require.ErrorIs(t, results[h[1]], kubequeue.ErrJobNotFound)
}

// heldWatches is a clientset whose first watch of Jobs waits until release
// is closed (at most waitTimeout), so that a test can change Jobs between
// an informer's list and its watch.
type heldWatches struct {
	*fake.Clientset
	release chan struct{}
	once    sync.Once
}

func (c *heldWatches) BatchV1() batchv1client.BatchV1Interface {
	return heldBatch{c.Clientset.BatchV1(), c}
}

type heldBatch struct {
	batchv1client.BatchV1Interface
	c *heldWatches
}

func (b heldBatch) Jobs(namespace string) batchv1client.JobInterface {
	return heldJobs{b.BatchV1Interface.Jobs(namespace), b.c}
}

type heldJobs struct {
	batchv1client.JobInterface
	c *heldWatches
}

func (j heldJobs) Watch(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
	j.c.once.Do(func() {
		select {
		case <-j.c.release:
		case <-ctx.Done():
		case <-time.After(waitTimeout):
		}
	})
	return j.JobInterface.Watch(ctx, opts)
}

// TestQueue_WaitAll_DeletedBetweenListAndWatch deletes a Job after the
// informer listed it and before its watch starts. client-go's fake
// clientset replays to a watch the objects added or changed since the
// list's resourceVersion, but not those deleted, so the deletion reaches
// WaitAll only by the lookup it makes once the watch runs.
func TestQueue_WaitAll_DeletedBetweenListAndWatch(t *testing.T) {
	t.Parallel()
	client := fake.NewClientset() // client-go's own: the lookup, not kubequeuetest's replay, must find the deletion
	held := &heldWatches{Clientset: client, release: make(chan struct{})}
	queue := newQueue(t, held, kubequeue.WithRandSource(rand.NewPCG(1, 2)))
	h := enqueue(t, queue, "ns", 2)
	finish(t, client, h[0], false)

	results := map[kubequeue.Handle]error{}
	for st, err := range queue.WaitAll(deadline(t, "job %s to succeed and job %s, deleted between list and watch, to be reported deleted", h[0], h[1]), h...) {
		results[st.Handle] = err
		if st.Handle == h[0] { // the informer has listed both Jobs; its watch waits
			require.NoError(t, client.BatchV1().Jobs("ns").Delete(t.Context(), h[1].Name, metav1.DeleteOptions{}))
			close(held.release)
		}
	}
	require.NoError(t, results[h[0]])
	require.ErrorIs(t, results[h[1]], kubequeue.ErrJobNotFound)
	require.ErrorContains(t, results[h[1]], "deleted before it finished")
}

// TestQueue_Wait_PodsUnreadable: a Job that succeeded is a success for
// Wait even when reading its pods, for its result, fails at first or for
// good; a caller that re-enqueues on an error would run it again.
func TestQueue_Wait_PodsUnreadable(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name   string
		fails  int // how many reads of the pods fail; -1: all
		lists  int32
		result bool
	}{
		{"Once", 1, 2, true},
		{"Always", -1, 2, false}, // the queue's 2 tries
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			client, queue := setup(t, kubequeue.WithRetries(2))
			h := enqueue(t, queue, "ns", 1)[0]
			// The pod is not in the informer's cache (it has no job-name
			// label), so Wait reads the Job's pods when it finishes.
			job, err := client.BatchV1().Jobs("ns").Get(t.Context(), h.Name, metav1.GetOptions{})
			require.NoError(t, err)
			pod := testPod(h.Name+"-x1", 1, corev1.PodSucceeded, exited(0, `{"sum":42}`, 4))
			pod.Namespace, pod.Labels = "ns", map[string]string{batchv1.ControllerUidLabel: string(job.UID)}
			require.NoError(t, client.Tracker().Add(pod))
			finish(t, client, h, false)
			lists := failPodReads(client, tt.fails, errUnavailable)

			st, err := queue.Wait(deadline(t, "job %s, succeeded, whose pods cannot be read", h), h)
			require.NoError(t, err)
			require.Equal(t, kubequeue.StateSucceeded, st.State)
			require.Equal(t, tt.lists, lists.Load())
			var sum struct{ Sum int }
			if err := st.DecodeResult(&sum); tt.result {
				require.NoError(t, err)
				require.Equal(t, 42, sum.Sum)
			} else {
				require.ErrorIs(t, err, kubequeue.ErrNoResult)
				require.ErrorIs(t, err, errUnavailable)
			}
		})
	}
}

// TestQueue_WaitAll_MutatedLabels: WaitAll finds several Jobs by
// kubequeue's labels, Wait one Job by its name. A mutator may not change
// those labels, so that both find every Job Enqueue creates.
func TestQueue_WaitAll_MutatedLabels(t *testing.T) {
	t.Parallel()
	set := func(k, v string) kubequeue.EnqueueOption {
		return kubequeue.WithJobMutator(func(job *batchv1.Job) { job.Labels[k] = v })
	}
	setPod := func(k, v string) kubequeue.EnqueueOption {
		return kubequeue.WithJobMutator(func(job *batchv1.Job) { job.Spec.Template.Labels[k] = v })
	}
	for _, tt := range []struct {
		name  string
		opt   kubequeue.EnqueueOption
		value string
	}{
		{"Worker", set(kubequeue.LabelWorker, "other"), kubequeue.LabelWorker + "=other"},
		{"ManagedBy", kubequeue.WithJobMutator(func(job *batchv1.Job) { delete(job.Labels, kubequeue.LabelManagedBy) }), kubequeue.LabelManagedBy + "="},
		{"PodWorker", setPod(kubequeue.LabelWorker, "other"), kubequeue.LabelWorker + "=other"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			client, queue := setup(t)
			_, err := queue.Enqueue(t.Context(), newGreeter(), greeting{}, tt.opt)
			require.ErrorIs(t, err, kubequeue.ErrInvalidOption)
			require.ErrorContains(t, err, tt.value)
			require.ErrorContains(t, err, "WaitAll and List select")
			require.Empty(t, client.Actions())
		})
	}

	t.Run("OtherLabels", func(t *testing.T) {
		t.Parallel()
		// Labels of its own a mutator may change: Wait by name and
		// WaitAll by label find the Job alike.
		client, queue := setup(t)
		h, err := queue.Enqueue(t.Context(), newGreeter(), greeting{}, kubequeue.WithNamespace("ns"), set("team", "a"), setPod("team", "a"))
		require.NoError(t, err)
		other := enqueue(t, queue, "ns", 1)[0]
		finish(t, client, h, false)
		finish(t, client, other, false)
		st, err := queue.Wait(deadline(t, "job %s, finished, by name", h), h)
		require.NoError(t, err)
		require.Equal(t, kubequeue.StateSucceeded, st.State)
		for st, err := range queue.WaitAll(deadline(t, "jobs %s and %s, finished, by label", h, other), h, other) {
			require.NoError(t, err, "job %s", st.Handle)
			require.Equal(t, kubequeue.StateSucceeded, st.State)
		}
	})
}

func TestQueue_WaitAll_SameNameOtherUID(t *testing.T) {
	t.Parallel()
	queue, client := fakeQueue(t)
	h := enqueue(t, queue, "ns", 1)[0]
	require.NotEmpty(t, h.UID)
	stale := h
	stale.UID = "another-uid"
	require.NoError(t, kubequeuetest.SetSucceeded(t.Context(), client, h, nil))

	got := map[kubequeue.Handle]error{}
	for st, err := range queue.WaitAll(deadline(t, "job %s, finished, and a stale handle of its name", h), stale, h, stale) {
		got[st.Handle] = err
	}
	require.Len(t, got, 2, "each distinct handle once")
	require.NoError(t, got[h])
	require.ErrorIs(t, got[stale], kubequeue.ErrJobNotFound)
}

func TestQueue_WaitAll_APIErrors(t *testing.T) {
	t.Parallel()
	forbidden := func(resource string) error {
		return apierrors.NewForbidden(schema.GroupResource{Resource: resource}, "", errors.New("RBAC: not allowed"))
	}
	tests := []struct {
		name     string
		resource string // the resource whose list fails
		err      error
		check    func(t *testing.T, err error)
	}{
		{
			// Retried, as the informer does, until ctx ends.
			name: "Transient", resource: "jobs", err: errors.New("the server is on fire"),
			check: func(t *testing.T, err error) { require.ErrorIs(t, err, context.DeadlineExceeded) },
		},
		{
			name: "JobsForbidden", resource: "jobs", err: forbidden("jobs"),
			check: func(t *testing.T, err error) {
				require.True(t, apierrors.IsForbidden(err), "%v", err)
				require.ErrorContains(t, err, "watch jobs in ns")
			},
		},
		{
			name: "PodsForbidden", resource: "pods", err: forbidden("pods"),
			check: func(t *testing.T, err error) {
				require.True(t, apierrors.IsForbidden(err), "%v", err)
				require.ErrorContains(t, err, "watch pods in ns")
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			client, queue := setup(t)
			hs := enqueue(t, queue, "ns", 2)
			client.PrependReactor("list", tt.resource, func(k8stesting.Action) (bool, runtime.Object, error) {
				return true, nil, tt.err
			})
			ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
			defer cancel()
			n := 0
			for st, err := range queue.WaitAll(ctx, hs...) {
				require.Equal(t, hs[n], st.Handle)
				require.ErrorContains(t, err, "kubequeue: wait for job ns/"+hs[n].Name)
				tt.check(t, err)
				n++
			}
			require.Equal(t, 2, n)
		})
	}
}

func TestQueue_Wait_ContextCause(t *testing.T) {
	t.Parallel()
	_, queue := setup(t)
	h := enqueue(t, queue, "ns", 1)[0]
	cause := errors.New("the request was abandoned")
	ctx, cancel := context.WithTimeoutCause(t.Context(), 100*time.Millisecond, cause)
	defer cancel()
	_, err := queue.Wait(ctx, h)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.ErrorIs(t, err, cause)
}

// TestQueue_WaitAll_Leaks checks that no goroutine outlives WaitAll,
// however the loop ends. It does not run in parallel, so that only its own
// goroutines count.
func TestQueue_WaitAll_Leaks(t *testing.T) {
	tests := []struct {
		name string
		run  func(t *testing.T, client *fake.Clientset, queue *kubequeue.Queue, hs []kubequeue.Handle)
	}{
		{
			name: "AllFinished",
			run: func(t *testing.T, client *fake.Clientset, queue *kubequeue.Queue, hs []kubequeue.Handle) {
				ctx := deadline(t, "%d jobs to succeed", len(hs))
				errc := make(chan error, 1)
				go func() {
					errc <- func() error {
						if err := awaitWatches(ctx, client, 1); err != nil {
							return err
						}
						for _, h := range hs {
							if err := finishJob(context.WithoutCancel(ctx), client, h, false); err != nil {
								return err
							}
						}
						return nil
					}()
				}()
				n := 0
				for _, err := range queue.WaitAll(ctx, hs...) {
					require.NoError(t, err)
					n++
				}
				require.NoError(t, receive(t, errc, "the goroutine that finishes the jobs"))
				require.Equal(t, len(hs), n)
			},
		},
		{
			name: "ContextEnds",
			run: func(t *testing.T, _ *fake.Clientset, queue *kubequeue.Queue, hs []kubequeue.Handle) {
				ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
				defer cancel()
				n := 0
				for st, err := range queue.WaitAll(ctx, hs...) {
					require.ErrorIs(t, err, context.DeadlineExceeded)
					require.Equal(t, kubequeue.StatePending, st.State, "the last state seen")
					require.Equal(t, hs[n], st.Handle, "the rest, in order")
					n++
				}
				require.Equal(t, len(hs), n)
			},
		},
		{
			name: "LoopBroken",
			run: func(t *testing.T, client *fake.Clientset, queue *kubequeue.Queue, hs []kubequeue.Handle) {
				finish(t, client, hs[1], false)
				for st := range queue.WaitAll(deadline(t, "job %s, finished already", hs[1]), hs...) {
					require.Equal(t, hs[1], st.Handle)
					break
				}
			},
		},
		{
			name: "BrokenWhileReadingPods",
			run: func(t *testing.T, client *fake.Clientset, queue *kubequeue.Queue, hs []kubequeue.Handle) {
				// Two Jobs fail at once; the loop stops after the first,
				// while the other's pods may be being read.
				finish(t, client, hs[0], true)
				finish(t, client, hs[1], true)
				for range queue.WaitAll(deadline(t, "the first of two failed jobs"), hs...) {
					break
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := leakcheck.Goroutines()
			client, queue := setup(t)
			tt.run(t, client, queue, enqueue(t, queue, "ns", 3))
			require.Empty(t, leakcheck.Leaked(before, 5*time.Second), "goroutines left running")
		})
	}
}

// podLists counts the list requests for pods that client received.
func podLists(client *fake.Clientset) int {
	n := 0
	for _, a := range client.Actions() {
		if a.GetVerb() == "list" && a.GetResource().Resource == "pods" {
			n++
		}
	}
	return n
}

// failedPod adds a failed pod of the handle's Job to client.
func failedPod(t *testing.T, client *fake.Clientset, h kubequeue.Handle, name string, code int32, message string) {
	t.Helper()
	job, err := client.BatchV1().Jobs(h.Namespace).Get(t.Context(), h.Name, metav1.GetOptions{})
	require.NoError(t, err)
	pod := testPod(name, 1, corev1.PodFailed, exited(code, message, 2))
	pod.Namespace = h.Namespace
	pod.Labels[batchv1.ControllerUidLabel] = string(job.UID)
	pod.Labels[kubequeue.LabelManagedBy] = "kubequeue"
	pod.Labels[kubequeue.LabelWorker] = h.Worker
	require.NoError(t, client.Tracker().Add(pod))
}

func TestQueue_WaitAll_PodCache(t *testing.T) {
	t.Parallel()
	queue, client := fakeQueue(t)
	hs := enqueue(t, queue, "ns", 3)
	for i, h := range hs[:2] {
		failedPod(t, client, h, fmt.Sprintf("pod-%d", i), int32(10+i), fmt.Sprintf("attempt of job %d", i))
		finish(t, client, h, true)
	}
	// The third Job counts a failed pod that is gone: its pods are read
	// once more when it finishes.
	finish(t, client, hs[2], true)

	got := map[kubequeue.Handle]kubequeue.Status{}
	for st, err := range queue.WaitAll(deadline(t, "3 failed jobs"), hs...) {
		require.ErrorIs(t, err, kubequeue.ErrJobFailed)
		got[st.Handle] = st
	}
	require.Equal(t, int32(10), got[hs[0]].ExitCode)
	require.Equal(t, "attempt of job 0", got[hs[0]].TerminationMessage)
	require.Equal(t, int32(11), got[hs[1]].ExitCode)
	require.Zero(t, got[hs[2]].ExitCode)
	require.Equal(t, 2, podLists(client), "the informer's list, and one for the Job whose pod is not cached")

	// The cache keeps less of each Job than the API server holds, without
	// changing what the clientset holds.
	job, err := client.BatchV1().Jobs("ns").Get(t.Context(), hs[0].Name, metav1.GetOptions{})
	require.NoError(t, err)
	require.Contains(t, job.Spec.Template.Spec.Containers[0].Env[1].Value, "Ada")
}

// TestQueue_WaitAll_PodCacheBehind: a Job seen finished before the pod
// that failed it is cached waits for the pod informer rather than reading
// the pods from the API server, a request per Job when many finish.
func TestQueue_WaitAll_PodCacheBehind(t *testing.T) {
	t.Parallel()
	queue, client := fakeQueue(t)
	h := enqueue(t, queue, "ns", 1)[0]
	finish(t, client, h, true)
	job, err := client.BatchV1().Jobs(h.Namespace).Get(t.Context(), h.Name, metav1.GetOptions{})
	require.NoError(t, err)
	pod := testPod("pod-0", 1, corev1.PodFailed, exited(10, "late", 2))
	pod.Namespace = h.Namespace
	pod.Labels[batchv1.ControllerUidLabel] = string(job.UID)
	pod.Labels[kubequeue.LabelManagedBy] = "kubequeue"
	pod.Labels[kubequeue.LabelWorker] = h.Worker

	ctx := deadline(t, "a job whose pod comes late")
	added := make(chan error, 1)
	go func() {
		// Once the Jobs are watched, the finished Job has been seen.
		if err := awaitWatches(ctx, client, 1); err != nil {
			added <- err
			return
		}
		time.Sleep(50 * time.Millisecond)
		added <- client.Tracker().Add(pod)
	}()
	var got []kubequeue.Status
	for st, err := range queue.WaitAll(ctx, h) {
		require.ErrorIs(t, err, kubequeue.ErrJobFailed)
		got = append(got, st)
	}
	require.NoError(t, receive(t, added, "the pod's creation"))
	require.Len(t, got, 1)
	require.Equal(t, int32(10), got[0].ExitCode, "the late pod's exit code")
	require.Equal(t, 1, podLists(client), "the informer's list only")
}

// TestSlimJob_LeavesItsArgument: the cache's transform copies, since a
// client may share the objects it hands out (the fake clientset's watch
// does, and changing them raced with its List).
func TestSlimJob_LeavesItsArgument(t *testing.T) {
	t.Parallel()
	job := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: "j", ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kubequeue"}}},
		Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: "worker", Env: []corev1.EnvVar{{Name: "KUBEQUEUE_PAYLOAD", Value: `{"secret":"x"}`}},
		}}}}},
	}
	before := job.DeepCopy()
	out, err := kubequeue.SlimJob(job)
	require.NoError(t, err)
	require.Equal(t, before, job, "the argument was changed")
	slim := out.(*batchv1.Job)
	require.Nil(t, slim.ManagedFields)
	require.Equal(t, []corev1.EnvVar{{Name: "KUBEQUEUE_PAYLOAD"}}, slim.Spec.Template.Spec.Containers[0].Env)
}
