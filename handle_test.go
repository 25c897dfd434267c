package kubequeue_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"

	"github.com/kubequeue/kubequeue"
)

func TestHandle_Invalid(t *testing.T) {
	t.Parallel()
	handles := []struct {
		name   string
		handle kubequeue.Handle
		field  string
	}{
		{name: "Zero", handle: kubequeue.Handle{}, field: "Handle.Namespace"},
		{name: "EmptyNamespace", handle: kubequeue.Handle{Name: "greet-1"}, field: "Handle.Namespace"},
		{name: "UpperCaseNamespace", handle: kubequeue.Handle{Namespace: "Jobs", Name: "greet-1"}, field: "Handle.Namespace"},
		{name: "NamespaceWithDot", handle: kubequeue.Handle{Namespace: "a.b", Name: "greet-1"}, field: "Handle.Namespace"},
		{name: "EmptyName", handle: kubequeue.Handle{Namespace: "jobs"}, field: "Handle.Name"},
		{name: "UpperCaseName", handle: kubequeue.Handle{Namespace: "jobs", Name: "Greet-1"}, field: "Handle.Name"},
		{name: "NameWithSlash", handle: kubequeue.Handle{Namespace: "jobs", Name: "greet/1"}, field: "Handle.Name"},
		{name: "NameTooLong", handle: kubequeue.Handle{Namespace: "jobs", Name: strings.Repeat("a", 254)}, field: "Handle.Name"},
		{name: "WorkerWithSpaces", handle: kubequeue.Handle{Namespace: "jobs", Name: "greet-1", Worker: "greet me"}, field: "Handle.Worker"},
		{name: "WorkerTooLong", handle: kubequeue.Handle{Namespace: "jobs", Name: "greet-1", Worker: strings.Repeat("a", 64)}, field: "Handle.Worker"},
	}
	calls := []struct {
		name string
		call func(context.Context, *kubequeue.Queue, kubequeue.Handle) error
	}{
		{"Get", func(ctx context.Context, q *kubequeue.Queue, h kubequeue.Handle) error {
			job, err := q.Get(ctx, h)
			if job != nil {
				return errors.New("a Job for an invalid handle")
			}
			return err
		}},
		{"Status", func(ctx context.Context, q *kubequeue.Queue, h kubequeue.Handle) error {
			st, err := q.Status(ctx, h)
			if st.Handle != h {
				return errors.New("Status must return the handle it was given")
			}
			return err
		}},
		{"Cancel", func(ctx context.Context, q *kubequeue.Queue, h kubequeue.Handle) error { return q.Cancel(ctx, h) }},
		{"Suspend", func(ctx context.Context, q *kubequeue.Queue, h kubequeue.Handle) error { return q.Suspend(ctx, h) }},
		{"Resume", func(ctx context.Context, q *kubequeue.Queue, h kubequeue.Handle) error { return q.Resume(ctx, h) }},
	}
	for _, c := range calls {
		for _, tt := range handles {
			t.Run(c.name+"/"+tt.name, func(t *testing.T) {
				t.Parallel()
				client, queue := setup(t)
				err := c.call(t.Context(), queue, tt.handle)
				require.ErrorIs(t, err, kubequeue.ErrInvalidHandle)
				require.ErrorContains(t, err, tt.field)
				requireNoAPICall(t, client)

				// A queue without a client reports the handle first too.
				err = c.call(t.Context(), buildQueue(t), tt.handle)
				require.ErrorIs(t, err, kubequeue.ErrInvalidHandle)
			})
		}
	}
}

func TestHandleFor(t *testing.T) {
	t.Parallel()
	job := testJob(t, batchv1.JobStatus{})
	require.Equal(t, kubequeue.Handle{Namespace: "ns", Name: "greet-abc", UID: testUID, Worker: "greet"}, kubequeue.HandleFor(job))
	require.Zero(t, kubequeue.HandleFor(nil))

	data, err := json.Marshal(kubequeue.HandleFor(job))
	require.NoError(t, err)
	require.JSONEq(t, `{"namespace":"ns","name":"greet-abc","uid":"`+string(testUID)+`","worker":"greet"}`, string(data))
}
