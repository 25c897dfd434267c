package localkubelet

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// maxRestartBackoff caps the delay before a container restarts, as the
// kubelet's CrashLoopBackOff does.
const maxRestartBackoff = 5 * time.Minute

// restartDelay is the delay before a container that has restarted restarts
// times restarts again: first, doubled for each restart, at most
// maxRestartBackoff.
func restartDelay(first time.Duration, restarts int32) time.Duration {
	d := first
	for range restarts {
		d = min(2*d, maxRestartBackoff)
	}
	return d
}

// setUpRetry is the first delay before a pod's set-up is tried again when a
// Secret or ConfigMap it needs is missing; it doubles up to maxSetUpRetry.
const (
	setUpRetry    = 500 * time.Millisecond
	maxSetUpRetry = 30 * time.Second
)

// A podRun is one pod on the local node: its containers' processes and the
// status reported for them. Every change of state happens under mu and is
// pushed while mu is held, so that notifications for one pod are sent in
// order and the last one pushed is the latest state.
type podRun struct {
	p    *provider
	key  string
	uid  types.UID
	dir  string
	spec *corev1.Pod // as given to CreatePod

	mu         sync.Mutex
	startTime  *metav1.Time
	reason     string // the pod's reason when the kubelet failed it (DeadlineExceeded, ...)
	message    string
	containers []*containerRun
	stopping   bool
	deleted    bool          // stopping because the pod is being deleted
	stopped    chan struct{} // closed when the pod is being stopped
	done       chan struct{} // closed when every container has ended for good
	conditions map[corev1.PodConditionType]corev1.PodCondition
	// mismatchSince is when the status resync first saw the API server
	// hold another phase for the pod (zero: it holds this one).
	mismatchSince time.Time
}

// A containerRun is one container of a podRun.
type containerRun struct {
	spec      corev1.Container
	root      string // the directory the container sees as /
	attempts  int    // attempts started; the current one is attempts-1
	restarts  int32
	state     corev1.ContainerState
	lastState corev1.ContainerState
	proc      *process
	log       *logFile // the current attempt's log
	id        string
}

func newPodRun(p *provider, pod *corev1.Pod) *podRun {
	r := &podRun{
		p:          p,
		key:        podKey(pod.Namespace, pod.Name),
		uid:        pod.UID,
		dir:        p.podDir(pod),
		spec:       pod.DeepCopy(),
		stopped:    make(chan struct{}),
		done:       make(chan struct{}),
		conditions: map[corev1.PodConditionType]corev1.PodCondition{},
	}
	for _, c := range pod.Spec.Containers {
		r.containers = append(r.containers, &containerRun{
			spec:  c,
			root:  filepath.Join(r.dir, "containers", c.Name, "root"),
			state: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}},
		})
	}
	return r
}

func (r *podRun) container(name string) *containerRun {
	for _, c := range r.containers {
		if c.spec.Name == name {
			return c
		}
	}
	return nil
}

func (r *podRun) logPath(c *containerRun, attempt int) string {
	return filepath.Join(r.dir, "containers", c.spec.Name, "logs", strconv.Itoa(attempt)+".log")
}

// update applies change to the pod's state and pushes the new status.
func (r *podRun) update(change func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	change()
	if notify := r.p.notifier(); notify != nil {
		notify(r.podLocked(true))
	}
}

// notifyCurrent pushes the current status again.
func (r *podRun) notifyCurrent() { r.update(func() {}) }

// run sets the pod up and runs its containers until they have all ended;
// then, if the pod is being deleted, it finishes the deletion.
func (r *podRun) run(ctx context.Context) {
	r.execute(ctx)
	r.mu.Lock()
	deleted := r.deleted
	close(r.done)
	r.mu.Unlock()
	if deleted {
		r.p.removeFromAPI(ctx, r)
	}
}

func (r *podRun) execute(ctx context.Context) {
	now := metav1.Now()
	r.update(func() { r.startTime = &now })

	if d := r.spec.Spec.ActiveDeadlineSeconds; d != nil {
		t := time.AfterFunc(time.Until(now.Add(time.Duration(*d)*time.Second)), r.deadlineExceeded)
		defer t.Stop()
	}
	if !r.setUpWithRetries(ctx) {
		return
	}
	var wg sync.WaitGroup
	for _, c := range r.containers {
		wg.Go(func() { r.runContainer(c) })
	}
	wg.Wait()
}

// setUpWithRetries sets the pod up. Like the kubelet, it keeps the pod
// Pending, its containers waiting with reason CreateContainerConfigError,
// and tries again while what it needs is missing (a Secret, a ConfigMap, a
// key); other set-up errors fail the pod. It reports whether the containers
// can start.
func (r *podRun) setUpWithRetries(ctx context.Context) bool {
	delay := setUpRetry
	for {
		err := r.setUp(ctx)
		if err == nil {
			return true
		}
		ve, ok := errors.AsType[*volumeError](err)
		if !ok || !ve.retry {
			r.failSetUp(err)
			return false
		}
		r.update(func() {
			for _, c := range r.containers {
				c.state = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: ve.reason, Message: ve.message}}
			}
		})
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-r.stopped:
			t.Stop()
			r.failSetUp(err)
			return false
		}
		delay = min(2*delay, maxSetUpRetry)
	}
}

// setUp writes the pod's volumes and the containers' root directories.
func (r *podRun) setUp(ctx context.Context) error {
	if len(r.spec.Spec.InitContainers) > 0 {
		return &volumeError{reason: "Unsupported", message: "the local kubelet does not run init containers"}
	}
	_ = os.RemoveAll(filepath.Join(r.dir, "volumes"))
	for _, c := range r.containers {
		_ = os.RemoveAll(c.root)
	}
	volumes, err := r.p.writeVolumes(ctx, r.spec, r.dir)
	if err != nil {
		return err
	}
	for _, c := range r.containers {
		if err := os.MkdirAll(filepath.Join(filepath.Dir(c.root), "logs"), 0o755); err != nil {
			return err
		}
		if err := os.MkdirAll(c.root, 0o755); err != nil {
			return err
		}
		if err := mountVolumes(&c.spec, c.root, volumes, envMap(&c.spec)); err != nil {
			return err
		}
	}
	return nil
}

// failSetUp fails the pod, with every container terminated, when it could
// not be set up.
func (r *podRun) failSetUp(err error) {
	reason, message := "CreateContainerConfigError", err.Error()
	if ve, ok := errors.AsType[*volumeError](err); ok {
		reason, message = ve.reason, ve.message
	}
	r.p.log.Warn("pod set-up failed", "pod", r.key, "reason", reason, "message", message)
	now := metav1.Now()
	r.update(func() {
		r.reason, r.message = reason, message
		for _, c := range r.containers {
			c.state = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
				ExitCode: 128, Reason: reason, Message: message, StartedAt: now, FinishedAt: now,
			}}
		}
	})
}

// lost fails a pod that a previous run of the kubelet had started: its
// processes died with that kubelet.
func (r *podRun) lost() {
	defer close(r.done)
	now := metav1.Now()
	r.update(func() {
		r.startTime = r.spec.Status.StartTime
		if r.startTime == nil {
			r.startTime = &now
		}
		for _, c := range r.containers {
			c.state = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
				ExitCode:   137,
				Reason:     "ContainerStatusUnknown",
				Message:    "The container could not be located when the local kubelet restarted",
				FinishedAt: now,
			}}
		}
	})
}

// deadlineExceeded stops a pod that has run longer than its
// activeDeadlineSeconds, as the kubelet does.
func (r *podRun) deadlineExceeded() {
	r.mu.Lock()
	if p := r.phaseLocked(); p == corev1.PodSucceeded || p == corev1.PodFailed {
		r.mu.Unlock()
		return
	}
	r.reason = "DeadlineExceeded"
	r.message = "Pod was active on the node longer than the specified deadline"
	r.mu.Unlock()
	grace := 30 * time.Second
	if g := r.spec.Spec.TerminationGracePeriodSeconds; g != nil {
		grace = time.Duration(*g) * time.Second
	}
	r.stop(grace)
	r.notifyCurrent()
}

// stop stops the pod's processes with the given grace period. It reports
// whether the pod had already ended.
func (r *podRun) stop(grace time.Duration) (ended bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	select {
	case <-r.done:
		return true
	default:
	}
	if !r.stopping {
		r.stopping = true
		close(r.stopped)
	}
	for _, c := range r.containers {
		if c.proc != nil {
			c.proc.stop(grace)
		}
	}
	return false
}

// runContainer runs c, and restarts it as the pod's restartPolicy says,
// until it ends for good or the pod is stopped.
func (r *podRun) runContainer(c *containerRun) {
	for {
		backoff, restart := r.runAttempt(c)
		if !restart {
			return
		}
		t := time.NewTimer(backoff)
		select {
		case <-t.C:
		case <-r.stopped:
			t.Stop()
			// The container stays terminated with its last exit.
			r.update(func() {
				c.state, c.lastState = c.lastState, corev1.ContainerState{}
				c.restarts--
			})
			return
		}
	}
}

// runAttempt runs c once. It reports whether the container is to be
// restarted, and after which delay.
func (r *podRun) runAttempt(c *containerRun) (time.Duration, bool) {
	r.mu.Lock()
	attempt := c.attempts
	r.mu.Unlock()
	log, err := createLogFile(r.logPath(c, attempt))
	if err != nil {
		return r.terminated(c, nil, 128, "StartError", fmt.Sprintf("create log: %v", err))
	}
	defer log.close()
	r.mu.Lock()
	c.attempts++
	c.log = log
	stopping := r.stopping
	r.mu.Unlock()
	if stopping {
		return r.terminated(c, nil, 137, "Error", "the pod was deleted before the container started")
	}
	msgPath, err := inRoot(c.root, terminationMessagePath(&c.spec))
	if err == nil {
		err = os.MkdirAll(filepath.Dir(msgPath), 0o755)
	}
	if err == nil {
		err = os.WriteFile(msgPath, nil, 0o666)
	}
	if err != nil {
		return r.terminated(c, nil, 128, "StartError", fmt.Sprintf("termination message file: %v", err))
	}
	dir := c.root
	if wd := c.spec.WorkingDir; wd != "" {
		if dir, err = inRoot(c.root, wd); err == nil {
			err = os.MkdirAll(dir, 0o755)
		}
		if err != nil {
			return r.terminated(c, nil, 128, "StartError", fmt.Sprintf("working directory: %v", err))
		}
	}
	argv, env, err := r.p.command(r.spec, &c.spec, c.root, dir)
	if err != nil {
		reason := "StartError"
		if _, ok := errors.AsType[*imageError](err); ok {
			reason = "ErrImageNeverPull"
		}
		return r.terminated(c, nil, 128, reason, err.Error())
	}
	proc, err := startProcess(argv, env, dir, log)
	if err != nil {
		return r.terminated(c, nil, 128, "StartError", err.Error())
	}
	r.update(func() {
		c.proc = proc
		c.id = fmt.Sprintf("localprocess://%d", proc.cmd.Process.Pid)
		c.state = corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.NewTime(proc.started)}}
		if r.stopping {
			// Deleted while starting: stop the process like the others.
			proc.stop(0)
		}
	})
	<-proc.done
	log.close()
	reason := "Completed"
	if proc.code != 0 {
		reason = "Error"
	}
	msg := terminationMessage(msgPath, &c.spec, proc.code, log.path)
	return r.terminated(c, proc, proc.code, reason, msg)
}

// terminated records the end of c's current attempt and decides whether it
// restarts. A container that restarts goes straight to waiting with its
// attempt as lastState, in one update, so that no status shows the pod ended
// in between.
func (r *podRun) terminated(c *containerRun, proc *process, code int32, reason, message string) (backoff time.Duration, restart bool) {
	now := metav1.Now()
	r.update(func() {
		started := now
		if proc != nil {
			started = metav1.NewTime(proc.started)
		}
		c.proc = nil
		c.state = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
			ExitCode: code, Reason: reason, Message: message,
			StartedAt: started, FinishedAt: now, ContainerID: c.id,
		}}
		policy := r.spec.Spec.RestartPolicy
		restart = !r.stopping && (policy == corev1.RestartPolicyAlways || (policy == corev1.RestartPolicyOnFailure && code != 0))
		if !restart {
			return
		}
		backoff = restartDelay(r.p.restartBackoff, c.restarts)
		c.lastState, c.restarts = c.state, c.restarts+1
		c.state = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{
			Reason:  "CrashLoopBackOff",
			Message: fmt.Sprintf("back-off %s restarting failed container=%s pod=%s_%s(%s)", backoff, c.spec.Name, r.spec.Name, r.spec.Namespace, r.uid),
		}}
	})
	return backoff, restart
}
