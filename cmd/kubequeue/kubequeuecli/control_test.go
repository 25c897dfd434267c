package kubequeuecli_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubequeue/kubequeue"
	"github.com/kubequeue/kubequeue/cmd/kubequeue/kubequeuecli"
)

func TestControl(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	t.Run("Suspend", func(t *testing.T) {
		t.Parallel()
		client := fixtureClient(t)
		stdout, stderr, code := run(t, client, "suspend", "send-email-running", "job/resize-image-batch")
		require.Equal(t, kubequeuecli.ExitOK, code, stderr)
		require.Equal(t, "job.batch/send-email-running suspended\njob.batch/resize-image-batch suspended\n", stdout)
		for _, name := range []string{"send-email-running", "resize-image-batch"} {
			got, err := client.BatchV1().Jobs("default").Get(ctx, name, metav1.GetOptions{})
			require.NoError(t, err)
			require.True(t, *got.Spec.Suspend)
		}

		stdout, stderr, code = run(t, client, "resume", "send-email-running")
		require.Equal(t, kubequeuecli.ExitOK, code, stderr)
		require.Equal(t, "job.batch/send-email-running resumed\n", stdout)
		got, err := client.BatchV1().Jobs("default").Get(ctx, "send-email-running", metav1.GetOptions{})
		require.NoError(t, err)
		require.False(t, *got.Spec.Suspend)
	})

	t.Run("SuspendMissing", func(t *testing.T) {
		t.Parallel()
		client := fixtureClient(t)
		stdout, stderr, code := run(t, client, "suspend", "nope", "send-email-running")
		require.Equal(t, kubequeuecli.ExitError, code)
		require.Equal(t, "job.batch/send-email-running suspended\n", stdout, "the Jobs after a missing one are still suspended")
		require.Contains(t, stderr, "job not found")
	})

	t.Run("Cancel", func(t *testing.T) {
		t.Parallel()
		client := fixtureClient(t)
		stdout, stderr, code := run(t, client, "cancel", "-n", "team-b", "resize-image-other")
		require.Equal(t, kubequeuecli.ExitOK, code, stderr)
		require.Equal(t, "job.batch/resize-image-other cancelled\n", stdout)
		_, err := client.BatchV1().Jobs("team-b").Get(ctx, "resize-image-other", metav1.GetOptions{})
		require.True(t, apierrors.IsNotFound(err), "%v", err)
	})

	t.Run("Retry", func(t *testing.T) {
		t.Parallel()
		client := fixtureClient(t)
		stdout, stderr, code := run(t, client, "retry", "resize-image-failed", "-o", "name")
		require.Equal(t, kubequeuecli.ExitOK, code, stderr)
		require.Regexp(t, `^job.batch/resize-image-[a-z0-9]{10}\n$`, stdout)
		jobs, err := client.BatchV1().Jobs("default").List(ctx, metav1.ListOptions{})
		require.NoError(t, err)
		var retries []batchv1.Job
		for _, j := range jobs.Items {
			if j.Annotations[kubequeue.AnnotationRetryOf] == "resize-image-failed" {
				retries = append(retries, j)
			}
		}
		require.Len(t, retries, 1)
		require.Equal(t, "job.batch/"+retries[0].Name+"\n", stdout)
	})

	t.Run("RetryRunning", func(t *testing.T) {
		t.Parallel()
		client := fixtureClient(t)
		_, stderr, code := run(t, client, "retry", "send-email-running")
		require.Equal(t, kubequeuecli.ExitError, code)
		require.Contains(t, stderr, "has not finished")

		stdout, stderr, code := run(t, client, "retry", "--unfinished", "send-email-running")
		require.Equal(t, kubequeuecli.ExitOK, code, stderr)
		require.Regexp(t, `^job.batch/send-email-[a-z0-9]{10} created \(retry of send-email-running\)\n$`, stdout)
	})

	t.Run("NoArgs", func(t *testing.T) {
		t.Parallel()
		for _, verb := range []string{"cancel", "suspend", "resume", "retry", "wait"} {
			_, stderr, code := run(t, fixtureClient(t), verb)
			require.Equal(t, kubequeuecli.ExitError, code)
			require.Contains(t, stderr, verb+" needs at least one Job name")
		}
	})
}
