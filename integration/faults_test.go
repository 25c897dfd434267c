package integration

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/kubequeue/kubequeue"
)

// annotationResume marks a Job that waits for its payload Secret: Enqueue
// removes it once the Secret exists and the Job may start.
const annotationResume = "kubequeue.io/resume"

// loseResponses is a round tripper that sends every create of a Job to the
// API server but, for one in every, drops the answer after the server
// handled it, as a connection that breaks at that moment would.
type loseResponses struct {
	next          http.RoundTripper
	every         int64
	creates, lost atomic.Int64
}

func (l *loseResponses) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method != http.MethodPost || !strings.HasSuffix(req.URL.Path, "/jobs") {
		return l.next.RoundTrip(req)
	}
	resp, err := l.next.RoundTrip(req)
	if err != nil || l.creates.Add(1)%l.every != 0 {
		return resp, err
	}
	// The server created the Job; the client never learns it.
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	l.lost.Add(1)
	return nil, io.ErrUnexpectedEOF
}

// TestQueue_Enqueue_LostResponses (R1) enqueues 1,000 Jobs through a
// connection that loses the answer to one create in ten after the API
// server stored the Job: every Enqueue returns the Job that exists, and no
// Job is created twice.
func TestQueue_Enqueue_LostResponses(t *testing.T) {
	t.Parallel()
	const enqueues, every = 1000, 10
	e := setup(t)
	cfg := cluster.Config()
	lose := &loseResponses{every: every}
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper { lose.next = rt; return lose })
	c, err := kubernetes.NewForConfig(cfg)
	require.NoError(t, err)
	queue := newQueue(t, c, kubequeue.WithDefaultNamespace(e.ns))
	// Suspended: the Jobs are what counts, not their pods.

	handles := make([]kubequeue.Handle, enqueues)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	next := atomic.Int64{}
	for range 10 {
		wg.Go(func() {
			for i := next.Add(1) - 1; i < enqueues; i = next.Add(1) - 1 {
				h, err := queue.Enqueue(e.ctx, greetWorker, greeting{Name: "x"}, suspended)
				if err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
				handles[i] = h
			}
		})
	}
	wg.Wait()
	require.Empty(t, errs)
	// Each lost answer costs one more create, which finds the Job.
	require.GreaterOrEqual(t, lose.lost.Load(), int64(enqueues/every), "answers lost")
	require.Equal(t, int64(enqueues)+lose.lost.Load(), lose.creates.Load(), "creates sent")

	list, err := client.BatchV1().Jobs(e.ns).List(e.ctx, metav1.ListOptions{})
	require.NoError(t, err)
	require.Len(t, list.Items, enqueues, "one Job per Enqueue: no duplicates")
	byName := make(map[string]batchv1.Job, len(list.Items))
	ids := map[string]bool{}
	for _, j := range list.Items {
		byName[j.Name] = j
		ids[j.Annotations[kubequeue.AnnotationEnqueueID]] = true
	}
	require.Len(t, ids, enqueues, "each Job from another Enqueue")
	for _, h := range handles {
		j, ok := byName[h.Name]
		require.True(t, ok, "the handle %s names a Job that exists", h)
		require.Equal(t, j.UID, h.UID)
	}
	t.Logf("%d enqueues, %d creates sent, %d answers lost, %d Jobs, 0 duplicates, 0 errors",
		enqueues, lose.creates.Load(), lose.lost.Load(), len(list.Items))
}

// failSecrets is a round tripper that refuses every create of a Secret
// with 403 Forbidden, as an API server would for a client whose Role lacks
// the verb.
type failSecrets struct{ next http.RoundTripper }

func (f failSecrets) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method != http.MethodPost || !strings.HasSuffix(req.URL.Path, "/secrets") {
		return f.next.RoundTrip(req)
	}
	body := `{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"secrets is forbidden: User \"test\" cannot create resource \"secrets\"","reason":"Forbidden","details":{"kind":"secrets"},"code":403}`
	return &http.Response{
		StatusCode: http.StatusForbidden,
		Header:     http.Header{"Content-Type": []string{"application/json"}},
		Body:       io.NopCloser(strings.NewReader(body)),
		Request:    req,
	}, nil
}

// TestQueue_Enqueue_SecretPayload (R4): a sensitive or large payload
// travels in a Secret owned by its Job: it is in no Job object, the worker
// reads it, and the garbage collector deletes it with the Job, after a
// Cancel as after the TTL; a failed Enqueue leaves neither Job nor Secret.
func TestQueue_Enqueue_SecretPayload(t *testing.T) {
	t.Parallel()
	const secret = "p4ssw0rd-never-in-a-job"
	// secretOf returns the name of the payload Secret of the handle's Job.
	secretOf := func(t *testing.T, e *env, h kubequeue.Handle) string {
		t.Helper()
		job, err := client.BatchV1().Jobs(e.ns).Get(e.ctx, h.Name, metav1.GetOptions{})
		require.NoError(t, err)
		for _, v := range job.Spec.Template.Spec.Volumes {
			if v.Secret != nil && strings.HasPrefix(v.Secret.SecretName, h.Name+"-") {
				_, err := client.CoreV1().Secrets(e.ns).Get(e.ctx, v.Secret.SecretName, metav1.GetOptions{})
				require.NoError(t, err, "the payload secret exists")
				return v.Secret.SecretName
			}
		}
		t.Fatalf("job %s mounts no payload secret", h)
		return ""
	}
	secretGone := func(t *testing.T, e *env, name string) {
		t.Helper()
		require.Eventually(t, func() bool {
			_, err := client.CoreV1().Secrets(e.ns).Get(e.ctx, name, metav1.GetOptions{})
			return apierrors.IsNotFound(err)
		}, time.Minute, 50*time.Millisecond, "the garbage collector never deleted secret %s", name)
	}

	t.Run("SensitiveRunsAndIsInNoJob", func(t *testing.T) {
		t.Parallel()
		e := setup(t)
		h, err := e.queue.Enqueue(e.ctx, greetWorker, greeting{Name: secret}, kubequeue.WithSensitivePayload())
		require.NoError(t, err)
		secretName := secretOf(t, e, h)
		job, err := client.BatchV1().Jobs(e.ns).Get(e.ctx, h.Name, metav1.GetOptions{})
		require.NoError(t, err)
		data, err := json.Marshal(job)
		require.NoError(t, err)
		require.NotContains(t, string(data), secret)
		st, err := e.queue.Wait(e.ctx, h)
		require.NoError(t, err)
		require.Equal(t, kubequeue.StateSucceeded, st.State)
		require.Contains(t, logTexts(t, e, h, kubequeue.LogOptions{Attempt: 1}), "hello, "+secret, "the worker read the payload from the Secret")
		pods := jobPods(t, e, h.Name)
		require.Len(t, pods, 1)
		data, err = json.Marshal(pods[0])
		require.NoError(t, err)
		require.NotContains(t, string(data), secret, "nor in its pod")

		// Cancelled, the Job takes its Secret with it.
		require.NoError(t, e.queue.Cancel(e.ctx, h))
		secretGone(t, e, secretName)
	})

	t.Run("LargeAndTTL", func(t *testing.T) {
		t.Parallel()
		e := setup(t)
		large := strings.Repeat("x", kubequeue.MaxEnvPayloadSize)
		h, err := e.queue.Enqueue(e.ctx, greetWorker, greeting{Name: large}, kubequeue.WithTTLAfterFinished(time.Second))
		require.NoError(t, err)
		secretName := secretOf(t, e, h) // a payload above MaxEnvPayloadSize travels in a Secret
		st, err := e.queue.Wait(e.ctx, h)
		require.NoError(t, err)
		require.Equal(t, kubequeue.StateSucceeded, st.State)
		// The TTL controller deletes the Job, the garbage collector its
		// Secret.
		secretGone(t, e, secretName)
	})

	t.Run("FailedEnqueueLeavesNothing", func(t *testing.T) {
		t.Parallel()
		e := setup(t)
		cfg := cluster.Config()
		cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper { return failSecrets{rt} })
		c, err := kubernetes.NewForConfig(cfg)
		require.NoError(t, err)
		queue := newQueue(t, c, kubequeue.WithDefaultNamespace(e.ns))
		_, err = queue.Enqueue(e.ctx, greetWorker, greeting{Name: secret}, kubequeue.WithSensitivePayload())
		require.True(t, apierrors.IsForbidden(err), "%v", err)
		require.Eventually(t, func() bool {
			jobs, err := client.BatchV1().Jobs(e.ns).List(e.ctx, metav1.ListOptions{})
			return err == nil && len(jobs.Items) == 0
		}, time.Minute, 50*time.Millisecond, "the suspended Job was not deleted")
		secrets, err := client.CoreV1().Secrets(e.ns).List(e.ctx, metav1.ListOptions{LabelSelector: kubequeue.LabelManagedBy + "=kubequeue"})
		require.NoError(t, err)
		require.Empty(t, secrets.Items)
		require.Empty(t, jobPods(t, e, ""), "no pod ever ran")
	})
}

// TestQueue_Enqueue_APIServerRestart (R2) kills kube-apiserver during a
// burst of 1,000 enqueues and starts it again: every Enqueue that returned
// nil has exactly one Job, and every one that failed succeeds when tried
// again with the same unique key, without a duplicate. It is not parallel:
// the restart would disturb other tests.
func TestQueue_Enqueue_APIServerRestart(t *testing.T) {
	const enqueues = 1000
	e := setup(t)
	// Two tries only, so that some Enqueues fail while the API server is
	// down and are tried again below; requests that fail are counted.
	cfg := cluster.Config()
	refused := &countErrors{}
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper { refused.next = rt; return refused })
	c, err := kubernetes.NewForConfig(cfg)
	require.NoError(t, err)
	queue := newQueue(t, c, kubequeue.WithDefaultNamespace(e.ns), kubequeue.WithRetries(2))
	key := func(i int) string { return fmt.Sprintf("order-%d", i) }
	type result struct {
		h   kubequeue.Handle
		err error
	}
	results := make([]result, enqueues)
	var wg sync.WaitGroup
	next := atomic.Int64{}
	started := make(chan struct{})
	var once sync.Once
	for range 10 {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < enqueues; i = int(next.Add(1) - 1) {
				if i == enqueues/5 {
					once.Do(func() { close(started) })
				}
				h, err := queue.Enqueue(e.ctx, greetWorker, greeting{Name: "x"}, suspended, kubequeue.WithUniqueKey(key(i)))
				results[i] = result{h, err}
			}
		})
	}
	<-started
	restartStart := time.Now()
	err = cluster.RestartAPIServer(e.ctx, time.Second)
	require.NoError(t, err)
	restartTook := time.Since(restartStart)
	wg.Wait()

	failed := 0
	for i, r := range results {
		if r.err == nil {
			continue
		}
		failed++
		h, err := queue.Enqueue(e.ctx, greetWorker, greeting{Name: "x"}, suspended, kubequeue.WithUniqueKey(key(i)))
		require.NoError(t, err, "retried with its unique key")
		results[i] = result{h, nil}
	}

	list, err := client.BatchV1().Jobs(e.ns).List(e.ctx, metav1.ListOptions{})
	require.NoError(t, err)
	require.Len(t, list.Items, enqueues, "one Job per key: no duplicates, none missing")
	byName := make(map[string]batchv1.Job, len(list.Items))
	for _, j := range list.Items {
		byName[j.Name] = j
	}
	for i, r := range results {
		j, ok := byName[r.h.Name]
		require.True(t, ok, "enqueue %d: its handle names a Job that exists", i)
		require.Equal(t, j.UID, r.h.UID, "enqueue %d", i)
	}
	require.Positive(t, refused.n.Load(), "the restart fell within the burst")
	t.Logf("%d enqueues across a kube-apiserver kill and restart (down %v in all; %d requests failed): %d returned nil, %d failed and succeeded when retried with their unique key; %d Jobs, 0 duplicates",
		enqueues, restartTook.Round(time.Millisecond), refused.n.Load(), enqueues-failed, failed, len(list.Items))
}

// countErrors is a round tripper that counts the requests that got no
// answer.
type countErrors struct {
	next http.RoundTripper
	n    atomic.Int64
}

func (c *countErrors) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := c.next.RoundTrip(req)
	if err != nil {
		c.n.Add(1)
	}
	return resp, err
}

// faults is a round tripper through which a test acts on requests: refuse
// answers a request itself, sending nothing, when it returns a response;
// lose sends the request and drops the answer, as a connection that
// breaks at that moment would, when it returns true.
type faults struct {
	next   http.RoundTripper
	refuse func(req *http.Request) *http.Response
	lose   func(req *http.Request) bool
}

func (f *faults) RoundTrip(req *http.Request) (*http.Response, error) {
	if f.refuse != nil {
		if resp := f.refuse(req); resp != nil {
			return resp, nil
		}
	}
	resp, err := f.next.RoundTrip(req)
	if err != nil || f.lose == nil || !f.lose(req) {
		return resp, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return nil, errors.New("http2: client connection lost")
}

// queueThrough returns a queue in e's namespace whose requests go through f.
func queueThrough(t *testing.T, e *env, f *faults, opts ...kubequeue.QueueOption) *kubequeue.Queue {
	t.Helper()
	cfg := cluster.Config()
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper { f.next = rt; return f })
	c, err := kubernetes.NewForConfig(cfg)
	require.NoError(t, err)
	return newQueue(t, c, append([]kubequeue.QueueOption{kubequeue.WithDefaultNamespace(e.ns)}, opts...)...)
}

// is reports whether req is a method request on resource (such as "jobs"
// or "secrets") or one of its objects.
func is(req *http.Request, method, resource string) bool {
	p := req.URL.Path
	return req.Method == method && (strings.HasSuffix(p, "/"+resource) || strings.Contains(p, "/"+resource+"/"))
}

// statusAnswer is the API server's answer with code and reason to req.
func statusAnswer(req *http.Request, code int, reason metav1.StatusReason) *http.Response {
	body := fmt.Sprintf(`{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"refused by the test","reason":%q,"code":%d}`, reason, code)
	return &http.Response{
		StatusCode: code,
		Header:     http.Header{"Content-Type": []string{"application/json"}},
		Body:       io.NopCloser(strings.NewReader(body)),
		Request:    req,
	}
}

// TestQueue_Enqueue_ResumeAnswerLost: the resume of a Job whose payload is
// in a Secret takes effect, and its answer is lost on every try. The real
// API server refuses Enqueue's delete, which is conditional on the Job as
// Enqueue last read it: the Job runs, and is returned, or, when it cannot
// be read either, reported as possibly enqueued; it is never deleted.
func TestQueue_Enqueue_ResumeAnswerLost(t *testing.T) {
	t.Parallel()
	for _, readable := range []bool{true, false} {
		t.Run(map[bool]string{true: "JobReadable", false: "JobUnreadable"}[readable], func(t *testing.T) {
			t.Parallel()
			e := setup(t)
			f := &faults{lose: func(req *http.Request) bool { return is(req, http.MethodPatch, "jobs") }}
			if !readable {
				f.refuse = func(req *http.Request) *http.Response {
					if is(req, http.MethodGet, "jobs") {
						return statusAnswer(req, http.StatusServiceUnavailable, metav1.StatusReasonServiceUnavailable)
					}
					return nil
				}
			}
			queue := queueThrough(t, e, f, kubequeue.WithRetries(3))
			h, err := queue.Enqueue(e.ctx, greetWorker, greeting{Name: "resumed"}, kubequeue.WithSensitivePayload())
			if readable {
				require.NoError(t, err)
			} else {
				require.ErrorIs(t, err, kubequeue.ErrMaybeEnqueued)
				require.Equal(t, greetWorker.Name(), h.Worker)
			}
			st, err := e.queue.Wait(e.ctx, h)
			require.NoError(t, err, "the Job was not deleted: it ran")
			require.Equal(t, kubequeue.StateSucceeded, st.State)
			require.Contains(t, logTexts(t, e, h, kubequeue.LogOptions{Attempt: 1}), "hello, resumed")
		})
	}
}

// TestQueue_Enqueue_PendingJobFinished: an Enqueue of a unique key whose
// Secret is refused and whose clean-up fails leaves a suspended Job that
// waits for its payload, and says so; the next Enqueue of the key, here
// with its payload in the environment, stores its payload in the Secret
// the Job mounts and starts it, and the Job runs with that payload.
func TestQueue_Enqueue_PendingJobFinished(t *testing.T) {
	t.Parallel()
	e := setup(t)
	f := &faults{refuse: func(req *http.Request) *http.Response {
		switch {
		case is(req, http.MethodPost, "secrets"):
			return statusAnswer(req, http.StatusForbidden, metav1.StatusReasonForbidden)
		case is(req, http.MethodDelete, "jobs"):
			return statusAnswer(req, http.StatusTooManyRequests, metav1.StatusReasonTooManyRequests)
		}
		return nil
	}}
	key := kubequeue.WithUniqueKey("order-42")
	left, err := queueThrough(t, e, f, kubequeue.WithRetries(2)).Enqueue(e.ctx, greetWorker, greeting{Name: "first"}, kubequeue.WithSensitivePayload(), key)
	require.ErrorIs(t, err, kubequeue.ErrMaybeEnqueued)
	require.True(t, apierrors.IsForbidden(err), "%v", err)
	job, err := client.BatchV1().Jobs(e.ns).Get(e.ctx, left.Name, metav1.GetOptions{})
	require.NoError(t, err)
	require.Equal(t, job.UID, left.UID)
	require.True(t, *job.Spec.Suspend)
	require.Contains(t, job.Annotations, annotationResume, "it waits for its payload")

	h, err := e.queue.Enqueue(e.ctx, greetWorker, greeting{Name: "second"}, key)
	require.NoError(t, err)
	require.Equal(t, left, h)
	st, err := e.queue.Wait(e.ctx, h)
	require.NoError(t, err)
	require.Equal(t, kubequeue.StateSucceeded, st.State)
	require.Contains(t, logTexts(t, e, h, kubequeue.LogOptions{Attempt: 1}), "hello, second")
	job, err = client.BatchV1().Jobs(e.ns).Get(e.ctx, h.Name, metav1.GetOptions{})
	require.NoError(t, err)
	require.NotContains(t, job.Annotations, annotationResume)
}

// TestQueue_Enqueue_UniqueKeyUserSuspended: a Job of a unique key with its
// payload in a Secret, started by Enqueue and then suspended by its user,
// is returned by the next Enqueue of the key, and stays suspended.
func TestQueue_Enqueue_UniqueKeyUserSuspended(t *testing.T) {
	t.Parallel()
	e := setup(t)
	m := marker{File: filepath.Join(t.TempDir(), "marker")}
	key := kubequeue.WithUniqueKey("order-42")
	first, err := e.queue.Enqueue(e.ctx, sleepWorker, m, kubequeue.WithSensitivePayload(), key)
	require.NoError(t, err)
	require.NoError(t, e.queue.Suspend(e.ctx, first))
	again, err := e.queue.Enqueue(e.ctx, sleepWorker, m, kubequeue.WithSensitivePayload(), key)
	require.NoError(t, err)
	require.Equal(t, first, again)
	job, err := client.BatchV1().Jobs(e.ns).Get(e.ctx, first.Name, metav1.GetOptions{})
	require.NoError(t, err)
	require.True(t, *job.Spec.Suspend, "the user's suspension stands")
	require.NotContains(t, job.Annotations, annotationResume)
	require.NoError(t, e.queue.Cancel(e.ctx, first))
}

// TestQueue_Enqueue_APIServerRestartPlain kills kube-apiserver during a
// burst of plain enqueues, without unique keys, half of them with their
// payload in a Secret, and starts it again. What the docs promise holds:
// every Enqueue that returned nil has its Job; every Job that exists
// belongs to an Enqueue that returned nil or an error matching
// ErrMaybeEnqueued, whose handle names it, so an Enqueue that returned any
// other error left no Job; and only those may have left a Job waiting for
// its payload. It is not parallel: the restart would disturb other tests.
func TestQueue_Enqueue_APIServerRestartPlain(t *testing.T) {
	const enqueues = 600
	e := setup(t)
	cfg := cluster.Config()
	refused := &countErrors{}
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper { refused.next = rt; return refused })
	c, err := kubernetes.NewForConfig(cfg)
	require.NoError(t, err)
	// Two tries only, so that Enqueues fail while the API server is down.
	queue := newQueue(t, c, kubequeue.WithDefaultNamespace(e.ns), kubequeue.WithRetries(2))
	type result struct {
		h   kubequeue.Handle
		err error
	}
	results := make([]result, enqueues)
	var wg sync.WaitGroup
	next := atomic.Int64{}
	started := make(chan struct{})
	var once sync.Once
	for range 10 {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < enqueues; i = int(next.Add(1) - 1) {
				if i == enqueues/5 {
					once.Do(func() { close(started) })
				}
				opts := []kubequeue.EnqueueOption{suspended}
				if i%2 == 1 {
					opts = append(opts, kubequeue.WithSensitivePayload())
				}
				h, err := queue.Enqueue(e.ctx, greetWorker, greeting{Name: "x"}, opts...)
				results[i] = result{h, err}
			}
		})
	}
	<-started
	require.NoError(t, cluster.RestartAPIServer(e.ctx, time.Second))
	wg.Wait()

	list, err := client.BatchV1().Jobs(e.ns).List(e.ctx, metav1.ListOptions{})
	require.NoError(t, err)
	byName := make(map[string]batchv1.Job, len(list.Items))
	for _, j := range list.Items {
		byName[j.Name] = j
	}
	ok, maybe, failed, maybeLeft := 0, map[string]bool{}, 0, 0
	for i, r := range results {
		switch {
		case r.err == nil:
			ok++
			j, exists := byName[r.h.Name]
			require.True(t, exists, "enqueue %d returned nil: its Job exists", i)
			require.Equal(t, j.UID, r.h.UID, "enqueue %d", i)
			require.NotContains(t, j.Annotations, annotationResume, "enqueue %d returned nil: its Job has its payload", i)
		case errors.Is(r.err, kubequeue.ErrMaybeEnqueued):
			require.NotEmpty(t, r.h.Name, "enqueue %d: the handle names the Job that may exist", i)
			maybe[r.h.Name] = true
			if _, exists := byName[r.h.Name]; exists {
				maybeLeft++
			}
		default:
			failed++
			require.Zero(t, r.h, "enqueue %d: %v", i, r.err)
		}
	}
	for name, j := range byName {
		if _, isOK := j.Annotations[annotationResume]; !isOK || maybe[name] {
			continue
		}
		t.Errorf("job %s waits for its payload, but no Enqueue said it may exist", name)
	}
	require.Len(t, byName, ok+maybeLeft, "every Job belongs to an Enqueue that returned nil or ErrMaybeEnqueued")
	require.Positive(t, refused.n.Load(), "the restart fell within the burst")
	t.Logf("%d plain enqueues across a kube-apiserver kill and restart (%d requests failed): %d returned nil, %d failed with no Job left, %d may have left a Job (%d did); %d Jobs",
		enqueues, refused.n.Load(), ok, failed, len(maybe), maybeLeft, len(byName))
}
