package kubequeue_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/kubequeue/kubequeue"
)

// The wire format between Build and the runtime, spelled out so that a
// change to it fails these tests.
const (
	rtEnvWorker  = "KUBEQUEUE_WORKER"
	rtEnvPayload = "KUBEQUEUE_PAYLOAD"
	// rtEnvHelper makes the test binary act as a Job's container: see init.
	rtEnvHelper = "KUBEQUEUE_TEST_HELPER"
)

const rtImage = "registry.example.com/kubequeue/runtime-test:v1"

// rtArgs is the payload of most workers in these tests.
type rtArgs struct {
	N int `json:"n"`
}

// rtWorker returns a valid worker named name that performs rtArgs with
// perform.
func rtWorker(name string, perform func(context.Context, rtArgs) error) *kubequeue.Worker[rtArgs] {
	return kubequeue.NewWorker(name, perform, kubequeue.WithImage(rtImage))
}

// rtSetEnv sets the variable name of the Job's container to value.
func rtSetEnv(t *testing.T, job *batchv1.Job, name, value string) {
	t.Helper()
	env := job.Spec.Template.Spec.Containers[0].Env
	i := slices.IndexFunc(env, func(e corev1.EnvVar) bool { return e.Name == name })
	require.GreaterOrEqual(t, i, 0, "the built Job has no variable %s", name)
	env[i].Value = value
}

// rtDeleteEnv removes the variable name from the Job's container.
func rtDeleteEnv(t *testing.T, job *batchv1.Job, name string) {
	t.Helper()
	c := &job.Spec.Template.Spec.Containers[0]
	n := len(c.Env)
	c.Env = slices.DeleteFunc(c.Env, func(e corev1.EnvVar) bool { return e.Name == name })
	require.Len(t, c.Env, n-1, "the built Job has no variable %s", name)
}

// rtContainerEnv returns the environment of the Job's only container as
// NAME=value pairs: what its process would see.
func rtContainerEnv(t *testing.T, job *batchv1.Job) []string {
	t.Helper()
	require.Len(t, job.Spec.Template.Spec.Containers, 1)
	var env []string
	for _, e := range job.Spec.Template.Spec.Containers[0].Env {
		if e.ValueFrom != nil && e.ValueFrom.FieldRef != nil {
			continue // the downward API's, which a test process does not have
		}
		require.Nil(t, e.ValueFrom, "variable %s", e.Name)
		env = append(env, e.Name+"="+e.Value)
	}
	return env
}

var errRTBoom = errors.New("boom")

func TestPerformJob_ExitCodes(t *testing.T) {
	t.Parallel()

	succeed := rtWorker("succeed", func(_ context.Context, a rtArgs) error {
		if a.N != 7 {
			return fmt.Errorf("payload decoded as n=%d, want 7", a.N)
		}
		return nil
	})
	fail := rtWorker("fail", func(context.Context, rtArgs) error { return errRTBoom })
	failPermanently := rtWorker("fail-permanently", func(context.Context, rtArgs) error { return kubequeue.Permanent(errRTBoom) })
	panics := rtWorker("panics", func(context.Context, rtArgs) error { panic("kaboom-7f3a") })
	panicsInRuntime := rtWorker("panics-in-runtime", func(_ context.Context, a rtArgs) error {
		var m map[int]int
		m[a.N] = 1
		return nil
	})
	workerA := rtWorker("worker-a", func(context.Context, rtArgs) error { return nil })
	workerB := rtWorker("worker-b", func(context.Context, rtArgs) error { return nil })
	workerC := rtWorker("worker-c", func(context.Context, rtArgs) error { return nil })
	twinValid := rtWorker("twin", func(context.Context, rtArgs) error { return nil })
	twinInvalid := kubequeue.NewWorker("twin", func(context.Context, rtArgs) error { return nil },
		kubequeue.WithImage(rtImage), kubequeue.WithCPU("2", "1"))
	dupA := rtWorker("dup", func(context.Context, rtArgs) error { return nil })
	dupB := rtWorker("dup", func(context.Context, rtArgs) error { return nil })
	goexits := rtWorker("goexits", func(context.Context, rtArgs) error {
		runtime.Goexit()
		return nil
	})
	strict := kubequeue.NewWorker("strict", func(context.Context, rtArgs) error { return nil },
		kubequeue.WithImage(rtImage), kubequeue.WithStrictPayload())
	external := kubequeue.NewWorker[rtArgs]("external", nil,
		kubequeue.WithImage(rtImage), kubequeue.WithCommand("/bin/report"))
	require.NoError(t, external.Validate(), "a worker with a command needs no perform function")

	tests := []struct {
		name     string
		worker   kubequeue.AnyWorker // the worker the Job is built for
		nilJob   bool
		mutate   func(t *testing.T, job *batchv1.Job)
		runtime  []kubequeue.AnyWorker // the workers given to PerformJob
		wantCode int
		wantSame error    // PerformJob must return exactly this error
		wantIs   []error  // and an error matching each of these
		wantMsg  []string // whose message contains each of these
	}{
		{
			name:     "Success",
			worker:   succeed,
			runtime:  []kubequeue.AnyWorker{succeed},
			wantCode: kubequeue.ExitSuccess,
		},
		{
			name:     "ErrorIsRetryableAndReturnedUnchanged",
			worker:   fail,
			runtime:  []kubequeue.AnyWorker{fail},
			wantCode: kubequeue.ExitRetryable,
			wantSame: errRTBoom,
			wantIs:   []error{errRTBoom},
		},
		{
			name:     "PermanentError",
			worker:   failPermanently,
			runtime:  []kubequeue.AnyWorker{failPermanently},
			wantCode: kubequeue.ExitPermanent,
			wantIs:   []error{kubequeue.ErrPermanent, errRTBoom},
			wantMsg:  []string{"boom"},
		},
		{
			name:     "Panic",
			worker:   panics,
			runtime:  []kubequeue.AnyWorker{panics},
			wantCode: kubequeue.ExitRetryable,
			wantIs:   []error{kubequeue.ErrPanic},
			wantMsg:  []string{`"panics"`, "kaboom-7f3a"},
		},
		{
			name:     "RuntimePanic",
			worker:   panicsInRuntime,
			runtime:  []kubequeue.AnyWorker{panicsInRuntime},
			wantCode: kubequeue.ExitRetryable,
			wantIs:   []error{kubequeue.ErrPanic},
			wantMsg:  []string{"assignment to entry in nil map"},
		},
		{
			name:     "Goexit",
			worker:   goexits,
			runtime:  []kubequeue.AnyWorker{goexits},
			wantCode: kubequeue.ExitRetryable,
			wantMsg:  []string{`"goexits"`, "runtime.Goexit"},
		},
		{
			name:     "UnknownWorker",
			worker:   workerA,
			runtime:  []kubequeue.AnyWorker{workerB, workerC},
			wantCode: kubequeue.ExitPermanent,
			wantIs:   []error{kubequeue.ErrUnknownWorker},
			wantMsg:  []string{`"worker-a"`, "[worker-b worker-c]"},
		},
		{
			name:     "NoWorkersGiven",
			worker:   workerA,
			wantCode: kubequeue.ExitPermanent,
			wantIs:   []error{kubequeue.ErrUnknownWorker},
			wantMsg:  []string{`"worker-a"`},
		},
		{
			name:     "PayloadWrongFieldType",
			worker:   succeed,
			mutate:   func(t *testing.T, job *batchv1.Job) { rtSetEnv(t, job, rtEnvPayload, `{"n":"x"}`) },
			runtime:  []kubequeue.AnyWorker{succeed},
			wantCode: kubequeue.ExitPermanent,
			wantIs:   []error{kubequeue.ErrPayloadDecode},
			wantMsg:  []string{`"succeed"`, "kubequeue_test.rtArgs"},
		},
		{
			name:     "PayloadUnknownFieldIgnored",
			worker:   succeed,
			mutate:   func(t *testing.T, job *batchv1.Job) { rtSetEnv(t, job, rtEnvPayload, `{"n":7,"added":true}`) },
			runtime:  []kubequeue.AnyWorker{succeed},
			wantCode: kubequeue.ExitSuccess,
		},
		{
			name:     "PayloadUnknownFieldStrict",
			worker:   strict,
			mutate:   func(t *testing.T, job *batchv1.Job) { rtSetEnv(t, job, rtEnvPayload, `{"n":7,"added":true}`) },
			runtime:  []kubequeue.AnyWorker{strict},
			wantCode: kubequeue.ExitPermanent,
			wantIs:   []error{kubequeue.ErrPayloadDecode},
			wantMsg:  []string{`"strict"`, "kubequeue_test.rtArgs", "does not have"},
		},
		{
			name:     "PayloadKnownFieldsStrict",
			worker:   strict,
			runtime:  []kubequeue.AnyWorker{strict},
			wantCode: kubequeue.ExitSuccess,
		},
		{
			name:     "PayloadInvalidJSON",
			worker:   succeed,
			mutate:   func(t *testing.T, job *batchv1.Job) { rtSetEnv(t, job, rtEnvPayload, `{"n":`) },
			runtime:  []kubequeue.AnyWorker{succeed},
			wantCode: kubequeue.ExitPermanent,
			wantIs:   []error{kubequeue.ErrPayloadDecode},
		},
		{
			name:     "PayloadEmpty",
			worker:   succeed,
			mutate:   func(t *testing.T, job *batchv1.Job) { rtSetEnv(t, job, rtEnvPayload, "") },
			runtime:  []kubequeue.AnyWorker{succeed},
			wantCode: kubequeue.ExitPermanent,
			wantIs:   []error{kubequeue.ErrPayloadDecode},
		},
		{
			name:     "PayloadMissing",
			worker:   succeed,
			mutate:   func(t *testing.T, job *batchv1.Job) { rtDeleteEnv(t, job, rtEnvPayload) },
			runtime:  []kubequeue.AnyWorker{succeed},
			wantCode: kubequeue.ExitPermanent,
			wantIs:   []error{kubequeue.ErrPayloadDecode},
			wantMsg:  []string{rtEnvPayload},
		},
		{
			name:     "InvalidWorker",
			worker:   twinValid,
			runtime:  []kubequeue.AnyWorker{twinInvalid},
			wantCode: kubequeue.ExitPermanent,
			wantIs:   []error{kubequeue.ErrInvalidWorker},
			wantMsg:  []string{"WithCPU"},
		},
		{
			name:     "TwoWorkersWithTheSameName",
			worker:   dupA,
			runtime:  []kubequeue.AnyWorker{dupA, dupB},
			wantCode: kubequeue.ExitPermanent,
			wantIs:   []error{kubequeue.ErrInvalidWorker},
			wantMsg:  []string{`"dup"`},
		},
		{
			name:     "SameWorkerTwice",
			worker:   succeed,
			runtime:  []kubequeue.AnyWorker{succeed, succeed},
			wantCode: kubequeue.ExitSuccess,
		},
		{
			name:     "NilWorkersAreSkipped",
			worker:   succeed,
			runtime:  []kubequeue.AnyWorker{nil, succeed, nil},
			wantCode: kubequeue.ExitSuccess,
		},
		{
			name:   "WorkerInSecondContainer",
			worker: succeed,
			mutate: func(_ *testing.T, job *batchv1.Job) {
				spec := &job.Spec.Template.Spec
				spec.Containers = append([]corev1.Container{{Name: "sidecar", Image: rtImage}}, spec.Containers...)
			},
			runtime:  []kubequeue.AnyWorker{succeed},
			wantCode: kubequeue.ExitSuccess,
		},
		{
			name:     "NoWorkerVariable",
			worker:   succeed,
			mutate:   func(t *testing.T, job *batchv1.Job) { rtDeleteEnv(t, job, rtEnvWorker) },
			runtime:  []kubequeue.AnyWorker{succeed},
			wantCode: kubequeue.ExitPermanent,
			wantIs:   []error{kubequeue.ErrNotInJob},
			wantMsg:  []string{rtEnvWorker},
		},
		{
			name:     "EmptyWorkerVariable",
			worker:   succeed,
			mutate:   func(t *testing.T, job *batchv1.Job) { rtSetEnv(t, job, rtEnvWorker, "") },
			runtime:  []kubequeue.AnyWorker{succeed},
			wantCode: kubequeue.ExitPermanent,
			wantIs:   []error{kubequeue.ErrNotInJob},
			wantMsg:  []string{rtEnvWorker},
		},
		{
			name:     "NoContainers",
			worker:   succeed,
			mutate:   func(_ *testing.T, job *batchv1.Job) { job.Spec.Template.Spec.Containers = nil },
			runtime:  []kubequeue.AnyWorker{succeed},
			wantCode: kubequeue.ExitPermanent,
			wantIs:   []error{kubequeue.ErrNotInJob},
		},
		{
			name:     "NilJob",
			nilJob:   true,
			runtime:  []kubequeue.AnyWorker{succeed},
			wantCode: kubequeue.ExitPermanent,
			wantIs:   []error{kubequeue.ErrNotInJob},
		},
		{
			name:     "WorkerWithoutPerform",
			worker:   external,
			runtime:  []kubequeue.AnyWorker{external},
			wantCode: kubequeue.ExitPermanent,
			wantIs:   []error{kubequeue.ErrInvalidWorker},
			wantMsg:  []string{`"external"`, "no perform function"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			var job *batchv1.Job
			if !tt.nilJob {
				job = build(t, tt.worker, rtArgs{N: 7})
				if tt.mutate != nil {
					tt.mutate(t, job)
				}
			}

			var err error
			require.NotPanics(t, func() { _, err = kubequeue.PerformJob(t.Context(), job, tt.runtime...) })

			require.Equal(t, tt.wantCode, kubequeue.ExitCode(err), "error: %v", err)
			if tt.wantCode == kubequeue.ExitSuccess {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			if tt.wantSame != nil {
				require.Same(t, tt.wantSame, err)
			}
			for _, target := range tt.wantIs {
				require.ErrorIs(t, err, target)
			}
			for _, msg := range tt.wantMsg {
				require.ErrorContains(t, err, msg)
			}
		})
	}

	t.Run("NilError", func(t *testing.T) {
		t.Parallel()
		require.NoError(t, kubequeue.Permanent(nil))
		require.Equal(t, kubequeue.ExitSuccess, kubequeue.ExitCode(nil))
	})
}

func TestExitCode(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name string
		err  error
		want int
	}{
		{name: "Nil", err: nil, want: kubequeue.ExitSuccess},
		{name: "PlainError", err: errRTBoom, want: kubequeue.ExitRetryable},
		{name: "ContextCanceled", err: fmt.Errorf("stopped: %w", context.Canceled), want: kubequeue.ExitRetryable},
		{name: "Permanent", err: kubequeue.Permanent(errRTBoom), want: kubequeue.ExitPermanent},
		{name: "WrappedPermanent", err: fmt.Errorf("step 2: %w", kubequeue.Permanent(errRTBoom)), want: kubequeue.ExitPermanent},
		{name: "ErrPermanent", err: kubequeue.ErrPermanent, want: kubequeue.ExitPermanent},
		{name: "UnknownWorker", err: kubequeue.ErrUnknownWorker, want: kubequeue.ExitPermanent},
		{name: "InvalidWorker", err: kubequeue.ErrInvalidWorker, want: kubequeue.ExitPermanent},
		{name: "PayloadDecode", err: kubequeue.ErrPayloadDecode, want: kubequeue.ExitPermanent},
		{name: "NotInJob", err: kubequeue.ErrNotInJob, want: kubequeue.ExitPermanent},
		{name: "Panic", err: kubequeue.ErrPanic, want: kubequeue.ExitRetryable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tt.want, kubequeue.ExitCode(tt.err))
		})
	}

	t.Run("PermanentKeepsMessage", func(t *testing.T) {
		t.Parallel()
		err := kubequeue.Permanent(errRTBoom)
		require.EqualError(t, err, errRTBoom.Error())
		require.ErrorIs(t, err, kubequeue.ErrPermanent)
		require.ErrorIs(t, err, errRTBoom)
		require.Same(t, errRTBoom, errors.Unwrap(err))
	})
}

func TestPerformJob_Context(t *testing.T) {
	t.Parallel()

	type ctxKey struct{}

	t.Run("Value", func(t *testing.T) {
		t.Parallel()
		var got any
		w := rtWorker("ctx-value", func(ctx context.Context, _ rtArgs) error {
			got = ctx.Value(ctxKey{})
			return nil
		})
		job := build(t, w, rtArgs{})

		ctx := context.WithValue(t.Context(), ctxKey{}, "from the caller")
		_, err := kubequeue.PerformJob(ctx, job, w)
		require.NoError(t, err)
		require.Equal(t, "from the caller", got)
	})

	t.Run("Cancellation", func(t *testing.T) {
		t.Parallel()
		started := make(chan struct{})
		w := rtWorker("ctx-cancel", func(ctx context.Context, _ rtArgs) error {
			close(started)
			<-ctx.Done()
			return fmt.Errorf("stopped: %w", context.Cause(ctx))
		})
		job := build(t, w, rtArgs{})

		cause := errors.New("pod deleted")
		ctx, cancel := context.WithCancelCause(t.Context())
		defer cancel(nil)
		errc := make(chan error, 1)
		go func() { _, err := kubequeue.PerformJob(ctx, job, w); errc <- err }()

		select {
		case <-started:
		case err := <-errc:
			require.FailNow(t, "PerformJob returned before perform started", "error: %v", err)
		case <-time.After(10 * time.Second):
			require.FailNow(t, "perform did not start within 10s")
		}
		cancel(cause)
		select {
		case err := <-errc:
			require.ErrorIs(t, err, cause)
			require.Equal(t, kubequeue.ExitRetryable, kubequeue.ExitCode(err))
		case <-time.After(10 * time.Second):
			require.FailNow(t, "perform did not return within 10s of the cancellation")
		}
	})

	t.Run("AlreadyCancelled", func(t *testing.T) {
		t.Parallel()
		w := rtWorker("ctx-cancelled", func(ctx context.Context, _ rtArgs) error { return ctx.Err() })
		job := build(t, w, rtArgs{})

		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		_, err := kubequeue.PerformJob(ctx, job, w)
		require.ErrorIs(t, err, context.Canceled)
		require.Equal(t, kubequeue.ExitRetryable, kubequeue.ExitCode(err))
	})
}

// rtHelperArgs tells the helper worker how to end.
type rtHelperArgs struct {
	Outcome string `json:"outcome"`
}

var (
	// rtHelper is the worker the test binary performs when it runs as a
	// Job's container.
	rtHelper = kubequeue.NewWorker("helper", rtPerformHelper, kubequeue.WithImage(rtImage))
	// rtHelperOther is not given to Main: its Jobs are unknown to the helper.
	rtHelperOther = kubequeue.NewWorker("helper-other", rtPerformHelper, kubequeue.WithImage(rtImage))
	// rtHelperTwin has rtHelper's name: the helper started with
	// KUBEQUEUE_TEST_HELPER=twins gives both to Main.
	rtHelperTwin = kubequeue.NewWorker("helper", rtPerformHelper, kubequeue.WithImage(rtImage))
	// rtHelperTime is given to Main too: its payload holds a time.
	rtHelperTime = kubequeue.NewWorker("helper-time", func(context.Context, rtTimeArgs) error { return nil }, kubequeue.WithImage(rtImage))
)

// rtTimeArgs is the payload of rtHelperTime.
type rtTimeArgs struct {
	At time.Time `json:"at"`
}

func rtPerformHelper(ctx context.Context, a rtHelperArgs) error {
	switch a.Outcome {
	case "ignore-cancel":
		fmt.Println("running")
		<-ctx.Done()
		fmt.Println("cancelled, still running")
		time.Sleep(time.Minute)
		return nil
	case "succeed":
		fmt.Println("helper performed")
		return nil
	case "fail":
		return errors.New("helper failed on purpose")
	case "fail-permanently":
		return kubequeue.Permanent(errors.New("helper failed permanently on purpose"))
	case "panic":
		panic("helper panicked on purpose")
	case "goexit":
		runtime.Goexit()
		return nil
	default:
		return fmt.Errorf("helper: unknown outcome %q", a.Outcome)
	}
}

// init makes the test binary, started with KUBEQUEUE_TEST_HELPER=1, the
// process of a Job's container: it calls kubequeue.Main with the helper
// workers, and exits 3 printing "not in job" if Main returns. With
// KUBEQUEUE_TEST_HELPER=twins it gives Main two workers of the same name.
// It is an init function rather than TestMain so that it does not collide
// with a TestMain of another test file, and runs before any test.
func init() {
	switch os.Getenv(rtEnvHelper) {
	case "1":
		kubequeue.Main(rtHelper, rtHelperTime)
	case "twins":
		kubequeue.Main(rtHelper, rtHelperTime, rtHelperTwin)
	default:
		return
	}
	fmt.Println("not in job")
	os.Exit(3)
}

// rtEnviron returns this process's environment without KUBEQUEUE_
// variables, so that a child is not taken for a Job's container by mistake.
func rtEnviron() []string {
	return slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, "KUBEQUEUE_") })
}

// rtRun runs name with args and the environment env added to rtEnviron, and
// returns its exit code and output. It fails t if the program cannot be
// started or does not exit within 10 seconds.
func rtRun(t *testing.T, env []string, name string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(rtEnviron(), env...)
	var outBuf, errBuf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &outBuf, &errBuf
	if err := cmd.Run(); err != nil {
		var exitErr *exec.ExitError
		require.ErrorAs(t, err, &exitErr, "stderr:\n%s", errBuf.String())
		require.NoError(t, ctx.Err(), "%s did not exit within 10s; stderr:\n%s", name, errBuf.String())
	}
	return cmd.ProcessState.ExitCode(), outBuf.String(), errBuf.String()
}

func TestMain_Subprocess(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("skipping: runs the test binary as a Job's container in subprocesses; run without -short")
	}

	const secret = "sk_live_7f3a9"
	tests := []struct {
		name       string
		helper     string              // KUBEQUEUE_TEST_HELPER; "" is "1"
		worker     kubequeue.AnyWorker // the worker the Job is built for; nil: no Job variables at all
		outcome    string
		payload    *string  // replaces the built payload
		env        []string // added last
		wantCode   int
		wantStdout []string
		wantStderr []string
		notStderr  []string
	}{
		{
			name:       "Succeeds",
			worker:     rtHelper,
			outcome:    "succeed",
			wantCode:   kubequeue.ExitSuccess,
			wantStdout: []string{"helper performed"},
			wantStderr: []string{"kubequeue: job succeeded", "worker=helper"},
			notStderr:  []string{"kubequeue: job failed"},
		},
		{
			name:       "Fails",
			worker:     rtHelper,
			outcome:    "fail",
			wantCode:   kubequeue.ExitRetryable,
			wantStderr: []string{"kubequeue: job failed", "worker=helper", "exit_code=1", "helper failed on purpose"},
		},
		{
			name:       "FailsPermanently",
			worker:     rtHelper,
			outcome:    "fail-permanently",
			wantCode:   kubequeue.ExitPermanent,
			wantStderr: []string{"kubequeue: job failed", "exit_code=42", "helper failed permanently on purpose"},
		},
		{
			name:     "Panics",
			worker:   rtHelper,
			outcome:  "panic",
			wantCode: kubequeue.ExitRetryable,
			wantStderr: []string{
				"kubequeue: job failed", "exit_code=1", "helper panicked on purpose",
				"stack=", "rtPerformHelper",
			},
		},
		{
			name:       "UnknownWorker",
			worker:     rtHelperOther,
			outcome:    "succeed",
			wantCode:   kubequeue.ExitPermanent,
			wantStderr: []string{"kubequeue: job failed", "exit_code=42", "unknown worker", `\"helper-other\"`, "[helper helper-time]"},
		},
		{
			name:       "BadPayload",
			worker:     rtHelper,
			payload:    new(`{"outcome":1}`),
			wantCode:   kubequeue.ExitPermanent,
			wantStderr: []string{"kubequeue: job failed", "exit_code=42", "cannot decode payload"},
		},
		{
			name:       "NotInJob",
			wantCode:   3,
			wantStdout: []string{"not in job"},
			notStderr:  []string{"kubequeue:"},
		},
		{
			name:       "EmptyWorkerVariableIsNotInJob",
			env:        []string{rtEnvWorker + "="},
			wantCode:   3,
			wantStdout: []string{"not in job"},
			notStderr:  []string{"kubequeue:"},
		},
		{
			name:       "TwinWorkersRefusedOutsideJob",
			helper:     "twins",
			wantCode:   kubequeue.ExitPermanent,
			wantStderr: []string{"kubequeue: the workers given to Main are invalid", `\"helper\": two different workers of that name`},
		},
		{
			name:       "Goexit",
			worker:     rtHelper,
			outcome:    "goexit",
			wantCode:   kubequeue.ExitRetryable,
			wantStderr: []string{"kubequeue: job failed", "exit_code=1", "runtime.Goexit"},
		},
		{
			name:       "DecodeErrorQuotesNoPayload",
			worker:     rtHelperTime,
			payload:    new(`{"at":"` + secret + `"}`),
			wantCode:   kubequeue.ExitPermanent,
			wantStderr: []string{"kubequeue: job failed", "exit_code=42", "rtTimeArgs.at", "time.Time"},
			notStderr:  []string{secret},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			helper := tt.helper
			if helper == "" {
				helper = "1"
			}
			env := []string{rtEnvHelper + "=" + helper}
			if tt.worker != nil {
				var p any = rtHelperArgs{Outcome: tt.outcome}
				if tt.worker == rtHelperTime {
					p = rtTimeArgs{}
				}
				job := build(t, tt.worker, p)
				if tt.payload != nil {
					rtSetEnv(t, job, rtEnvPayload, *tt.payload)
				}
				env = append(env, rtContainerEnv(t, job)...)
			}
			env = append(env, tt.env...)

			code, stdout, stderr := rtRun(t, env, os.Args[0], "-test.run=^$")

			require.Equal(t, tt.wantCode, code, "stdout:\n%s\nstderr:\n%s", stdout, stderr)
			if tt.worker != nil {
				require.NotContains(t, stdout, "not in job", "Main returned in a Job's container")
			}
			for _, s := range tt.wantStdout {
				require.Contains(t, stdout, s)
			}
			for _, s := range tt.wantStderr {
				require.Contains(t, stderr, s)
			}
			for _, s := range tt.notStderr {
				require.NotContains(t, stderr, s)
			}
		})
	}
}

// rtPrintMessageArgs has the JSON form of examples/printmessage's Message.
type rtPrintMessageArgs struct {
	Message string `json:"message"`
	Delay   string `json:"delay,omitempty"`
}

// rtPrintMessageEnv returns the environment of the container of a
// print-message Job for args.
func rtPrintMessageEnv(t *testing.T, args rtPrintMessageArgs) []string {
	t.Helper()
	w := kubequeue.NewWorker("print-message", func(context.Context, rtPrintMessageArgs) error { return nil },
		kubequeue.WithImage(rtImage))
	return rtContainerEnv(t, build(t, w, args))
}

// rtBuildPrintMessage builds examples/printmessage into a temporary
// directory and returns the path of the binary.
func rtBuildPrintMessage(t *testing.T) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	bin := filepath.Join(t.TempDir(), "printmessage")
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, goBin, "build", "-o", bin, "./examples/printmessage")
	cmd.Env = rtEnviron()
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "go build ./examples/printmessage:\n%s", out)
	return bin
}

func TestMain_SIGTERM(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("skipping: builds examples/printmessage and runs it in subprocesses; run without -short")
	}
	if runtime.GOOS == "windows" {
		t.Skip("skipping: SIGTERM cannot be sent to a process on windows")
	}

	bin := rtBuildPrintMessage(t)

	t.Run("CancelsPerform", func(t *testing.T) {
		t.Parallel()

		cmd := exec.CommandContext(t.Context(), bin)
		cmd.Env = append(rtEnviron(), rtPrintMessageEnv(t, rtPrintMessageArgs{Message: "hello", Delay: "1m"})...)
		stdoutPipe, err := cmd.StdoutPipe()
		require.NoError(t, err)
		var stderr bytes.Buffer // read only once the process has been waited for
		cmd.Stderr = &stderr
		require.NoError(t, cmd.Start())

		// The goroutine reads stdout to its end and then waits for the
		// process. If the test stops early, cancelling t.Context() kills the
		// process, so that the cleanup does not wait long.
		var stdout []string
		var waitErr error
		waiting := make(chan struct{})
		done := make(chan struct{})
		go func() {
			defer close(done)
			sc := bufio.NewScanner(stdoutPipe)
			for sc.Scan() {
				line := sc.Text()
				if line == "waiting 1m0s" && !slices.Contains(stdout, line) {
					close(waiting)
				}
				stdout = append(stdout, line)
			}
			waitErr = cmd.Wait()
		}()
		t.Cleanup(func() { <-done })

		select {
		case <-waiting:
		case <-done:
			require.FailNow(t, "printmessage exited before it waited", "exit: %v\nstdout: %q\nstderr:\n%s", waitErr, stdout, stderr.String())
		case <-time.After(10 * time.Second):
			require.FailNow(t, `printmessage did not print "waiting 1m0s" within 10s`)
		}

		require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			require.FailNow(t, "printmessage did not exit within 10s of SIGTERM")
		}

		require.Equal(t, kubequeue.ExitRetryable, cmd.ProcessState.ExitCode(),
			"exit: %v\nstdout: %q\nstderr:\n%s", waitErr, stdout, stderr.String())
		require.NotContains(t, stdout, "hello")
		require.Contains(t, stderr.String(), "kubequeue: job failed")
		require.Contains(t, stderr.String(), "exit_code=1")
		require.Contains(t, stderr.String(), "context canceled")
	})

	t.Run("ExitCodes", func(t *testing.T) {
		t.Parallel()

		tests := []struct {
			name       string
			args       rtPrintMessageArgs
			wantCode   int
			wantStdout string
			wantStderr string
		}{
			{
				name:       "PrintsMessage",
				args:       rtPrintMessageArgs{Message: "hello"},
				wantCode:   kubequeue.ExitSuccess,
				wantStdout: "hello\n",
				wantStderr: "kubequeue: job succeeded",
			},
			{
				name:       "EmptyMessage",
				args:       rtPrintMessageArgs{Message: ""},
				wantCode:   kubequeue.ExitPermanent,
				wantStderr: "message is empty",
			},
			{
				name:       "InvalidDelay",
				args:       rtPrintMessageArgs{Message: "hello", Delay: "soon"},
				wantCode:   kubequeue.ExitPermanent,
				wantStderr: "delay",
			},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				code, stdout, stderr := rtRun(t, rtPrintMessageEnv(t, tt.args), bin)
				require.Equal(t, tt.wantCode, code, "stdout:\n%s\nstderr:\n%s", stdout, stderr)
				require.Equal(t, tt.wantStdout, stdout)
				require.Contains(t, stderr, tt.wantStderr)
			})
		}
	})
}

// TestRun_NotInJob changes the environment of the test process, so it does
// not run in parallel.
func TestRun_NotInJob(t *testing.T) {
	t.Setenv(rtEnvWorker, "")
	require.NoError(t, os.Unsetenv(rtEnvWorker))
	t.Setenv(rtEnvPayload, "")
	require.NoError(t, os.Unsetenv(rtEnvPayload))

	require.False(t, kubequeue.InJob())
	require.Equal(t, kubequeue.ExitPermanent, kubequeue.Run(t.Context()))
	require.Equal(t, kubequeue.ExitPermanent, kubequeue.Run(t.Context(), rtHelper))

	// Main returns at once outside a Job.
	kubequeue.Main(rtHelper)

	t.Setenv(rtEnvWorker, "run-in-process")
	require.True(t, kubequeue.InJob())

	type ctxKey struct{}
	var got any
	w := rtWorker("run-in-process", func(ctx context.Context, a rtArgs) error {
		got = ctx.Value(ctxKey{})
		if a.N != 7 {
			return kubequeue.Permanent(fmt.Errorf("payload decoded as n=%d, want 7", a.N))
		}
		return nil
	})
	for _, e := range rtContainerEnv(t, build(t, w, rtArgs{N: 7})) {
		name, value, _ := strings.Cut(e, "=")
		t.Setenv(name, value)
	}
	ctx := context.WithValue(t.Context(), ctxKey{}, "from the caller")
	require.Equal(t, kubequeue.ExitSuccess, kubequeue.Run(ctx, w))
	require.Equal(t, "from the caller", got)

	t.Setenv(rtEnvPayload, `{"n":8}`)
	require.Equal(t, kubequeue.ExitPermanent, kubequeue.Run(ctx, w))
}

func TestRun_PayloadFile(t *testing.T) {
	const path = "/var/run/kubequeue/payload.json"
	root := t.TempDir()
	file := filepath.Join(root, path)
	require.NoError(t, os.MkdirAll(filepath.Dir(file), 0o755))
	t.Setenv(rtEnvWorker, "from-file")
	t.Setenv(rtEnvPayload, `{"n":1}`) // ignored: the file wins
	t.Setenv("KUBEQUEUE_PAYLOAD_FILE", path)
	// The local kubelet's root; in a real container the path is read as is.
	t.Setenv("KUBEQUEUE_LOCAL_ROOT", root)

	var got int
	w := rtWorker("from-file", func(_ context.Context, a rtArgs) error {
		got = a.N
		return nil
	})
	tests := []struct {
		name     string
		content  []byte // nil: no file
		wantCode int
		wantN    int
	}{
		{name: "Read", content: []byte(`{"n":7}`), wantCode: kubequeue.ExitSuccess, wantN: 7},
		{name: "Missing", wantCode: kubequeue.ExitPermanent},
		{name: "TooLarge", content: append([]byte(`{"n":7}`), bytes.Repeat([]byte(" "), 1<<20)...), wantCode: kubequeue.ExitPermanent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got = 0
			_ = os.Remove(file)
			if tt.content != nil {
				require.NoError(t, os.WriteFile(file, tt.content, 0o600))
			}
			require.Equal(t, tt.wantCode, kubequeue.Run(t.Context(), w))
			require.Equal(t, tt.wantN, got)
		})
	}
}

// TestRun_DecodeErrorQuotesNoPayload checks every way the error of a
// payload that does not decode leaves the process (the log line, the
// termination message, which the enqueuer reads as JobFailedError, and
// PerformJob's error) for the payload's values. It changes the
// environment and slog's default logger, so it does not run in parallel.
// TestRun_BatchItem: in a batch's pod the runtime performs the item of
// the pod's index, from the variable or the mounted file.
func TestRun_BatchItem(t *testing.T) {
	const path = "/var/run/kubequeue/payload/batch.jsonl"
	root := t.TempDir()
	file := filepath.Join(root, path)
	require.NoError(t, os.MkdirAll(filepath.Dir(file), 0o755))
	t.Setenv(rtEnvWorker, "batch")
	t.Setenv("KUBEQUEUE_LOCAL_ROOT", root)

	var got []int
	w := rtWorker("batch", func(_ context.Context, a rtArgs) error {
		got = append(got, a.N)
		return nil
	})
	items := "{\"n\":10}\n{\"n\":11}\n{\"n\":12}"
	tests := []struct {
		name     string
		env      map[string]string // "" unsets
		file     string            // "" writes none
		wantCode int
		want     []int
	}{
		{name: "First", env: map[string]string{"KUBEQUEUE_BATCH": items, "JOB_COMPLETION_INDEX": "0"}, wantCode: kubequeue.ExitSuccess, want: []int{10}},
		{name: "Last", env: map[string]string{"KUBEQUEUE_BATCH": items, "JOB_COMPLETION_INDEX": "2"}, wantCode: kubequeue.ExitSuccess, want: []int{12}},
		{name: "OneItem", env: map[string]string{"KUBEQUEUE_BATCH": `{"n":5}`, "JOB_COMPLETION_INDEX": "0"}, wantCode: kubequeue.ExitSuccess, want: []int{5}},
		{name: "File", env: map[string]string{"KUBEQUEUE_BATCH_FILE": path, "JOB_COMPLETION_INDEX": "1"}, file: items, wantCode: kubequeue.ExitSuccess, want: []int{11}},
		{name: "FileWins", env: map[string]string{"KUBEQUEUE_BATCH_FILE": path, "KUBEQUEUE_BATCH": `{"n":99}`, "JOB_COMPLETION_INDEX": "0"}, file: items, wantCode: kubequeue.ExitSuccess, want: []int{10}},
		{name: "BatchWinsOverPayload", env: map[string]string{"KUBEQUEUE_BATCH": items, rtEnvPayload: `{"n":99}`, "JOB_COMPLETION_INDEX": "1"}, wantCode: kubequeue.ExitSuccess, want: []int{11}},
		{name: "NoIndex", env: map[string]string{"KUBEQUEUE_BATCH": items}, wantCode: kubequeue.ExitPermanent},
		{name: "IndexBeyond", env: map[string]string{"KUBEQUEUE_BATCH": items, "JOB_COMPLETION_INDEX": "3"}, wantCode: kubequeue.ExitPermanent},
		{name: "IndexNegative", env: map[string]string{"KUBEQUEUE_BATCH": items, "JOB_COMPLETION_INDEX": "-1"}, wantCode: kubequeue.ExitPermanent},
		{name: "IndexNotANumber", env: map[string]string{"KUBEQUEUE_BATCH": items, "JOB_COMPLETION_INDEX": "one"}, wantCode: kubequeue.ExitPermanent},
		{name: "FileMissing", env: map[string]string{"KUBEQUEUE_BATCH_FILE": path, "JOB_COMPLETION_INDEX": "0"}, wantCode: kubequeue.ExitPermanent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got = nil
			for _, k := range []string{"KUBEQUEUE_BATCH", "KUBEQUEUE_BATCH_FILE", "JOB_COMPLETION_INDEX", rtEnvPayload} {
				if v, ok := tt.env[k]; ok {
					t.Setenv(k, v)
				} else {
					t.Setenv(k, "")
					os.Unsetenv(k)
				}
			}
			_ = os.Remove(file)
			if tt.file != "" {
				require.NoError(t, os.WriteFile(file, []byte(tt.file), 0o600))
			}
			require.Equal(t, tt.wantCode, kubequeue.Run(t.Context(), w))
			require.Equal(t, tt.want, got)
		})
	}
}

// TestPerformJob_Batch: a built batch's Job is performed for the index its
// environment sets, as the Job controller sets it in each pod.
func TestPerformJob_Batch(t *testing.T) {
	t.Parallel()
	w := rtWorker("batch", func(ctx context.Context, a rtArgs) error {
		return kubequeue.SetResult(ctx, a.N*2)
	})
	built, err := buildQueue(t).BuildBatch(w, []rtArgs{{N: 1}, {N: 2}})
	require.NoError(t, err)

	_, err = kubequeue.PerformJob(t.Context(), built, w)
	require.ErrorIs(t, err, kubequeue.ErrPayloadDecode, "a built Job has no index")
	require.ErrorContains(t, err, "JOB_COMPLETION_INDEX")

	c := &built.Spec.Template.Spec.Containers[0]
	c.Env = append(c.Env, corev1.EnvVar{Name: "JOB_COMPLETION_INDEX", Value: "1"})
	result, err := kubequeue.PerformJob(t.Context(), built, w)
	require.NoError(t, err)
	require.JSONEq(t, "4", string(result))
}

func TestRun_DecodeErrorQuotesNoPayload(t *testing.T) {
	const secret = "sk_live_7f3a9"
	type args struct {
		At    time.Time  `json:"at"`
		Small int8       `json:"small"`
		Count int        `json:"count,string"`
		Addr  netip.Addr `json:"addr"`
	}
	w := kubequeue.NewWorker("leaky", func(context.Context, args) error { return nil }, kubequeue.WithImage(rtImage))
	job := build(t, w, args{})

	root := t.TempDir()
	message := filepath.Join(root, kubequeue.TerminationMessagePath)
	require.NoError(t, os.MkdirAll(filepath.Dir(message), 0o755))
	t.Setenv("KUBEQUEUE_LOCAL_ROOT", root)
	var logged bytes.Buffer
	defer slog.SetDefault(slog.Default())
	slog.SetDefault(slog.New(slog.NewTextHandler(&logged, nil)))

	tests := []struct {
		name    string
		payload string
		want    []string
	}{
		{"Time", `{"at":"` + secret + `"}`, []string{"args.at", "time.Time", "*time.ParseError"}},
		{"NumberOverflow", `{"small":7000000001}`, []string{"args.small", "int8"}},
		{"StringOption", `{"count":"` + secret + `"}`, []string{"args.count", ",string"}},
		{"Netip", `{"addr":"` + secret + `"}`, []string{"args.addr", "netip.Addr"}},
		{"Syntax", `{"small":` + secret + `}`, []string{"not valid JSON"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			logged.Reset()
			require.NoError(t, os.WriteFile(message, nil, 0o644)) // the kubelet creates it
			for _, e := range rtContainerEnv(t, job) {
				name, value, _ := strings.Cut(e, "=")
				t.Setenv(name, value)
			}
			t.Setenv(rtEnvPayload, tt.payload)

			require.Equal(t, kubequeue.ExitPermanent, kubequeue.Run(t.Context(), w))
			written, err := os.ReadFile(message)
			require.NoError(t, err)

			inJob := job.DeepCopy()
			rtSetEnv(t, inJob, rtEnvPayload, tt.payload)
			_, performErr := kubequeue.PerformJob(t.Context(), inJob, w)
			require.ErrorIs(t, performErr, kubequeue.ErrPayloadDecode)

			for what, text := range map[string]string{"termination message": string(written), "log": logged.String(), "PerformJob": performErr.Error()} {
				require.NotContains(t, text, "sk_live", what)
				require.NotContains(t, text, "7000000001", what)
				for _, w := range tt.want {
					require.Contains(t, text, w, what)
				}
			}
		})
	}
}

func TestValidateWorkers(t *testing.T) {
	t.Parallel()
	a := rtWorker("a", func(context.Context, rtArgs) error { return nil })
	b := rtWorker("b", func(context.Context, rtArgs) error { return nil })
	twinOfA := rtWorker("a", func(context.Context, rtArgs) error { return nil })
	invalid := kubequeue.NewWorker("c", func(context.Context, rtArgs) error { return nil }) // no image
	var unset *kubequeue.Worker[rtArgs]

	require.NoError(t, kubequeue.ValidateWorkers())
	require.NoError(t, kubequeue.ValidateWorkers(a, b))
	require.NoError(t, kubequeue.ValidateWorkers(a, b, a), "the same worker twice is one worker")

	tests := []struct {
		name    string
		workers []kubequeue.AnyWorker
		want    []string
	}{
		{"Twins", []kubequeue.AnyWorker{a, b, twinOfA}, []string{`"a": two different workers of that name`}},
		{"Nil", []kubequeue.AnyWorker{a, nil}, []string{"worker 2 of 2 is nil"}},
		{"NilPointer", []kubequeue.AnyWorker{unset, b}, []string{"worker 1 of 2 is nil"}},
		{"Invalid", []kubequeue.AnyWorker{a, invalid}, []string{`worker "c": WithImage`}},
		{"All", []kubequeue.AnyWorker{a, twinOfA, nil, invalid}, []string{`"a": two different`, "worker 3 of 4 is nil", "WithImage"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := kubequeue.ValidateWorkers(tt.workers...)
			require.ErrorIs(t, err, kubequeue.ErrInvalidWorker)
			for _, w := range tt.want {
				require.ErrorContains(t, err, w)
			}
		})
	}
}

// TestMain_SecondSignal checks that a perform that goes on after SIGTERM
// cancelled its context does not keep the process from ending: the next
// signal ends it, as it would without Main.
func TestMain_SecondSignal(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("skipping: runs the test binary as a Job's container in a subprocess; run without -short")
	}
	if runtime.GOOS == "windows" {
		t.Skip("skipping: SIGTERM cannot be sent to a process on windows")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
	cmd.Env = append(append(rtEnviron(), rtEnvHelper+"=1"), rtContainerEnv(t, build(t, rtHelper, rtHelperArgs{Outcome: "ignore-cancel"}))...)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	lines := make(chan string)
	go func() {
		defer close(lines)
		for sc := bufio.NewScanner(stdout); sc.Scan(); {
			lines <- sc.Text()
		}
	}()
	waitFor := func(want string) {
		for {
			select {
			case line, ok := <-lines:
				require.True(t, ok, "the process ended before printing %q", want)
				if line == want {
					return
				}
			case <-ctx.Done():
				require.FailNow(t, "timed out waiting for "+want)
			}
		}
	}
	waitFor("running")
	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	waitFor("cancelled, still running")
	// The next SIGTERM ends it. The handler is removed just after the
	// context is cancelled, so send until it takes.
	for ended := false; !ended; {
		err := cmd.Process.Signal(syscall.SIGTERM)
		if errors.Is(err, os.ErrProcessDone) {
			break
		}
		require.NoError(t, err)
		select {
		case _, ok := <-lines:
			ended = !ok
		case <-time.After(100 * time.Millisecond):
		case <-ctx.Done():
			require.FailNow(t, "the process did not end on a second SIGTERM")
		}
	}
	err = cmd.Wait()
	require.NoError(t, ctx.Err(), "the process did not end on a second SIGTERM")
	var exitErr *exec.ExitError
	require.ErrorAs(t, err, &exitErr)
	status, ok := exitErr.Sys().(syscall.WaitStatus)
	require.True(t, ok)
	require.True(t, status.Signaled(), "ended by the signal, not by an exit: %v", err)
	require.Equal(t, syscall.SIGTERM, status.Signal())
}
