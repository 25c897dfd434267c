package kubequeue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"reflect"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	batchv1 "k8s.io/api/batch/v1"

	"github.com/kubequeue/kubequeue/internal/wire"
)

// Exit codes of a kubequeue Job's container, as returned by [ExitCode].
const (
	// ExitSuccess: perform returned nil.
	ExitSuccess = 0
	// ExitRetryable: perform returned an error or panicked. Kubernetes
	// retries the Job until its backoff limit is reached.
	ExitRetryable = 1
	// ExitPermanent: retrying cannot help. perform returned an error made
	// with [Permanent], or the worker is unknown or invalid, or the payload
	// cannot be decoded. 42 is the code Kubernetes' own podFailurePolicy
	// examples use for "fail the Job now".
	ExitPermanent = 42
)

// Permanent marks err as a failure that retrying cannot fix, such as a
// payload that names a record that does not exist. A perform function that
// returns it makes the container exit with [ExitPermanent]. The result
// matches both [ErrPermanent] and err with [errors.Is]. Permanent(nil) is nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err: err}
}

type permanentError struct{ err error }

func (e *permanentError) Error() string        { return e.err.Error() }
func (e *permanentError) Unwrap() error        { return e.err }
func (e *permanentError) Is(target error) bool { return target == ErrPermanent }

// panicError is the error of a perform function that panicked.
type panicError struct {
	worker string
	value  any
	stack  []byte
}

func (e *panicError) Error() string {
	return fmt.Sprintf("kubequeue: worker %q panicked: %v", e.worker, e.value)
}

func (e *panicError) Is(target error) bool { return target == ErrPanic }

// Unwrap returns the panic value if it is an error.
func (e *panicError) Unwrap() error {
	err, _ := e.value.(error)
	return err
}

func stack() []byte { return debug.Stack() }

// callPerform calls perform in a goroutine of its own and returns its
// error, or, when it panicked, an error matching ErrPanic, or, when it
// called runtime.Goexit (as t.FailNow, or a log.Fatal replaced in a test,
// does), an error saying so. Called in the caller's goroutine, a Goexit
// would end that goroutine: in Main, the main goroutine, leaving the
// process to hang with its signals caught.
func callPerform(worker string, perform func() error) error {
	done := make(chan error, 1)
	go func() {
		returned := false
		defer func() {
			if returned {
				return
			}
			if r := recover(); r != nil {
				done <- &panicError{worker: worker, value: r, stack: stack()}
				return
			}
			done <- fmt.Errorf("kubequeue: worker %q: perform called runtime.Goexit instead of returning (t.FailNow and the like do that; only a test's own goroutine may call them)", worker)
		}()
		err := perform()
		returned = true
		done <- err
	}()
	return <-done
}

// ExitCode returns the exit code of a container whose perform ended with
// err: [ExitSuccess] for nil; [ExitPermanent] for errors matching
// [ErrPermanent], [ErrUnknownWorker], [ErrInvalidWorker], [ErrPayloadDecode]
// or [ErrNotInJob]; [ExitRetryable] for any other error, a panic included.
func ExitCode(err error) int {
	switch {
	case err == nil:
		return ExitSuccess
	case errors.Is(err, ErrPanic):
		return ExitRetryable
	case errors.Is(err, ErrPermanent), errors.Is(err, ErrUnknownWorker), errors.Is(err, ErrInvalidWorker),
		errors.Is(err, ErrPayloadDecode), errors.Is(err, ErrNotInJob):
		return ExitPermanent
	default:
		return ExitRetryable
	}
}

// InJob reports whether this process was started as the container of a
// kubequeue Job, which it tells by the KUBEQUEUE_WORKER environment
// variable: set and not empty (no worker has an empty name, so a variable
// set to "" by mistake, say in a shell or a manifest, does not make a
// service act as a Job).
func InJob() bool {
	return os.Getenv(wire.EnvWorker) != ""
}

// Main performs the job this process was started for and exits, if it was
// started as a kubequeue Job; otherwise it checks workers with
// [ValidateWorkers] and returns, so that the service's own main goes on.
// Call it first in main, before flags are parsed, with every worker the
// binary can perform:
//
//	func main() {
//		kubequeue.Main(ResizeImage, SendEmail)
//		// the service...
//	}
//
// Main(workers...) is NewRuntime(workers).Main(): see [Runtime.Main]. A
// program that wants a logger or middleware of its own calls [NewRuntime].
func Main(workers ...AnyWorker) {
	NewRuntime(workers).Main()
}

// Runtime performs Jobs in their containers, with options: a logger and
// middleware around perform. [Main], [Run] and [PerformJob] use one without
// options. A Runtime is safe for concurrent use.
type Runtime struct {
	workers    []AnyWorker
	logger     *slog.Logger // nil: slog.Default()
	middleware []PerformMiddleware
}

// NewRuntime returns a Runtime that performs workers (every worker the
// binary can perform), with opts. It does not check workers: [Runtime.Main]
// does, and a Job of an invalid worker fails with [ErrInvalidWorker].
func NewRuntime(workers []AnyWorker, opts ...RuntimeOption) *Runtime {
	r := &Runtime{workers: slices.Clone(workers)}
	for _, opt := range opts {
		if opt != nil {
			opt.applyRuntime(r)
		}
	}
	return r
}

// WithRuntimeLogger sets the logger of the runtime's messages: the outcome
// of each Job, and invalid workers at start-up (see [Runtime.Main]).
// Default: nil, which logs to [slog.Default] as it is when a message is
// written. Repeating it replaces.
func WithRuntimeLogger(logger *slog.Logger) RuntimeOption {
	return runtimeOption(func(r *Runtime) { r.logger = logger })
}

// log returns the runtime's logger.
func (r *Runtime) log() *slog.Logger {
	if r.logger == nil {
		return slog.Default()
	}
	return r.logger
}

// Main performs the job this process was started for, with [Runtime.Run],
// and exits with the code Run returns, if the process was started as a
// kubequeue Job (see [InJob]); otherwise it checks the workers with
// [ValidateWorkers] and returns, so that the service's own main goes on.
// Call it first in main, before flags are parsed.
//
// The context passed to perform is cancelled when the process receives
// SIGTERM (Kubernetes sends it when the pod is deleted or its deadline
// passes) or SIGINT; a second signal ends the process at once, as it would
// without Main (the kubelet sends SIGKILL after the grace period anyway).
//
// Outside a Job, workers that ValidateWorkers refuses (two of the same
// name, a nil one, an invalid one) are a mistake in the program that would
// fail every Job of theirs: Main logs the error with the runtime's logger
// and exits with [ExitPermanent] rather than let the service start. A
// program that would rather decide for itself calls ValidateWorkers, and
// Run when [InJob], instead of Main.
func (r *Runtime) Main() {
	if !InJob() {
		if err := ValidateWorkers(r.workers...); err != nil {
			r.log().Error("kubequeue: the workers given to Main are invalid; not starting", "error", err)
			os.Exit(ExitPermanent)
		}
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	// Once a signal has cancelled ctx, the next one ends the process as it
	// would without Main, even while perform ignores ctx.
	context.AfterFunc(ctx, stop)
	code := r.Run(ctx)
	stop()
	os.Exit(code)
}

// ValidateWorkers returns nil if [Run] can tell workers apart and perform
// each of them, and otherwise an error matching [ErrInvalidWorker] that
// names each problem: a nil worker, two different workers of the same
// name (the same worker given twice is fine), and each worker's own
// [Worker.Validate] error, joined with [errors.Join]. [Main] calls it at
// start-up outside a Job; a test of the program's worker list may call it
// too.
func ValidateWorkers(workers ...AnyWorker) error {
	var errs []error
	byName := make(map[string]AnyWorker, len(workers))
	for i, w := range workers {
		if w == nil || w.Name() == "" && reflect.ValueOf(w).IsNil() {
			errs = append(errs, fmt.Errorf("%w: worker %d of %d is nil (a package variable used before it was set?)", ErrInvalidWorker, i+1, len(workers)))
			continue
		}
		if other, ok := byName[w.Name()]; ok {
			if other != w {
				errs = append(errs, fmt.Errorf("%w: %q: two different workers of that name; the runtime could not tell which one a Job is for", ErrInvalidWorker, w.Name()))
			}
			continue
		}
		byName[w.Name()] = w
		if err := w.Validate(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Run performs the job this process was started for, with [Runtime.Run]
// of a Runtime without options: Run(ctx, workers...) is
// NewRuntime(workers).Run(ctx).
func Run(ctx context.Context, workers ...AnyWorker) int {
	return NewRuntime(workers).Run(ctx)
}

// Run performs the job this process was started for: it reads the worker
// name and payload from the environment (the payload from the file
// KUBEQUEUE_PAYLOAD_FILE names when that is set, such as a key of a mounted
// Secret, else from KUBEQUEUE_PAYLOAD; in a batch's pod, the item of its
// index, JOB_COMPLETION_INDEX: see [Queue.EnqueueBatch]), finds the worker
// among the runtime's workers, decodes the payload into the worker's type
// and calls perform with ctx in a goroutine of its own, recovering a panic
// and reporting a runtime.Goexit as a failure (so that the process always
// ends with an exit code), inside the runtime's middleware (see
// [WithPerformMiddleware]). It returns the exit code for the outcome (see
// [ExitCode]). Outside a kubequeue Job it returns [ExitPermanent]. Most
// programs call [Runtime.Main] instead. Where KUBEQUEUE_LOCAL_ROOT is set,
// as the kubelet of package github.com/kubequeue/kubequeue/localcluster
// sets it for the processes it runs without a mount namespace, the payload
// file and the termination message are found under that directory.
//
// It logs the outcome with the runtime's logger (see [WithRuntimeLogger]):
// "kubequeue: job succeeded" at level Info, or "kubequeue: job failed" at
// level Error with exit_code, error and, after a panic, stack; both with
// the attributes worker, namespace, job and pod (those known: see
// [PerformRequest]), item and attempt in a batch's pod (a single Job's pod
// cannot know its attempt), and duration, the time perform and the
// middleware took.
func (r *Runtime) Run(ctx context.Context) int {
	req := requestFromEnv(os.LookupEnv)
	log := r.log().With(req.logAttrs()...)
	start := time.Now()
	result, err := r.perform(ctx, req)
	report(log, time.Since(start), err)
	if werr := writeTerminationMessage(os.LookupEnv, terminationMessage(result, err)); werr != nil {
		// The Job's outcome stands: failing a perform that succeeded would
		// run it again. Only the result, or the error's text, is lost.
		log.Error("kubequeue: write termination message", "path", TerminationMessagePath, "error", werr)
	}
	return ExitCode(err)
}

// PerformJob performs a built Job in this process with a Runtime without
// options: PerformJob(ctx, job, workers...) is
// NewRuntime(workers).PerformJob(ctx, job); see [Runtime.PerformJob].
func PerformJob(ctx context.Context, job *batchv1.Job, workers ...AnyWorker) (result json.RawMessage, err error) {
	return NewRuntime(workers).PerformJob(ctx, job)
}

// PerformJob performs a built Job in this process, exactly as its container
// would, inside the runtime's middleware: it reads the worker name and
// payload from the environment of the Job's container, finds the worker
// among the runtime's workers, decodes the payload and calls perform with
// ctx. It returns perform's error, or an error matching [ErrNotInJob],
// [ErrUnknownWorker], [ErrInvalidWorker], [ErrPayloadDecode] or
// [ErrPanic]; [ExitCode] gives the exit code the container would have. It
// also returns the result perform recorded with [SetResult], if it
// returned nil. It logs nothing. It suits tests and running a job inline,
// in the caller's process. The middleware's [PerformRequest] has the
// Job's namespace and name, no pod name, and the environment's plain
// values (the downward API's are not resolved).
//
// A payload that travels in a Secret is read from the file the Secret is
// mounted as, which exists only in the container: kubequeuetest.PerformJob
// performs such a Job held by a clientset. A batch's Job (see
// [Queue.EnqueueBatch]) is performed for the item whose index the
// container's environment sets in JOB_COMPLETION_INDEX, which the Job
// controller adds to each pod and a built Job does not have:
// kubequeuetest.PerformBatch and PerformBatchJob perform each item.
func (r *Runtime) PerformJob(ctx context.Context, job *batchv1.Job) (result json.RawMessage, err error) {
	env, ok := wire.JobEnv(job)
	if !ok {
		if job == nil {
			return nil, fmt.Errorf("%w: nil job", ErrNotInJob)
		}
		return nil, fmt.Errorf("%w: job %s/%s has no container with %s", ErrNotInJob, job.Namespace, job.Name, wire.EnvWorker)
	}
	req := requestFromEnv(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	req.Namespace, req.JobName, req.PodName = job.Namespace, job.Name, ""
	return r.perform(ctx, req)
}

// perform is the runtime: it performs the Job of req, inside the
// middleware. It returns what perform recorded with SetResult, if it
// returned nil.
func (r *Runtime) perform(ctx context.Context, req *PerformRequest) (json.RawMessage, error) {
	ctx, slot := withResultSlot(ctx)
	lookup := req.LookupEnv
	final := func(ctx context.Context, _ *PerformRequest) error { return performWorker(ctx, lookup, r.workers) }
	var err error
	if len(r.middleware) == 0 {
		err = final(ctx, req)
	} else {
		chain := r.chainPerform(final)
		err = callPerform(req.Worker, func() error { return chain(ctx, req) })
	}
	if err != nil {
		return nil, err
	}
	return slot.get(), nil
}

// requestFromEnv describes the Job of the container whose environment
// lookup reads.
func requestFromEnv(lookup func(string) (string, bool)) *PerformRequest {
	req := &PerformRequest{Index: -1, LookupEnv: lookup}
	req.Worker, _ = lookup(wire.EnvWorker)
	req.Namespace, _ = lookup(wire.EnvNamespace)
	req.JobName, _ = lookup(wire.EnvJobName)
	req.PodName, _ = lookup(wire.EnvPodName)
	if s, ok := lookup(wire.EnvCompletionIndex); ok && req.Worker != "" {
		if i, err := wire.Index(s); err == nil {
			req.Index = i
			failures, _ := lookup(wire.EnvIndexFailures)
			if f, err := strconv.Atoi(failures); err == nil && f >= 0 {
				req.Attempt = f + 1
			}
		}
	}
	return req
}

// logAttrs returns the attributes of the runtime's messages about req.
func (req *PerformRequest) logAttrs() []any {
	attrs := []any{"worker", req.Worker}
	for _, a := range []struct{ key, value string }{{"namespace", req.Namespace}, {"job", req.JobName}, {"pod", req.PodName}} {
		if a.value != "" {
			attrs = append(attrs, a.key, a.value)
		}
	}
	if req.Index >= 0 {
		attrs = append(attrs, "item", req.Index) // a batch's
	}
	if req.Attempt > 0 {
		attrs = append(attrs, "attempt", req.Attempt)
	}
	return attrs
}

// performWorker finds the worker, reads the payload and performs it.
func performWorker(ctx context.Context, lookup func(string) (string, bool), workers []AnyWorker) error {
	name, _ := lookup(wire.EnvWorker)
	if name == "" {
		return fmt.Errorf("%w: %s is not set, or empty", ErrNotInJob, wire.EnvWorker)
	}
	var found AnyWorker
	known := make([]string, 0, len(workers))
	for _, w := range workers {
		if w == nil || w.Name() == "" { // nil, or a nil *Worker
			continue
		}
		known = append(known, w.Name())
		if w.Name() != name {
			continue
		}
		if found != nil && found != w {
			return fmt.Errorf("%w: %q: two workers of that name were given to the runtime", ErrInvalidWorker, name)
		}
		found = w
	}
	if found == nil {
		return fmt.Errorf("%w: %q is not among the workers given to the runtime [%s]; was it renamed, or left out of kubequeue.Main?", ErrUnknownWorker, name, strings.Join(known, " "))
	}
	if err := found.Validate(); err != nil {
		return err
	}
	data, err := readPayload(name, lookup)
	if err != nil {
		return err
	}
	return found.performPayload(ctx, data)
}

// readPayload returns the payload: the file $KUBEQUEUE_PAYLOAD_FILE names,
// when set (a payload mounted from a Secret), or else $KUBEQUEUE_PAYLOAD;
// in a batch's pod, the item of its index (see readItem).
func readPayload(worker string, lookup func(string) (string, bool)) (string, error) {
	_, inFile := lookup(wire.EnvBatchFile)
	if _, inEnv := lookup(wire.EnvBatch); inFile || inEnv {
		return readItem(worker, lookup)
	}
	if path, ok := lookup(wire.EnvPayloadFile); ok {
		data, err := wire.ReadFile(path, lookup)
		if err != nil {
			return "", fmt.Errorf("%w: worker %q: read %s=%s: %w", ErrPayloadDecode, worker, wire.EnvPayloadFile, path, err)
		}
		return data, nil
	}
	data, ok := lookup(wire.EnvPayload)
	if !ok {
		return "", fmt.Errorf("%w: worker %q: neither %s nor %s is set", ErrPayloadDecode, worker, wire.EnvPayload, wire.EnvPayloadFile)
	}
	return data, nil
}

// readItem returns the item of a batch's pod: line $JOB_COMPLETION_INDEX
// of the items, read from the file $KUBEQUEUE_BATCH_FILE names, when set
// (items mounted from a Secret), or else from $KUBEQUEUE_BATCH.
func readItem(worker string, lookup func(string) (string, bool)) (string, error) {
	s, ok := lookup(wire.EnvCompletionIndex)
	if !ok {
		return "", fmt.Errorf("%w: worker %q: a batch's pod without %s (the Job controller sets it in the pods of an Indexed Job)", ErrPayloadDecode, worker, wire.EnvCompletionIndex)
	}
	index, err := wire.Index(s)
	if err != nil {
		return "", fmt.Errorf("%w: worker %q: %s=%q: %w", ErrPayloadDecode, worker, wire.EnvCompletionIndex, s, err)
	}
	data, _ := lookup(wire.EnvBatch)
	if path, ok := lookup(wire.EnvBatchFile); ok {
		if data, err = wire.ReadFile(path, lookup); err != nil {
			return "", fmt.Errorf("%w: worker %q: read %s=%s: %w", ErrPayloadDecode, worker, wire.EnvBatchFile, path, err)
		}
	}
	item, err := wire.Item(data, index)
	if err != nil {
		return "", fmt.Errorf("%w: worker %q: %w", ErrPayloadDecode, worker, err)
	}
	return item, nil
}

// report logs the outcome of a run.
func report(log *slog.Logger, took time.Duration, err error) {
	if err == nil {
		log.Info("kubequeue: job succeeded", "duration", took)
		return
	}
	attrs := []any{"duration", took, "exit_code", ExitCode(err), "error", err}
	if pe := (*panicError)(nil); errors.As(err, &pe) {
		attrs = append(attrs, "stack", string(pe.stack))
	}
	log.Error("kubequeue: job failed", attrs...)
}
