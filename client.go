package kubequeue

import (
	"fmt"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// Client-side rate limits that LoadConfig sets when the configuration sets
// none. client-go's own defaults (5 requests per second, bursts of 10) would
// throttle a service that enqueues in bursts: [New] warns of them.
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
//	...
//	queue, err := kubequeue.New(client, kubequeue.WithDefaultNamespace(namespace))
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

// defaultRateLimited reports whether client is a clientset whose Jobs are
// created under client-go's default rate limit, [rest.DefaultQPS]: its
// rest.Config set no QPS (or set that one).
func defaultRateLimited(client kubernetes.Interface) bool {
	batch := client.BatchV1()
	if batch == nil || isNilPointer(batch) {
		return false
	}
	rc := batch.RESTClient()
	if rc == nil || isNilPointer(rc) {
		return false // the fake clientset's
	}
	limiter := rc.GetRateLimiter()
	return limiter != nil && !isNilPointer(limiter) && limiter.QPS() == rest.DefaultQPS
}
