package kubequeue

import (
	"context"
	"fmt"
	"iter"
	"sync"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
)

// Wait waits until the handle's Job finishes and returns its [Status]. The
// error is nil if the Job succeeded, a [*JobFailedError] (matching
// [ErrJobFailed]) if it failed, an error matching [ErrJobNotFound] if the
// Job does not exist or is deleted before it finishes (by [Queue.Cancel],
// for example), or ctx's error, wrapped, if ctx ends first. Wait watches
// the Job and its pods (see [Queue.WaitAll]); to wait for many Jobs, use
// WaitAll rather than one Wait each.
func (q *Queue) Wait(ctx context.Context, h Handle) (Status, error) {
	for st, err := range q.WaitAll(ctx, h) {
		return st, err
	}
	return Status{Handle: h}, fmt.Errorf("%w: %s", ErrInvalidHandle, h) // unreachable: WaitAll yields every handle
}

// WaitAll waits for the Jobs of handles and yields each one's [Status] and
// error, as [Queue.Wait] returns them, as soon as that Job finishes, in the
// order they finish:
//
//	for st, err := range queue.WaitAll(ctx, handles...) {
//		if err != nil {
//			log.Printf("%s: %v", st.Handle, err)
//		}
//	}
//
// However many Jobs it waits for, WaitAll makes two watches per namespace,
// each kept by a client-go informer: one on that namespace's kubequeue Jobs
// (those of the handles' worker when they share one; a single Job is
// watched by name), and one on their pods, which holds the exit codes,
// termination messages and results (a Job's pods are read with one request
// only if the Job finishes before its pods' last state arrives). The pod
// cache keeps only the pods' status and the Job cache drops environment
// values, so memory stays small. When a watch expires (410 Gone) or its
// connection drops, the informer lists again and watches on, so a Job that
// finished, or was deleted, meanwhile is still reported.
//
// Each yielded Status holds the handle as given, so that it can key a map.
// Each distinct handle is yielded once; an invalid handle at once, with an
// error matching [ErrInvalidHandle]. When ctx ends, the handles not yet
// yielded are yielded, in the order given, with ctx's error, wrapped, and
// the Status last seen. Stopping the loop early stops waiting. Every
// goroutine WaitAll starts has ended when the loop is over.
func (q *Queue) WaitAll(ctx context.Context, handles ...Handle) iter.Seq2[Status, error] {
	return func(yield func(Status, error) bool) {
		w := &waiter{q: q, pending: make(map[jobKey]Handle, len(handles))}
		byNamespace := make(map[string][]Handle)
		for _, h := range handles {
			k := jobKey{h.Namespace, h.Name}
			if _, dup := w.pending[k]; dup {
				continue
			}
			err := h.validate()
			if err == nil && q.client == nil {
				err = ErrNoClient
			}
			if err != nil {
				if !yield(Status{Handle: h}, err) {
					return
				}
				continue
			}
			w.pending[k] = h
			w.order = append(w.order, k)
			byNamespace[h.Namespace] = append(byNamespace[h.Namespace], h)
		}
		if len(w.pending) > 0 {
			w.run(ctx, byNamespace, yield)
		}
	}
}

// jobKey is a Job's namespace and name.
type jobKey struct{ namespace, name string }

func keyOf(job *batchv1.Job) jobKey { return jobKey{job.Namespace, job.Name} }

// jobEvent is what a namespace's informer reports: a Job added, updated or
// deleted, or, with job nil, that the namespace's initial list is in.
type jobEvent struct {
	job     *batchv1.Job
	deleted bool
	synced  string
}

// waitResult is the outcome for one Job.
type waitResult struct {
	key jobKey
	st  Status
	err error
}

// waiter is the state of one WaitAll loop. Only its loop goroutine touches
// it.
type waiter struct {
	q         *Queue
	pending   map[jobKey]Handle       // not yet yielded
	order     []jobKey                // the handles, in the order given
	seen      map[jobKey]*batchv1.Job // last seen state
	finishing map[jobKey]bool         // finished; its pods are being read
	pods      map[string]*podCache    // by namespace
}

func (w *waiter) run(parent context.Context, byNamespace map[string][]Handle, yield func(Status, error) bool) {
	ctx, cancel := context.WithCancel(parent)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel() // runs before wg.Wait

	w.seen = make(map[jobKey]*batchv1.Job, len(w.pending))
	w.finishing = make(map[jobKey]bool)
	events := make(chan jobEvent)
	results := make(chan waitResult)
	w.pods = make(map[string]*podCache, len(byNamespace))
	for ns, hs := range byNamespace {
		pods := w.q.newPodCache(ns, hs)
		w.pods[ns] = pods
		wg.Go(func() { pods.informer.RunWithContext(ctx) })
		wg.Go(func() { w.q.watchJobs(ctx, ns, hs, events) })
	}

	// done yields a Job's outcome, with the handle as given; it reports
	// whether to go on.
	done := func(k jobKey, st Status, err error) bool {
		st.Handle = w.pending[k]
		delete(w.pending, k)
		delete(w.finishing, k)
		return yield(st, err) && len(w.pending) > 0
	}
	for {
		select {
		case <-ctx.Done():
			for _, k := range w.order {
				h, ok := w.pending[k]
				if !ok {
					continue
				}
				st := Status{Handle: h}
				if job := w.seen[k]; job != nil {
					st = jobStatus(job, nil)
				}
				if !yield(st, fmt.Errorf("kubequeue: wait for job %s: %w", h, context.Cause(ctx))) {
					return
				}
			}
			return
		case r := <-results:
			if !done(r.key, r.st, r.err) {
				return
			}
		case ev := <-events:
			if ev.job == nil {
				if !w.synced(ev.synced, done) {
					return
				}
				continue
			}
			k := keyOf(ev.job)
			h, ok := w.pending[k]
			if !ok || w.finishing[k] || h.matches(ev.job) != nil {
				continue // not waited for, or a Job of that name with another UID
			}
			w.seen[k] = ev.job
			switch {
			case finished(ev.job):
				if pods, ok := w.pods[k.namespace].of(ev.job); ok {
					st := jobStatus(ev.job, pods)
					if !done(k, st, st.Err()) {
						return
					}
					continue
				}
				// The pod cache is behind: read the pods.
				w.finishing[k] = true
				job := ev.job
				wg.Go(func() {
					st, err := w.q.statusWithPods(ctx, job)
					if ferr := st.Err(); ferr != nil {
						err = ferr
					}
					select {
					case results <- waitResult{k, st, err}:
					case <-ctx.Done():
					}
				})
			case ev.deleted:
				err := fmt.Errorf("%w: job %s was deleted before it finished", ErrJobNotFound, h)
				if !done(k, jobStatus(ev.job, nil), err) {
					return
				}
			}
		}
	}
}

// synced yields the handles of namespace ns whose Job its initial list did
// not hold: they do not exist. It reports whether to go on.
func (w *waiter) synced(ns string, done func(jobKey, Status, error) bool) bool {
	for _, k := range w.order {
		h, ok := w.pending[k]
		if !ok || k.namespace != ns || w.seen[k] != nil {
			continue
		}
		if !done(k, Status{Handle: h}, fmt.Errorf("%w: job %s", ErrJobNotFound, h)) {
			return false
		}
	}
	return true
}

// watchJobs runs an informer on the Jobs of handles hs, all in namespace
// ns, and sends what it sees to events until ctx ends. One Job is watched
// by name; more, by label.
func (q *Queue) watchJobs(ctx context.Context, ns string, hs []Handle, events chan<- jobEvent) {
	names := make(map[string]bool, len(hs))
	for _, h := range hs {
		names[h.Name] = true
	}
	var fieldSelector, labelSelector string
	if len(hs) == 1 {
		fieldSelector = fields.OneTermEqualSelector("metadata.name", hs[0].Name).String()
	} else {
		labelSelector = waitSelector(hs)
	}
	jobs := q.client.BatchV1().Jobs(ns)
	lw := listWatch(fieldSelector, labelSelector, jobs.List, jobs.Watch)
	send := func(ev jobEvent) {
		select {
		case events <- ev:
		case <-ctx.Done():
		}
	}
	sendJob := func(obj any, deleted bool) {
		if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = d.Obj
		}
		if job, ok := obj.(*batchv1.Job); ok && names[job.Name] {
			send(jobEvent{job: job, deleted: deleted})
		}
	}
	_, informer := cache.NewInformerWithOptions(cache.InformerOptions{
		// The fake clientset cannot stream a list through a watch; the
		// wrapper tells the informer so.
		ListerWatcher: cache.ToListWatcherWithWatchListSemantics(lw, q.client),
		ObjectType:    &batchv1.Job{},
		Transform:     slimJob,
		Handler: cache.ResourceEventHandlerFuncs{
			AddFunc:    func(obj any) { sendJob(obj, false) },
			UpdateFunc: func(_, obj any) { sendJob(obj, false) },
			DeleteFunc: func(obj any) { sendJob(obj, true) },
		},
	})
	var wg sync.WaitGroup
	wg.Go(func() { informer.RunWithContext(ctx) })
	if cache.WaitForCacheSync(ctx.Done(), informer.HasSynced) {
		send(jobEvent{synced: ns})
	}
	wg.Wait()
}

// waitSelector selects kubequeue's Jobs, and only one worker's when every
// handle names the same worker.
func waitSelector(hs []Handle) string {
	set := labels.Set{LabelManagedBy: managedBy}
	worker := hs[0].Worker
	for _, h := range hs {
		if h.Worker != worker {
			worker = ""
		}
	}
	if worker != "" {
		set[LabelWorker] = worker
	}
	return set.String()
}

// listWatch lists and watches with the given selectors.
func listWatch[L runtime.Object](fieldSelector, labelSelector string,
	list func(context.Context, metav1.ListOptions) (L, error),
	watchFn func(context.Context, metav1.ListOptions) (watch.Interface, error),
) *cache.ListWatch {
	return &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
			opts.FieldSelector, opts.LabelSelector = fieldSelector, labelSelector
			return list(ctx, opts)
		},
		WatchFuncWithContext: func(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
			opts.FieldSelector, opts.LabelSelector = fieldSelector, labelSelector
			return watchFn(ctx, opts)
		},
	}
}

// podCache holds the pods of the Jobs WaitAll waits for in one namespace,
// so that the exit code, termination message and result of a Job that
// finishes are at hand without a request.
type podCache struct {
	informer cache.Controller
	store    cache.Indexer
}

// byJobUID indexes pods by the UID of their Job.
const byJobUID = "job-uid"

// newPodCache returns an informer, not yet running, on the pods of the Jobs
// of handles hs, all in namespace ns: those of the one Job by its name, or
// those with the labels the Jobs give their pods.
func (q *Queue) newPodCache(ns string, hs []Handle) *podCache {
	selector := labels.Set{batchv1.JobNameLabel: hs[0].Name}.String()
	if len(hs) > 1 {
		selector = waitSelector(hs)
	}
	pods := q.client.CoreV1().Pods(ns)
	store, informer := cache.NewInformerWithOptions(cache.InformerOptions{
		ListerWatcher: cache.ToListWatcherWithWatchListSemantics(listWatch("", selector, pods.List, pods.Watch), q.client),
		ObjectType:    &corev1.Pod{},
		Handler:       cache.ResourceEventHandlerFuncs{},
		Transform:     slimPod,
		Indexers: cache.Indexers{byJobUID: func(obj any) ([]string, error) {
			pod, ok := obj.(*corev1.Pod)
			if !ok {
				return nil, nil
			}
			return []string{pod.Labels[batchv1.ControllerUidLabel]}, nil
		}},
	})
	return &podCache{informer: informer, store: store.(cache.Indexer)}
}

// of returns the cached pods of a finished Job, in the order of attempts,
// and whether they are all there: a succeeded pod for a Job that
// succeeded, and as many failed pods as the Job counts.
func (c *podCache) of(job *batchv1.Job) ([]corev1.Pod, bool) {
	if c == nil || !c.informer.HasSynced() {
		return nil, false
	}
	objs, err := c.store.ByIndex(byJobUID, string(job.UID))
	if err != nil {
		return nil, false
	}
	pods := make([]corev1.Pod, 0, len(objs))
	var failed int32
	succeeded := false
	for _, obj := range objs {
		pod := obj.(*corev1.Pod)
		pods = append(pods, *pod)
		switch pod.Status.Phase {
		case corev1.PodFailed:
			failed++
		case corev1.PodSucceeded:
			succeeded = true
		}
	}
	if failed < job.Status.Failed || (condition(job, batchv1.JobComplete) != nil && !succeeded) {
		return nil, false
	}
	byAttempt(pods)
	return pods, true
}

// slimPod keeps of a pod what jobStatus reads, so that the cache stays
// small.
func slimPod(obj any) (any, error) {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return obj, nil
	}
	slim := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: pod.Name, Namespace: pod.Namespace, UID: pod.UID, ResourceVersion: pod.ResourceVersion,
			CreationTimestamp: pod.CreationTimestamp, DeletionTimestamp: pod.DeletionTimestamp,
			Labels: map[string]string{batchv1.ControllerUidLabel: pod.Labels[batchv1.ControllerUidLabel]},
		},
		Status: corev1.PodStatus{Phase: pod.Status.Phase},
	}
	for _, cs := range pod.Status.ContainerStatuses {
		slim.Status.ContainerStatuses = append(slim.Status.ContainerStatuses, corev1.ContainerStatus{Name: cs.Name, State: cs.State})
	}
	return slim, nil
}

// slimJob drops from a Job what jobStatus does not read and can be large:
// managed fields and the values of environment variables (the payload).
func slimJob(obj any) (any, error) {
	job, ok := obj.(*batchv1.Job)
	if !ok {
		return obj, nil
	}
	job.ManagedFields = nil
	for i := range job.Spec.Template.Spec.Containers {
		c := &job.Spec.Template.Spec.Containers[i]
		for j := range c.Env {
			c.Env[j] = corev1.EnvVar{Name: c.Env[j].Name}
		}
	}
	return job, nil
}
