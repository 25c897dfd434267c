package kubequeue_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	utilrand "k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/rest"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/utils/ptr"

	"github.com/kubequeue/kubequeue"
	"github.com/kubequeue/kubequeue/internal/wire"
	"github.com/kubequeue/kubequeue/kubequeuetest"
)

type greeting struct {
	Name string `json:"name"`
}

func greet(context.Context, greeting) error { return nil }

func newGreeter(opts ...kubequeue.WorkerOption) *kubequeue.Worker[greeting] {
	return kubequeue.NewWorker("greet", greet, append([]kubequeue.WorkerOption{kubequeue.WithImage("registry.example.com/app:v1")}, opts...)...)
}

// setup returns a fake clientset and a queue on it with reproducible names.
func setup(t *testing.T, opts ...kubequeue.QueueOption) (*fake.Clientset, *kubequeue.Queue) {
	t.Helper()
	client := fake.NewClientset()
	opts = append([]kubequeue.QueueOption{kubequeue.WithRandSource(rand.NewPCG(1, 2))}, opts...)
	return client, newQueue(t, client, opts...)
}

func listJobs(t *testing.T, client *fake.Clientset) []batchv1.Job {
	t.Helper()
	list, err := client.BatchV1().Jobs(metav1.NamespaceAll).List(t.Context(), metav1.ListOptions{})
	require.NoError(t, err)
	return list.Items
}

func TestQueue_Enqueue(t *testing.T) {
	t.Parallel()
	client, queue := setup(t, kubequeue.WithDefaultNamespace("jobs"))
	_, builder := setup(t, kubequeue.WithDefaultNamespace("jobs"))
	w := newGreeter()

	want, err := builder.Build(w, greeting{Name: "Ada"}, kubequeue.WithLabels(map[string]string{"team": "a"}))
	require.NoError(t, err)
	handle, err := queue.Enqueue(t.Context(), w, greeting{Name: "Ada"}, kubequeue.WithLabels(map[string]string{"team": "a"}))
	require.NoError(t, err)

	require.Equal(t, kubequeue.Handle{Namespace: "jobs", Name: want.Name, Worker: "greet"}, handle)
	require.Equal(t, "jobs/"+want.Name, handle.String())
	jobs := listJobs(t, client)
	require.Len(t, jobs, 1)
	// The fake adds managedFields and a resourceVersion, as a server would.
	got := jobs[0]
	require.Equal(t, want.Spec, got.Spec, "Enqueue must create exactly what Build returns")
	require.Equal(t, want.Name, got.Name)
	require.Equal(t, want.Labels, got.Labels)
	// Enqueue adds an ID by which a repeated create finds its Job.
	require.Regexp(t, "^[0-9a-f]{32}$", got.Annotations[kubequeue.AnnotationEnqueueID])
	delete(got.Annotations, kubequeue.AnnotationEnqueueID)
	require.Empty(t, got.Annotations)
	require.Empty(t, want.Annotations)

	actions := client.Actions()
	require.Len(t, actions, 2) // create, list
	create, ok := actions[0].(k8stesting.CreateActionImpl)
	require.True(t, ok)
	require.Equal(t, kubequeue.DefaultFieldManager, create.CreateOptions.FieldManager)
}

func TestQueue_Enqueue_FieldManager(t *testing.T) {
	t.Parallel()
	client, queue := setup(t, kubequeue.WithFieldManager("billing"))
	_, err := queue.Enqueue(t.Context(), newGreeter(), greeting{})
	require.NoError(t, err)
	create := client.Actions()[0].(k8stesting.CreateActionImpl)
	require.Equal(t, "billing", create.CreateOptions.FieldManager)
}

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

// noSleep skips the waits between tries.
func noSleep(ctx context.Context, _ time.Duration) error { return ctx.Err() }

// verbs returns "verb resource" for each action client saw.
func verbs(client *fake.Clientset) []string {
	var out []string
	for _, a := range client.Actions() {
		out = append(out, a.GetVerb()+" "+a.GetResource().Resource)
	}
	return out
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

// sensitivity returns the options of an Enqueue whose payload travels in a
// Secret, or none.
func sensitivity(sensitive bool) []kubequeue.EnqueueOption {
	if sensitive {
		return []kubequeue.EnqueueOption{kubequeue.WithSensitivePayload()}
	}
	return nil
}

// storeThenFail makes the first create of a Job store it, and every create
// fail with err, as if each answer were lost.
func storeThenFail(t *testing.T, client *fake.Clientset, err error) {
	var stored atomic.Bool
	client.PrependReactor("create", "jobs", func(action k8stesting.Action) (bool, runtime.Object, error) {
		if !stored.Swap(true) {
			job := action.(k8stesting.CreateAction).GetObject().(*batchv1.Job).DeepCopy()
			job.UID = "uid-of-the-lost-create"
			if err := client.Tracker().Create(action.GetResource(), job, job.Namespace); err != nil {
				return true, nil, err
			}
		}
		return true, nil, err
	})
}

// requireOneRunningJob requires that client holds one Job, h's, and that
// it may run: not suspended, and, for a payload in a Secret, with its
// Secret.
func requireOneRunningJob(t *testing.T, client *fake.Clientset, h kubequeue.Handle) {
	t.Helper()
	jobs := listJobs(t, client)
	require.Len(t, jobs, 1, "one Job")
	job := jobs[0]
	require.Equal(t, h.Name, job.Name)
	require.Equal(t, h.UID, job.UID)
	require.NotEmpty(t, h.UID)
	require.False(t, job.Spec.Suspend != nil && *job.Spec.Suspend, "the Job may start")
	require.NotContains(t, job.Annotations, kubequeue.AnnotationResume, "the Job is not left waiting for its payload")
	if vol := wire.SecretVolumeOf(&job.Spec.Template.Spec); vol != nil {
		secret, err := client.CoreV1().Secrets(job.Namespace).Get(context.Background(), vol.SecretName, metav1.GetOptions{})
		require.NoError(t, err, "the payload Secret exists")
		require.Equal(t, job.UID, secret.OwnerReferences[0].UID)
	}
}

// TestQueue_Enqueue_LostResponse: a create whose response is lost after
// the server stored the Job is tried again, finds the Job by its enqueue ID
// and returns it: one Job, and its handle.
func TestQueue_Enqueue_LostResponse(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"", "order-42"} {
		client, queue := setup(t)
		lost := 1
		client.PrependReactor("create", "jobs", func(action k8stesting.Action) (bool, runtime.Object, error) {
			if lost == 0 {
				return false, nil, nil
			}
			lost--
			job := action.(k8stesting.CreateAction).GetObject().(*batchv1.Job).DeepCopy()
			job.UID = "uid-of-the-first-try"
			require.NoError(t, client.Tracker().Create(action.GetResource(), job, job.Namespace))
			return true, nil, apierrors.NewTimeoutError("response lost", 0)
		})
		var opts []kubequeue.EnqueueOption
		if name != "" {
			opts = append(opts, kubequeue.WithJobName(name))
		}
		h, err := queue.Enqueue(t.Context(), newGreeter(), greeting{}, opts...)
		require.NoError(t, err)
		jobs := listJobs(t, client)
		require.Len(t, jobs, 1, "the retry must not make a second Job")
		require.Equal(t, jobs[0].Name, h.Name)
		require.Equal(t, types.UID("uid-of-the-first-try"), h.UID)
	}

	// A Job of that name that another Enqueue created is not ours.
	client, queue := setup(t)
	_, err := queue.Enqueue(t.Context(), newGreeter(), greeting{}, kubequeue.WithJobName("taken"))
	require.NoError(t, err)
	_, err = queue.Enqueue(t.Context(), newGreeter(), greeting{}, kubequeue.WithJobName("taken"))
	require.True(t, apierrors.IsAlreadyExists(err), "got %v", err)
	require.Len(t, listJobs(t, client), 1)
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

func TestQueue_Enqueue_UniqueKey(t *testing.T) {
	t.Parallel()
	client, queue := setup(t)
	w := newGreeter()
	first, err := queue.Enqueue(t.Context(), w, greeting{Name: "a"}, kubequeue.WithUniqueKey("order-42"))
	require.NoError(t, err)
	again, err := queue.Enqueue(t.Context(), w, greeting{Name: "b"}, kubequeue.WithUniqueKey("order-42"))
	require.NoError(t, err)
	require.Equal(t, first, again, "the same key returns the existing Job")
	other, err := queue.Enqueue(t.Context(), w, greeting{Name: "c"}, kubequeue.WithUniqueKey("order-43"))
	require.NoError(t, err)
	require.NotEqual(t, first.Name, other.Name)

	jobs := listJobs(t, client)
	require.Len(t, jobs, 2)
	for _, j := range jobs {
		require.Regexp(t, "^[0-9a-f]{64}$", j.Annotations[kubequeue.AnnotationUniqueKey])
		require.NotContains(t, j.Annotations[kubequeue.AnnotationUniqueKey], "order", "the key itself is not stored")
	}

	// Another process, of this release or another, derives the same name
	// from the same key: the name and the key's hash are fixed values.
	_, elsewhere := setup(t, kubequeue.WithRandSource(rand.NewPCG(7, 7)))
	built, err := elsewhere.Build(w, greeting{}, kubequeue.WithUniqueKey("order-42"))
	require.NoError(t, err)
	require.Equal(t, first.Name, built.Name)
	require.Equal(t, "greet-wwrs6fbsjg", built.Name)
	require.Equal(t, "3bf8b157c4238eefe5ae4a66eca81c6b887d4dcedb58dd674271859f4dc2edfd", built.Annotations[kubequeue.AnnotationUniqueKey])

	// A Job of that name without the key's hash is not returned.
	require.NoError(t, client.BatchV1().Jobs(first.Namespace).Delete(t.Context(), first.Name, metav1.DeleteOptions{}))
	_, err = queue.Enqueue(t.Context(), w, greeting{}, kubequeue.WithJobName(first.Name))
	require.NoError(t, err)
	_, err = queue.Enqueue(t.Context(), w, greeting{}, kubequeue.WithUniqueKey("order-42"))
	require.True(t, apierrors.IsAlreadyExists(err), "got %v", err)
}

func TestNew_InvalidOptions(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		opts  []kubequeue.QueueOption
		field string
	}{
		{"EmptyNamespace", []kubequeue.QueueOption{kubequeue.WithDefaultNamespace("")}, "WithDefaultNamespace"},
		{"BadNamespace", []kubequeue.QueueOption{kubequeue.WithDefaultNamespace("Bad_NS")}, "WithDefaultNamespace"},
		{"EmptyFieldManager", []kubequeue.QueueOption{kubequeue.WithFieldManager("")}, "WithFieldManager"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			client := fake.NewClientset()
			queue, err := kubequeue.New(client, tt.opts...)
			require.ErrorIs(t, err, kubequeue.ErrInvalidOption)
			require.Nil(t, queue)
			var verr *kubequeue.ValidationError
			require.ErrorAs(t, err, &verr)
			require.Equal(t, tt.field, verr.Field)
			requireNoAPICall(t, client)
		})
	}
}

func TestNew_NilClient(t *testing.T) {
	t.Parallel()
	var cs *kubernetes.Clientset // as left by a failed NewClientset
	for _, client := range []kubernetes.Interface{nil, cs} {
		queue, err := kubequeue.New(client)
		require.ErrorContains(t, err, "nil kubernetes client")
		require.Nil(t, queue)
	}
}

func TestQueue_Enqueue_InvalidInputMakesNoCall(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		job     kubequeue.AnyWorker
		payload any
		opts    []kubequeue.EnqueueOption
		want    error
	}{
		{"InvalidWorker", kubequeue.NewWorker("Bad_Name", greet, kubequeue.WithImage("app")), greeting{}, nil, kubequeue.ErrInvalidWorker},
		{"NilJob", nil, greeting{}, nil, kubequeue.ErrInvalidWorker},
		{"NilWorker", (*kubequeue.Worker[greeting])(nil), greeting{}, nil, kubequeue.ErrInvalidWorker},
		{"PayloadType", newGreeter(), "Ada", nil, kubequeue.ErrPayloadType},
		{"PayloadTooLarge", newGreeter(), greeting{Name: string(make([]byte, kubequeue.MaxPayloadSize))}, nil, kubequeue.ErrPayloadTooLarge},
		{"InvalidOption", newGreeter(), greeting{}, []kubequeue.EnqueueOption{kubequeue.WithJobName("UPPER")}, kubequeue.ErrInvalidOption},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			client, queue := setup(t)
			_, err := queue.Enqueue(t.Context(), tt.job, tt.payload, tt.opts...)
			require.ErrorIs(t, err, tt.want)
			requireNoAPICall(t, client)
		})
	}
}

func TestQueue_Enqueue_JobName(t *testing.T) {
	t.Parallel()
	client, queue := setup(t)
	handle, err := queue.Enqueue(t.Context(), newGreeter(), greeting{}, kubequeue.WithJobName("nightly-report"))
	require.NoError(t, err)
	require.Equal(t, "nightly-report", handle.Name)

	_, err = queue.Enqueue(t.Context(), newGreeter(), greeting{}, kubequeue.WithJobName("nightly-report"))
	require.True(t, apierrors.IsAlreadyExists(err), "got %v", err)
	require.Len(t, listJobs(t, client), 1)
}

// writeKubeconfig writes a kubeconfig with two contexts and returns its path.
func writeKubeconfig(t *testing.T) string {
	t.Helper()
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["one"] = &clientcmdapi.Cluster{Server: "https://one.example.com:6443"}
	cfg.Clusters["two"] = &clientcmdapi.Cluster{Server: "https://two.example.com:6443"}
	cfg.AuthInfos["me"] = &clientcmdapi.AuthInfo{Token: "secret"}
	cfg.Contexts["one"] = &clientcmdapi.Context{Cluster: "one", AuthInfo: "me"}
	cfg.Contexts["two"] = &clientcmdapi.Context{Cluster: "two", AuthInfo: "me", Namespace: "jobs"}
	cfg.CurrentContext = "one"
	path := filepath.Join(t.TempDir(), "kubeconfig")
	require.NoError(t, clientcmd.WriteToFile(*cfg, path))
	return path
}

func TestLoadConfig(t *testing.T) {
	path := writeKubeconfig(t)
	t.Setenv("KUBECONFIG", "")
	t.Setenv("HOME", t.TempDir())

	t.Run("ExplicitPath", func(t *testing.T) {
		cfg, namespace, err := kubequeue.LoadConfig(path, "")
		require.NoError(t, err)
		require.Equal(t, "https://one.example.com:6443", cfg.Host)
		require.Equal(t, "default", namespace, "a context without a namespace means default")
		require.Equal(t, "secret", cfg.BearerToken)
		require.EqualValues(t, kubequeue.DefaultQPS, cfg.QPS)
		require.Equal(t, kubequeue.DefaultBurst, cfg.Burst)
	})
	t.Run("Context", func(t *testing.T) {
		cfg, namespace, err := kubequeue.LoadConfig(path, "two")
		require.NoError(t, err)
		require.Equal(t, "https://two.example.com:6443", cfg.Host)
		require.Equal(t, "jobs", namespace, "the context's namespace, as kubectl uses it")
	})
	t.Run("UnknownContext", func(t *testing.T) {
		_, _, err := kubequeue.LoadConfig(path, "three")
		require.ErrorContains(t, err, "kubequeue: load kubernetes client config")
		require.ErrorContains(t, err, "three")
	})
	t.Run("MissingFile", func(t *testing.T) {
		_, _, err := kubequeue.LoadConfig(filepath.Join(t.TempDir(), "nope"), "")
		require.ErrorContains(t, err, "kubequeue: load kubernetes client config")
	})
	t.Run("KUBECONFIG", func(t *testing.T) {
		t.Setenv("KUBECONFIG", path)
		cfg, _, err := kubequeue.LoadConfig("", "two")
		require.NoError(t, err)
		require.Equal(t, "https://two.example.com:6443", cfg.Host)
	})
	t.Run("NothingFound", func(t *testing.T) {
		// No kubeconfig anywhere and not in a pod: an error, not a config
		// pointing at localhost.
		t.Setenv("KUBERNETES_SERVICE_HOST", "")
		t.Setenv("KUBERNETES_SERVICE_PORT", "")
		_, _, err := kubequeue.LoadConfig("", "")
		require.Error(t, err)
	})
	t.Run("NewClientset", func(t *testing.T) {
		cs, namespace, err := kubequeue.NewClientset(path, "two")
		require.NoError(t, err)
		require.NotNil(t, cs)
		require.Equal(t, "jobs", namespace)
		cs, _, err = kubequeue.NewClientset(path, "three")
		require.Error(t, err)
		require.Nil(t, cs)
	})
}

// BenchmarkEnqueue compares Enqueue with building the same Job by hand and
// creating it with client-go, both on the fake clientset. The fake's object
// tracker dominates both sides; the difference is kubequeue's own cost.
func BenchmarkEnqueue(b *testing.B) {
	w := newGreeter(kubequeue.WithCPU("100m", "500m"), kubequeue.WithMemory("64Mi", "256Mi"))
	b.Run("kubequeue", func(b *testing.B) {
		queue := newQueue(b, fake.NewClientset())
		b.ReportAllocs()
		for b.Loop() {
			if _, err := queue.Enqueue(b.Context(), w, greeting{Name: "Ada"}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("clientgo", func(b *testing.B) {
		client := fake.NewClientset()
		// The same Job as a client-go user would write it; only the name
		// changes per iteration.
		template, err := buildQueue(b).Build(w, greeting{Name: "Ada"})
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			job := template.DeepCopy()
			job.Name = "greet-" + utilrand.String(10)
			if _, err := client.BatchV1().Jobs(job.Namespace).Create(b.Context(), job, metav1.CreateOptions{FieldManager: "kubequeue"}); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// clHandle names the Job clJob returns.
var clHandle = kubequeue.Handle{Namespace: "jobs", Name: "greet-1", UID: "uid-1", Worker: "greet"}

// clJob returns a kubequeue Job named like clHandle with the given UID.
func clJob(uid types.UID) *batchv1.Job {
	return &batchv1.Job{ObjectMeta: metav1.ObjectMeta{
		Namespace: clHandle.Namespace,
		Name:      clHandle.Name,
		UID:       uid,
		Labels:    map[string]string{kubequeue.LabelManagedBy: "kubequeue", kubequeue.LabelWorker: "greet"},
	}}
}

// clSetup returns a fake clientset holding jobs, with no action recorded,
// and a queue on it.
func clSetup(t *testing.T, jobs ...*batchv1.Job) (*fake.Clientset, *kubequeue.Queue) {
	t.Helper()
	client, queue := setup(t)
	for _, job := range jobs {
		require.NoError(t, client.Tracker().Add(job))
	}
	return client, queue
}

var clJobsResource = schema.GroupResource{Group: "batch", Resource: "jobs"}

// clFails makes client's calls of verb on jobs fail with err.
func clFails(client *fake.Clientset, verb string, err error) {
	client.PrependReactor(verb, "jobs", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, err
	})
}

// clVerbs returns the verb of each action client saw.
func clVerbs(client *fake.Clientset) []string {
	var verbs []string
	for _, a := range client.Actions() {
		verbs = append(verbs, a.GetVerb())
	}
	return verbs
}

func TestQueue_Get(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		stored  *batchv1.Job
		handle  kubequeue.Handle
		wantErr error
	}{
		{name: "SameUID", stored: clJob("uid-1"), handle: clHandle},
		{name: "HandleWithoutUID", stored: clJob("uid-2"), handle: kubequeue.Handle{Namespace: "jobs", Name: "greet-1"}},
		{name: "OtherUID", stored: clJob("uid-2"), handle: clHandle, wantErr: kubequeue.ErrJobNotFound},
		{name: "Missing", handle: clHandle, wantErr: kubequeue.ErrJobNotFound},
		{name: "OtherNamespace", stored: clJob("uid-1"), handle: kubequeue.Handle{Namespace: "other", Name: "greet-1", UID: "uid-1"}, wantErr: kubequeue.ErrJobNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var stored []*batchv1.Job
			if tt.stored != nil {
				stored = append(stored, tt.stored)
			}
			client, queue := clSetup(t, stored...)
			job, err := queue.Get(t.Context(), tt.handle)

			actions := client.Actions()
			require.Len(t, actions, 1)
			get, ok := actions[0].(k8stesting.GetActionImpl)
			require.True(t, ok, "got %T", actions[0])
			require.Equal(t, tt.handle.Namespace, get.GetNamespace())
			require.Equal(t, tt.handle.Name, get.GetName())
			require.Equal(t, "jobs", get.GetResource().Resource)

			if tt.wantErr != nil {
				require.ErrorIs(t, err, tt.wantErr)
				require.ErrorContains(t, err, tt.handle.String())
				require.Nil(t, job)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.stored.UID, job.UID)
			require.Equal(t, tt.stored.Name, job.Name)
		})
	}
}

func TestQueue_Get_Errors(t *testing.T) {
	t.Parallel()

	t.Run("MissingStaysNotFound", func(t *testing.T) {
		t.Parallel()
		_, queue := clSetup(t)
		_, err := queue.Get(t.Context(), clHandle)
		require.ErrorIs(t, err, kubequeue.ErrJobNotFound)
		require.True(t, apierrors.IsNotFound(err), "error %v lost its API type", err)
	})

	t.Run("OtherUIDNamesBoth", func(t *testing.T) {
		t.Parallel()
		_, queue := clSetup(t, clJob("uid-2"))
		_, err := queue.Get(t.Context(), clHandle)
		require.ErrorIs(t, err, kubequeue.ErrJobNotFound)
		require.ErrorContains(t, err, "uid-1")
		require.ErrorContains(t, err, "uid-2")
	})

	apiErrors := []struct {
		name  string
		err   error
		check func(error) bool
	}{
		{"Forbidden", apierrors.NewForbidden(clJobsResource, "greet-1", errors.New("rbac says no")), apierrors.IsForbidden},
		{"InternalError", apierrors.NewInternalError(errors.New("etcd")), apierrors.IsInternalError},
		{"Transport", errTransport, func(err error) bool { return errors.Is(err, errTransport) }},
	}
	for _, tt := range apiErrors {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			client, queue := clSetup(t, clJob("uid-1"))
			clFails(client, "get", tt.err)
			job, err := queue.Get(t.Context(), clHandle)
			require.ErrorIs(t, err, tt.err)
			require.True(t, tt.check(err), "error %v lost its API type", err)
			require.NotErrorIs(t, err, kubequeue.ErrJobNotFound)
			require.ErrorContains(t, err, "kubequeue: get job jobs/greet-1")
			require.Nil(t, job)
		})
	}
}

func TestQueue_Cancel(t *testing.T) {
	t.Parallel()
	foreground, background, orphan := metav1.DeletePropagationForeground, metav1.DeletePropagationBackground, metav1.DeletePropagationOrphan
	tests := []struct {
		name            string
		handle          kubequeue.Handle
		opts            []kubequeue.CancelOption
		wantPropagation metav1.DeletionPropagation
	}{
		{name: "Default", handle: clHandle, wantPropagation: foreground},
		{name: "HandleWithoutUID", handle: kubequeue.Handle{Namespace: "jobs", Name: "greet-1"}, wantPropagation: foreground},
		{name: "Background", handle: clHandle, opts: []kubequeue.CancelOption{kubequeue.WithPropagation(background)}, wantPropagation: background},
		{name: "Orphan", handle: clHandle, opts: []kubequeue.CancelOption{kubequeue.WithPropagation(orphan)}, wantPropagation: orphan},
		{name: "Foreground", handle: clHandle, opts: []kubequeue.CancelOption{kubequeue.WithPropagation(foreground)}, wantPropagation: foreground},
		{name: "RepeatedReplaces", handle: clHandle, opts: []kubequeue.CancelOption{kubequeue.WithPropagation(orphan), kubequeue.WithPropagation(background)}, wantPropagation: background},
		{name: "NilOption", handle: clHandle, opts: []kubequeue.CancelOption{nil}, wantPropagation: foreground},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			client, queue := clSetup(t, clJob("uid-1"))
			require.NoError(t, queue.Cancel(t.Context(), tt.handle, tt.opts...))

			actions := client.Actions()
			require.Len(t, actions, 1)
			del, ok := actions[0].(k8stesting.DeleteActionImpl)
			require.True(t, ok, "got %T", actions[0])
			require.Equal(t, "jobs", del.GetResource().Resource)
			require.Equal(t, "jobs", del.GetNamespace())
			require.Equal(t, "greet-1", del.GetName())
			require.Equal(t, &tt.wantPropagation, del.DeleteOptions.PropagationPolicy)
			if tt.handle.UID == "" {
				require.Nil(t, del.DeleteOptions.Preconditions, "a handle without a UID deletes the Job of its name")
			} else {
				require.NotNil(t, del.DeleteOptions.Preconditions)
				require.Equal(t, ptr.To(tt.handle.UID), del.DeleteOptions.Preconditions.UID)
			}
			require.Empty(t, listJobs(t, client))
		})
	}
}

func TestQueue_Cancel_InvalidPropagation(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		policy metav1.DeletionPropagation
	}{
		{name: "Unknown", policy: "Sometimes"},
		{name: "LowerCase", policy: "foreground"},
		{name: "Empty", policy: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			client, queue := clSetup(t, clJob("uid-1"))
			err := queue.Cancel(t.Context(), clHandle, kubequeue.WithPropagation(tt.policy))
			require.ErrorIs(t, err, kubequeue.ErrInvalidOption)
			require.ErrorContains(t, err, "WithPropagation")
			requireNoAPICall(t, client)
			require.Len(t, listJobs(t, client), 1)
		})
	}
}

func TestQueue_Cancel_Idempotent(t *testing.T) {
	t.Parallel()
	client, queue := clSetup(t, clJob("uid-1"))
	require.NoError(t, queue.Cancel(t.Context(), clHandle))
	require.NoError(t, queue.Cancel(t.Context(), clHandle), "cancelling a Job that is gone is not an error")
	require.NoError(t, queue.Cancel(t.Context(), kubequeue.Handle{Namespace: "jobs", Name: "never-was"}))
	require.Equal(t, []string{"delete", "delete", "delete"}, clVerbs(client))
}

func TestQueue_Cancel_Conflict(t *testing.T) {
	t.Parallel()
	// The API server answers a failed UID precondition with a Conflict.
	conflict := apierrors.NewConflict(clJobsResource, "greet-1", errors.New("Precondition failed: UID in precondition: uid-1, UID in object meta: uid-2"))

	t.Run("AnotherJobTookTheName", func(t *testing.T) {
		t.Parallel()
		client, queue := clSetup(t, clJob("uid-2"))
		clFails(client, "delete", conflict)
		require.NoError(t, queue.Cancel(t.Context(), clHandle), "the handle's Job is gone")
		require.Equal(t, []string{"delete", "get"}, clVerbs(client))
		jobs := listJobs(t, client)
		require.Len(t, jobs, 1, "the Job that took the name is not deleted")
		require.Equal(t, types.UID("uid-2"), jobs[0].UID)
	})

	t.Run("NameFreedMeanwhile", func(t *testing.T) {
		t.Parallel()
		client, queue := clSetup(t)
		clFails(client, "delete", conflict)
		require.NoError(t, queue.Cancel(t.Context(), clHandle))
	})

	t.Run("SameUID", func(t *testing.T) {
		t.Parallel()
		// A Conflict for another reason, while the handle's Job is there:
		// Cancel did not happen.
		client, queue := clSetup(t, clJob("uid-1"))
		clFails(client, "delete", conflict)
		err := queue.Cancel(t.Context(), clHandle)
		require.ErrorIs(t, err, conflict)
		require.True(t, apierrors.IsConflict(err), "error %v lost its API type", err)
		require.ErrorContains(t, err, "kubequeue: cancel job jobs/greet-1")
	})

	t.Run("GetFails", func(t *testing.T) {
		t.Parallel()
		client, queue := clSetup(t, clJob("uid-2"))
		clFails(client, "delete", conflict)
		clFails(client, "get", apierrors.NewForbidden(clJobsResource, "greet-1", errors.New("no get")))
		err := queue.Cancel(t.Context(), clHandle)
		require.True(t, apierrors.IsConflict(err), "the delete's error, got %v", err)
		require.ErrorContains(t, err, "kubequeue: cancel job jobs/greet-1")
	})

	t.Run("HandleWithoutUID", func(t *testing.T) {
		t.Parallel()
		client, queue := clSetup(t, clJob("uid-2"))
		clFails(client, "delete", conflict)
		err := queue.Cancel(t.Context(), kubequeue.Handle{Namespace: "jobs", Name: "greet-1"})
		require.True(t, apierrors.IsConflict(err), "got %v", err)
		require.Equal(t, []string{"delete"}, clVerbs(client))
	})
}

func TestQueue_Cancel_APIErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		err   error
		check func(error) bool
	}{
		{"Forbidden", apierrors.NewForbidden(clJobsResource, "greet-1", errors.New("rbac says no")), apierrors.IsForbidden},
		{"InternalError", apierrors.NewInternalError(errors.New("etcd")), apierrors.IsInternalError},
		{"Timeout", apierrors.NewServerTimeout(clJobsResource, "delete", 1), apierrors.IsServerTimeout},
		{"Transport", errTransport, func(err error) bool { return errors.Is(err, errTransport) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			client, queue := clSetup(t, clJob("uid-1"))
			clFails(client, "delete", tt.err)
			err := queue.Cancel(t.Context(), clHandle)
			require.ErrorIs(t, err, tt.err)
			require.True(t, tt.check(err), "error %v lost its API type", err)
			require.ErrorContains(t, err, "kubequeue: cancel job jobs/greet-1")
			require.Equal(t, []string{"delete"}, clVerbs(client), "no retry")
		})
	}
}

func TestQueue_SuspendResume(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		handle    kubequeue.Handle
		suspend   bool
		wantPatch string
	}{
		{name: "Suspend", handle: clHandle, suspend: true, wantPatch: `{"metadata":{"uid":"uid-1"},"spec":{"suspend":true}}`},
		{name: "Resume", handle: clHandle, suspend: false, wantPatch: `{"metadata":{"uid":"uid-1"},"spec":{"suspend":false}}`},
		{name: "SuspendWithoutUID", handle: kubequeue.Handle{Namespace: "jobs", Name: "greet-1"}, suspend: true, wantPatch: `{"spec":{"suspend":true}}`},
		{name: "ResumeWithoutUID", handle: kubequeue.Handle{Namespace: "jobs", Name: "greet-1"}, suspend: false, wantPatch: `{"spec":{"suspend":false}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			job := clJob("uid-1")
			job.Spec.Suspend = ptr.To(!tt.suspend)
			client, queue := clSetup(t, job)
			op := queue.Resume
			if tt.suspend {
				op = queue.Suspend
			}
			require.NoError(t, op(t.Context(), tt.handle))

			actions := client.Actions()
			require.Len(t, actions, 1)
			patch, ok := actions[0].(k8stesting.PatchActionImpl)
			require.True(t, ok, "got %T", actions[0])
			require.Equal(t, "jobs", patch.GetResource().Resource)
			require.Equal(t, "jobs", patch.GetNamespace())
			require.Equal(t, "greet-1", patch.GetName())
			require.Equal(t, types.MergePatchType, patch.GetPatchType())
			require.JSONEq(t, tt.wantPatch, string(patch.GetPatch()))
			require.Equal(t, kubequeue.DefaultFieldManager, patch.PatchOptions.FieldManager)

			jobs := listJobs(t, client)
			require.Len(t, jobs, 1)
			require.Equal(t, ptr.To(tt.suspend), jobs[0].Spec.Suspend)
			require.Equal(t, types.UID("uid-1"), jobs[0].UID)
		})
	}
}

func TestQueue_SuspendResume_FieldManager(t *testing.T) {
	t.Parallel()
	client, queue := setup(t, kubequeue.WithFieldManager("billing"))
	require.NoError(t, client.Tracker().Add(clJob("uid-1")))
	require.NoError(t, queue.Suspend(t.Context(), clHandle))
	require.NoError(t, queue.Resume(t.Context(), clHandle))
	for _, a := range client.Actions() {
		require.Equal(t, "billing", a.(k8stesting.PatchActionImpl).PatchOptions.FieldManager)
	}
}

func TestQueue_SuspendResume_Errors(t *testing.T) {
	t.Parallel()
	uidInvalid := apierrors.NewInvalid(schema.GroupKind{Group: "batch", Kind: "Job"}, "greet-1", field.ErrorList{
		field.Invalid(field.NewPath("metadata", "uid"), "uid-1", "field is immutable"),
	})
	suspendInvalid := apierrors.NewInvalid(schema.GroupKind{Group: "batch", Kind: "Job"}, "greet-1", field.ErrorList{
		field.Invalid(field.NewPath("spec", "suspend"), true, "cannot suspend"),
	})
	forbidden := apierrors.NewForbidden(clJobsResource, "greet-1", errors.New("rbac says no"))
	notFound := apierrors.NewNotFound(clJobsResource, "greet-1")
	tests := []struct {
		name         string
		err          error
		handle       kubequeue.Handle
		check        func(error) bool
		wantNotFound bool
	}{
		{name: "NotFound", err: notFound, handle: clHandle, check: apierrors.IsNotFound, wantNotFound: true},
		{name: "NotFoundWithoutUID", err: notFound, handle: kubequeue.Handle{Namespace: "jobs", Name: "greet-1"}, check: apierrors.IsNotFound, wantNotFound: true},
		{name: "UIDChanged", err: uidInvalid, handle: clHandle, check: apierrors.IsInvalid, wantNotFound: true},
		{name: "OtherInvalid", err: suspendInvalid, handle: clHandle, check: apierrors.IsInvalid},
		{name: "InvalidWithoutDetails", err: apierrors.NewInvalid(schema.GroupKind{Group: "batch", Kind: "Job"}, "greet-1", nil), handle: clHandle, check: apierrors.IsInvalid},
		{name: "Forbidden", err: forbidden, handle: clHandle, check: apierrors.IsForbidden},
		{name: "Transport", err: errTransport, handle: clHandle, check: func(err error) bool { return errors.Is(err, errTransport) }},
	}
	for _, tt := range tests {
		for _, verb := range []string{"suspend", "resume"} {
			t.Run(tt.name+"/"+verb, func(t *testing.T) {
				t.Parallel()
				client, queue := clSetup(t, clJob("uid-1"))
				clFails(client, "patch", tt.err)
				op := queue.Suspend
				if verb == "resume" {
					op = queue.Resume
				}
				err := op(t.Context(), tt.handle)
				require.ErrorIs(t, err, tt.err)
				require.True(t, tt.check(err), "error %v lost its API type", err)
				require.ErrorContains(t, err, verb+" job jobs/greet-1")
				if tt.wantNotFound {
					require.ErrorIs(t, err, kubequeue.ErrJobNotFound)
				} else {
					require.NotErrorIs(t, err, kubequeue.ErrJobNotFound)
				}
				require.Equal(t, []string{"patch"}, clVerbs(client), "no retry")
			})
		}
	}

	t.Run("MissingJob", func(t *testing.T) {
		t.Parallel()
		_, queue := clSetup(t)
		err := queue.Suspend(t.Context(), clHandle)
		require.ErrorIs(t, err, kubequeue.ErrJobNotFound)
		require.True(t, apierrors.IsNotFound(err))
		err = queue.Resume(t.Context(), clHandle)
		require.ErrorIs(t, err, kubequeue.ErrJobNotFound)
	})
}

func TestHandle_Invalid(t *testing.T) {
	t.Parallel()
	handles := []struct {
		name   string
		handle kubequeue.Handle
		field  string
	}{
		{name: "Zero", handle: kubequeue.Handle{}, field: "Handle.Namespace"},
		{name: "EmptyNamespace", handle: kubequeue.Handle{Name: "greet-1"}, field: "Handle.Namespace"},
		{name: "UpperCaseNamespace", handle: kubequeue.Handle{Namespace: "Jobs", Name: "greet-1"}, field: "Handle.Namespace"},
		{name: "NamespaceWithDot", handle: kubequeue.Handle{Namespace: "a.b", Name: "greet-1"}, field: "Handle.Namespace"},
		{name: "EmptyName", handle: kubequeue.Handle{Namespace: "jobs"}, field: "Handle.Name"},
		{name: "UpperCaseName", handle: kubequeue.Handle{Namespace: "jobs", Name: "Greet-1"}, field: "Handle.Name"},
		{name: "NameWithSlash", handle: kubequeue.Handle{Namespace: "jobs", Name: "greet/1"}, field: "Handle.Name"},
		{name: "NameTooLong", handle: kubequeue.Handle{Namespace: "jobs", Name: strings.Repeat("a", 254)}, field: "Handle.Name"},
		{name: "WorkerWithSpaces", handle: kubequeue.Handle{Namespace: "jobs", Name: "greet-1", Worker: "greet me"}, field: "Handle.Worker"},
		{name: "WorkerTooLong", handle: kubequeue.Handle{Namespace: "jobs", Name: "greet-1", Worker: strings.Repeat("a", 64)}, field: "Handle.Worker"},
	}
	calls := []struct {
		name string
		call func(context.Context, *kubequeue.Queue, kubequeue.Handle) error
	}{
		{"Get", func(ctx context.Context, q *kubequeue.Queue, h kubequeue.Handle) error {
			job, err := q.Get(ctx, h)
			if job != nil {
				return errors.New("a Job for an invalid handle")
			}
			return err
		}},
		{"Status", func(ctx context.Context, q *kubequeue.Queue, h kubequeue.Handle) error {
			st, err := q.Status(ctx, h)
			if st.Handle != h {
				return errors.New("Status must return the handle it was given")
			}
			return err
		}},
		{"Cancel", func(ctx context.Context, q *kubequeue.Queue, h kubequeue.Handle) error { return q.Cancel(ctx, h) }},
		{"Suspend", func(ctx context.Context, q *kubequeue.Queue, h kubequeue.Handle) error { return q.Suspend(ctx, h) }},
		{"Resume", func(ctx context.Context, q *kubequeue.Queue, h kubequeue.Handle) error { return q.Resume(ctx, h) }},
	}
	for _, c := range calls {
		for _, tt := range handles {
			t.Run(c.name+"/"+tt.name, func(t *testing.T) {
				t.Parallel()
				client, queue := setup(t)
				err := c.call(t.Context(), queue, tt.handle)
				require.ErrorIs(t, err, kubequeue.ErrInvalidHandle)
				require.ErrorContains(t, err, tt.field)
				requireNoAPICall(t, client)

				// A queue without a client reports the handle first too.
				err = c.call(t.Context(), buildQueue(t), tt.handle)
				require.ErrorIs(t, err, kubequeue.ErrInvalidHandle)
			})
		}
	}
}

// secretSetup returns a queue on a fake clientset that gives objects UIDs,
// and a worker whose payloads are sensitive.
func secretSetup(t *testing.T) (*fake.Clientset, *kubequeue.Queue, *kubequeue.Worker[greeting]) {
	t.Helper()
	queue, client := fakeQueue(t, kubequeue.WithDefaultNamespace("ns"), kubequeue.WithRetries(2))
	return client, queue, newGreeter(kubequeue.WithSensitivePayload())
}

func TestQueue_Enqueue_SensitivePayload(t *testing.T) {
	t.Parallel()
	client, queue, w := secretSetup(t)
	h, err := queue.Enqueue(t.Context(), w, greeting{Name: "s3cr3t-p4ss"})
	require.NoError(t, err)

	var verbs []string
	for _, a := range client.Actions() {
		verbs = append(verbs, a.GetVerb()+" "+a.GetResource().Resource)
	}
	require.Equal(t, []string{"create jobs", "create secrets", "patch jobs"}, verbs, "the Job suspended, its Secret, then the Job resumed")
	created := client.Actions()[0].(k8stesting.CreateAction).GetObject().(*batchv1.Job)
	require.True(t, *created.Spec.Suspend)

	job, err := client.BatchV1().Jobs("ns").Get(t.Context(), h.Name, metav1.GetOptions{})
	require.NoError(t, err)
	require.False(t, *job.Spec.Suspend, "resumed")
	data, err := json.Marshal(job)
	require.NoError(t, err)
	require.NotContains(t, string(data), "s3cr3t-p4ss", "the payload is in no Job")

	secrets, err := client.CoreV1().Secrets("ns").List(t.Context(), metav1.ListOptions{})
	require.NoError(t, err)
	require.Len(t, secrets.Items, 1)
	secret := secrets.Items[0]
	require.Regexp(t, "^"+h.Name+"-[0-9a-f]{8}$", secret.Name, "named after the Job and this Enqueue")
	require.Equal(t, secret.Name, job.Spec.Template.Spec.Volumes[0].Secret.SecretName)
	require.Equal(t, `{"name":"s3cr3t-p4ss"}`, string(secret.Data["payload.json"]))
	require.Equal(t, []metav1.OwnerReference{{APIVersion: "batch/v1", Kind: "Job", Name: h.Name, UID: h.UID}}, secret.OwnerReferences)
	require.True(t, *secret.Immutable)

	// The test kit reads it back, and performs it, as the container would.
	got, err := kubequeuetest.Enqueued(t.Context(), client, w)
	require.NoError(t, err)
	require.Equal(t, []greeting{{Name: "s3cr3t-p4ss"}}, got)
	require.NoError(t, kubequeuetest.PerformEnqueued(t.Context(), client, w))
	_, err = kubequeuetest.Perform(t.Context(), w, greeting{Name: "x"})
	require.NoError(t, err)
}

func TestQueue_Enqueue_SensitivePayloadFailures(t *testing.T) {
	t.Parallel()
	forbidden := apierrors.NewForbidden(schema.GroupResource{Resource: "secrets"}, "", errors.New("rbac says no"))
	tests := []struct {
		name     string
		verb     string
		resource string
	}{
		{"SecretRefused", "create", "secrets"},
		{"ResumeRefused", "patch", "jobs"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			client, queue, w := secretSetup(t)
			client.PrependReactor(tt.verb, tt.resource, func(k8stesting.Action) (bool, runtime.Object, error) {
				return true, nil, forbidden
			})
			h, err := queue.Enqueue(t.Context(), w, greeting{Name: "x"})
			require.Zero(t, h)
			require.True(t, apierrors.IsForbidden(err), "%v", err)
			require.ErrorContains(t, err, "(the job was deleted)")
			require.Empty(t, listJobs(t, client), "no Job is left without its payload")
			var deletes []k8stesting.DeleteAction
			for _, a := range client.Actions() {
				if d, ok := a.(k8stesting.DeleteAction); ok {
					deletes = append(deletes, d)
				}
			}
			require.Len(t, deletes, 1)
			require.Equal(t, "jobs", deletes[0].GetResource().Resource)
			require.NotNil(t, deletes[0].GetDeleteOptions().Preconditions.UID, "only the Job this Enqueue created")
			// The fake has no garbage collector: a Secret, if any was made,
			// is owned by the deleted Job (see the integration tests).
		})
	}

	// A refused Job create creates no Secret.
	client, queue, w := secretSetup(t)
	client.PrependReactor("create", "jobs", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(schema.GroupResource{Group: "batch", Resource: "jobs"}, "", errors.New("no"))
	})
	_, err := queue.Enqueue(t.Context(), w, greeting{Name: "x"})
	require.True(t, apierrors.IsForbidden(err), "%v", err)
	require.Len(t, client.Actions(), 1, "the create of the Job, nothing more")

	// A mutator that suspends the Job keeps it suspended; the annotation
	// that said the Job waits for its payload goes.
	client, queue, w = secretSetup(t)
	_, err = queue.Enqueue(t.Context(), w, greeting{}, kubequeue.WithJobMutator(func(j *batchv1.Job) { j.Spec.Suspend = ptr.To(true) }))
	require.NoError(t, err)
	job := listJobs(t, client)[0]
	require.True(t, *job.Spec.Suspend)
	require.NotContains(t, job.Annotations, kubequeue.AnnotationResume)
	patch := client.Actions()[2].(k8stesting.PatchAction)
	require.JSONEq(t, fmt.Sprintf(`{"metadata":{"uid":%q,"annotations":{%q:null}}}`, job.UID, kubequeue.AnnotationResume), string(patch.GetPatch()))
}

// apiServer is a fake clientset that acts on Jobs as an API server does
// where Enqueue depends on it, which client-go's fake does not: every write
// gives the Job a new resourceVersion, and a delete whose UID or
// resourceVersion precondition does not hold is refused with a Conflict.
type apiServer struct {
	*fake.Clientset
	rv atomic.Int64
}

var jobsGVR = batchv1.SchemeGroupVersion.WithResource("jobs")

// newAPIServer returns an apiServer and a queue on it that does not wait
// between tries.
func newAPIServer(t testing.TB, opts ...kubequeue.QueueOption) (*apiServer, *kubequeue.Queue) {
	s := &apiServer{Clientset: kubequeuetest.NewClientset()}
	s.PrependReactor("*", "jobs", s.react)
	opts = append([]kubequeue.QueueOption{kubequeue.WithDefaultNamespace("ns"), kubequeue.WithSleep(noSleep)}, opts...)
	return s, newQueue(t, s, opts...)
}

// react performs a write to a Job as the API server would; a test's
// reactor may call it to let a request take effect and then lose its
// answer.
func (s *apiServer) react(action k8stesting.Action) (bool, runtime.Object, error) {
	tracker := s.Tracker()
	switch a := action.(type) {
	case k8stesting.CreateActionImpl:
		job := a.GetObject().(*batchv1.Job).DeepCopy()
		if job.UID == "" {
			job.UID = types.UID(fmt.Sprintf("uid-%d", s.rv.Add(1)))
		}
		job.ResourceVersion = strconv.FormatInt(s.rv.Add(1), 10)
		if err := tracker.Create(jobsGVR, job, a.GetNamespace()); err != nil {
			return true, nil, err
		}
		return true, job, nil
	case k8stesting.PatchActionImpl:
		_, obj, err := k8stesting.ObjectReaction(tracker)(a)
		if err != nil {
			return true, nil, err
		}
		job := obj.(*batchv1.Job)
		job.ResourceVersion = strconv.FormatInt(s.rv.Add(1), 10)
		if err := tracker.Update(jobsGVR, job, a.GetNamespace()); err != nil {
			return true, nil, err
		}
		return true, job, nil
	case k8stesting.DeleteActionImpl:
		pre := a.DeleteOptions.Preconditions
		if pre == nil {
			return false, nil, nil
		}
		obj, err := tracker.Get(jobsGVR, a.GetNamespace(), a.GetName())
		if err != nil {
			return true, nil, err
		}
		job := obj.(*batchv1.Job)
		if (pre.UID != nil && *pre.UID != job.UID) || (pre.ResourceVersion != nil && *pre.ResourceVersion != job.ResourceVersion) {
			return true, nil, apierrors.NewConflict(clJobsResource, job.Name, errors.New("precondition failed"))
		}
	}
	return false, nil, nil
}

// job returns the Job named name in namespace ns.
func (s *apiServer) job(t *testing.T, name string) *batchv1.Job {
	t.Helper()
	job, err := s.BatchV1().Jobs("ns").Get(context.Background(), name, metav1.GetOptions{})
	require.NoError(t, err)
	return job
}

// failAlways makes every call of verb on resource fail with err.
func failAlways(client *fake.Clientset, verb, resource string, err error) {
	client.PrependReactor(verb, resource, func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, err
	})
}

// failTimes makes the next n calls of verb on resource fail with err.
func failTimes(client *fake.Clientset, verb, resource string, n int, err error) {
	var calls atomic.Int64
	client.PrependReactor(verb, resource, func(k8stesting.Action) (bool, runtime.Object, error) {
		if calls.Add(1) > int64(n) {
			return false, nil, nil
		}
		return true, nil, err
	})
}

// failWhile makes every call of verb on resource fail with err while on
// holds.
func failWhile(client *fake.Clientset, verb, resource string, on *atomic.Bool, err error) {
	client.PrependReactor(verb, resource, func(k8stesting.Action) (bool, runtime.Object, error) {
		return on.Load(), nil, err
	})
}

// deletes returns the deletes of Jobs client saw.
func deletes(client *fake.Clientset) []k8stesting.DeleteActionImpl {
	var out []k8stesting.DeleteActionImpl
	for _, a := range client.Actions() {
		if d, ok := a.(k8stesting.DeleteActionImpl); ok && d.GetResource().Resource == "jobs" {
			out = append(out, d)
		}
	}
	return out
}

var (
	errSecretsForbidden = apierrors.NewForbidden(schema.GroupResource{Resource: "secrets"}, "", errors.New("rbac says no"))
	errBusy             = apierrors.NewTooManyRequests("slow down", 0)
	errDown             = apierrors.NewServiceUnavailable("the API server is restarting")
	errAnswerLost       = postErr(errors.New("http2: client connection lost"))
)

// TestQueue_Enqueue_Undo: a Job whose payload Secret could not be stored
// is deleted, the delete tried again like any request; when even that
// fails, the error says the Job may exist and names it.
func TestQueue_Enqueue_Undo(t *testing.T) {
	t.Parallel()
	w := newGreeter(kubequeue.WithSensitivePayload())

	t.Run("DeleteBusyOnce", func(t *testing.T) {
		t.Parallel()
		s, queue := newAPIServer(t)
		failAlways(s.Clientset, "create", "secrets", errSecretsForbidden)
		failTimes(s.Clientset, "delete", "jobs", 1, errBusy)
		h, err := queue.Enqueue(t.Context(), w, greeting{Name: "x"})
		require.Zero(t, h)
		require.True(t, apierrors.IsForbidden(err), "%v", err)
		require.ErrorContains(t, err, "(the job was deleted)")
		require.NotErrorIs(t, err, kubequeue.ErrMaybeEnqueued)
		require.Empty(t, listJobs(t, s.Clientset))
		require.Len(t, deletes(s.Clientset), 2, "the delete answered 429 is tried again")
	})

	t.Run("DeleteFails", func(t *testing.T) {
		t.Parallel()
		s, queue := newAPIServer(t, kubequeue.WithRetries(3))
		failAlways(s.Clientset, "create", "secrets", errSecretsForbidden)
		failAlways(s.Clientset, "delete", "jobs", errDown)
		h, err := queue.Enqueue(t.Context(), w, greeting{Name: "x"})
		require.ErrorIs(t, err, kubequeue.ErrMaybeEnqueued)
		require.True(t, apierrors.IsForbidden(err), "the cause is kept: %v", err)
		require.ErrorIs(t, err, errDown)
		require.Len(t, deletes(s.Clientset), 3, "tried as often as any request")
		job := s.job(t, h.Name)
		require.Equal(t, job.UID, h.UID, "the handle names the Job left")
		require.Equal(t, "greet", h.Worker)
		require.True(t, *job.Spec.Suspend, "it never started")
	})
}

// TestQueue_Enqueue_FinishesPendingJob: a Job of a unique key that an
// earlier Enqueue left waiting for its payload (its Secret refused and its
// delete failed, or its create's answer lost and the look-up failed) is
// finished by the next Enqueue of the key, which stores its own payload
// and starts it: no Job of a key is left that neither runs nor goes away.
func TestQueue_Enqueue_FinishesPendingJob(t *testing.T) {
	t.Parallel()
	sensitive := newGreeter(kubequeue.WithSensitivePayload())
	key := kubequeue.WithUniqueKey("order-42")
	// Each leaves a pending Job while outage holds.
	leave := map[string]func(t *testing.T, s *apiServer, queue *kubequeue.Queue, outage *atomic.Bool) kubequeue.Handle{
		"SecretRefusedDeleteFailed": func(t *testing.T, s *apiServer, queue *kubequeue.Queue, outage *atomic.Bool) kubequeue.Handle {
			failWhile(s.Clientset, "create", "secrets", outage, errSecretsForbidden)
			failWhile(s.Clientset, "delete", "jobs", outage, errDown)
			h, err := queue.Enqueue(t.Context(), sensitive, greeting{Name: "first"}, key)
			require.ErrorIs(t, err, kubequeue.ErrMaybeEnqueued)
			return h
		},
		"CreateLostLookupFailed": func(t *testing.T, s *apiServer, queue *kubequeue.Queue, outage *atomic.Bool) kubequeue.Handle {
			var stored atomic.Bool
			s.PrependReactor("create", "jobs", func(action k8stesting.Action) (bool, runtime.Object, error) {
				if !outage.Load() {
					return false, nil, nil
				}
				if !stored.Swap(true) {
					s.react(action)
				}
				return true, nil, errAnswerLost
			})
			failWhile(s.Clientset, "get", "jobs", outage, errDown)
			h, err := queue.Enqueue(t.Context(), sensitive, greeting{Name: "first"}, key)
			require.ErrorIs(t, err, kubequeue.ErrMaybeEnqueued)
			return h
		},
	}
	for name, leave := range leave {
		for _, second := range []*kubequeue.Worker[greeting]{sensitive, newGreeter()} {
			t.Run(name+"/"+map[bool]string{true: "Secret", false: "Env"}[second == sensitive], func(t *testing.T) {
				t.Parallel()
				s, queue := newAPIServer(t, kubequeue.WithRetries(3))
				var outage atomic.Bool
				outage.Store(true)
				left := leave(t, s, queue, &outage)
				outage.Store(false)
				job := s.job(t, left.Name)
				require.True(t, *job.Spec.Suspend)
				require.Contains(t, job.Annotations, kubequeue.AnnotationResume, "waiting for its payload")

				// The API server works again; the next Enqueue of the key
				// finishes the Job with its own payload.
				h, err := queue.Enqueue(t.Context(), second, greeting{Name: "second"}, key)
				require.NoError(t, err)
				require.Equal(t, job.UID, h.UID, "the Job of the key")
				requireOneRunningJob(t, s.Clientset, h)
				got, err := kubequeuetest.Enqueued(t.Context(), s.Clientset, sensitive)
				require.NoError(t, err)
				require.Equal(t, []greeting{{Name: "second"}}, got)
			})
		}
	}
}

// TestQueue_Enqueue_NeverDeletesStartedJob: when the resume's answer is
// lost, Enqueue never deletes the Job, which may run: a delete conditional
// on the Job not having changed is refused, and Enqueue returns the Job if
// it can read it, or an error that says it may exist and run.
func TestQueue_Enqueue_NeverDeletesStartedJob(t *testing.T) {
	t.Parallel()
	w := newGreeter(kubequeue.WithSensitivePayload())
	resumeThenLose := func(s *apiServer) {
		s.PrependReactor("patch", "jobs", func(action k8stesting.Action) (bool, runtime.Object, error) {
			s.react(action)
			return true, nil, errAnswerLost
		})
	}

	t.Run("JobReadable", func(t *testing.T) {
		t.Parallel()
		s, queue := newAPIServer(t, kubequeue.WithRetries(3))
		resumeThenLose(s)
		h, err := queue.Enqueue(t.Context(), w, greeting{Name: "x"})
		require.NoError(t, err, "the Job was resumed: it runs, and is Enqueue's")
		requireOneRunningJob(t, s.Clientset, h)
	})

	t.Run("JobUnreadable", func(t *testing.T) {
		t.Parallel()
		s, queue := newAPIServer(t, kubequeue.WithRetries(3))
		resumeThenLose(s)
		failAlways(s.Clientset, "get", "jobs", errDown)
		h, err := queue.Enqueue(t.Context(), w, greeting{Name: "x"})
		require.ErrorIs(t, err, kubequeue.ErrMaybeEnqueued, "it may run: not reported as not enqueued")
		require.ErrorIs(t, err, errAnswerLost)
		requireOneRunningJob(t, s.Clientset, h)
		for _, d := range deletes(s.Clientset) {
			require.NotNil(t, d.DeleteOptions.Preconditions.ResourceVersion, "conditional on the Job as last seen")
		}
	})

	// Another Enqueue of the same key finishes the Job while this one,
	// its Secret refused, is deleting it: the Job runs, and is returned,
	// not deleted. The other Enqueue runs while this one waits to try its
	// delete again.
	t.Run("FinishedByAnother", func(t *testing.T) {
		t.Parallel()
		s, other := newAPIServer(t)
		key := kubequeue.WithUniqueKey("order-42")
		s.PrependReactor("create", "secrets", func(action k8stesting.Action) (bool, runtime.Object, error) {
			if string(action.(k8stesting.CreateAction).GetObject().(*corev1.Secret).Data["payload.json"]) == `{"name":"this"}` {
				return true, nil, errSecretsForbidden // this Enqueue's only
			}
			return false, nil, nil
		})
		failTimes(s.Clientset, "delete", "jobs", 1, errBusy)
		var otherErr error
		queue := newQueue(t, s.Clientset, kubequeue.WithDefaultNamespace("ns"), kubequeue.WithSleep(func(ctx context.Context, _ time.Duration) error {
			_, otherErr = other.Enqueue(ctx, w, greeting{Name: "other"}, key)
			return nil
		}))
		h, err := queue.Enqueue(t.Context(), w, greeting{Name: "this"}, key)
		require.NoError(t, otherErr)
		require.NoError(t, err, "the Job of the key runs")
		requireOneRunningJob(t, s.Clientset, h)
		got, err := kubequeuetest.Enqueued(t.Context(), s.Clientset, w)
		require.NoError(t, err)
		require.Equal(t, []greeting{{Name: "other"}}, got)
	})
}

// TestQueue_Enqueue_UniqueKeyOverlap: two Enqueues of a key whose payload
// travels in a Secret overlap: the second finds the Job waiting for its
// payload and finishes it with its own; the first then finds the Secret
// there and starts the Job too. Both return the one Job, which runs with
// the payload of the call that stored its Secret first.
func TestQueue_Enqueue_UniqueKeyOverlap(t *testing.T) {
	t.Parallel()
	w := newGreeter(kubequeue.WithSensitivePayload())
	key := kubequeue.WithUniqueKey("order-42")
	s, second := newAPIServer(t)
	failTimes(s.Clientset, "create", "secrets", 1, errDown)
	var h2 kubequeue.Handle
	var err2 error
	first := newQueue(t, s.Clientset, kubequeue.WithDefaultNamespace("ns"), kubequeue.WithSleep(func(ctx context.Context, _ time.Duration) error {
		h2, err2 = second.Enqueue(ctx, w, greeting{Name: "second"}, key)
		return nil
	}))
	h1, err := first.Enqueue(t.Context(), w, greeting{Name: "first"}, key)
	require.NoError(t, err)
	require.NoError(t, err2)
	require.Equal(t, h1, h2)
	requireOneRunningJob(t, s.Clientset, h1)
	got, err := kubequeuetest.Enqueued(t.Context(), s.Clientset, w)
	require.NoError(t, err)
	require.Equal(t, []greeting{{Name: "second"}}, got)
}

// TestQueue_Enqueue_UniqueKeyUserSuspended: a Job of a unique key with its
// payload in a Secret that its user suspended after Enqueue started it is
// returned by the next Enqueue of the key, and stays suspended.
func TestQueue_Enqueue_UniqueKeyUserSuspended(t *testing.T) {
	t.Parallel()
	for _, sensitive := range []bool{false, true} {
		t.Run(map[bool]string{false: "Env", true: "Secret"}[sensitive], func(t *testing.T) {
			t.Parallel()
			s, queue := newAPIServer(t)
			opts := append(sensitivity(sensitive), kubequeue.WithUniqueKey("order-42"))
			first, err := queue.Enqueue(t.Context(), newGreeter(), greeting{Name: "a"}, opts...)
			require.NoError(t, err)
			require.NotContains(t, s.job(t, first.Name).Annotations, kubequeue.AnnotationResume, "removed once started")
			require.NoError(t, queue.Suspend(t.Context(), first))
			again, err := queue.Enqueue(t.Context(), newGreeter(), greeting{Name: "b"}, opts...)
			require.NoError(t, err)
			require.Equal(t, first, again)
			require.True(t, *s.job(t, first.Name).Spec.Suspend, "the user's suspension stands")
		})
	}
}

// TestQueue_Enqueue_UniqueKeyBeingDeleted: a Job of the key that is being
// deleted is not returned.
func TestQueue_Enqueue_UniqueKeyBeingDeleted(t *testing.T) {
	t.Parallel()
	s, queue := newAPIServer(t)
	h, err := queue.Enqueue(t.Context(), newGreeter(), greeting{}, kubequeue.WithUniqueKey("order-42"))
	require.NoError(t, err)
	job := s.job(t, h.Name)
	job.DeletionTimestamp = ptr.To(metav1.Now())
	require.NoError(t, s.Tracker().Update(jobsGVR, job, "ns"))
	_, err = queue.Enqueue(t.Context(), newGreeter(), greeting{}, kubequeue.WithUniqueKey("order-42"))
	require.True(t, apierrors.IsAlreadyExists(err), "%v", err)
	require.ErrorContains(t, err, "being deleted")
}

// TestQueue_Enqueue_Context: an Enqueue whose context has ended makes no
// API call; a create cut short by the context is looked up, since the
// server may have stored it.
func TestQueue_Enqueue_Context(t *testing.T) {
	t.Parallel()

	t.Run("EndedBefore", func(t *testing.T) {
		t.Parallel()
		client, queue := setup(t)
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		h, err := queue.Enqueue(ctx, newGreeter(), greeting{})
		require.ErrorIs(t, err, context.Canceled)
		require.Zero(t, h)
		requireNoAPICall(t, client)
	})

	for _, sensitive := range []bool{false, true} {
		t.Run("EndsDuringCreate/"+map[bool]string{false: "Env", true: "Secret"}[sensitive], func(t *testing.T) {
			t.Parallel()
			s, queue := newAPIServer(t)
			ctx, cancel := context.WithCancel(t.Context())
			s.PrependReactor("create", "jobs", func(action k8stesting.Action) (bool, runtime.Object, error) {
				s.react(action) // stored, as the caller gives up
				cancel()
				return true, nil, postErr(context.Canceled)
			})
			h, err := queue.Enqueue(ctx, newGreeter(), greeting{Name: "x"}, sensitivity(sensitive)...)
			if !sensitive {
				require.NoError(t, err, "the Job exists and may run: it is the caller's")
				requireOneRunningJob(t, s.Clientset, h)
				return
			}
			// Its payload cannot be stored any more: the Job, which never
			// started, is deleted.
			require.ErrorIs(t, err, context.Canceled)
			require.ErrorContains(t, err, "(the job was deleted)")
			require.Zero(t, h)
			require.Empty(t, listJobs(t, s.Clientset))
		})
	}
}

// TestQueue_Enqueue_AnswersLost covers the remaining answers that come back
// wrong or not at all between the Job's create and its resume.
func TestQueue_Enqueue_AnswersLost(t *testing.T) {
	t.Parallel()

	t.Run("GetAfterAlreadyExistsFails", func(t *testing.T) {
		t.Parallel()
		queue, client := fakeQueue(t, kubequeue.WithRetries(2), kubequeue.WithSleep(noSleep))
		failAlways(client, "create", "jobs", apierrors.NewAlreadyExists(clJobsResource, "x"))
		failAlways(client, "get", "jobs", errDown)
		_, err := queue.Enqueue(t.Context(), newGreeter(), greeting{})
		require.True(t, apierrors.IsServiceUnavailable(err), "%v", err)
		require.False(t, apierrors.IsAlreadyExists(err), "the Job may be the caller's: not reported as taken")
	})

	t.Run("SecretAnswerLost", func(t *testing.T) {
		t.Parallel()
		queue, client := fakeQueue(t, kubequeue.WithRetries(3), kubequeue.WithSleep(noSleep))
		var lost atomic.Bool
		client.PrependReactor("create", "secrets", func(action k8stesting.Action) (bool, runtime.Object, error) {
			if lost.Swap(true) {
				return false, nil, nil // the fake answers AlreadyExists
			}
			obj := action.(k8stesting.CreateAction).GetObject()
			require.NoError(t, client.Tracker().Create(action.GetResource(), obj, action.GetNamespace()))
			return true, nil, errAnswerLost
		})
		w := newGreeter(kubequeue.WithSensitivePayload())
		h, err := queue.Enqueue(t.Context(), w, greeting{Name: "x"})
		require.NoError(t, err, "the Secret of this Enqueue's name is its own")
		requireOneRunningJob(t, client, h)
		got, err := kubequeuetest.Enqueued(t.Context(), client, w)
		require.NoError(t, err)
		require.Equal(t, []greeting{{Name: "x"}}, got)
	})

	t.Run("JobDeletedBeforeResume", func(t *testing.T) {
		t.Parallel()
		s, queue := newAPIServer(t)
		failAlways(s.Clientset, "patch", "jobs", apierrors.NewNotFound(clJobsResource, "x"))
		h, err := queue.Enqueue(t.Context(), newGreeter(kubequeue.WithSensitivePayload()), greeting{})
		require.Zero(t, h)
		require.True(t, apierrors.IsNotFound(err), "%v", err)
		require.ErrorContains(t, err, "deleted before it started")
		require.NotErrorIs(t, err, kubequeue.ErrMaybeEnqueued)
		require.Empty(t, deletes(s.Clientset), "nothing to undo")
	})
}
