package localcluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/kubequeue/kubequeue/localcluster/internal/localkubelet"
)

// LocalNodeName is the name of the node whose pods really run, as local
// processes. Pods land there unless they select the simulated node.
const LocalNodeName = "local"

// SimulatedNodeName is the name of the node kwok simulates: its pods go
// Running then Succeeded without running anything, or Failed when their
// template carries the label pod-container-running-failed.stage.kwok.x-k8s.io
// =true. It is tainted with [SimulatedTaint], so only pods that tolerate the
// taint and select the node (see [Simulated]) land there.
const SimulatedNodeName = "kwok-node"

// SimulatedTaint keeps pods off the simulated node unless they tolerate it.
var SimulatedTaint = corev1.Taint{Key: "kubequeue.io/simulated", Value: "true", Effect: corev1.TaintEffectNoSchedule}

// Simulated returns the node selector and toleration that place a pod on
// the simulated node, e.g. for scale tests that need no real process.
func Simulated() (nodeSelector map[string]string, tolerations []corev1.Toleration) {
	return map[string]string{"kubernetes.io/hostname": SimulatedNodeName},
		[]corev1.Toleration{{Key: SimulatedTaint.Key, Operator: corev1.TolerationOpEqual, Value: SimulatedTaint.Value, Effect: SimulatedTaint.Effect}}
}

// EnvRoot is the environment variable the kubelet sets in every
// container's process to the directory that stands for the container's /:
// its volume mounts and its termination message file are under it (see
// "Container paths" in the package documentation).
const EnvRoot = localkubelet.EnvRoot

// kubeletStopTimeout bounds the wait for the kubelet to end its pods and
// its controllers.
const kubeletStopTimeout = 15 * time.Second

// kubeletRun is the local kubelet, running in this process.
type kubeletRun struct {
	logPath string
	cancel  context.CancelFunc
	ready   chan struct{} // closed once the node is Ready
	done    chan struct{} // closed once Run has returned
	err     error         // Run's error, once done is closed
}

// startKubelet starts the local kubelet in this process, as the node's
// user (system:node:local, also in group system:masters), logging to
// kubelet.log in the cluster's directory.
func (c *Cluster) startKubelet(files credentialFiles, port int) (*kubeletRun, error) {
	user, err := c.UserConfig("system:node:"+LocalNodeName, "system:nodes", "system:masters")
	if err != nil {
		return nil, err
	}
	logPath := filepath.Join(c.dir, "kubelet.log")
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("localcluster: kubelet log: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	k := &kubeletRun{logPath: logPath, cancel: cancel, ready: make(chan struct{}), done: make(chan struct{})}
	cfg := localkubelet.Config{
		RESTConfig:   user,
		NodeName:     LocalNodeName,
		Addr:         "127.0.0.1:" + strconv.Itoa(port),
		CertFile:     files.kubeletServingCert,
		KeyFile:      files.kubeletServingKey,
		ClientCAFile: files.caCert,
		Images:       &c.images,
		Dir:          filepath.Join(c.dir, "kubelet"),
		Taints:       []corev1.Taint{},
		Logger:       slog.New(slog.NewTextHandler(logFile, nil)),
	}
	go func() {
		defer close(k.done)
		defer logFile.Close()
		k.err = localkubelet.Run(ctx, cfg, func() { close(k.ready) })
		if k.err == nil && ctx.Err() == nil {
			k.err = errors.New("stopped")
		}
	}()
	c.mu.Lock()
	c.kubelet = k
	c.mu.Unlock()
	return k, nil
}

// exited returns a non-nil error describing the kubelet's end if it has
// ended.
func (k *kubeletRun) exited() error {
	select {
	case <-k.done:
		return fmt.Errorf("localcluster: the local kubelet ended (%v); its log is %s", k.err, k.logPath)
	default:
		return nil
	}
}

// stop ends the kubelet, and with it the pods' processes, and waits for it,
// at most kubeletStopTimeout.
func (k *kubeletRun) stop() {
	k.cancel()
	select {
	case <-k.done:
	case <-time.After(kubeletStopTimeout):
	}
}

// SetImage maps an image reference to a local executable, an absolute
// path: a container of that image that sets no command runs exe, with the
// container's args. It applies to containers that start afterwards.
func (c *Cluster) SetImage(ref, exe string) error {
	if err := checkImage(ref, exe); err != nil {
		return err
	}
	c.images.Set(ref, exe)
	return nil
}

// checkImage refuses an empty reference, and an executable that is not an
// absolute path to an executable file.
func checkImage(ref, exe string) error {
	if ref == "" {
		return errors.New("localcluster: empty image reference")
	}
	if !filepath.IsAbs(exe) {
		return fmt.Errorf("localcluster: image %s: executable %q is not an absolute path", ref, exe)
	}
	if fi, err := os.Stat(exe); err != nil || fi.IsDir() || fi.Mode().Perm()&0o111 == 0 {
		return fmt.Errorf("localcluster: image %s: %q is not an executable file", ref, exe)
	}
	return nil
}
