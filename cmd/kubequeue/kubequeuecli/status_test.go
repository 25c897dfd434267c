package kubequeuecli_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kubequeue/kubequeue/cmd/kubequeue/kubequeuecli"
)

func TestStatus(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		args []string
	}{
		{name: "status-succeeded", args: []string{"status", "resize-image-done"}},
		{name: "status-failed", args: []string{"status", "job.batch/resize-image-failed"}},
		{name: "status-waiting", args: []string{"status", "send-email-later"}},
		{name: "status-batch", args: []string{"status", "resize-image-batch"}},
		{name: "status-json", args: []string{"status", "resize-image-failed", "-o", "json"}},
		{name: "status-name", args: []string{"status", "-n", "team-b", "resize-image-other", "-o", "name"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			stdout, stderr, code := run(t, fixtureClient(t), tt.args...)
			require.Equal(t, kubequeuecli.ExitOK, code, stderr)
			require.Empty(t, stderr)
			golden(t, tt.name, stdout)
		})
	}
}

func TestStatus_Errors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, message string
		args          []string
	}{
		{name: "NotFound", args: []string{"status", "nope"}, message: "job not found"},
		{name: "NoJob", args: []string{"status"}, message: "status takes one Job name, not 0"},
		{name: "TwoJobs", args: []string{"status", "a", "b"}, message: "not 2"},
		{name: "OtherKind", args: []string{"status", "pod/x"}, message: `"pod/x": a Job is named NAME or job/NAME`},
		{name: "BadOutput", args: []string{"status", "x", "-o", "wide"}, message: "unknown output format"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			stdout, stderr, code := run(t, fixtureClient(t), tt.args...)
			require.Equal(t, kubequeuecli.ExitError, code)
			require.Empty(t, stdout)
			require.Contains(t, stderr, tt.message)
			require.True(t, len(stderr) > 7 && stderr[:7] == "error: ", stderr)
		})
	}
}
