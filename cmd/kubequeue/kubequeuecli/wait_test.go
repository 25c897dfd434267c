package kubequeuecli_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kubequeue/kubequeue/cmd/kubequeue/kubequeuecli"
)

func TestWait(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{
			name: "Succeeded", args: []string{"wait", "resize-image-done"}, code: kubequeuecli.ExitOK,
			stdout: "job.batch/resize-image-done succeeded\n",
		},
		{
			name: "Failed", args: []string{"wait", "resize-image-done", "resize-image-failed"}, code: kubequeuecli.ExitFailed,
			stdout: "job.batch/resize-image-done succeeded\njob.batch/resize-image-failed failed: kubequeue: job default/resize-image-failed failed: BackoffLimitExceeded (set by kubequeuetest.SetFailed): last attempt exited with code 1: resize img-2: decode: unexpected EOF\n",
			stderr: "error: 1 of 2 Jobs failed\n",
		},
		{
			name: "Timeout", args: []string{"wait", "--timeout", "2s", "send-email-running", "resize-image-failed"}, code: kubequeuecli.ExitTimeout,
			stdout: "job.batch/resize-image-failed failed: kubequeue: job default/resize-image-failed failed: BackoffLimitExceeded (set by kubequeuetest.SetFailed): last attempt exited with code 1: resize img-2: decode: unexpected EOF\njob.batch/send-email-running running: timed out after 2s\n",
			stderr: "error: 1 of 2 Jobs did not finish within 2s\n1 of 2 Jobs failed\n",
		},
		{
			name: "NotFound", args: []string{"wait", "nope"}, code: kubequeuecli.ExitError,
			stderr: "error: kubequeue: job not found",
		},
		{
			name: "NegativeTimeout", args: []string{"wait", "--timeout", "-1s", "x"}, code: kubequeuecli.ExitError,
			stderr: "error: --timeout -1s: must not be negative\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			stdout, stderr, code := run(t, fixtureClient(t), tt.args...)
			require.Equal(t, tt.code, code, stderr)
			require.Equal(t, tt.stdout, stdout)
			if tt.code == kubequeuecli.ExitError {
				require.Contains(t, stderr, tt.stderr)
			} else {
				require.Equal(t, tt.stderr, stderr)
			}
		})
	}
}
