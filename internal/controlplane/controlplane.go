// Package controlplane runs a real Kubernetes control plane on the loopback
// interface, for the integration tests and the demo: etcd, kube-apiserver,
// kube-controller-manager (with the Job, CronJob, TTL-after-finished, garbage
// collector, namespace and service-account controllers), kube-scheduler, and
// two nodes:
//
//   - [LocalNodeName], run by the local kubelet (internal/localkubelet), which
//     runs each pod's containers as local processes, with real exit codes,
//     logs (pods/log works through the API server) and termination messages.
//     Pods land there by default. Images are mapped to local executables with
//     [Options.Images] and [ControlPlane.SetImage].
//   - [SimulatedNodeName], run by kwok, which simulates pods without running
//     anything; it is tainted, and pods opt in with [Simulated].
//
// The binaries are built from the tools modules under tools/controlplane,
// which pin their versions, and from internal/localkubelet, and cached
// outside the repository (see [Ensure]).
// Every component runs in a process group of its own that [ControlPlane.Stop]
// ends; on Linux the kernel also kills them if the process that started them
// dies, so an interrupted test leaves nothing running. Their logs are files
// in [ControlPlane.Dir]; [ControlPlane.LogTail] returns the end of each.
//
// It is a test harness: the admin user, the controller manager, the
// scheduler and the local kubelet all authenticate with client certificates
// in group system:masters, and the local kubelet runs whatever pods name as
// the user running the tests.
package controlplane

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
)

// controllers are the kube-controller-manager controllers the control plane
// runs.
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

// Options configure [Start]. The zero value is ready to use.
type Options struct {
	// BinDir holds the binaries. Empty means [BinDir]: the cached build, or
	// the directory $KUBEQUEUE_CONTROLPLANE_BIN names.
	BinDir string
	// Build builds missing binaries first (see [Ensure]), reporting its
	// progress to Log. Without it, missing binaries are an error that
	// wraps [ErrNotBuilt].
	Build bool
	// Log receives a line for each step (nil discards them).
	Log io.Writer
	// Images maps image references to local executables for the local
	// kubelet; [ControlPlane.SetImage] adds more later.
	Images map[string]string
}

// startTimeout bounds the start of the whole stack, after any build.
const startTimeout = 2 * time.Minute

// A ControlPlane is a running control plane. Its methods are safe for
// concurrent use.
type ControlPlane struct {
	dir        string // certificates, configuration and logs
	etcdDir    string // etcd's data, in memory when /dev/shm exists
	ca         *authority
	host       string
	admin      *rest.Config
	kubeconfig string

	mu    sync.Mutex
	procs []*process

	imagesMu sync.Mutex // serializes writes of the image map

	stopOnce sync.Once
}

// Start starts the control plane and returns once the API server is ready,
// the controllers are working (the default service account exists) and both
// nodes are Ready with their taints set: the local node schedulable, the
// simulated one tainted. It builds missing binaries only with
// [Options.Build]. An image in [Options.Images] that is not an executable
// file is an error. On error everything started is stopped and removed.
func Start(ctx context.Context, opts Options) (*ControlPlane, error) {
	if err := supported(); err != nil {
		return nil, err
	}
	if opts.Log == nil {
		opts.Log = io.Discard
	}
	bin := opts.BinDir
	if bin == "" {
		var err error
		if opts.Build {
			bin, err = Ensure(ctx, opts.Log)
		} else {
			bin, err = BinDir()
		}
		if err != nil {
			return nil, err
		}
	}
	kubelet, err := kubeletBinary(ctx, opts.Build, opts.Log)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()

	// A port drawn as free can be taken before a component binds it; that
	// is rare, and a new attempt draws new ports.
	for attempt := 1; attempt <= 3; attempt++ {
		var cp *ControlPlane
		cp, err = start(ctx, bin, kubelet, opts)
		if err == nil {
			return cp, nil
		}
		if !strings.Contains(err.Error(), "address already in use") {
			break
		}
		fmt.Fprintf(opts.Log, "controlplane: a port was taken, starting again (%d/3)\n", attempt)
	}
	return nil, err
}

func start(ctx context.Context, bin, kubeletBin string, opts Options) (cp *ControlPlane, err error) {
	logw := opts.Log
	begin := time.Now()
	removeStaleDirs(os.TempDir(), "kubequeue-controlplane-")
	dir, err := os.MkdirTemp("", "kubequeue-controlplane-"+strconv.Itoa(os.Getpid())+"-")
	if err != nil {
		return nil, fmt.Errorf("controlplane: %w", err)
	}
	cp = &ControlPlane{dir: dir}
	defer func() {
		if err != nil {
			err = fmt.Errorf("%w\n%s", err, cp.LogTail(20))
			cp.Stop()
		}
	}()
	cp.etcdDir, err = etcdDataDir(dir)
	if err != nil {
		return cp, err
	}

	ports, err := freePorts(6)
	if err != nil {
		return cp, err
	}
	etcdPort, peerPort, apiPort, kcmPort, schedPort, kubeletPort := ports[0], ports[1], ports[2], ports[3], ports[4], ports[5]
	cp.host = "https://127.0.0.1:" + strconv.Itoa(apiPort)

	files, err := cp.writeCredentials()
	if err != nil {
		return cp, err
	}
	for ref, exe := range opts.Images {
		if err := cp.SetImage(ref, exe); err != nil {
			return cp, err
		}
	}

	// etcd
	etcdURL := "http://127.0.0.1:" + strconv.Itoa(etcdPort)
	peerURL := "http://127.0.0.1:" + strconv.Itoa(peerPort)
	etcd, err := cp.run(bin, binEtcd,
		"--name=default",
		"--data-dir="+cp.etcdDir,
		"--listen-client-urls="+etcdURL,
		"--advertise-client-urls="+etcdURL,
		"--listen-peer-urls="+peerURL,
		"--initial-advertise-peer-urls="+peerURL,
		"--initial-cluster=default="+peerURL,
		"--unsafe-no-fsync",
		"--log-level=warn",
	)
	if err != nil {
		return cp, err
	}
	if err := waitFor(ctx, "etcd to be healthy", etcd, httpCheck(http.DefaultClient, etcdURL+"/health")); err != nil {
		return cp, err
	}

	// kube-apiserver
	apiserver, err := cp.run(bin, binAPIServer,
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
		return cp, err
	}
	client, err := kubernetes.NewForConfig(cp.admin)
	if err != nil {
		return cp, fmt.Errorf("controlplane: %w", err)
	}
	if err := waitFor(ctx, "kube-apiserver to be ready", apiserver, func(ctx context.Context) error {
		return client.Discovery().RESTClient().Get().AbsPath("/readyz").Do(ctx).Error()
	}); err != nil {
		return cp, err
	}

	// Controllers, scheduler and node start together. The first two serve
	// health checks on ports of their own (their defaults, 10257 and 10259,
	// would clash between control planes) with the API server's certificate.
	serving := func(port int) []string {
		return []string{
			"--bind-address=127.0.0.1",
			"--secure-port=" + strconv.Itoa(port),
			"--tls-cert-file=" + files.servingCert,
			"--tls-private-key-file=" + files.servingKey,
		}
	}
	kcm, err := cp.run(bin, binControllerManager, append([]string{
		"--kubeconfig=" + cp.kubeconfig,
		"--controllers=" + strings.Join(controllers, ","),
		"--leader-elect=false",
		"--use-service-account-credentials=false",
		"--kube-api-qps=1000",
		"--kube-api-burst=2000",
		"--concurrent-job-syncs=20",
		"--root-ca-file=" + files.caCert,
	}, serving(kcmPort)...)...)
	if err != nil {
		return cp, err
	}
	scheduler, err := cp.run(bin, binScheduler, append([]string{
		"--config=" + files.schedulerConfig,
	}, serving(schedPort)...)...)
	if err != nil {
		return cp, err
	}
	if err := createNode(ctx, client); err != nil {
		return cp, err
	}
	kwok, err := cp.run(bin, binKwok,
		"--kubeconfig="+cp.kubeconfig,
		"--config="+filepath.Join(bin, fileKwokStages),
		"--manage-single-node="+SimulatedNodeName,
		"--node-ip=127.0.0.1",
		"--cidr=10.244.0.0/16",
	)
	if err != nil {
		return cp, err
	}
	taints, err := json.Marshal([]corev1.Taint{})
	if err != nil {
		return cp, err
	}
	kubeletReady := filepath.Join(cp.dir, "kubelet.ready")
	kubelet, err := cp.runPath(binKubelet, kubeletBin,
		"-kubeconfig="+files.kubeletKubeconfig,
		"-node-name="+LocalNodeName,
		"-addr=127.0.0.1:"+strconv.Itoa(kubeletPort),
		"-tls-cert-file="+files.kubeletServingCert,
		"-tls-private-key-file="+files.kubeletServingKey,
		"-client-ca-file="+files.caCert,
		"-images="+cp.imagesFile(),
		"-root-dir="+filepath.Join(cp.dir, "kubelet"),
		"-taints="+string(taints),
		"-ready-file="+kubeletReady,
	)
	if err != nil {
		return cp, err
	}

	healthClient := cp.healthClient()
	defer healthClient.CloseIdleConnections()
	if err := waitFor(ctx, "kube-controller-manager to be healthy", kcm,
		httpCheck(healthClient, "https://127.0.0.1:"+strconv.Itoa(kcmPort)+"/healthz")); err != nil {
		return cp, err
	}
	if err := waitFor(ctx, "kube-scheduler to be healthy", scheduler,
		httpCheck(healthClient, "https://127.0.0.1:"+strconv.Itoa(schedPort)+"/healthz")); err != nil {
		return cp, err
	}
	// Pods are refused until their namespace has a default service
	// account, so its existence says the controllers are at work.
	if err := waitFor(ctx, "the service-account controller", kcm, func(ctx context.Context) error {
		_, err := client.CoreV1().ServiceAccounts(metav1.NamespaceDefault).Get(ctx, "default", metav1.GetOptions{})
		return err
	}); err != nil {
		return cp, err
	}
	if err := waitFor(ctx, "the kwok node to be Ready", kwok, func(ctx context.Context) error {
		return nodeReady(ctx, client)
	}); err != nil {
		return cp, err
	}
	// Admission taints every new node not-ready, and only the node
	// lifecycle controller, which does not run here, would lift it. The
	// simulated node gets its own taint instead.
	simulated, err := json.Marshal(map[string]any{"spec": map[string]any{"taints": []corev1.Taint{SimulatedTaint}}})
	if err != nil {
		return cp, err
	}
	if _, err := client.CoreV1().Nodes().Patch(ctx, SimulatedNodeName, types.MergePatchType, simulated, metav1.PatchOptions{}); err != nil {
		return cp, fmt.Errorf("controlplane: taint node %s: %w", SimulatedNodeName, err)
	}
	// The local kubelet writes its ready file once its node is Ready with
	// the not-ready taint lifted.
	if err := waitFor(ctx, "the local kubelet's node to be Ready", kubelet, func(context.Context) error {
		if !fileExists(kubeletReady) {
			return fmt.Errorf("node %s is not Ready", LocalNodeName)
		}
		return nil
	}); err != nil {
		return cp, err
	}
	fmt.Fprintf(logw, "controlplane: Kubernetes %s ready at %s in %s (logs in %s)\n",
		KubernetesVersion, cp.host, time.Since(begin).Round(10*time.Millisecond), dir)
	return cp, nil
}

// credentialFiles are the paths writeCredentials wrote.
type credentialFiles struct {
	caCert, servingCert, servingKey, serviceAccountKey, schedulerConfig string
	// The local kubelet's: its serving certificate for 127.0.0.1, the API
	// server's client certificate for calling it, and its own kubeconfig.
	kubeletServingCert, kubeletServingKey, kubeletClientCert, kubeletClientKey, kubeletKubeconfig string
}

// writeCredentials creates the CA, the serving certificate, the admin
// kubeconfig, the service-account key and the scheduler configuration.
func (cp *ControlPlane) writeCredentials() (credentialFiles, error) {
	ca, err := newAuthority("kubequeue-controlplane-ca")
	if err != nil {
		return credentialFiles{}, err
	}
	cp.ca = ca
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
	kubeletUser, err := cp.UserConfig("system:node:"+LocalNodeName, "system:nodes", "system:masters")
	if err != nil {
		return credentialFiles{}, err
	}
	if cp.admin, err = cp.UserConfig("kubequeue-admin", "system:masters"); err != nil {
		return credentialFiles{}, err
	}
	f := credentialFiles{
		caCert:            filepath.Join(cp.dir, "ca.crt"),
		servingCert:       filepath.Join(cp.dir, "serving.crt"),
		servingKey:        filepath.Join(cp.dir, "serving.key"),
		serviceAccountKey: filepath.Join(cp.dir, "service-account.key"),
		schedulerConfig:   filepath.Join(cp.dir, "scheduler.yaml"),

		kubeletServingCert: filepath.Join(cp.dir, "kubelet-serving.crt"),
		kubeletServingKey:  filepath.Join(cp.dir, "kubelet-serving.key"),
		kubeletClientCert:  filepath.Join(cp.dir, "apiserver-kubelet-client.crt"),
		kubeletClientKey:   filepath.Join(cp.dir, "apiserver-kubelet-client.key"),
		kubeletKubeconfig:  filepath.Join(cp.dir, "kubelet.kubeconfig"),
	}
	cp.kubeconfig = filepath.Join(cp.dir, "admin.kubeconfig")
	scheduler := fmt.Sprintf(`apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
clientConnection:
  kubeconfig: %q
  qps: 1000
  burst: 2000
leaderElection:
  leaderElect: false
`, cp.kubeconfig)
	for path, data := range map[string][]byte{
		f.caCert:            ca.certPEM,
		f.servingCert:       serving.certPEM,
		f.servingKey:        serving.keyPEM,
		f.serviceAccountKey: saKey,
		f.schedulerConfig:   []byte(scheduler),

		f.kubeletServingCert: kubeletServing.certPEM,
		f.kubeletServingKey:  kubeletServing.keyPEM,
		f.kubeletClientCert:  kubeletClient.certPEM,
		f.kubeletClientKey:   kubeletClient.keyPEM,
	} {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			return credentialFiles{}, fmt.Errorf("controlplane: %w", err)
		}
	}
	if err := WriteKubeconfig(cp.kubeconfig, cp.admin, metav1.NamespaceDefault); err != nil {
		return credentialFiles{}, err
	}
	if err := WriteKubeconfig(f.kubeletKubeconfig, kubeletUser, metav1.NamespaceDefault); err != nil {
		return credentialFiles{}, err
	}
	return f, nil
}

// run starts the component name from the binary directory bin and records
// it for Stop.
func (cp *ControlPlane) run(bin, name string, args ...string) (*process, error) {
	return cp.runPath(name, filepath.Join(bin, name), args...)
}

// runPath starts the component name from the binary at path and records it
// for Stop.
func (cp *ControlPlane) runPath(name, path string, args ...string) (*process, error) {
	p, err := startProcess(name, path, args, cp.dir)
	if err != nil {
		return nil, err
	}
	cp.mu.Lock()
	cp.procs = append(cp.procs, p)
	cp.mu.Unlock()
	return p, nil
}

// healthClient trusts the CA that signed the components' serving
// certificate.
func (cp *ControlPlane) healthClient() *http.Client {
	pool := x509.NewCertPool()
	pool.AddCert(cp.ca.cert)
	return &http.Client{
		Timeout:   5 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}},
	}
}

// RestartAPIServer kills kube-apiserver at once, as a crash would (SIGKILL,
// no graceful shutdown), leaves it down for down, starts it again with the
// same flags and returns once it is ready. Clients see refused connections
// meanwhile; the other components reconnect. Tests use it to prove that
// nothing is lost or doubled across an API server restart.
func (cp *ControlPlane) RestartAPIServer(ctx context.Context, down time.Duration) error {
	cp.mu.Lock()
	i := slices.IndexFunc(cp.procs, func(p *process) bool { return p.name == binAPIServer })
	if i < 0 {
		cp.mu.Unlock()
		return errors.New("controlplane: kube-apiserver is not running")
	}
	old := cp.procs[i]
	cp.mu.Unlock()
	// A ctx that ends while the API server is down does not leave it down.

	_ = signalGroup(old.cmd.Process.Pid, syscall.SIGKILL)
	<-old.done
	select {
	case <-ctx.Done(): // start it again all the same
	case <-time.After(down):
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), startTimeout)
	defer cancel()
	p, err := startProcess(old.name, old.cmd.Path, old.cmd.Args[1:], cp.dir)
	if err != nil {
		return err
	}
	cp.mu.Lock()
	if j := slices.Index(cp.procs, old); j >= 0 {
		cp.procs[j] = p
	} else {
		cp.procs = append(cp.procs, p)
	}
	cp.mu.Unlock()
	client, err := kubernetes.NewForConfig(cp.admin)
	if err != nil {
		return err
	}
	return waitFor(ctx, "kube-apiserver to be ready again", p, func(ctx context.Context) error {
		return client.Discovery().RESTClient().Get().AbsPath("/readyz").Do(ctx).Error()
	})
}

// Config returns a copy of the admin's client configuration (group
// system:masters).
func (cp *ControlPlane) Config() *rest.Config {
	return rest.CopyConfig(cp.admin)
}

// Kubeconfig returns the path of a kubeconfig file for the admin, with the
// default namespace as its context's namespace.
func (cp *ControlPlane) Kubeconfig() string { return cp.kubeconfig }

// Dir returns the directory holding the control plane's certificates,
// configuration and logs. Stop removes it.
func (cp *ControlPlane) Dir() string { return cp.dir }

// UserConfig returns a client configuration that authenticates as user, in
// the given groups, with a client certificate signed by the control plane's
// CA. The user has no permissions until RBAC grants some.
func (cp *ControlPlane) UserConfig(user string, groups ...string) (*rest.Config, error) {
	if user == "" {
		return nil, errors.New("controlplane: empty user name")
	}
	pair, err := cp.ca.client(user, groups)
	if err != nil {
		return nil, err
	}
	return &rest.Config{
		Host: cp.host,
		TLSClientConfig: rest.TLSClientConfig{
			CAData:   cp.ca.certPEM,
			CertData: pair.certPEM,
			KeyData:  pair.keyPEM,
		},
		QPS:   1000,
		Burst: 2000,
	}, nil
}

// PIDs returns the process IDs of the components, each the leader of its
// own process group.
func (cp *ControlPlane) PIDs() []int {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	pids := make([]int, len(cp.procs))
	for i, p := range cp.procs {
		pids[i] = p.cmd.Process.Pid
	}
	return pids
}

// LogTail returns the last lines of each component's log, labelled with the
// component's name, for printing when a test fails.
func (cp *ControlPlane) LogTail(lines int) string {
	cp.mu.Lock()
	procs := append([]*process(nil), cp.procs...)
	cp.mu.Unlock()
	var b strings.Builder
	for _, p := range procs {
		fmt.Fprintf(&b, "==> %s <==\n%s\n", p.logPath, tailFile(p.logPath, lines))
	}
	return b.String()
}

// Stop ends every component (SIGTERM to each process group, SIGKILL after
// 5 seconds) and removes the control plane's directories. It is idempotent.
func (cp *ControlPlane) Stop() {
	cp.stopOnce.Do(func() {
		cp.mu.Lock()
		procs := cp.procs
		cp.mu.Unlock()
		var wg sync.WaitGroup
		for _, p := range procs {
			wg.Go(func() { p.stop(5 * time.Second) })
		}
		wg.Wait()
		if cp.etcdDir != "" {
			_ = os.RemoveAll(cp.etcdDir)
		}
		_ = os.RemoveAll(cp.dir)
	})
}

// WriteKubeconfig writes a kubeconfig file for cfg, whose current context
// uses namespace.
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
		return fmt.Errorf("controlplane: write kubeconfig: %w", err)
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
		return fmt.Errorf("controlplane: create node %s: %w", SimulatedNodeName, err)
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

// waitFor polls check until it returns nil, p exits or ctx ends.
func waitFor(ctx context.Context, what string, p *process, check func(context.Context) error) error {
	var last error
	for {
		if err := p.exited(); err != nil {
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
			return fmt.Errorf("controlplane: waiting for %s: %w (last: %v)", what, ctx.Err(), last)
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
			return nil, fmt.Errorf("controlplane: no free port found in [%d, %d)", lo, hi)
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
	removeStaleDirs(shm, "kubequeue-etcd-")
	dir, err := os.MkdirTemp(shm, "kubequeue-etcd-"+strconv.Itoa(os.Getpid())+"-")
	if err != nil {
		return filepath.Join(fallback, "etcd"), nil
	}
	return dir, nil
}

// removeStaleDirs removes the directories <prefix><pid>-* in root whose
// process no longer runs: a process killed with SIGKILL, or by a test
// timeout, cannot clean up after itself.
func removeStaleDirs(root, prefix string) {
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
		_ = os.RemoveAll(filepath.Join(root, e.Name()))
	}
}
