package kubequeue_test

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/utils/ptr"

	"github.com/kubequeue/kubequeue"
)

var clJobsResource = schema.GroupResource{Group: "batch", Resource: "jobs"}

// clFails makes client's calls of verb on jobs fail with err.
func clFails(client *fake.Clientset, verb string, err error) {
	client.PrependReactor(verb, "jobs", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, err
	})
}

// clVerbs returns the verb of each action client saw.
func clVerbs(client *fake.Clientset) []string {
	var verbs []string
	for _, a := range client.Actions() {
		verbs = append(verbs, a.GetVerb())
	}
	return verbs
}

func TestQueue_Get(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		stored  *batchv1.Job
		handle  kubequeue.Handle
		wantErr error
	}{
		{name: "SameUID", stored: handleJob("uid-1"), handle: testHandle},
		{name: "HandleWithoutUID", stored: handleJob("uid-2"), handle: kubequeue.Handle{Namespace: "jobs", Name: "greet-1"}},
		{name: "OtherUID", stored: handleJob("uid-2"), handle: testHandle, wantErr: kubequeue.ErrJobNotFound},
		{name: "Missing", handle: testHandle, wantErr: kubequeue.ErrJobNotFound},
		{name: "OtherNamespace", stored: handleJob("uid-1"), handle: kubequeue.Handle{Namespace: "other", Name: "greet-1", UID: "uid-1"}, wantErr: kubequeue.ErrJobNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var stored []runtime.Object
			if tt.stored != nil {
				stored = append(stored, tt.stored)
			}
			client, queue := setupWith(t, stored...)
			job, err := queue.Get(t.Context(), tt.handle)

			actions := client.Actions()
			require.Len(t, actions, 1)
			get, ok := actions[0].(k8stesting.GetActionImpl)
			require.True(t, ok, "got %T", actions[0])
			require.Equal(t, tt.handle.Namespace, get.GetNamespace())
			require.Equal(t, tt.handle.Name, get.GetName())
			require.Equal(t, "jobs", get.GetResource().Resource)

			if tt.wantErr != nil {
				require.ErrorIs(t, err, tt.wantErr)
				require.ErrorContains(t, err, tt.handle.String())
				require.Nil(t, job)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.stored.UID, job.UID)
			require.Equal(t, tt.stored.Name, job.Name)
		})
	}
}

func TestQueue_Get_Errors(t *testing.T) {
	t.Parallel()

	t.Run("MissingStaysNotFound", func(t *testing.T) {
		t.Parallel()
		_, queue := setupWith(t)
		_, err := queue.Get(t.Context(), testHandle)
		require.ErrorIs(t, err, kubequeue.ErrJobNotFound)
		require.True(t, apierrors.IsNotFound(err), "error %v lost its API type", err)
	})

	t.Run("OtherUIDNamesBoth", func(t *testing.T) {
		t.Parallel()
		_, queue := setupWith(t, handleJob("uid-2"))
		_, err := queue.Get(t.Context(), testHandle)
		require.ErrorIs(t, err, kubequeue.ErrJobNotFound)
		require.ErrorContains(t, err, "uid-1")
		require.ErrorContains(t, err, "uid-2")
	})

	apiErrors := []struct {
		name  string
		err   error
		check func(error) bool
	}{
		{"Forbidden", apierrors.NewForbidden(clJobsResource, "greet-1", errors.New("rbac says no")), apierrors.IsForbidden},
		{"InternalError", apierrors.NewInternalError(errors.New("etcd")), apierrors.IsInternalError},
		{"Transport", errTransport, func(err error) bool { return errors.Is(err, errTransport) }},
	}
	for _, tt := range apiErrors {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			client, queue := setupWith(t, handleJob("uid-1"))
			clFails(client, "get", tt.err)
			job, err := queue.Get(t.Context(), testHandle)
			require.ErrorIs(t, err, tt.err)
			require.True(t, tt.check(err), "error %v lost its API type", err)
			require.NotErrorIs(t, err, kubequeue.ErrJobNotFound)
			require.ErrorContains(t, err, "kubequeue: get job jobs/greet-1")
			require.Nil(t, job)
		})
	}
}

func TestQueue_Cancel(t *testing.T) {
	t.Parallel()
	foreground, background, orphan := metav1.DeletePropagationForeground, metav1.DeletePropagationBackground, metav1.DeletePropagationOrphan
	tests := []struct {
		name            string
		handle          kubequeue.Handle
		opts            []kubequeue.CancelOption
		wantPropagation metav1.DeletionPropagation
	}{
		{name: "Default", handle: testHandle, wantPropagation: foreground},
		{name: "HandleWithoutUID", handle: kubequeue.Handle{Namespace: "jobs", Name: "greet-1"}, wantPropagation: foreground},
		{name: "Background", handle: testHandle, opts: []kubequeue.CancelOption{kubequeue.WithPropagation(background)}, wantPropagation: background},
		{name: "Orphan", handle: testHandle, opts: []kubequeue.CancelOption{kubequeue.WithPropagation(orphan)}, wantPropagation: orphan},
		{name: "Foreground", handle: testHandle, opts: []kubequeue.CancelOption{kubequeue.WithPropagation(foreground)}, wantPropagation: foreground},
		{name: "RepeatedReplaces", handle: testHandle, opts: []kubequeue.CancelOption{kubequeue.WithPropagation(orphan), kubequeue.WithPropagation(background)}, wantPropagation: background},
		{name: "NilOption", handle: testHandle, opts: []kubequeue.CancelOption{nil}, wantPropagation: foreground},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			client, queue := setupWith(t, handleJob("uid-1"))
			require.NoError(t, queue.Cancel(t.Context(), tt.handle, tt.opts...))

			actions := client.Actions()
			require.Len(t, actions, 1)
			del, ok := actions[0].(k8stesting.DeleteActionImpl)
			require.True(t, ok, "got %T", actions[0])
			require.Equal(t, "jobs", del.GetResource().Resource)
			require.Equal(t, "jobs", del.GetNamespace())
			require.Equal(t, "greet-1", del.GetName())
			require.Equal(t, &tt.wantPropagation, del.DeleteOptions.PropagationPolicy)
			if tt.handle.UID == "" {
				require.Nil(t, del.DeleteOptions.Preconditions, "a handle without a UID deletes the Job of its name")
			} else {
				require.NotNil(t, del.DeleteOptions.Preconditions)
				require.Equal(t, ptr.To(tt.handle.UID), del.DeleteOptions.Preconditions.UID)
			}
			require.Empty(t, listJobs(t, client))
		})
	}
}

func TestQueue_Cancel_InvalidPropagation(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		policy metav1.DeletionPropagation
	}{
		{name: "Unknown", policy: "Sometimes"},
		{name: "LowerCase", policy: "foreground"},
		{name: "Empty", policy: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			client, queue := setupWith(t, handleJob("uid-1"))
			err := queue.Cancel(t.Context(), testHandle, kubequeue.WithPropagation(tt.policy))
			require.ErrorIs(t, err, kubequeue.ErrInvalidOption)
			require.ErrorContains(t, err, "WithPropagation")
			requireNoAPICall(t, client)
			require.Len(t, listJobs(t, client), 1)
		})
	}
}

func TestQueue_Cancel_Idempotent(t *testing.T) {
	t.Parallel()
	client, queue := setupWith(t, handleJob("uid-1"))
	require.NoError(t, queue.Cancel(t.Context(), testHandle))
	require.NoError(t, queue.Cancel(t.Context(), testHandle), "cancelling a Job that is gone is not an error")
	require.NoError(t, queue.Cancel(t.Context(), kubequeue.Handle{Namespace: "jobs", Name: "never-was"}))
	require.Equal(t, []string{"delete", "delete", "delete"}, clVerbs(client))
}

func TestQueue_Cancel_Conflict(t *testing.T) {
	t.Parallel()
	// The API server answers a failed UID precondition with a Conflict.
	conflict := apierrors.NewConflict(clJobsResource, "greet-1", errors.New("Precondition failed: UID in precondition: uid-1, UID in object meta: uid-2"))

	t.Run("AnotherJobTookTheName", func(t *testing.T) {
		t.Parallel()
		client, queue := setupWith(t, handleJob("uid-2"))
		clFails(client, "delete", conflict)
		require.NoError(t, queue.Cancel(t.Context(), testHandle), "the handle's Job is gone")
		require.Equal(t, []string{"delete", "get"}, clVerbs(client))
		jobs := listJobs(t, client)
		require.Len(t, jobs, 1, "the Job that took the name is not deleted")
		require.Equal(t, types.UID("uid-2"), jobs[0].UID)
	})

	t.Run("NameFreedMeanwhile", func(t *testing.T) {
		t.Parallel()
		client, queue := setupWith(t)
		clFails(client, "delete", conflict)
		require.NoError(t, queue.Cancel(t.Context(), testHandle))
	})

	t.Run("SameUID", func(t *testing.T) {
		t.Parallel()
		// A Conflict for another reason, while the handle's Job is there:
		// Cancel did not happen.
		client, queue := setupWith(t, handleJob("uid-1"))
		clFails(client, "delete", conflict)
		err := queue.Cancel(t.Context(), testHandle)
		require.ErrorIs(t, err, conflict)
		require.True(t, apierrors.IsConflict(err), "error %v lost its API type", err)
		require.ErrorContains(t, err, "kubequeue: cancel job jobs/greet-1")
	})

	t.Run("GetFails", func(t *testing.T) {
		t.Parallel()
		client, queue := setupWith(t, handleJob("uid-2"))
		clFails(client, "delete", conflict)
		clFails(client, "get", apierrors.NewForbidden(clJobsResource, "greet-1", errors.New("no get")))
		err := queue.Cancel(t.Context(), testHandle)
		require.True(t, apierrors.IsConflict(err), "the delete's error, got %v", err)
		require.ErrorContains(t, err, "kubequeue: cancel job jobs/greet-1")
	})

	t.Run("HandleWithoutUID", func(t *testing.T) {
		t.Parallel()
		client, queue := setupWith(t, handleJob("uid-2"))
		clFails(client, "delete", conflict)
		err := queue.Cancel(t.Context(), kubequeue.Handle{Namespace: "jobs", Name: "greet-1"})
		require.True(t, apierrors.IsConflict(err), "got %v", err)
		require.Equal(t, []string{"delete"}, clVerbs(client))
	})
}

func TestQueue_Cancel_APIErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		err   error
		check func(error) bool
	}{
		{"Forbidden", apierrors.NewForbidden(clJobsResource, "greet-1", errors.New("rbac says no")), apierrors.IsForbidden},
		{"InternalError", apierrors.NewInternalError(errors.New("etcd")), apierrors.IsInternalError},
		{"Timeout", apierrors.NewServerTimeout(clJobsResource, "delete", 1), apierrors.IsServerTimeout},
		{"Transport", errTransport, func(err error) bool { return errors.Is(err, errTransport) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			client, queue := setupWith(t, handleJob("uid-1"))
			clFails(client, "delete", tt.err)
			err := queue.Cancel(t.Context(), testHandle)
			require.ErrorIs(t, err, tt.err)
			require.True(t, tt.check(err), "error %v lost its API type", err)
			require.ErrorContains(t, err, "kubequeue: cancel job jobs/greet-1")
			require.Equal(t, []string{"delete"}, clVerbs(client), "no retry")
		})
	}
}

// suspendClock is the queue's clock in TestQueue_SuspendResume.
var suspendClock = time.Date(2026, 3, 4, 5, 6, 7, 800_000_000, time.UTC)

// released is the annotations Suspend and Resume write, as JSON members of
// metadata: they take a Job that waits at its gates out of them.
func released(by string) string {
	return `"annotations":{"kubequeue.io/released":"2026-03-04T05:06:07.800Z","kubequeue.io/released-by":"` + by + `"}`
}

func TestQueue_SuspendResume(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		handle    kubequeue.Handle
		suspend   bool
		wantPatch string
	}{
		{name: "Suspend", handle: testHandle, suspend: true, wantPatch: `{"metadata":{"uid":"uid-1",` + released("Queue.Suspend") + `},"spec":{"suspend":true}}`},
		{name: "Resume", handle: testHandle, suspend: false, wantPatch: `{"metadata":{"uid":"uid-1",` + released("Queue.Resume") + `},"spec":{"suspend":false}}`},
		{name: "SuspendWithoutUID", handle: kubequeue.Handle{Namespace: "jobs", Name: "greet-1"}, suspend: true, wantPatch: `{"metadata":{` + released("Queue.Suspend") + `},"spec":{"suspend":true}}`},
		{name: "ResumeWithoutUID", handle: kubequeue.Handle{Namespace: "jobs", Name: "greet-1"}, suspend: false, wantPatch: `{"metadata":{` + released("Queue.Resume") + `},"spec":{"suspend":false}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			job := handleJob("uid-1")
			job.Spec.Suspend = ptr.To(!tt.suspend)
			client, queue := setup(t, kubequeue.WithClock(func() time.Time { return suspendClock }))
			require.NoError(t, client.Tracker().Add(job))
			op := queue.Resume
			if tt.suspend {
				op = queue.Suspend
			}
			require.NoError(t, op(t.Context(), tt.handle))

			actions := client.Actions()
			require.Len(t, actions, 1)
			patch, ok := actions[0].(k8stesting.PatchActionImpl)
			require.True(t, ok, "got %T", actions[0])
			require.Equal(t, "jobs", patch.GetResource().Resource)
			require.Equal(t, "jobs", patch.GetNamespace())
			require.Equal(t, "greet-1", patch.GetName())
			require.Equal(t, types.MergePatchType, patch.GetPatchType())
			require.JSONEq(t, tt.wantPatch, string(patch.GetPatch()))
			require.Equal(t, kubequeue.DefaultFieldManager, patch.PatchOptions.FieldManager)

			jobs := listJobs(t, client)
			require.Len(t, jobs, 1)
			require.Equal(t, ptr.To(tt.suspend), jobs[0].Spec.Suspend)
			require.Equal(t, types.UID("uid-1"), jobs[0].UID)
		})
	}
}

func TestQueue_SuspendResume_FieldManager(t *testing.T) {
	t.Parallel()
	client, queue := setup(t, kubequeue.WithFieldManager("billing"))
	require.NoError(t, client.Tracker().Add(handleJob("uid-1")))
	require.NoError(t, queue.Suspend(t.Context(), testHandle))
	require.NoError(t, queue.Resume(t.Context(), testHandle))
	for _, a := range client.Actions() {
		require.Equal(t, "billing", a.(k8stesting.PatchActionImpl).PatchOptions.FieldManager)
	}
}

func TestQueue_SuspendResume_Errors(t *testing.T) {
	t.Parallel()
	uidInvalid := apierrors.NewInvalid(schema.GroupKind{Group: "batch", Kind: "Job"}, "greet-1", field.ErrorList{
		field.Invalid(field.NewPath("metadata", "uid"), "uid-1", "field is immutable"),
	})
	suspendInvalid := apierrors.NewInvalid(schema.GroupKind{Group: "batch", Kind: "Job"}, "greet-1", field.ErrorList{
		field.Invalid(field.NewPath("spec", "suspend"), true, "cannot suspend"),
	})
	forbidden := apierrors.NewForbidden(clJobsResource, "greet-1", errors.New("rbac says no"))
	notFound := apierrors.NewNotFound(clJobsResource, "greet-1")
	tests := []struct {
		name         string
		err          error
		handle       kubequeue.Handle
		check        func(error) bool
		wantNotFound bool
	}{
		{name: "NotFound", err: notFound, handle: testHandle, check: apierrors.IsNotFound, wantNotFound: true},
		{name: "NotFoundWithoutUID", err: notFound, handle: kubequeue.Handle{Namespace: "jobs", Name: "greet-1"}, check: apierrors.IsNotFound, wantNotFound: true},
		{name: "UIDChanged", err: uidInvalid, handle: testHandle, check: apierrors.IsInvalid, wantNotFound: true},
		{name: "OtherInvalid", err: suspendInvalid, handle: testHandle, check: apierrors.IsInvalid},
		{name: "InvalidWithoutDetails", err: apierrors.NewInvalid(schema.GroupKind{Group: "batch", Kind: "Job"}, "greet-1", nil), handle: testHandle, check: apierrors.IsInvalid},
		{name: "Forbidden", err: forbidden, handle: testHandle, check: apierrors.IsForbidden},
		{name: "Transport", err: errTransport, handle: testHandle, check: func(err error) bool { return errors.Is(err, errTransport) }},
	}
	for _, tt := range tests {
		for _, verb := range []string{"suspend", "resume"} {
			t.Run(tt.name+"/"+verb, func(t *testing.T) {
				t.Parallel()
				client, queue := setupWith(t, handleJob("uid-1"))
				clFails(client, "patch", tt.err)
				op := queue.Suspend
				if verb == "resume" {
					op = queue.Resume
				}
				err := op(t.Context(), tt.handle)
				require.ErrorIs(t, err, tt.err)
				require.True(t, tt.check(err), "error %v lost its API type", err)
				require.ErrorContains(t, err, verb+" job jobs/greet-1")
				if tt.wantNotFound {
					require.ErrorIs(t, err, kubequeue.ErrJobNotFound)
				} else {
					require.NotErrorIs(t, err, kubequeue.ErrJobNotFound)
				}
				require.Equal(t, []string{"patch"}, clVerbs(client), "no retry")
			})
		}
	}

	t.Run("MissingJob", func(t *testing.T) {
		t.Parallel()
		_, queue := setupWith(t)
		err := queue.Suspend(t.Context(), testHandle)
		require.ErrorIs(t, err, kubequeue.ErrJobNotFound)
		require.True(t, apierrors.IsNotFound(err))
		err = queue.Resume(t.Context(), testHandle)
		require.ErrorIs(t, err, kubequeue.ErrJobNotFound)
	})
}
