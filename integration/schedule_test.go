package integration

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/kubequeue/kubequeue"
)

// TestQueue_Schedule: a schedule of "*/1 * * * *" fires on the real
// CronJob controller, and its Job runs the worker with the payload, which
// travels in a Secret owned by the CronJob; Status, Wait, Logs and List
// work on that Job. Scheduling twice with the same name updates the one
// CronJob, and Unschedule deletes it with its Secret.
func TestQueue_Schedule(t *testing.T) {
	t.Parallel()
	e := setup(t)
	name := fmt.Sprintf("cron-%d", rand.IntN(1e6))

	// First a spec that does not fire soon, then the real one: an update.
	_, err := e.queue.Schedule(e.ctx, "greets", greetWorker, "0 0 1 1 *", greeting{Name: "never"})
	require.NoError(t, err)
	info, err := e.queue.Schedule(e.ctx, "greets", greetWorker, "*/1 * * * *", greeting{Name: name},
		kubequeue.WithSensitivePayload(), kubequeue.WithHistoryLimits(2, 2), kubequeue.WithConcurrencyPolicy(batchv1.ForbidConcurrent))
	require.NoError(t, err)
	list, err := e.queue.ListSchedules(e.ctx, "")
	require.NoError(t, err)
	require.Len(t, list, 1, "updated, not duplicated")
	require.Equal(t, "*/1 * * * *", list[0].Spec)
	require.Equal(t, info.UID, list[0].UID)
	secret, err := client.CoreV1().Secrets(e.ns).Get(e.ctx, "greets-payload", metav1.GetOptions{})
	require.NoError(t, err)
	require.Equal(t, info.UID, secret.OwnerReferences[0].UID)

	// The CronJob controller fires at the next minute.
	var job *batchv1.Job
	err = wait.PollUntilContextTimeout(e.ctx, 500*time.Millisecond, 75*time.Second, true, func(ctx context.Context) (bool, error) {
		jobs, err := client.BatchV1().Jobs(e.ns).List(ctx, metav1.ListOptions{})
		if err != nil || len(jobs.Items) == 0 {
			return false, err
		}
		job = &jobs.Items[0]
		return true, nil
	})
	require.NoError(t, err, "the CronJob made no Job within 75 s")
	h := kubequeue.HandleFor(job)
	require.Equal(t, "greet", h.Worker)
	st, err := e.queue.Wait(e.ctx, h)
	require.NoError(t, err)
	require.Equal(t, kubequeue.StateSucceeded, st.State)
	st, err = e.queue.Status(e.ctx, h)
	require.NoError(t, err)
	require.Equal(t, kubequeue.StateSucceeded, st.State)
	var lines []string
	for line, err := range e.queue.Logs(e.ctx, h, kubequeue.LogOptions{}) {
		require.NoError(t, err)
		lines = append(lines, line.Text)
	}
	require.Contains(t, lines, "hello, "+name, "the worker ran with the payload")
	jobs, err := e.queue.List(e.ctx, kubequeue.ListOptions{Worker: "greet"})
	require.NoError(t, err)
	require.NotEmpty(t, jobs.Items)
	require.Equal(t, h.Name, jobs.Items[len(jobs.Items)-1].Handle.Name)
	t.Logf("job %s of the schedule, created %s, ran: %q", h.Name, job.CreationTimestamp.Format(time.StampMilli), lines)

	require.NoError(t, e.queue.Unschedule(e.ctx, "", "greets"))
	list, err = e.queue.ListSchedules(e.ctx, "")
	require.NoError(t, err)
	require.Empty(t, list)
	err = wait.PollUntilContextTimeout(e.ctx, 200*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		_, err := client.CoreV1().Secrets(e.ns).Get(ctx, "greets-payload", metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})
	require.NoError(t, err, "the payload secret is deleted with the schedule")
}
