package kubequeuecli_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/kubequeue/kubequeue/cmd/kubequeue/kubequeuecli"
	"github.com/kubequeue/kubequeue/kubequeuetest"
)

func TestEnqueue(t *testing.T) {
	t.Parallel()
	client := kubequeuetest.NewClientset()
	stdout, stderr, code := run(t, client, "enqueue", "resize-image", `{"imageID": "img-7", "width": 320}`, "-n", "media")
	require.Equal(t, kubequeuecli.ExitOK, code, stderr)
	require.Regexp(t, `^job.batch/resize-image-[a-z0-9]{10} created\n$`, stdout)
	require.Equal(t, []ResizeArgs{{ImageID: "img-7", Width: 320}}, kubequeuetest.RequireEnqueued(t, client, Resize))
	jobs, err := kubequeuetest.Jobs(t.Context(), client, Resize)
	require.NoError(t, err)
	require.Equal(t, "media", jobs[0].Namespace)
}

func TestEnqueue_Stdin(t *testing.T) {
	t.Parallel()
	client := kubequeuetest.NewClientset()
	var out, errOut bytes.Buffer
	cmd := kubequeuecli.NewCommand(kubequeuecli.WithClientset(client), kubequeuecli.WithWorkers(Resize),
		kubequeuecli.WithIOStreams(genericiooptions.IOStreams{In: strings.NewReader(`{"imageID": "img-8"}`), Out: &out, ErrOut: &errOut}))
	cmd.SetArgs([]string{"enqueue", "resize-image", "-", "-o", "name"})
	require.Equal(t, kubequeuecli.ExitOK, kubequeuecli.Execute(t.Context(), cmd), errOut.String())
	require.Regexp(t, `^job.batch/resize-image-[a-z0-9]{10}\n$`, out.String())
	require.Equal(t, []ResizeArgs{{ImageID: "img-8"}}, kubequeuetest.RequireEnqueued(t, client, Resize))
}

func TestEnqueue_Refused(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, message string
		args          []string
	}{
		{name: "UnknownField", args: []string{"enqueue", "resize-image", `{"imageID": "x", "colour": "red"}`}, message: "a field that the type does not have"},
		{name: "WrongType", args: []string{"enqueue", "resize-image", `{"imageID": 7}`}, message: "cannot decode payload"},
		{name: "NotJSON", args: []string{"render", "resize-image", `imageID=7`}, message: "cannot decode payload"},
		{name: "UnknownWorker", args: []string{"enqueue", "resize", `{}`}, message: `unknown worker: "resize": this program's workers are resize-image, send-email`},
		{name: "OneArg", args: []string{"render", "resize-image"}, message: "takes WORKER and JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			client := fake.NewClientset()
			requireFails(t, client, tt.message, tt.args...)
			require.Empty(t, client.Actions(), "refused before any API call")
		})
	}
}

func TestRender(t *testing.T) {
	t.Parallel()
	client := fake.NewClientset()
	stdout, stderr, code := run(t, client, "render", "resize-image", `{"imageID": "img-7"}`, "-n", "media")
	require.Equal(t, kubequeuecli.ExitOK, code, stderr)
	require.Empty(t, client.Actions(), "render makes no API call")
	require.Contains(t, stdout, "kind: Job\n")
	require.Contains(t, stdout, "  namespace: media\n")
	require.Contains(t, stdout, `value: '{"imageID":"img-7"}'`)

	stdout, _, code = run(t, client, "render", "resize-image", `{"imageID": "img-7"}`, "-o", "json")
	require.Equal(t, kubequeuecli.ExitOK, code)
	require.Contains(t, stdout, `"kind": "Job"`)
}

func TestRender_NoCluster(t *testing.T) {
	t.Parallel()
	var out, errOut bytes.Buffer
	cmd := kubequeuecli.NewCommand(kubequeuecli.WithWorkers(Resize),
		kubequeuecli.WithIOStreams(genericiooptions.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut}))
	cmd.SetArgs([]string{"render", "resize-image", `{"imageID": "img-7"}`, "--kubeconfig", "/nonexistent", "-n", "offline"})
	require.Equal(t, kubequeuecli.ExitOK, kubequeuecli.Execute(t.Context(), cmd), errOut.String())
	require.Contains(t, out.String(), "  namespace: offline\n")
}

func TestNewCommand_WithoutWorkers(t *testing.T) {
	t.Parallel()
	cmd := kubequeuecli.NewCommand()
	for _, sub := range cmd.Commands() {
		require.NotContains(t, []string{"enqueue", "render"}, sub.Name())
	}
}
