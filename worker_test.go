package kubequeue_test

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"

	"github.com/kubequeue/kubequeue"
)

// TestNewWorker_OptionsCopied: what was passed to NewWorker cannot change
// the worker afterwards, neither by the options slice nor by the maps and
// slices given to options, even to values NewWorker would refuse: Build
// neither takes them nor checks them again (see also
// TestNewWorker_ChecksOnce).
func TestNewWorker_OptionsCopied(t *testing.T) {
	t.Parallel()
	selector := map[string]string{"disk": "ssd"}
	env := []corev1.EnvVar{{Name: "MODE", Value: "batch"}}
	opts := []kubequeue.WorkerOption{
		kubequeue.WithImage("registry.example.com/app:v1"),
		kubequeue.WithNodeSelector(selector),
		kubequeue.WithEnvVars(env...),
	}
	w := kubequeue.NewWorker("greet", greet, opts...)
	require.NoError(t, w.Validate())
	opts[0] = kubequeue.WithImage("Not An Image")
	selector["disk"] = "not a label value!"
	env[0].Name = "KUBEQUEUE_PAYLOAD"

	job, err := buildQueue(t).Build(w, greeting{})
	require.NoError(t, err)
	pod := job.Spec.Template.Spec
	require.Equal(t, "registry.example.com/app:v1", pod.Containers[0].Image)
	require.Equal(t, map[string]string{"disk": "ssd"}, pod.NodeSelector)
	require.Contains(t, pod.Containers[0].Env, corev1.EnvVar{Name: "MODE", Value: "batch"})
}

// TestNewWorker_ChecksOnce: a worker's options are checked once, in
// NewWorker; Build, Enqueue and the runtime report what NewWorker found
// and never check again.
func TestNewWorker_ChecksOnce(t *testing.T) {
	t.Parallel()
	perform := func(context.Context, struct{}) error { return nil }
	queue := buildQueue(t)

	bad := kubequeue.NewWorker("greet", perform, kubequeue.WithImage("Not An Image"))
	require.ErrorIs(t, bad.Validate(), kubequeue.ErrInvalidWorker)
	kubequeue.SetWorkerErr(bad, nil) // as if NewWorker had found nothing wrong
	_, err := queue.Build(bad, struct{}{})
	require.NoError(t, err, "Build checked the options again")
	_, err = queue.Enqueue(t.Context(), bad, struct{}{})
	require.NoError(t, err, "Enqueue checked the options again")

	good := kubequeue.NewWorker("greet", perform, kubequeue.WithImage("registry.example.com/app:v1"))
	stored := errors.New("what NewWorker found")
	kubequeue.SetWorkerErr(good, stored)
	_, err = queue.Build(good, struct{}{})
	require.ErrorIs(t, err, stored)
	require.ErrorIs(t, good.Validate(), stored)
}

func TestWorker_DecodePayload(t *testing.T) {
	t.Parallel()
	w := resizeWorker(t)
	tests := []struct {
		name    string
		data    string
		want    any
		message string
	}{
		{name: "Valid", data: `{"id": 7, "note": "hi"}`, want: resizeArgs{ID: 7, Note: "hi"}},
		{name: "UnknownField", data: `{"id": 7, "colour": "red"}`, message: "a field that the type does not have"},
		{name: "WrongType", data: `{"id": "seven"}`, message: "id"},
		{name: "Trailing", data: `{"id": 7} {}`},
		{name: "NotJSON", data: `id=7`},
		{name: "Empty", data: ``},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := w.DecodePayload([]byte(tt.data))
			if tt.want != nil {
				require.NoError(t, err)
				require.Equal(t, tt.want, got)
				_, err = buildQueue(t).Build(w, got)
				require.NoError(t, err, "the decoded payload is the worker's type")
				return
			}
			require.ErrorIs(t, err, kubequeue.ErrPayloadDecode)
			require.ErrorContains(t, err, tt.message)
			require.NotContains(t, err.Error(), "seven", "no payload value quoted")
			require.Nil(t, got)
		})
	}
}
