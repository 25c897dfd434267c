package integration

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"

	"github.com/kubequeue/kubequeue"
	"github.com/kubequeue/kubequeue/internal/leakcheck"
)

func TestQueue_Wait_Succeeded(t *testing.T) {
	t.Parallel()
	e := setup(t)
	h, err := e.queue.Enqueue(e.ctx, addWorker, sum{A: 2, B: 40})
	require.NoError(t, err)

	// The handle travels as JSON, to be checked by another request with
	// another queue.
	data, err := json.Marshal(h)
	require.NoError(t, err)
	var rebuilt kubequeue.Handle
	require.NoError(t, json.Unmarshal(data, &rebuilt))
	require.Equal(t, h, rebuilt)
	other := newQueue(t, client)

	st, err := other.Wait(e.ctx, rebuilt)
	require.NoError(t, err)
	require.Equal(t, kubequeue.StateSucceeded, st.State)
	require.Equal(t, h, st.Handle)
	var got total
	require.NoError(t, st.DecodeResult(&got))
	require.Equal(t, total{Sum: 42, Note: `it's "quoted" and costs $5`}, got)
	require.False(t, st.Started.IsZero())
	require.False(t, st.Finished.Before(st.Started), "finished %v before started %v", st.Finished, st.Started)
	require.Zero(t, st.Failures)

	again, err := other.Status(e.ctx, rebuilt)
	require.NoError(t, err)
	require.Equal(t, st, again)
	logConditions(t, e, h)
}

func TestQueue_Wait_Failed(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		job       kubequeue.AnyWorker
		opts      []kubequeue.EnqueueOption
		reason    string
		exitCode  int32
		message   string
		failures  int32
		permanent bool
	}{
		{
			name:     "BackoffLimitExceeded",
			job:      failingWorker,
			opts:     []kubequeue.EnqueueOption{kubequeue.WithBackoffLimit(1)},
			reason:   batchv1.JobReasonBackoffLimitExceeded,
			exitCode: kubequeue.ExitRetryable,
			message:  "the worker failed on purpose",
			failures: 2,
		},
		{
			// kubequeue's default pod failure policy: exit code 42 fails
			// the Job at once, however high the backoff limit.
			name:      "PodFailurePolicy",
			job:       permanentWorker,
			opts:      []kubequeue.EnqueueOption{kubequeue.WithBackoffLimit(5)},
			reason:    batchv1.JobReasonPodFailurePolicy,
			exitCode:  kubequeue.ExitPermanent,
			message:   "this payload can never succeed",
			failures:  1,
			permanent: true,
		},
		{
			name:   "DeadlineExceeded",
			job:    sleepWorker,
			opts:   []kubequeue.EnqueueOption{kubequeue.WithActiveDeadline(2 * time.Second)},
			reason: batchv1.JobReasonDeadlineExceeded,
			// The Job controller deletes the running pod, whose exit code
			// (1: perform returned its cancelled context's error) is read
			// only if Wait comes before the pod is gone, and which the Job
			// controller counts in status.failed only after the Failed
			// condition.
			exitCode: -1,
			failures: -1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := setup(t)
			var payload any = greeting{Name: "Ada"}
			if tt.job == sleepWorker {
				payload = marker{File: filepath.Join(t.TempDir(), "marker")}
			}
			h, err := e.queue.Enqueue(e.ctx, tt.job, payload, tt.opts...)
			require.NoError(t, err)

			st, err := e.queue.Wait(e.ctx, h)
			require.ErrorIs(t, err, kubequeue.ErrJobFailed)
			require.Equal(t, tt.permanent, errors.Is(err, kubequeue.ErrPermanent), "%v", err)
			var failed *kubequeue.JobFailedError
			require.ErrorAs(t, err, &failed)
			require.Equal(t, tt.reason, failed.Reason, "%v", err)
			if tt.exitCode >= 0 {
				require.Equal(t, tt.exitCode, failed.ExitCode, "%v", err)
				require.Contains(t, failed.TerminationMessage, tt.message)
			}
			require.Equal(t, kubequeue.StateFailed, st.State)
			require.Equal(t, tt.reason, st.Reason)
			if tt.failures >= 0 {
				require.Equal(t, tt.failures, st.Failures)
			}
			require.False(t, st.Finished.IsZero())
			require.ErrorIs(t, st.DecodeResult(new(total)), kubequeue.ErrNoResult)
			logConditions(t, e, h)
		})
	}
}

// logConditions logs the Job's conditions as the API server has them, the
// sets that status_test.go's table reproduces.
func logConditions(t *testing.T, e *env, h kubequeue.Handle) {
	t.Helper()
	job, err := e.queue.Get(e.ctx, h)
	require.NoError(t, err)
	var b strings.Builder
	for _, c := range job.Status.Conditions {
		b.WriteString("\n  " + string(c.Type) + "=" + string(c.Status) + " reason=" + c.Reason + " message=" + c.Message)
	}
	t.Logf("job %s: failed=%d succeeded=%d active=%d conditions:%s", h, job.Status.Failed, job.Status.Succeeded, job.Status.Active, b.String())
}

func TestQueue_Wait_NotFound(t *testing.T) {
	t.Parallel()
	e := setup(t)
	_, err := e.queue.Wait(e.ctx, kubequeue.Handle{Namespace: e.ns, Name: "no-such-job"})
	require.ErrorIs(t, err, kubequeue.ErrJobNotFound)

	// A handle whose Job was replaced by another of the same name.
	h, err := e.queue.Enqueue(e.ctx, greetWorker, greeting{Name: "Ada"})
	require.NoError(t, err)
	stale := h
	stale.UID = "00000000-0000-0000-0000-000000000000"
	_, err = e.queue.Wait(e.ctx, stale)
	require.ErrorIs(t, err, kubequeue.ErrJobNotFound)
	_, err = e.queue.Status(e.ctx, stale)
	require.ErrorIs(t, err, kubequeue.ErrJobNotFound)
	require.NoError(t, e.queue.Cancel(e.ctx, stale), "cancelling a handle whose job is gone is a no-op")
	st, err := e.queue.Wait(e.ctx, h)
	require.NoError(t, err, "the stale handle's cancel left the other job alone")
	require.Equal(t, kubequeue.StateSucceeded, st.State)
}

// jobsTripper counts the list and watch requests for Jobs a clientset
// sends, and its watch requests of any resource. Armed, it holds them until released and cuts the open watches;
// the next watch, which resumes from the last resource version seen, then
// gets what the API server answers once that version has left its watch
// cache: an ERROR event with status 410 Gone (reason Expired), and the end
// of the stream. (The embedded API server is too young for its watch cache
// to have dropped anything, so the answer is made here.)
type jobsTripper struct {
	next                    http.RoundTripper
	watches, lists, expired atomic.Int32 // of Jobs
	allWatches              atomic.Int32 // of any resource

	mu      sync.Mutex
	hold    chan struct{}
	tooOld  bool
	streams []*watchBody
}

func (t *jobsTripper) RoundTrip(req *http.Request) (*http.Response, error) {
	isWatch := req.URL.Query().Get("watch") == "true"
	if isWatch {
		t.allWatches.Add(1)
	}
	if !strings.HasSuffix(req.URL.Path, "/jobs") || req.Method != http.MethodGet {
		return t.next.RoundTrip(req)
	}
	if isWatch {
		t.watches.Add(1)
	} else {
		t.lists.Add(1)
	}
	t.mu.Lock()
	hold := t.hold
	t.mu.Unlock()
	if hold != nil {
		select {
		case <-hold:
		case <-req.Context().Done():
			return nil, req.Context().Err()
		}
	}
	t.mu.Lock()
	expire := isWatch && t.tooOld && req.URL.Query().Get("resourceVersion") != ""
	t.tooOld = t.tooOld && !expire
	t.mu.Unlock()
	if expire {
		t.expired.Add(1)
		rv := req.URL.Query().Get("resourceVersion")
		return &http.Response{
			StatusCode: http.StatusOK,
			Header:     http.Header{"Content-Type": []string{"application/json"}},
			Body: io.NopCloser(strings.NewReader(`{"type":"ERROR","object":{"kind":"Status","apiVersion":"v1","metadata":{},` +
				`"status":"Failure","message":"too old resource version: ` + rv + `","reason":"Expired","code":410}}` + "\n")),
			Request: req,
		}, nil
	}
	resp, err := t.next.RoundTrip(req)
	if err != nil || !isWatch {
		return resp, err
	}
	body := &watchBody{ReadCloser: resp.Body}
	resp.Body = body
	t.mu.Lock()
	t.streams = append(t.streams, body)
	t.mu.Unlock()
	return resp, nil
}

// arm holds new requests, cuts the open watches and makes the next watch
// too old.
func (t *jobsTripper) arm() {
	t.mu.Lock()
	t.hold = make(chan struct{})
	t.tooOld = true
	streams := t.streams
	t.streams = nil
	t.mu.Unlock()
	for _, s := range streams {
		s.cut.Store(true)
		s.Close()
	}
}

func (t *jobsTripper) release() {
	t.mu.Lock()
	close(t.hold)
	t.hold = nil
	t.mu.Unlock()
}

// watchBody is a watch response. Once cut, it ends as a watch the server
// closed.
type watchBody struct {
	io.ReadCloser
	cut atomic.Bool
}

func (b *watchBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil && b.cut.Load() {
		err = io.EOF
	}
	return n, err
}

// countingClient returns a clientset whose Job requests go through a new
// jobsTripper. It speaks JSON, the encoding of the tripper's own answers.
func countingClient(t testing.TB) (kubernetes.Interface, *jobsTripper) {
	t.Helper()
	cfg := cluster.Config()
	cfg.ContentType = "application/json"
	tripper := &jobsTripper{}
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper {
		tripper.next = rt
		return tripper
	})
	c, err := kubernetes.NewForConfig(cfg)
	require.NoError(t, err)
	return c, tripper
}

func TestQueue_Wait_SurvivesWatchExpiry(t *testing.T) {
	t.Parallel()
	e := setup(t)
	counted, tripper := countingClient(t)
	queue := newQueue(t, counted, kubequeue.WithDefaultNamespace(e.ns))
	m := marker{File: filepath.Join(t.TempDir(), "go")}
	h, err := queue.Enqueue(e.ctx, fileWorker, m)
	require.NoError(t, err)
	runningPod(t, e, h.Name)

	type outcome struct {
		st  kubequeue.Status
		err error
	}
	done := make(chan outcome, 1)
	go func() {
		st, err := queue.Wait(e.ctx, h)
		done <- outcome{st, err}
	}()
	require.Eventually(t, func() bool { return tripper.watches.Load() >= 1 }, 30*time.Second, 10*time.Millisecond, "Wait never watched")
	// A watch that ends within a second counts as broken, and the informer
	// would list again rather than resume it; let it last.
	time.Sleep(1500 * time.Millisecond)

	// Cut the watch and hold the reconnection while the Job finishes; the
	// reconnection then gets 410 Gone.
	tripper.arm()
	require.NoError(t, os.WriteFile(m.File, nil, 0o644))
	waitJob(t, e, h.Name, time.Minute, finished)
	select {
	case o := <-done:
		t.Fatalf("Wait returned while it could not watch: %+v, %v", o.st, o.err)
	case <-time.After(200 * time.Millisecond):
	}
	tripper.release()

	select {
	case o := <-done:
		require.NoError(t, o.err)
		require.Equal(t, kubequeue.StateSucceeded, o.st.State)
	case <-time.After(time.Minute):
		t.Fatalf("Wait did not return after the watch expired and the job finished (%d watches, %d lists, %d expired)",
			tripper.watches.Load(), tripper.lists.Load(), tripper.expired.Load())
	}
	require.Equal(t, int32(1), tripper.expired.Load(), "the reconnecting watch got 410 Gone")
	t.Logf("job requests: %d watches, %d lists", tripper.watches.Load(), tripper.lists.Load())
}

func TestQueue_Cancel_RunningJob(t *testing.T) {
	t.Parallel()
	e := setup(t)
	h, m, pid := startSleeper(t, e)
	require.Eventually(t, func() bool {
		st, err := e.queue.Status(e.ctx, h)
		return err == nil && st.State == kubequeue.StateRunning && st.Active == 1
	}, 30*time.Second, 20*time.Millisecond, "the job never showed as running")

	waited := make(chan error, 1)
	go func() {
		_, err := e.queue.Wait(e.ctx, h)
		waited <- err
	}()
	require.NoError(t, e.queue.Cancel(e.ctx, h))
	select {
	case err := <-waited:
		require.ErrorIs(t, err, kubequeue.ErrJobNotFound)
	case <-time.After(time.Minute):
		t.Fatal("Wait did not return when the job was cancelled")
	}
	_, err := e.queue.Get(e.ctx, h)
	require.ErrorIs(t, err, kubequeue.ErrJobNotFound)
	require.Empty(t, jobPods(t, e, h.Name), "foreground deletion removes the pods first")
	requireStopped(t, m, pid)
	require.NoError(t, e.queue.Cancel(e.ctx, h), "a second cancel is a no-op")
}

func TestQueue_SuspendResume(t *testing.T) {
	t.Parallel()
	e := setup(t)
	h, m, pid := startSleeper(t, e)

	require.NoError(t, e.queue.Suspend(e.ctx, h))
	requireStopped(t, m, pid)
	var st kubequeue.Status
	var err error
	require.Eventually(t, func() bool {
		st, err = e.queue.Status(e.ctx, h)
		return err == nil && st.State == kubequeue.StateSuspended && st.Active == 0 && len(jobPods(t, e, h.Name)) == 0
	}, 30*time.Second, 20*time.Millisecond, "the job never showed as suspended: %+v %v", st, err)
	require.Zero(t, st.Failures, "a suspended attempt is not a failure")
	logConditions(t, e, h)

	require.NoError(t, e.queue.Resume(e.ctx, h))
	content := waitFile(t, m.File, "stopped: context canceled\nstarted")
	require.Equal(t, 2, strings.Count(content, "started"), content)
	require.Eventually(t, func() bool {
		st, err = e.queue.Status(e.ctx, h)
		return err == nil && st.State == kubequeue.StateRunning
	}, 30*time.Second, 20*time.Millisecond, "the resumed job never showed as running: %+v %v", st, err)
	logConditions(t, e, h)
	require.NoError(t, e.queue.Cancel(e.ctx, h))

	stale := h
	stale.UID = "00000000-0000-0000-0000-000000000000"
	require.ErrorIs(t, e.queue.Suspend(e.ctx, stale), kubequeue.ErrJobNotFound)
}

func TestQueue_Logs_FollowRunningJob(t *testing.T) {
	t.Parallel()
	e := setup(t)
	m := marker{File: filepath.Join(t.TempDir(), "go")}
	h, err := e.queue.Enqueue(e.ctx, fileWorker, m)
	require.NoError(t, err)

	// Followed from before the pod runs, to the end of the Job. The worker
	// prints a line, then waits for the file before it prints the next
	// and ends: the second line comes only if the first arrived while the
	// container ran.
	ctx, cancel := context.WithTimeout(e.ctx, time.Minute)
	defer cancel()
	var lines []kubequeue.LogLine
	for line, err := range e.queue.Logs(ctx, h, kubequeue.LogOptions{Follow: true, Timestamps: true}) {
		require.NoError(t, err, "lines so far: %+v", lines)
		lines = append(lines, line)
		if strings.HasPrefix(line.Text, "waiting for ") {
			st, err := e.queue.Status(e.ctx, h)
			require.NoError(t, err)
			require.Equal(t, kubequeue.StateRunning, st.State)
			require.NoError(t, os.WriteFile(m.File, nil, 0o644))
		}
	}
	require.Len(t, lines, 3, "two lines and the runtime's own: %+v", lines)
	require.Equal(t, "waiting for "+m.File, lines[0].Text)
	// The kubelet reads stdout and stderr apart: lines written to both
	// within microseconds may come in either order.
	last := lines[1].Text + "\n" + lines[2].Text
	require.Contains(t, last, "found it")
	require.Contains(t, last, "kubequeue: job succeeded")
	for _, line := range lines {
		require.Equal(t, 1, line.Attempt)
		require.False(t, line.Time.IsZero())
		require.NotEmpty(t, line.Pod)
	}
	st, err := e.queue.Status(e.ctx, h)
	require.NoError(t, err)
	require.Equal(t, kubequeue.StateSucceeded, st.State, "following ends when the job finishes")

	var tail []string
	for line, err := range e.queue.Logs(e.ctx, h, kubequeue.LogOptions{TailLines: 2}) {
		require.NoError(t, err)
		tail = append(tail, line.Text)
	}
	require.Equal(t, []string{lines[1].Text, lines[2].Text}, tail)
}

func TestQueue_Logs_RetriedJob(t *testing.T) {
	t.Parallel()
	e := setup(t)
	m := marker{File: filepath.Join(t.TempDir(), "marker")}
	h, err := e.queue.Enqueue(e.ctx, flakyWorker, m, kubequeue.WithBackoffLimit(2))
	require.NoError(t, err)

	// Following yields both attempts, in order, across the retry.
	var attempts []int
	var texts []string
	for line, err := range e.queue.Logs(e.ctx, h, kubequeue.LogOptions{Follow: true}) {
		require.NoError(t, err)
		if strings.HasPrefix(line.Text, "attempt ") {
			attempts = append(attempts, line.Attempt)
			texts = append(texts, line.Text)
		}
	}
	require.Equal(t, []int{1, 2}, attempts)
	require.Equal(t, []string{"attempt 1", "attempt 2"}, texts)

	st, err := e.queue.Wait(e.ctx, h)
	require.NoError(t, err)
	require.Equal(t, int32(1), st.Failures)
	require.Equal(t, int32(kubequeue.ExitRetryable), st.ExitCode, "the failed attempt's exit code stays visible")
	require.Contains(t, st.TerminationMessage, "the first attempt fails on purpose")

	second := logTexts(t, e, h, kubequeue.LogOptions{Attempt: 2})
	require.Contains(t, second, "attempt 2")
	require.NotContains(t, second, "attempt 1")
	first := logTexts(t, e, h, kubequeue.LogOptions{Attempt: 1})
	require.Contains(t, first, "attempt 1")
	require.NotContains(t, first, "attempt 2")
	require.Empty(t, logTexts(t, e, h, kubequeue.LogOptions{Attempt: 3}))
	logConditions(t, e, h)
}

func logTexts(t *testing.T, e *env, h kubequeue.Handle, opts kubequeue.LogOptions) []string {
	t.Helper()
	var texts []string
	for line, err := range e.queue.Logs(e.ctx, h, opts) {
		require.NoError(t, err)
		require.Equal(t, opts.Attempt, line.Attempt)
		texts = append(texts, line.Text)
	}
	return texts
}

// TestQueue_WaitAll_FiftyJobs waits for 50 Jobs with two watches, and
// reports how long Wait takes to return once a Job has its final
// condition. It is not parallel, so that no other test's goroutines count
// as its leaks.
func TestQueue_WaitAll_FiftyJobs(t *testing.T) {
	e := setup(t)
	counted, tripper := countingClient(t)
	queue := newQueue(t, counted, kubequeue.WithDefaultNamespace(e.ns))
	before := leakcheck.Goroutines()

	// When the API server reports each Job finished, seen through a watch
	// of the test's own.
	seenAt, stopWatch := finishedTimes(t, e)
	defer stopWatch()

	for _, n := range []int{5, 50} {
		handles := make([]kubequeue.Handle, n)
		for i := range handles {
			// Every tenth fails, so that both outcomes are waited for.
			var err error
			if i%10 == 9 {
				handles[i], err = queue.Enqueue(e.ctx, failingWorker, greeting{Name: "x"}, kubequeue.WithBackoffLimit(0))
			} else {
				handles[i], err = queue.Enqueue(e.ctx, greetWorker, greeting{Name: "x"})
			}
			require.NoError(t, err)
		}
		watchesBefore := tripper.allWatches.Load()
		var latencies []time.Duration
		got := map[string]error{}
		for st, err := range queue.WaitAll(e.ctx, handles...) {
			at := time.Now()
			got[st.Handle.Name] = err
			// Not seen yet by the test's watch: WaitAll was first.
			latency := time.Duration(0)
			if v, ok := seenAt.Load(st.Handle.Name); ok {
				latency = max(0, at.Sub(v.(time.Time)))
			}
			latencies = append(latencies, latency)
			if err == nil {
				require.Equal(t, kubequeue.StateSucceeded, st.State)
			} else {
				require.Equal(t, int32(kubequeue.ExitRetryable), st.ExitCode, "%v", err)
				require.Equal(t, "the worker failed on purpose", st.TerminationMessage)
			}
		}
		require.Len(t, got, n)
		for i, h := range handles {
			if i%10 == 9 {
				require.ErrorIs(t, got[h.Name], kubequeue.ErrJobFailed)
			} else {
				require.NoError(t, got[h.Name])
			}
		}
		// One watch of the namespace's Jobs, one of their pods.
		watches := tripper.allWatches.Load() - watchesBefore
		require.Equal(t, int32(2), watches, "watch requests to wait for %d jobs", n)
		slices.Sort(latencies)
		t.Logf("waited for %d jobs with %d watch request(s); final condition to WaitAll yielding, over %d jobs: p50 %v, p99 %v, max %v",
			n, watches, len(latencies), percentile(latencies, 50), percentile(latencies, 99), percentile(latencies, 100))
	}
	stopWatch()
	requireNoLeak(t, before)
}

// percentile returns the p-th percentile of sorted durations.
func percentile(sorted []time.Duration, p int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := (len(sorted)*p + 99) / 100
	return sorted[max(i, 1)-1]
}

// requireNoLeak fails if goroutines of kubequeue or client-go's informers
// outlive what started them.
func requireNoLeak(t *testing.T, before []string) {
	t.Helper()
	left := leakcheck.Leaked(before, 5*time.Second)
	require.Empty(t, left, "goroutines left running")
}

func TestQueue_List(t *testing.T) {
	t.Parallel()
	e := setup(t)
	var created []kubequeue.Handle
	for i := range 5 {
		h, err := e.queue.Enqueue(e.ctx, greetWorker, greeting{Name: "x"}, suspended,
			kubequeue.WithLabels(map[string]string{"batch": strconv.Itoa(i % 2)}))
		require.NoError(t, err)
		created = append(created, h)
		if i == 2 {
			time.Sleep(1100 * time.Millisecond) // creation times have a resolution of one second
		}
	}
	_, err := e.queue.Enqueue(e.ctx, countWorker, count{}, suspended)
	require.NoError(t, err)

	// Page through the greet Jobs, two at a time.
	var got []kubequeue.Status
	opts := kubequeue.ListOptions{Worker: greetWorker.Name(), Limit: 2}
	for pages := 1; ; pages++ {
		list, err := e.queue.List(e.ctx, opts)
		require.NoError(t, err)
		require.LessOrEqual(t, len(list.Items), 2)
		got = append(got, list.Items...)
		if list.Continue == "" {
			require.Equal(t, 3, pages)
			break
		}
		opts.Continue = list.Continue
	}
	require.Len(t, got, 5)
	names := map[string]bool{}
	for i, st := range got {
		names[st.Handle.Name] = true
		require.Equal(t, kubequeue.StateSuspended, st.State)
		require.Equal(t, greetWorker.Name(), st.Handle.Worker)
		require.NotEmpty(t, st.Handle.UID)
		if i > 0 {
			require.False(t, st.Created.After(got[i-1].Created), "newest first")
		}
	}
	require.Len(t, names, 5, "each Job once")
	// The last two created (one second later) come first.
	require.ElementsMatch(t, []string{created[3].Name, created[4].Name}, []string{got[0].Handle.Name, got[1].Handle.Name})

	all, err := e.queue.List(e.ctx, kubequeue.ListOptions{})
	require.NoError(t, err)
	require.Len(t, all.Items, 6, "every kubequeue Job of the namespace")
	odd, err := e.queue.List(e.ctx, kubequeue.ListOptions{Selector: labels.SelectorFromSet(labels.Set{"batch": "1"})})
	require.NoError(t, err)
	require.Len(t, odd.Items, 2)
}
