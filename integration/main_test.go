// Package integration tests kubequeue against a real kube-apiserver, with the
// real Job, TTL and garbage-collector controllers and the real scheduler, on
// a local cluster (package localcluster). Pods run as processes on the
// local kubelet's node: the workers of workers_test.go are performed by this
// test binary, started by the kubelet as the Job's container, and the
// examples by their own binaries. Pods that select the kwok node
// ([localcluster.Simulated]) are only simulated.
//
// TestMain starts one cluster for the package; each test works in a
// namespace of its own. Under go test -short every test skips. Otherwise
// missing binaries are installed first (downloaded, or built from source in
// minutes, once), or, when the test timeout is too short for a build, the
// run fails saying how to install them.
package integration

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	watchtools "k8s.io/client-go/tools/watch"
	"k8s.io/utils/ptr"

	"github.com/kubequeue/kubequeue"
	"github.com/kubequeue/kubequeue/localcluster"
)

// minBuildTimeout is the test timeout below which TestMain does not try to
// install missing binaries, since building them from source alone takes
// about that long on a 2-core machine.
const minBuildTimeout = 20 * time.Minute

var (
	cluster *localcluster.Cluster
	client  kubernetes.Interface
)

func TestMain(m *testing.M) {
	// Started by the local kubelet as a Job's container, this binary
	// performs the job and exits here.
	observedMain()
	kubequeue.Main(testWorkers...)

	flag.Parse()
	if testing.Short() {
		fmt.Println("integration: -short given: skipping every test that needs the local cluster")
		os.Exit(m.Run())
	}
	os.Exit(run(m))
}

func run(m *testing.M) int {
	if err := start(); err != nil {
		fmt.Fprintln(os.Stderr, "integration:", err)
		return 1
	}
	// An interrupted run still stops the cluster (and, on Linux, the kernel
	// kills it if this process dies any other way).
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-sig
		cleanup()
		os.Exit(130)
	}()
	defer cleanup()
	return m.Run()
}

// cleanup stops the cluster and removes the example binaries.
func cleanup() {
	cluster.Stop()
	examplesMu.Lock()
	defer examplesMu.Unlock()
	if examplesDir != "" {
		os.RemoveAll(examplesDir)
	}
}

func start() error {
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	if _, err := localcluster.Installed(localcluster.Options{}); errors.Is(err, localcluster.ErrNotInstalled) {
		timeout := flag.Lookup("test.timeout").Value.(flag.Getter).Get().(time.Duration)
		if timeout > 0 && timeout < minBuildTimeout {
			return fmt.Errorf("%w\nInstalling them here could outlast this run's -timeout %s: run `make localcluster` first, or go test -timeout 30m", err, timeout)
		}
		fmt.Fprintln(os.Stderr, "integration: the local cluster's binaries are not installed yet; installing them first")
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	cluster, err = localcluster.Start(ctx, localcluster.Options{
		Log:    os.Stderr,
		Images: map[string]string{testImage: self},
	})
	if err != nil {
		return err
	}
	client, err = kubernetes.NewForConfig(cluster.Config())
	if err != nil {
		cluster.Stop()
		return err
	}
	return nil
}

// suspended creates the Job suspended, for tests of Jobs that need no pod.
var suspended = kubequeue.WithJobMutator(func(j *batchv1.Job) { j.Spec.Suspend = ptr.To(true) })

// env is what a test works with: its own namespace on the shared control
// plane, and a queue whose default namespace it is.
type env struct {
	ctx   context.Context
	ns    string
	queue *kubequeue.Queue
}

// setup skips under -short, and otherwise creates a namespace for the test,
// deleted when it ends. A failed test prints the tail of every component's
// log.
func setup(t testing.TB) *env {
	t.Helper()
	if testing.Short() {
		t.Skip("needs the local cluster; run without -short")
	}
	ctx := t.Context()
	printLogsOnFailure(t, cluster)
	ns := newNamespace(t)
	return &env{ctx: ctx, ns: ns, queue: newQueue(t, client, kubequeue.WithDefaultNamespace(ns))}
}

// newQueue returns kubequeue.New(client, opts...) and requires success.
func newQueue(t testing.TB, client kubernetes.Interface, opts ...kubequeue.QueueOption) *kubequeue.Queue {
	t.Helper()
	queue, err := kubequeue.New(client, opts...)
	require.NoError(t, err)
	return queue
}

// printLogsOnFailure prints the tail of each of cp's component logs when
// the test fails.
func printLogsOnFailure(t testing.TB, cp *localcluster.Cluster) {
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("cluster logs:\n%s", cp.LogTail(30))
		}
	})
}

var nonName = regexp.MustCompile(`[^a-z0-9]+`)

// describeOnFailure logs, when the test fails, what the namespace's Jobs,
// pods and events were at that moment: the cluster's view of what went
// wrong, which the components' log tails seldom hold.
func describeOnFailure(t testing.TB, ns string) {
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		var b strings.Builder
		if jobs, err := client.BatchV1().Jobs(ns).List(ctx, metav1.ListOptions{}); err == nil {
			for _, j := range jobs.Items {
				fmt.Fprintf(&b, "job %s: suspend=%v active=%d succeeded=%d failed=%d conditions=%v\n",
					j.Name, j.Spec.Suspend != nil && *j.Spec.Suspend, j.Status.Active, j.Status.Succeeded, j.Status.Failed, j.Status.Conditions)
			}
		}
		if pods, err := client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{}); err == nil {
			for _, p := range pods.Items {
				fmt.Fprintf(&b, "pod %s: node=%q phase=%s created=%s deleting=%v finalizers=%v\n",
					p.Name, p.Spec.NodeName, p.Status.Phase, p.CreationTimestamp.Format(time.RFC3339), p.DeletionTimestamp != nil, p.Finalizers)
				for _, c := range p.Status.ContainerStatuses {
					fmt.Fprintf(&b, "  container %s: %+v\n", c.Name, c.State)
				}
			}
		}
		if events, err := client.CoreV1().Events(ns).List(ctx, metav1.ListOptions{}); err == nil {
			for _, e := range events.Items {
				fmt.Fprintf(&b, "event %s %s/%s %s: %s (x%d, last %s)\n", e.Type, e.InvolvedObject.Kind, e.InvolvedObject.Name,
					e.Reason, e.Message, e.Count, e.LastTimestamp.Format(time.RFC3339))
			}
		}
		t.Logf("namespace %s when the test failed:\n%s", ns, b.String())
	})
}

// newNamespace creates a namespace named after the test and waits for its
// default service account, without which the Job controller's pods are
// refused.
func newNamespace(t testing.TB) string {
	t.Helper()
	base := strings.Trim(nonName.ReplaceAllString(strings.ToLower(t.Name()), "-"), "-")
	if len(base) > 50 {
		base = strings.TrimRight(base[:50], "-")
	}
	name := fmt.Sprintf("%s-%05d", base, rand.IntN(100000))
	ctx := t.Context()
	_, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	require.NoError(t, err)
	t.Cleanup(func() {
		// Deleting is asynchronous; nothing waits for it.
		_ = client.CoreV1().Namespaces().Delete(context.WithoutCancel(ctx), name, metav1.DeleteOptions{})
	})
	describeOnFailure(t, name) // before the namespace goes
	err = wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		_, err := client.CoreV1().ServiceAccounts(name).Get(ctx, "default", metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		return err == nil, err
	})
	require.NoError(t, err, "default service account of namespace %s", name)
	return name
}

// waitJob watches the Job until done returns true, and returns it. It fails
// the test after timeout or if the Job is deleted first.
func waitJob(t testing.TB, e *env, name string, timeout time.Duration, done func(*batchv1.Job) bool) *batchv1.Job {
	t.Helper()
	return watchJob(t, e, name, timeout, func(ev watch.EventType, job *batchv1.Job) (bool, error) {
		if ev == watch.Deleted {
			return false, fmt.Errorf("job %s/%s was deleted", e.ns, name)
		}
		return done(job), nil
	})
}

// watchJob lists the Job, then watches it, passing every event to cond
// until cond returns true or an error, and returns the Job of that event. A
// watch sees every change, where polling could miss a Job that is deleted
// soon after it finishes.
func watchJob(t testing.TB, e *env, name string, timeout time.Duration, cond func(watch.EventType, *batchv1.Job) (bool, error)) *batchv1.Job {
	t.Helper()
	ctx, cancel := context.WithTimeout(e.ctx, timeout)
	defer cancel()
	var last *batchv1.Job
	ev, err := watchtools.UntilWithSync(ctx, jobListWatch(client, e.ns, name), &batchv1.Job{}, nil, func(ev watch.Event) (bool, error) {
		job, ok := ev.Object.(*batchv1.Job)
		if !ok {
			return false, fmt.Errorf("unexpected %T in watch", ev.Object)
		}
		last = job
		return cond(ev.Type, job)
	})
	require.NoError(t, err, "watching job %s/%s; last seen status: %+v", e.ns, name, statusOf(last))
	return ev.Object.(*batchv1.Job)
}

// jobListWatch lists and watches the Job named name in namespace ns.
func jobListWatch(c kubernetes.Interface, ns, name string) *cache.ListWatch {
	jobs := c.BatchV1().Jobs(ns)
	selector := fields.OneTermEqualSelector("metadata.name", name).String()
	return &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			o.FieldSelector = selector
			return jobs.List(ctx, o)
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			o.FieldSelector = selector
			return jobs.Watch(ctx, o)
		},
	}
}

// finished reports whether the Job has a true Complete or Failed condition.
func finished(job *batchv1.Job) bool {
	return condition(job, batchv1.JobComplete) != nil || condition(job, batchv1.JobFailed) != nil
}

// condition returns the Job's condition of type ct if it is true.
func condition(job *batchv1.Job, ct batchv1.JobConditionType) *batchv1.JobCondition {
	for i, c := range job.Status.Conditions {
		if c.Type == ct && c.Status == corev1.ConditionTrue {
			return &job.Status.Conditions[i]
		}
	}
	return nil
}

func statusOf(job *batchv1.Job) any {
	if job == nil {
		return nil
	}
	return job.Status
}

// jobPods lists the pods the Job controller created for the Job.
func jobPods(t testing.TB, e *env, jobName string) []corev1.Pod {
	t.Helper()
	pods, err := client.CoreV1().Pods(e.ns).List(e.ctx, metav1.ListOptions{
		LabelSelector: batchv1.JobNameLabel + "=" + jobName,
	})
	require.NoError(t, err)
	return pods.Items
}

var (
	examplesMu  sync.Mutex
	examplesDir string // built example binaries, once built
)

// exampleBinary returns the path of the named example (examples/<name>),
// built once per run. The build also maps [printMessageImage] to the
// printmessage binary on the local kubelet.
func exampleBinary(t testing.TB, name string) string {
	t.Helper()
	examplesMu.Lock()
	defer examplesMu.Unlock()
	if examplesDir == "" {
		dir, err := os.MkdirTemp("", "kubequeue-examples-")
		require.NoError(t, err)
		cmd := exec.Command("go", "build", "-o", dir+string(filepath.Separator),
			"github.com/kubequeue/kubequeue/examples/printmessage", "github.com/kubequeue/kubequeue/examples/computepi")
		if out, err := cmd.CombinedOutput(); err != nil {
			os.RemoveAll(dir)
			require.NoError(t, err, "build the examples:\n%s", out)
		}
		examplesDir = dir
		require.NoError(t, cluster.SetImage(printMessageImage, filepath.Join(dir, "printmessage")))
	}
	return filepath.Join(examplesDir, name)
}
