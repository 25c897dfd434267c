package kubequeuecli_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/kubequeue/kubequeue"
	"github.com/kubequeue/kubequeue/cmd/kubequeue/kubequeuecli"
	"github.com/kubequeue/kubequeue/kubequeuetest"
)

// retriedJob returns a clientset with the Job "flaky" whose first attempt
// failed and whose second succeeded, each with a log of two lines.
func retriedJob(t *testing.T) *fake.Clientset {
	t.Helper()
	ctx := context.Background()
	queue, client, err := kubequeuetest.NewQueue()
	require.NoError(t, err)
	h, err := queue.Enqueue(ctx, Resize, ResizeArgs{ImageID: "img-3"}, kubequeue.WithJobName("flaky"))
	require.NoError(t, err)
	require.NoError(t, kubequeuetest.SetFailed(ctx, client, h, "", kubequeue.ExitRetryable, "flaky", kubequeuetest.WithLog("starting img-3\nfailed: timeout\n")))
	// The Job goes on: its next attempt succeeds.
	job, err := client.BatchV1().Jobs(h.Namespace).Get(ctx, h.Name, metav1.GetOptions{})
	require.NoError(t, err)
	job.Status.Conditions = nil
	require.NoError(t, client.Tracker().Update(batchv1.SchemeGroupVersion.WithResource("jobs"), job, job.Namespace))
	require.NoError(t, kubequeuetest.SetSucceeded(ctx, client, h, nil, kubequeuetest.WithLog("starting img-3\ndone\n")))
	return client
}

func TestLogs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		args []string
		want string
	}{
		{name: "LastAttempt", args: []string{"logs", "flaky"}, want: "starting img-3\ndone\n"},
		{name: "Attempt", args: []string{"logs", "flaky", "--attempt", "1"}, want: "starting img-3\nfailed: timeout\n"},
		{name: "AllAttempts", args: []string{"logs", "flaky", "--all-attempts"},
			want: "[attempt 1] starting img-3\n[attempt 1] failed: timeout\n[attempt 2] starting img-3\n[attempt 2] done\n"},
		{name: "Follow", args: []string{"logs", "-f", "job/flaky"},
			want: "[attempt 1] starting img-3\n[attempt 1] failed: timeout\n[attempt 2] starting img-3\n[attempt 2] done\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			stdout, stderr, code := run(t, retriedJob(t), tt.args...)
			require.Equal(t, kubequeuecli.ExitOK, code, stderr)
			require.Equal(t, tt.want, stdout)
		})
	}
}

func TestLogs_Errors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, message string
		args          []string
	}{
		{name: "Both", args: []string{"logs", "flaky", "--attempt", "1", "--all-attempts"}, message: "--attempt and --all-attempts exclude each other"},
		{name: "NegativeAttempt", args: []string{"logs", "flaky", "--attempt", "-1"}, message: "attempts count from 1"},
		{name: "IndexOfSingleJob", args: []string{"logs", "flaky", "--index", "0"}, message: "not a batch"},
		{name: "NotFound", args: []string{"logs", "nope"}, message: "job not found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			requireFails(t, retriedJob(t), tt.message, tt.args...)
		})
	}
}
