package kubequeue_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/rest"
	k8stesting "k8s.io/client-go/testing"

	"github.com/kubequeue/kubequeue"
)

// errTransport is what a dial to an API server that is down returns.
var errTransport error = &net.OpError{Op: "dial", Net: "tcp", Err: &os.SyscallError{Syscall: "connect", Err: syscall.ECONNREFUSED}}

// failure is an error a request can fail with, and how Enqueue must take it.
type failure struct {
	name      string
	err       error
	maybe     bool // the server may have acted on the request: Enqueue looks the Job up
	transient bool // the request is tried again
}

// postErr wraps err as net/http's client reports a failed POST.
func postErr(err error) error {
	return &url.Error{Op: "Post", URL: "https://192.0.2.1:6443/apis/batch/v1/namespaces/ns/jobs", Err: err}
}

// failures returns one error of each kind that can end a request.
func failures() []failure {
	jobs := schema.GroupResource{Group: "batch", Resource: "jobs"}
	return []failure{
		// After the request may have been written: unknown, and tried again.
		{"HTTP2ConnectionLost", postErr(errors.New("http2: client connection lost")), true, true},
		{"BrokenPipe", postErr(&net.OpError{Op: "write", Net: "tcp", Err: os.NewSyscallError("write", syscall.EPIPE)}), true, true},
		{"ConnectionReset", postErr(&net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ECONNRESET)}), true, true},
		{"EOF", postErr(io.EOF), true, true},
		{"UnexpectedEOF", postErr(io.ErrUnexpectedEOF), true, true},
		{"ClientTimeout", postErr(fmt.Errorf("%w (Client.Timeout exceeded while awaiting headers)", context.DeadlineExceeded)), true, true},
		{"GoAway", postErr(errors.New(`http2: server sent GOAWAY and closed the connection; LastStreamID=1, ErrCode=NO_ERROR, debug=""`)), true, true},
		{"Unrecognized", postErr(errors.New("a transport error never seen before")), true, true},
		{"InternalError", apierrors.NewInternalError(errors.New("etcd")), true, true},
		{"ServiceUnavailable", apierrors.NewServiceUnavailable("restarting"), true, true},
		{"GatewayTimeout", apierrors.NewTimeoutError("the request timed out", 0), true, true},
		{"ServerTimeout", apierrors.NewServerTimeout(jobs, "create", 0), true, true},
		{"BadGateway", apierrors.NewGenericServerResponse(http.StatusBadGateway, "POST", jobs, "", "", 0, true), true, true},
		// Refused before the server acted on it: tried again, no look-up.
		{"TooManyRequests", apierrors.NewTooManyRequests("slow down", 0), false, true},
		{"ConnectionRefused", postErr(errTransport), false, true},
		{"NoSuchHost", postErr(&net.OpError{Op: "dial", Net: "tcp", Err: &net.DNSError{Err: "no such host", Name: "api.example.com", IsNotFound: true}}), false, true},
		// Definite answers, and requests that can never be sent.
		{"Forbidden", apierrors.NewForbidden(jobs, "", errors.New("rbac says no")), false, false},
		{"Invalid", apierrors.NewInvalid(schema.GroupKind{Group: "batch", Kind: "Job"}, "greet-x", nil), false, false},
		{"BadRequest", apierrors.NewBadRequest("no"), false, false},
		{"UnknownAuthority", postErr(&tls.CertificateVerificationError{Err: x509.UnknownAuthorityError{}}), false, false},
	}
}

// TestQueue_Enqueue_ErrorClasses: Enqueue tells the errors that leave a
// create's outcome unknown from the server's answers and from failures
// before the request was sent, by kind rather than by a list of messages:
// any error that may have come after the request was written is tried
// again and, if no try settles it, the Job is looked up.
func TestQueue_Enqueue_ErrorClasses(t *testing.T) {
	t.Parallel()
	for _, f := range failures() {
		t.Run(f.name, func(t *testing.T) {
			t.Parallel()
			t.Run("EveryTryFails", func(t *testing.T) {
				t.Parallel()
				client, queue := setup(t, kubequeue.WithRetries(3), kubequeue.WithSleep(noSleep))
				client.PrependReactor("create", "jobs", func(k8stesting.Action) (bool, runtime.Object, error) {
					return true, nil, f.err
				})
				h, err := queue.Enqueue(t.Context(), newGreeter(), greeting{Name: "x"}, kubequeue.WithNamespace("ns1"))
				require.ErrorIs(t, err, f.err)
				require.Equal(t, apierrors.ReasonForError(f.err), apierrors.ReasonForError(err), "the API error keeps its type: %v", err)
				require.ErrorContains(t, err, "kubequeue: create job ns1/greet-")
				require.NotErrorIs(t, err, kubequeue.ErrMaybeEnqueued, "the look-up found no Job")
				require.Zero(t, h)
				want := []string{"create jobs"}
				if f.transient {
					want = []string{"create jobs", "create jobs", "create jobs"}
				}
				if f.maybe {
					want = append(want, "get jobs") // the look-up
				}
				require.Equal(t, want, verbs(client))
				require.Empty(t, listJobs(t, client))
			})
			if !f.maybe {
				return
			}
			for _, sensitive := range []bool{false, true} {
				name := map[bool]string{false: "Env", true: "Secret"}[sensitive]
				// The first try is stored and then the answer of every
				// try is lost: the look-up finds the Job, and Enqueue
				// returns it, finished.
				t.Run("StoredThenEveryAnswerLost/"+name, func(t *testing.T) {
					t.Parallel()
					queue, client := fakeQueue(t, kubequeue.WithRetries(3), kubequeue.WithSleep(noSleep))
					storeThenFail(t, client, f.err)
					h, err := queue.Enqueue(t.Context(), newGreeter(), greeting{Name: "x"}, sensitivity(sensitive)...)
					require.NoError(t, err)
					requireOneRunningJob(t, client, h)
				})
				// The look-up fails too: the error says the Job may exist,
				// and the handle names it.
				t.Run("LookupFails/"+name, func(t *testing.T) {
					t.Parallel()
					queue, client := fakeQueue(t, kubequeue.WithRetries(3), kubequeue.WithSleep(noSleep))
					storeThenFail(t, client, f.err)
					client.PrependReactor("get", "jobs", func(k8stesting.Action) (bool, runtime.Object, error) {
						return true, nil, f.err
					})
					h, err := queue.Enqueue(t.Context(), newGreeter(), greeting{Name: "x"}, sensitivity(sensitive)...)
					require.ErrorIs(t, err, kubequeue.ErrMaybeEnqueued)
					require.ErrorIs(t, err, f.err)
					jobs := listJobs(t, client)
					require.Len(t, jobs, 1)
					require.Equal(t, kubequeue.Handle{Namespace: jobs[0].Namespace, Name: jobs[0].Name, Worker: "greet"}, h, "the handle names the Job that may exist")
				})
			}
		})
	}
}

func TestQueue_Enqueue_RetryAfterAndContext(t *testing.T) {
	t.Parallel()
	client, queue := setup(t)
	busy := 1
	client.PrependReactor("create", "jobs", func(k8stesting.Action) (bool, runtime.Object, error) {
		if busy == 0 {
			return false, nil, nil
		}
		busy--
		return true, nil, apierrors.NewTooManyRequests("slow down", 1)
	})
	start := time.Now()
	_, err := queue.Enqueue(t.Context(), newGreeter(), greeting{})
	require.NoError(t, err)
	require.GreaterOrEqual(t, time.Since(start), time.Second, "Retry-After: 1 is honoured")

	// The context bounds the waiting.
	client.PrependReactor("create", "jobs", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewTooManyRequests("slow down", 60)
	})
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	_, err = queue.Enqueue(ctx, newGreeter(), greeting{})
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.True(t, apierrors.IsTooManyRequests(err), "the last API error is kept: %v", err)
}

// TestQueue_Enqueue_RetrySchedule pins the documented retry defaults: 8
// tries, and before each try after the first a wait drawn from 0.5 to 1.5
// times a delay that starts at 100 ms and doubles up to 5 s. The waits are
// recorded, not slept, so the test is exact on a loaded machine.
func TestQueue_Enqueue_RetrySchedule(t *testing.T) {
	t.Parallel()
	nominal := []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond,
		800 * time.Millisecond, 1600 * time.Millisecond, 3200 * time.Millisecond, 5 * time.Second}
	firstWaits := map[time.Duration]bool{}
	for range 20 {
		var waits []time.Duration
		record := func(ctx context.Context, d time.Duration) error {
			waits = append(waits, d)
			return ctx.Err()
		}
		client := fake.NewClientset()
		failAlways(client, "create", "jobs", errDown)
		_, err := newQueue(t, client, kubequeue.WithSleep(record)).Enqueue(t.Context(), newGreeter(), greeting{})
		require.ErrorIs(t, err, errDown)
		require.Equal(t, []string{"create jobs", "create jobs", "create jobs", "create jobs", "create jobs", "create jobs", "create jobs", "create jobs", "get jobs"},
			verbs(client), "8 tries by default, then the look-up")
		require.Len(t, waits, len(nominal))
		for i, d := range waits {
			require.GreaterOrEqual(t, d, nominal[i]/2, "wait %d", i)
			require.Less(t, d, nominal[i]*3/2, "wait %d", i)
		}
		firstWaits[waits[0]] = true
	}
	require.Greater(t, len(firstWaits), 1, "the waits are jittered")

	// WithRetries sets the tries; a Retry-After header lengthens a wait.
	var waits []time.Duration
	record := func(ctx context.Context, d time.Duration) error {
		waits = append(waits, d)
		return ctx.Err()
	}
	client := fake.NewClientset()
	failAlways(client, "create", "jobs", apierrors.NewTooManyRequests("slow down", 3))
	_, err := newQueue(t, client, kubequeue.WithRetries(3), kubequeue.WithSleep(record)).Enqueue(t.Context(), newGreeter(), greeting{})
	require.True(t, apierrors.IsTooManyRequests(err), "%v", err)
	require.Equal(t, []string{"create jobs", "create jobs", "create jobs"}, verbs(client))
	require.Equal(t, []time.Duration{3 * time.Second, 3 * time.Second}, waits)
}

// apiStub is an HTTP server that answers the Job requests of a create
// and its look-up as kube-apiserver does, with JSON, so that Enqueue meets
// the errors of client-go's real transport. The first create is handled
// by first, which may store the Job and may answer nothing.
type apiStub struct {
	mu    sync.Mutex
	jobs  map[string]*batchv1.Job
	posts int
	first func(w http.ResponseWriter, r *http.Request, store func())
}

func (s *apiStub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	status := func(code int, reason metav1.StatusReason) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_ = json.NewEncoder(w).Encode(metav1.Status{TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"}, Status: metav1.StatusFailure, Code: int32(code), Reason: reason})
	}
	send := func(code int, job *batchv1.Job) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_ = json.NewEncoder(w).Encode(job)
	}
	s.mu.Lock()
	switch {
	case r.Method == http.MethodPost:
		var job batchv1.Job
		if err := json.NewDecoder(r.Body).Decode(&job); err != nil {
			s.mu.Unlock()
			status(http.StatusBadRequest, metav1.StatusReasonBadRequest)
			return
		}
		job.APIVersion, job.Kind, job.UID = "batch/v1", "Job", types.UID(fmt.Sprintf("uid-%d", len(s.jobs)+1))
		store := func() {
			s.mu.Lock()
			defer s.mu.Unlock()
			s.jobs[job.Name] = &job
		}
		s.posts++
		if s.posts == 1 {
			s.mu.Unlock()
			s.first(w, r, store)
			return
		}
		if _, ok := s.jobs[job.Name]; ok {
			s.mu.Unlock()
			status(http.StatusConflict, metav1.StatusReasonAlreadyExists)
			return
		}
		s.jobs[job.Name] = &job
		s.mu.Unlock()
		send(http.StatusCreated, &job)
	case r.Method == http.MethodGet:
		job, ok := s.jobs[r.URL.Path[strings.LastIndexByte(r.URL.Path, '/')+1:]]
		s.mu.Unlock()
		if !ok {
			status(http.StatusNotFound, metav1.StatusReasonNotFound)
			return
		}
		send(http.StatusOK, job)
	default:
		s.mu.Unlock()
		status(http.StatusMethodNotAllowed, metav1.StatusReasonMethodNotAllowed)
	}
}

// TestQueue_Enqueue_RealTransportErrors: through client-go's own
// transport, a create that runs into the client's request timeout, or
// whose connection is dropped, is tried again, and finds the Job if the
// server stored it: one Job, and its handle.
func TestQueue_Enqueue_RealTransportErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		stored bool
		first  func(w http.ResponseWriter, r *http.Request, store func())
	}{
		{"ClientTimeout", false, func(_ http.ResponseWriter, r *http.Request, _ func()) { <-r.Context().Done() }},
		{"ClientTimeoutAfterStore", true, func(_ http.ResponseWriter, r *http.Request, store func()) { store(); <-r.Context().Done() }},
		{"ConnectionDroppedAfterStore", true, func(w http.ResponseWriter, _ *http.Request, store func()) {
			store()
			conn, _, err := http.NewResponseController(w).Hijack()
			if err == nil {
				conn.Close()
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			stub := &apiStub{jobs: map[string]*batchv1.Job{}, first: tt.first}
			srv := httptest.NewServer(stub)
			t.Cleanup(srv.Close)
			client, err := kubernetes.NewForConfig(&rest.Config{Host: srv.URL, Timeout: 500 * time.Millisecond,
				ContentConfig: rest.ContentConfig{ContentType: "application/json", AcceptContentTypes: "application/json"}})
			require.NoError(t, err)
			queue := newQueue(t, client, kubequeue.WithRetries(3), kubequeue.WithSleep(noSleep))
			h, err := queue.Enqueue(t.Context(), newGreeter(), greeting{Name: "x"})
			require.NoError(t, err)
			stub.mu.Lock()
			defer stub.mu.Unlock()
			require.Equal(t, 2, stub.posts, "the create is tried again")
			require.Len(t, stub.jobs, 1)
			require.Equal(t, stub.jobs[h.Name].UID, h.UID)
		})
	}
}
