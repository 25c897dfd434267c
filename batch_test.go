package kubequeue_test

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/utils/ptr"

	"github.com/kubequeue/kubequeue"
	"github.com/kubequeue/kubequeue/internal/wire"
	"github.com/kubequeue/kubequeue/kubequeuetest"
)

// greetings returns n greetings, "g0" to "g<n-1>".
func greetings(n int) []greeting {
	out := make([]greeting, n)
	for i := range out {
		out[i] = greeting{Name: fmt.Sprintf("g%d", i)}
	}
	return out
}

// buildBatch builds the batch of worker for items and requires success.
func buildBatch(t *testing.T, worker kubequeue.AnyWorker, items any, opts ...kubequeue.EnqueueOption) *batchv1.Job {
	t.Helper()
	job, err := buildQueue(t).BuildBatch(worker, items, opts...)
	require.NoError(t, err)
	return job
}

func TestQueue_BuildBatch(t *testing.T) {
	t.Parallel()
	job := buildBatch(t, newGreeter(), []greeting{{Name: "a"}, {Name: "b $5"}, {Name: "c\nd"}})

	spec := job.Spec
	require.Equal(t, batchv1.IndexedCompletion, *spec.CompletionMode)
	require.Equal(t, int32(3), *spec.Completions)
	require.Equal(t, int32(3), *spec.Parallelism, "all at once, as three single Jobs would run")
	require.Equal(t, kubequeue.DefaultBackoffLimit, *spec.BackoffLimitPerIndex, "each item retried as a single Job is")
	require.Equal(t, int32(math.MaxInt32), *spec.BackoffLimit, "no limit on the whole batch's failed pods")
	require.Nil(t, spec.MaxFailedIndexes)
	require.Nil(t, spec.SuccessPolicy)
	require.Nil(t, spec.Suspend)
	require.Equal(t, batchv1.PodFailurePolicyActionFailIndex, spec.PodFailurePolicy.Rules[0].Action, "a Permanent error fails its item only")
	require.Equal(t, []int32{kubequeue.ExitPermanent}, spec.PodFailurePolicy.Rules[0].OnExitCodes.Values)
	require.Equal(t, batchv1.PodFailurePolicyActionIgnore, spec.PodFailurePolicy.Rules[1].Action)

	// The items, one a line, '$' escaped as in any payload variable.
	require.Equal(t, "{\"name\":\"a\"}\n{\"name\":\"b \\u00245\"}\n{\"name\":\"c\\nd\"}", envOf(t, job, "KUBEQUEUE_BATCH"))
	require.Len(t, containerOf(t, job).Env, 6, "the worker, the items and the downward API's namespace, Job, pod and failures of the index")
	require.Equal(t, "metadata.annotations['batch.kubernetes.io/job-index-failure-count']", containerOf(t, job).Env[5].ValueFrom.FieldRef.FieldPath)
	require.Equal(t, labelsOf("greet", nil), job.Labels)
	require.Regexp(t, "^greet-[a-z0-9]{10}$", job.Name)
	require.Empty(t, job.Annotations)
}

func TestQueue_BuildBatch_Options(t *testing.T) {
	t.Parallel()
	w := newGreeter(kubequeue.WithParallelism(8), kubequeue.WithMaxFailedItems(2), kubequeue.WithBackoffLimit(5))
	job := buildBatch(t, w, greetings(10))
	require.Equal(t, int32(8), *job.Spec.Parallelism, "the worker's default")
	require.Equal(t, int32(2), *job.Spec.MaxFailedIndexes)
	require.Equal(t, int32(5), *job.Spec.BackoffLimitPerIndex, "WithBackoffLimit is each item's limit")

	rules := []batchv1.SuccessPolicyRule{{SucceededIndexes: ptr.To("0-2,5")}, {SucceededCount: ptr.To[int32](7)}}
	job = buildBatch(t, w, greetings(10),
		kubequeue.WithParallelism(3), kubequeue.WithMaxFailedItems(50), kubequeue.WithBackoffLimit(0),
		kubequeue.WithSuccessPolicy(rules[0]), kubequeue.WithSuccessPolicy(rules[1]),
	)
	require.Equal(t, int32(3), *job.Spec.Parallelism, "the call's")
	require.Equal(t, int32(10), *job.Spec.MaxFailedIndexes, "above the batch's size is the same as its size, which the API server requires")
	require.Equal(t, int32(0), *job.Spec.BackoffLimitPerIndex)
	require.Equal(t, &batchv1.SuccessPolicy{Rules: rules}, job.Spec.SuccessPolicy)

	job = buildBatch(t, newGreeter(kubequeue.WithParallelism(100)), greetings(4))
	require.Equal(t, int32(4), *job.Spec.Parallelism, "never more than the items")

	// FailIndex rules are a batch's.
	failIndex := batchv1.PodFailurePolicyRule{Action: batchv1.PodFailurePolicyActionFailIndex, OnExitCodes: &batchv1.PodFailurePolicyOnExitCodesRequirement{
		Operator: batchv1.PodFailurePolicyOnExitCodesOpIn, Values: []int32{3},
	}}
	job = buildBatch(t, newGreeter(kubequeue.WithPodFailurePolicyRules(failIndex)), greetings(2), kubequeue.WithPodFailurePolicyRules(failIndex))
	require.Len(t, job.Spec.PodFailurePolicy.Rules, 4)
	require.Equal(t, failIndex, job.Spec.PodFailurePolicy.Rules[0])
}

// TestQueue_BuildBatch_Travel: a batch's items stay in the environment
// only while all its pods' copies of them take no more than one payload
// may there; else they travel in a Secret, in one key, stored once.
func TestQueue_BuildBatch_Travel(t *testing.T) {
	t.Parallel()
	// n items of one size: {"name":"xx…"} is 11 bytes plus the name; the
	// joined items n*size + n-1 bytes.
	items := func(n, size int) []greeting {
		out := make([]greeting, n)
		for i := range out {
			out[i] = greeting{Name: strings.Repeat("x", size-11)}
		}
		return out
	}
	// 8 items of 1024 bytes: 8*8199 = 65592 > 65536; of 1023: 8*8191 = 65528.
	require.Equal(t, "KUBEQUEUE_BATCH", containerOf(t, buildBatch(t, newGreeter(), items(8, 1023))).Env[1].Name)
	atLimit := containerOf(t, buildBatch(t, newGreeter(), items(1, kubequeue.MaxEnvPayloadSize))).Env[1]
	require.Equal(t, "KUBEQUEUE_BATCH", atLimit.Name, "a batch of one item has a single payload's limit")

	for name, job := range map[string]*batchv1.Job{
		"Large":     buildBatch(t, newGreeter(), items(8, 1024)),
		"Sensitive": buildBatch(t, newGreeter(), items(2, 20), kubequeue.WithSensitivePayload()),
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			c := containerOf(t, job)
			require.Equal(t, corev1.EnvVar{Name: "KUBEQUEUE_BATCH_FILE", Value: "/var/run/kubequeue/payload/batch.jsonl"}, c.Env[1])
			require.Equal(t, []corev1.VolumeMount{{Name: "kubequeue-payload", MountPath: "/var/run/kubequeue/payload", ReadOnly: true}}, c.VolumeMounts)
			vol := wire.SecretVolumeOf(&job.Spec.Template.Spec)
			require.Equal(t, []corev1.KeyToPath{{Key: "batch.jsonl", Path: "batch.jsonl"}}, vol.Items)
			require.True(t, *job.Spec.Suspend, "created suspended, until its Secret exists")
			require.Equal(t, "true", job.Annotations[kubequeue.AnnotationResume])
		})
	}
}

// TestQueue_BuildBatch_Names: a batch's generated name leaves room for the
// host names "<job>-<index>" of its pods, for any size, and a key names a
// batch apart from a single Job.
func TestQueue_BuildBatch_Names(t *testing.T) {
	t.Parallel()
	longest := strings.Repeat("w", kubequeue.MaxWorkerNameLen)
	w := kubequeue.NewWorker(longest, greet, kubequeue.WithImage(testImage))
	job := buildBatch(t, w, greetings(1))
	require.Len(t, job.Name, 57)
	require.Regexp(t, "^w{46}-[a-z0-9]{10}$", job.Name)
	require.Empty(t, validation.IsDNS1123Label(fmt.Sprintf("%s-%d", job.Name, kubequeue.MaxBatchItems-1)))
	require.Equal(t, longest, job.Labels[kubequeue.LabelWorker], "the label keeps the whole name")

	key := kubequeue.WithUniqueKey("order-42")
	first, second := buildBatch(t, newGreeter(), greetings(1), key), buildBatch(t, newGreeter(), greetings(5), key)
	require.Equal(t, first.Name, second.Name, "the key names the batch, whatever its items")
	require.NotEqual(t, build(t, newGreeter(), greeting{}, key).Name, first.Name, "a single Job of the key is another")

	job = buildBatch(t, newGreeter(), greetings(1000), kubequeue.WithJobName(strings.Repeat("n", 59)))
	require.Equal(t, strings.Repeat("n", 59), job.Name, "59 characters and '-999' fit")
}

// TestQueue_EnqueueBatch_InvalidInput: what the API server or the runtime
// would refuse is refused before any API call, with an error that names
// it.
func TestQueue_EnqueueBatch_InvalidInput(t *testing.T) {
	t.Parallel()
	w := newGreeter()
	failIndex := kubequeue.WithPodFailurePolicyRules(batchv1.PodFailurePolicyRule{Action: batchv1.PodFailurePolicyActionFailIndex, OnExitCodes: &batchv1.PodFailurePolicyOnExitCodesRequirement{
		Operator: batchv1.PodFailurePolicyOnExitCodesOpIn, Values: []int32{3},
	}})
	type call func(q *kubequeue.Queue) error
	batch := func(worker kubequeue.AnyWorker, items any, opts ...kubequeue.EnqueueOption) call {
		return func(q *kubequeue.Queue) error {
			_, err := q.EnqueueBatch(t.Context(), worker, items, opts...)
			return err
		}
	}
	single := func(worker kubequeue.AnyWorker, opts ...kubequeue.EnqueueOption) call {
		return func(q *kubequeue.Queue) error {
			_, err := q.Enqueue(t.Context(), worker, greeting{}, opts...)
			return err
		}
	}
	huge := greetings(2)
	huge[1].Name = strings.Repeat("x", kubequeue.MaxPayloadSize/2)
	huge[0].Name = huge[1].Name
	tests := []struct {
		name     string
		run      call
		sentinel error
		want     string
	}{
		{"NotASlice", batch(w, greeting{}), kubequeue.ErrPayloadType, "takes a batch of []kubequeue_test.greeting, not kubequeue_test.greeting"},
		{"OtherSlice", batch(w, []otherArgs{{ID: 1}}), kubequeue.ErrPayloadType, "not []kubequeue_test.otherArgs"},
		{"SliceOfAny", batch(w, []any{greeting{}}), kubequeue.ErrPayloadType, "not []interface {}"},
		{"Nil", batch(w, nil), kubequeue.ErrPayloadType, "not <nil>"},
		{"NilWorker", batch(nil, greetings(1)), kubequeue.ErrInvalidWorker, "nil worker"},
		{"Empty", batch(w, []greeting{}), kubequeue.ErrEmptyBatch, "at least one item"},
		{"NilSlice", batch(w, []greeting(nil)), kubequeue.ErrEmptyBatch, "at least one item"},
		{"TooMany", batch(w, make([]greeting, kubequeue.MaxBatchItems+1)), kubequeue.ErrPayloadTooLarge, "a batch of 100001 items, more than 100000; split it"},
		{"TooLarge", batch(w, huge), kubequeue.ErrPayloadTooLarge, "the batch's 2 items are 1048599 bytes encoded, more than 1048576; split it"},
		{"ItemNotUTF8", batch(w, []greeting{{}, {}, {Name: "\xff"}}), kubequeue.ErrPayloadEncode, `worker "greet": item 2: kubequeue_test.greeting as JSON`},
		{"Parallelism", batch(w, greetings(2), kubequeue.WithParallelism(0)), kubequeue.ErrInvalidOption, `WithParallelism "0": must be 1 to 100000`},
		{"ParallelismOnWorker", batch(newGreeter(kubequeue.WithParallelism(100001)), greetings(2)), kubequeue.ErrInvalidWorker, `WithParallelism "100001"`},
		{"MaxFailedNegative", batch(w, greetings(2), kubequeue.WithMaxFailedItems(-1)), kubequeue.ErrInvalidOption, `WithMaxFailedItems "-1": must be 0 to 100000`},
		{"JobNameNoRoomForIndex", batch(w, greetings(1000), kubequeue.WithJobName(strings.Repeat("n", 60))), kubequeue.ErrInvalidOption, "host name of its last pod, " + strings.Repeat("n", 60) + "-999, must be a DNS label"},
		{"SuccessPolicyEmptyRule", batch(w, greetings(3), kubequeue.WithSuccessPolicy(batchv1.SuccessPolicyRule{})), kubequeue.ErrInvalidOption, "must set succeededCount, succeededIndexes or both"},
		{"SuccessPolicyCount", batch(w, greetings(3), kubequeue.WithSuccessPolicy(batchv1.SuccessPolicyRule{SucceededCount: ptr.To[int32](4)})), kubequeue.ErrInvalidOption, "must be at most the batch's 3 items"},
		{"SuccessPolicyCountZero", batch(w, greetings(3), kubequeue.WithSuccessPolicy(batchv1.SuccessPolicyRule{SucceededCount: ptr.To[int32](0)})), kubequeue.ErrInvalidOption, "must be at least 1"},
		{"SuccessPolicyCountOfIndexes", batch(w, greetings(9), kubequeue.WithSuccessPolicy(batchv1.SuccessPolicyRule{SucceededIndexes: ptr.To("1,3-4"), SucceededCount: ptr.To[int32](4)})), kubequeue.ErrInvalidOption, "must be at most the 3 indexes of succeededIndexes"},
		{"SuccessPolicyIndexTooHigh", batch(w, greetings(3), kubequeue.WithSuccessPolicy(batchv1.SuccessPolicyRule{SucceededIndexes: ptr.To("0-3")})), kubequeue.ErrInvalidOption, `"0-3": the batch's indexes are 0 to 2`},
		{"SuccessPolicyIndexesUnordered", batch(w, greetings(9), kubequeue.WithSuccessPolicy(batchv1.SuccessPolicyRule{SucceededIndexes: ptr.To("5,2")})), kubequeue.ErrInvalidOption, "increasing order"},
		{"SuccessPolicyRangeOfOne", batch(w, greetings(9), kubequeue.WithSuccessPolicy(batchv1.SuccessPolicyRule{SucceededIndexes: ptr.To("3-3")})), kubequeue.ErrInvalidOption, "a range's first index must be below its last"},
		{"SuccessPolicyNotIndexes", batch(w, greetings(9), kubequeue.WithSuccessPolicy(batchv1.SuccessPolicyRule{SucceededIndexes: ptr.To("1,x")})), kubequeue.ErrInvalidOption, `"x" is neither an index nor a range`},
		{"SuccessPolicyTooManyRules", batch(w, greetings(9), kubequeue.WithSuccessPolicy(make([]batchv1.SuccessPolicyRule, 21)...)), kubequeue.ErrInvalidOption, "21 rules"},
		{"MutatorMakesNonIndexed", batch(w, greetings(2), kubequeue.WithJobMutator(func(j *batchv1.Job) { j.Spec.CompletionMode = nil })), kubequeue.ErrInvalidOption, "must stay 2, Indexed"},
		{"MutatorDropsBatchFile", batch(w, greetings(2), kubequeue.WithSensitivePayload(), kubequeue.WithJobMutator(func(j *batchv1.Job) {
			j.Spec.Template.Spec.Containers[0].Env = j.Spec.Template.Spec.Containers[0].Env[:1]
		})), kubequeue.ErrInvalidOption, "KUBEQUEUE_BATCH_FILE variable"},
		// A single Job has none of a batch's options.
		{"SingleParallelism", single(w, kubequeue.WithParallelism(2)), kubequeue.ErrInvalidOption, "applies to a batch only"},
		{"SingleMaxFailed", single(w, kubequeue.WithMaxFailedItems(2)), kubequeue.ErrInvalidOption, "applies to a batch only"},
		{"SingleSuccessPolicy", single(w, kubequeue.WithSuccessPolicy(batchv1.SuccessPolicyRule{SucceededCount: ptr.To[int32](1)})), kubequeue.ErrInvalidOption, "applies to a batch only"},
		{"SingleWorkerFailIndex", single(newGreeter(failIndex)), kubequeue.ErrInvalidOption, "worker rule 0: FailIndex"},
		{"SingleMutatorMakesIndexed", single(w, kubequeue.WithJobMutator(func(j *batchv1.Job) { j.Spec.CompletionMode = ptr.To(batchv1.IndexedCompletion) })), kubequeue.ErrInvalidOption, "a single Job must stay NonIndexed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			queue, client := fakeQueue(t)
			var err error
			require.NotPanics(t, func() { err = tt.run(queue) })
			require.ErrorIs(t, err, tt.sentinel)
			require.ErrorContains(t, err, tt.want)
			requireNoAPICall(t, client)
		})
	}

	// A worker's own batch options do not stop its single Jobs, which
	// ignore them.
	job := build(t, newGreeter(kubequeue.WithParallelism(5), kubequeue.WithMaxFailedItems(1)), greeting{})
	require.Nil(t, job.Spec.Parallelism)
	require.Nil(t, job.Spec.CompletionMode)
}

func TestQueue_EnqueueBatch(t *testing.T) {
	t.Parallel()
	client, queue := setup(t, kubequeue.WithDefaultNamespace("jobs"))
	_, builder := setup(t, kubequeue.WithDefaultNamespace("jobs"))
	want, err := builder.BuildBatch(newGreeter(), greetings(3))
	require.NoError(t, err)

	h, err := queue.EnqueueBatch(t.Context(), newGreeter(), greetings(3))
	require.NoError(t, err)
	require.Equal(t, kubequeue.Handle{Namespace: "jobs", Name: want.Name, Worker: "greet"}, h)
	require.Equal(t, []string{"create jobs"}, verbs(client), "one Job, one request")
	jobs := listJobs(t, client)
	require.Len(t, jobs, 1)
	require.Equal(t, want.Spec, jobs[0].Spec, "EnqueueBatch creates exactly what BuildBatch returns")
	require.Regexp(t, "^[0-9a-f]{32}$", jobs[0].Annotations[kubequeue.AnnotationEnqueueID])
}

// TestQueue_EnqueueBatch_Secret: a batch in a Secret is written as a
// single payload in one is: the Job suspended, its Secret owned by it,
// then the Job resumed; a failure deletes the Job.
func TestQueue_EnqueueBatch_Secret(t *testing.T) {
	t.Parallel()
	queue, client := fakeQueue(t, kubequeue.WithDefaultNamespace("ns"), kubequeue.WithRetries(2))
	w := newGreeter(kubequeue.WithSensitivePayload())
	items := greetings(3)
	h, err := queue.EnqueueBatch(t.Context(), w, items)
	require.NoError(t, err)
	require.Equal(t, []string{"create jobs", "create secrets", "patch jobs"}, verbs(client))
	requireOneRunningJob(t, client, h)

	secrets, err := client.CoreV1().Secrets("ns").List(t.Context(), metav1.ListOptions{})
	require.NoError(t, err)
	require.Len(t, secrets.Items, 1, "one Secret for the whole batch")
	secret := secrets.Items[0]
	require.Equal(t, map[string][]byte{"batch.jsonl": []byte("{\"name\":\"g0\"}\n{\"name\":\"g1\"}\n{\"name\":\"g2\"}")}, secret.Data)
	require.Equal(t, []metav1.OwnerReference{{APIVersion: "batch/v1", Kind: "Job", Name: h.Name, UID: h.UID}}, secret.OwnerReferences)

	got, err := kubequeuetest.Enqueued(t.Context(), client, w)
	require.NoError(t, err)
	require.Equal(t, items, got, "the test kit reads the items back from the Secret")

	// A refused Secret leaves no Job.
	queue, client = fakeQueue(t, kubequeue.WithDefaultNamespace("ns"), kubequeue.WithRetries(2))
	failAlways(client, "create", "secrets", errSecretsForbidden)
	h, err = queue.EnqueueBatch(t.Context(), w, items)
	require.Zero(t, h)
	require.True(t, apierrors.IsForbidden(err), "%v", err)
	require.ErrorContains(t, err, "(the job was deleted)")
	require.Empty(t, listJobs(t, client))
}

// TestQueue_EnqueueBatch_UniqueKey: the key's batch is created once; a
// second EnqueueBatch of it returns it, finishing it first when it waits
// for its items, and a single Job of the same key is another Job.
func TestQueue_EnqueueBatch_UniqueKey(t *testing.T) {
	t.Parallel()
	key := kubequeue.WithUniqueKey("nightly-2026-03-01")
	s, queue := newAPIServer(t, kubequeue.WithRetries(2))
	w := newGreeter(kubequeue.WithSensitivePayload())

	// The first try leaves the batch waiting for its Secret.
	var outage atomic.Bool
	outage.Store(true)
	failWhile(s.Clientset, "create", "secrets", &outage, errSecretsForbidden)
	failWhile(s.Clientset, "delete", "jobs", &outage, errDown)
	first, err := queue.EnqueueBatch(t.Context(), w, greetings(2), key)
	require.ErrorIs(t, err, kubequeue.ErrMaybeEnqueued)
	outage.Store(false)

	// Its pods are as many as the first call's items: a call with
	// another number of items cannot finish it.
	other, err := queue.EnqueueBatch(t.Context(), w, greetings(3), key)
	require.ErrorIs(t, err, kubequeue.ErrMaybeEnqueued)
	require.ErrorContains(t, err, "waits for the items of the call that created it, 2 of them, and this call has 3")
	require.Equal(t, first.Name, other.Name)
	require.Contains(t, s.job(t, first.Name).Annotations, kubequeue.AnnotationResume, "still waiting")

	items := []greeting{{Name: "again-0"}, {Name: "again-1"}}
	second, err := queue.EnqueueBatch(t.Context(), w, items, key)
	require.NoError(t, err)
	require.Equal(t, first, second, "the batch of the key")
	requireOneRunningJob(t, s.Clientset, second)
	got, err := kubequeuetest.Enqueued(t.Context(), s.Clientset, w)
	require.NoError(t, err)
	require.Equal(t, items, got, "finished with the items of the call that stored them")
	third, err := queue.EnqueueBatch(t.Context(), w, greetings(1), key)
	require.NoError(t, err)
	require.Equal(t, second, third, "once started, the key's batch whatever the items")

	single, err := queue.Enqueue(t.Context(), w, greeting{}, key)
	require.NoError(t, err)
	require.NotEqual(t, second.Name, single.Name)
	require.Len(t, listJobs(t, s.Clientset), 2)
}

// TestQueue_EnqueueBatch_KindsApart: a Job of a unique key is returned
// only to a call of its kind, batch or single, even if their names were
// to meet.
func TestQueue_EnqueueBatch_KindsApart(t *testing.T) {
	t.Parallel()
	queue, client := fakeQueue(t, kubequeue.WithDefaultNamespace("ns"))
	key := kubequeue.WithUniqueKey("k")
	built, err := queue.Build(newGreeter(), greeting{}, key)
	require.NoError(t, err)
	batchName := buildBatch(t, newGreeter(), greetings(1), key).Name
	// A single Job of the same key that took the batch's name.
	built.Name = batchName
	built.Annotations[kubequeue.AnnotationEnqueueID] = "someone-else"
	_, err = client.BatchV1().Jobs("ns").Create(t.Context(), built, metav1.CreateOptions{})
	require.NoError(t, err)

	_, err = queue.EnqueueBatch(t.Context(), newGreeter(), greetings(1), key)
	require.True(t, apierrors.IsAlreadyExists(err), "%v", err)
}

func TestQueue_EnqueueBatch_CreateRefused(t *testing.T) {
	t.Parallel()
	queue, client := fakeQueue(t)
	client.PrependReactor("create", "jobs", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewInvalid(batchv1.SchemeGroupVersion.WithKind("Job").GroupKind(), "x", nil)
	})
	h, err := queue.EnqueueBatch(t.Context(), newGreeter(), greetings(2))
	require.Zero(t, h)
	require.True(t, apierrors.IsInvalid(err), "%v", err)
	require.ErrorContains(t, err, "kubequeue: create job default/greet-")
	require.False(t, errors.Is(err, kubequeue.ErrMaybeEnqueued))
}
