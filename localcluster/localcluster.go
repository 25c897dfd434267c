// Package localcluster runs a real Kubernetes cluster on this machine, on
// the loopback interface, without Docker or root, for end-to-end tests of
// programs that create Jobs and pods: etcd, kube-apiserver,
// kube-controller-manager (with the Job, CronJob, TTL-after-finished,
// garbage-collector, namespace and service-account controllers),
// kube-scheduler, and two nodes:
//
//   - [LocalNodeName], run by a kubelet inside the process that called
//     [Start], which runs each pod's containers as local processes, with
//     real exit codes, logs (pods/log works through the API server) and
//     termination messages. Pods land there by default. Images are mapped to
//     local executables with [Options.Images] and [Cluster.SetImage],
//     typically the test binary itself or a program built with go build.
//   - [SimulatedNodeName], run by kwok, which simulates pods without running
//     anything; it is tainted, and pods opt in with [Simulated].
//
// A test starts one cluster for its package in TestMain:
//
//	func TestMain(m *testing.M) {
//		kubequeue.Main(Resize) // in a pod, the test binary performs its job and exits here
//		self, _ := os.Executable()
//		cluster, err := localcluster.Start(context.Background(), localcluster.Options{
//			Images: map[string]string{"registry.example.com/app:v1": self},
//		})
//		if err != nil {
//			fmt.Fprintln(os.Stderr, err)
//			os.Exit(1)
//		}
//		code := m.Run()
//		cluster.Stop()
//		os.Exit(code)
//	}
//
// and its tests reach it with [Cluster.Config] or [Cluster.Kubeconfig].
//
// # Safety
//
// Pod commands run on this host, as the user running the test, with that
// user's rights and without isolation: a pod spec is a command line. Every
// component listens on 127.0.0.1 only, and the kubelet refuses an API
// server that is not on a loopback address, so nothing outside this machine
// can reach the cluster or schedule a pod on it. The admin user, the
// controllers, the scheduler and the kubelet authenticate with client
// certificates in group system:masters. It is a test harness: never
// expose it.
//
// # Binaries
//
// [Start] installs the binaries for [KubernetesVersion], [EtcdVersion] and
// [KwokVersion] the first time (see [Install]): on Linux it downloads the
// official release binaries and checks them against their published SHA-256
// (about 400 MB), and where that fails it builds them from source with the
// go command (about 9 minutes on 2 cores with empty Go caches). They are
// cached in $XDG_CACHE_HOME/kubequeue/localcluster (~/.cache/kubequeue/
// localcluster by default), which `rm -rf` clears; later starts take about
// 5 seconds. [EnvBinDir] points at binaries installed by other means.
//
// # Kueue
//
// [Cluster.StartKueue] adds Kueue ([KueueVersion]), an optional component
// that only the tests that need it start: built from source the first
// time (about 4 minutes on 2 cores) and cached like the other binaries
// (see [InstallKueue]), with its CRDs and webhooks; [Kueue.Stop] stops it.
//
// # Processes and files
//
// Every component runs in a process group of its own, and so does every
// container; [Cluster.Stop] ends them all and removes the cluster's files.
// On Linux the kernel also kills the components and the containers'
// processes if the process that started them dies (a parent-death signal),
// and the next [Start] ends whatever those processes had started and
// removes the files left behind. The components' logs are files in
// [Cluster.Dir]; [Cluster.LogTail] returns the end of each.
//
// # What the kubelet does not emulate
//
// Resource requests and limits (nothing is enforced), probes, lifecycle
// hooks, init, sidecar and ephemeral containers (a pod with init containers
// fails with reason Unsupported), securityContext (processes run as the
// current user), read-only mounts, pod networking (every pod has IP
// 127.0.0.1 and shares the host's ports), image pulls, exec, attach,
// port-forward, persistent volumes, node-pressure eviction, and updates to
// mounted Secrets and ConfigMaps after a pod starts.
//
// # Container paths
//
// A process cannot see its volumes at the paths the pod spec names, as
// there is no mount namespace: it sees them under the directory in its
// environment variable KUBEQUEUE_LOCAL_ROOT ([EnvRoot]), which stands for
// the container's /. A Secret mounted at /etc/secret is
// $KUBEQUEUE_LOCAL_ROOT/etc/secret, and the termination message file
// /dev/termination-log is $KUBEQUEUE_LOCAL_ROOT/dev/termination-log. A
// program that reads mounted files or writes its termination message
// joins the container path to $KUBEQUEUE_LOCAL_ROOT when it is set, as
// kubequeue's runtime does; in a real container the variable is not set.
package localcluster

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/kubequeue/kubequeue/localcluster/internal/localkubelet"
)

// controllers are the kube-controller-manager controllers the cluster runs.
var controllers = []string{
	"job-controller",
	"cronjob-controller",
	"ttl-after-finished-controller",
	"garbage-collector-controller",
	"namespace-controller",
	"serviceaccount-controller",
	"root-ca-certificate-publisher-controller",
	"pod-garbage-collector-controller",
}

// Options configure [Start] and [Install]. The zero value is ready to use.
type Options struct {
	// Images maps image references to local executables (absolute paths):
	// a container of such an image that sets no command runs the
	// executable, with the container's args. [Cluster.SetImage] adds more
	// later.
	Images map[string]string
	// Log receives a line for each step of installing and starting, such
	// as download or build progress. Nil discards them.
	Log io.Writer
	// BinDir is a directory that holds the binaries (etcd, kube-apiserver,
	// kube-controller-manager, kube-scheduler and kwok, of the versions
	// this package pins): nothing is then downloaded, built or cached.
	// Empty means $KUBEQUEUE_LOCALCLUSTER_BIN ([EnvBinDir]) when set, else
	// the cache.
	BinDir string
	// CacheDir is the directory the installed binaries are cached in, one
	// subdirectory per set of versions; the three most recently used are
	// kept. Empty means $XDG_CACHE_HOME/kubequeue/localcluster (on Linux
	// ~/.cache/kubequeue/localcluster when XDG_CACHE_HOME is not set; the
	// platform's user cache directory elsewhere).
	CacheDir string
	// ReleaseURL is where release binaries are downloaded from: a mirror
	// that serves the upstream files under <ReleaseURL>/<host>/<path> (see
	// [Install]). Empty means $KUBEQUEUE_LOCALCLUSTER_RELEASES
	// ([EnvReleaseURL]) when set, else the upstream sites; "off" never
	// downloads and builds from source.
	ReleaseURL string
}

// startTimeout bounds the start of the whole stack, after any install.
const startTimeout = 2 * time.Minute

// A Cluster is a running local cluster. Its methods are safe for
// concurrent use.
type Cluster struct {
	dir        string // certificates, configuration, logs and the pods' files
	etcdDir    string // etcd's data, in memory when /dev/shm exists
	ca         *authority
	host       string
	admin      *rest.Config
	kubeconfig string
	images     localkubelet.Images
	opts       Options // as given to Start, for StartKueue's install

	mu      sync.Mutex
	procs   []*process
	kubelet *kubeletRun

	stopOnce sync.Once
}

// Start installs the binaries if they are missing (see [Install]), starts
// the cluster and returns once the API server is ready, the controllers are
// working (the default service account exists) and both nodes are Ready:
// the local node schedulable, the simulated one tainted. An image in
// [Options.Images] that is not an absolute path to an executable file is an
// error. On error everything started is stopped and removed. ctx bounds
// the install and the start; the cluster runs until [Cluster.Stop], whatever
// becomes of ctx.
func Start(ctx context.Context, opts Options) (*Cluster, error) {
	if err := supported(); err != nil {
		return nil, err
	}
	for ref, exe := range opts.Images {
		if err := checkImage(ref, exe); err != nil {
			return nil, err
		}
	}
	bin, err := Install(ctx, opts)
	if err != nil {
		return nil, err
	}
	if opts.Log == nil {
		opts.Log = io.Discard
	}
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()

	// A port drawn as free can be taken before a component binds it; that
	// is rare, and a new attempt draws new ports.
	for attempt := 1; attempt <= 3; attempt++ {
		var c *Cluster
		c, err = start(ctx, bin, opts)
		if err == nil {
			return c, nil
		}
		if !strings.Contains(err.Error(), "address already in use") {
			break
		}
		fmt.Fprintf(opts.Log, "localcluster: a port was taken, starting again (%d/3)\n", attempt)
	}
	return nil, err
}

// dirPrefix begins the name of each cluster's directory in os.TempDir(),
// followed by the pid of the process that started it.
const dirPrefix = "kubequeue-localcluster-"

func start(ctx context.Context, bin string, opts Options) (c *Cluster, err error) {
	begin := time.Now()
	removeStale(os.TempDir(), dirPrefix)
	dir, err := os.MkdirTemp("", dirPrefix+strconv.Itoa(os.Getpid())+"-")
	if err != nil {
		return nil, fmt.Errorf("localcluster: %w", err)
	}
	c = &Cluster{dir: dir, opts: opts}
	defer func() {
		if err != nil {
			err = fmt.Errorf("%w\n%s", err, c.LogTail(20))
			c.Stop()
		}
	}()
	c.etcdDir, err = etcdDataDir(dir)
	if err != nil {
		return c, err
	}
	for ref, exe := range opts.Images {
		c.images.Set(ref, exe)
	}

	ports, err := freePorts(6)
	if err != nil {
		return c, err
	}
	etcdPort, peerPort, apiPort, kcmPort, schedPort, kubeletPort := ports[0], ports[1], ports[2], ports[3], ports[4], ports[5]
	c.host = "https://127.0.0.1:" + strconv.Itoa(apiPort)

	files, err := c.writeCredentials()
	if err != nil {
		return c, err
	}

	// etcd
	etcdURL := "http://127.0.0.1:" + strconv.Itoa(etcdPort)
	peerURL := "http://127.0.0.1:" + strconv.Itoa(peerPort)
	etcd, err := c.run(bin, binEtcd,
		"--name=default",
		"--data-dir="+c.etcdDir,
		"--listen-client-urls="+etcdURL,
		"--advertise-client-urls="+etcdURL,
		"--listen-peer-urls="+peerURL,
		"--initial-advertise-peer-urls="+peerURL,
		"--initial-cluster=default="+peerURL,
		"--unsafe-no-fsync",
		"--log-level=warn",
	)
	if err != nil {
		return c, err
	}
	if err := waitFor(ctx, "etcd to be healthy", etcd, httpCheck(http.DefaultClient, etcdURL+"/health")); err != nil {
		return c, err
	}

	// kube-apiserver
	apiserver, err := c.run(bin, binAPIServer,
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		"--secure-port="+strconv.Itoa(apiPort),
		"--etcd-servers="+etcdURL,
		"--tls-cert-file="+files.servingCert,
		"--tls-private-key-file="+files.servingKey,
		"--client-ca-file="+files.caCert,
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file="+files.serviceAccountKey,
		"--service-account-signing-key-file="+files.serviceAccountKey,
		"--service-cluster-ip-range=10.96.0.0/16",
		"--authorization-mode=RBAC",
		"--endpoint-reconciler-type=none",
		"--allow-privileged=true",
		"--profiling=false",
		// pods/log and the other kubelet calls: a client certificate, the
		// kubelet's serving certificate checked against the CA, and the
		// node's address rather than its (unresolvable) name.
		"--kubelet-client-certificate="+files.kubeletClientCert,
		"--kubelet-client-key="+files.kubeletClientKey,
		"--kubelet-certificate-authority="+files.caCert,
		"--kubelet-preferred-address-types=InternalIP",
	)
	if err != nil {
		return c, err
	}
	client, err := kubernetes.NewForConfig(c.admin)
	if err != nil {
		return c, fmt.Errorf("localcluster: %w", err)
	}
	if err := waitFor(ctx, "kube-apiserver to be ready", apiserver, func(ctx context.Context) error {
		return client.Discovery().RESTClient().Get().AbsPath("/readyz").Do(ctx).Error()
	}); err != nil {
		return c, err
	}

	// Controllers, scheduler and nodes start together. The first two serve
	// health checks on ports of their own (their defaults, 10257 and 10259,
	// would clash between clusters) with the API server's certificate.
	serving := func(port int) []string {
		return []string{
			"--bind-address=127.0.0.1",
			"--secure-port=" + strconv.Itoa(port),
			"--tls-cert-file=" + files.servingCert,
			"--tls-private-key-file=" + files.servingKey,
		}
	}
	kcm, err := c.run(bin, binControllerManager, append([]string{
		"--kubeconfig=" + c.kubeconfig,
		"--controllers=" + strings.Join(controllers, ","),
		"--leader-elect=false",
		"--use-service-account-credentials=false",
		"--kube-api-qps=1000",
		"--kube-api-burst=2000",
		"--concurrent-job-syncs=20",
		"--root-ca-file=" + files.caCert,
	}, serving(kcmPort)...)...)
	if err != nil {
		return c, err
	}
	scheduler, err := c.run(bin, binScheduler, append([]string{
		"--config=" + files.schedulerConfig,
	}, serving(schedPort)...)...)
	if err != nil {
		return c, err
	}
	if err := createNode(ctx, client); err != nil {
		return c, err
	}
	kwok, err := c.run(bin, binKwok,
		"--kubeconfig="+c.kubeconfig,
		"--config="+files.kwokStages,
		"--manage-single-node="+SimulatedNodeName,
		"--node-ip=127.0.0.1",
		"--cidr=10.244.0.0/16",
	)
	if err != nil {
		return c, err
	}
	kubelet, err := c.startKubelet(files, kubeletPort)
	if err != nil {
		return c, err
	}

	healthClient := c.healthClient()
	defer healthClient.CloseIdleConnections()
	if err := waitFor(ctx, "kube-controller-manager to be healthy", kcm,
		httpCheck(healthClient, "https://127.0.0.1:"+strconv.Itoa(kcmPort)+"/healthz")); err != nil {
		return c, err
	}
	if err := waitFor(ctx, "kube-scheduler to be healthy", scheduler,
		httpCheck(healthClient, "https://127.0.0.1:"+strconv.Itoa(schedPort)+"/healthz")); err != nil {
		return c, err
	}
	// Pods are refused until their namespace has a default service
	// account, so its existence says the controllers are at work.
	if err := waitFor(ctx, "the service-account controller", kcm, func(ctx context.Context) error {
		_, err := client.CoreV1().ServiceAccounts(metav1.NamespaceDefault).Get(ctx, "default", metav1.GetOptions{})
		return err
	}); err != nil {
		return c, err
	}
	if err := waitFor(ctx, "the kwok node to be Ready", kwok, func(ctx context.Context) error {
		return nodeReady(ctx, client)
	}); err != nil {
		return c, err
	}
	// Admission taints every new node not-ready, and only the node
	// lifecycle controller, which does not run here, would lift it. The
	// simulated node gets its own taint instead.
	simulated, err := json.Marshal(map[string]any{"spec": map[string]any{"taints": []corev1.Taint{SimulatedTaint}}})
	if err != nil {
		return c, err
	}
	if _, err := client.CoreV1().Nodes().Patch(ctx, SimulatedNodeName, types.MergePatchType, simulated, metav1.PatchOptions{}); err != nil {
		return c, fmt.Errorf("localcluster: taint node %s: %w", SimulatedNodeName, err)
	}
	// The kubelet is ready once its node is Ready with the not-ready taint
	// lifted.
	if err := waitFor(ctx, "the local kubelet's node to be Ready", kubelet, func(context.Context) error {
		select {
		case <-kubelet.ready:
			return nil
		default:
			return fmt.Errorf("node %s is not Ready", LocalNodeName)
		}
	}); err != nil {
		return c, err
	}
	fmt.Fprintf(opts.Log, "localcluster: Kubernetes %s ready at %s in %s (logs in %s)\n",
		KubernetesVersion, c.host, time.Since(begin).Round(10*time.Millisecond), dir)
	return c, nil
}

// credentialFiles are the paths writeCredentials wrote.
type credentialFiles struct {
	caCert, servingCert, servingKey, serviceAccountKey, schedulerConfig, kwokStages string
	// The local kubelet's serving certificate for 127.0.0.1, and the API
	// server's client certificate for calling it.
	kubeletServingCert, kubeletServingKey, kubeletClientCert, kubeletClientKey string
}

// writeCredentials creates the CA, the serving certificates, the admin
// kubeconfig, the service-account key, the scheduler configuration and
// kwok's stages.
func (c *Cluster) writeCredentials() (credentialFiles, error) {
	ca, err := newAuthority("kubequeue-localcluster-ca")
	if err != nil {
		return credentialFiles{}, err
	}
	c.ca = ca
	serving, err := ca.serving("kube-apiserver", []net.IP{net.IPv4(127, 0, 0, 1)}, []string{"localhost"})
	if err != nil {
		return credentialFiles{}, err
	}
	saKey, err := newServiceAccountKey()
	if err != nil {
		return credentialFiles{}, err
	}
	kubeletServing, err := ca.serving("kubequeue-kubelet", []net.IP{net.IPv4(127, 0, 0, 1)}, []string{"localhost", LocalNodeName})
	if err != nil {
		return credentialFiles{}, err
	}
	kubeletClient, err := ca.client("kube-apiserver-kubelet-client", nil)
	if err != nil {
		return credentialFiles{}, err
	}
	if c.admin, err = c.UserConfig("kubequeue-admin", "system:masters"); err != nil {
		return credentialFiles{}, err
	}
	f := credentialFiles{
		caCert:            filepath.Join(c.dir, "ca.crt"),
		servingCert:       filepath.Join(c.dir, "serving.crt"),
		servingKey:        filepath.Join(c.dir, "serving.key"),
		serviceAccountKey: filepath.Join(c.dir, "service-account.key"),
		schedulerConfig:   filepath.Join(c.dir, "scheduler.yaml"),
		kwokStages:        filepath.Join(c.dir, "kwok-stages.yaml"),

		kubeletServingCert: filepath.Join(c.dir, "kubelet-serving.crt"),
		kubeletServingKey:  filepath.Join(c.dir, "kubelet-serving.key"),
		kubeletClientCert:  filepath.Join(c.dir, "apiserver-kubelet-client.crt"),
		kubeletClientKey:   filepath.Join(c.dir, "apiserver-kubelet-client.key"),
	}
	c.kubeconfig = filepath.Join(c.dir, "admin.kubeconfig")
	scheduler := fmt.Sprintf(`apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
clientConnection:
  kubeconfig: %q
  qps: 1000
  burst: 2000
leaderElection:
  leaderElect: false
`, c.kubeconfig)
	for path, data := range map[string][]byte{
		f.caCert:            ca.certPEM,
		f.servingCert:       serving.certPEM,
		f.servingKey:        serving.keyPEM,
		f.serviceAccountKey: saKey,
		f.schedulerConfig:   []byte(scheduler),
		f.kwokStages:        kwokStages,

		f.kubeletServingCert: kubeletServing.certPEM,
		f.kubeletServingKey:  kubeletServing.keyPEM,
		f.kubeletClientCert:  kubeletClient.certPEM,
		f.kubeletClientKey:   kubeletClient.keyPEM,
	} {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			return credentialFiles{}, fmt.Errorf("localcluster: %w", err)
		}
	}
	if err := WriteKubeconfig(c.kubeconfig, c.admin, metav1.NamespaceDefault); err != nil {
		return credentialFiles{}, err
	}
	return f, nil
}

// run starts the component name from the binary directory bin and records
// it for Stop.
func (c *Cluster) run(bin, name string, args ...string) (*process, error) {
	p, err := startProcess(name, filepath.Join(bin, name), args, c.dir)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.procs = append(c.procs, p)
	c.mu.Unlock()
	return p, nil
}

// healthClient trusts the CA that signed the components' serving
// certificate.
func (c *Cluster) healthClient() *http.Client {
	pool := x509.NewCertPool()
	pool.AddCert(c.ca.cert)
	return &http.Client{
		Timeout:   5 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}},
	}
}

// RestartAPIServer kills kube-apiserver at once, as a crash would (SIGKILL,
// no graceful shutdown), leaves it down for down, starts it again with the
// same flags and returns once it is ready. Clients see refused connections
// meanwhile; the other components reconnect. It serves tests of what
// survives an API server restart.
func (c *Cluster) RestartAPIServer(ctx context.Context, down time.Duration) error {
	c.mu.Lock()
	i := slices.IndexFunc(c.procs, func(p *process) bool { return p.name == binAPIServer })
	if i < 0 {
		c.mu.Unlock()
		return errors.New("localcluster: kube-apiserver is not running")
	}
	old := c.procs[i]
	c.mu.Unlock()

	_ = signalGroup(old.cmd.Process.Pid, syscall.SIGKILL)
	<-old.done
	// A ctx that ends while the API server is down does not leave it down.
	select {
	case <-ctx.Done():
	case <-time.After(down):
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), startTimeout)
	defer cancel()
	p, err := startProcess(old.name, old.cmd.Path, old.cmd.Args[1:], c.dir)
	if err != nil {
		return err
	}
	c.mu.Lock()
	if j := slices.Index(c.procs, old); j >= 0 {
		c.procs[j] = p
	} else {
		c.procs = append(c.procs, p)
	}
	c.mu.Unlock()
	client, err := kubernetes.NewForConfig(c.admin)
	if err != nil {
		return err
	}
	return waitFor(ctx, "kube-apiserver to be ready again", p, func(ctx context.Context) error {
		return client.Discovery().RESTClient().Get().AbsPath("/readyz").Do(ctx).Error()
	})
}

// Config returns a copy of the admin's client configuration (group
// system:masters), with QPS 1000 and burst 2000.
func (c *Cluster) Config() *rest.Config {
	return rest.CopyConfig(c.admin)
}

// Kubeconfig returns the path of a kubeconfig file for the admin, with the
// default namespace as its context's namespace. Stop removes it.
func (c *Cluster) Kubeconfig() string { return c.kubeconfig }

// Dir returns the directory holding the cluster's certificates,
// configuration, logs and the pods' files. Stop removes it.
func (c *Cluster) Dir() string { return c.dir }

// UserConfig returns a client configuration that authenticates as user, in
// the given groups, with a client certificate signed by the cluster's CA.
// The user has no permissions until RBAC grants some (or a group such as
// system:masters does).
func (c *Cluster) UserConfig(user string, groups ...string) (*rest.Config, error) {
	if user == "" {
		return nil, errors.New("localcluster: empty user name")
	}
	pair, err := c.ca.client(user, groups)
	if err != nil {
		return nil, err
	}
	return &rest.Config{
		Host: c.host,
		TLSClientConfig: rest.TLSClientConfig{
			CAData:   c.ca.certPEM,
			CertData: pair.certPEM,
			KeyData:  pair.keyPEM,
		},
		QPS:   1000,
		Burst: 2000,
	}, nil
}

// PIDs returns the process IDs of the components (etcd, kube-apiserver,
// kube-controller-manager, kube-scheduler and kwok), each the leader of
// its own process group. The kubelet runs in this process.
func (c *Cluster) PIDs() []int {
	c.mu.Lock()
	defer c.mu.Unlock()
	pids := make([]int, len(c.procs))
	for i, p := range c.procs {
		pids[i] = p.cmd.Process.Pid
	}
	return pids
}

// LogTail returns the last lines of each component's log, the kubelet's
// included, labelled with the log's path, for printing when a test fails.
func (c *Cluster) LogTail(lines int) string {
	c.mu.Lock()
	paths := make([]string, 0, len(c.procs)+1)
	for _, p := range c.procs {
		paths = append(paths, p.logPath)
	}
	if c.kubelet != nil {
		paths = append(paths, c.kubelet.logPath)
	}
	c.mu.Unlock()
	var b strings.Builder
	for _, p := range paths {
		fmt.Fprintf(&b, "==> %s <==\n%s\n", p, tailFile(p, lines))
	}
	return b.String()
}

// Stop stops the kubelet, which ends every container's process group
// (SIGTERM, SIGKILL after 2 seconds), then the components, each with
// SIGTERM to its process group and SIGKILL after 5 seconds: the API
// server's clients first, then the API server, then etcd, so that none
// waits for another that is gone. It removes the cluster's directories and
// returns once everything it started has exited. It is idempotent.
func (c *Cluster) Stop() {
	c.stopOnce.Do(func() {
		c.mu.Lock()
		kubelet, procs := c.kubelet, c.procs
		c.mu.Unlock()
		if kubelet != nil {
			kubelet.stop()
		}
		last := []string{binAPIServer, binEtcd}
		var wg sync.WaitGroup
		for _, p := range procs {
			if !slices.Contains(last, p.name) {
				wg.Go(func() { p.stop(5 * time.Second) })
			}
		}
		wg.Wait()
		for _, name := range last {
			for _, p := range procs {
				if p.name == name {
					p.stop(5 * time.Second)
				}
			}
		}
		if c.etcdDir != "" {
			_ = os.RemoveAll(c.etcdDir)
		}
		_ = os.RemoveAll(c.dir)
	})
}

// WriteKubeconfig writes a kubeconfig file for cfg, which must hold a
// client certificate and key (as [Cluster.Config] and [Cluster.UserConfig]
// return), whose current context uses namespace.
func WriteKubeconfig(path string, cfg *rest.Config, namespace string) error {
	kc := clientcmdapi.NewConfig()
	kc.Clusters["kubequeue"] = &clientcmdapi.Cluster{
		Server:                   cfg.Host,
		CertificateAuthorityData: cfg.CAData,
	}
	kc.AuthInfos["kubequeue"] = &clientcmdapi.AuthInfo{
		ClientCertificateData: cfg.CertData,
		ClientKeyData:         cfg.KeyData,
	}
	kc.Contexts["kubequeue"] = &clientcmdapi.Context{
		Cluster:   "kubequeue",
		AuthInfo:  "kubequeue",
		Namespace: namespace,
	}
	kc.CurrentContext = "kubequeue"
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		return fmt.Errorf("localcluster: write kubeconfig: %w", err)
	}
	return nil
}

// createNode registers the node kwok simulates. kwok fills in its status.
func createNode(ctx context.Context, client kubernetes.Interface) error {
	node := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name: SimulatedNodeName,
			Labels: map[string]string{
				"kubernetes.io/hostname": SimulatedNodeName,
				"kubernetes.io/os":       "linux",
				"type":                   "kwok",
			},
			Annotations: map[string]string{"kwok.x-k8s.io/node": "fake"},
		},
	}
	if _, err := client.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("localcluster: create node %s: %w", SimulatedNodeName, err)
	}
	return nil
}

func nodeReady(ctx context.Context, client kubernetes.Interface) error {
	node, err := client.CoreV1().Nodes().Get(ctx, SimulatedNodeName, metav1.GetOptions{})
	if err != nil {
		return err
	}
	for _, c := range node.Status.Conditions {
		if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
			return nil
		}
	}
	return fmt.Errorf("node %s is not Ready", SimulatedNodeName)
}

// A component is a part of the cluster that can end on its own: a process,
// or the kubelet.
type component interface {
	// exited returns a non-nil error describing the end if it has ended.
	exited() error
}

// waitFor polls check until it returns nil, c ends or ctx ends.
func waitFor(ctx context.Context, what string, c component, check func(context.Context) error) error {
	var last error
	for {
		if err := c.exited(); err != nil {
			return err
		}
		checkCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
		last = check(checkCtx)
		cancel()
		if last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("localcluster: waiting for %s: %w (last: %v)", what, ctx.Err(), last)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func httpCheck(client *http.Client, url string) func(context.Context) error {
	return func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%s: %s: %s", url, resp.Status, body)
		}
		return nil
	}
}

// freePorts returns n distinct loopback ports that were free a moment ago,
// drawn below the kernel's ephemeral range so that outgoing connections,
// which take their ports from that range, cannot take them first.
func freePorts(n int) ([]int, error) {
	lo, hi := 10000, ephemeralLow()
	if hi-lo < 1000 {
		lo = 1024
	}
	return drawPorts(n, lo, hi, rand.IntN, portFree)
}

// drawPorts draws n distinct ports in [lo, hi) with intn, keeping those
// free reports free, and gives up after 1000 draws.
func drawPorts(n, lo, hi int, intn func(int) int, free func(int) bool) ([]int, error) {
	seen := make(map[int]bool, n)
	var ports []int
	for tries := 0; len(ports) < n; tries++ {
		if tries > 1000 {
			return nil, fmt.Errorf("localcluster: no free port found in [%d, %d)", lo, hi)
		}
		p := lo + intn(hi-lo)
		if seen[p] {
			continue
		}
		seen[p] = true
		if free(p) {
			ports = append(ports, p)
		}
	}
	return ports, nil
}

// portFree reports whether a listener can bind 127.0.0.1:p now. Another
// process may take it before the component does; Start retries then.
func portFree(p int) bool {
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
	if err != nil {
		return false
	}
	l.Close()
	return true
}

// ephemeralLow returns the lowest port of the kernel's ephemeral range, or
// 32768 (Linux's default) when it cannot be read.
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 32768
	}
	fields := strings.Fields(string(b))
	if len(fields) == 0 {
		return 32768
	}
	low, err := strconv.Atoi(fields[0])
	if err != nil || low <= 1024 {
		return 32768
	}
	return low
}

// etcdDataDir returns a new directory for etcd's data: in /dev/shm when it
// exists, since the data is thrown away and memory is faster than disk.
// Directories left there by processes that no longer run are removed first.
func etcdDataDir(fallback string) (string, error) {
	const shm = "/dev/shm"
	if st, err := os.Stat(shm); err != nil || !st.IsDir() {
		return filepath.Join(fallback, "etcd"), nil
	}
	removeStale(shm, "kubequeue-etcd-")
	dir, err := os.MkdirTemp(shm, "kubequeue-etcd-"+strconv.Itoa(os.Getpid())+"-")
	if err != nil {
		return filepath.Join(fallback, "etcd"), nil
	}
	return dir, nil
}

// removeStale removes the directories <prefix><pid>-* in root whose process
// no longer runs (a process killed with SIGKILL, or by a test timeout,
// cannot clean up after itself), after ending the processes still running
// that were started for them: a container's children, which outlive the
// container's process when the kubelet's process dies.
func removeStale(root, prefix string) {
	entries, _ := os.ReadDir(root)
	for _, e := range entries {
		rest, ok := strings.CutPrefix(e.Name(), prefix)
		if !ok {
			continue
		}
		pidText, _, _ := strings.Cut(rest, "-")
		pid, err := strconv.Atoi(pidText)
		if err != nil || processAlive(pid) {
			continue
		}
		dir := filepath.Join(root, e.Name())
		killLeftovers(dir)
		_ = os.RemoveAll(dir)
	}
}
