package integration

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	authenticationv1 "k8s.io/api/authentication/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/yaml"

	"github.com/kubequeue/kubequeue"
)

// deployRole returns the Role of deploy/rbac.yaml.
func deployRole(t *testing.T) *rbacv1.Role {
	t.Helper()
	return roleOf(t, "../deploy/rbac.yaml")
}

// roleOf returns the Role of a file of deploy/.
func roleOf(t *testing.T, file string) *rbacv1.Role {
	t.Helper()
	data, err := os.ReadFile(file)
	require.NoError(t, err)
	for doc := range strings.SplitSeq(string(data), "\n---\n") {
		var role rbacv1.Role
		require.NoError(t, yaml.Unmarshal([]byte(doc), &role))
		if role.Kind == "Role" {
			return &role
		}
	}
	t.Fatalf("%s holds no Role", file)
	return nil
}

// serviceAccountClient creates a service account bound to role in the
// test's namespace and returns a clientset that authenticates as it, with a
// token from the TokenRequest API.
func serviceAccountClient(t *testing.T, e *env, role *rbacv1.Role) kubernetes.Interface {
	t.Helper()
	_, err := client.CoreV1().ServiceAccounts(e.ns).Create(e.ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "my-service"}}, metav1.CreateOptions{})
	require.NoError(t, err)
	role = role.DeepCopy()
	role.Namespace = e.ns
	_, err = client.RbacV1().Roles(e.ns).Create(e.ctx, role, metav1.CreateOptions{})
	require.NoError(t, err)
	_, err = client.RbacV1().RoleBindings(e.ns).Create(e.ctx, &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: role.Name},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: role.Name},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: "my-service", Namespace: e.ns}},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	token, err := client.CoreV1().ServiceAccounts(e.ns).CreateToken(e.ctx, "my-service", &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: new(int64(3600))},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	admin := cluster.Config()
	cfg := &rest.Config{Host: admin.Host, BearerToken: token.Status.Token, TLSClientConfig: rest.TLSClientConfig{CAData: admin.CAData, CAFile: admin.CAFile}}
	c, err := kubernetes.NewForConfig(cfg)
	require.NoError(t, err)
	return c
}

// setRole replaces the rules of the test's Role.
func setRole(t *testing.T, e *env, role *rbacv1.Role) {
	t.Helper()
	got, err := client.RbacV1().Roles(e.ns).Get(e.ctx, role.Name, metav1.GetOptions{})
	require.NoError(t, err)
	got.Rules = role.Rules
	_, err = client.RbacV1().Roles(e.ns).Update(e.ctx, got, metav1.UpdateOptions{})
	require.NoError(t, err)
}

// without returns role without verb on resource (and without a rule left
// with no verb).
func without(role *rbacv1.Role, resource, verb string) *rbacv1.Role {
	role = role.DeepCopy()
	for i, r := range role.Rules {
		if slices.Contains(r.Resources, resource) {
			role.Rules[i].Verbs = slices.DeleteFunc(slices.Clone(r.Verbs), func(v string) bool { return v == verb })
		}
	}
	role.Rules = slices.DeleteFunc(role.Rules, func(r rbacv1.PolicyRule) bool { return len(r.Verbs) == 0 })
	return role
}

// eventually retries op while it fails with Forbidden, or until it fails
// with it when wantForbidden: the RBAC authorizer sees a Role's change
// within moments.
func eventually(t *testing.T, e *env, wantForbidden bool, op func(ctx context.Context) error) error {
	t.Helper()
	var last error
	_ = wait.PollUntilContextTimeout(e.ctx, 100*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		last = op(ctx)
		return apierrors.IsForbidden(last) == wantForbidden, nil
	})
	return last
}

// TestRBAC_DeployRole (R6): a service account bound only to the Role of
// deploy/rbac.yaml can do everything kubequeue does, and without any one of
// the Role's verbs the operation that needs it fails with a Forbidden error
// that names the verb and the resource.
func TestRBAC_DeployRole(t *testing.T) {
	t.Parallel()
	e := setup(t)
	role := deployRole(t)
	queue := newQueue(t, serviceAccountClient(t, e, role), kubequeue.WithDefaultNamespace(e.ns))

	// Everything, with the whole Role.
	var h kubequeue.Handle
	err := eventually(t, e, false, func(ctx context.Context) error {
		var err error
		h, err = queue.Enqueue(ctx, greetWorker, greeting{Name: "rbac"}, kubequeue.WithSensitivePayload())
		return err
	})
	require.NoError(t, err)
	_, err = queue.Get(e.ctx, h)
	require.NoError(t, err)
	list, err := queue.List(e.ctx, kubequeue.ListOptions{})
	require.NoError(t, err)
	require.Len(t, list.Items, 1)
	st, err := queue.Wait(e.ctx, h)
	require.NoError(t, err)
	require.Equal(t, kubequeue.StateSucceeded, st.State)
	st, err = queue.Status(e.ctx, h)
	require.NoError(t, err)
	require.Equal(t, kubequeue.StateSucceeded, st.State)
	var lines []string
	for line, err := range queue.Logs(e.ctx, h, kubequeue.LogOptions{}) {
		require.NoError(t, err)
		lines = append(lines, line.Text)
	}
	require.Contains(t, lines, "hello, rbac")
	retried, err := queue.Retry(e.ctx, h)
	require.NoError(t, err)
	st, err = queue.Wait(e.ctx, retried)
	require.NoError(t, err)
	require.Equal(t, kubequeue.StateSucceeded, st.State, "the retry, its payload copied from the Secret")
	require.NoError(t, queue.Suspend(e.ctx, h))
	require.NoError(t, queue.Cancel(e.ctx, h))
	_, err = queue.Schedule(e.ctx, "rbac", greetWorker, "@daily", greeting{}, kubequeue.WithSensitivePayload())
	require.NoError(t, err)
	_, err = queue.Schedule(e.ctx, "rbac", greetWorker, "@hourly", greeting{}, kubequeue.WithSensitivePayload())
	require.NoError(t, err, "update")
	schedules, err := queue.ListSchedules(e.ctx, "")
	require.NoError(t, err)
	require.Len(t, schedules, 1)
	require.NoError(t, queue.Unschedule(e.ctx, "", "rbac"))

	// Without each verb, the operation that needs it is refused, naming it.
	done, err := queue.Enqueue(e.ctx, greetWorker, greeting{})
	require.NoError(t, err)
	_, err = queue.Wait(e.ctx, done)
	require.NoError(t, err)
	doneSecret, err := queue.Enqueue(e.ctx, greetWorker, greeting{}, kubequeue.WithSensitivePayload())
	require.NoError(t, err)
	_, err = queue.Wait(e.ctx, doneSecret)
	require.NoError(t, err)
	newSchedules := 0 // names of new schedules
	ops := []struct {
		resource, verb string
		op             func(ctx context.Context) error
	}{
		{"jobs", "create", func(ctx context.Context) error { _, err := queue.Enqueue(ctx, greetWorker, greeting{}); return err }},
		{"jobs", "get", func(ctx context.Context) error { _, err := queue.Status(ctx, done); return err }},
		{"jobs", "list", func(ctx context.Context) error { _, err := queue.List(ctx, kubequeue.ListOptions{}); return err }},
		{"jobs", "watch", func(ctx context.Context) error { _, err := queue.Wait(ctx, done); return err }},
		{"jobs", "patch", func(ctx context.Context) error { return queue.Suspend(ctx, done) }},
		{"jobs", "delete", func(ctx context.Context) error {
			h, err := queue.Enqueue(ctx, greetWorker, greeting{}, suspended)
			if err != nil {
				return err
			}
			return queue.Cancel(ctx, h)
		}},
		{"pods", "list", func(ctx context.Context) error {
			st, err := queue.Status(ctx, done)
			if err != nil {
				return err
			}
			// The Job succeeded: Status says so without an error, and
			// DecodeResult why its pods, which hold the result, are not
			// read.
			if err := st.DecodeResult(new(any)); apierrors.IsForbidden(err) {
				return err
			}
			return nil
		}},
		{"pods", "watch", func(ctx context.Context) error { _, err := queue.Wait(ctx, done); return err }},
		{"pods/log", "get", func(ctx context.Context) error {
			for _, err := range queue.Logs(ctx, done, kubequeue.LogOptions{}) {
				if err != nil {
					return err
				}
			}
			return nil
		}},
		{"secrets", "create", func(ctx context.Context) error {
			_, err := queue.Enqueue(ctx, greetWorker, greeting{}, kubequeue.WithSensitivePayload())
			return err
		}},
		{"secrets", "get", func(ctx context.Context) error { _, err := queue.Retry(ctx, doneSecret); return err }},
		{"cronjobs", "create", func(ctx context.Context) error {
			newSchedules++
			_, err := queue.Schedule(ctx, fmt.Sprintf("new-%d", newSchedules), greetWorker, "@daily", greeting{})
			return err
		}},
		{"cronjobs", "patch", func(ctx context.Context) error {
			_, err := queue.Schedule(ctx, "kept", greetWorker, "@daily", greeting{})
			return err
		}},
		{"cronjobs", "list", func(ctx context.Context) error { _, err := queue.ListSchedules(ctx, ""); return err }},
		{"cronjobs", "get", func(ctx context.Context) error { return queue.Unschedule(ctx, "", "kept") }},
		{"cronjobs", "delete", func(ctx context.Context) error {
			if _, err := queue.Schedule(ctx, "deleted", greetWorker, "@daily", greeting{}); err != nil {
				return err
			}
			return queue.Unschedule(ctx, "", "deleted")
		}},
		{"secrets", "patch", func(ctx context.Context) error {
			_, err := queue.Schedule(ctx, "kept", greetWorker, "@daily", greeting{}, kubequeue.WithSensitivePayload())
			return err
		}},
	}
	for _, o := range ops {
		setRole(t, e, without(role, o.resource, o.verb))
		err := eventually(t, e, true, o.op)
		require.True(t, apierrors.IsForbidden(err), "without %s %s: %v", o.verb, o.resource, err)
		require.ErrorContains(t, err, `cannot `+o.verb+` resource "`+o.resource+`"`)
		t.Logf("without %s %s: %v", o.verb, o.resource, errors.Unwrap(err))
		setRole(t, e, role)
		require.NoError(t, eventually(t, e, false, o.op), "with the whole Role again, %s %s", o.verb, o.resource)
	}
}

// TestRBAC_SchedulerRole: a release controller whose service account is
// bound only to the Role of deploy/scheduler-rbac.yaml leads, releases a
// delayed Job, ends one whose dependency failed, and deletes one left
// waiting for its payload Secret.
func TestRBAC_SchedulerRole(t *testing.T) {
	t.Parallel()
	e := setup(t)
	c := serviceAccountClient(t, e, roleOf(t, "../deploy/scheduler-rbac.yaml"))
	startScheduler(t, e, c, kubequeue.WithPendingGrace(time.Second))

	delayed, err := e.queue.Enqueue(e.ctx, greetWorker, greeting{Name: "later"}, kubequeue.WithDelay(time.Second))
	require.NoError(t, err)
	failed, err := e.queue.Enqueue(e.ctx, permanentWorker, greeting{})
	require.NoError(t, err)
	dependent, err := e.queue.Enqueue(e.ctx, greetWorker, greeting{}, kubequeue.WithAfter(failed))
	require.NoError(t, err)
	// A Job whose Enqueue died before it stored the payload Secret.
	abandoned, err := e.queue.Build(greetWorker, greeting{}, kubequeue.WithSensitivePayload())
	require.NoError(t, err)
	abandoned, err = client.BatchV1().Jobs(e.ns).Create(e.ctx, abandoned, metav1.CreateOptions{})
	require.NoError(t, err)

	st, err := e.queue.Wait(e.ctx, delayed)
	require.NoError(t, err)
	require.Equal(t, kubequeue.StateSucceeded, st.State)
	st, err = e.queue.Wait(e.ctx, dependent)
	require.Error(t, err)
	require.Equal(t, kubequeue.ReasonDependencyFailed, st.Reason)
	err = wait.PollUntilContextTimeout(e.ctx, 200*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		_, err := client.BatchV1().Jobs(e.ns).Get(ctx, abandoned.Name, metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})
	require.NoError(t, err, "the abandoned Job is deleted")
}

// TestQueue_Enqueue_RBAC checks Enqueue as a user with no rights, then with
// a Role that allows creating Jobs: the real server's Forbidden comes back
// wrapped, still recognisable, and nothing is created.
func TestQueue_Enqueue_RBAC(t *testing.T) {
	t.Parallel()
	e := setup(t)
	cfg, err := cluster.UserConfig("enqueuer")
	require.NoError(t, err)
	userClient, err := kubernetes.NewForConfig(cfg)
	require.NoError(t, err)
	queue := newQueue(t, userClient, kubequeue.WithDefaultNamespace(e.ns))
	worker := greetWorker

	_, err = queue.Enqueue(e.ctx, worker, greeting{})
	require.True(t, apierrors.IsForbidden(err), "got %v", err)
	require.ErrorContains(t, err, "kubequeue: create job "+e.ns+"/greet-")
	jobs, err := client.BatchV1().Jobs(e.ns).List(e.ctx, metav1.ListOptions{})
	require.NoError(t, err)
	require.Empty(t, jobs.Items)

	_, err = client.RbacV1().Roles(e.ns).Create(e.ctx, &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Name: "enqueue"},
		Rules: []rbacv1.PolicyRule{{
			APIGroups: []string{batchv1.GroupName},
			Resources: []string{"jobs"},
			Verbs:     []string{"create"},
		}},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	_, err = client.RbacV1().RoleBindings(e.ns).Create(e.ctx, &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "enqueue"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "enqueue"},
		Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: "enqueuer"}},
	}, metav1.CreateOptions{})
	require.NoError(t, err)

	// The authorizer's cache catches up within moments.
	var h kubequeue.Handle
	err = wait.PollUntilContextTimeout(e.ctx, 100*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		h, err = queue.Enqueue(ctx, worker, greeting{})
		if apierrors.IsForbidden(err) {
			return false, nil
		}
		return err == nil, err
	})
	require.NoError(t, err)
	require.Equal(t, "greet", h.Worker)
}
