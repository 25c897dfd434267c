package kubequeue_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilrand "k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/kubequeue/kubequeue"
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
	require.Equal(t, want.Annotations, got.Annotations)

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

var errTransport = errors.New("dial tcp 127.0.0.1:6443: connect: connection refused")

func TestQueue_Enqueue_APIErrors(t *testing.T) {
	t.Parallel()
	jobs := schema.GroupResource{Group: "batch", Resource: "jobs"}
	tests := []struct {
		name  string
		err   error
		check func(error) bool
	}{
		{"AlreadyExists", apierrors.NewAlreadyExists(jobs, "greet-x"), apierrors.IsAlreadyExists},
		{"Forbidden", apierrors.NewForbidden(jobs, "", errors.New("rbac says no")), apierrors.IsForbidden},
		{"Invalid", apierrors.NewInvalid(schema.GroupKind{Group: "batch", Kind: "Job"}, "greet-x", nil), apierrors.IsInvalid},
		{"Timeout", apierrors.NewServerTimeout(jobs, "create", 1), apierrors.IsServerTimeout},
		{"TooManyRequests", apierrors.NewTooManyRequests("slow down", 2), apierrors.IsTooManyRequests},
		{"InternalError", apierrors.NewInternalError(errors.New("etcd")), apierrors.IsInternalError},
		{"Transport", errTransport, func(err error) bool { return errors.Is(err, errTransport) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			client, queue := setup(t)
			client.PrependReactor("create", "jobs", func(k8stesting.Action) (bool, runtime.Object, error) {
				return true, nil, tt.err
			})
			handle, err := queue.Enqueue(t.Context(), newGreeter(), greeting{Name: "x"}, kubequeue.WithNamespace("ns1"))
			require.Error(t, err)
			require.ErrorIs(t, err, tt.err)
			require.True(t, tt.check(err), "error %v lost its API type", err)
			require.Contains(t, err.Error(), "kubequeue: create job ns1/greet-")
			require.Zero(t, handle)
			require.Len(t, client.Actions(), 1, "one create, no retry and no clean-up call")
			require.Empty(t, listJobs(t, client), "a failed Enqueue must leave nothing behind")
		})
	}
}

// TestQueue_Enqueue_AmbiguousFailure pins down what Enqueue documents: a
// timeout may come after the server stored the Job, and a retry with a
// generated name then makes a second Job, while a retry with WithJobName
// gets AlreadyExists.
func TestQueue_Enqueue_AmbiguousFailure(t *testing.T) {
	t.Parallel()
	client, queue := setup(t)
	timeouts := 1
	client.PrependReactor("create", "jobs", func(action k8stesting.Action) (bool, runtime.Object, error) {
		if timeouts == 0 {
			return false, nil, nil
		}
		timeouts--
		job := action.(k8stesting.CreateAction).GetObject().(*batchv1.Job)
		require.NoError(t, client.Tracker().Create(action.GetResource(), job, job.Namespace))
		return true, nil, apierrors.NewTimeoutError("response lost", 1)
	})

	_, err := queue.Enqueue(t.Context(), newGreeter(), greeting{}, kubequeue.WithJobName("order-42"))
	require.True(t, apierrors.IsTimeout(err), "got %v", err)
	require.Len(t, listJobs(t, client), 1, "the Job exists although Enqueue failed")

	_, err = queue.Enqueue(t.Context(), newGreeter(), greeting{}, kubequeue.WithJobName("order-42"))
	require.True(t, apierrors.IsAlreadyExists(err), "a named retry must not make a second Job; got %v", err)
	require.Len(t, listJobs(t, client), 1)
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
