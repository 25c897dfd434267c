// Package kubequeue runs background jobs as Kubernetes Jobs.
//
// A service declares each kind of job once, as a [Worker] with a typed
// payload, and enqueues it from a handler:
//
//	var Resize = kubequeue.NewWorker("resize-image", resize,
//		kubequeue.WithImage("registry.example.com/app:v1.4.2"),
//		kubequeue.WithCPU("250m", "1"),
//		kubequeue.WithMemory("256Mi", "512Mi"),
//	)
//
//	handle, err := queue.Enqueue(ctx, Resize, ResizeArgs{ImageID: id})
//
// Enqueue builds a batch/v1 Job (see [Queue.Build]) and creates it through
// client-go. The Job's container starts the same binary, whose main calls
// [Main] first: there it finds the worker by name, decodes the payload into
// the worker's type and performs it.
//
// # Workers
//
// A worker's name is stored in every Job it creates and is how the runtime
// finds the code to run: keep it stable across deploys. It is a DNS-1123
// label of at most [MaxWorkerNameLen] characters, so that every generated
// Job name fits Kubernetes' 63-character limit. A worker's options are
// checked once, in [NewWorker]; a mistake is reported by [Worker.Validate],
// [Queue.Build], [Queue.Enqueue] and the runtime as an error that matches
// [ErrInvalidWorker].
//
// # Payloads
//
// A payload travels as JSON, with strings in valid UTF-8: a payload that
// is not is refused rather than altered (send binary data as []byte). Its
// encoding must decode back into the worker's type T, which Build checks
// (an interface field holding a value does not). Decoding follows
// encoding/json's rules: numbers in typed fields keep every digit, while
// numbers held in an interface (in a map[string]any, say) decode as
// float64, so prefer struct payloads; and a field the payload has and T
// does not is ignored, so that an enqueuer deployed with a new field can
// run beside workers that do not know it yet, unless [WithStrictPayload]
// makes it an error. A payload that does not decode fails its Job with
// [ErrPayloadDecode], in an error that names the field and the Go types but
// quotes none of the payload's values.
//
// # Jobs
//
// Every Job gets restartPolicy Never, backoffLimit [DefaultBackoffLimit],
// ttlSecondsAfterFinished [DefaultTTLAfterFinished], the labels
// [LabelManagedBy]=kubequeue and [LabelWorker]=<worker name> on the Job and
// its pods, a podFailurePolicy that fails the Job on [ExitPermanent] and
// does not count disruptions, security contexts that pass the Pod Security
// Standard "restricted", and the payload as JSON in one environment
// variable (at most [MaxEnvPayloadSize] bytes), or, when larger or
// sensitive ([WithSensitivePayload]), in a Secret owned by the Job (at most
// [MaxPayloadSize]). Options on the worker change these defaults for every
// Job; options passed to Enqueue change them for one.
//
// # Enqueue
//
// One Enqueue never creates two Jobs: names are chosen by kubequeue, never
// by the API server, and a create whose answer was lost is tried again and
// recognizes the Job an earlier try created by its [AnnotationEnqueueID].
// A Job whose payload travels in a Secret is created suspended; Enqueue
// then creates the Secret and resumes the Job, or, if that fails, deletes
// the Job, which has not started.
//
// An Enqueue that returns an error leaves no Job unless the error matches
// [ErrMaybeEnqueued]: answers were lost and looking the Job up failed too,
// or storing its payload Secret or resuming it failed and so did deleting
// it. Such a Job may exist and run, or, with a payload in a Secret, wait
// suspended until an Enqueue of its unique key finishes it or it is
// cancelled; the returned Handle names it. [WithUniqueKey] makes a Job
// unique for a key, so that a caller may enqueue a key again after any
// error.
//
// # Later, at most N at once, after other Jobs, periodically
//
// Gates make a Job wait: [WithRunAt] and [WithDelay] (not before a time),
// [WithConcurrencyKey] (at most N Jobs of a key run at once in the
// namespace, oldest first) and [WithAfter] (once other Jobs completed; if
// one fails or is gone, the Job fails without running, unless
// [WithAfterAnyOutcome]). A gated Job is created suspended with its gates in
// annotations; [Queue.Status] reports it as [StateWaiting] with the [Gate]
// that holds it. The release controller ([NewScheduler]) resumes it when its
// gates open: someone must run it, or gated Jobs wait (nothing is lost).
// It also deletes Jobs left waiting for their payload Secret by an Enqueue
// that died (see [WithPendingGrace]).
//
// [Queue.Schedule] runs a worker periodically as a batch/v1 CronJob, run
// by the cluster's own CronJob controller; its Jobs are ordinary kubequeue
// Jobs.
//
// # Kueue
//
// [WithQueueName] and [WithWorkloadPriorityClass] hand a Job to Kueue
// (sigs.k8s.io/kueue): it is created suspended and Kueue resumes it when
// its ClusterQueue admits it; kubequeue never resumes it, and after
// storing a Secret payload it only marks the Job as no longer waiting for
// it. [Queue.Status] reports such a Job as [StateQueued], with the reason
// its Kueue Workload gives, or [StatePreempted]; [Queue.Wait] waits
// through both.
//
// # Lifecycle
//
// [Queue.Enqueue] returns a [Handle], plain data that can be stored and used
// later from any process. [Queue.Status] summarizes the Job; [Queue.Wait]
// and [Queue.WaitAll] wait for it to finish; [Queue.Logs] streams its pods'
// logs attempt by attempt; [Queue.Cancel], [Queue.Suspend] and
// [Queue.Resume] stop it; [Queue.Retry] runs a finished one again, as a new
// Job; [Queue.List] finds a worker's Jobs. Inside the
// container, perform may record a small result with [SetResult], which
// Status and Wait return. Results, logs and exit codes live in the Job's
// pods, which exist until the Job is cancelled or its TTL after finishing
// expires.
//
// WaitAll makes two watches per namespace, of Jobs and of their ended
// pods, however many Jobs it waits for (an API server closes a watch that
// does not keep up with its changes; it is then made again, from where it
// was). A single Job is watched by name; with more handles in a namespace,
// the first list brings every kubequeue Job of the namespace (of the
// handles' worker, when they share one) and their ended pods, finished
// ones included until their TTL ends: to wait for one Job in a namespace
// with thousands, use Wait. A Job that finishes or is deleted while a
// watch is down is still reported.
//
// # Runtime
//
// [Main] returns at once unless the process was started as a kubequeue Job,
// once it has checked its workers with [ValidateWorkers]. In a Job it
// performs the worker and exits with [ExitSuccess], [ExitRetryable] or
// [ExitPermanent]; see [ExitCode].
//
// # Observability
//
// Hooks in this package, exporters outside it: [WithEnqueueMiddleware] runs
// middleware around the creation of each Job (it may add an annotation or
// a variable to the Job, and learns the outcome and the API retries), and
// [NewRuntime] with [WithPerformMiddleware] around perform in the Job's
// container (it learns the Job, pod, batch item and attempt, and the
// error). The runtime logs each outcome with log/slog ([WithRuntimeLogger]).
// The modules github.com/kubequeue/kubequeue/kubequeueotel (OpenTelemetry
// traces from enqueue to perform) and
// github.com/kubequeue/kubequeue/kubequeueprom (Prometheus metrics)
// implement such middleware, so that this module depends on neither.
//
// # Testing
//
// [New] accepts any [kubernetes.Interface], including client-go's fake
// clientset. The kubequeuetest package builds such a queue in one line,
// lists what was enqueued and performs a worker in-process exactly as its
// container would.
package kubequeue

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"reflect"
	"strconv"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/kubernetes"

	"github.com/kubequeue/kubequeue/internal/names"
)

// Sentinel errors. Errors returned by this package wrap one of them where it
// applies; check with [errors.Is].
var (
	// ErrInvalidWorker reports a worker whose name or options are invalid.
	ErrInvalidWorker = errors.New("kubequeue: invalid worker")
	// ErrInvalidOption reports an invalid option passed to Build or Enqueue.
	ErrInvalidOption = errors.New("kubequeue: invalid option")
	// ErrPayloadType reports a payload whose Go type is not the worker's.
	ErrPayloadType = errors.New("kubequeue: wrong payload type")
	// ErrPayloadEncode reports a payload that encoding/json cannot encode,
	// such as a NaN float, a channel or a string that is not UTF-8, or
	// whose encoding would not decode back into the worker's type.
	ErrPayloadEncode = errors.New("kubequeue: cannot encode payload")
	// ErrPayloadTooLarge reports a payload whose encoded form is longer
	// than MaxPayloadSize.
	ErrPayloadTooLarge = errors.New("kubequeue: payload too large")
	// ErrPayloadDecode reports a payload the runtime could not decode into
	// the worker's type.
	ErrPayloadDecode = errors.New("kubequeue: cannot decode payload")
	// ErrUnknownWorker reports a Job whose worker is not among those the
	// runtime was given.
	ErrUnknownWorker = errors.New("kubequeue: unknown worker")
	// ErrPermanent marks an error that retrying cannot fix; see Permanent.
	ErrPermanent = errors.New("kubequeue: permanent failure")
	// ErrPanic reports a perform function that panicked.
	ErrPanic = errors.New("kubequeue: perform panicked")
	// ErrNotInJob reports that Run was called in a process that was not
	// started as a kubequeue Job, or that PerformJob was given a Job that
	// kubequeue did not build.
	ErrNotInJob = errors.New("kubequeue: not started as a kubequeue job")
	// ErrInvalidHandle reports a Handle without a valid namespace and name.
	ErrInvalidHandle = errors.New("kubequeue: invalid handle")
	// ErrJobNotFound reports that a handle's Job does not exist: it was
	// cancelled, or removed when its TTL after finishing expired, or a Job
	// of the same name with another UID replaced it.
	ErrJobNotFound = errors.New("kubequeue: job not found")
	// ErrMaybeEnqueued reports an Enqueue that failed but may have left its
	// Job: answers were lost and looking the Job up failed too, or storing
	// its payload failed and so did deleting the Job. The Job may exist,
	// and run; Enqueue returns its Handle with this error.
	ErrMaybeEnqueued = errors.New("kubequeue: the job may exist")
	// ErrJobFailed reports a Job that failed; see JobFailedError.
	ErrJobFailed = errors.New("kubequeue: job failed")
	// ErrNoResult reports a Job without a result; see Status.DecodeResult.
	ErrNoResult = errors.New("kubequeue: job has no result")
	// ErrResultTooLarge reports a result whose encoded form is longer than
	// MaxResultSize.
	ErrResultTooLarge = errors.New("kubequeue: result too large")
)

// Labels that kubequeue sets on every Job and on the Job's pods. Options
// other than WithJobMutator cannot change them.
const (
	// LabelManagedBy is set to "kubequeue".
	LabelManagedBy = "app.kubernetes.io/managed-by"
	// LabelWorker is set to the worker name.
	LabelWorker = "kubequeue.io/worker"
)

// Labels by which Kueue (sigs.k8s.io/kueue) manages a Job; see
// [WithQueueName] and [WithWorkloadPriorityClass].
const (
	// LabelQueueName names the Kueue LocalQueue of a Job.
	LabelQueueName = "kueue.x-k8s.io/queue-name"
	// LabelWorkloadPriorityClass names the Kueue WorkloadPriorityClass of
	// a Job.
	LabelWorkloadPriorityClass = "kueue.x-k8s.io/priority-class"
)

// Annotations that kubequeue sets on Jobs.
const (
	// AnnotationEnqueueID holds a random ID, one per Enqueue call, by which
	// a retried create recognizes the Job an earlier attempt created.
	AnnotationEnqueueID = "kubequeue.io/enqueue-id"
	// AnnotationUniqueKey holds the hex SHA-256 of the key given to
	// WithUniqueKey (the key itself is not stored).
	AnnotationUniqueKey = "kubequeue.io/unique-key"
)

// annotationResume is set on a Job whose payload travels in a Secret while
// it waits for the Secret: Build creates it suspended, and "true" says that
// Enqueue resumes it once the Secret exists ("false": the caller's options
// suspended it, or Kueue admits the Job: see [WithQueueName]). Enqueue
// removes it when it resumes the Job, so a Job suspended later does not
// have it.
const annotationResume = "kubequeue.io/resume"

// managedBy is the value of LabelManagedBy.
const managedBy = "kubequeue"

// MaxWorkerNameLen is the longest worker name: 52 characters, leaving room
// for "-" and a 10-character random suffix within the 63 characters of a Job
// name.
const MaxWorkerNameLen = names.MaxWorkerNameLen

// Queue creates Jobs for workers through a Kubernetes client. It is safe for
// concurrent use.
type Queue struct {
	client       kubernetes.Interface
	namespace    string
	fieldManager string

	tries  int                                        // tries of each request; see WithRetries
	sleep  func(context.Context, time.Duration) error // waits between tries
	now    func() time.Time                           // the clock of WithDelay and AnnotationQueuedAt
	logger *slog.Logger                               // nil: slog.Default()

	enqueueMiddleware []EnqueueMiddleware // see WithEnqueueMiddleware

	mu   sync.Mutex // guards rand when it is a caller's source
	rand rand.Source
}

// DefaultNamespace is the namespace of a Job when neither the call nor the
// worker ([WithNamespace]) nor the queue ([WithDefaultNamespace]) sets one.
const DefaultNamespace = "default"

// DefaultRetries is how many times Enqueue tries a create by default; see
// [WithRetries].
const DefaultRetries = 8

// DefaultFieldManager is the field manager recorded for the Jobs a Queue
// creates.
const DefaultFieldManager = "kubequeue"

// New returns a Queue that creates Jobs through client: a client-go
// clientset, or its fake for tests and for code that only builds Jobs. It
// returns an error for a nil client, and one matching [ErrInvalidOption]
// that names each invalid option.
//
// When client is a clientset with client-go's default rate limit (a
// rest.Config that sets no QPS gets 5 requests per second, in bursts of
// 10), which caps Enqueue at about 5 Jobs per second, New logs a warning
// saying so to the queue's logger (see [WithLogger]). Raise the limit by
// setting QPS and Burst in the rest.Config, or make the clientset with
// [NewClientset] or [LoadConfig], which set [DefaultQPS] and
// [DefaultBurst].
func New(client kubernetes.Interface, opts ...QueueOption) (*Queue, error) {
	if client == nil || isNilPointer(client) {
		return nil, errors.New("kubequeue: New: nil kubernetes client (a queue that only builds Jobs can use client-go's fake clientset)")
	}
	q := &Queue{
		client:       client,
		namespace:    DefaultNamespace,
		fieldManager: DefaultFieldManager,
		tries:        DefaultRetries,
		sleep:        sleepCtx,
		now:          time.Now,
	}
	for _, opt := range opts {
		if opt != nil {
			opt.applyQueue(q)
		}
	}
	if err := q.validate(); err != nil {
		return nil, err
	}
	if defaultRateLimited(client) {
		q.log().Warn("kubequeue: the Kubernetes client has client-go's default rate limit, 5 requests per second in bursts of 10, which caps Enqueue at about 5 Jobs per second; " +
			"set QPS and Burst in its rest.Config, or make it with kubequeue.NewClientset or LoadConfig, which set them to 50 and 100")
	}
	return q, nil
}

// log returns the queue's logger.
func (q *Queue) log() *slog.Logger {
	if q.logger == nil {
		return slog.Default()
	}
	return q.logger
}

// isNilPointer reports whether v holds a nil pointer, such as a nil
// *kubernetes.Clientset.
func isNilPointer(v any) bool {
	rv := reflect.ValueOf(v)
	return rv.Kind() == reflect.Pointer && rv.IsNil()
}

// validate reports the queue's invalid options.
func (q *Queue) validate() error {
	p := &problems{sentinel: ErrInvalidOption}
	p.addAll("WithDefaultNamespace", q.namespace, validation.IsDNS1123Label(q.namespace))
	if q.fieldManager == "" || len(q.fieldManager) > 128 {
		p.add("WithFieldManager", q.fieldManager, "must be 1 to 128 characters")
	}
	if q.tries < 1 || q.tries > 100 {
		p.add("WithRetries", strconv.Itoa(q.tries), "must be 1 to 100")
	}
	return p.err()
}
