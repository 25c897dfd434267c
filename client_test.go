package kubequeue_test

import (
	"context"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strings"
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
	utilrand "k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/utils/ptr"

	"github.com/kubequeue/kubequeue"
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
	return client, kubequeue.New(client, opts...)
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

func TestQueue_Enqueue_APIErrors(t *testing.T) {
	t.Parallel()
	jobs := schema.GroupResource{Group: "batch", Resource: "jobs"}
	tests := []struct {
		name    string
		err     error
		check   func(error) bool
		creates int // with WithRetries(3)
	}{
		{"Forbidden", apierrors.NewForbidden(jobs, "", errors.New("rbac says no")), apierrors.IsForbidden, 1},
		{"Invalid", apierrors.NewInvalid(schema.GroupKind{Group: "batch", Kind: "Job"}, "greet-x", nil), apierrors.IsInvalid, 1},
		{"BadRequest", apierrors.NewBadRequest("no"), apierrors.IsBadRequest, 1},
		// Errors that say to try again are retried.
		{"Timeout", apierrors.NewServerTimeout(jobs, "create", 0), apierrors.IsServerTimeout, 3},
		{"TooManyRequests", apierrors.NewTooManyRequests("slow down", 0), apierrors.IsTooManyRequests, 3},
		{"InternalError", apierrors.NewInternalError(errors.New("etcd")), apierrors.IsInternalError, 3},
		{"ServiceUnavailable", apierrors.NewServiceUnavailable("restarting"), apierrors.IsServiceUnavailable, 3},
		{"Transport", errTransport, func(err error) bool { return errors.Is(err, errTransport) }, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			client, queue := setup(t, kubequeue.WithRetries(3))
			client.PrependReactor("create", "jobs", func(k8stesting.Action) (bool, runtime.Object, error) {
				return true, nil, tt.err
			})
			handle, err := queue.Enqueue(t.Context(), newGreeter(), greeting{Name: "x"}, kubequeue.WithNamespace("ns1"))
			require.Error(t, err)
			require.ErrorIs(t, err, tt.err)
			require.True(t, tt.check(err), "error %v lost its API type", err)
			require.Contains(t, err.Error(), "kubequeue: create job ns1/greet-")
			require.Zero(t, handle)
			// After a create that may have been stored unseen, one get
			// makes sure that no Job was created.
			wantActions := tt.creates
			if tt.creates > 1 {
				wantActions++
			}
			require.Len(t, client.Actions(), wantActions, "creates, the get, and no clean-up call")
			require.Empty(t, listJobs(t, client), "a failed Enqueue must leave nothing behind")
		})
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

	// Another process derives the same name from the same key.
	_, elsewhere := setup(t, kubequeue.WithRandSource(rand.NewPCG(7, 7)))
	built, err := elsewhere.Build(w, greeting{}, kubequeue.WithUniqueKey("order-42"))
	require.NoError(t, err)
	require.Equal(t, first.Name, built.Name)

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
			queue := kubequeue.New(client, tt.opts...)
			_, err := queue.Build(newGreeter(), greeting{})
			require.ErrorIs(t, err, kubequeue.ErrInvalidOption)
			var verr *kubequeue.ValidationError
			require.ErrorAs(t, err, &verr)
			require.Equal(t, tt.field, verr.Field)
			_, err = queue.Enqueue(t.Context(), newGreeter(), greeting{})
			require.ErrorIs(t, err, kubequeue.ErrInvalidOption)
			requireNoAPICall(t, client)
		})
	}
}

func TestNew_NilClientset(t *testing.T) {
	t.Parallel()
	var cs *kubernetes.Clientset // as left by a failed NewClientset
	_, err := kubequeue.New(cs).Enqueue(t.Context(), newGreeter(), greeting{})
	require.ErrorIs(t, err, kubequeue.ErrNoClient)
}

func TestQueue_Enqueue_InvalidInputMakesNoCall(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		job     kubequeue.Job
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

func TestQueue_Enqueue_NoClient(t *testing.T) {
	t.Parallel()
	_, err := kubequeue.New(nil).Enqueue(t.Context(), newGreeter(), greeting{})
	require.ErrorIs(t, err, kubequeue.ErrNoClient)
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
		queue := kubequeue.New(fake.NewClientset())
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
		template, err := kubequeue.New(nil).Build(w, greeting{Name: "Ada"})
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

	t.Run("NoClient", func(t *testing.T) {
		t.Parallel()
		_, err := kubequeue.New(nil).Get(t.Context(), clHandle)
		require.ErrorIs(t, err, kubequeue.ErrNoClient)
	})
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

	t.Run("NoClient", func(t *testing.T) {
		t.Parallel()
		require.ErrorIs(t, kubequeue.New(nil).Cancel(t.Context(), clHandle), kubequeue.ErrNoClient)
	})
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

	t.Run("NoClient", func(t *testing.T) {
		t.Parallel()
		require.ErrorIs(t, kubequeue.New(nil).Suspend(t.Context(), clHandle), kubequeue.ErrNoClient)
		require.ErrorIs(t, kubequeue.New(nil).Resume(t.Context(), clHandle), kubequeue.ErrNoClient)
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
				err = c.call(t.Context(), kubequeue.New(nil), tt.handle)
				require.ErrorIs(t, err, kubequeue.ErrInvalidHandle)
			})
		}
	}
}

// secretSetup returns a queue on a fake clientset that gives objects UIDs,
// and a worker whose payloads are sensitive.
func secretSetup(t *testing.T) (*fake.Clientset, *kubequeue.Queue, *kubequeue.Worker[greeting]) {
	t.Helper()
	queue, client := kubequeuetest.NewQueue(kubequeue.WithDefaultNamespace("ns"), kubequeue.WithRetries(2))
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

	// A mutator that suspends the Job keeps it suspended.
	client, queue, w = secretSetup(t)
	_, err = queue.Enqueue(t.Context(), w, greeting{}, kubequeue.WithJobMutator(func(j *batchv1.Job) { j.Spec.Suspend = ptr.To(true) }))
	require.NoError(t, err)
	require.True(t, *listJobs(t, client)[0].Spec.Suspend)
	for _, a := range client.Actions() {
		require.NotEqual(t, "patch", a.GetVerb())
	}
}

// TestQueue_Enqueue_LostThenFailed: the first create is stored but its
// answer lost, and every later try fails. Enqueue looks the Job up: a Job
// that runs is the caller's, and returned; a Job that waits for its payload
// Secret is deleted, so that nothing is left half made.
func TestQueue_Enqueue_LostThenFailed(t *testing.T) {
	t.Parallel()
	for _, sensitive := range []bool{false, true} {
		queue, client := kubequeuetest.NewQueue(kubequeue.WithDefaultNamespace("ns"), kubequeue.WithRetries(2))
		stored := false
		client.PrependReactor("create", "jobs", func(action k8stesting.Action) (bool, runtime.Object, error) {
			if !stored {
				stored = true
				job := action.(k8stesting.CreateAction).GetObject().(*batchv1.Job).DeepCopy()
				job.UID = "uid-of-the-lost-create"
				require.NoError(t, client.Tracker().Create(action.GetResource(), job, job.Namespace))
			}
			return true, nil, apierrors.NewTimeoutError("answer lost", 0)
		})
		var opts []kubequeue.EnqueueOption
		if sensitive {
			opts = append(opts, kubequeue.WithSensitivePayload())
		}
		h, err := queue.Enqueue(t.Context(), newGreeter(), greeting{Name: "x"}, opts...)
		if !sensitive {
			require.NoError(t, err)
			require.Equal(t, types.UID("uid-of-the-lost-create"), h.UID, "the Job the lost create made")
			require.Len(t, listJobs(t, client), 1)
			continue
		}
		require.True(t, apierrors.IsTimeout(err), "%v", err)
		require.ErrorContains(t, err, "(the job was deleted)")
		require.Empty(t, listJobs(t, client), "no Job is left waiting for a Secret")
	}
}

// TestQueue_Enqueue_UniqueKeyNotStarted: a Job of the same unique key that
// another Enqueue has not started yet (its payload Secret is being made), or
// that is being deleted, is not returned as a success.
func TestQueue_Enqueue_UniqueKeyNotStarted(t *testing.T) {
	t.Parallel()
	queue, client := kubequeuetest.NewQueue(kubequeue.WithDefaultNamespace("ns"))
	w := newGreeter(kubequeue.WithSensitivePayload())
	client.PrependReactor("create", "secrets", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: "secrets"}, "", errors.New("no"))
	})
	client.PrependReactor("delete", "jobs", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewInternalError(errors.New("undo fails too"))
	})
	_, err := queue.Enqueue(t.Context(), w, greeting{}, kubequeue.WithUniqueKey("order-42"))
	require.ErrorContains(t, err, "deleting the suspended job failed too")

	_, err = queue.Enqueue(t.Context(), w, greeting{}, kubequeue.WithUniqueKey("order-42"))
	require.True(t, apierrors.IsAlreadyExists(err), "%v", err)
	require.ErrorContains(t, err, "not started yet")

	job := listJobs(t, client)[0]
	job.DeletionTimestamp = ptr.To(metav1.Now())
	require.NoError(t, client.Tracker().Update(batchv1.SchemeGroupVersion.WithResource("jobs"), &job, "ns"))
	_, err = queue.Enqueue(t.Context(), newGreeter(), greeting{}, kubequeue.WithUniqueKey("order-42"))
	require.ErrorContains(t, err, "being deleted")
}

// TestQueue_Enqueue_ReviewCases covers the answers that come back wrong or
// not at all between the Job's create and its resume.
func TestQueue_Enqueue_ReviewCases(t *testing.T) {
	t.Parallel()
	jobsGR := schema.GroupResource{Group: "batch", Resource: "jobs"}

	t.Run("GetAfterAlreadyExistsFails", func(t *testing.T) {
		t.Parallel()
		queue, client := kubequeuetest.NewQueue(kubequeue.WithRetries(2))
		client.PrependReactor("create", "jobs", func(k8stesting.Action) (bool, runtime.Object, error) {
			return true, nil, apierrors.NewAlreadyExists(jobsGR, "x")
		})
		client.PrependReactor("get", "jobs", func(k8stesting.Action) (bool, runtime.Object, error) {
			return true, nil, apierrors.NewServiceUnavailable("busy")
		})
		_, err := queue.Enqueue(t.Context(), newGreeter(), greeting{})
		require.True(t, apierrors.IsServiceUnavailable(err), "%v", err)
		require.False(t, apierrors.IsAlreadyExists(err), "the Job may be the caller's: not reported as taken")
	})

	t.Run("ResumeAnswerLost", func(t *testing.T) {
		t.Parallel()
		queue, client := kubequeuetest.NewQueue(kubequeue.WithRetries(2))
		client.PrependReactor("patch", "jobs", func(action k8stesting.Action) (bool, runtime.Object, error) {
			p := action.(k8stesting.PatchAction)
			job, err := client.Tracker().Get(p.GetResource(), p.GetNamespace(), p.GetName())
			require.NoError(t, err)
			j := job.(*batchv1.Job)
			j.Spec.Suspend = ptr.To(false)
			require.NoError(t, client.Tracker().Update(p.GetResource(), j, p.GetNamespace()))
			return true, nil, apierrors.NewTimeoutError("answer lost", 0)
		})
		h, err := queue.Enqueue(t.Context(), newGreeter(kubequeue.WithSensitivePayload()), greeting{})
		require.NoError(t, err, "the Job was resumed: it runs, and is not undone")
		job, err := client.BatchV1().Jobs(h.Namespace).Get(t.Context(), h.Name, metav1.GetOptions{})
		require.NoError(t, err)
		require.False(t, *job.Spec.Suspend)
	})

	t.Run("SecretAnswerLost", func(t *testing.T) {
		t.Parallel()
		queue, client := kubequeuetest.NewQueue(kubequeue.WithRetries(3))
		lost := false
		client.PrependReactor("create", "secrets", func(action k8stesting.Action) (bool, runtime.Object, error) {
			if lost {
				return false, nil, nil // the fake answers AlreadyExists
			}
			lost = true
			obj := action.(k8stesting.CreateAction).GetObject()
			require.NoError(t, client.Tracker().Create(action.GetResource(), obj, action.GetNamespace()))
			return true, nil, apierrors.NewTimeoutError("answer lost", 0)
		})
		h, err := queue.Enqueue(t.Context(), newGreeter(kubequeue.WithSensitivePayload()), greeting{Name: "x"})
		require.NoError(t, err, "the Secret of this Enqueue's name is its own")
		got, err := kubequeuetest.Enqueued(t.Context(), client, newGreeter(kubequeue.WithSensitivePayload()))
		require.NoError(t, err)
		require.Equal(t, []greeting{{Name: "x"}}, got)
		require.NotEmpty(t, h.UID)
	})
}
