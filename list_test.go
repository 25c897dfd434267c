package kubequeue_test

import (
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/utils/ptr"

	"github.com/kubequeue/kubequeue"
)

// lsJob returns a Job created at epoch+age with kubequeue's labels for
// worker and the extra labels, and the given status.
func lsJob(ns, name, worker string, age time.Duration, extra map[string]string, status batchv1.JobStatus) *batchv1.Job {
	return &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{
			Namespace:         ns,
			Name:              name,
			UID:               types.UID("uid-" + ns + "-" + name),
			Labels:            labelsOf(worker, extra),
			CreationTimestamp: metav1.NewTime(epoch.Add(age)),
		},
		Status: status,
	}
}

func lsCondition(t batchv1.JobConditionType, reason string) batchv1.JobStatus {
	return batchv1.JobStatus{Conditions: []batchv1.JobCondition{{Type: t, Status: corev1.ConditionTrue, Reason: reason}}}
}

// lsSeed adds to client's tracker (no action is recorded) seven kubequeue
// Jobs in the namespaces "jobs" and "other", and three Jobs that kubequeue
// did not create.
func lsSeed(t *testing.T, client *fake.Clientset) {
	t.Helper()
	suspended := lsJob("jobs", "newest", "resize", 3*time.Minute, map[string]string{"team": "a"}, batchv1.JobStatus{})
	suspended.Spec.Suspend = ptr.To(true)
	jobs := []*batchv1.Job{
		lsJob("jobs", "a-old", "greet", 0, nil, lsCondition(batchv1.JobComplete, "")),
		lsJob("jobs", "b-mid", "resize", time.Minute, nil, lsCondition(batchv1.JobFailed, batchv1.JobReasonBackoffLimitExceeded)),
		// Three Jobs created in the same second, in two namespaces.
		lsJob("jobs", "tie-b", "greet", 2*time.Minute, nil, batchv1.JobStatus{}),
		lsJob("jobs", "tie-a", "greet", 2*time.Minute, nil, batchv1.JobStatus{Ready: ptr.To[int32](1), Active: 1}),
		lsJob("other", "aaa", "greet", 2*time.Minute, nil, batchv1.JobStatus{}),
		suspended,
		lsJob("other", "o-1", "greet", 30*time.Second, map[string]string{"team": "a"}, batchv1.JobStatus{}),
	}
	// Not kubequeue's: no managed-by label, or another manager.
	foreign := lsJob("jobs", "foreign", "greet", time.Hour, map[string]string{"team": "a"}, batchv1.JobStatus{})
	delete(foreign.Labels, kubequeue.LabelManagedBy)
	helm := lsJob("other", "helm", "greet", time.Hour, nil, batchv1.JobStatus{})
	helm.Labels[kubequeue.LabelManagedBy] = "Helm"
	plain := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Namespace: "jobs", Name: "plain", CreationTimestamp: metav1.NewTime(epoch.Add(time.Hour))}}
	for _, job := range append(jobs, foreign, helm, plain) {
		require.NoError(t, client.Tracker().Add(job))
	}
}

// lsSetup returns a seeded fake clientset and a queue on it whose default
// namespace is "jobs".
func lsSetup(t *testing.T) (*fake.Clientset, *kubequeue.Queue) {
	t.Helper()
	client, queue := setup(t, kubequeue.WithDefaultNamespace("jobs"))
	lsSeed(t, client)
	return client, queue
}

// lsNames returns "namespace/name" of each item.
func lsNames(list kubequeue.JobList) []string {
	names := make([]string, 0, len(list.Items))
	for _, st := range list.Items {
		names = append(names, st.Handle.String())
	}
	return names
}

// lsAll is every kubequeue Job lsSeed adds, newest first.
var lsAll = []string{"jobs/newest", "jobs/tie-a", "jobs/tie-b", "other/aaa", "jobs/b-mid", "other/o-1", "jobs/a-old"}

func TestQueue_List(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		opts kubequeue.ListOptions
		want []string
	}{
		{
			name: "DefaultNamespace",
			want: []string{"jobs/newest", "jobs/tie-a", "jobs/tie-b", "jobs/b-mid", "jobs/a-old"},
		},
		{
			name: "Namespace",
			opts: kubequeue.ListOptions{Namespace: "other"},
			want: []string{"other/aaa", "other/o-1"},
		},
		{
			name: "AllNamespaces",
			opts: kubequeue.ListOptions{AllNamespaces: true},
			want: lsAll,
		},
		{
			name: "AllNamespacesOverridesNamespace",
			opts: kubequeue.ListOptions{AllNamespaces: true, Namespace: "other"},
			want: lsAll,
		},
		{
			name: "Worker",
			opts: kubequeue.ListOptions{AllNamespaces: true, Worker: "greet"},
			want: []string{"jobs/tie-a", "jobs/tie-b", "other/aaa", "other/o-1", "jobs/a-old"},
		},
		{
			name: "WorkerInNamespace",
			opts: kubequeue.ListOptions{Worker: "resize"},
			want: []string{"jobs/newest", "jobs/b-mid"},
		},
		{
			name: "UnknownWorker",
			opts: kubequeue.ListOptions{AllNamespaces: true, Worker: "nobody"},
			want: []string{},
		},
		{
			name: "Selector",
			opts: kubequeue.ListOptions{AllNamespaces: true, Selector: labels.SelectorFromSet(labels.Set{"team": "a"})},
			want: []string{"jobs/newest", "other/o-1"},
		},
		{
			name: "SelectorAndWorker",
			opts: kubequeue.ListOptions{AllNamespaces: true, Worker: "greet", Selector: labels.SelectorFromSet(labels.Set{"team": "a"})},
			want: []string{"other/o-1"},
		},
		{
			name: "SelectorCannotWidenToOtherManagers",
			opts: kubequeue.ListOptions{AllNamespaces: true, Selector: labels.SelectorFromSet(labels.Set{kubequeue.LabelManagedBy: "Helm"})},
			want: []string{},
		},
		{
			name: "EverythingSelector",
			opts: kubequeue.ListOptions{AllNamespaces: true, Selector: labels.Everything()},
			want: lsAll,
		},
		{
			name: "LimitLargerThanList",
			opts: kubequeue.ListOptions{AllNamespaces: true, Limit: 100},
			want: lsAll,
		},
		{
			name: "EmptyNamespace",
			opts: kubequeue.ListOptions{Namespace: "empty"},
			want: []string{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, queue := lsSetup(t)
			list, err := queue.List(t.Context(), tt.opts)
			require.NoError(t, err)
			require.Equal(t, tt.want, lsNames(list))
			require.Empty(t, list.Continue, "a complete list has no next page")
		})
	}
}

// TestQueue_List_NothingSelector: labels.Nothing() matches no labels, so no
// Job may be listed.
func TestQueue_List_NothingSelector(t *testing.T) {
	t.Parallel()
	_, queue := lsSetup(t)
	list, err := queue.List(t.Context(), kubequeue.ListOptions{AllNamespaces: true, Selector: labels.Nothing()})
	require.NoError(t, err)
	require.Empty(t, list.Items)
}

func TestQueue_List_Request(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name          string
		opts          kubequeue.ListOptions
		wantNamespace string
		wantSelector  string
	}{
		{
			name:          "Default",
			wantNamespace: "jobs",
			wantSelector:  "app.kubernetes.io/managed-by=kubequeue",
		},
		{
			name:          "WorkerAndSelector",
			opts:          kubequeue.ListOptions{Namespace: "other", Worker: "greet", Selector: labels.SelectorFromSet(labels.Set{"team": "a"})},
			wantNamespace: "other",
			wantSelector:  "app.kubernetes.io/managed-by=kubequeue,kubequeue.io/worker=greet,team=a",
		},
		{
			name:          "AllNamespaces",
			opts:          kubequeue.ListOptions{AllNamespaces: true, Limit: 1},
			wantNamespace: metav1.NamespaceAll,
			wantSelector:  "app.kubernetes.io/managed-by=kubequeue",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			client, queue := lsSetup(t)
			_, err := queue.List(t.Context(), tt.opts)
			require.NoError(t, err)
			actions := client.Actions()
			require.Len(t, actions, 1)
			list, ok := actions[0].(k8stesting.ListActionImpl)
			require.True(t, ok, "got %T", actions[0])
			require.Equal(t, "jobs", list.GetResource().Resource)
			require.Equal(t, tt.wantNamespace, list.GetNamespace())
			require.Equal(t, tt.wantSelector, list.ListOptions.LabelSelector)
			require.Equal(t, int64(500), list.ListOptions.Limit, "List reads the server in pages, whatever Limit is")
		})
	}
}

func TestQueue_List_Status(t *testing.T) {
	t.Parallel()
	_, queue := lsSetup(t)
	list, err := queue.List(t.Context(), kubequeue.ListOptions{AllNamespaces: true})
	require.NoError(t, err)
	byName := make(map[string]kubequeue.Status, len(list.Items))
	for _, st := range list.Items {
		byName[st.Handle.String()] = st
	}

	require.Equal(t, kubequeue.Handle{Namespace: "jobs", Name: "b-mid", UID: "uid-jobs-b-mid", Worker: "resize"}, byName["jobs/b-mid"].Handle)
	require.Equal(t, kubequeue.Handle{Namespace: "other", Name: "aaa", UID: "uid-other-aaa", Worker: "greet"}, byName["other/aaa"].Handle)
	require.True(t, byName["jobs/b-mid"].Created.Equal(epoch.Add(time.Minute)), "got %v", byName["jobs/b-mid"].Created)

	wantStates := map[string]kubequeue.State{
		"jobs/newest": kubequeue.StateSuspended,
		"jobs/tie-a":  kubequeue.StateRunning,
		"jobs/tie-b":  kubequeue.StatePending,
		"other/aaa":   kubequeue.StatePending,
		"jobs/b-mid":  kubequeue.StateFailed,
		"other/o-1":   kubequeue.StatePending,
		"jobs/a-old":  kubequeue.StateSucceeded,
	}
	for name, want := range wantStates {
		require.Equal(t, want, byName[name].State, name)
	}
	failed := byName["jobs/b-mid"]
	require.Equal(t, batchv1.JobReasonBackoffLimitExceeded, failed.Reason)
	require.ErrorIs(t, failed.Err(), kubequeue.ErrJobFailed)
	// List reads no pods: what only pods hold stays empty.
	require.Zero(t, failed.ExitCode)
	require.Empty(t, failed.TerminationMessage)
	require.Nil(t, byName["jobs/a-old"].Result)
}

// lsPages lists with opts, following Continue to the end, and returns each
// page.
func lsPages(t *testing.T, queue *kubequeue.Queue, opts kubequeue.ListOptions) [][]string {
	t.Helper()
	var pages [][]string
	for {
		list, err := queue.List(t.Context(), opts)
		require.NoError(t, err)
		pages = append(pages, lsNames(list))
		if list.Continue == "" {
			return pages
		}
		require.Len(t, list.Items, opts.Limit, "a page followed by another is full")
		require.LessOrEqual(t, len(pages), len(lsAll), "Continue must come to an end")
		opts.Continue = list.Continue
	}
}

func TestQueue_List_Paging(t *testing.T) {
	t.Parallel()
	for limit := 1; limit <= len(lsAll)+1; limit++ {
		t.Run("Limit"+strconv.Itoa(limit), func(t *testing.T) {
			t.Parallel()
			_, queue := lsSetup(t)
			pages := lsPages(t, queue, kubequeue.ListOptions{AllNamespaces: true, Limit: limit})
			require.Len(t, pages, (len(lsAll)+limit-1)/limit, "no empty last page")
			var all []string
			for _, page := range pages {
				require.NotEmpty(t, page)
				require.LessOrEqual(t, len(page), limit)
				all = append(all, page...)
			}
			require.Equal(t, lsAll, all, "every Job exactly once, newest first")
		})
	}

	t.Run("WithFilters", func(t *testing.T) {
		t.Parallel()
		_, queue := lsSetup(t)
		pages := lsPages(t, queue, kubequeue.ListOptions{AllNamespaces: true, Worker: "greet", Limit: 2})
		require.Equal(t, [][]string{{"jobs/tie-a", "jobs/tie-b"}, {"other/aaa", "other/o-1"}, {"jobs/a-old"}}, pages)
	})

	t.Run("NewJobBetweenPages", func(t *testing.T) {
		t.Parallel()
		client, queue := lsSetup(t)
		first, err := queue.List(t.Context(), kubequeue.ListOptions{AllNamespaces: true, Limit: 2})
		require.NoError(t, err)
		require.Equal(t, lsAll[:2], lsNames(first))

		// A Job created now is newer than every page: it would be first on
		// a new listing, and must not push a Job of the next page back onto
		// the first.
		require.NoError(t, client.Tracker().Add(lsJob("jobs", "brand-new", "greet", time.Hour, nil, batchv1.JobStatus{})))
		second, err := queue.List(t.Context(), kubequeue.ListOptions{AllNamespaces: true, Limit: 2, Continue: first.Continue})
		require.NoError(t, err)
		require.Equal(t, lsAll[2:4], lsNames(second))
		rest := lsPages(t, queue, kubequeue.ListOptions{AllNamespaces: true, Limit: 2, Continue: second.Continue})
		require.Equal(t, [][]string{lsAll[4:6], lsAll[6:]}, rest)

		fresh, err := queue.List(t.Context(), kubequeue.ListOptions{AllNamespaces: true, Limit: 1})
		require.NoError(t, err)
		require.Equal(t, []string{"jobs/brand-new"}, lsNames(fresh))
	})

	t.Run("DeletedLastJobOfPage", func(t *testing.T) {
		t.Parallel()
		// The token holds a place in the order, not a Job: deleting the
		// last Job of a page does not lose the next page.
		client, queue := lsSetup(t)
		first, err := queue.List(t.Context(), kubequeue.ListOptions{AllNamespaces: true, Limit: 3})
		require.NoError(t, err)
		require.Equal(t, lsAll[:3], lsNames(first))
		require.NoError(t, client.BatchV1().Jobs("jobs").Delete(t.Context(), "tie-b", metav1.DeleteOptions{}))
		second, err := queue.List(t.Context(), kubequeue.ListOptions{AllNamespaces: true, Limit: 3, Continue: first.Continue})
		require.NoError(t, err)
		require.Equal(t, lsAll[3:6], lsNames(second))
	})
}

// TestQueue_List_ServerPages checks that List follows the API server's own
// continue tokens and sorts across its pages.
func TestQueue_List_ServerPages(t *testing.T) {
	t.Parallel()
	client, queue := setup(t)
	pages := map[string]*batchv1.JobList{
		"": {ListMeta: metav1.ListMeta{Continue: "server-2"}, Items: []batchv1.Job{
			*lsJob("default", "one", "greet", time.Minute, nil, batchv1.JobStatus{}),
			*lsJob("default", "two", "greet", 3*time.Minute, nil, batchv1.JobStatus{}),
		}},
		"server-2": {Items: []batchv1.Job{
			*lsJob("default", "three", "greet", 2*time.Minute, nil, batchv1.JobStatus{}),
		}},
	}
	client.PrependReactor("list", "jobs", func(action k8stesting.Action) (bool, runtime.Object, error) {
		opts := action.(k8stesting.ListActionImpl).ListOptions
		require.Equal(t, "app.kubernetes.io/managed-by=kubequeue", opts.LabelSelector, "every page with the same selector")
		page, ok := pages[opts.Continue]
		require.True(t, ok, "unknown continue %q", opts.Continue)
		return true, page, nil
	})
	list, err := queue.List(t.Context(), kubequeue.ListOptions{})
	require.NoError(t, err)
	require.Equal(t, []string{"default/two", "default/three", "default/one"}, lsNames(list))
	require.Len(t, client.Actions(), 2)
}

func TestQueue_List_InvalidOptions(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		opts  kubequeue.ListOptions
		field string
	}{
		{name: "NegativeLimit", opts: kubequeue.ListOptions{Limit: -1}, field: "ListOptions.Limit"},
		{name: "ContinueNotBase64", opts: kubequeue.ListOptions{Continue: "!!!"}, field: "ListOptions.Continue"},
		{name: "ContinueBase64Garbage", opts: kubequeue.ListOptions{Continue: base64.RawURLEncoding.EncodeToString([]byte("garbage"))}, field: "ListOptions.Continue"},
		{name: "ContinueEmptyObject", opts: kubequeue.ListOptions{Continue: base64.RawURLEncoding.EncodeToString([]byte("{}"))}, field: "ListOptions.Continue"},
		{name: "ContinueStdBase64Padding", opts: kubequeue.ListOptions{Continue: base64.StdEncoding.EncodeToString([]byte(`{"n":"xy"}`))}, field: "ListOptions.Continue"},
		{name: "BadNamespace", opts: kubequeue.ListOptions{Namespace: "Bad_NS"}, field: "ListOptions.Namespace"},
		{name: "NamespaceWithDot", opts: kubequeue.ListOptions{Namespace: "a.b"}, field: "ListOptions.Namespace"},
		{name: "WorkerWithSpace", opts: kubequeue.ListOptions{Worker: "has space"}, field: "ListOptions.Worker"},
		{name: "WorkerTooLong", opts: kubequeue.ListOptions{Worker: strings.Repeat("a", 64)}, field: "ListOptions.Worker"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			client, queue := setup(t)
			list, err := queue.List(t.Context(), tt.opts)
			require.ErrorIs(t, err, kubequeue.ErrInvalidOption)
			require.ErrorContains(t, err, tt.field)
			var verr *kubequeue.ValidationError
			require.ErrorAs(t, err, &verr)
			require.Equal(t, tt.field, verr.Field)
			require.Zero(t, list)
			require.Len(t, client.Actions(), 0, "invalid options must be refused before any API call")
		})
	}

	t.Run("AllReported", func(t *testing.T) {
		t.Parallel()
		client, queue := setup(t)
		_, err := queue.List(t.Context(), kubequeue.ListOptions{Namespace: "Bad_NS", Worker: "has space", Limit: -5, Continue: "!!!"})
		require.ErrorIs(t, err, kubequeue.ErrInvalidOption)
		for _, field := range []string{"ListOptions.Namespace", "ListOptions.Worker", "ListOptions.Limit", "ListOptions.Continue"} {
			require.ErrorContains(t, err, field)
		}
		requireNoAPICall(t, client)
	})
}

func TestQueue_List_APIErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		err   error
		check func(error) bool
	}{
		{"Forbidden", apierrors.NewForbidden(schema.GroupResource{Group: "batch", Resource: "jobs"}, "", errors.New("rbac says no")), apierrors.IsForbidden},
		{"InternalError", apierrors.NewInternalError(errors.New("etcd")), apierrors.IsInternalError},
		{"Transport", errTransport, func(err error) bool { return errors.Is(err, errTransport) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			client, queue := setup(t, kubequeue.WithDefaultNamespace("jobs"))
			client.PrependReactor("list", "jobs", func(k8stesting.Action) (bool, runtime.Object, error) {
				return true, nil, tt.err
			})
			list, err := queue.List(t.Context(), kubequeue.ListOptions{Worker: "greet"})
			require.ErrorIs(t, err, tt.err)
			require.True(t, tt.check(err), "error %v lost its API type", err)
			require.ErrorContains(t, err, `kubequeue: list jobs in "jobs"`)
			require.ErrorContains(t, err, "kubequeue.io/worker=greet")
			require.Zero(t, list)
			require.Len(t, client.Actions(), 1, "no retry")
		})
	}
}
