package kubequeuecli_test

import (
	"testing"
)

func TestStatus(t *testing.T) {
	t.Parallel()
	runGolden(t, []goldenCase{
		{name: "status-succeeded", args: []string{"status", "resize-image-done"}},
		{name: "status-failed", args: []string{"status", "job.batch/resize-image-failed"}},
		{name: "status-waiting", args: []string{"status", "send-email-later"}},
		{name: "status-batch", args: []string{"status", "resize-image-batch"}},
		{name: "status-json", args: []string{"status", "resize-image-failed", "-o", "json"}},
		{name: "status-name", args: []string{"status", "-n", "team-b", "resize-image-other", "-o", "name"}},
	})
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
			requireFails(t, fixtureClient(t), tt.message, tt.args...)
		})
	}
}
