package kubequeue_test

import (
	"bytes"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/kubequeue/kubequeue"
)

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

// TestNew_DefaultRateLimitWarning: a clientset with client-go's default
// rate limit gets one warning, through the queue's logger, that says how
// to raise it; any other client gets none.
func TestNew_DefaultRateLimitWarning(t *testing.T) {
	t.Parallel()
	clientset := func(t *testing.T, qps float32, burst int) kubernetes.Interface {
		t.Helper()
		client, err := kubernetes.NewForConfig(&rest.Config{Host: "https://192.0.2.1:6443", QPS: qps, Burst: burst})
		require.NoError(t, err)
		return client
	}
	tests := []struct {
		name   string
		client func(t *testing.T) kubernetes.Interface
		warns  bool
	}{
		{"ClientGoDefault", func(t *testing.T) kubernetes.Interface { return clientset(t, 0, 0) }, true},
		{"LoadConfigDefault", func(t *testing.T) kubernetes.Interface {
			return clientset(t, kubequeue.DefaultQPS, kubequeue.DefaultBurst)
		}, false},
		{"Unlimited", func(t *testing.T) kubernetes.Interface { return clientset(t, -1, 0) }, false},
		{"Fake", func(*testing.T) kubernetes.Interface { return fake.NewClientset() }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var out bytes.Buffer
			logger := slog.New(slog.NewTextHandler(&out, nil))
			queue := newQueue(t, tt.client(t), kubequeue.WithLogger(logger))
			_, err := queue.Build(newGreeter(), greeting{})
			require.NoError(t, err)
			if !tt.warns {
				require.Empty(t, out.String())
				return
			}
			require.Equal(t, 1, strings.Count(out.String(), "\n"), "one line: %s", out.String())
			require.Contains(t, out.String(), "level=WARN")
			require.Contains(t, out.String(), "5 requests per second")
			require.Contains(t, out.String(), "QPS and Burst")
		})
	}
}

// TestWithLogger_Default: without WithLogger, the queue logs to
// slog.Default as it is when it logs.
func TestWithLogger_Default(t *testing.T) { // not parallel: it replaces the default logger
	var out bytes.Buffer
	defer slog.SetDefault(slog.Default())
	slog.SetDefault(slog.New(slog.NewTextHandler(&out, nil)))
	client, err := kubernetes.NewForConfig(&rest.Config{Host: "https://192.0.2.1:6443"})
	require.NoError(t, err)
	newQueue(t, client)
	require.Contains(t, out.String(), "default rate limit")
}
