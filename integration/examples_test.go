package integration

import (
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/kubequeue/kubequeue"
	"github.com/kubequeue/kubequeue/internal/wire"
)

// printMessageImage is the image printmessage's Jobs name in these tests;
// the local kubelet runs the printmessage binary for it.
const printMessageImage = "registry.example.com/kubequeue/printmessage:test"

// TestExamples runs each example program as a user would: its -dry-run Job
// passes a server-side dry run, and the Job it enqueues runs, its pod
// executing the example's own code, to Complete.
func TestExamples(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, worker string
		args         []string
		// needs checks what the example needs on this machine.
		needs func(t *testing.T)
		check func(t *testing.T, job *batchv1.Job)
		// ran checks the finished Job and its pod's log.
		ran func(t *testing.T, job *batchv1.Job, log string)
	}{
		{
			name:   "printmessage",
			worker: "print-message",
			args:   []string{"-message", `it's "quoted", costs $5 and ends in \`},
			check: func(t *testing.T, job *batchv1.Job) {
				type message struct {
					Message string `json:"message"`
				}
				env, ok := wire.JobEnv(job)
				require.True(t, ok)
				got, err := wire.Decode[message](env[wire.EnvPayload])
				require.NoError(t, err)
				require.Equal(t, `it's "quoted", costs $5 and ends in \`, got.Message)
			},
			ran: func(t *testing.T, job *batchv1.Job, log string) {
				require.NotNil(t, condition(job, batchv1.JobComplete), "conditions: %+v", job.Status.Conditions)
				require.Equal(t, `it's "quoted", costs $5 and ends in \`+"\n", output(log))
			},
		},
		{
			name:   "computepi",
			worker: "compute-pi",
			needs: func(t *testing.T) {
				out, err := exec.Command("perl", "-Mbignum=bpi", "-wle", "print bpi(10)").CombinedOutput()
				require.NoError(t, err, "computepi's pod runs the local perl, with its bignum module (Debian: apt-get install perl; .ci/run installs it): %s", out)
			},
			check: func(t *testing.T, job *batchv1.Job) {
				c := job.Spec.Template.Spec.Containers[0]
				require.Equal(t, "pi", c.Name)
				require.Equal(t, []string{"perl", "-Mbignum=bpi", "-wle", "print bpi(1000)"}, c.Command)
				require.Equal(t, "300m", c.Resources.Limits.Cpu().String())
			},
			ran: func(t *testing.T, job *batchv1.Job, log string) {
				// The pod runs the local perl: it does what perl does here.
				want, err := exec.Command("perl", "-Mbignum=bpi", "-wle", "print bpi(1000)").CombinedOutput()
				require.NoError(t, err, "%s", want)
				require.NotNil(t, condition(job, batchv1.JobComplete), "conditions: %+v", job.Status.Conditions)
				require.True(t, strings.HasPrefix(log, "3.14159265358979323846"), "log: %.60s", log)
				require.Equal(t, string(want), log)
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := setup(t)
			if tt.needs != nil {
				tt.needs(t)
			}
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
			// The Job finishes, or its first pod fails: that is reported
			// at once (a retry would fail the same way, after the Job
			// controller's back-off).
			var pod corev1.Pod
			stored := waitJob(t, e, h.Name, time.Minute, func(job *batchv1.Job) bool {
				if finished(job) {
					return true
				}
				for _, p := range jobPods(t, e, h.Name) {
					if p.Status.Phase == corev1.PodFailed {
						pod = p
						return true
					}
				}
				return false
			})
			require.Equal(t, h.UID, stored.UID)
			if pod.Name != "" {
				require.FailNow(t, "the Job's pod failed", "pod %s: %+v\nlog:\n%s", pod.Name, pod.Status.ContainerStatuses, podLogs(t, e, pod.Name, nil))
			}
			tt.check(t, stored)
			pods := jobPods(t, e, h.Name)
			require.Len(t, pods, 1)
			tt.ran(t, stored, podLogs(t, e, pods[0].Name, nil))
		})
	}
}

// runExample runs an example binary and returns its standard output.
func runExample(t *testing.T, bin string, args ...string) []byte {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), bin, args...)
	// Only -kubeconfig counts.
	cmd.Env = append(os.Environ(), "KUBECONFIG=/nonexistent", "PRINTMESSAGE_IMAGE="+printMessageImage)
	var stderr []byte
	out, err := cmd.Output()
	if ee, ok := err.(*exec.ExitError); ok {
		stderr = ee.Stderr
	}
	require.NoError(t, err, "%s %q: %s", bin, args, stderr)
	return out
}
