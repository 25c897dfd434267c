package kubequeue

import (
	"cmp"
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/ptr"
)

// Defaults of the release controller.
const (
	// DefaultLeaseName is the name of the Lease by which the replicas of
	// the release controller elect the one that acts, unless [WithLease]
	// names another.
	DefaultLeaseName = "kubequeue-scheduler"
	// DefaultLeaseDuration, DefaultRenewDeadline and DefaultRetryPeriod
	// are the leader election's durations unless [WithLeaseDurations]
	// sets others (client-go's usual values): when the acting replica
	// dies, another takes over within about DefaultLeaseDuration.
	DefaultLeaseDuration = 15 * time.Second
	DefaultRenewDeadline = 10 * time.Second
	DefaultRetryPeriod   = 2 * time.Second
	// DefaultPendingGrace is how long a Job may wait for its payload
	// Secret before the release controller deletes it, unless
	// [WithPendingGrace] sets another: far longer than an Enqueue takes
	// (its tries and clean-up last well under a minute), so only a Job
	// whose Enqueue died, or failed to delete it, is ever that old.
	DefaultPendingGrace = 10 * time.Minute
	// SchedulerFieldManager is the field manager of the release
	// controller's patches.
	SchedulerFieldManager = "kubequeue-scheduler"
)

// Scheduler is the release controller: it resumes the Jobs that wait at
// their gates ([WithRunAt], [WithDelay], [WithConcurrencyKey], [WithAfter])
// when the gates open, ends those whose dependencies failed or are gone,
// and deletes Jobs left waiting for their payload Secret. Jobs with gates
// wait, suspended, until a Scheduler runs: someone must run one, in a
// service's own process or as a Deployment of its own
// (deploy/scheduler-rbac.yaml holds the RBAC it needs). Create it with
// [NewScheduler] and call [Scheduler.Run].
//
// Every replica of a service may run it: they elect one by a
// coordination.k8s.io Lease (client-go's leader election), and only that
// one acts. It keeps no state of its own: a restarted or newly elected one
// rebuilds everything from the Jobs.
//
// It touches only kubequeue's Jobs (label [LabelManagedBy]=kubequeue) that
// have gates or wait for their payload Secret, and never one with the
// label [LabelKueueQueue], which Kueue resumes itself.
type Scheduler struct {
	client         kubernetes.Interface
	namespaces     []string
	allNamespaces  bool
	leaseNamespace string
	leaseName      string
	leaseDuration  time.Duration
	renewDeadline  time.Duration
	retryPeriod    time.Duration
	identity       string
	pendingGrace   time.Duration
	logger         *slog.Logger
	now            func() time.Time
}

// SchedulerOption configures a [Scheduler] in [NewScheduler].
type SchedulerOption interface {
	applyScheduler(*Scheduler)
}

type schedulerOption func(*Scheduler)

func (f schedulerOption) applyScheduler(s *Scheduler) { f(s) }

// WithSchedulerNamespaces adds namespaces whose Jobs the release controller
// watches, with one informer each. Default: [DefaultNamespace] alone.
// Repeating it adds.
func WithSchedulerNamespaces(namespaces ...string) SchedulerOption {
	return schedulerOption(func(s *Scheduler) { s.namespaces = append(s.namespaces, namespaces...) })
}

// WithAllNamespaces makes the release controller watch the Jobs of every
// namespace with one informer, which needs a ClusterRole (see
// deploy/scheduler-rbac.yaml). It overrides [WithSchedulerNamespaces].
func WithAllNamespaces() SchedulerOption {
	return schedulerOption(func(s *Scheduler) { s.allNamespaces = true })
}

// WithLease sets the namespace and name of the Lease by which the replicas
// elect the one that acts. Default: [DefaultLeaseName], in the first
// namespace watched, or in [DefaultNamespace] with [WithAllNamespaces].
// Every replica must name the same Lease. Repeating it replaces.
func WithLease(namespace, name string) SchedulerOption {
	return schedulerOption(func(s *Scheduler) { s.leaseNamespace, s.leaseName = namespace, name })
}

// WithLeaseDurations sets the leader election's durations, as client-go's
// leaderelection takes them: a replica that does not hold the Lease takes
// it over lease after it last saw it renewed; the holder gives up acting
// when it could not renew it for renew; and each tries every retry. lease
// must exceed renew, and renew must exceed 1.2 times retry. Defaults:
// [DefaultLeaseDuration], [DefaultRenewDeadline], [DefaultRetryPeriod].
// Repeating it replaces.
func WithLeaseDurations(lease, renew, retry time.Duration) SchedulerOption {
	return schedulerOption(func(s *Scheduler) { s.leaseDuration, s.renewDeadline, s.retryPeriod = lease, renew, retry })
}

// WithSchedulerIdentity sets the identity of this replica in the Lease, and
// in the annotation [AnnotationReleasedBy] of the Jobs it releases. It must
// be unique among the replicas. Default: the host name, "_" and 8 random
// hex digits. Repeating it replaces.
func WithSchedulerIdentity(identity string) SchedulerOption {
	return schedulerOption(func(s *Scheduler) { s.identity = identity })
}

// WithPendingGrace sets how long after its creation a Job that still waits
// for its payload Secret is deleted: its Enqueue died, or failed and could
// not delete it. Default: [DefaultPendingGrace]. Must be positive.
// Repeating it replaces.
func WithPendingGrace(d time.Duration) SchedulerOption {
	return schedulerOption(func(s *Scheduler) { s.pendingGrace = d })
}

// WithSchedulerLogger sets the logger of the release controller: a line at
// Info for each Job released, ended or deleted, and at Error for each
// request that failed (it is tried again). Default: [slog.Default].
// client-go's leader election logs through klog. Repeating it replaces.
func WithSchedulerLogger(logger *slog.Logger) SchedulerOption {
	return schedulerOption(func(s *Scheduler) { s.logger = logger })
}

// NewScheduler returns the release controller for the Jobs of client's
// cluster; [Scheduler.Run] runs it. It returns an error for a nil client,
// and one matching [ErrInvalidOption] that names each invalid option.
func NewScheduler(client kubernetes.Interface, opts ...SchedulerOption) (*Scheduler, error) {
	if client == nil || isNilPointer(client) {
		return nil, errors.New("kubequeue: NewScheduler: nil kubernetes client")
	}
	s := &Scheduler{
		client:        client,
		leaseName:     DefaultLeaseName,
		leaseDuration: DefaultLeaseDuration,
		renewDeadline: DefaultRenewDeadline,
		retryPeriod:   DefaultRetryPeriod,
		pendingGrace:  DefaultPendingGrace,
		logger:        slog.Default(),
		now:           time.Now,
	}
	for _, opt := range opts {
		if opt != nil {
			opt.applyScheduler(s)
		}
	}
	if s.allNamespaces {
		s.namespaces = nil
	} else if len(s.namespaces) == 0 {
		s.namespaces = []string{DefaultNamespace}
	}
	s.namespaces = slices.Compact(slices.Sorted(slices.Values(s.namespaces)))
	if s.leaseNamespace == "" {
		s.leaseNamespace = DefaultNamespace
		if len(s.namespaces) > 0 {
			s.leaseNamespace = s.namespaces[0]
		}
	}
	if s.identity == "" {
		host, _ := os.Hostname()
		var b [4]byte
		_, _ = crand.Read(b[:]) // never fails (crypto/rand)
		s.identity = cmp.Or(host, "kubequeue") + "_" + hex.EncodeToString(b[:])
	}
	if s.logger == nil {
		s.logger = slog.New(slog.DiscardHandler)
	}
	if err := s.validate(); err != nil {
		return nil, err
	}
	return s, nil
}

// validate reports the scheduler's invalid options.
func (s *Scheduler) validate() error {
	p := &problems{sentinel: ErrInvalidOption}
	for _, ns := range s.namespaces {
		p.addAll("WithSchedulerNamespaces", ns, validation.IsDNS1123Label(ns))
	}
	p.addAll("WithLease namespace", s.leaseNamespace, validation.IsDNS1123Label(s.leaseNamespace))
	p.addAll("WithLease name", s.leaseName, validation.IsDNS1123Subdomain(s.leaseName))
	switch {
	case s.retryPeriod <= 0:
		p.add("WithLeaseDurations retry", s.retryPeriod.String(), "must be positive")
	case s.renewDeadline <= time.Duration(leaderelection.JitterFactor*float64(s.retryPeriod)):
		p.add("WithLeaseDurations renew", s.renewDeadline.String(), fmt.Sprintf("must exceed %v times retry (%v)", leaderelection.JitterFactor, s.retryPeriod))
	case s.leaseDuration <= s.renewDeadline:
		p.add("WithLeaseDurations lease", s.leaseDuration.String(), "must exceed renew ("+s.renewDeadline.String()+")")
	}
	if s.identity == "" || len(s.identity) > 128 {
		p.add("WithSchedulerIdentity", s.identity, "must be 1 to 128 characters")
	}
	if s.pendingGrace <= 0 {
		p.add("WithPendingGrace", s.pendingGrace.String(), "must be positive")
	}
	return p.err()
}

// Identity returns this replica's identity (see [WithSchedulerIdentity]).
func (s *Scheduler) Identity() string { return s.identity }

// Run takes part in the leader election and, while this replica holds the
// Lease, acts: it watches the Jobs, releases those whose gates are open,
// ends those whose dependencies failed, and deletes those left waiting for
// their payload. When it loses the Lease it stops acting and stands for
// election again. It returns nil when ctx ends, once it has stopped acting
// and given the Lease up, so that another replica takes over at once.
//
// A release is a patch that sets spec.suspend to false and the annotation
// [AnnotationReleased], on the condition that the Job is as the controller
// last saw it (its resourceVersion), so that two releasers can never both
// release it. Jobs due at once are released up to 8 at a time, the one due
// first taken first; the Jobs of a concurrency key one at a time, oldest
// first.
func (s *Scheduler) Run(ctx context.Context) error {
	lock := &resourcelock.LeaseLock{
		LeaseMeta:  metav1.ObjectMeta{Namespace: s.leaseNamespace, Name: s.leaseName},
		Client:     s.client.CoordinationV1(),
		LockConfig: resourcelock.ResourceLockConfig{Identity: s.identity},
	}
	for ctx.Err() == nil {
		if err := s.elect(ctx, lock); err != nil {
			return err
		}
	}
	return nil
}

// elect stands for election once: it returns when ctx ends (once this
// replica has stopped acting and given the Lease up) or when it loses the
// Lease.
func (s *Scheduler) elect(ctx context.Context, lock resourcelock.Interface) error {
	// The election ends only after the controller has stopped, so that the
	// Lease is given up when nothing acts any more.
	electCtx, endElection := context.WithCancel(context.WithoutCancel(ctx))
	defer endElection()
	var mu sync.Mutex
	var acting chan struct{} // closed when the controller has stopped
	stopped := func() <-chan struct{} {
		mu.Lock()
		defer mu.Unlock()
		return acting
	}
	le, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
		Lock:            lock,
		LeaseDuration:   s.leaseDuration,
		RenewDeadline:   s.renewDeadline,
		RetryPeriod:     s.retryPeriod,
		ReleaseOnCancel: true,
		Name:            s.leaseName,
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: func(leading context.Context) {
				done := make(chan struct{})
				mu.Lock()
				acting = done
				mu.Unlock()
				defer close(done)
				runCtx, stop := context.WithCancel(leading)
				defer stop()
				defer context.AfterFunc(ctx, stop)()
				s.logger.Info("kubequeue scheduler: leading", "identity", s.identity, "lease", s.leaseNamespace+"/"+s.leaseName)
				newController(s).run(runCtx)
				s.logger.Info("kubequeue scheduler: stopped leading", "identity", s.identity)
			},
			OnStoppedLeading: func() {},
		},
	})
	if err != nil {
		return fmt.Errorf("%w: kubequeue: scheduler leader election: %w", ErrInvalidOption, err)
	}
	defer context.AfterFunc(ctx, func() {
		if done := stopped(); done != nil {
			<-done
		}
		endElection()
	})()
	le.Run(electCtx)
	if done := stopped(); done != nil {
		<-done
	}
	return nil
}

// item is a unit of the controller's work: one Job (by namespace and
// name), or one concurrency key of a namespace.
type item struct {
	key       bool // a concurrency key, else a Job
	namespace string
	name      string // the Job's name, or the key
}

// Indexes of the controller's Job cache.
const (
	byConcurrencyKey = "concurrency-key" // "<namespace>/<key>"
	byDependency     = "dependency"      // "<namespace>/<name>" of each Job it waits for
)

// releasers is how many items the controller works on at once. The work
// queue never hands out one item twice at a time, so a concurrency key is
// still worked on by one at a time, oldest Job first; but Jobs due at the
// same moment are released side by side, so that a burst of due Jobs does
// not queue behind each request's round trip.
const releasers = 8

// requestTimeout bounds each of the controller's requests.
const requestTimeout = 30 * time.Second

// controller is the release controller while it acts: the informers, their
// caches and the work queue. It lives for one term of leadership.
type controller struct {
	s      *Scheduler
	queue  workqueue.TypedRateLimitingInterface[item]
	caches map[string]cache.Indexer // by namespace; "" for all namespaces
	runs   []cache.Controller

	mu       sync.Mutex
	synced   bool               // the first lists are in and queued
	initial  []*batchv1.Job     // Jobs seen before that, to queue in order
	released map[types.UID]bool // released, not yet seen so in the cache
}

func newController(s *Scheduler) *controller {
	c := &controller{
		s: s,
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(
			workqueue.NewTypedItemExponentialFailureRateLimiter[item](100*time.Millisecond, 30*time.Second),
			workqueue.TypedRateLimitingQueueConfig[item]{Name: "kubequeue-scheduler"},
		),
		caches:   make(map[string]cache.Indexer),
		released: make(map[types.UID]bool),
	}
	namespaces := s.namespaces
	if s.allNamespaces {
		namespaces = []string{metav1.NamespaceAll}
	}
	selector := labels.Set{LabelManagedBy: managedBy}.String()
	for _, ns := range namespaces {
		jobs := s.client.BatchV1().Jobs(ns)
		lw := listWatch("", selector, jobs.List, jobs.Watch, func(err error) error { return err })
		store, informer := cache.NewInformerWithOptions(cache.InformerOptions{
			ListerWatcher: cache.ToListWatcherWithWatchListSemantics(lw, s.client),
			ObjectType:    &batchv1.Job{},
			Transform:     schedulerSlimJob,
			Indexers: cache.Indexers{
				byConcurrencyKey: func(obj any) ([]string, error) {
					job, ok := obj.(*batchv1.Job)
					if !ok || job.Annotations[AnnotationConcurrencyKey] == "" {
						return nil, nil
					}
					return []string{job.Namespace + "/" + job.Annotations[AnnotationConcurrencyKey]}, nil
				},
				byDependency: func(obj any) ([]string, error) {
					job, ok := obj.(*batchv1.Job)
					if !ok || job.Annotations[AnnotationAfter] == "" {
						return nil, nil
					}
					g := gatesOf(job)
					out := make([]string, len(g.after))
					for i, d := range g.after {
						out[i] = job.Namespace + "/" + d.Name
					}
					return out, nil
				},
			},
			Handler: cache.ResourceEventHandlerFuncs{
				AddFunc:    func(obj any) { c.observe(obj, false) },
				UpdateFunc: func(_, obj any) { c.observe(obj, false) },
				DeleteFunc: func(obj any) { c.observe(obj, true) },
			},
		})
		c.caches[ns] = store.(cache.Indexer)
		c.runs = append(c.runs, informer)
	}
	return c
}

// run runs the informers and the worker until ctx ends. The Jobs the first
// lists bring are queued once all are in, due first, so that Jobs that
// became due while no controller ran are released in order.
func (c *controller) run(ctx context.Context) {
	if ctx.Err() != nil {
		return
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	defer c.queue.ShutDown()
	for _, inf := range c.runs {
		wg.Go(func() { inf.RunWithContext(ctx) })
	}
	synced := make([]cache.InformerSynced, len(c.runs))
	for i, inf := range c.runs {
		synced[i] = inf.HasSynced
	}
	if !cache.WaitForCacheSync(ctx.Done(), synced...) {
		return
	}
	c.mu.Lock()
	now := c.s.now()
	slices.SortFunc(c.initial, func(a, b *batchv1.Job) int {
		ga, gb := gatesOf(a), gatesOf(b)
		return cmp.Or(dueAt(a, &ga, c.s.pendingGrace).Compare(dueAt(b, &gb, c.s.pendingGrace)), queueOrder(a, b, &ga, &gb))
	})
	for _, job := range c.initial {
		c.enqueue(job, now)
	}
	c.initial, c.synced = nil, true
	c.mu.Unlock()
	defer context.AfterFunc(ctx, c.queue.ShutDown)()
	for range releasers {
		wg.Go(func() {
			for c.processNext(ctx) {
			}
		})
	}
	<-ctx.Done()
}

// dueAt is when a Job is first due for a look: its run-at time, or for a
// Job that waits for its payload, when its grace ends.
func dueAt(job *batchv1.Job, g *jobGates, grace time.Duration) time.Time {
	if pending(job) {
		return job.CreationTimestamp.Add(grace)
	}
	return g.runAt
}

// owned reports whether the controller acts on job: a kubequeue Job with
// gates, or one that waits for its payload, without a Kueue queue label.
func owned(job *batchv1.Job, g *jobGates) bool {
	if _, kueue := job.Labels[LabelKueueQueue]; kueue {
		return false
	}
	return g.gated() || pending(job)
}

// observe acts on a Job added, updated or deleted in the cache: it queues
// the Job if the controller acts on it, its concurrency key if it has one,
// and the Jobs that wait for it.
func (c *controller) observe(obj any, deleted bool) {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	job, ok := obj.(*batchv1.Job)
	if !ok {
		return
	}
	g := gatesOf(job)
	c.mu.Lock()
	defer c.mu.Unlock()
	if deleted || released(job) || !isSuspended(job) || finished(job) {
		delete(c.released, job.UID)
	}
	if !c.synced {
		if owned(job, &g) && !deleted {
			c.initial = append(c.initial, job)
		}
		return
	}
	if !deleted {
		c.enqueue(job, c.s.now())
	}
	if g.key != "" {
		c.queue.Add(item{key: true, namespace: job.Namespace, name: g.key})
	}
	dependents, _ := c.cacheOf(job.Namespace).ByIndex(byDependency, job.Namespace+"/"+job.Name)
	for _, obj := range dependents {
		if d, ok := obj.(*batchv1.Job); ok {
			c.queue.Add(item{namespace: d.Namespace, name: d.Name})
		}
	}
}

// enqueue queues job, if the controller acts on it, for when it is due.
func (c *controller) enqueue(job *batchv1.Job, now time.Time) {
	g := gatesOf(job)
	if !owned(job, &g) || !(pending(job) || waiting(job, &g)) {
		return
	}
	it := item{namespace: job.Namespace, name: job.Name}
	if due := dueAt(job, &g, c.s.pendingGrace); due.After(now) {
		c.queue.AddAfter(it, due.Sub(now))
		return
	}
	c.queue.Add(it)
}

// cacheOf returns the cache that holds the Jobs of namespace ns.
func (c *controller) cacheOf(ns string) cache.Indexer {
	if store, ok := c.caches[ns]; ok {
		return store
	}
	return c.caches[metav1.NamespaceAll]
}

// cached returns the cached Job of namespace ns named name, or nil.
func (c *controller) cached(ns, name string) *batchv1.Job {
	store := c.cacheOf(ns)
	if store == nil {
		return nil
	}
	obj, ok, err := store.GetByKey(ns + "/" + name)
	if err != nil || !ok {
		return nil
	}
	job, _ := obj.(*batchv1.Job)
	return job
}

// processNext handles the next item; it returns false once the queue is
// shut down.
func (c *controller) processNext(ctx context.Context) bool {
	it, shutdown := c.queue.Get()
	if shutdown {
		return false
	}
	defer c.queue.Done(it)
	var err error
	if it.key {
		err = c.syncKey(ctx, it.namespace, it.name)
	} else {
		err = c.syncJob(ctx, it.namespace, it.name)
	}
	switch {
	case err == nil:
		c.queue.Forget(it)
	case ctx.Err() != nil:
	case apierrors.IsConflict(err), apierrors.IsNotFound(err):
		// The cache is behind: the informer brings the change, and with
		// it the item again; look again soon all the same.
		c.queue.AddRateLimited(it)
	default:
		c.s.logger.Error("kubequeue scheduler: request failed; trying again", "namespace", it.namespace, "item", it.name, "key", it.key, "err", err)
		c.queue.AddRateLimited(it)
	}
	return true
}

// depState is what the controller knows of a dependency.
type depState int

const (
	depRunning depState = iota // not finished
	depComplete
	depFailed
	depGone // deleted, or replaced by another Job of its name
)

// dependencyState returns the state of the dependency d of a Job of
// namespace ns. The cache answers, except for a Job it does not hold (gone,
// or not a kubequeue Job), which is looked up: a Job is only ended on the
// API server's word.
func (c *controller) dependencyState(ctx context.Context, ns string, d dependency) (depState, *batchv1.Job, error) {
	job := c.cached(ns, d.Name)
	if job == nil || job.UID != d.UID {
		rctx, cancel := context.WithTimeout(ctx, requestTimeout)
		defer cancel()
		got, err := c.s.client.BatchV1().Jobs(ns).Get(rctx, d.Name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			return depGone, nil, nil
		case err != nil:
			return depRunning, nil, fmt.Errorf("get dependency %s/%s: %w", ns, d.Name, err)
		case got.UID != d.UID:
			return depGone, got, nil
		}
		job = got
	}
	switch {
	case condition(job, batchv1.JobComplete) != nil:
		return depComplete, job, nil
	case condition(job, batchv1.JobFailed) != nil:
		return depFailed, job, nil
	}
	return depRunning, job, nil
}

// syncJob acts on one Job: it deletes it if it has waited for its payload
// past the grace, ends it if a dependency failed or is gone, and releases
// it once its time has come and its dependencies have completed, unless it
// has a concurrency key, whose item then decides.
func (c *controller) syncJob(ctx context.Context, ns, name string) error {
	job := c.cached(ns, name)
	if job == nil {
		return nil
	}
	g := gatesOf(job)
	if !owned(job, &g) {
		return nil
	}
	now := c.s.now()
	if pending(job) {
		if due := job.CreationTimestamp.Add(c.s.pendingGrace); now.Before(due) {
			c.queue.AddAfter(item{namespace: ns, name: name}, due.Sub(now))
			return nil
		}
		return c.deletePending(ctx, job)
	}
	if !waiting(job, &g) {
		return nil
	}
	if g.err != nil {
		c.s.logger.Error("kubequeue scheduler: job left waiting", "namespace", ns, "job", name, "err", g.err)
		return nil
	}
	if now.Before(g.runAt) {
		c.queue.AddAfter(item{namespace: ns, name: name}, g.runAt.Sub(now))
		return nil
	}
	open, err := c.dependenciesOpen(ctx, job, &g, true)
	if err != nil || !open {
		return err
	}
	if g.key != "" {
		c.queue.Add(item{key: true, namespace: ns, name: g.key})
		return nil
	}
	return c.release(ctx, job)
}

// dependenciesOpen reports whether every dependency of job lets it run:
// completed, or finished or gone with WithAfterAnyOutcome. With end, a
// dependency that failed or is gone ends the Job (unless
// WithAfterAnyOutcome), which it then reports as not open.
func (c *controller) dependenciesOpen(ctx context.Context, job *batchv1.Job, g *jobGates, end bool) (bool, error) {
	for _, d := range g.after {
		state, dep, err := c.dependencyState(ctx, job.Namespace, d)
		if err != nil {
			return false, err
		}
		switch {
		case state == depComplete:
			continue
		case state == depRunning:
			if dep != nil && dep.Labels[LabelManagedBy] != managedBy {
				// Not in the cache, so no event says when it finishes:
				// look again later.
				c.queue.AddAfter(item{namespace: job.Namespace, name: job.Name}, 5*time.Second)
			}
			return false, nil
		case g.afterAnyOutcome:
			continue
		case !end:
			return false, nil
		}
		reason, msg := ReasonDependencyDeleted, fmt.Sprintf("dependency %s/%s (uid %s) was deleted before it completed", job.Namespace, d.Name, d.UID)
		if state == depFailed {
			reason = ReasonDependencyFailed
			msg = fmt.Sprintf("dependency %s/%s failed", job.Namespace, d.Name)
			if c := condition(dep, batchv1.JobFailed); c != nil && c.Reason != "" {
				msg += ": " + c.Reason
			}
		}
		return false, c.end(ctx, job, reason, msg)
	}
	return true, nil
}

// syncKey releases the Jobs of a concurrency key that wait only for a
// slot, oldest first, while fewer Jobs of the key run than the limit of
// the oldest waiting one.
func (c *controller) syncKey(ctx context.Context, ns, key string) error {
	store := c.cacheOf(ns)
	if store == nil {
		return nil
	}
	objs, err := store.ByIndex(byConcurrencyKey, ns+"/"+key)
	if err != nil {
		return err
	}
	now := c.s.now()
	running := 0
	type candidate struct {
		job *batchv1.Job
		g   jobGates
	}
	var ready []candidate
	c.mu.Lock()
	for _, obj := range objs {
		job := obj.(*batchv1.Job)
		g := gatesOf(job)
		switch {
		case holdsSlot(job, &g), c.released[job.UID] && !finished(job):
			running++
		case owned(job, &g) && waiting(job, &g) && !pending(job) && g.err == nil && !now.Before(g.runAt):
			ready = append(ready, candidate{job, g})
		}
	}
	c.mu.Unlock()
	slices.SortFunc(ready, func(a, b candidate) int { return queueOrder(a.job, b.job, &a.g, &b.g) })
	for _, cand := range ready {
		if running >= cand.g.limit {
			return nil
		}
		open, err := c.dependenciesOpen(ctx, cand.job, &cand.g, false)
		if err != nil {
			return err
		}
		if !open {
			continue // its own item ends it, or it waits
		}
		if err := c.release(ctx, cand.job); err != nil {
			return err
		}
		running++
	}
	return nil
}

// release resumes job, on the condition that it is as cached.
func (c *controller) release(ctx context.Context, job *batchv1.Job) error {
	now := c.s.now()
	patch, err := json.Marshal(map[string]any{
		"metadata": map[string]any{
			"resourceVersion": job.ResourceVersion,
			"annotations": map[string]string{
				AnnotationReleased:   now.UTC().Format(runAtLayout),
				AnnotationReleasedBy: c.s.identity,
			},
		},
		"spec": map[string]any{"suspend": false},
	})
	if err != nil {
		return err
	}
	if err := c.patch(ctx, job, patch); err != nil {
		return fmt.Errorf("release job %s/%s: %w", job.Namespace, job.Name, err)
	}
	c.mu.Lock()
	c.released[job.UID] = true
	c.mu.Unlock()
	g := gatesOf(job)
	late := time.Duration(0)
	if !g.runAt.IsZero() {
		late = now.Sub(g.runAt)
	}
	c.s.logger.Info("kubequeue scheduler: released job", "namespace", job.Namespace, "job", job.Name, "late", late)
	return nil
}

// end ends job, which never started, without running it: it resumes it
// with a pod template that has a scheduling gate no scheduler removes and
// an active deadline of one second, so that its pod is never scheduled and
// the Job controller fails the Job with DeadlineExceeded a second later;
// the annotations say why (Status and Wait report them). Then its TTL after
// finishing removes it.
func (c *controller) end(ctx context.Context, job *batchv1.Job, reason, msg string) error {
	patch, err := json.Marshal(map[string]any{
		"metadata": map[string]any{
			"resourceVersion": job.ResourceVersion,
			"annotations": map[string]string{
				AnnotationEndReason:  reason,
				AnnotationEndMessage: msg,
			},
		},
		"spec": map[string]any{
			"suspend":               false,
			"activeDeadlineSeconds": 1,
			"template": map[string]any{"spec": map[string]any{
				"schedulingGates": []corev1.PodSchedulingGate{{Name: endGate}},
			}},
		},
	})
	if err != nil {
		return err
	}
	if err := c.patch(ctx, job, patch); err != nil {
		return fmt.Errorf("end job %s/%s (%s): %w", job.Namespace, job.Name, msg, err)
	}
	c.s.logger.Info("kubequeue scheduler: ended job without running it", "namespace", job.Namespace, "job", job.Name, "reason", reason, "message", msg)
	return nil
}

// patch applies a merge patch to job.
func (c *controller) patch(ctx context.Context, job *batchv1.Job, patch []byte) error {
	rctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	_, err := c.s.client.BatchV1().Jobs(job.Namespace).Patch(rctx, job.Name, types.MergePatchType, patch, metav1.PatchOptions{FieldManager: SchedulerFieldManager})
	return err
}

// deletePending deletes a Job that has waited for its payload Secret past
// the grace, on the condition that it is as cached: a Job its Enqueue
// finished meanwhile is never deleted.
func (c *controller) deletePending(ctx context.Context, job *batchv1.Job) error {
	rctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	pre := metav1.NewUIDPreconditions(string(job.UID))
	pre.ResourceVersion = ptr.To(job.ResourceVersion)
	err := c.s.client.BatchV1().Jobs(job.Namespace).Delete(rctx, job.Name, metav1.DeleteOptions{
		Preconditions:     pre,
		PropagationPolicy: ptr.To(metav1.DeletePropagationBackground),
	})
	switch {
	case apierrors.IsNotFound(err):
		return nil
	case err != nil:
		return fmt.Errorf("delete job %s/%s, which has waited for its payload secret since %s: %w", job.Namespace, job.Name, job.CreationTimestamp.UTC().Format(time.RFC3339), err)
	}
	c.s.logger.Info("kubequeue scheduler: deleted job left waiting for its payload secret", "namespace", job.Namespace, "job", job.Name, "created", job.CreationTimestamp.Time, "grace", c.s.pendingGrace)
	return nil
}

// schedulerSlimJob keeps of a Job what the release controller reads: its
// identity, kubequeue's and Kueue's labels, kubequeue's annotations,
// spec.suspend and the conditions, so that the cache stays small.
func schedulerSlimJob(obj any) (any, error) {
	job, ok := obj.(*batchv1.Job)
	if !ok {
		return obj, nil
	}
	slim := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{
			Name: job.Name, Namespace: job.Namespace, UID: job.UID, ResourceVersion: job.ResourceVersion,
			CreationTimestamp: job.CreationTimestamp, DeletionTimestamp: job.DeletionTimestamp,
		},
		Spec: batchv1.JobSpec{Suspend: job.Spec.Suspend},
	}
	for _, k := range []string{LabelManagedBy, LabelWorker, LabelKueueQueue} {
		if v, ok := job.Labels[k]; ok {
			if slim.Labels == nil {
				slim.Labels = make(map[string]string, 3)
			}
			slim.Labels[k] = v
		}
	}
	for k, v := range job.Annotations {
		if strings.HasPrefix(k, annotationPrefix) {
			if slim.Annotations == nil {
				slim.Annotations = make(map[string]string)
			}
			slim.Annotations[k] = v
		}
	}
	for _, cond := range job.Status.Conditions {
		slim.Status.Conditions = append(slim.Status.Conditions, batchv1.JobCondition{Type: cond.Type, Status: cond.Status, Reason: cond.Reason})
	}
	return slim, nil
}

// annotationPrefix is the prefix of kubequeue's annotations.
const annotationPrefix = "kubequeue.io/"
