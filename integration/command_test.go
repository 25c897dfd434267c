package integration

import (
	"bytes"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/kubequeue/kubequeue"
	"github.com/kubequeue/kubequeue/cmd/kubequeue/kubequeuecli"
)

// kubequeueCmd runs the kubequeue command line args in-process, mounted
// with testWorkers, against the local cluster's kubeconfig, in the test's
// namespace, and returns what it printed and its exit code.
func (e *env) kubequeueCmd(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errOut bytes.Buffer
	cmd := kubequeuecli.NewCommand(kubequeuecli.WithWorkers(testWorkers...),
		kubequeuecli.WithIOStreams(genericiooptions.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut}))
	cmd.SetArgs(append([]string{"--kubeconfig", cluster.Kubeconfig(), "-n", e.ns}, args...))
	code = kubequeuecli.Execute(e.ctx, cmd)
	return out.String(), errOut.String(), code
}

// TestQueue_Retry_RunsPayloadAgain retries a failed Job: the new Job runs
// the same payload, whose marker file the first run left, and succeeds.
func TestQueue_Retry_RunsPayloadAgain(t *testing.T) {
	t.Parallel()
	e := setup(t)
	for _, sensitive := range []bool{false, true} {
		opts := []kubequeue.EnqueueOption{kubequeue.WithBackoffLimit(0)}
		if sensitive {
			opts = append(opts, kubequeue.WithSensitivePayload())
		}
		m := marker{File: filepath.Join(t.TempDir(), "marker")}
		old, err := e.queue.Enqueue(e.ctx, flakyWorker, m, opts...)
		require.NoError(t, err)
		_, err = e.queue.Wait(e.ctx, old)
		require.ErrorIs(t, err, kubequeue.ErrJobFailed)

		h, err := e.queue.Retry(e.ctx, old)
		require.NoError(t, err)
		require.NotEqual(t, old.Name, h.Name)
		st, err := e.queue.Wait(e.ctx, h)
		require.NoError(t, err, "sensitive=%v", sensitive)
		require.Equal(t, kubequeue.StateSucceeded, st.State)
		require.Contains(t, logTexts(t, e, h, kubequeue.LogOptions{Attempt: 1}), "attempt 2", "the same payload, whose marker the first run wrote")

		job, err := e.queue.Get(e.ctx, h)
		require.NoError(t, err)
		require.Equal(t, old.Name, job.Annotations[kubequeue.AnnotationRetryOf])
		oldSt, err := e.queue.Status(e.ctx, old)
		require.NoError(t, err, "the old Job is kept")
		require.Equal(t, kubequeue.StateFailed, oldSt.State)
	}
}

// TestCommand runs every verb of the kubequeue command against the local
// cluster.
func TestCommand(t *testing.T) {
	t.Parallel()

	t.Run("EnqueueWaitListStatusLogs", func(t *testing.T) {
		t.Parallel()
		e := setup(t)
		stdout, stderr, code := e.kubequeueCmd(t, "enqueue", "greet", `{"name": "ada"}`, "--name", "greet-ada")
		require.Equal(t, kubequeuecli.ExitOK, code, stderr)
		require.Equal(t, "job.batch/greet-ada created\n", stdout)

		stdout, stderr, code = e.kubequeueCmd(t, "wait", "greet-ada", "--timeout", "2m")
		require.Equal(t, kubequeuecli.ExitOK, code, stderr)
		require.Equal(t, "job.batch/greet-ada succeeded\n", stdout)

		stdout, stderr, code = e.kubequeueCmd(t, "logs", "greet-ada")
		require.Equal(t, kubequeuecli.ExitOK, code, stderr)
		require.Contains(t, stdout, "hello, ada\n")

		stdout, stderr, code = e.kubequeueCmd(t, "list")
		require.Equal(t, kubequeuecli.ExitOK, code, stderr)
		require.Regexp(t, `(?m)^NAME +WORKER +STATE +ATTEMPTS +AGE +DURATION\ngreet-ada +greet +succeeded +1 +\S+ +\S+$`, stdout)
		stdout, _, code = e.kubequeueCmd(t, "list", "-o", "name", "-l", kubequeue.LabelWorker+"=greet")
		require.Equal(t, kubequeuecli.ExitOK, code)
		require.Equal(t, "job.batch/greet-ada\n", stdout)
		stdout, stderr, code = e.kubequeueCmd(t, "list", "--state", "failed")
		require.Equal(t, kubequeuecli.ExitOK, code)
		require.Empty(t, stdout)
		require.Equal(t, "No kubequeue Jobs found.\n", stderr)
		stdout, _, code = e.kubequeueCmd(t, "list", "-A", "--worker", "greet")
		require.Equal(t, kubequeuecli.ExitOK, code)
		// Other tests' namespaces, listed too, may widen the column.
		require.Regexp(t, `(?m)^`+regexp.QuoteMeta(e.ns)+` +greet-ada +greet +succeeded `, stdout)

		stdout, stderr, code = e.kubequeueCmd(t, "status", "greet-ada")
		require.Equal(t, kubequeuecli.ExitOK, code, stderr)
		require.Regexp(t, `(?m)^State: +succeeded$`, stdout)
		require.Regexp(t, `(?m)^  Complete +True `, stdout)
	})

	t.Run("WaitFailedAndRetry", func(t *testing.T) {
		t.Parallel()
		e := setup(t)
		failed, err := e.queue.Enqueue(e.ctx, failingWorker, greeting{Name: "x"}, kubequeue.WithBackoffLimit(0))
		require.NoError(t, err)
		ok, err := e.queue.Enqueue(e.ctx, greetWorker, greeting{Name: "y"})
		require.NoError(t, err)

		stdout, stderr, code := e.kubequeueCmd(t, "wait", failed.Name, ok.Name)
		require.Equal(t, kubequeuecli.ExitFailed, code, stderr)
		require.Contains(t, stdout, "job.batch/"+ok.Name+" succeeded\n")
		require.Contains(t, stdout, "job.batch/"+failed.Name+" failed: ")
		require.Contains(t, stdout, "the worker failed on purpose")
		require.Equal(t, "error: 1 of 2 Jobs failed\n", stderr)

		stdout, stderr, code = e.kubequeueCmd(t, "status", failed.Name)
		require.Equal(t, kubequeuecli.ExitOK, code, stderr)
		require.Regexp(t, `(?m)^Exit code: +1 \(retryable`, stdout)
		require.Regexp(t, `(?m)^Last failure: +the worker failed on purpose$`, stdout)

		stdout, stderr, code = e.kubequeueCmd(t, "retry", "-o", "name", failed.Name)
		require.Equal(t, kubequeuecli.ExitOK, code, stderr)
		name := strings.TrimPrefix(strings.TrimSpace(stdout), "job.batch/")
		job, err := client.BatchV1().Jobs(e.ns).Get(e.ctx, name, metav1.GetOptions{})
		require.NoError(t, err)
		require.Equal(t, failed.Name, job.Annotations[kubequeue.AnnotationRetryOf])

		_, stderr, code = e.kubequeueCmd(t, "wait", "no-such-job")
		require.Equal(t, kubequeuecli.ExitError, code)
		require.Contains(t, stderr, "job not found")
	})

	t.Run("TimeoutSuspendResumeCancel", func(t *testing.T) {
		t.Parallel()
		e := setup(t)
		h, err := e.queue.Enqueue(e.ctx, sleepWorker, marker{File: filepath.Join(t.TempDir(), "marker")})
		require.NoError(t, err)

		start := time.Now()
		stdout, stderr, code := e.kubequeueCmd(t, "wait", "--timeout", "1s", h.Name)
		require.Equal(t, kubequeuecli.ExitTimeout, code, stderr)
		require.Less(t, time.Since(start), 20*time.Second)
		require.Contains(t, stdout, "timed out after 1s")

		stdout, stderr, code = e.kubequeueCmd(t, "suspend", h.Name)
		require.Equal(t, kubequeuecli.ExitOK, code, stderr)
		require.Equal(t, "job.batch/"+h.Name+" suspended\n", stdout)
		job, err := e.queue.Get(e.ctx, h)
		require.NoError(t, err)
		require.True(t, *job.Spec.Suspend)
		stdout, _, code = e.kubequeueCmd(t, "status", h.Name)
		require.Equal(t, kubequeuecli.ExitOK, code)
		// Pending or running until its pod has stopped, when the pod
		// had not started yet or was still running.
		require.Regexp(t, `(?m)^State: +(suspended|running|pending)$`, stdout)

		stdout, stderr, code = e.kubequeueCmd(t, "resume", "job/"+h.Name)
		require.Equal(t, kubequeuecli.ExitOK, code, stderr)
		require.Equal(t, "job.batch/"+h.Name+" resumed\n", stdout)
		job, err = e.queue.Get(e.ctx, h)
		require.NoError(t, err)
		require.False(t, *job.Spec.Suspend)

		_, stderr, code = e.kubequeueCmd(t, "retry", h.Name)
		require.Equal(t, kubequeuecli.ExitError, code)
		require.Contains(t, stderr, "has not finished")

		stdout, stderr, code = e.kubequeueCmd(t, "cancel", h.Name)
		require.Equal(t, kubequeuecli.ExitOK, code, stderr)
		require.Equal(t, "job.batch/"+h.Name+" cancelled\n", stdout)
		_, err = e.queue.Wait(e.ctx, h)
		require.ErrorIs(t, err, kubequeue.ErrJobNotFound)
	})

	t.Run("Batch", func(t *testing.T) {
		t.Parallel()
		e := setup(t)
		h, err := e.queue.EnqueueBatch(e.ctx, greetWorker, []greeting{{Name: "a"}, {Name: "b"}})
		require.NoError(t, err)

		stdout, stderr, code := e.kubequeueCmd(t, "wait", h.Name)
		require.Equal(t, kubequeuecli.ExitOK, code, stderr)
		require.Equal(t, "job.batch/"+h.Name+" succeeded\n", stdout)

		stdout, stderr, code = e.kubequeueCmd(t, "status", h.Name)
		require.Equal(t, kubequeuecli.ExitOK, code, stderr)
		require.Regexp(t, `(?m)^Items: +2: 2 succeeded, 0 failed, 0 running, 0 pending$`, stdout)

		stdout, stderr, code = e.kubequeueCmd(t, "logs", "--index", "1", h.Name)
		require.Equal(t, kubequeuecli.ExitOK, code, stderr)
		require.Contains(t, stdout, "hello, b\n")
		require.NotContains(t, stdout, "hello, a")
		stdout, stderr, code = e.kubequeueCmd(t, "logs", "--all-attempts", h.Name)
		require.Equal(t, kubequeuecli.ExitOK, code, stderr)
		require.Contains(t, stdout, "[item 0 attempt 1] hello, a\n")
		require.Contains(t, stdout, "[item 1 attempt 1] hello, b\n")

		_, stderr, code = e.kubequeueCmd(t, "retry", h.Name)
		require.Equal(t, kubequeuecli.ExitError, code)
		require.Contains(t, stderr, "it is a batch")
	})

	t.Run("LogsFollowAcrossRetry", func(t *testing.T) {
		t.Parallel()
		e := setup(t)
		h, err := e.queue.Enqueue(e.ctx, flakyWorker, marker{File: filepath.Join(t.TempDir(), "marker")}, kubequeue.WithBackoffLimit(2))
		require.NoError(t, err)

		stdout, stderr, code := e.kubequeueCmd(t, "logs", "-f", h.Name)
		require.Equal(t, kubequeuecli.ExitOK, code, stderr)
		require.Contains(t, stdout, "[attempt 1] attempt 1\n")
		require.Contains(t, stdout, "[attempt 2] attempt 2\n")
		require.Less(t, strings.Index(stdout, "[attempt 1]"), strings.Index(stdout, "[attempt 2]"))

		stdout, _, code = e.kubequeueCmd(t, "logs", h.Name)
		require.Equal(t, kubequeuecli.ExitOK, code)
		require.Contains(t, stdout, "attempt 2\n", "the last attempt by default")
		require.NotContains(t, stdout, "attempt 1")
		stdout, _, code = e.kubequeueCmd(t, "logs", "--attempt", "1", h.Name)
		require.Equal(t, kubequeuecli.ExitOK, code)
		require.Contains(t, stdout, "attempt 1\n")
		require.NotContains(t, stdout, "attempt 2")

		st, err := e.queue.Status(e.ctx, h)
		require.NoError(t, err)
		require.Equal(t, kubequeue.StateSucceeded, st.State, "following ends when the Job finishes")
		require.Equal(t, batchv1.JobComplete, mustCondition(t, e, h))
	})
}

// mustCondition returns the type of the final condition of h's Job.
func mustCondition(t *testing.T, e *env, h kubequeue.Handle) batchv1.JobConditionType {
	t.Helper()
	job, err := e.queue.Get(e.ctx, h)
	require.NoError(t, err)
	for _, c := range job.Status.Conditions {
		if c.Type == batchv1.JobComplete || c.Type == batchv1.JobFailed {
			return c.Type
		}
	}
	return ""
}
