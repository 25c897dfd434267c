package kubequeue_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/kubequeue/kubequeue"
	"github.com/kubequeue/kubequeue/kubequeuetest"
)

// failedJob enqueues payload for worker with opts and marks the Job failed.
func failedJob(t *testing.T, client *fake.Clientset, queue *kubequeue.Queue, worker *kubequeue.Worker[resizeArgs], payload resizeArgs, opts ...kubequeue.EnqueueOption) kubequeue.Handle {
	t.Helper()
	h, err := queue.Enqueue(t.Context(), worker, payload, opts...)
	require.NoError(t, err)
	require.NoError(t, kubequeuetest.SetFailed(t.Context(), client, h, batchv1.JobReasonBackoffLimitExceeded, kubequeue.ExitRetryable, "boom"))
	return h
}

func jobOf(t *testing.T, client *fake.Clientset, h kubequeue.Handle) *batchv1.Job {
	t.Helper()
	job, err := client.BatchV1().Jobs(h.Namespace).Get(t.Context(), h.Name, metav1.GetOptions{})
	require.NoError(t, err)
	return job
}

func TestQueue_Retry(t *testing.T) {
	t.Parallel()

	t.Run("EnvPayload", func(t *testing.T) {
		t.Parallel()
		client, queue := setup(t)
		worker := resizeWorker(t, kubequeue.WithBackoffLimit(7), kubequeue.WithLabels(map[string]string{"team": "a"}))
		old := failedJob(t, client, queue, worker, resizeArgs{ID: 42, Note: "$HOME"},
			kubequeue.WithActiveDeadline(time.Minute), kubequeue.WithAnnotations(map[string]string{"note": "x"}))
		// What the API server and Job controller add to a created Job.
		stored := jobOf(t, client, old)
		stored.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{batchv1.ControllerUidLabel: "uid"}}
		stored.Spec.Template.Labels[batchv1.ControllerUidLabel] = "uid"
		stored.Spec.Template.Labels[batchv1.JobNameLabel] = old.Name
		_, err := client.BatchV1().Jobs(old.Namespace).Update(t.Context(), stored, metav1.UpdateOptions{})
		require.NoError(t, err)

		h, err := queue.Retry(t.Context(), old)
		require.NoError(t, err)
		require.NotEqual(t, old.Name, h.Name)
		require.Equal(t, old.Namespace, h.Namespace)
		require.Equal(t, resizeName, h.Worker)

		job := jobOf(t, client, h)
		require.Equal(t, old.Name, job.Annotations[kubequeue.AnnotationRetryOf])
		require.Equal(t, "x", job.Annotations["note"])
		require.NotEqual(t, stored.Annotations[kubequeue.AnnotationEnqueueID], job.Annotations[kubequeue.AnnotationEnqueueID])
		require.Equal(t, labelsOf(resizeName, map[string]string{"team": "a"}), job.Labels)
		require.Equal(t, labelsOf(resizeName, nil), job.Spec.Template.Labels)
		require.Nil(t, job.Spec.Selector)
		require.Equal(t, int32(7), *job.Spec.BackoffLimit)
		require.Equal(t, int64(60), *job.Spec.ActiveDeadlineSeconds)
		require.False(t, *job.Spec.Suspend)
		require.Empty(t, job.Status.Conditions)
		got, err := kubequeuetest.Payload(job, worker)
		require.NoError(t, err)
		require.Equal(t, resizeArgs{ID: 42, Note: "$HOME"}, got)

		// The old Job is kept, failed.
		st, err := queue.Status(t.Context(), old)
		require.NoError(t, err)
		require.Equal(t, kubequeue.StateFailed, st.State)
	})

	t.Run("SecretPayload", func(t *testing.T) {
		t.Parallel()
		client, queue := setup(t)
		worker := resizeWorker(t)
		old := failedJob(t, client, queue, worker, resizeArgs{ID: 7, Note: "secret"}, kubequeue.WithSensitivePayload())
		h, err := queue.Retry(t.Context(), old)
		require.NoError(t, err)
		job := jobOf(t, client, h)
		require.False(t, *job.Spec.Suspend, "resumed once its Secret exists")
		require.NotContains(t, job.Annotations, "kubequeue.io/resume")
		secretName := job.Spec.Template.Spec.Volumes[len(job.Spec.Template.Spec.Volumes)-1].Secret.SecretName
		secret, err := client.CoreV1().Secrets(h.Namespace).Get(t.Context(), secretName, metav1.GetOptions{})
		require.NoError(t, err)
		require.Equal(t, h.Name, secret.OwnerReferences[0].Name)
		require.Equal(t, h.UID, secret.OwnerReferences[0].UID)
		payloads, err := kubequeuetest.Enqueued(t.Context(), client, worker)
		require.NoError(t, err)
		require.Equal(t, []resizeArgs{{ID: 7, Note: "secret"}, {ID: 7, Note: "secret"}}, payloads)
	})

	t.Run("ConcurrencyKeyKept", func(t *testing.T) {
		t.Parallel()
		client, queue := setup(t)
		worker := resizeWorker(t)
		old := failedJob(t, client, queue, worker, resizeArgs{ID: 1},
			kubequeue.WithConcurrencyKey("db", 2), kubequeue.WithDelay(time.Hour))
		h, err := queue.Retry(t.Context(), old)
		require.NoError(t, err)
		job := jobOf(t, client, h)
		require.True(t, *job.Spec.Suspend, "waits for the release controller")
		require.Equal(t, "db", job.Annotations[kubequeue.AnnotationConcurrencyKey])
		require.Equal(t, "2", job.Annotations[kubequeue.AnnotationConcurrencyLimit])
		require.NotEmpty(t, job.Annotations[kubequeue.AnnotationQueuedAt])
		require.NotContains(t, job.Annotations, kubequeue.AnnotationRunAt)
	})

	t.Run("Unfinished", func(t *testing.T) {
		t.Parallel()
		client, queue := setup(t)
		old, err := queue.Enqueue(t.Context(), resizeWorker(t), resizeArgs{ID: 1})
		require.NoError(t, err)
		client.ClearActions()
		_, err = queue.Retry(t.Context(), old)
		require.ErrorIs(t, err, kubequeue.ErrNotRetryable)
		require.ErrorContains(t, err, "WithRetryUnfinished")
		require.Equal(t, []string{"get jobs"}, verbs(client))

		h, err := queue.Retry(t.Context(), old, kubequeue.WithRetryUnfinished())
		require.NoError(t, err)
		require.Equal(t, old.Name, jobOf(t, client, h).Annotations[kubequeue.AnnotationRetryOf])
	})
}

func TestQueue_Retry_Refused(t *testing.T) {
	t.Parallel()
	foreign := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Namespace: "jobs", Name: "other", Labels: map[string]string{"app": "x"}},
		Status: batchv1.JobStatus{Conditions: []batchv1.JobCondition{{Type: batchv1.JobFailed, Status: corev1.ConditionTrue}}}}
	tests := []struct {
		name    string
		setup   func(t *testing.T, client *fake.Clientset, queue *kubequeue.Queue) kubequeue.Handle
		want    error
		message string
	}{
		{
			name: "NotFound",
			setup: func(*testing.T, *fake.Clientset, *kubequeue.Queue) kubequeue.Handle {
				return kubequeue.Handle{Namespace: "jobs", Name: "gone"}
			},
			want: kubequeue.ErrJobNotFound,
		},
		{
			name: "InvalidHandle",
			setup: func(*testing.T, *fake.Clientset, *kubequeue.Queue) kubequeue.Handle {
				return kubequeue.Handle{Name: "x"}
			},
			want: kubequeue.ErrInvalidHandle,
		},
		{
			name: "NotKubequeue",
			setup: func(t *testing.T, client *fake.Clientset, _ *kubequeue.Queue) kubequeue.Handle {
				require.NoError(t, client.Tracker().Add(foreign.DeepCopy()))
				return kubequeue.Handle{Namespace: "jobs", Name: "other"}
			},
			want:    kubequeue.ErrNotRetryable,
			message: "not a kubequeue job",
		},
		{
			name: "Batch",
			setup: func(t *testing.T, client *fake.Clientset, queue *kubequeue.Queue) kubequeue.Handle {
				h, err := queue.EnqueueBatch(t.Context(), resizeWorker(t), []resizeArgs{{ID: 1}, {ID: 2}})
				require.NoError(t, err)
				require.NoError(t, kubequeuetest.SetFailed(t.Context(), client, h, batchv1.JobReasonFailedIndexes, 1, "boom"))
				return h
			},
			want:    kubequeue.ErrNotRetryable,
			message: "is a batch",
		},
		{
			name: "SecretGone",
			setup: func(t *testing.T, client *fake.Clientset, queue *kubequeue.Queue) kubequeue.Handle {
				h := failedJob(t, client, queue, resizeWorker(t), resizeArgs{ID: 1}, kubequeue.WithSensitivePayload())
				secrets, err := client.CoreV1().Secrets(h.Namespace).List(t.Context(), metav1.ListOptions{})
				require.NoError(t, err)
				require.Len(t, secrets.Items, 1)
				require.NoError(t, client.CoreV1().Secrets(h.Namespace).Delete(t.Context(), secrets.Items[0].Name, metav1.DeleteOptions{}))
				return h
			},
			want:    kubequeue.ErrNotRetryable,
			message: "is gone",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			client, queue := setup(t)
			h := tt.setup(t, client, queue)
			before := len(listJobs(t, client))
			_, err := queue.Retry(t.Context(), h)
			require.ErrorIs(t, err, tt.want)
			if tt.message != "" {
				require.ErrorContains(t, err, tt.message)
			}
			require.Len(t, listJobs(t, client), before, "nothing created")
		})
	}
}

func TestQueue_Retry_CreateFailsLeavesNothing(t *testing.T) {
	t.Parallel()
	client, queue := setup(t, kubequeue.WithRetries(1))
	old := failedJob(t, client, queue, resizeWorker(t), resizeArgs{ID: 1}, kubequeue.WithSensitivePayload())
	client.PrependReactor("patch", "jobs", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(batchv1.Resource("jobs"), "x", errors.New("no"))
	})
	_, err := queue.Retry(t.Context(), old)
	require.Error(t, err)
	require.Len(t, listJobs(t, client), 1, "the new Job is deleted, the old one kept")
	require.Equal(t, old.Name, listJobs(t, client)[0].Name)
}

// TestQueue_Retry_Middleware: the queue's enqueue middleware runs around
// the creation of the retry's Job, as around an Enqueue's.
func TestQueue_Retry_Middleware(t *testing.T) {
	t.Parallel()
	var seen []string
	client, queue := setup(t, kubequeue.WithEnqueueMiddleware(func(ctx context.Context, req *kubequeue.EnqueueRequest, next kubequeue.EnqueueFunc) (kubequeue.Handle, error) {
		seen = append(seen, req.Name)
		req.Job.Annotations["traced"] = req.Name
		return next(ctx, req)
	}))
	old := failedJob(t, client, queue, resizeWorker(t), resizeArgs{ID: 1})
	h, err := queue.Retry(t.Context(), old)
	require.NoError(t, err)
	require.Equal(t, []string{old.Name, h.Name}, seen)
	require.Equal(t, h.Name, jobOf(t, client, h).Annotations["traced"], "the middleware's change to the retry's Job")
}
