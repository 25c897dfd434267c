package kubequeue_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/fake"
	batchv1client "k8s.io/client-go/kubernetes/typed/batch/v1"

	"github.com/kubequeue/kubequeue"
	"github.com/kubequeue/kubequeue/kubequeuetest"
)

// hookedClient is a kubequeuetest clientset whose Job creates and gets go
// through hooks outside the fake's lock (which serializes its reactors),
// so that a test can see, hold or fail concurrent requests.
type hookedClient struct {
	*fake.Clientset
	create func(ctx context.Context, job *batchv1.Job, create func() (*batchv1.Job, error)) (*batchv1.Job, error)
	get    func(name string) error // nil: no failure
}

// newHookedClient returns a hookedClient whose hooks pass every request on.
func newHookedClient() *hookedClient {
	return &hookedClient{
		Clientset: kubequeuetest.NewClientset(),
		create: func(_ context.Context, _ *batchv1.Job, create func() (*batchv1.Job, error)) (*batchv1.Job, error) {
			return create()
		},
		get: func(string) error { return nil },
	}
}

func (c *hookedClient) BatchV1() batchv1client.BatchV1Interface {
	return hookedBatch{c.Clientset.BatchV1(), c}
}

type hookedBatch struct {
	batchv1client.BatchV1Interface
	c *hookedClient
}

func (b hookedBatch) Jobs(namespace string) batchv1client.JobInterface {
	return hookedJobs{b.BatchV1Interface.Jobs(namespace), b.c}
}

type hookedJobs struct {
	batchv1client.JobInterface
	c *hookedClient
}

func (j hookedJobs) Create(ctx context.Context, job *batchv1.Job, opts metav1.CreateOptions) (*batchv1.Job, error) {
	return j.c.create(ctx, job, func() (*batchv1.Job, error) { return j.JobInterface.Create(ctx, job, opts) })
}

func (j hookedJobs) Get(ctx context.Context, name string, opts metav1.GetOptions) (*batchv1.Job, error) {
	if err := j.c.get(name); err != nil {
		return nil, err
	}
	return j.JobInterface.Get(ctx, name, opts)
}

// payloadID returns the ID of the resizeArgs payload in job's environment.
func payloadID(t *testing.T, job *batchv1.Job) int {
	t.Helper()
	p, err := kubequeuetest.Payload(job, resizeWorker(t))
	require.NoError(t, err)
	return p.ID
}

// resizePayloads returns n payloads with IDs 0 to n-1.
func resizePayloads(n int) []resizeArgs {
	payloads := make([]resizeArgs, n)
	for i := range payloads {
		payloads[i].ID = i
	}
	return payloads
}

// requireEnqueuedInOrder requires that each handle names a Job of client,
// with the handle's UID, whose payload is the one at the handle's index,
// and that client holds no other Job of the worker.
func requireEnqueuedInOrder(t *testing.T, client *hookedClient, handles []kubequeue.Handle, payloads []resizeArgs) {
	t.Helper()
	require.Len(t, handles, len(payloads))
	for i, h := range handles {
		job, err := client.Clientset.BatchV1().Jobs(h.Namespace).Get(t.Context(), h.Name, metav1.GetOptions{})
		require.NoError(t, err, "payload %d", i)
		require.Equal(t, job.UID, h.UID, "payload %d", i)
		require.Equal(t, resizeName, h.Worker)
		require.Equal(t, payloads[i].ID, payloadID(t, job), "handle %d names the Job of payload %d", i, i)
	}
	jobs, err := kubequeuetest.Jobs(t.Context(), client, resizeWorker(t))
	require.NoError(t, err)
	require.Len(t, jobs, len(payloads), "one Job per payload, no more")
}

func TestQueue_EnqueueMany(t *testing.T) {
	t.Parallel()
	t.Run("InOrder", func(t *testing.T) {
		t.Parallel()
		client := newHookedClient()
		queue := newQueue(t, client, kubequeue.WithDefaultNamespace("ns"))
		payloads := resizePayloads(100)
		handles, err := queue.EnqueueMany(t.Context(), resizeWorker(t), payloads, kubequeue.WithLabels(map[string]string{"batch": "b1"}))
		require.NoError(t, err)
		requireEnqueuedInOrder(t, client, handles, payloads)
		job, err := client.Clientset.BatchV1().Jobs("ns").Get(t.Context(), handles[7].Name, metav1.GetOptions{})
		require.NoError(t, err)
		require.Equal(t, "b1", job.Labels["batch"], "the call's options apply to every Job")
	})

	t.Run("AnySlice", func(t *testing.T) {
		t.Parallel()
		client := newHookedClient()
		queue := newQueue(t, client)
		handles, err := queue.EnqueueMany(t.Context(), resizeWorker(t), []any{resizeArgs{ID: 0}, resizeArgs{ID: 1}})
		require.NoError(t, err)
		requireEnqueuedInOrder(t, client, handles, resizePayloads(2))
	})

	t.Run("SecretPayloads", func(t *testing.T) {
		t.Parallel()
		queue, client := fakeQueue(t)
		w := resizeWorker(t, kubequeue.WithSensitivePayload())
		handles, err := queue.EnqueueMany(t.Context(), w, resizePayloads(5))
		require.NoError(t, err)
		require.Len(t, handles, 5)
		for _, h := range handles {
			requireJobStarted(t, client, h)
		}
		got, err := kubequeuetest.Enqueued(t.Context(), client, w)
		require.NoError(t, err)
		require.ElementsMatch(t, resizePayloads(5), got)
	})

	t.Run("Empty", func(t *testing.T) {
		t.Parallel()
		client, queue := setup(t)
		for _, payloads := range []any{[]resizeArgs{}, []resizeArgs(nil), []any{}} {
			handles, err := queue.EnqueueMany(t.Context(), resizeWorker(t), payloads)
			require.NoError(t, err)
			require.Empty(t, handles)
		}
		requireNoAPICall(t, client)
	})
}

// requireJobStarted requires that h's Job exists with h's UID and may
// start: its payload stored, not left suspended.
func requireJobStarted(t *testing.T, client *fake.Clientset, h kubequeue.Handle) {
	t.Helper()
	job, err := client.BatchV1().Jobs(h.Namespace).Get(t.Context(), h.Name, metav1.GetOptions{})
	require.NoError(t, err)
	require.Equal(t, h.UID, job.UID)
	require.False(t, job.Spec.Suspend != nil && *job.Spec.Suspend, "job %s is not left suspended", h)
	require.NotContains(t, job.Annotations, kubequeue.AnnotationResume)
}

// TestQueue_EnqueueMany_InvalidMakesNoCall: a mistake in any payload or
// option fails the whole call before any API call, naming each bad
// payload.
func TestQueue_EnqueueMany_InvalidMakesNoCall(t *testing.T) {
	t.Parallel()
	tooLarge := resizeArgs{Note: strings.Repeat("x", kubequeue.MaxPayloadSize)}
	tests := []struct {
		name     string
		worker   kubequeue.AnyWorker
		payloads any
		opts     []kubequeue.EnqueueOption
		want     error
		indexes  []int // the payloads named, if the error is an EnqueueManyError
	}{
		{"NotASlice", nil, resizeArgs{}, nil, kubequeue.ErrPayloadType, nil},
		{"SliceOfAnotherType", nil, []otherArgs{{ID: 1}}, nil, kubequeue.ErrPayloadType, nil},
		{"UntypedNil", nil, nil, nil, kubequeue.ErrPayloadType, nil},
		{"AnyOfAnotherType", nil, []any{resizeArgs{}, resizeArgs{}, otherArgs{}, resizeArgs{}, "x"}, nil, kubequeue.ErrPayloadType, []int{2, 4}},
		{"TooLarge", nil, []resizeArgs{{}, tooLarge}, nil, kubequeue.ErrPayloadTooLarge, []int{1}},
		{"InvalidWorker", kubequeue.NewWorker("Bad_Name", performResize, kubequeue.WithImage(testImage)), []resizeArgs{{}}, nil, kubequeue.ErrInvalidWorker, nil},
		{"NilWorker", (*kubequeue.Worker[resizeArgs])(nil), []resizeArgs{{}}, nil, kubequeue.ErrInvalidWorker, nil},
		{"JobName", nil, []resizeArgs{{}}, []kubequeue.EnqueueOption{kubequeue.WithJobName("one")}, kubequeue.ErrInvalidOption, nil},
		{"UniqueKey", nil, []resizeArgs{{}}, []kubequeue.EnqueueOption{kubequeue.WithUniqueKey("k")}, kubequeue.ErrInvalidOption, nil},
		{"ConcurrencyZero", nil, []resizeArgs{{}}, []kubequeue.EnqueueOption{kubequeue.WithEnqueueConcurrency(0)}, kubequeue.ErrInvalidOption, nil},
		{"ConcurrencyTooHigh", nil, []resizeArgs{{}}, []kubequeue.EnqueueOption{kubequeue.WithEnqueueConcurrency(kubequeue.MaxEnqueueConcurrency + 1)}, kubequeue.ErrInvalidOption, nil},
		{"InvalidOption", nil, []resizeArgs{{}}, []kubequeue.EnqueueOption{kubequeue.WithLabels(map[string]string{"bad key": "v"})}, kubequeue.ErrInvalidOption, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			client, queue := setup(t)
			worker := tt.worker
			if worker == nil {
				worker = resizeWorker(t)
			}
			handles, err := queue.EnqueueMany(t.Context(), worker, tt.payloads, tt.opts...)
			require.ErrorIs(t, err, tt.want)
			require.Nil(t, handles)
			requireNoAPICall(t, client)
			var many *kubequeue.EnqueueManyError
			if tt.indexes == nil {
				require.False(t, errors.As(err, &many), "not about one payload: %v", err)
				return
			}
			require.ErrorAs(t, err, &many)
			var indexes []int
			for _, f := range many.Failures {
				indexes = append(indexes, f.Index)
				require.ErrorIs(t, f.Err, tt.want)
			}
			require.Equal(t, tt.indexes, indexes)
			require.Contains(t, err.Error(), "none was enqueued")
		})
	}

	t.Run("ContextEnded", func(t *testing.T) {
		t.Parallel()
		client, queue := setup(t)
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		handles, err := queue.EnqueueMany(ctx, resizeWorker(t), resizePayloads(3))
		require.ErrorIs(t, err, context.Canceled)
		require.Nil(t, handles)
		requireNoAPICall(t, client)
	})
}

// TestQueue_EnqueueConcurrency_OnlyEnqueueMany: Enqueue and Build, which
// make one Job, refuse the option.
func TestQueue_EnqueueConcurrency_OnlyEnqueueMany(t *testing.T) {
	t.Parallel()
	client, queue := setup(t)
	_, err := queue.Enqueue(t.Context(), resizeWorker(t), resizeArgs{}, kubequeue.WithEnqueueConcurrency(4))
	require.ErrorIs(t, err, kubequeue.ErrInvalidOption)
	require.ErrorContains(t, err, "EnqueueMany only")
	_, err = queue.Build(resizeWorker(t), resizeArgs{}, kubequeue.WithEnqueueConcurrency(4))
	require.ErrorIs(t, err, kubequeue.ErrInvalidOption)
	requireNoAPICall(t, client)
}

// TestQueue_EnqueueMany_Concurrency: at most the given number of creates
// are in flight at once, and that many are reached.
func TestQueue_EnqueueMany_Concurrency(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		opts     []kubequeue.EnqueueOption
		payloads int
		want     int
	}{
		{"Default", nil, 2 * kubequeue.DefaultEnqueueConcurrency, kubequeue.DefaultEnqueueConcurrency},
		{"Three", []kubequeue.EnqueueOption{kubequeue.WithEnqueueConcurrency(3)}, 12, 3},
		{"MoreThanPayloads", []kubequeue.EnqueueOption{kubequeue.WithEnqueueConcurrency(50)}, 5, 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			client := newHookedClient()
			var mu sync.Mutex
			inFlight, most, started := 0, 0, 0
			client.create = func(_ context.Context, _ *batchv1.Job, create func() (*batchv1.Job, error)) (*batchv1.Job, error) {
				mu.Lock()
				inFlight++
				started++
				most = max(most, inFlight)
				mu.Unlock()
				// Hold each create until as many as allowed are in
				// flight, or none is left to start.
				deadline := time.Now().Add(10 * time.Second)
				for {
					mu.Lock()
					full := inFlight >= tt.want || started == tt.payloads
					mu.Unlock()
					if full || time.Now().After(deadline) {
						break
					}
					time.Sleep(time.Millisecond)
				}
				defer func() {
					mu.Lock()
					inFlight--
					mu.Unlock()
				}()
				return create()
			}
			queue := newQueue(t, client)
			payloads := resizePayloads(tt.payloads)
			handles, err := queue.EnqueueMany(t.Context(), resizeWorker(t), payloads, tt.opts...)
			require.NoError(t, err)
			requireEnqueuedInOrder(t, client, handles, payloads)
			mu.Lock()
			defer mu.Unlock()
			require.Equal(t, tt.want, most, "creates in flight at once")
		})
	}
}

// TestQueue_EnqueueMany_SharedBackoff: when the API server answers one
// create with 429 and Retry-After, the other creates of the call wait as
// long, rather than each finding out with a request of its own.
func TestQueue_EnqueueMany_SharedBackoff(t *testing.T) {
	t.Parallel()
	client := newHookedClient()
	paused := make(chan struct{}) // closed when the refused create's wait starts
	var pauseOnce sync.Once
	sleep := func(ctx context.Context, d time.Duration) error {
		if d >= 500*time.Millisecond {
			pauseOnce.Do(func() { close(paused) })
		}
		timer := time.NewTimer(d)
		defer timer.Stop()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-timer.C:
			return nil
		}
	}
	var mu sync.Mutex
	var refusedAt time.Time
	starts := map[int][]time.Time{} // by payload ID
	client.create = func(_ context.Context, job *batchv1.Job, create func() (*batchv1.Job, error)) (*batchv1.Job, error) {
		id := payloadID(t, job)
		mu.Lock()
		starts[id] = append(starts[id], time.Now())
		first := len(starts[id]) == 1
		mu.Unlock()
		switch {
		case id == 0 && first:
			mu.Lock()
			refusedAt = time.Now()
			mu.Unlock()
			return nil, apierrors.NewTooManyRequests("the API server is busy", 1)
		case id == 1:
			// Answered once the refused create's wait has begun, so that
			// this worker's next create comes after it.
			select {
			case <-paused:
			case <-time.After(10 * time.Second):
			}
		}
		return create()
	}
	queue := newQueue(t, client, kubequeue.WithSleep(sleep))
	payloads := resizePayloads(6)
	handles, err := queue.EnqueueMany(t.Context(), resizeWorker(t), payloads, kubequeue.WithEnqueueConcurrency(2))
	require.NoError(t, err)
	requireEnqueuedInOrder(t, client, handles, payloads)

	mu.Lock()
	defer mu.Unlock()
	require.Len(t, starts[0], 2, "the refused create is tried again")
	for id := 2; id < len(payloads); id++ {
		require.Len(t, starts[id], 1)
		waited := starts[id][0].Sub(refusedAt)
		require.GreaterOrEqual(t, waited, 900*time.Millisecond, "payload %d's create waited for the Retry-After of another", id)
	}
}

// TestQueue_EnqueueMany_TooManyRequests: a storm of 429 answers, every
// create refused many times over, neither loses nor doubles a Job.
func TestQueue_EnqueueMany_TooManyRequests(t *testing.T) {
	t.Parallel()
	client := newHookedClient()
	var refused atomic.Int64
	client.create = func(_ context.Context, _ *batchv1.Job, create func() (*batchv1.Job, error)) (*batchv1.Job, error) {
		if refused.Add(1) <= 90 { // fewer than one payload's tries
			return nil, apierrors.NewTooManyRequests("the API server is busy", 0)
		}
		return create()
	}
	queue := newQueue(t, client, kubequeue.WithSleep(noSleep), kubequeue.WithRetries(100))
	payloads := resizePayloads(40)
	handles, err := queue.EnqueueMany(t.Context(), resizeWorker(t), payloads, kubequeue.WithEnqueueConcurrency(8))
	require.NoError(t, err)
	requireEnqueuedInOrder(t, client, handles, payloads)
}

// TestQueue_EnqueueMany_LostAnswers: creates whose answers are lost after
// the API server stored the Job are recognized, as by Enqueue: one Job per
// payload, each handle with the stored Job's UID.
func TestQueue_EnqueueMany_LostAnswers(t *testing.T) {
	t.Parallel()
	client := newHookedClient()
	var mu sync.Mutex
	lost := map[string]bool{}
	client.create = func(_ context.Context, job *batchv1.Job, create func() (*batchv1.Job, error)) (*batchv1.Job, error) {
		created, err := create()
		mu.Lock()
		defer mu.Unlock()
		if err == nil && !lost[job.Name] {
			lost[job.Name] = true
			return nil, errAnswerLost
		}
		return created, err
	}
	queue := newQueue(t, client, kubequeue.WithSleep(noSleep))
	payloads := resizePayloads(30)
	handles, err := queue.EnqueueMany(t.Context(), resizeWorker(t), payloads, kubequeue.WithEnqueueConcurrency(4))
	require.NoError(t, err)
	requireEnqueuedInOrder(t, client, handles, payloads)
	require.Len(t, lost, len(payloads), "every first answer was lost")
}

// TestQueue_EnqueueMany_PartialFailure: payloads that fail are named with
// their errors, the others enqueued; a payload whose Job may exist keeps
// its handle.
func TestQueue_EnqueueMany_PartialFailure(t *testing.T) {
	t.Parallel()
	client := newHookedClient()
	forbidden := apierrors.NewForbidden(schema.GroupResource{Group: "batch", Resource: "jobs"}, "", errors.New("quota says no"))
	var mu sync.Mutex
	maybe := map[string]bool{} // names whose answers are lost and cannot be looked up
	client.create = func(_ context.Context, job *batchv1.Job, create func() (*batchv1.Job, error)) (*batchv1.Job, error) {
		switch id := payloadID(t, job); {
		case id%5 == 0:
			return nil, forbidden
		case id == 7:
			mu.Lock()
			maybe[job.Name] = true
			mu.Unlock()
			if _, err := create(); err != nil && !apierrors.IsAlreadyExists(err) {
				return nil, err
			}
			return nil, errAnswerLost
		}
		return create()
	}
	client.get = func(name string) error {
		mu.Lock()
		defer mu.Unlock()
		if maybe[name] {
			return errDown
		}
		return nil
	}
	queue := newQueue(t, client, kubequeue.WithSleep(noSleep), kubequeue.WithRetries(2))
	payloads := resizePayloads(20)
	handles, err := queue.EnqueueMany(t.Context(), resizeWorker(t), payloads)
	require.Error(t, err)
	require.Len(t, handles, len(payloads))

	var many *kubequeue.EnqueueManyError
	require.ErrorAs(t, err, &many)
	require.Equal(t, len(payloads), many.Total)
	var indexes []int
	for _, f := range many.Failures {
		indexes = append(indexes, f.Index)
		if f.Index == 7 {
			require.ErrorIs(t, f.Err, kubequeue.ErrMaybeEnqueued)
		} else {
			require.True(t, apierrors.IsForbidden(f.Err), "payload %d: %v", f.Index, f.Err)
		}
	}
	require.Equal(t, []int{0, 5, 7, 10, 15}, indexes)
	require.ErrorIs(t, err, kubequeue.ErrMaybeEnqueued, "the error matches what its failures match")
	require.Contains(t, err.Error(), "5 of 20 payloads failed: payload 0: ")
	require.Contains(t, err.Error(), "; and 2 more")

	for i, h := range handles {
		switch {
		case i%5 == 0:
			require.Zero(t, h, "payload %d made no Job", i)
		case i == 7:
			require.True(t, maybe[h.Name], "the handle names the Job that may exist")
			_, err := client.Clientset.BatchV1().Jobs(h.Namespace).Get(t.Context(), h.Name, metav1.GetOptions{})
			require.NoError(t, err)
		default:
			job, err := client.Clientset.BatchV1().Jobs(h.Namespace).Get(t.Context(), h.Name, metav1.GetOptions{})
			require.NoError(t, err)
			require.Equal(t, i, payloadID(t, job))
		}
	}
}

// TestQueue_EnqueueMany_ContextEnds: once ctx ends, the payloads not yet
// enqueued fail with its error and make no Job; those enqueued keep their
// handles.
func TestQueue_EnqueueMany_ContextEnds(t *testing.T) {
	t.Parallel()
	client := newHookedClient()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var calls atomic.Int64
	client.create = func(_ context.Context, _ *batchv1.Job, create func() (*batchv1.Job, error)) (*batchv1.Job, error) {
		if calls.Add(1) == 5 {
			cancel()
		}
		return create()
	}
	queue := newQueue(t, client)
	handles, err := queue.EnqueueMany(ctx, resizeWorker(t), resizePayloads(20), kubequeue.WithEnqueueConcurrency(1))
	require.ErrorIs(t, err, context.Canceled)
	var many *kubequeue.EnqueueManyError
	require.ErrorAs(t, err, &many)
	var indexes []int
	for _, f := range many.Failures {
		indexes = append(indexes, f.Index)
		require.Zero(t, handles[f.Index])
	}
	require.Equal(t, []int{5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19}, indexes)
	require.Equal(t, int64(5), calls.Load(), "no create once ctx ended")
	jobs, err := kubequeuetest.Jobs(t.Context(), client, resizeWorker(t))
	require.NoError(t, err)
	require.Len(t, jobs, 5)
	for i := range 5 {
		require.Equal(t, jobs[i].Name, handles[i].Name)
	}
}
