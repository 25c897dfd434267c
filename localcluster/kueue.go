package localcluster

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	admissionv1 "k8s.io/api/admissionregistration/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"
)

// KueueVersion is the version of Kueue (sigs.k8s.io/kueue) that
// [Cluster.StartKueue] runs. The tools module embedded in this package
// (tools/kueue/go.mod.txt) pins the same version.
const KueueVersion = "v0.17.0"

// KueueQueueLabel is the label that puts a Job in a Kueue LocalQueue. The
// webhooks [Cluster.StartKueue] registers see only Jobs that carry it.
const KueueQueueLabel = "kueue.x-k8s.io/queue-name"

// binKueue is the Kueue binary in its install directory, beside crds/
// (the CRDs of the module's config/components/crd/bases) and
// webhooks.yaml (its config/components/webhook/manifests.yaml).
const binKueue = "kueue"

var kueueComponent = componentSpec{
	module:   "kueue",
	what:     "Kueue " + KueueVersion,
	binaries: []string{binKueue},
	packages: []string{"sigs.k8s.io/kueue/cmd/kueue"},
	ldflags:  "-s -w",
	estimate: 4*time.Minute + 30*time.Second,
}

// kueueNamespace is the namespace Kueue's configuration names.
const kueueNamespace = "kueue-system"

// kueueWebhookName names the webhook configurations StartKueue registers.
const kueueWebhookName = "kubequeue-localcluster-kueue"

// InstallKueue returns the directory holding Kueue ([KueueVersion]), its
// CRDs and its webhook manifest, building it first if it is not in the
// cache: there is no release binary for running Kueue outside a cluster,
// so it is always built from source with the go command, from the module
// versions that the go.mod and go.sum embedded in this package pin (the Go
// module proxy or a module cache that holds them, and about 4 minutes on 2
// cores with empty Go caches). The directory is
// <CacheDir>/kueue-<version>-<hash> ([Options.CacheDir]), where the hash
// covers the embedded files, the build flags and the platform; BinDir and
// $KUBEQUEUE_LOCALCLUSTER_BIN do not apply to it. Concurrent callers, in
// this process or others, build once. Progress goes to [Options.Log].
func InstallKueue(ctx context.Context, opts Options) (string, error) {
	root, err := cacheRoot(opts)
	if err != nil {
		return "", err
	}
	var progress io.Writer = io.Discard
	if opts.Log != nil {
		progress = &syncWriter{w: opts.Log}
	}
	dir := filepath.Join(root, kueueCacheKey())
	complete := func() bool {
		_, err := os.Stat(filepath.Join(dir, installedFile))
		return err == nil
	}
	err = installInto(ctx, dir, complete, progress, func(tmp string) error {
		lines, err := buildSource(ctx, kueueComponent, tmp, progress)
		if err != nil {
			return fmt.Errorf("localcluster: install %s: %w", kueueComponent.what, err)
		}
		if err := copyKueueManifests(ctx, tmp); err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(tmp, installedFile), []byte(strings.Join(lines, "\n")+"\n"), 0o644)
	})
	if err != nil {
		return "", err
	}
	now := time.Now()
	_ = os.Chtimes(dir, now, now)
	return dir, nil
}

// kueueCacheKey names Kueue's cache directory.
func kueueCacheKey() string {
	h := sha256.New()
	for _, f := range []string{"go.mod", "go.sum"} {
		h.Write(toolsFile(kueueComponent.module, f))
	}
	fmt.Fprintf(h, "%q %q %s/%s\n", kueueComponent.packages, kueueComponent.ldflags, runtime.GOOS, runtime.GOARCH)
	return fmt.Sprintf("kueue-%s-%s", KueueVersion, hex.EncodeToString(h.Sum(nil))[:12])
}

// copyKueueManifests copies the CRDs and the webhook manifest of the Kueue
// module, which the build has put in the module cache, into dir.
func copyKueueManifests(ctx context.Context, dir string) error {
	goBin, err := goCommand()
	if err != nil {
		return err
	}
	scratch, err := os.MkdirTemp("", "kubequeue-localcluster-kueue-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(scratch)
	for _, f := range []string{"go.mod", "go.sum"} {
		if err := os.WriteFile(filepath.Join(scratch, f), toolsFile(kueueComponent.module, f), 0o644); err != nil {
			return err
		}
	}
	cmd := goCmd(ctx, goBin, scratch, "list", "-m", "-f", "{{.Dir}}", "sigs.k8s.io/kueue")
	out, err := cmd.Output()
	if err != nil {
		return fmt.Errorf("localcluster: find the Kueue module: %w", err)
	}
	module := strings.TrimSpace(string(out))
	crds, err := filepath.Glob(filepath.Join(module, "config", "components", "crd", "bases", "*.yaml"))
	if err != nil || len(crds) == 0 {
		return fmt.Errorf("localcluster: no CRDs in the Kueue module at %s", module)
	}
	if err := os.Mkdir(filepath.Join(dir, "crds"), 0o755); err != nil {
		return err
	}
	for _, src := range crds {
		if err := copyFile(src, filepath.Join(dir, "crds", filepath.Base(src))); err != nil {
			return err
		}
	}
	return copyFile(filepath.Join(module, "config", "components", "webhook", "manifests.yaml"), filepath.Join(dir, "webhooks.yaml"))
}

func copyFile(src, dst string) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return fmt.Errorf("localcluster: %w", err)
	}
	return os.WriteFile(dst, b, 0o644)
}

// A Kueue is a Kueue controller manager started by [Cluster.StartKueue].
type Kueue struct {
	c    *Cluster
	proc *process
}

// StartKueue installs Kueue if it is missing (see [InstallKueue], with the
// Options given to [Start]), applies its CRDs, starts it outside the
// cluster, as a process of this machine that manages batch/v1 Jobs only,
// and returns once it is ready and its webhooks are registered. It is an
// optional component: a cluster runs without Kueue until this is called.
//
// Kueue's webhooks are registered by URL (https://127.0.0.1:<port>), with
// failurePolicy Fail as upstream ships them; the Job webhooks have an
// objectSelector that matches Jobs with the label [KueueQueueLabel] only,
// so Jobs without it are created as usual, even while Kueue is stopped;
// Jobs with it are refused then. Kueue's serving certificates are signed
// by the cluster's CA and stay in [Cluster.Dir].
//
// Kueue v0.17.0 reads its metrics certificate from the fixed path
// /etc/kueue/metrics/certs. So that nothing is written to the host's /etc,
// Kueue runs in a mount namespace of its own (on Linux only), where an
// overlay over /etc, on a tmpfs that goes away with the namespace, holds
// that certificate: root can create the namespace; other users need
// unprivileged user namespaces (Kueue then runs as root of a user
// namespace of its own, with no more rights on the host than the caller).
// The pending-workloads visibility API (feature gate VisibilityOnDemand)
// is turned off, as it reads certificates from another fixed path.
//
// Calling StartKueue again while Kueue runs is an error; after
// [Kueue.Stop] it starts a new one. [Cluster.Stop] stops it too.
func (c *Cluster) StartKueue(ctx context.Context) (*Kueue, error) {
	if runtime.GOOS != "linux" {
		return nil, errors.New("localcluster: Kueue runs on Linux only (it needs a mount namespace)")
	}
	c.mu.Lock()
	running := slices.ContainsFunc(c.procs, func(p *process) bool { return p.name == binKueue && p.exited() == nil })
	opts := c.opts
	c.mu.Unlock()
	if running {
		return nil, errors.New("localcluster: Kueue is already running")
	}
	dir, err := InstallKueue(ctx, opts)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	client, err := kubernetes.NewForConfig(c.admin)
	if err != nil {
		return nil, fmt.Errorf("localcluster: %w", err)
	}
	dyn, err := dynamic.NewForConfig(c.admin)
	if err != nil {
		return nil, fmt.Errorf("localcluster: %w", err)
	}
	if err := applyKueueCRDs(ctx, dyn, filepath.Join(dir, "crds")); err != nil {
		return nil, err
	}
	if _, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: kueueNamespace}}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return nil, fmt.Errorf("localcluster: create namespace %s: %w", kueueNamespace, err)
	}

	ports, err := freePorts(3)
	if err != nil {
		return nil, err
	}
	webhookPort, healthPort, metricsPort := ports[0], ports[1], ports[2]
	work, err := os.MkdirTemp(c.dir, "kueue-")
	if err != nil {
		return nil, fmt.Errorf("localcluster: %w", err)
	}
	certDir := filepath.Join(work, "certs")
	overlay := filepath.Join(work, "etc-overlay")
	for _, d := range []string{certDir, overlay} {
		if err := os.Mkdir(d, 0o700); err != nil {
			return nil, fmt.Errorf("localcluster: %w", err)
		}
	}
	serving, err := c.ca.serving("kueue-webhook", []net.IP{net.IPv4(127, 0, 0, 1)}, []string{"localhost"})
	if err != nil {
		return nil, err
	}
	config := fmt.Sprintf(`apiVersion: config.kueue.x-k8s.io/v1beta2
kind: Configuration
namespace: %s
health: {healthProbeBindAddress: "127.0.0.1:%d"}
metrics: {bindAddress: "127.0.0.1:%d"}
webhook: {host: 127.0.0.1, port: %d, certDir: %q}
leaderElection: {leaderElect: false}
internalCertManagement: {enable: false}
clientConnection: {qps: 100, burst: 200}
integrations: {frameworks: ["batch/job"]}
`, kueueNamespace, healthPort, metricsPort, webhookPort, certDir)
	configPath := filepath.Join(work, "config.yaml")
	for path, data := range map[string][]byte{
		filepath.Join(certDir, "tls.crt"): serving.certPEM,
		filepath.Join(certDir, "tls.key"): serving.keyPEM,
		configPath:                        []byte(config),
	} {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			return nil, fmt.Errorf("localcluster: %w", err)
		}
	}
	// The shell runs in Kueue's mount namespace: a tmpfs for the overlay's
	// writable layer (overlayfs refuses one on most other file systems),
	// the metrics certificate in it, the overlay over /etc, then Kueue.
	script := `set -e
mount -t tmpfs kubequeue-kueue "$1"
mkdir -p "$1/upper/kueue/metrics/certs" "$1/work"
cp "$2/tls.crt" "$2/tls.key" "$1/upper/kueue/metrics/certs/"
mount -t overlay kubequeue-kueue -o "lowerdir=/etc,upperdir=$1/upper,workdir=$1/work" /etc
shift 2
exec "$@"`
	args := []string{"-c", script, "sh", overlay, certDir, filepath.Join(dir, binKueue),
		"--config=" + configPath,
		"--kubeconfig=" + c.kubeconfig,
		"--feature-gates=VisibilityOnDemand=false",
		"--zap-log-level=2",
	}
	sh, err := lookPathIn("sh")
	if err != nil {
		return nil, err
	}
	proc, err := startProcessWith(binKueue, sh, args, c.dir, privateMounts)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.procs = append(c.procs, proc)
	c.mu.Unlock()
	k := &Kueue{c: c, proc: proc}
	fail := func(err error) (*Kueue, error) {
		k.Stop()
		return nil, fmt.Errorf("%w\n==> %s <==\n%s", err, proc.logPath, tailFile(proc.logPath, 20))
	}
	if err := waitFor(ctx, "Kueue to be ready", proc, httpCheck(http.DefaultClient, "http://127.0.0.1:"+strconv.Itoa(healthPort)+"/readyz")); err != nil {
		return fail(err)
	}
	if err := registerKueueWebhooks(ctx, client, filepath.Join(dir, "webhooks.yaml"), webhookPort, c.ca.certPEM); err != nil {
		return fail(err)
	}
	// The API server applies new webhook configurations a moment later: a
	// labelled Job created in a dry run comes back suspended once Kueue's
	// mutating webhook sees Jobs.
	if err := waitFor(ctx, "Kueue's Job webhook to be in effect", proc, func(ctx context.Context) error {
		return probeJobWebhook(ctx, client)
	}); err != nil {
		return fail(err)
	}
	return k, nil
}

// probeJobWebhook creates a Job labelled [KueueQueueLabel] in a dry run
// and returns nil if Kueue's webhook suspended it.
func probeJobWebhook(ctx context.Context, client kubernetes.Interface) error {
	job := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: "kueue-webhook-probe", Labels: map[string]string{KueueQueueLabel: "probe"}},
		Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
			RestartPolicy: corev1.RestartPolicyNever,
			Containers:    []corev1.Container{{Name: "probe", Image: "probe"}},
		}}},
	}
	got, err := client.BatchV1().Jobs(metav1.NamespaceDefault).Create(ctx, job, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
	if err != nil {
		return err
	}
	if got.Spec.Suspend == nil || !*got.Spec.Suspend {
		return errors.New("a labelled Job was not suspended")
	}
	return nil
}

// Stop stops Kueue (SIGTERM, SIGKILL after 5 seconds) and returns once it
// has exited. Its CRDs, its objects and its webhook registrations stay:
// Jobs with the label [KueueQueueLabel] are refused until Kueue starts
// again. It is idempotent.
func (k *Kueue) Stop() {
	k.proc.stop(5 * time.Second)
	k.c.mu.Lock()
	k.c.procs = slices.DeleteFunc(k.c.procs, func(p *process) bool { return p == k.proc })
	k.c.mu.Unlock()
}

// LogPath returns the path of Kueue's log file, in [Cluster.Dir].
func (k *Kueue) LogPath() string { return k.proc.logPath }

func lookPathIn(name string) (string, error) {
	for _, d := range []string{"/bin", "/usr/bin"} {
		p := filepath.Join(d, name)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("localcluster: Kueue needs %s in /bin or /usr/bin", name)
}

var crdGVR = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}

// applyKueueCRDs applies the CRDs in dir (server-side apply) and waits
// until each is established.
func applyKueueCRDs(ctx context.Context, dyn dynamic.Interface, dir string) error {
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil || len(files) == 0 {
		return fmt.Errorf("localcluster: no Kueue CRDs in %s", dir)
	}
	var names []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return fmt.Errorf("localcluster: %w", err)
		}
		data, err := yaml.YAMLToJSON(b)
		if err != nil {
			return fmt.Errorf("localcluster: %s: %w", f, err)
		}
		var u unstructured.Unstructured
		if err := u.UnmarshalJSON(data); err != nil {
			return fmt.Errorf("localcluster: %s: %w", f, err)
		}
		force := true
		if _, err := dyn.Resource(crdGVR).Patch(ctx, u.GetName(), types.ApplyPatchType, data, metav1.PatchOptions{FieldManager: "kubequeue-localcluster", Force: &force}); err != nil {
			return fmt.Errorf("localcluster: apply CRD %s: %w", u.GetName(), err)
		}
		names = append(names, u.GetName())
	}
	for _, name := range names {
		err := pollUntil(ctx, "CRD "+name+" to be established", func(ctx context.Context) error {
			u, err := dyn.Resource(crdGVR).Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
			for _, c := range conds {
				m, _ := c.(map[string]any)
				if m["type"] == "Established" && m["status"] == "True" {
					return nil
				}
			}
			return errors.New("not established")
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// pollUntil polls check until it returns nil or ctx ends.
func pollUntil(ctx context.Context, what string, check func(context.Context) error) error {
	for {
		last := check(ctx)
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

// kueueWebhookGroups are the API groups whose webhooks are registered: the
// Job integration's and Kueue's own.
var kueueWebhookGroups = []string{"batch", "kueue.x-k8s.io"}

// kueueWebhooks reads Kueue's webhook manifest and returns the
// configurations to register: the webhooks of kueueWebhookGroups, called
// at https://127.0.0.1:<port><path> with caBundle, the Job webhooks
// limited to Jobs labelled [KueueQueueLabel].
func kueueWebhooks(manifest []byte, port int, caBundle []byte) (*admissionv1.MutatingWebhookConfiguration, *admissionv1.ValidatingWebhookConfiguration, error) {
	mutating := &admissionv1.MutatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: kueueWebhookName}}
	validating := &admissionv1.ValidatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: kueueWebhookName}}
	client := func(cc admissionv1.WebhookClientConfig) (admissionv1.WebhookClientConfig, error) {
		if cc.Service == nil || cc.Service.Path == nil {
			return cc, errors.New("a webhook without a service path")
		}
		url := "https://127.0.0.1:" + strconv.Itoa(port) + *cc.Service.Path
		return admissionv1.WebhookClientConfig{URL: &url, CABundle: caBundle}, nil
	}
	selector := &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: KueueQueueLabel, Operator: metav1.LabelSelectorOpExists}}}
	// adapt points a webhook of the batch or Kueue group at Kueue and
	// limits a Job webhook to queued Jobs; ok is false for other groups.
	adapt := func(name string, rules []admissionv1.RuleWithOperations, cc *admissionv1.WebhookClientConfig, sel **metav1.LabelSelector) (ok bool, err error) {
		group, ok := webhookGroup(rules)
		if !ok {
			return false, nil
		}
		if *cc, err = client(*cc); err != nil {
			return false, fmt.Errorf("localcluster: Kueue webhook %s: %w", name, err)
		}
		if group == "batch" {
			*sel = selector
		}
		return true, nil
	}
	for doc := range bytes.SplitSeq(manifest, []byte("\n---")) {
		if len(bytes.TrimSpace(doc)) == 0 {
			continue
		}
		var meta metav1.TypeMeta
		if err := yaml.Unmarshal(doc, &meta); err != nil {
			return nil, nil, fmt.Errorf("localcluster: Kueue webhook manifest: %w", err)
		}
		switch meta.Kind {
		case "MutatingWebhookConfiguration":
			var m admissionv1.MutatingWebhookConfiguration
			if err := yaml.Unmarshal(doc, &m); err != nil {
				return nil, nil, fmt.Errorf("localcluster: Kueue webhook manifest: %w", err)
			}
			for _, w := range m.Webhooks {
				if ok, err := adapt(w.Name, w.Rules, &w.ClientConfig, &w.ObjectSelector); err != nil {
					return nil, nil, err
				} else if ok {
					mutating.Webhooks = append(mutating.Webhooks, w)
				}
			}
		case "ValidatingWebhookConfiguration":
			var v admissionv1.ValidatingWebhookConfiguration
			if err := yaml.Unmarshal(doc, &v); err != nil {
				return nil, nil, fmt.Errorf("localcluster: Kueue webhook manifest: %w", err)
			}
			for _, w := range v.Webhooks {
				if ok, err := adapt(w.Name, w.Rules, &w.ClientConfig, &w.ObjectSelector); err != nil {
					return nil, nil, err
				} else if ok {
					validating.Webhooks = append(validating.Webhooks, w)
				}
			}
		}
	}
	if len(mutating.Webhooks) == 0 || len(validating.Webhooks) == 0 {
		return nil, nil, errors.New("localcluster: no Job webhooks in Kueue's webhook manifest")
	}
	return mutating, validating, nil
}

// webhookGroup returns the API group of a webhook's rules when it is one
// of kueueWebhookGroups.
func webhookGroup(rules []admissionv1.RuleWithOperations) (string, bool) {
	for _, r := range rules {
		for _, g := range r.APIGroups {
			if slices.Contains(kueueWebhookGroups, g) {
				return g, true
			}
		}
	}
	return "", false
}

// registerKueueWebhooks creates the webhook configurations, or updates
// them when a Kueue started before registered them.
func registerKueueWebhooks(ctx context.Context, client kubernetes.Interface, manifestPath string, port int, caBundle []byte) error {
	manifest, err := os.ReadFile(manifestPath)
	if err != nil {
		return fmt.Errorf("localcluster: %w", err)
	}
	mutating, validating, err := kueueWebhooks(manifest, port, caBundle)
	if err != nil {
		return err
	}
	// Replaced in place, so that no labelled Job slips through unseen.
	api := client.AdmissionregistrationV1()
	if _, err := api.MutatingWebhookConfigurations().Create(ctx, mutating, metav1.CreateOptions{}); apierrors.IsAlreadyExists(err) {
		var old *admissionv1.MutatingWebhookConfiguration
		if old, err = api.MutatingWebhookConfigurations().Get(ctx, kueueWebhookName, metav1.GetOptions{}); err == nil {
			mutating.ResourceVersion = old.ResourceVersion
			_, err = api.MutatingWebhookConfigurations().Update(ctx, mutating, metav1.UpdateOptions{})
		}
		if err != nil {
			return fmt.Errorf("localcluster: register Kueue's webhooks: %w", err)
		}
	} else if err != nil {
		return fmt.Errorf("localcluster: register Kueue's webhooks: %w", err)
	}
	if _, err := api.ValidatingWebhookConfigurations().Create(ctx, validating, metav1.CreateOptions{}); apierrors.IsAlreadyExists(err) {
		var old *admissionv1.ValidatingWebhookConfiguration
		if old, err = api.ValidatingWebhookConfigurations().Get(ctx, kueueWebhookName, metav1.GetOptions{}); err == nil {
			validating.ResourceVersion = old.ResourceVersion
			_, err = api.ValidatingWebhookConfigurations().Update(ctx, validating, metav1.UpdateOptions{})
		}
		if err != nil {
			return fmt.Errorf("localcluster: register Kueue's webhooks: %w", err)
		}
	} else if err != nil {
		return fmt.Errorf("localcluster: register Kueue's webhooks: %w", err)
	}
	return nil
}
