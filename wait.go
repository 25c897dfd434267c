package kubequeue

import (
	"context"
	"fmt"
	"iter"
	"sync"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
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
// the Job and its pods; to wait for many Jobs, use [Queue.WaitAll] rather
// than one Wait each.
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
// WaitAll makes two watches per namespace however many Jobs it waits for;
// see "Lifecycle" in the package documentation for what they list.
//
// Each yielded Status holds the handle as given, so that it can key a map.
// Each distinct handle is yielded once; an invalid handle at once, with an
// error matching [ErrInvalidHandle]. When ctx ends, the handles not yet
// yielded are yielded, in the order given, with ctx's error, wrapped, and
// the Status last seen. Stopping the loop early stops waiting. Every
// goroutine WaitAll starts has ended when the loop is over.
func (q *Queue) WaitAll(ctx context.Context, handles ...Handle) iter.Seq2[Status, error] {
	return func(yield func(Status, error) bool) {
		w := &waiter{q: q, pending: make(map[Handle]bool, len(handles)), byKey: make(map[jobKey][]Handle, len(handles))}
		given := make(map[Handle]bool, len(handles))
		byNamespace := make(map[string][]Handle)
		for _, h := range handles {
			if given[h] {
				continue
			}
			given[h] = true
			err := h.validate()
			if err != nil {
				if !yield(Status{Handle: h}, err) {
					return
				}
				continue
			}
			k := jobKey{h.Namespace, h.Name}
			w.pending[h] = true
			w.order = append(w.order, h)
			w.byKey[k] = append(w.byKey[k], h)
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

// nsEvent is what the watches of a namespace report: a Job added, updated
// or deleted; or that the namespace's Jobs and pods are listed (synced);
// or the handles' Jobs of a namespace as a lookup found them (lookedUp,
// with listed, by name); or that they cannot be watched (failed, with err).
type nsEvent struct {
	job      *batchv1.Job
	deleted  bool
	synced   string
	lookedUp string
	listed   map[string]*batchv1.Job
	failed   string
	err      error
}

// waitResult is the outcome for one handle.
type waitResult struct {
	h   Handle
	st  Status
	err error
}

// waiter is the state of one WaitAll loop. Only its loop goroutine touches
// it.
type waiter struct {
	q         *Queue
	pending   map[Handle]bool         // not yet yielded
	order     []Handle                // the handles, in the order given
	byKey     map[jobKey][]Handle     // the handles of each Job name
	seen      map[Handle]*batchv1.Job // last state seen
	finishing map[Handle]bool         // finished; its pods are being read
	pods      map[string]*podCache    // by namespace
}

func (w *waiter) run(parent context.Context, byNamespace map[string][]Handle, yield func(Status, error) bool) {
	ctx, cancel := context.WithCancel(parent)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel() // runs before wg.Wait

	w.seen = make(map[Handle]*batchv1.Job, len(w.pending))
	w.finishing = make(map[Handle]bool)
	events := make(chan nsEvent)
	results := make(chan waitResult)
	w.pods = make(map[string]*podCache, len(byNamespace))
	for ns, hs := range byNamespace {
		nw := w.q.newNamespaceWatch(ctx, ns, hs, events)
		w.pods[ns] = nw.pods
		wg.Go(nw.run)
	}

	// done yields a handle's outcome; it reports whether to go on.
	done := func(h Handle, st Status, err error) bool {
		st.Handle = h
		delete(w.pending, h)
		delete(w.finishing, h)
		return yield(st, err) && len(w.pending) > 0
	}
	// last is the Status last seen of h.
	last := func(h Handle) Status {
		if job := w.seen[h]; job != nil {
			return jobStatus(job, nil)
		}
		return Status{Handle: h}
	}
	for {
		select {
		case <-ctx.Done():
			for _, h := range w.order {
				if w.pending[h] && !yield(last(h), fmt.Errorf("kubequeue: wait for job %s: %w", h, ctxErr(ctx))) {
					return
				}
			}
			return
		case r := <-results:
			if !done(r.h, r.st, r.err) {
				return
			}
		case ev := <-events:
			switch {
			case ev.failed != "":
				for _, h := range w.order {
					if w.pending[h] && !w.finishing[h] && h.Namespace == ev.failed &&
						!done(h, last(h), fmt.Errorf("kubequeue: wait for job %s: %w", h, ev.err)) {
						return
					}
				}
			case ev.synced != "":
				// A Job that the first list did not hold does not exist.
				for _, h := range w.order {
					if w.pending[h] && h.Namespace == ev.synced && w.seen[h] == nil &&
						!done(h, Status{Handle: h}, fmt.Errorf("%w: job %s", ErrJobNotFound, h)) {
						return
					}
				}
			case ev.lookedUp != "":
				if !w.lookedUp(ctx, &wg, ev, results, done) {
					return
				}
			default:
				if !w.jobEvent(ctx, &wg, ev, results, done) {
					return
				}
			}
		}
	}
}

// lookedUp acts on the handles' Jobs of a namespace as a lookup found
// them once a watch had started: a Job seen before that the lookup did not
// find (or found with another UID) was deleted while no watch ran, and a
// Job it found is acted on as an update. It reports whether to go on.
func (w *waiter) lookedUp(ctx context.Context, wg *sync.WaitGroup, ev nsEvent, results chan<- waitResult, done func(Handle, Status, error) bool) bool {
	for _, h := range w.order {
		seen := w.seen[h]
		if !w.pending[h] || w.finishing[h] || h.Namespace != ev.lookedUp || seen == nil {
			continue // yielded, being read, in another namespace, or reported not found at sync
		}
		if job := ev.listed[h.Name]; job == nil || job.UID != seen.UID {
			err := fmt.Errorf("%w: job %s was deleted before it finished", ErrJobNotFound, h)
			if !done(h, jobStatus(seen, nil), err) {
				return false
			}
		}
	}
	for _, job := range ev.listed {
		if !w.jobEvent(ctx, wg, nsEvent{job: job}, results, done) {
			return false
		}
	}
	return true
}

// jobEvent acts on a Job added, updated or deleted. It reports whether to
// go on.
func (w *waiter) jobEvent(ctx context.Context, wg *sync.WaitGroup, ev nsEvent, results chan<- waitResult, done func(Handle, Status, error) bool) bool {
	for _, h := range w.byKey[keyOf(ev.job)] {
		if !w.pending[h] || w.finishing[h] || h.matches(ev.job) != nil {
			continue // yielded, being read, or a Job of that name with another UID
		}
		w.seen[h] = ev.job
		switch {
		case finished(ev.job):
			if pods, ok := w.pods[h.Namespace].of(ev.job); ok {
				st := jobStatus(ev.job, pods)
				if !done(h, st, st.Err()) {
					return false
				}
				continue
			}
			// The pod cache is behind: wait for it a moment, then read
			// the pods.
			w.finishing[h] = true
			job := ev.job
			pods := w.pods[h.Namespace]
			wg.Go(func() {
				var st Status
				var err error
				if cached, ok := pods.await(ctx, job, podCacheGrace); ok {
					st = jobStatus(job, cached)
				} else {
					st, err = w.q.statusWithPods(ctx, job)
				}
				if ferr := st.Err(); ferr != nil {
					err = ferr
				}
				select {
				case results <- waitResult{h, st, err}:
				case <-ctx.Done():
				}
			})
		case ev.deleted:
			err := fmt.Errorf("%w: job %s was deleted before it finished", ErrJobNotFound, h)
			if !done(h, jobStatus(ev.job, nil), err) {
				return false
			}
		}
	}
	return true
}

// namespaceWatch runs the informers of one namespace, for the Jobs of the
// handles and their pods.
type namespaceWatch struct {
	ctx      context.Context
	cancel   context.CancelFunc
	q        *Queue
	ns       string
	names    map[string]bool // the handles' Job names
	events   chan<- nsEvent
	jobs     cache.Controller
	jobList  func(context.Context, metav1.ListOptions) (runtime.Object, error)
	watching chan struct{} // a watch of Jobs has started
	pods     *podCache
	failOnce sync.Once
}

// newNamespaceWatch returns the informers of namespace ns, for the Jobs of
// handles hs and their pods, not yet running. One Job is watched by name;
// more, by label.
func (q *Queue) newNamespaceWatch(ctx context.Context, ns string, hs []Handle, events chan<- nsEvent) *namespaceWatch {
	names := make(map[string]bool, len(hs))
	for _, h := range hs {
		names[h.Name] = true
	}
	nw := &namespaceWatch{q: q, ns: ns, names: names, events: events, watching: make(chan struct{}, 1)}
	nw.ctx, nw.cancel = context.WithCancel(ctx)
	var fieldSelector, labelSelector string
	if len(names) == 1 {
		fieldSelector = fields.OneTermEqualSelector("metadata.name", hs[0].Name).String()
	} else {
		labelSelector = waitSelector(hs)
	}
	jobs := q.client.BatchV1().Jobs(ns)
	lw := listWatch(fieldSelector, labelSelector, jobs.List, jobs.Watch, nw.check("watch jobs"))
	nw.jobList = lw.ListWithContextFunc
	watchJobs := lw.WatchFuncWithContext
	lw.WatchFuncWithContext = func(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
		w, err := watchJobs(ctx, opts)
		if err == nil {
			select {
			case nw.watching <- struct{}{}:
			default: // a lookup is due already
			}
		}
		return w, err
	}
	sendJob := func(obj any, deleted bool) {
		if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = d.Obj
		}
		if job, ok := obj.(*batchv1.Job); ok && names[job.Name] {
			nw.send(nsEvent{job: job, deleted: deleted})
		}
	}
	_, nw.jobs = cache.NewInformerWithOptions(cache.InformerOptions{
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

	podSelector := labels.Set{batchv1.JobNameLabel: hs[0].Name}.String()
	if len(names) > 1 {
		podSelector = waitSelector(hs)
	}
	pods := q.client.CoreV1().Pods(ns)
	plw := listWatch(endedPods, podSelector, pods.List, pods.Watch, nw.check("watch pods"))
	pc := &podCache{waiting: map[string]chan struct{}{}}
	store, informer := cache.NewInformerWithOptions(cache.InformerOptions{
		ListerWatcher: cache.ToListWatcherWithWatchListSemantics(plw, q.client),
		ObjectType:    &corev1.Pod{},
		Handler: cache.ResourceEventHandlerFuncs{
			AddFunc:    pc.changed,
			UpdateFunc: func(_, obj any) { pc.changed(obj) },
		},
		Transform: slimPod,
		Indexers: cache.Indexers{byJobUID: func(obj any) ([]string, error) {
			pod, ok := obj.(*corev1.Pod)
			if !ok {
				return nil, nil
			}
			return []string{pod.Labels[batchv1.ControllerUidLabel]}, nil
		}},
	})
	pc.informer, pc.store = informer, store.(cache.Indexer)
	nw.pods = pc
	return nw
}

// run runs the informers until the context ends or an error that retrying
// cannot fix (such as Forbidden) stops them. The pods are listed before the
// Jobs, so that a Job already finished finds its pods cached. Once the Jobs
// are listed, each time a watch of Jobs starts, run looks the Jobs up once
// more: a change made between a list and the watch that follows it then
// reaches the waiter even from a watch that does not replay it (client-go's
// fake clientset replays no deletion).
func (nw *namespaceWatch) run() {
	defer nw.cancel()
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() { nw.pods.informer.RunWithContext(nw.ctx) })
	if !cache.WaitForCacheSync(nw.ctx.Done(), nw.pods.informer.HasSynced) {
		return
	}
	wg.Go(func() { nw.jobs.RunWithContext(nw.ctx) })
	if !cache.WaitForCacheSync(nw.ctx.Done(), nw.jobs.HasSynced) {
		return
	}
	nw.send(nsEvent{synced: nw.ns})
	for {
		select {
		case <-nw.ctx.Done():
			return
		case <-nw.watching:
			nw.lookup()
		}
	}
}

// lookup lists the handles' Jobs, as the informer does, and sends what it
// found. Transient errors are tried again (see [WithRetries]); if the list
// still fails, the watch goes on without it.
func (nw *namespaceWatch) lookup() {
	var list runtime.Object
	err := nw.q.retry(nw.ctx, func() error {
		var err error
		list, err = nw.jobList(nw.ctx, metav1.ListOptions{})
		return err
	})
	if err != nil {
		return
	}
	jobs, ok := list.(*batchv1.JobList)
	if !ok {
		return
	}
	listed := make(map[string]*batchv1.Job, len(nw.names))
	for i := range jobs.Items {
		if job := &jobs.Items[i]; nw.names[job.Name] {
			slim, _ := slimJob(job)
			listed[job.Name] = slim.(*batchv1.Job)
		}
	}
	nw.send(nsEvent{lookedUp: nw.ns, listed: listed})
}

func (nw *namespaceWatch) send(ev nsEvent) {
	select {
	case nw.events <- ev:
	case <-nw.ctx.Done():
	}
}

// check returns a function that reports an error of what that retrying
// cannot fix, once, and stops the namespace's informers, which would retry
// it.
func (nw *namespaceWatch) check(what string) func(error) error {
	return func(err error) error {
		if permanentAPIError(err) {
			nw.failOnce.Do(func() {
				nw.send(nsEvent{failed: nw.ns, err: fmt.Errorf("%s in %s: %w", what, nw.ns, err)})
				nw.cancel()
			})
		}
		return err
	}
}

// permanentAPIError reports an error that listing or watching again cannot
// fix: the client lacks the permission, or the request is wrong.
func permanentAPIError(err error) bool {
	return apierrors.IsForbidden(err) || apierrors.IsUnauthorized(err) || apierrors.IsBadRequest(err) ||
		apierrors.IsInvalid(err) || apierrors.IsMethodNotSupported(err) || apierrors.IsNotAcceptable(err) ||
		apierrors.IsUnsupportedMediaType(err)
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

// listWatch lists and watches with the given selectors, passing errors
// through check.
func listWatch[L runtime.Object](fieldSelector, labelSelector string,
	list func(context.Context, metav1.ListOptions) (L, error),
	watchFn func(context.Context, metav1.ListOptions) (watch.Interface, error),
	check func(error) error,
) *cache.ListWatch {
	return &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
			opts.FieldSelector, opts.LabelSelector = fieldSelector, labelSelector
			l, err := list(ctx, opts)
			if err != nil {
				return nil, check(err)
			}
			return l, nil
		},
		WatchFuncWithContext: func(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
			opts.FieldSelector, opts.LabelSelector = fieldSelector, labelSelector
			w, err := watchFn(ctx, opts)
			if err != nil {
				return nil, check(err)
			}
			return w, nil
		},
	}
}

// endedPods selects the pods that have ended, the only ones the pod cache
// needs. A pod changes about five times; the watch carries only the changes
// from its end on. While many pods start at once, that spares the API
// server most of the work of the watch, which it closes when the watch
// does not keep up (a closed watch is made again, from where it was).
var endedPods = fields.AndSelectors(
	fields.OneTermNotEqualSelector("status.phase", string(corev1.PodPending)),
	fields.OneTermNotEqualSelector("status.phase", string(corev1.PodRunning)),
	fields.OneTermNotEqualSelector("status.phase", string(corev1.PodUnknown)),
).String()

// podCache holds the ended pods of the Jobs WaitAll waits for in one namespace,
// so that the exit code, termination message and result of a Job that
// finishes are at hand without a request.
type podCache struct {
	informer cache.Controller
	store    cache.Indexer

	mu      sync.Mutex
	waiting map[string]chan struct{} // by Job UID: closed when a pod of the Job is cached
}

// podCacheGrace is how long a finished Job whose pods are not all cached
// waits for the pod informer before its pods are read from the API
// server. The Job's watch often delivers the Job finished before the pod
// watch delivers the pod that finished it; reading the pods then would
// cost a request per Job, many at once when many Jobs finish together.
const podCacheGrace = time.Second

// changed is the pod informer's handler, called once a pod is cached: it
// wakes whoever awaits the pods of the pod's Job.
func (c *podCache) changed(obj any) {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	uid := pod.Labels[batchv1.ControllerUidLabel]
	c.mu.Lock()
	defer c.mu.Unlock()
	if ch, ok := c.waiting[uid]; ok {
		close(ch)
		delete(c.waiting, uid)
	}
}

// await is of, waiting up to d for the cache to hold the pods of job. It
// returns false if they are still not all cached after d, or once ctx
// ends.
func (c *podCache) await(ctx context.Context, job *batchv1.Job, d time.Duration) ([]corev1.Pod, bool) {
	if c == nil {
		return nil, false
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	uid := string(job.UID)
	for {
		// Registered before the cache is read, so that no pod cached in
		// between goes unnoticed.
		c.mu.Lock()
		ch, ok := c.waiting[uid]
		if !ok {
			ch = make(chan struct{})
			c.waiting[uid] = ch
		}
		c.mu.Unlock()
		if pods, ok := c.of(job); ok {
			return pods, true
		}
		select {
		case <-ch:
		case <-timer.C:
			return nil, false
		case <-ctx.Done():
			return nil, false
		}
	}
}

// byJobUID indexes pods by the UID of their Job.
const byJobUID = "job-uid"

// of returns the cached pods of a finished Job, in the order of attempts,
// and whether they are all there: a succeeded pod for a Job that
// succeeded, and as many succeeded and failed pods as the Job counts.
func (c *podCache) of(job *batchv1.Job) ([]corev1.Pod, bool) {
	if c == nil || !c.informer.HasSynced() {
		return nil, false
	}
	objs, err := c.store.ByIndex(byJobUID, string(job.UID))
	if err != nil {
		return nil, false
	}
	pods := make([]corev1.Pod, 0, len(objs))
	var failed, succeeded int32
	for _, obj := range objs {
		pod := obj.(*corev1.Pod)
		pods = append(pods, *pod)
		switch pod.Status.Phase {
		case corev1.PodFailed:
			failed++
		case corev1.PodSucceeded:
			succeeded++
		}
	}
	// A batch's Job counts each item's succeeded pod.
	if failed < job.Status.Failed || succeeded < job.Status.Succeeded || (condition(job, batchv1.JobComplete) != nil && succeeded == 0) {
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
	if index, ok := pod.Annotations[batchv1.JobCompletionIndexAnnotation]; ok { // a batch's pod
		slim.Annotations = map[string]string{batchv1.JobCompletionIndexAnnotation: index}
	}
	for _, cs := range pod.Status.ContainerStatuses {
		slim.Status.ContainerStatuses = append(slim.Status.ContainerStatuses, corev1.ContainerStatus{
			Name: cs.Name, State: cs.State, LastTerminationState: cs.LastTerminationState,
		})
	}
	return slim, nil
}

// slimJob returns a copy of a Job without what jobStatus does not read and
// can be large: managed fields and the values of environment variables (the
// payload). It never changes its argument, which a client may share (the
// fake clientset's watch hands out the objects it stores).
func slimJob(obj any) (any, error) {
	job, ok := obj.(*batchv1.Job)
	if !ok {
		return obj, nil
	}
	slim := *job
	slim.ManagedFields = nil
	containers := make([]corev1.Container, len(job.Spec.Template.Spec.Containers))
	for i, c := range job.Spec.Template.Spec.Containers {
		env := make([]corev1.EnvVar, len(c.Env))
		for j := range c.Env {
			env[j] = corev1.EnvVar{Name: c.Env[j].Name}
		}
		c.Env = env
		containers[i] = c
	}
	slim.Spec.Template.Spec.Containers = containers
	return &slim, nil
}
