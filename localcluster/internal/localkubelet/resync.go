package localkubelet

import (
	"context"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// statusResync is how often the kubelet compares the phase of each of its
// pods with the phase the API server has, as the kubelet's status manager
// does every 10 s.
const statusResync = 5 * time.Second

// resyncStatuses writes the status of each pod whose phase in the API
// server has differed from the kubelet's for a whole resync period, every
// period until ctx ends. Statuses normally reach the API server through
// virtual-kubelet's notifications; this is the safety net for one that did
// not (a notification dropped or given up on while the API server was
// overloaded), without which a Job would wait forever for a pod that has
// long ended.
func (p *provider) resyncStatuses(ctx context.Context, period time.Duration) {
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		p.resyncOnce(ctx, period)
	}
}

// resyncOnce compares every pod once; see resyncStatuses.
func (p *provider) resyncOnce(ctx context.Context, period time.Duration) {
	p.mu.Lock()
	if p.shutdown {
		p.mu.Unlock()
		return
	}
	runs := make([]*podRun, 0, len(p.byKey))
	for _, r := range p.byKey {
		runs = append(runs, r)
	}
	p.mu.Unlock()
	now := time.Now()
	for _, r := range runs {
		cur, err := p.pods.Pods(r.spec.Namespace).Get(r.spec.Name)
		if err != nil || cur.UID != r.uid || cur.DeletionTimestamp != nil ||
			cur.Status.Phase == corev1.PodSucceeded || cur.Status.Phase == corev1.PodFailed {
			// Gone, replaced, being deleted (DeletePod finishes that) or
			// ended for good in the API server: nothing to catch up.
			continue
		}
		r.mu.Lock()
		phase := r.phaseLocked()
		if phase == cur.Status.Phase {
			r.mismatchSince = time.Time{}
			r.mu.Unlock()
			continue
		}
		if r.mismatchSince.IsZero() {
			r.mismatchSince = now
		}
		if now.Sub(r.mismatchSince) < period {
			r.mu.Unlock()
			continue
		}
		pod := r.podLocked(true)
		r.mu.Unlock()
		p.log.Warn("pod status not reported; writing it", "pod", r.key, "phase", phase, "apiPhase", cur.Status.Phase)
		pods := statusPatcher{p.client.CoreV1()}.Pods(pod.Namespace)
		if _, err := pods.UpdateStatus(ctx, pod, metav1.UpdateOptions{}); err != nil && ctx.Err() == nil {
			p.log.Warn("write pod status", "pod", r.key, "err", err)
		}
	}
}
