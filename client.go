package kubequeue

import (
	"context"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// Handle identifies an enqueued Job. It is plain data: encode it (as JSON,
// for example) to check on the Job from another process or request.
type Handle struct {
	// Namespace is the Job's namespace.
	Namespace string `json:"namespace"`
	// Name is the Job's name.
	Name string `json:"name"`
	// UID is the UID the API server gave the Job. It tells this Job apart
	// from a later one of the same name.
	UID types.UID `json:"uid,omitempty"`
	// Worker is the worker's name.
	Worker string `json:"worker"`
}

// String returns "namespace/name".
func (h Handle) String() string { return h.Namespace + "/" + h.Name }

// Enqueue builds the Job for job and payload (see [Queue.Build]) and creates
// it. It returns the Job's handle once the API server has accepted it.
//
// Invalid input is reported before any API call, with the errors of Build.
// An API error is wrapped with the Job's namespace and name and stays
// testable with the k8s.io/apimachinery/pkg/api/errors functions, such as
// IsAlreadyExists or IsForbidden. Enqueue creates one object, so a refused
// create leaves nothing behind. An error that leaves the outcome unknown (a
// timeout, a lost connection, a cancelled ctx) may come after the server
// created the Job: calling Enqueue again then creates a second Job under a
// new name. Where that matters, name the Job with [WithJobName] so that a
// retry gets an AlreadyExists error instead.
func (q *Queue) Enqueue(ctx context.Context, job Job, payload any, opts ...EnqueueOption) (Handle, error) {
	j, err := q.Build(job, payload, opts...)
	if err != nil {
		return Handle{}, err
	}
	if q.client == nil {
		return Handle{}, ErrNoClient
	}
	created, err := q.client.BatchV1().Jobs(j.Namespace).Create(ctx, j, metav1.CreateOptions{FieldManager: q.fieldManager})
	if err != nil {
		return Handle{}, fmt.Errorf("kubequeue: create job %s/%s: %w", j.Namespace, j.Name, err)
	}
	return Handle{Namespace: j.Namespace, Name: j.Name, UID: created.UID, Worker: job.Name()}, nil
}

// Client-side rate limits that LoadConfig sets when the configuration sets
// none. client-go's own defaults (5 requests per second, bursts of 10) would
// throttle a service that enqueues in bursts.
const (
	// DefaultQPS is the sustained rate of requests, per second.
	DefaultQPS = 50
	// DefaultBurst is the number of requests allowed at once above it.
	DefaultBurst = 100
)

// LoadConfig loads a client configuration the way kubectl does: from the
// file kubeconfig if it is not empty (pass your --kubeconfig flag), else
// from the files in $KUBECONFIG, else from ~/.kube/config, else from the
// pod's service account when running in a cluster. contextName selects a
// kubeconfig context by name; empty means the current one. It also returns
// the namespace kubectl would use: the context's, or the pod's own when in
// a cluster, or "default". It sets QPS and Burst to [DefaultQPS] and
// [DefaultBurst] when the configuration leaves them zero.
func LoadConfig(kubeconfig, contextName string) (cfg *rest.Config, namespace string, err error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = kubeconfig
	overrides := &clientcmd.ConfigOverrides{CurrentContext: contextName}
	loader := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, overrides)
	cfg, err = loader.ClientConfig()
	if err != nil {
		return nil, "", fmt.Errorf("kubequeue: load kubernetes client config: %w", err)
	}
	namespace, _, err = loader.Namespace()
	if err != nil {
		return nil, "", fmt.Errorf("kubequeue: load kubernetes namespace: %w", err)
	}
	if cfg.QPS == 0 {
		cfg.QPS = DefaultQPS
	}
	if cfg.Burst == 0 {
		cfg.Burst = DefaultBurst
	}
	return cfg, namespace, nil
}

// NewClientset loads a configuration with [LoadConfig] and returns a
// clientset for it and the namespace kubectl would use, so that a service
// starts with
//
//	client, namespace, err := kubequeue.NewClientset("", "")
//	queue := kubequeue.New(client, kubequeue.WithDefaultNamespace(namespace))
func NewClientset(kubeconfig, contextName string) (client *kubernetes.Clientset, namespace string, err error) {
	cfg, namespace, err := LoadConfig(kubeconfig, contextName)
	if err != nil {
		return nil, "", err
	}
	client, err = kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, "", fmt.Errorf("kubequeue: create kubernetes clientset: %w", err)
	}
	return client, namespace, nil
}
