package kubequeuecli_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kubequeue/kubequeue/cmd/kubequeue/kubequeuecli"
)

func TestList(t *testing.T) {
	t.Parallel()
	runGolden(t, []goldenCase{
		{name: "list", args: []string{"list"}},
		{name: "list-all-namespaces", args: []string{"list", "-A"}},
		{name: "list-wide", args: []string{"list", "-o", "wide"}},
		{name: "list-worker-state", args: []string{"list", "--worker", "resize-image", "--state", "failed,succeeded"}},
		{name: "list-name", args: []string{"list", "-A", "-o", "name"}},
		{name: "list-selector", args: []string{"list", "-n", "team-b", "-l", "kubequeue.io/worker=resize-image", "-o", "json"}},
		{name: "list-yaml", args: []string{"list", "--state", "running", "-o", "yaml"}},
	})
}

func TestList_Errors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, message string
		args          []string
	}{
		{name: "BadState", args: []string{"list", "--state", "done"}, message: `--state "done": must be one of`},
		// List reads no Workload: a preempted Job lists as queued.
		{name: "Preempted", args: []string{"list", "--state", "preempted"}, message: `--state "preempted": must be one of`},
		{name: "BadSelector", args: []string{"list", "-l", "a=(b"}, message: "--selector"},
		{name: "BadOutput", args: []string{"list", "-o", "xml"}, message: `unknown output format "xml"`},
		{name: "Args", args: []string{"list", "x"}, message: "unknown command"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			client := fixtureClient(t)
			client.ClearActions()
			requireFails(t, client, tt.message, tt.args...)
			require.Empty(t, client.Actions(), "refused before any API call")
		})
	}
}

func TestList_Empty(t *testing.T) {
	t.Parallel()
	stdout, stderr, code := run(t, fixtureClient(t), "list", "-n", "empty")
	require.Equal(t, kubequeuecli.ExitOK, code)
	require.Empty(t, stdout)
	require.Equal(t, "No kubequeue Jobs found.\n", stderr)
}
