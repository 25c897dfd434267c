package localkubelet

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/virtual-kubelet/virtual-kubelet/errdefs"
	"github.com/virtual-kubelet/virtual-kubelet/node/api"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	corev1listers "k8s.io/client-go/listers/core/v1"
	statsv1alpha1 "k8s.io/kubelet/pkg/apis/stats/v1alpha1"
	"k8s.io/utils/ptr"
)

// provider runs the pods bound to the local node as local processes. It
// implements virtual-kubelet's nodeutil.Provider and node.PodNotifier.
type provider struct {
	nodeName       string
	dir            string // pods live in dir/pods/<namespace>_<name>_<uid>
	images         *Images
	restartBackoff time.Duration
	log            *slog.Logger

	client     kubernetes.Interface
	pods       corev1listers.PodLister
	secrets    corev1listers.SecretLister
	configMaps corev1listers.ConfigMapLister

	mu       sync.Mutex
	byKey    map[string]*podRun // by namespace/name
	notify   func(*corev1.Pod)
	shutdown bool
}

func podKey(namespace, name string) string { return namespace + "/" + name }

func (p *provider) get(namespace, name string) *podRun {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.byKey[podKey(namespace, name)]
}

// CreatePod starts pod's containers. Its env has been resolved by
// virtual-kubelet (ConfigMap and Secret keys, the downward API, $(VAR)
// references between variables).
func (p *provider) CreatePod(ctx context.Context, pod *corev1.Pod) error {
	k := podKey(pod.Namespace, pod.Name)
	p.mu.Lock()
	if p.shutdown {
		// The pod stays Pending rather than fail (an error here would have
		// virtual-kubelet mark it Failed).
		p.mu.Unlock()
		return nil
	}
	old := p.byKey[k]
	if old != nil && old.uid == pod.UID {
		p.mu.Unlock()
		return nil
	}
	r := newPodRun(p, pod)
	p.byKey[k] = r
	p.mu.Unlock()
	if old != nil {
		old.stop(0)
	}
	if startedElsewhere(pod) {
		// A kubelet that has restarted no longer has the processes it ran
		// (they die with it): the pod is not run a second time, it fails,
		// as a pod does whose node lost its containers.
		r.lost()
		return nil
	}
	go r.run(context.WithoutCancel(ctx))
	return nil
}

// startedElsewhere reports whether pod has already been started, by a
// previous run of this kubelet.
func startedElsewhere(pod *corev1.Pod) bool {
	if pod.Status.StartTime != nil {
		return true
	}
	for _, cs := range pod.Status.ContainerStatuses {
		if cs.State.Running != nil || cs.State.Terminated != nil {
			return true
		}
	}
	return false
}

// UpdatePod accepts the changes Kubernetes allows on a running pod (labels,
// annotations, an image, activeDeadlineSeconds) without acting on them. A
// pod of a known name but a new UID is a new pod, created again after the
// old one was deleted: it is started.
func (p *provider) UpdatePod(ctx context.Context, pod *corev1.Pod) error {
	if r := p.get(pod.Namespace, pod.Name); r != nil && r.uid != pod.UID {
		return p.CreatePod(ctx, pod)
	}
	return nil
}

// DeletePod stops pod's processes: SIGTERM to each process group, SIGKILL
// once the grace period has passed. The terminal status follows once they
// have exited. For a pod that has already ended it forgets the pod and
// removes its files.
func (p *provider) DeletePod(_ context.Context, pod *corev1.Pod) error {
	r := p.get(pod.Namespace, pod.Name)
	if r == nil || (pod.UID != "" && r.uid != pod.UID) {
		return errdefs.NotFoundf("pod %s/%s is not known to the local kubelet", pod.Namespace, pod.Name)
	}
	grace := 30 * time.Second
	switch {
	case pod.DeletionGracePeriodSeconds != nil:
		grace = time.Duration(*pod.DeletionGracePeriodSeconds) * time.Second
	case pod.Spec.TerminationGracePeriodSeconds != nil:
		grace = time.Duration(*pod.Spec.TerminationGracePeriodSeconds) * time.Second
	}
	r.mu.Lock()
	r.deleted = true
	r.mu.Unlock()
	if r.stop(grace) {
		r.notifyCurrent()
		p.forget(r)
	}
	return nil
}

// removeFromAPI finishes the deletion of a pod whose containers have all
// stopped, as the kubelet does: it writes the terminal status, then deletes
// the pod with no grace period (the grace was the kubelet's to give, and it
// is over), so that the pod does not linger as Terminating until its grace
// period ends.
func (p *provider) removeFromAPI(ctx context.Context, r *podRun) {
	r.mu.Lock()
	pod := r.podLocked(true)
	r.mu.Unlock()
	pods := statusPatcher{p.client.CoreV1()}.Pods(pod.Namespace)
	if _, err := pods.UpdateStatus(ctx, pod, metav1.UpdateOptions{}); err != nil {
		if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
			p.forget(r) // already gone, or replaced by a pod of a new UID
			return
		}
		p.log.Warn("write the final status of a deleted pod", "pod", r.key, "err", err)
		return
	}
	err := pods.Delete(ctx, pod.Name, metav1.DeleteOptions{
		GracePeriodSeconds: ptr.To[int64](0),
		Preconditions:      metav1.NewUIDPreconditions(string(r.uid)),
	})
	switch {
	case err == nil || apierrors.IsNotFound(err) || apierrors.IsConflict(err):
		p.forget(r)
	default:
		p.log.Warn("delete a stopped pod", "pod", r.key, "err", err)
	}
}

// forget drops r and its files.
func (p *provider) forget(r *podRun) {
	if err := os.RemoveAll(r.dir); err != nil {
		p.log.Warn("remove pod directory", "pod", r.key, "err", err)
	}
	p.mu.Lock()
	if p.byKey[r.key] == r {
		delete(p.byKey, r.key)
	}
	p.mu.Unlock()
}

// GetPod returns the pod as the kubelet runs it, with its current status.
func (p *provider) GetPod(_ context.Context, namespace, name string) (*corev1.Pod, error) {
	r := p.get(namespace, name)
	if r == nil {
		return nil, errdefs.NotFoundf("pod %s/%s is not known to the local kubelet", namespace, name)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.podLocked(false), nil
}

// GetPodStatus returns the pod's current status.
func (p *provider) GetPodStatus(ctx context.Context, namespace, name string) (*corev1.PodStatus, error) {
	pod, err := p.GetPod(ctx, namespace, name)
	if err != nil {
		return nil, err
	}
	return &pod.Status, nil
}

// GetPods returns every pod the kubelet knows.
func (p *provider) GetPods(context.Context) ([]*corev1.Pod, error) {
	p.mu.Lock()
	runs := make([]*podRun, 0, len(p.byKey))
	for _, r := range p.byKey {
		runs = append(runs, r)
	}
	p.mu.Unlock()
	pods := make([]*corev1.Pod, 0, len(runs))
	for _, r := range runs {
		r.mu.Lock()
		pods = append(pods, r.podLocked(false))
		r.mu.Unlock()
	}
	return pods, nil
}

// NotifyPods registers the callback through which status changes are
// pushed.
func (p *provider) NotifyPods(_ context.Context, notify func(*corev1.Pod)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.notify = notify
}

func (p *provider) notifier() func(*corev1.Pod) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.shutdown {
		return nil
	}
	return p.notify
}

// GetContainerLogs returns a container's output as pods/log serves it.
// tailLines, limitBytes, sinceSeconds, sinceTime, timestamps, follow and
// previous are supported; tailLines=0 cannot be told from no tailLines and
// returns the whole log.
func (p *provider) GetContainerLogs(ctx context.Context, namespace, podName, containerName string, opts api.ContainerLogOpts) (io.ReadCloser, error) {
	r := p.get(namespace, podName)
	if r == nil {
		return nil, errdefs.NotFoundf("pod %s/%s is not known to the local kubelet", namespace, podName)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	c := r.container(containerName)
	if c == nil {
		return nil, errdefs.NotFoundf("container %q in pod %s/%s not found", containerName, namespace, podName)
	}
	attempt, log := c.attempts-1, c.log
	// While a container waits to restart, its last run is both the current
	// and the previous one, as for the kubelet.
	if opts.Previous && c.state.Waiting == nil {
		attempt, log = attempt-1, nil
		if attempt < 0 {
			return nil, errdefs.InvalidInputf("previous terminated container %q in pod %q not found", containerName, podName)
		}
	}
	if attempt < 0 {
		return nil, errdefs.InvalidInputf("container %q in pod %q is waiting to start", containerName, podName)
	}
	return logReader(ctx, r.logPath(c, attempt), log, opts), nil
}

var errUnsupported = errdefs.InvalidInput("not supported by the local kubelet")

// RunInContainer is not supported.
func (p *provider) RunInContainer(context.Context, string, string, string, []string, api.AttachIO) error {
	return fmt.Errorf("exec: %w", errUnsupported)
}

// AttachToContainer is not supported.
func (p *provider) AttachToContainer(context.Context, string, string, string, api.AttachIO) error {
	return fmt.Errorf("attach: %w", errUnsupported)
}

// PortForward is not supported.
func (p *provider) PortForward(context.Context, string, string, int32, io.ReadWriteCloser) error {
	return fmt.Errorf("port-forward: %w", errUnsupported)
}

// GetStatsSummary reports the node and no usage figures.
func (p *provider) GetStatsSummary(context.Context) (*statsv1alpha1.Summary, error) {
	return &statsv1alpha1.Summary{Node: statsv1alpha1.NodeStats{NodeName: p.nodeName}}, nil
}

// GetMetricsResource reports no metrics.
func (p *provider) GetMetricsResource(context.Context) ([]*dto.MetricFamily, error) {
	return nil, nil
}

// stopAll stops every pod's processes, SIGKILL after grace, and waits for
// them until ctx ends. No status is reported any more.
func (p *provider) stopAll(ctx context.Context, grace time.Duration) {
	p.mu.Lock()
	p.shutdown = true
	runs := make([]*podRun, 0, len(p.byKey))
	for _, r := range p.byKey {
		runs = append(runs, r)
	}
	p.mu.Unlock()
	for _, r := range runs {
		r.stop(grace)
	}
	for _, r := range runs {
		select {
		case <-r.done:
		case <-ctx.Done():
			return
		}
	}
}

// podDir returns the directory of a pod's files.
func (p *provider) podDir(pod *corev1.Pod) string {
	return filepath.Join(p.dir, "pods", fmt.Sprintf("%s_%s_%s", pod.Namespace, pod.Name, pod.UID))
}
