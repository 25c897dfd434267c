// Package kueue tests kubequeue with a real Kueue (sigs.k8s.io/kueue,
// localcluster.KueueVersion) on a local cluster: queues, quotas,
// priorities and preemption. It is a package of its own so that the other
// integration tests run without Kueue; TestMain starts one cluster and
// Kueue for the package (Kueue is built from source the first time, about
// 4 minutes on 2 cores, and cached). Under go test -short every test skips.
package kueue

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/signal"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/kubequeue/kubequeue"
	"github.com/kubequeue/kubequeue/localcluster"
)

// testImage is the image of the workers: the local kubelet maps it to this
// test binary, which TestMain turns into the worker.
const testImage = "registry.example.com/kueue-test:v1"

// napArgs is the payload of nap.
type napArgs struct {
	Millis int    `json:"millis"`
	Secret string `json:"secret,omitempty"`
}

// nap sleeps for the given time, or until stopped, and records the secret
// it was given as its result.
func nap(ctx context.Context, a napArgs) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(time.Duration(a.Millis) * time.Millisecond):
	}
	return kubequeue.SetResult(ctx, a.Secret)
}

// napWorker asks for half a CPU, which Kueue counts against quotas (the
// local kubelet enforces nothing).
var napWorker = kubequeue.NewWorker("nap", nap, kubequeue.WithImage(testImage), kubequeue.WithCPU("500m", ""))

var (
	cluster *localcluster.Cluster
	kueue   *localcluster.Kueue
	client  kubernetes.Interface
	dyn     dynamic.Interface
)

func TestMain(m *testing.M) {
	kubequeue.Main(napWorker)
	flag.Parse()
	if testing.Short() {
		fmt.Println("integration/kueue: -short given: skipping every test that needs the local cluster and Kueue")
		os.Exit(m.Run())
	}
	os.Exit(run(m))
}

func run(m *testing.M) int {
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintln(os.Stderr, "integration/kueue:", err)
		return 1
	}
	cluster, err = localcluster.Start(ctx, localcluster.Options{Log: os.Stderr, Images: map[string]string{testImage: self}})
	if err != nil {
		fmt.Fprintln(os.Stderr, "integration/kueue:", err)
		return 1
	}
	defer cluster.Stop()
	start := time.Now()
	kueue, err = cluster.StartKueue(ctx)
	if err != nil {
		fmt.Fprintln(os.Stderr, "integration/kueue:", err)
		return 1
	}
	fmt.Fprintf(os.Stderr, "integration/kueue: Kueue %s ready in %s\n", localcluster.KueueVersion, time.Since(start).Round(time.Millisecond))
	if client, err = kubernetes.NewForConfig(cluster.Config()); err == nil {
		dyn, err = dynamic.NewForConfig(cluster.Config())
	}
	if err == nil {
		err = createCluster(ctx, "ResourceFlavor", "resourceflavors", `{"metadata":{"name":"default-flavor"}}`)
	}
	for name, value := range map[string]int{"low": 10, "high": 1000} {
		if err == nil {
			err = createCluster(ctx, "WorkloadPriorityClass", "workloadpriorityclasses", fmt.Sprintf(`{"metadata":{"name":%q},"value":%d}`, name, value))
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "integration/kueue:", err)
		return 1
	}
	return m.Run()
}

func gvr(resource string) schema.GroupVersionResource {
	return schema.GroupVersionResource{Group: "kueue.x-k8s.io", Version: "v1beta2", Resource: resource}
}

// createIn creates a Kueue object, given as JSON without apiVersion
// and kind, in namespace ns ("" for a cluster-scoped one).
func createIn(ctx context.Context, ns, kind, resource, object string) error {
	var obj map[string]any
	if err := json.Unmarshal([]byte(object), &obj); err != nil {
		return err
	}
	obj["apiVersion"], obj["kind"] = "kueue.x-k8s.io/v1beta2", kind
	u := unstructured.Unstructured{Object: obj}
	_, err := dyn.Resource(gvr(resource)).Namespace(ns).Create(ctx, &u, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create %s %s: %w", kind, u.GetName(), err)
	}
	return nil
}

// createCluster creates a cluster-scoped Kueue object.
func createCluster(ctx context.Context, kind, resource, object string) error {
	return createIn(ctx, "", kind, resource, object)
}

// env is a test's namespace, with a ClusterQueue of its own and a
// LocalQueue "lq" in the namespace.
type env struct {
	ctx   context.Context
	ns    string
	queue *kubequeue.Queue
}

var nonName = regexp.MustCompile(`[^a-z0-9]+`)

// setup creates a namespace for the test, a ClusterQueue with cpu quota
// (and preemption within it, when preempt) that admits only from that
// namespace, and LocalQueue lq.
func setup(t *testing.T, quota string, preempt bool) *env {
	t.Helper()
	if testing.Short() {
		t.Skip("needs the local cluster and Kueue; run without -short")
	}
	ctx := t.Context()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("cluster logs:\n%s", cluster.LogTail(40))
		}
	})
	base := strings.Trim(nonName.ReplaceAllString(strings.ToLower(t.Name()), "-"), "-")
	if len(base) > 40 {
		base = strings.TrimRight(base[:40], "-")
	}
	ns := fmt.Sprintf("%s-%05d", base, rand.IntN(100000))
	_, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: map[string]string{"kueue-test": ns}}}, metav1.CreateOptions{})
	require.NoError(t, err)
	t.Cleanup(func() {
		_ = client.CoreV1().Namespaces().Delete(context.WithoutCancel(ctx), ns, metav1.DeleteOptions{})
	})
	err = wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		_, err := client.CoreV1().ServiceAccounts(ns).Get(ctx, "default", metav1.GetOptions{})
		return err == nil, nil
	})
	require.NoError(t, err)

	preemption := ""
	if preempt {
		preemption = `,"preemption":{"withinClusterQueue":"LowerPriority"}`
	}
	require.NoError(t, createCluster(ctx, "ClusterQueue", "clusterqueues", fmt.Sprintf(
		`{"metadata":{"name":%q},"spec":{"queueingStrategy":"BestEffortFIFO","namespaceSelector":{"matchLabels":{"kueue-test":%q}},"resourceGroups":[{"coveredResources":["cpu"],"flavors":[{"name":"default-flavor","resources":[{"name":"cpu","nominalQuota":%q}]}]}]%s}}`,
		ns, ns, quota, preemption)))
	t.Cleanup(func() {
		_ = dyn.Resource(gvr("clusterqueues")).Delete(context.WithoutCancel(ctx), ns, metav1.DeleteOptions{})
	})
	require.NoError(t, createIn(ctx, ns, "LocalQueue", "localqueues", fmt.Sprintf(`{"metadata":{"name":"lq","namespace":%q},"spec":{"clusterQueue":%q}}`, ns, ns)))
	queue, err := kubequeue.New(client, kubequeue.WithDefaultNamespace(ns))
	require.NoError(t, err)
	return &env{ctx: ctx, ns: ns, queue: queue}
}

// enqueue enqueues nap in lq.
func (e *env) enqueue(t *testing.T, millis int, opts ...kubequeue.EnqueueOption) kubequeue.Handle {
	t.Helper()
	h, err := e.queue.Enqueue(e.ctx, napWorker, napArgs{Millis: millis}, append([]kubequeue.EnqueueOption{kubequeue.WithQueueName("lq")}, opts...)...)
	require.NoError(t, err)
	return h
}

// waitStatus polls Status until cond holds, for at most a minute, and
// returns the Status that satisfied it.
func (e *env) waitStatus(t *testing.T, h kubequeue.Handle, what string, cond func(kubequeue.Status) bool) kubequeue.Status {
	t.Helper()
	var last kubequeue.Status
	err := wait.PollUntilContextTimeout(e.ctx, 50*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		st, err := e.queue.Status(ctx, h)
		if err != nil {
			return false, err
		}
		last = st
		return cond(st), nil
	})
	require.NoError(t, err, "%s: waiting for %s; last status %+v", h, what, last)
	return last
}
