package kubequeuecli_test

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/ptr"

	"github.com/kubequeue/kubequeue"
	"github.com/kubequeue/kubequeue/cmd/kubequeue/kubequeuecli"
	"github.com/kubequeue/kubequeue/kubequeuetest"
)

var update = flag.Bool("update", false, "rewrite the golden files of testdata/ with what the commands print")

// ResizeArgs is the payload of the Resize worker of the tests and
// examples.
type ResizeArgs struct {
	ImageID string `json:"imageID"`
	Width   int    `json:"width,omitempty"`
}

// Resize and SendEmail are the workers of the tests and examples.
var (
	Resize = kubequeue.NewWorker("resize-image", func(context.Context, ResizeArgs) error { return nil },
		kubequeue.WithImage("registry.example.com/shop/api:v1.4.2"))
	SendEmail = kubequeue.NewWorker("send-email", func(context.Context, struct {
		To string `json:"to"`
	}) error {
		return nil
	}, kubequeue.WithImage("registry.example.com/shop/api:v1.4.2"))
)

// epoch is when the fixtures' first Job was created; now is the commands'
// clock.
var (
	epoch = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	now   = epoch.Add(time.Hour)
)

// fixtureClient returns a fake clientset of its own with Jobs in every
// state the tables show, at fixed times, and their pods.
func fixtureClient(t testing.TB) *fake.Clientset {
	t.Helper()
	objects, err := fixtureObjects()
	require.NoError(t, err)
	copies := make([]runtime.Object, len(objects))
	for i, obj := range objects {
		copies[i] = obj.DeepCopyObject()
	}
	return kubequeuetest.NewClientset(copies...)
}

// fixtureObjects makes the fixtures' objects once.
var fixtureObjects = sync.OnceValues(func() (objects []runtime.Object, err error) {
	t := &fixtureT{}
	defer func() {
		if r := recover(); r != nil && r != errFixture {
			panic(r)
		}
		if t.err != nil {
			objects, err = nil, t.err
		}
	}()
	client := makeFixtures(t)
	jobs, err := client.BatchV1().Jobs("").List(context.Background(), metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	for i := range jobs.Items {
		objects = append(objects, &jobs.Items[i])
	}
	pods, err := client.CoreV1().Pods("").List(context.Background(), metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	for i := range pods.Items {
		objects = append(objects, &pods.Items[i])
	}
	secrets, err := client.CoreV1().Secrets("").List(context.Background(), metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	for i := range secrets.Items {
		objects = append(objects, &secrets.Items[i])
	}
	return objects, nil
})

// fixtureT is the require.TestingT of makeFixtures, which runs outside
// any one test.
type fixtureT struct{ err error }

func (f *fixtureT) Errorf(format string, args ...any) {
	if f.err == nil {
		f.err = fmt.Errorf(format, args...)
	}
}

func (f *fixtureT) FailNow() { panic(errFixture) }

var errFixture = errors.New("making the fixtures failed")

// makeFixtures makes the fixtures' objects in a fake clientset.
func makeFixtures(t require.TestingT) *fake.Clientset {
	ctx := context.Background()
	queue, client, err := kubequeuetest.NewQueue()
	require.NoError(t, err)
	enqueue := func(name string, w kubequeue.AnyWorker, payload any, opts ...kubequeue.EnqueueOption) kubequeue.Handle {
		h, err := queue.Enqueue(ctx, w, payload, append(opts, kubequeue.WithJobName(name))...)
		require.NoError(t, err)
		return h
	}
	type times struct{ created, started, finished time.Duration }
	at := map[string]times{}

	h := enqueue("resize-image-done", Resize, ResizeArgs{ImageID: "img-1"})
	require.NoError(t, kubequeuetest.SetSucceeded(ctx, client, h, map[string]int{"bytes": 18324}))
	at[h.Name] = times{0, 2 * time.Second, 47 * time.Second}

	h = enqueue("resize-image-failed", Resize, ResizeArgs{ImageID: "img-2"})
	require.NoError(t, kubequeuetest.SetFailed(ctx, client, h, batchv1.JobReasonBackoffLimitExceeded, kubequeue.ExitRetryable, "resize img-2: decode: unexpected EOF"))
	at[h.Name] = times{5 * time.Minute, 5*time.Minute + time.Second, 9 * time.Minute}

	h = enqueue("send-email-running", SendEmail, struct {
		To string `json:"to"`
	}{To: "a@example.com"})
	at[h.Name] = times{40 * time.Minute, 40*time.Minute + 3*time.Second, 0}
	setActive(t, client, h)

	h = enqueue("send-email-later", SendEmail, struct {
		To string `json:"to"`
	}{To: "b@example.com"}, kubequeue.WithRunAt(time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC)))
	at[h.Name] = times{50 * time.Minute, 0, 0}

	hb, err := queue.EnqueueBatch(ctx, Resize, []ResizeArgs{{ImageID: "a"}, {ImageID: "b"}, {ImageID: "c"}}, kubequeue.WithJobName("resize-image-batch"))
	require.NoError(t, err)
	at[hb.Name] = times{55 * time.Minute, 55 * time.Minute, 0}

	h = enqueue("resize-image-other", Resize, ResizeArgs{ImageID: "img-9"}, kubequeue.WithNamespace("team-b"))
	at[h.Name] = times{58 * time.Minute, 0, 0}

	// Fixed times, as the tracker holds them.
	jobs, err := client.BatchV1().Jobs("").List(ctx, metav1.ListOptions{})
	require.NoError(t, err)
	for i := range jobs.Items {
		job := &jobs.Items[i]
		tm := at[job.Name]
		job.CreationTimestamp = metav1.NewTime(epoch.Add(tm.created))
		if job.Status.StartTime != nil || tm.started != 0 {
			job.Status.StartTime = ptrTime(epoch.Add(tm.started))
		}
		if job.Name == "resize-image-failed" {
			job.Status.Failed = 4 // the pods of the first three attempts are gone
		}
		if job.Status.CompletionTime != nil {
			job.Status.CompletionTime = ptrTime(epoch.Add(tm.finished))
		}
		for j := range job.Status.Conditions {
			job.Status.Conditions[j].LastProbeTime = metav1.NewTime(epoch.Add(tm.finished))
			job.Status.Conditions[j].LastTransitionTime = metav1.NewTime(epoch.Add(tm.finished))
		}
		require.NoError(t, client.Tracker().Update(batchv1.SchemeGroupVersion.WithResource("jobs"), job, job.Namespace))
	}
	return client
}

func ptrTime(t time.Time) *metav1.Time { m := metav1.NewTime(t); return &m }

// setActive makes h's Job run one pod.
func setActive(t require.TestingT, client *fake.Clientset, h kubequeue.Handle) {
	job, err := client.BatchV1().Jobs(h.Namespace).Get(context.Background(), h.Name, metav1.GetOptions{})
	require.NoError(t, err)
	job.Status.Active = 1
	job.Status.Ready = ptr.To[int32](1)
	job.Status.StartTime = ptrTime(epoch)
	require.NoError(t, client.Tracker().Update(batchv1.SchemeGroupVersion.WithResource("jobs"), job, job.Namespace))
}

// run runs the command line args with client and the fixed clock, and
// returns what it printed to standard output and error, and its exit code.
func run(t testing.TB, client *fake.Clientset, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errOut bytes.Buffer
	cmd := kubequeuecli.NewCommand(
		kubequeuecli.WithClientset(kubequeuetest.WithPodLogs(client)),
		kubequeuecli.WithClock(func() time.Time { return now }),
		kubequeuecli.WithWorkers(Resize, SendEmail),
		kubequeuecli.WithIOStreams(genericiooptions.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut}),
	)
	cmd.SetArgs(args)
	code = kubequeuecli.Execute(t.Context(), cmd)
	return out.String(), errOut.String(), code
}

// goldenCase is a command line whose output testdata/name.golden holds.
type goldenCase struct {
	name string
	args []string
}

// runGolden runs each case on the fixtures, requires success and no
// error output, and compares the output with its golden file.
func runGolden(t *testing.T, tests []goldenCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			stdout, stderr, code := run(t, fixtureClient(t), tt.args...)
			require.Equal(t, kubequeuecli.ExitOK, code, stderr)
			require.Empty(t, stderr)
			golden(t, tt.name, stdout)
		})
	}
}

// requireFails runs args with client and requires exit code ExitError,
// nothing on standard output, and an error that contains message on
// standard error.
func requireFails(t *testing.T, client *fake.Clientset, message string, args ...string) {
	t.Helper()
	stdout, stderr, code := run(t, client, args...)
	require.Equal(t, kubequeuecli.ExitError, code)
	require.Empty(t, stdout)
	require.True(t, strings.HasPrefix(stderr, "error: "), stderr)
	require.Contains(t, stderr, message)
}

// golden compares got with testdata/name.golden, or rewrites it with
// -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		require.NoError(t, os.WriteFile(path, []byte(got), 0o644))
		return
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "run go test -update to write it")
	require.Equal(t, string(want), got)
}
