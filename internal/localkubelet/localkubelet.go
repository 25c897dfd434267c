// Package localkubelet is a kubelet for a local, development control plane:
// it registers one Node and runs the containers of the pods bound to it as
// local processes, so that a Job goes through the real scheduler and the real
// Job controller while the program it names really runs.
//
// It is built on virtual-kubelet's node package, which keeps the Node and its
// Lease alive, watches the node's pods, resolves their environment (ConfigMap
// and Secret keys, the downward API, envFrom) and serves the kubelet API; this
// package supplies the pod lifecycle.
//
// # Safety
//
// It executes the commands of pod specs on the host, as the user running it,
// without isolation. It therefore listens on a loopback address only and
// refuses to register with an API server that is not on a loopback address.
// Never point it at a shared cluster.
//
// # Containers
//
// An image is resolved through a map from image references to local
// executables. A container's command, when set, replaces the image's
// entrypoint and is looked up in PATH (the container's, else the kubelet's);
// a container without a command runs its image's executable, and an image
// that is not mapped fails the container with reason ErrImageNeverPull.
// $(VAR) references in command and args are expanded as the kubelet does.
// Each container runs in a process group of its own, so that deleting the pod
// (SIGTERM, then SIGKILL after the grace period) stops everything it started.
//
// The environment is the container's env and envFrom, resolved, plus HOSTNAME
// and PATH, HOME, TMPDIR and LANG from the kubelet's environment unless the
// container sets them. Nothing else of the kubelet's environment leaks in.
//
// A container sees its volume mounts, and the file it writes its termination
// message to, under the directory named by $KUBEQUEUE_LOCAL_ROOT ([EnvRoot]):
// a Secret mounted at /etc/secret is $KUBEQUEUE_LOCAL_ROOT/etc/secret.
// emptyDir, hostPath, secret, configMap, downwardAPI and projected volumes
// (with service account tokens) are supported; their files are written once,
// when the pod starts.
//
// # Status and logs
//
// Pods go Pending, Running (startTime, running.startedAt), then Succeeded or
// Failed with each container's exit code (128+n for a signal), reason
// Completed or Error, start and finish times, and the termination message:
// the last 4096 bytes of terminationMessagePath, or with
// FallbackToLogsOnError the end of the log of a failed container. Status is
// pushed as it changes. restartPolicy OnFailure and Always restart a
// container in place, with the kubelet's back-off. A pod's
// activeDeadlineSeconds fails it with reason DeadlineExceeded.
//
// Output is kept per container attempt in the CRI log format and served
// through the kubelet API, so that pods/log works through the API server with
// follow, tailLines, limitBytes, sinceSeconds, sinceTime, timestamps and
// previous.
//
// # Not emulated
//
// Resource requests and limits (nothing is enforced or accounted), probes,
// lifecycle hooks, init and ephemeral containers, securityContext (processes
// run as the kubelet's user), networking (every pod has IP 127.0.0.1 and
// shares the host's ports), image pulls, exec, attach and port-forward,
// persistent volumes, and eviction. A kubelet that restarts does not find the
// processes it ran (they die with it): their pods fail with reason
// ContainerStatusUnknown rather than run twice.
package localkubelet

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"time"

	vklog "github.com/virtual-kubelet/virtual-kubelet/log"
	vkslog "github.com/virtual-kubelet/virtual-kubelet/log/slog"
	"github.com/virtual-kubelet/virtual-kubelet/node"
	"github.com/virtual-kubelet/virtual-kubelet/node/nodeutil"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// Config configures a local kubelet.
type Config struct {
	// RESTConfig reaches the API server, which must listen on a loopback
	// address.
	RESTConfig *rest.Config
	// NodeName is the name of the Node it registers.
	NodeName string
	// Addr is the loopback host:port the kubelet API listens on.
	Addr string
	// CertFile and KeyFile are the kubelet API's serving certificate (its
	// SANs must include 127.0.0.1); ClientCAFile verifies the API server's
	// client certificate, which the kubelet API requires.
	CertFile, KeyFile, ClientCAFile string
	// Images maps image references to local executables. ImagesFile, if set,
	// names a JSON object of more such entries, read each time a container
	// starts.
	Images     map[string]string
	ImagesFile string
	// Dir holds the pods' files: volumes, root directories and logs.
	Dir string
	// Labels are added to the Node's; Taints are its taints.
	Labels map[string]string
	Taints []corev1.Taint
	// RestartBackoff is the first delay before a container restarts under
	// restartPolicy OnFailure or Always; it doubles up to 5 minutes. Default
	// 10 s, as the kubelet.
	RestartBackoff time.Duration
	// Logger receives the kubelet's own log. Default: slog's default logger.
	Logger *slog.Logger
}

// StopGrace is how long the pods' processes get between SIGTERM and SIGKILL
// when the kubelet itself stops: short, so that a supervisor that allows a
// few seconds (the embedded control plane allows 5) sees it exit cleanly.
const StopGrace = 2 * time.Second

// ErrNotLoopback is returned by [Run] for an API server or a listen address
// that is not on a loopback address.
var ErrNotLoopback = errors.New("localkubelet: refusing a non-loopback address: the local kubelet runs pod commands on this host")

// Run registers the node and runs its pods until ctx ends; then it stops the
// pods' processes (SIGTERM, SIGKILL after [StopGrace]) and returns. ready, if not
// nil, is called once the node is Ready with its taints set.
func Run(ctx context.Context, cfg Config, ready func()) error {
	if err := cfg.check(); err != nil {
		return err
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.Default()
	}
	vklog.L = vkslog.FromSlog(logger)
	client, err := kubernetes.NewForConfig(cfg.RESTConfig)
	if err != nil {
		return fmt.Errorf("localkubelet: client: %w", err)
	}
	backoff := cfg.RestartBackoff
	if backoff <= 0 {
		backoff = 10 * time.Second
	}
	spec, err := nodeSpec(client, cfg)
	if err != nil {
		return err
	}
	var prov *provider
	newProvider := func(pc nodeutil.ProviderConfig) (nodeutil.Provider, node.NodeProvider, error) {
		prov = &provider{
			nodeName:       cfg.NodeName,
			dir:            cfg.Dir,
			images:         images{file: cfg.ImagesFile, static: cfg.Images},
			restartBackoff: backoff,
			log:            logger,
			client:         client,
			pods:           pc.Pods,
			secrets:        pc.Secrets,
			configMaps:     pc.ConfigMaps,
			byKey:          map[string]*podRun{},
		}
		return prov, nil, nil
	}
	mux := http.NewServeMux()
	n, err := nodeutil.NewNode(cfg.NodeName, newProvider,
		nodeutil.WithClient(client),
		nodeutil.AttachProviderRoutes(mux),
		nodeutil.WithTLSConfig(nodeutil.WithKeyPairFromPath(cfg.CertFile, cfg.KeyFile), nodeutil.WithCAFromPath(cfg.ClientCAFile)),
		nodeutil.WithPodControllerConfigOverrides(func(pc *node.PodControllerConfig) error {
			pc.PodClient = statusPatcher{client.CoreV1()}
			return nil
		}),
		func(nc *nodeutil.NodeConfig) error {
			nc.NodeSpec = spec
			nc.HTTPListenAddr = cfg.Addr
			nc.Handler = mux
			nc.NumWorkers = 8
			return nil
		},
	)
	if err != nil {
		return fmt.Errorf("localkubelet: %w", err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() { _ = n.Run(runCtx) }()
	select {
	case <-n.Ready():
	case <-n.Done():
		return fmt.Errorf("localkubelet: node %s: %w", cfg.NodeName, n.Err())
	}
	if err := setTaints(ctx, client, cfg.NodeName, cfg.Taints); err != nil {
		return err
	}
	logger.Info("node ready", "node", cfg.NodeName, "addr", cfg.Addr)
	if ready != nil {
		ready()
	}
	select {
	case <-ctx.Done():
	case <-n.Done():
	}
	stopCtx, stopDone := context.WithTimeout(context.WithoutCancel(ctx), 2*StopGrace)
	defer stopDone()
	prov.stopAll(stopCtx, StopGrace)
	cancel()
	<-n.Done()
	if ctx.Err() != nil {
		return nil
	}
	return fmt.Errorf("localkubelet: node %s stopped: %w", cfg.NodeName, n.Err())
}

func (cfg Config) check() error {
	switch {
	case cfg.RESTConfig == nil:
		return errors.New("localkubelet: no RESTConfig")
	case cfg.NodeName == "":
		return errors.New("localkubelet: no NodeName")
	case cfg.Dir == "":
		return errors.New("localkubelet: no Dir")
	case cfg.CertFile == "" || cfg.KeyFile == "" || cfg.ClientCAFile == "":
		return errors.New("localkubelet: the kubelet API needs CertFile, KeyFile and ClientCAFile")
	}
	u, err := url.Parse(cfg.RESTConfig.Host)
	if err != nil || u.Host == "" {
		u, err = url.Parse("https://" + cfg.RESTConfig.Host)
	}
	if err != nil {
		return fmt.Errorf("localkubelet: API server %q: %w", cfg.RESTConfig.Host, err)
	}
	if !isLoopback(u.Hostname()) {
		return fmt.Errorf("%w: API server %s", ErrNotLoopback, cfg.RESTConfig.Host)
	}
	host, _, err := net.SplitHostPort(cfg.Addr)
	if err != nil {
		return fmt.Errorf("localkubelet: listen address %q: %w", cfg.Addr, err)
	}
	if !isLoopback(host) {
		return fmt.Errorf("%w: listen address %s", ErrNotLoopback, cfg.Addr)
	}
	return nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
