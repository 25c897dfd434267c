package kubequeue_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	utilrand "k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/utils/ptr"

	"github.com/kubequeue/kubequeue"
	"github.com/kubequeue/kubequeue/internal/wire"
	"github.com/kubequeue/kubequeue/kubequeuetest"
)

func TestQueue_Enqueue(t *testing.T) {
	t.Parallel()
	client, queue := setup(t, kubequeue.WithDefaultNamespace("jobs"))
	_, builder := setup(t, kubequeue.WithDefaultNamespace("jobs"))
	w := newGreeter()

	want, err := builder.Build(w, greeting{Name: "Ada"}, kubequeue.WithLabels(map[string]string{"team": "a"}))
	require.NoError(t, err)
	handle, err := queue.Enqueue(t.Context(), w, greeting{Name: "Ada"}, kubequeue.WithLabels(map[string]string{"team": "a"}))
	require.NoError(t, err)

	require.Equal(t, kubequeue.Handle{Namespace: "jobs", Name: want.Name, Worker: "greet"}, handle)
	require.Equal(t, "jobs/"+want.Name, handle.String())
	jobs := listJobs(t, client)
	require.Len(t, jobs, 1)
	// The fake adds managedFields and a resourceVersion, as a server would.
	got := jobs[0]
	require.Equal(t, want.Spec, got.Spec, "Enqueue must create exactly what Build returns")
	require.Equal(t, want.Name, got.Name)
	require.Equal(t, want.Labels, got.Labels)
	// Enqueue adds an ID by which a repeated create finds its Job.
	require.Regexp(t, "^[0-9a-f]{32}$", got.Annotations[kubequeue.AnnotationEnqueueID])
	delete(got.Annotations, kubequeue.AnnotationEnqueueID)
	require.Empty(t, got.Annotations)
	require.Empty(t, want.Annotations)

	actions := client.Actions()
	require.Len(t, actions, 2) // create, list
	create, ok := actions[0].(k8stesting.CreateActionImpl)
	require.True(t, ok)
	require.Equal(t, kubequeue.DefaultFieldManager, create.CreateOptions.FieldManager)
}

func TestQueue_Enqueue_FieldManager(t *testing.T) {
	t.Parallel()
	client, queue := setup(t, kubequeue.WithFieldManager("billing"))
	_, err := queue.Enqueue(t.Context(), newGreeter(), greeting{})
	require.NoError(t, err)
	create := client.Actions()[0].(k8stesting.CreateActionImpl)
	require.Equal(t, "billing", create.CreateOptions.FieldManager)
}

// sensitivity returns the options of an Enqueue whose payload travels in a
// Secret, or none.
func sensitivity(sensitive bool) []kubequeue.EnqueueOption {
	if sensitive {
		return []kubequeue.EnqueueOption{kubequeue.WithSensitivePayload()}
	}
	return nil
}

// storeThenFail makes the first create of a Job store it, and every create
// fail with err, as if each answer were lost.
func storeThenFail(t *testing.T, client *fake.Clientset, err error) {
	var stored atomic.Bool
	client.PrependReactor("create", "jobs", func(action k8stesting.Action) (bool, runtime.Object, error) {
		if !stored.Swap(true) {
			job := action.(k8stesting.CreateAction).GetObject().(*batchv1.Job).DeepCopy()
			job.UID = "uid-of-the-lost-create"
			if err := client.Tracker().Create(action.GetResource(), job, job.Namespace); err != nil {
				return true, nil, err
			}
		}
		return true, nil, err
	})
}

// requireOneRunningJob requires that client holds one Job, h's, and that
// it may run: not suspended, and, for a payload in a Secret, with its
// Secret.
func requireOneRunningJob(t *testing.T, client *fake.Clientset, h kubequeue.Handle) {
	t.Helper()
	jobs := listJobs(t, client)
	require.Len(t, jobs, 1, "one Job")
	job := jobs[0]
	require.Equal(t, h.Name, job.Name)
	require.Equal(t, h.UID, job.UID)
	require.NotEmpty(t, h.UID)
	require.False(t, job.Spec.Suspend != nil && *job.Spec.Suspend, "the Job may start")
	require.NotContains(t, job.Annotations, kubequeue.AnnotationResume, "the Job is not left waiting for its payload")
	if vol := wire.SecretVolumeOf(&job.Spec.Template.Spec); vol != nil {
		secret, err := client.CoreV1().Secrets(job.Namespace).Get(context.Background(), vol.SecretName, metav1.GetOptions{})
		require.NoError(t, err, "the payload Secret exists")
		require.Equal(t, job.UID, secret.OwnerReferences[0].UID)
	}
}

// TestQueue_Enqueue_LostResponse: a create whose response is lost after
// the server stored the Job is tried again, finds the Job by its enqueue ID
// and returns it: one Job, and its handle.
func TestQueue_Enqueue_LostResponse(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"", "order-42"} {
		client, queue := setup(t)
		lost := 1
		client.PrependReactor("create", "jobs", func(action k8stesting.Action) (bool, runtime.Object, error) {
			if lost == 0 {
				return false, nil, nil
			}
			lost--
			job := action.(k8stesting.CreateAction).GetObject().(*batchv1.Job).DeepCopy()
			job.UID = "uid-of-the-first-try"
			require.NoError(t, client.Tracker().Create(action.GetResource(), job, job.Namespace))
			return true, nil, apierrors.NewTimeoutError("response lost", 0)
		})
		var opts []kubequeue.EnqueueOption
		if name != "" {
			opts = append(opts, kubequeue.WithJobName(name))
		}
		h, err := queue.Enqueue(t.Context(), newGreeter(), greeting{}, opts...)
		require.NoError(t, err)
		jobs := listJobs(t, client)
		require.Len(t, jobs, 1, "the retry must not make a second Job")
		require.Equal(t, jobs[0].Name, h.Name)
		require.Equal(t, types.UID("uid-of-the-first-try"), h.UID)
	}

	// A Job of that name that another Enqueue created is not ours.
	client, queue := setup(t)
	_, err := queue.Enqueue(t.Context(), newGreeter(), greeting{}, kubequeue.WithJobName("taken"))
	require.NoError(t, err)
	_, err = queue.Enqueue(t.Context(), newGreeter(), greeting{}, kubequeue.WithJobName("taken"))
	require.True(t, apierrors.IsAlreadyExists(err), "got %v", err)
	require.Len(t, listJobs(t, client), 1)
}

func TestQueue_Enqueue_UniqueKey(t *testing.T) {
	t.Parallel()
	client, queue := setup(t)
	w := newGreeter()
	first, err := queue.Enqueue(t.Context(), w, greeting{Name: "a"}, kubequeue.WithUniqueKey("order-42"))
	require.NoError(t, err)
	again, err := queue.Enqueue(t.Context(), w, greeting{Name: "b"}, kubequeue.WithUniqueKey("order-42"))
	require.NoError(t, err)
	require.Equal(t, first, again, "the same key returns the existing Job")
	other, err := queue.Enqueue(t.Context(), w, greeting{Name: "c"}, kubequeue.WithUniqueKey("order-43"))
	require.NoError(t, err)
	require.NotEqual(t, first.Name, other.Name)

	jobs := listJobs(t, client)
	require.Len(t, jobs, 2)
	for _, j := range jobs {
		require.Regexp(t, "^[0-9a-f]{64}$", j.Annotations[kubequeue.AnnotationUniqueKey])
		require.NotContains(t, j.Annotations[kubequeue.AnnotationUniqueKey], "order", "the key itself is not stored")
	}

	// Another process, of this release or another, derives the same name
	// from the same key: the name and the key's hash are fixed values.
	_, elsewhere := setup(t, kubequeue.WithRandSource(rand.NewPCG(7, 7)))
	built, err := elsewhere.Build(w, greeting{}, kubequeue.WithUniqueKey("order-42"))
	require.NoError(t, err)
	require.Equal(t, first.Name, built.Name)
	require.Equal(t, "greet-wwrs6fbsjg", built.Name)
	require.Equal(t, "3bf8b157c4238eefe5ae4a66eca81c6b887d4dcedb58dd674271859f4dc2edfd", built.Annotations[kubequeue.AnnotationUniqueKey])

	// A Job of that name without the key's hash is not returned.
	require.NoError(t, client.BatchV1().Jobs(first.Namespace).Delete(t.Context(), first.Name, metav1.DeleteOptions{}))
	_, err = queue.Enqueue(t.Context(), w, greeting{}, kubequeue.WithJobName(first.Name))
	require.NoError(t, err)
	_, err = queue.Enqueue(t.Context(), w, greeting{}, kubequeue.WithUniqueKey("order-42"))
	require.True(t, apierrors.IsAlreadyExists(err), "got %v", err)
}

func TestQueue_Enqueue_InvalidInputMakesNoCall(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		job     kubequeue.AnyWorker
		payload any
		opts    []kubequeue.EnqueueOption
		want    error
	}{
		{"InvalidWorker", kubequeue.NewWorker("Bad_Name", greet, kubequeue.WithImage("app")), greeting{}, nil, kubequeue.ErrInvalidWorker},
		{"NilJob", nil, greeting{}, nil, kubequeue.ErrInvalidWorker},
		{"NilWorker", (*kubequeue.Worker[greeting])(nil), greeting{}, nil, kubequeue.ErrInvalidWorker},
		{"PayloadType", newGreeter(), "Ada", nil, kubequeue.ErrPayloadType},
		{"PayloadTooLarge", newGreeter(), greeting{Name: string(make([]byte, kubequeue.MaxPayloadSize))}, nil, kubequeue.ErrPayloadTooLarge},
		{"InvalidOption", newGreeter(), greeting{}, []kubequeue.EnqueueOption{kubequeue.WithJobName("UPPER")}, kubequeue.ErrInvalidOption},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			client, queue := setup(t)
			_, err := queue.Enqueue(t.Context(), tt.job, tt.payload, tt.opts...)
			require.ErrorIs(t, err, tt.want)
			requireNoAPICall(t, client)
		})
	}
}

func TestQueue_Enqueue_JobName(t *testing.T) {
	t.Parallel()
	client, queue := setup(t)
	handle, err := queue.Enqueue(t.Context(), newGreeter(), greeting{}, kubequeue.WithJobName("nightly-report"))
	require.NoError(t, err)
	require.Equal(t, "nightly-report", handle.Name)

	_, err = queue.Enqueue(t.Context(), newGreeter(), greeting{}, kubequeue.WithJobName("nightly-report"))
	require.True(t, apierrors.IsAlreadyExists(err), "got %v", err)
	require.Len(t, listJobs(t, client), 1)
}

// BenchmarkEnqueue compares Enqueue with building the same Job by hand and
// creating it with client-go, both on the fake clientset. The fake's object
// tracker dominates both sides; the difference is kubequeue's own cost.
func BenchmarkEnqueue(b *testing.B) {
	w := newGreeter(kubequeue.WithCPU("100m", "500m"), kubequeue.WithMemory("64Mi", "256Mi"))
	b.Run("kubequeue", func(b *testing.B) {
		queue := newQueue(b, fake.NewClientset())
		b.ReportAllocs()
		for b.Loop() {
			if _, err := queue.Enqueue(b.Context(), w, greeting{Name: "Ada"}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("clientgo", func(b *testing.B) {
		client := fake.NewClientset()
		// The same Job as a client-go user would write it; only the name
		// changes per iteration.
		template, err := buildQueue(b).Build(w, greeting{Name: "Ada"})
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			job := template.DeepCopy()
			job.Name = "greet-" + utilrand.String(10)
			if _, err := client.BatchV1().Jobs(job.Namespace).Create(b.Context(), job, metav1.CreateOptions{FieldManager: "kubequeue"}); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// secretSetup returns a queue on a fake clientset that gives objects UIDs,
// and a worker whose payloads are sensitive.
func secretSetup(t *testing.T) (*fake.Clientset, *kubequeue.Queue, *kubequeue.Worker[greeting]) {
	t.Helper()
	queue, client := fakeQueue(t, kubequeue.WithDefaultNamespace("ns"), kubequeue.WithRetries(2))
	return client, queue, newGreeter(kubequeue.WithSensitivePayload())
}

func TestQueue_Enqueue_SensitivePayload(t *testing.T) {
	t.Parallel()
	client, queue, w := secretSetup(t)
	h, err := queue.Enqueue(t.Context(), w, greeting{Name: "s3cr3t-p4ss"})
	require.NoError(t, err)

	var verbs []string
	for _, a := range client.Actions() {
		verbs = append(verbs, a.GetVerb()+" "+a.GetResource().Resource)
	}
	require.Equal(t, []string{"create jobs", "create secrets", "patch jobs"}, verbs, "the Job suspended, its Secret, then the Job resumed")
	created := client.Actions()[0].(k8stesting.CreateAction).GetObject().(*batchv1.Job)
	require.True(t, *created.Spec.Suspend)

	job, err := client.BatchV1().Jobs("ns").Get(t.Context(), h.Name, metav1.GetOptions{})
	require.NoError(t, err)
	require.False(t, *job.Spec.Suspend, "resumed")
	data, err := json.Marshal(job)
	require.NoError(t, err)
	require.NotContains(t, string(data), "s3cr3t-p4ss", "the payload is in no Job")

	secrets, err := client.CoreV1().Secrets("ns").List(t.Context(), metav1.ListOptions{})
	require.NoError(t, err)
	require.Len(t, secrets.Items, 1)
	secret := secrets.Items[0]
	require.Regexp(t, "^"+h.Name+"-[0-9a-f]{8}$", secret.Name, "named after the Job and this Enqueue")
	require.Equal(t, secret.Name, job.Spec.Template.Spec.Volumes[0].Secret.SecretName)
	require.Equal(t, `{"name":"s3cr3t-p4ss"}`, string(secret.Data["payload.json"]))
	require.Equal(t, []metav1.OwnerReference{{APIVersion: "batch/v1", Kind: "Job", Name: h.Name, UID: h.UID}}, secret.OwnerReferences)
	require.True(t, *secret.Immutable)

	// The test kit reads it back, and performs it, as the container would.
	got, err := kubequeuetest.Enqueued(t.Context(), client, w)
	require.NoError(t, err)
	require.Equal(t, []greeting{{Name: "s3cr3t-p4ss"}}, got)
	require.NoError(t, kubequeuetest.PerformEnqueued(t.Context(), client, w))
	_, err = kubequeuetest.Perform(t.Context(), w, greeting{Name: "x"})
	require.NoError(t, err)
}

func TestQueue_Enqueue_SensitivePayloadFailures(t *testing.T) {
	t.Parallel()
	forbidden := apierrors.NewForbidden(schema.GroupResource{Resource: "secrets"}, "", errors.New("rbac says no"))
	tests := []struct {
		name     string
		verb     string
		resource string
	}{
		{"SecretRefused", "create", "secrets"},
		{"ResumeRefused", "patch", "jobs"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			client, queue, w := secretSetup(t)
			client.PrependReactor(tt.verb, tt.resource, func(k8stesting.Action) (bool, runtime.Object, error) {
				return true, nil, forbidden
			})
			h, err := queue.Enqueue(t.Context(), w, greeting{Name: "x"})
			require.Zero(t, h)
			require.True(t, apierrors.IsForbidden(err), "%v", err)
			require.ErrorContains(t, err, "(the job was deleted)")
			require.Empty(t, listJobs(t, client), "no Job is left without its payload")
			var deletes []k8stesting.DeleteAction
			for _, a := range client.Actions() {
				if d, ok := a.(k8stesting.DeleteAction); ok {
					deletes = append(deletes, d)
				}
			}
			require.Len(t, deletes, 1)
			require.Equal(t, "jobs", deletes[0].GetResource().Resource)
			require.NotNil(t, deletes[0].GetDeleteOptions().Preconditions.UID, "only the Job this Enqueue created")
			// The fake has no garbage collector: a Secret, if any was made,
			// is owned by the deleted Job (see the integration tests).
		})
	}

	// A refused Job create creates no Secret.
	client, queue, w := secretSetup(t)
	client.PrependReactor("create", "jobs", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(schema.GroupResource{Group: "batch", Resource: "jobs"}, "", errors.New("no"))
	})
	_, err := queue.Enqueue(t.Context(), w, greeting{Name: "x"})
	require.True(t, apierrors.IsForbidden(err), "%v", err)
	require.Len(t, client.Actions(), 1, "the create of the Job, nothing more")

	// A mutator that suspends the Job keeps it suspended; the annotation
	// that said the Job waits for its payload goes.
	client, queue, w = secretSetup(t)
	_, err = queue.Enqueue(t.Context(), w, greeting{}, kubequeue.WithJobMutator(func(j *batchv1.Job) { j.Spec.Suspend = ptr.To(true) }))
	require.NoError(t, err)
	job := listJobs(t, client)[0]
	require.True(t, *job.Spec.Suspend)
	require.NotContains(t, job.Annotations, kubequeue.AnnotationResume)
	patch := client.Actions()[2].(k8stesting.PatchAction)
	require.JSONEq(t, fmt.Sprintf(`{"metadata":{"uid":%q,"annotations":{%q:null}}}`, job.UID, kubequeue.AnnotationResume), string(patch.GetPatch()))
}

// apiServer is a fake clientset that acts on Jobs as an API server does
// where Enqueue depends on it, which client-go's fake does not: every write
// gives the Job a new resourceVersion, and a delete whose UID or
// resourceVersion precondition does not hold is refused with a Conflict.
type apiServer struct {
	*fake.Clientset
	rv atomic.Int64
}

var jobsGVR = batchv1.SchemeGroupVersion.WithResource("jobs")

// newAPIServer returns an apiServer and a queue on it that does not wait
// between tries.
func newAPIServer(t testing.TB, opts ...kubequeue.QueueOption) (*apiServer, *kubequeue.Queue) {
	s := &apiServer{Clientset: kubequeuetest.NewClientset()}
	s.PrependReactor("*", "jobs", s.react)
	opts = append([]kubequeue.QueueOption{kubequeue.WithDefaultNamespace("ns"), kubequeue.WithSleep(noSleep)}, opts...)
	return s, newQueue(t, s, opts...)
}

// react performs a write to a Job as the API server would; a test's
// reactor may call it to let a request take effect and then lose its
// answer.
func (s *apiServer) react(action k8stesting.Action) (bool, runtime.Object, error) {
	tracker := s.Tracker()
	switch a := action.(type) {
	case k8stesting.CreateActionImpl:
		job := a.GetObject().(*batchv1.Job).DeepCopy()
		if job.UID == "" {
			job.UID = types.UID(fmt.Sprintf("uid-%d", s.rv.Add(1)))
		}
		job.ResourceVersion = strconv.FormatInt(s.rv.Add(1), 10)
		if err := tracker.Create(jobsGVR, job, a.GetNamespace()); err != nil {
			return true, nil, err
		}
		return true, job, nil
	case k8stesting.PatchActionImpl:
		_, obj, err := k8stesting.ObjectReaction(tracker)(a)
		if err != nil {
			return true, nil, err
		}
		job := obj.(*batchv1.Job)
		job.ResourceVersion = strconv.FormatInt(s.rv.Add(1), 10)
		if err := tracker.Update(jobsGVR, job, a.GetNamespace()); err != nil {
			return true, nil, err
		}
		return true, job, nil
	case k8stesting.DeleteActionImpl:
		pre := a.DeleteOptions.Preconditions
		if pre == nil {
			return false, nil, nil
		}
		obj, err := tracker.Get(jobsGVR, a.GetNamespace(), a.GetName())
		if err != nil {
			return true, nil, err
		}
		job := obj.(*batchv1.Job)
		if (pre.UID != nil && *pre.UID != job.UID) || (pre.ResourceVersion != nil && *pre.ResourceVersion != job.ResourceVersion) {
			return true, nil, apierrors.NewConflict(clJobsResource, job.Name, errors.New("precondition failed"))
		}
	}
	return false, nil, nil
}

// job returns the Job named name in namespace ns.
func (s *apiServer) job(t *testing.T, name string) *batchv1.Job {
	t.Helper()
	job, err := s.BatchV1().Jobs("ns").Get(context.Background(), name, metav1.GetOptions{})
	require.NoError(t, err)
	return job
}

// failAlways makes every call of verb on resource fail with err.
func failAlways(client *fake.Clientset, verb, resource string, err error) {
	client.PrependReactor(verb, resource, func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, err
	})
}

// failTimes makes the next n calls of verb on resource fail with err.
func failTimes(client *fake.Clientset, verb, resource string, n int, err error) {
	var calls atomic.Int64
	client.PrependReactor(verb, resource, func(k8stesting.Action) (bool, runtime.Object, error) {
		if calls.Add(1) > int64(n) {
			return false, nil, nil
		}
		return true, nil, err
	})
}

// failWhile makes every call of verb on resource fail with err while on
// holds.
func failWhile(client *fake.Clientset, verb, resource string, on *atomic.Bool, err error) {
	client.PrependReactor(verb, resource, func(k8stesting.Action) (bool, runtime.Object, error) {
		return on.Load(), nil, err
	})
}

// deletes returns the deletes of Jobs client saw.
func deletes(client *fake.Clientset) []k8stesting.DeleteActionImpl {
	var out []k8stesting.DeleteActionImpl
	for _, a := range client.Actions() {
		if d, ok := a.(k8stesting.DeleteActionImpl); ok && d.GetResource().Resource == "jobs" {
			out = append(out, d)
		}
	}
	return out
}

var (
	errSecretsForbidden = apierrors.NewForbidden(schema.GroupResource{Resource: "secrets"}, "", errors.New("rbac says no"))
	errBusy             = apierrors.NewTooManyRequests("slow down", 0)
	errDown             = apierrors.NewServiceUnavailable("the API server is restarting")
	errAnswerLost       = postErr(errors.New("http2: client connection lost"))
)

// TestQueue_Enqueue_Undo: a Job whose payload Secret could not be stored
// is deleted, the delete tried again like any request; when even that
// fails, the error says the Job may exist and names it.
func TestQueue_Enqueue_Undo(t *testing.T) {
	t.Parallel()
	w := newGreeter(kubequeue.WithSensitivePayload())

	t.Run("DeleteBusyOnce", func(t *testing.T) {
		t.Parallel()
		s, queue := newAPIServer(t)
		failAlways(s.Clientset, "create", "secrets", errSecretsForbidden)
		failTimes(s.Clientset, "delete", "jobs", 1, errBusy)
		h, err := queue.Enqueue(t.Context(), w, greeting{Name: "x"})
		require.Zero(t, h)
		require.True(t, apierrors.IsForbidden(err), "%v", err)
		require.ErrorContains(t, err, "(the job was deleted)")
		require.NotErrorIs(t, err, kubequeue.ErrMaybeEnqueued)
		require.Empty(t, listJobs(t, s.Clientset))
		require.Len(t, deletes(s.Clientset), 2, "the delete answered 429 is tried again")
	})

	t.Run("DeleteFails", func(t *testing.T) {
		t.Parallel()
		s, queue := newAPIServer(t, kubequeue.WithRetries(3))
		failAlways(s.Clientset, "create", "secrets", errSecretsForbidden)
		failAlways(s.Clientset, "delete", "jobs", errDown)
		h, err := queue.Enqueue(t.Context(), w, greeting{Name: "x"})
		require.ErrorIs(t, err, kubequeue.ErrMaybeEnqueued)
		require.True(t, apierrors.IsForbidden(err), "the cause is kept: %v", err)
		require.ErrorIs(t, err, errDown)
		require.Len(t, deletes(s.Clientset), 3, "tried as often as any request")
		job := s.job(t, h.Name)
		require.Equal(t, job.UID, h.UID, "the handle names the Job left")
		require.Equal(t, "greet", h.Worker)
		require.True(t, *job.Spec.Suspend, "it never started")
	})
}

// TestQueue_Enqueue_FinishesPendingJob: a Job of a unique key that an
// earlier Enqueue left waiting for its payload (its Secret refused and its
// delete failed, or its create's answer lost and the look-up failed) is
// finished by the next Enqueue of the key, which stores its own payload
// and starts it: no Job of a key is left that neither runs nor goes away.
func TestQueue_Enqueue_FinishesPendingJob(t *testing.T) {
	t.Parallel()
	sensitive := newGreeter(kubequeue.WithSensitivePayload())
	key := kubequeue.WithUniqueKey("order-42")
	// Each leaves a pending Job while outage holds.
	leave := map[string]func(t *testing.T, s *apiServer, queue *kubequeue.Queue, outage *atomic.Bool) kubequeue.Handle{
		"SecretRefusedDeleteFailed": func(t *testing.T, s *apiServer, queue *kubequeue.Queue, outage *atomic.Bool) kubequeue.Handle {
			failWhile(s.Clientset, "create", "secrets", outage, errSecretsForbidden)
			failWhile(s.Clientset, "delete", "jobs", outage, errDown)
			h, err := queue.Enqueue(t.Context(), sensitive, greeting{Name: "first"}, key)
			require.ErrorIs(t, err, kubequeue.ErrMaybeEnqueued)
			return h
		},
		"CreateLostLookupFailed": func(t *testing.T, s *apiServer, queue *kubequeue.Queue, outage *atomic.Bool) kubequeue.Handle {
			var stored atomic.Bool
			s.PrependReactor("create", "jobs", func(action k8stesting.Action) (bool, runtime.Object, error) {
				if !outage.Load() {
					return false, nil, nil
				}
				if !stored.Swap(true) {
					s.react(action)
				}
				return true, nil, errAnswerLost
			})
			failWhile(s.Clientset, "get", "jobs", outage, errDown)
			h, err := queue.Enqueue(t.Context(), sensitive, greeting{Name: "first"}, key)
			require.ErrorIs(t, err, kubequeue.ErrMaybeEnqueued)
			return h
		},
	}
	for name, leave := range leave {
		for _, second := range []*kubequeue.Worker[greeting]{sensitive, newGreeter()} {
			t.Run(name+"/"+map[bool]string{true: "Secret", false: "Env"}[second == sensitive], func(t *testing.T) {
				t.Parallel()
				s, queue := newAPIServer(t, kubequeue.WithRetries(3))
				var outage atomic.Bool
				outage.Store(true)
				left := leave(t, s, queue, &outage)
				outage.Store(false)
				job := s.job(t, left.Name)
				require.True(t, *job.Spec.Suspend)
				require.Contains(t, job.Annotations, kubequeue.AnnotationResume, "waiting for its payload")

				// The API server works again; the next Enqueue of the key
				// finishes the Job with its own payload.
				h, err := queue.Enqueue(t.Context(), second, greeting{Name: "second"}, key)
				require.NoError(t, err)
				require.Equal(t, job.UID, h.UID, "the Job of the key")
				requireOneRunningJob(t, s.Clientset, h)
				got, err := kubequeuetest.Enqueued(t.Context(), s.Clientset, sensitive)
				require.NoError(t, err)
				require.Equal(t, []greeting{{Name: "second"}}, got)
			})
		}
	}
}

// TestQueue_Enqueue_NeverDeletesStartedJob: when the resume's answer is
// lost, Enqueue never deletes the Job, which may run: a delete conditional
// on the Job not having changed is refused, and Enqueue returns the Job if
// it can read it, or an error that says it may exist and run.
func TestQueue_Enqueue_NeverDeletesStartedJob(t *testing.T) {
	t.Parallel()
	w := newGreeter(kubequeue.WithSensitivePayload())
	resumeThenLose := func(s *apiServer) {
		s.PrependReactor("patch", "jobs", func(action k8stesting.Action) (bool, runtime.Object, error) {
			s.react(action)
			return true, nil, errAnswerLost
		})
	}

	t.Run("JobReadable", func(t *testing.T) {
		t.Parallel()
		s, queue := newAPIServer(t, kubequeue.WithRetries(3))
		resumeThenLose(s)
		h, err := queue.Enqueue(t.Context(), w, greeting{Name: "x"})
		require.NoError(t, err, "the Job was resumed: it runs, and is Enqueue's")
		requireOneRunningJob(t, s.Clientset, h)
	})

	t.Run("JobUnreadable", func(t *testing.T) {
		t.Parallel()
		s, queue := newAPIServer(t, kubequeue.WithRetries(3))
		resumeThenLose(s)
		failAlways(s.Clientset, "get", "jobs", errDown)
		h, err := queue.Enqueue(t.Context(), w, greeting{Name: "x"})
		require.ErrorIs(t, err, kubequeue.ErrMaybeEnqueued, "it may run: not reported as not enqueued")
		require.ErrorIs(t, err, errAnswerLost)
		requireOneRunningJob(t, s.Clientset, h)
		for _, d := range deletes(s.Clientset) {
			require.NotNil(t, d.DeleteOptions.Preconditions.ResourceVersion, "conditional on the Job as last seen")
		}
	})

	// Another Enqueue of the same key finishes the Job while this one,
	// its Secret refused, is deleting it: the Job runs, and is returned,
	// not deleted. The other Enqueue runs while this one waits to try its
	// delete again.
	t.Run("FinishedByAnother", func(t *testing.T) {
		t.Parallel()
		s, other := newAPIServer(t)
		key := kubequeue.WithUniqueKey("order-42")
		s.PrependReactor("create", "secrets", func(action k8stesting.Action) (bool, runtime.Object, error) {
			if string(action.(k8stesting.CreateAction).GetObject().(*corev1.Secret).Data["payload.json"]) == `{"name":"this"}` {
				return true, nil, errSecretsForbidden // this Enqueue's only
			}
			return false, nil, nil
		})
		failTimes(s.Clientset, "delete", "jobs", 1, errBusy)
		var otherErr error
		queue := newQueue(t, s.Clientset, kubequeue.WithDefaultNamespace("ns"), kubequeue.WithSleep(func(ctx context.Context, _ time.Duration) error {
			_, otherErr = other.Enqueue(ctx, w, greeting{Name: "other"}, key)
			return nil
		}))
		h, err := queue.Enqueue(t.Context(), w, greeting{Name: "this"}, key)
		require.NoError(t, otherErr)
		require.NoError(t, err, "the Job of the key runs")
		requireOneRunningJob(t, s.Clientset, h)
		got, err := kubequeuetest.Enqueued(t.Context(), s.Clientset, w)
		require.NoError(t, err)
		require.Equal(t, []greeting{{Name: "other"}}, got)
	})
}

// TestQueue_Enqueue_UniqueKeyOverlap: two Enqueues of a key whose payload
// travels in a Secret overlap: the second finds the Job waiting for its
// payload and finishes it with its own; the first then finds the Secret
// there and starts the Job too. Both return the one Job, which runs with
// the payload of the call that stored its Secret first.
func TestQueue_Enqueue_UniqueKeyOverlap(t *testing.T) {
	t.Parallel()
	w := newGreeter(kubequeue.WithSensitivePayload())
	key := kubequeue.WithUniqueKey("order-42")
	s, second := newAPIServer(t)
	failTimes(s.Clientset, "create", "secrets", 1, errDown)
	var h2 kubequeue.Handle
	var err2 error
	first := newQueue(t, s.Clientset, kubequeue.WithDefaultNamespace("ns"), kubequeue.WithSleep(func(ctx context.Context, _ time.Duration) error {
		h2, err2 = second.Enqueue(ctx, w, greeting{Name: "second"}, key)
		return nil
	}))
	h1, err := first.Enqueue(t.Context(), w, greeting{Name: "first"}, key)
	require.NoError(t, err)
	require.NoError(t, err2)
	require.Equal(t, h1, h2)
	requireOneRunningJob(t, s.Clientset, h1)
	got, err := kubequeuetest.Enqueued(t.Context(), s.Clientset, w)
	require.NoError(t, err)
	require.Equal(t, []greeting{{Name: "second"}}, got)
}

// TestQueue_Enqueue_UniqueKeyUserSuspended: a Job of a unique key with its
// payload in a Secret that its user suspended after Enqueue started it is
// returned by the next Enqueue of the key, and stays suspended.
func TestQueue_Enqueue_UniqueKeyUserSuspended(t *testing.T) {
	t.Parallel()
	for _, sensitive := range []bool{false, true} {
		t.Run(map[bool]string{false: "Env", true: "Secret"}[sensitive], func(t *testing.T) {
			t.Parallel()
			s, queue := newAPIServer(t)
			opts := append(sensitivity(sensitive), kubequeue.WithUniqueKey("order-42"))
			first, err := queue.Enqueue(t.Context(), newGreeter(), greeting{Name: "a"}, opts...)
			require.NoError(t, err)
			require.NotContains(t, s.job(t, first.Name).Annotations, kubequeue.AnnotationResume, "removed once started")
			require.NoError(t, queue.Suspend(t.Context(), first))
			again, err := queue.Enqueue(t.Context(), newGreeter(), greeting{Name: "b"}, opts...)
			require.NoError(t, err)
			require.Equal(t, first, again)
			require.True(t, *s.job(t, first.Name).Spec.Suspend, "the user's suspension stands")
		})
	}
}

// TestQueue_Enqueue_UniqueKeyBeingDeleted: a Job of the key that is being
// deleted is not returned.
func TestQueue_Enqueue_UniqueKeyBeingDeleted(t *testing.T) {
	t.Parallel()
	s, queue := newAPIServer(t)
	h, err := queue.Enqueue(t.Context(), newGreeter(), greeting{}, kubequeue.WithUniqueKey("order-42"))
	require.NoError(t, err)
	job := s.job(t, h.Name)
	job.DeletionTimestamp = ptr.To(metav1.Now())
	require.NoError(t, s.Tracker().Update(jobsGVR, job, "ns"))
	_, err = queue.Enqueue(t.Context(), newGreeter(), greeting{}, kubequeue.WithUniqueKey("order-42"))
	require.True(t, apierrors.IsAlreadyExists(err), "%v", err)
	require.ErrorContains(t, err, "being deleted")
}

// TestQueue_Enqueue_Context: an Enqueue whose context has ended makes no
// API call; a create cut short by the context is looked up, since the
// server may have stored it.
func TestQueue_Enqueue_Context(t *testing.T) {
	t.Parallel()

	t.Run("EndedBefore", func(t *testing.T) {
		t.Parallel()
		client, queue := setup(t)
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		h, err := queue.Enqueue(ctx, newGreeter(), greeting{})
		require.ErrorIs(t, err, context.Canceled)
		require.Zero(t, h)
		requireNoAPICall(t, client)
	})

	for _, sensitive := range []bool{false, true} {
		t.Run("EndsDuringCreate/"+map[bool]string{false: "Env", true: "Secret"}[sensitive], func(t *testing.T) {
			t.Parallel()
			s, queue := newAPIServer(t)
			ctx, cancel := context.WithCancel(t.Context())
			s.PrependReactor("create", "jobs", func(action k8stesting.Action) (bool, runtime.Object, error) {
				s.react(action) // stored, as the caller gives up
				cancel()
				return true, nil, postErr(context.Canceled)
			})
			h, err := queue.Enqueue(ctx, newGreeter(), greeting{Name: "x"}, sensitivity(sensitive)...)
			if !sensitive {
				require.NoError(t, err, "the Job exists and may run: it is the caller's")
				requireOneRunningJob(t, s.Clientset, h)
				return
			}
			// Its payload cannot be stored any more: the Job, which never
			// started, is deleted.
			require.ErrorIs(t, err, context.Canceled)
			require.ErrorContains(t, err, "(the job was deleted)")
			require.Zero(t, h)
			require.Empty(t, listJobs(t, s.Clientset))
		})
	}
}

// TestQueue_Enqueue_AnswersLost covers the remaining answers that come back
// wrong or not at all between the Job's create and its resume.
func TestQueue_Enqueue_AnswersLost(t *testing.T) {
	t.Parallel()

	t.Run("GetAfterAlreadyExistsFails", func(t *testing.T) {
		t.Parallel()
		queue, client := fakeQueue(t, kubequeue.WithRetries(2), kubequeue.WithSleep(noSleep))
		failAlways(client, "create", "jobs", apierrors.NewAlreadyExists(clJobsResource, "x"))
		failAlways(client, "get", "jobs", errDown)
		_, err := queue.Enqueue(t.Context(), newGreeter(), greeting{})
		require.True(t, apierrors.IsServiceUnavailable(err), "%v", err)
		require.False(t, apierrors.IsAlreadyExists(err), "the Job may be the caller's: not reported as taken")
	})

	t.Run("SecretAnswerLost", func(t *testing.T) {
		t.Parallel()
		queue, client := fakeQueue(t, kubequeue.WithRetries(3), kubequeue.WithSleep(noSleep))
		var lost atomic.Bool
		client.PrependReactor("create", "secrets", func(action k8stesting.Action) (bool, runtime.Object, error) {
			if lost.Swap(true) {
				return false, nil, nil // the fake answers AlreadyExists
			}
			obj := action.(k8stesting.CreateAction).GetObject()
			require.NoError(t, client.Tracker().Create(action.GetResource(), obj, action.GetNamespace()))
			return true, nil, errAnswerLost
		})
		w := newGreeter(kubequeue.WithSensitivePayload())
		h, err := queue.Enqueue(t.Context(), w, greeting{Name: "x"})
		require.NoError(t, err, "the Secret of this Enqueue's name is its own")
		requireOneRunningJob(t, client, h)
		got, err := kubequeuetest.Enqueued(t.Context(), client, w)
		require.NoError(t, err)
		require.Equal(t, []greeting{{Name: "x"}}, got)
	})

	t.Run("JobDeletedBeforeResume", func(t *testing.T) {
		t.Parallel()
		s, queue := newAPIServer(t)
		failAlways(s.Clientset, "patch", "jobs", apierrors.NewNotFound(clJobsResource, "x"))
		h, err := queue.Enqueue(t.Context(), newGreeter(kubequeue.WithSensitivePayload()), greeting{})
		require.Zero(t, h)
		require.True(t, apierrors.IsNotFound(err), "%v", err)
		require.ErrorContains(t, err, "deleted before it started")
		require.NotErrorIs(t, err, kubequeue.ErrMaybeEnqueued)
		require.Empty(t, deletes(s.Clientset), "nothing to undo")
	})
}
