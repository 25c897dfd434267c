package integration

import (
	"encoding/json"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/kubequeue/kubequeue"
	"github.com/kubequeue/kubequeue/internal/payload"
)

// TestExamples runs each example program as a user would: its -dry-run Job
// passes a server-side dry run, and the Job it enqueues runs to Complete.
func TestExamples(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, worker string
		args         []string
		check        func(t *testing.T, job *batchv1.Job)
	}{
		{
			name:   "printmessage",
			worker: "print-message",
			args:   []string{"-message", `it's "quoted", costs $5 and ends in \`},
			check: func(t *testing.T, job *batchv1.Job) {
				type message struct {
					Message string `json:"message"`
				}
				env, ok := payload.JobEnv(job)
				require.True(t, ok)
				got, err := payload.Decode[message](env[payload.EnvPayload])
				require.NoError(t, err)
				require.Equal(t, `it's "quoted", costs $5 and ends in \`, got.Message)
			},
		},
		{
			name:   "computepi",
			worker: "compute-pi",
			check: func(t *testing.T, job *batchv1.Job) {
				c := job.Spec.Template.Spec.Containers[0]
				require.Equal(t, "pi", c.Name)
				require.Equal(t, []string{"perl", "-Mbignum=bpi", "-wle", "print bpi(2000)"}, c.Command)
				require.Equal(t, "300m", c.Resources.Limits.Cpu().String())
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := setup(t)
			bin := exampleBinary(t, tt.name)

			// -dry-run prints the Job; the server accepts it as it is.
			out := runExample(t, bin, append([]string{"-dry-run", "-namespace", e.ns}, tt.args...)...)
			var job batchv1.Job
			require.NoError(t, yaml.UnmarshalStrict(out, &job))
			got, err := client.BatchV1().Jobs(e.ns).Create(e.ctx, &job, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
			require.NoError(t, err)
			requireServerDefaults(t, got)
			tt.check(t, got)

			// Enqueued for real through the kubeconfig, it completes.
			out = runExample(t, bin, append([]string{"-kubeconfig", cluster.Kubeconfig(), "-namespace", e.ns, "-json"}, tt.args...)...)
			var h kubequeue.Handle
			require.NoError(t, json.Unmarshal(out, &h), "output: %s", out)
			require.Equal(t, e.ns, h.Namespace)
			require.Equal(t, tt.worker, h.Worker)
			stored := waitJob(t, e, h.Name, time.Minute, finished)
			require.NotNil(t, condition(stored, batchv1.JobComplete), "conditions: %+v", stored.Status.Conditions)
			require.Equal(t, h.UID, stored.UID)
			tt.check(t, stored)
		})
	}
}

// runExample runs an example binary and returns its standard output.
func runExample(t *testing.T, bin string, args ...string) []byte {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), bin, args...)
	cmd.Env = append(os.Environ(), "KUBECONFIG=/nonexistent") // only -kubeconfig counts
	var stderr []byte
	out, err := cmd.Output()
	if ee, ok := err.(*exec.ExitError); ok {
		stderr = ee.Stderr
	}
	require.NoError(t, err, "%s %q: %s", bin, args, stderr)
	return out
}
