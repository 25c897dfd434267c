// Package localkubelet is the kubelet of the local cluster: it registers one
// Node and runs the containers of the pods bound to it as local processes,
// so that a Job goes through the real scheduler and the real Job controller
// while the program it names really runs. The cluster runs it inside the
// process that started the cluster; the pods' processes are that process's
// children.
//
// It is built on virtual-kubelet's node package, whose node controller keeps
// the Node and its Lease alive and whose pod controller watches the node's
// pods and resolves their environment (ConfigMap and Secret keys, the
// downward API, envFrom), and on its node/api package, which serves the
// kubelet API; this package supplies the pod lifecycle. (It does not use
// virtual-kubelet's nodeutil package, which would bring in k8s.io/apiserver
// for authentication this kubelet does with TLS alone.)
//
// # Safety
//
// It executes the commands of pod specs on the host, as the user running it,
// without isolation. It therefore listens on a loopback address only and
// refuses to register with an API server that is not on a loopback address.
//
// # Containers
//
// An image is resolved through a map from image references to local
// executables ([Images]). A container's command, when set, replaces the
// image's entrypoint and is looked up in PATH (the container's, else the
// kubelet's); a container without a command runs its image's executable, and
// an image that is not mapped fails the container with reason
// ErrImageNeverPull. $(VAR) references in command and args are expanded as
// the kubelet does. Each container runs in a process group of its own, so
// that deleting the pod (SIGTERM, then SIGKILL after the grace period) stops
// everything it started.
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
// when the pod starts. A missing Secret, ConfigMap or key keeps the pod
// Pending, its containers waiting with reason CreateContainerConfigError,
// until it exists, as with the kubelet. subPath and subPathExpr work.
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
// lifecycle hooks, init and ephemeral containers (a pod with init containers
// fails with reason Unsupported), securityContext (processes run as the
// kubelet's user), networking (every pod has IP 127.0.0.1 and shares the
// host's ports), image pulls, exec, attach and port-forward, persistent
// volumes, read-only mounts (a process can write into a readOnly mount, and
// into the Secret, ConfigMap, downward API and projected volumes that a
// kubelet always mounts read-only), and node-pressure eviction. (An
// eviction through the Eviction API is a deletion, which the API server
// marks with condition DisruptionTarget; the terminal status keeps it.) A
// kubelet that restarts does not find the processes it ran (they die with
// it): their pods fail with reason ContainerStatusUnknown rather than run
// twice.
package localkubelet

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"sync"
	"time"

	vklog "github.com/virtual-kubelet/virtual-kubelet/log"
	vkslog "github.com/virtual-kubelet/virtual-kubelet/log/slog"
	"github.com/virtual-kubelet/virtual-kubelet/node"
	"github.com/virtual-kubelet/virtual-kubelet/node/api"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/rest"
	kuberecord "k8s.io/client-go/tools/record"
)

// Config configures a local kubelet.
type Config struct {
	// RESTConfig reaches the API server, which must listen on a loopback
	// address. A QPS and Burst left zero are 1000 and 2000, as the control
	// plane's components have: client-go's defaults (5 and 10) would let
	// the pods' status updates, two or three a pod, through at about two
	// pods a second.
	RESTConfig *rest.Config
	// NodeName is the name of the Node it registers.
	NodeName string
	// Addr is the loopback host:port the kubelet API listens on.
	Addr string
	// CertFile and KeyFile are the kubelet API's serving certificate (its
	// SANs must include 127.0.0.1); ClientCAFile verifies the API server's
	// client certificate, which the kubelet API requires.
	CertFile, KeyFile, ClientCAFile string
	// Images maps image references to local executables; it is read each
	// time a container starts. Nil maps nothing.
	Images *Images
	// Dir holds the pods' files: volumes, root directories and logs.
	Dir string
	// Labels are added to the Node's; Taints are its taints.
	Labels map[string]string
	Taints []corev1.Taint
	// RestartBackoff is the first delay before a container restarts under
	// restartPolicy OnFailure or Always; it doubles up to 5 minutes. Default
	// (zero or less): [DefaultRestartBackoff].
	RestartBackoff time.Duration
	// Logger receives the kubelet's own log, virtual-kubelet's included.
	// Default: slog's default logger.
	Logger *slog.Logger
}

// DefaultRestartBackoff is the first delay before a container restarts when
// [Config.RestartBackoff] is not set: 10 s, as the kubelet's CrashLoopBackOff.
const DefaultRestartBackoff = 10 * time.Second

// StopGrace is how long the pods' processes get between SIGTERM and SIGKILL
// when the kubelet itself stops: short, so that stopping a cluster takes
// seconds.
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
	// virtual-kubelet logs through the context's logger; its global one,
	// which this process may share with other kubelets, stays untouched.
	ctx = vklog.WithLogger(ctx, vkslog.FromSlog(logger))
	tlsConfig, err := serverTLS(cfg)
	if err != nil {
		return err
	}
	client, err := kubernetes.NewForConfig(clientConfig(cfg.RESTConfig))
	if err != nil {
		return fmt.Errorf("localkubelet: client: %w", err)
	}
	spec, err := nodeSpec(client, cfg)
	if err != nil {
		return err
	}

	// The node's pods, and the Secrets, ConfigMaps and Services their
	// environment and volumes refer to.
	podInformers := informers.NewSharedInformerFactoryWithOptions(client, time.Minute,
		informers.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.FieldSelector = fields.OneTermEqualSelector("spec.nodeName", cfg.NodeName).String()
		}))
	otherInformers := informers.NewSharedInformerFactory(client, time.Minute)
	pods := podInformers.Core().V1().Pods()
	secrets := otherInformers.Core().V1().Secrets()
	configMaps := otherInformers.Core().V1().ConfigMaps()
	services := otherInformers.Core().V1().Services()

	prov := &provider{
		nodeName:       cfg.NodeName,
		dir:            cfg.Dir,
		images:         cfg.Images,
		restartBackoff: cfg.restartBackoff(),
		log:            logger,
		client:         client,
		pods:           pods.Lister(),
		secrets:        secrets.Lister(),
		configMaps:     configMaps.Lister(),
		byKey:          map[string]*podRun{},
	}
	events := kuberecord.NewBroadcaster()
	defer events.Shutdown()
	events.StartRecordingToSink(&corev1client.EventSinkImpl{Interface: client.CoreV1().Events(metav1.NamespaceAll)})
	pc, err := node.NewPodController(node.PodControllerConfig{
		PodClient:         statusPatcher{client.CoreV1()},
		EventRecorder:     events.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "kubequeue-kubelet", Host: cfg.NodeName}),
		Provider:          prov,
		PodInformer:       pods,
		SecretInformer:    secrets,
		ConfigMapInformer: configMaps,
		ServiceInformer:   services,
	})
	if err != nil {
		return fmt.Errorf("localkubelet: %w", err)
	}
	status := node.NewNaiveNodeProvider()
	nc, err := node.NewNodeController(status, &spec, client.CoreV1().Nodes(),
		node.WithNodeEnableLeaseV1(client.CoordinationV1().Leases(corev1.NamespaceNodeLease), node.DefaultLeaseDuration))
	if err != nil {
		return fmt.Errorf("localkubelet: %w", err)
	}

	// The kubelet API, for pods/log through the API server.
	listener, err := tls.Listen("tcp", cfg.Addr, tlsConfig)
	if err != nil {
		return fmt.Errorf("localkubelet: listen: %w", err)
	}
	server := &http.Server{
		Handler: api.PodHandler(api.PodHandlerConfig{
			RunInContainer:        prov.RunInContainer,
			AttachToContainer:     prov.AttachToContainer,
			PortForward:           prov.PortForward,
			GetContainerLogs:      prov.GetContainerLogs,
			GetPods:               prov.GetPods,
			GetPodsFromKubernetes: func(context.Context) ([]*corev1.Pod, error) { return pods.Lister().List(labels.Everything()) },
			GetStatsSummary:       prov.GetStatsSummary,
			GetMetricsResource:    prov.GetMetricsResource,
		}, false),
		ReadHeaderTimeout: 30 * time.Second,
	}
	go func() { _ = server.Serve(listener) }()
	defer server.Close()

	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	podInformers.Start(runCtx.Done())
	otherInformers.Start(runCtx.Done())
	go func() { _ = pc.Run(runCtx, podWorkers) }()
	var resync sync.WaitGroup
	resync.Go(func() { prov.resyncStatuses(runCtx, statusResync) })
	defer func() {
		cancel()
		resync.Wait()
	}()
	if err := waitReady(ctx, "pod controller", pc); err != nil || ctx.Err() != nil {
		return err
	}
	go func() { _ = nc.Run(runCtx) }()
	if err := waitReady(ctx, "node controller", nc); err != nil || ctx.Err() != nil {
		return err
	}
	setReady(&spec)
	if err := status.UpdateStatus(ctx, &spec); err != nil {
		return fmt.Errorf("localkubelet: mark node %s Ready: %w", cfg.NodeName, err)
	}
	if err := setTaints(ctx, client, cfg.NodeName, cfg.Taints); err != nil {
		return err
	}
	logger.Info("node ready", "node", cfg.NodeName, "addr", cfg.Addr)
	if ready != nil {
		ready()
	}

	var stopped error
	select {
	case <-ctx.Done():
	case <-pc.Done():
		stopped = fmt.Errorf("localkubelet: pod controller stopped: %w", pc.Err())
	case <-nc.Done():
		stopped = fmt.Errorf("localkubelet: node controller stopped: %w", nc.Err())
	}
	stopCtx, stopDone := context.WithTimeout(context.WithoutCancel(ctx), 2*StopGrace)
	defer stopDone()
	prov.stopAll(stopCtx, StopGrace)
	cancel()
	<-pc.Done()
	<-nc.Done()
	return stopped
}

// controller is what virtual-kubelet's pod and node controllers share.
type controller interface {
	Ready() <-chan struct{}
	Done() <-chan struct{}
	Err() error
}

// waitReady waits until c is ready, c stops (an error) or ctx ends (nil).
func waitReady(ctx context.Context, name string, c controller) error {
	select {
	case <-c.Ready():
		return nil
	case <-c.Done():
		return fmt.Errorf("localkubelet: %s: %w", name, c.Err())
	case <-ctx.Done():
		return nil
	}
}

// clientConfig returns a copy of rc with QPS 1000 and burst 2000 if it
// sets no rate limit of its own (see Config.RESTConfig).
func clientConfig(rc *rest.Config) *rest.Config {
	rc = rest.CopyConfig(rc)
	if rc.QPS == 0 && rc.Burst == 0 && rc.RateLimiter == nil {
		rc.QPS, rc.Burst = 1000, 2000
	}
	return rc
}

// podWorkers is how many pods the pod controller syncs at once.
const podWorkers = 8

// serverTLS is the kubelet API's TLS configuration: its serving
// certificate, and client certificates required and verified against the
// CA (the API server's).
func serverTLS(cfg Config) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(cfg.CertFile, cfg.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("localkubelet: serving certificate: %w", err)
	}
	caPEM, err := os.ReadFile(cfg.ClientCAFile)
	if err != nil {
		return nil, fmt.Errorf("localkubelet: client CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, fmt.Errorf("localkubelet: client CA %s holds no certificate", cfg.ClientCAFile)
	}
	return &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{cert},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    pool,
	}, nil
}

// restartBackoff is the first delay before a container restarts.
func (cfg Config) restartBackoff() time.Duration {
	if cfg.RestartBackoff <= 0 {
		return DefaultRestartBackoff
	}
	return cfg.RestartBackoff
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
