// The fixtures shared by the package's tests: queues, workers, Job
// inspection and the fixed time of fake objects.

package kubequeue_test

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/kubequeue/kubequeue"
	"github.com/kubequeue/kubequeue/kubequeuetest"
)

// newQueue returns kubequeue.New(client, opts...) and requires success.
func newQueue(t testing.TB, client kubernetes.Interface, opts ...kubequeue.QueueOption) *kubequeue.Queue {
	t.Helper()
	queue, err := kubequeue.New(client, opts...)
	require.NoError(t, err)
	return queue
}

// buildQueue returns a queue on a fake clientset of its own, for tests that
// only build Jobs.
func buildQueue(t testing.TB, opts ...kubequeue.QueueOption) *kubequeue.Queue {
	t.Helper()
	return newQueue(t, fake.NewClientset(), opts...)
}

// fakeQueue returns kubequeuetest.NewQueue(opts...) and requires success.
func fakeQueue(t testing.TB, opts ...kubequeue.QueueOption) (*kubequeue.Queue, *fake.Clientset) {
	t.Helper()
	queue, client, err := kubequeuetest.NewQueue(opts...)
	require.NoError(t, err)
	return queue, client
}

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

// setupWith returns a fake clientset that holds objects, with no action
// recorded, and a queue on it with reproducible names.
func setupWith(t *testing.T, objects ...runtime.Object) (*fake.Clientset, *kubequeue.Queue) {
	t.Helper()
	client, queue := setup(t)
	for _, obj := range objects {
		require.NoError(t, client.Tracker().Add(obj))
	}
	return client, queue
}

func listJobs(t *testing.T, client *fake.Clientset) []batchv1.Job {
	t.Helper()
	list, err := client.BatchV1().Jobs(metav1.NamespaceAll).List(t.Context(), metav1.ListOptions{})
	require.NoError(t, err)
	return list.Items
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

// resizeArgs is the payload type of the workers in this file.
type resizeArgs struct {
	ID   int    `json:"id"`
	Note string `json:"note,omitempty"`
}

// otherArgs is a payload type no worker in this file takes.
type otherArgs struct {
	ID int `json:"id"`
}

func performResize(context.Context, resizeArgs) error { return nil }

const (
	resizeName = "resize"
	testImage  = "registry.example.com/team/app:v1.2.3"
	testDigest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
)

// resizeWorker declares a valid worker named resizeName with testImage and opts.
func resizeWorker(t *testing.T, opts ...kubequeue.WorkerOption) *kubequeue.Worker[resizeArgs] {
	t.Helper()
	all := append([]kubequeue.WorkerOption{kubequeue.WithImage(testImage)}, opts...)
	w := kubequeue.NewWorker(resizeName, performResize, all...)
	require.NoError(t, w.Validate())
	return w
}

// containerOf returns the Job's only container.
func containerOf(t *testing.T, job *batchv1.Job) corev1.Container {
	t.Helper()
	require.Len(t, job.Spec.Template.Spec.Containers, 1)
	return job.Spec.Template.Spec.Containers[0]
}

// envOf returns the value of the container's variable name, which must be
// set with a plain value.
func envOf(t *testing.T, job *batchv1.Job, name string) string {
	t.Helper()
	for _, e := range containerOf(t, job).Env {
		if e.Name == name {
			require.Nil(t, e.ValueFrom, "variable %s", name)
			return e.Value
		}
	}
	require.FailNow(t, "variable not set", "no %s in the container's environment", name)
	return ""
}

// userEnvOf returns the container's variables after KUBEQUEUE_WORKER and
// KUBEQUEUE_PAYLOAD, which it requires to come first.
func userEnvOf(t *testing.T, job *batchv1.Job) []corev1.EnvVar {
	t.Helper()
	env := containerOf(t, job).Env
	require.GreaterOrEqual(t, len(env), 2)
	require.Equal(t, "KUBEQUEUE_WORKER", env[0].Name)
	require.Equal(t, "KUBEQUEUE_PAYLOAD", env[1].Name)
	require.GreaterOrEqual(t, len(env), 5)
	require.Equal(t, downwardEnv, env[len(env)-3:], "the downward API's variables, last")
	return env[2 : len(env)-3]
}

// downwardEnv is what a single Job's container gets from the downward
// API, after the worker's variables.
var downwardEnv = []corev1.EnvVar{
	{Name: "KUBEQUEUE_NAMESPACE", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.namespace"}}},
	{Name: "KUBEQUEUE_JOB_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.labels['batch.kubernetes.io/job-name']"}}},
	{Name: "KUBEQUEUE_POD_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.name"}}},
}

// quantitiesOf renders a resource list as canonical strings, nil for nil.
func quantitiesOf(list corev1.ResourceList) map[corev1.ResourceName]string {
	if list == nil {
		return nil
	}
	out := make(map[corev1.ResourceName]string, len(list))
	for name, q := range list {
		out[name] = q.String()
	}
	return out
}

// labelsOf returns the labels kubequeue sets for worker, plus extra.
func labelsOf(worker string, extra map[string]string) map[string]string {
	out := map[string]string{
		kubequeue.LabelManagedBy: "kubequeue",
		kubequeue.LabelWorker:    worker,
	}
	for k, v := range extra {
		out[k] = v
	}
	return out
}

// validationErrors returns every *ValidationError in err's tree.
func validationErrors(err error) []*kubequeue.ValidationError {
	var out []*kubequeue.ValidationError
	var walk func(error)
	walk = func(e error) {
		switch e := e.(type) { //nolint:errorlint // walking the tree on purpose
		case nil:
		case *kubequeue.ValidationError:
			out = append(out, e)
		case interface{ Unwrap() []error }:
			for _, inner := range e.Unwrap() {
				walk(inner)
			}
		case interface{ Unwrap() error }:
			walk(e.Unwrap())
		}
	}
	walk(err)
	return out
}

// build builds the Job of worker for payload, as Enqueue would create it,
// and requires success.
func build(t *testing.T, worker kubequeue.AnyWorker, payload any, opts ...kubequeue.EnqueueOption) *batchv1.Job {
	t.Helper()
	built, err := buildQueue(t).Build(worker, payload, opts...)
	require.NoError(t, err)
	require.NotNil(t, built)
	return built
}

// requireNoAPICall requires that client saw no API call at all.
func requireNoAPICall(t *testing.T, client *fake.Clientset) {
	t.Helper()
	require.Empty(t, client.Actions(), "invalid input must be refused before any API call")
}

// testHandle names the Job that handleJob returns.
var testHandle = kubequeue.Handle{Namespace: "jobs", Name: "greet-1", UID: "uid-1", Worker: "greet"}

// handleJob returns a kubequeue Job named like testHandle with the given
// UID.
func handleJob(uid types.UID) *batchv1.Job {
	return &batchv1.Job{ObjectMeta: metav1.ObjectMeta{
		Namespace: testHandle.Namespace,
		Name:      testHandle.Name,
		UID:       uid,
		Labels:    labelsOf(testHandle.Worker, nil),
	}}
}

// epoch is the fixed time of the tests' fake objects: the creation of the
// first Job or pod; the others are created at an offset from it.
var epoch = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
