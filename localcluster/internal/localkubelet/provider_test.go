package localkubelet

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/virtual-kubelet/virtual-kubelet/errdefs"
	"github.com/virtual-kubelet/virtual-kubelet/node/api"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	corev1listers "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"
)

// testKubelet is a provider with in-memory listers and a recorder of the
// statuses it pushes.
type testKubelet struct {
	*provider
	store cache.Indexer // pods, secrets and configmaps

	mu       sync.Mutex
	pushed   []*corev1.Pod
	changed  chan struct{}
	exeImage string
}

func newTestKubelet(t *testing.T) *testKubelet {
	t.Helper()
	store := cache.NewIndexer(func(obj any) (string, error) {
		key, err := cache.MetaNamespaceKeyFunc(obj)
		switch obj.(type) {
		case *corev1.Secret:
			key = "secret/" + key
		case *corev1.ConfigMap:
			key = "configmap/" + key
		}
		return key, err
	}, cache.Indexers{})
	tk := &testKubelet{store: store, changed: make(chan struct{}, 1)}
	dir := t.TempDir()
	tk.provider = &provider{
		nodeName:       "local",
		dir:            dir,
		images:         new(Images),
		restartBackoff: 20 * time.Millisecond,
		log:            slog.New(slog.DiscardHandler),
		client:         fake.NewClientset(),
		pods:           corev1listers.NewPodLister(filtered[*corev1.Pod]{store}),
		secrets:        corev1listers.NewSecretLister(prefixed{store, "secret/"}),
		configMaps:     corev1listers.NewConfigMapLister(prefixed{store, "configmap/"}),
		byKey:          map[string]*podRun{},
	}
	tk.NotifyPods(t.Context(), func(p *corev1.Pod) {
		tk.mu.Lock()
		tk.pushed = append(tk.pushed, p.DeepCopy())
		tk.mu.Unlock()
		select {
		case tk.changed <- struct{}{}:
		default:
		}
	})
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		tk.stopAll(ctx, 0)
	})
	return tk
}

// The listers of one indexer that holds pods, secrets and configmaps.
type filtered[T any] struct{ cache.Indexer }

func (f filtered[T]) List() []any {
	var out []any
	for _, o := range f.Indexer.List() {
		if _, ok := o.(T); ok {
			out = append(out, o)
		}
	}
	return out
}

type prefixed struct {
	cache.Indexer
	prefix string
}

func (p prefixed) GetByKey(key string) (any, bool, error) { return p.Indexer.GetByKey(p.prefix + key) }

func (p prefixed) List() []any { return nil }

func (p prefixed) ByIndex(string, string) ([]any, error) { return nil, nil }

// setImage maps an image to an executable.
func (tk *testKubelet) setImage(t *testing.T, ref, exe string) {
	t.Helper()
	tk.images.Set(ref, exe)
}

// create adds pod to the store, as the informer would, and starts it.
func (tk *testKubelet) create(t *testing.T, pod *corev1.Pod) {
	t.Helper()
	require.NoError(t, tk.store.Add(pod))
	_, err := tk.client.CoreV1().Pods(pod.Namespace).Create(t.Context(), pod, metav1.CreateOptions{})
	require.NoError(t, err)
	require.NoError(t, tk.CreatePod(t.Context(), pod))
}

// last returns the last status pushed for a pod.
func (tk *testKubelet) last(name string) *corev1.Pod {
	tk.mu.Lock()
	defer tk.mu.Unlock()
	for i := len(tk.pushed) - 1; i >= 0; i-- {
		if tk.pushed[i].Name == name {
			return tk.pushed[i]
		}
	}
	return nil
}

// waitFor waits until the last status pushed for the pod satisfies cond.
func (tk *testKubelet) waitFor(t *testing.T, name string, cond func(*corev1.Pod) bool) *corev1.Pod {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		if p := tk.last(name); p != nil && cond(p) {
			return p
		}
		select {
		case <-tk.changed:
		case <-time.After(50 * time.Millisecond):
		case <-deadline:
			p := tk.last(name)
			require.FailNow(t, "timed out waiting for the pod's status", "last status: %+v", p)
		}
	}
}

func ended(p *corev1.Pod) bool {
	return p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed
}

func running(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodRunning }

// waiting matches a pod whose first container waits with reason.
func waiting(reason string) func(*corev1.Pod) bool {
	return func(p *corev1.Pod) bool {
		w := p.Status.ContainerStatuses[0].State.Waiting
		return w != nil && w.Reason == reason
	}
}

// logs reads a container's log as pods/log would.
func (tk *testKubelet) logs(t *testing.T, pod string, opts api.ContainerLogOpts) string {
	t.Helper()
	rc, err := tk.GetContainerLogs(t.Context(), "ns", pod, "main", opts)
	require.NoError(t, err)
	defer rc.Close()
	b, err := io.ReadAll(rc)
	require.NoError(t, err)
	return string(b)
}

func testPod(name string, c corev1.Container) *corev1.Pod {
	if c.Name == "" {
		c.Name = "main"
	}
	if c.Image == "" {
		c.Image = "busybox"
	}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name, UID: types.UID("uid-" + name), Labels: map[string]string{"app": "x"}},
		Spec: corev1.PodSpec{
			NodeName:                      "local",
			RestartPolicy:                 corev1.RestartPolicyNever,
			TerminationGracePeriodSeconds: ptr.To[int64](30),
			Containers:                    []corev1.Container{c},
		},
	}
}

func sh(script string) corev1.Container {
	return corev1.Container{Command: []string{"sh", "-c", script}}
}

func terminated(p *corev1.Pod) *corev1.ContainerStateTerminated {
	return p.Status.ContainerStatuses[0].State.Terminated
}

func TestProvider_Succeeds(t *testing.T) {
	t.Parallel()
	tk := newTestKubelet(t)
	c := sh(`echo "hello $GREETING"; echo oops >&2; printf 'no newline'`)
	c.Env = []corev1.EnvVar{{Name: "GREETING", Value: "world"}}
	tk.create(t, testPod("ok", c))

	p := tk.waitFor(t, "ok", ended)
	require.Equal(t, corev1.PodSucceeded, p.Status.Phase)
	term := terminated(p)
	require.NotNil(t, term)
	require.Equal(t, int32(0), term.ExitCode)
	require.Equal(t, "Completed", term.Reason)
	require.Empty(t, term.Message)
	require.False(t, term.StartedAt.IsZero())
	require.False(t, term.FinishedAt.Before(&term.StartedAt))
	require.NotNil(t, p.Status.StartTime)
	require.Equal(t, "127.0.0.1", p.Status.PodIP)
	require.Equal(t, "127.0.0.1", p.Status.HostIP)
	require.Equal(t, map[string]string{"app": "x"}, p.Labels)
	for _, cond := range p.Status.Conditions {
		if cond.Type == corev1.PodReady || cond.Type == corev1.ContainersReady {
			require.Equal(t, corev1.ConditionFalse, cond.Status)
			require.Equal(t, "PodCompleted", cond.Reason)
		}
	}

	out := tk.logs(t, "ok", api.ContainerLogOpts{})
	require.Contains(t, out, "hello world\n")
	require.Contains(t, out, "oops\n")
	require.Contains(t, out, "no newline")
	require.NotContains(t, out, "no newline\n", "the last, partial line gets no newline")

	// Every push before the terminal one was Pending or Running: the last
	// state pushed is the latest.
	tk.mu.Lock()
	defer tk.mu.Unlock()
	sawRunning := false
	for i, pushed := range tk.pushed {
		if ended(pushed) {
			require.Equal(t, len(tk.pushed)-1, i, "a status followed the terminal one")
		}
		sawRunning = sawRunning || running(pushed)
	}
	require.True(t, sawRunning, "Running was never reported")
}

func TestProvider_ExitCodeAndTerminationMessage(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		script      string
		policy      corev1.TerminationMessagePolicy
		wantCode    int32
		wantMessage string
	}{
		{name: "FallbackToLogsOnError", script: `echo first; echo "it broke"; exit 3`, policy: corev1.TerminationMessageFallbackToLogsOnError, wantCode: 3, wantMessage: "first\nit broke\n"},
		{name: "ReadFile", script: `echo log; printf 'from file' > "$KUBEQUEUE_LOCAL_ROOT/dev/termination-log"; exit 4`, policy: corev1.TerminationMessageFallbackToLogsOnError, wantCode: 4, wantMessage: "from file"},
		{name: "FileOnSuccess", script: `printf 'result' > "$KUBEQUEUE_LOCAL_ROOT/dev/termination-log"`, wantCode: 0, wantMessage: "result"},
		{name: "NoFallbackOnSuccess", script: `echo log`, policy: corev1.TerminationMessageFallbackToLogsOnError, wantCode: 0},
		{name: "NoFallbackWithFilePolicy", script: `echo log; exit 2`, policy: corev1.TerminationMessageReadFile, wantCode: 2},
		{name: "Last4096Bytes", script: `head -c 5000 /dev/zero | tr '\0' a > "$KUBEQUEUE_LOCAL_ROOT/dev/termination-log"; printf END >> "$KUBEQUEUE_LOCAL_ROOT/dev/termination-log"`, wantMessage: strings.Repeat("a", 4093) + "END"},
		{name: "FallbackLast80Lines", script: `i=0; while [ $i -lt 100 ]; do echo $i; i=$((i+1)); done; exit 1`, policy: corev1.TerminationMessageFallbackToLogsOnError, wantCode: 1, wantMessage: lines(20, 100)},
		{name: "FallbackAtMost2048Bytes", script: `x=$(printf '%97s' '' | tr ' ' x); i=10; while [ $i -lt 50 ]; do echo "$i$x"; i=$((i+1)); done; exit 1`, policy: corev1.TerminationMessageFallbackToLogsOnError, wantCode: 1, wantMessage: fallbackTail()},
		{name: "CustomPath", script: `printf custom > "$KUBEQUEUE_LOCAL_ROOT/tmp/msg"; exit 5`, wantCode: 5, wantMessage: "custom"},
		{name: "Signal", script: `kill -9 $$$$`, wantCode: 137},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tk := newTestKubelet(t)
			c := sh(tt.script)
			c.TerminationMessagePolicy = tt.policy
			if tt.name == "CustomPath" {
				c.TerminationMessagePath = "/tmp/msg"
			}
			tk.create(t, testPod("p", c))
			p := tk.waitFor(t, "p", ended)
			term := terminated(p)
			require.Equal(t, tt.wantCode, term.ExitCode)
			require.Equal(t, tt.wantMessage, term.Message)
			if tt.wantCode == 0 {
				require.Equal(t, corev1.PodSucceeded, p.Status.Phase)
				require.Equal(t, "Completed", term.Reason)
			} else {
				require.Equal(t, corev1.PodFailed, p.Status.Phase)
				require.Equal(t, "Error", term.Reason)
			}
		})
	}
}

// fallbackTail is what FallbackToLogsOnError keeps of 40 lines of 100
// bytes (fewer than 80 lines): their last 2048 bytes.
func fallbackTail() string {
	var b strings.Builder
	for i := 10; i < 50; i++ {
		fmt.Fprintf(&b, "%d%s\n", i, strings.Repeat("x", 97))
	}
	return b.String()[b.Len()-2048:]
}

func lines(from, to int) string {
	var b strings.Builder
	for i := from; i < to; i++ {
		b.WriteString(strconv.Itoa(i) + "\n")
	}
	return b.String()
}

func TestProvider_CommandAndImage(t *testing.T) {
	t.Parallel()
	script := filepath.Join(t.TempDir(), "entrypoint")
	require.NoError(t, os.WriteFile(script, []byte("#!/bin/sh\nfor a in \"$@\"; do echo \"arg=$a\"; done\n"), 0o755))
	tests := []struct {
		name       string
		c          corev1.Container
		wantCode   int32
		wantReason string
		wantInMsg  string
		wantLog    string
	}{
		{
			name: "MappedImageRunsItsExecutableWithArgs",
			c: corev1.Container{Image: "example.com/app:v1", Args: []string{"$(A)", "$$(A)", "$(MISSING)", "costs $$5", "$$$(A)"},
				Env: []corev1.EnvVar{{Name: "A", Value: "x y"}}},
			wantLog: "arg=x y\narg=$(A)\narg=$(MISSING)\narg=costs $5\narg=$x y\n",
		},
		{
			name:    "CommandReplacesTheEntrypoint",
			c:       corev1.Container{Image: "example.com/app:v1", Command: []string{"echo", "$(A)"}, Env: []corev1.EnvVar{{Name: "A", Value: "from command"}}},
			wantLog: "from command\n",
		},
		{
			name:       "UnmappedImageWithoutCommand",
			c:          corev1.Container{Image: "example.com/unknown:v1"},
			wantCode:   128,
			wantReason: "ErrImageNeverPull",
			wantInMsg:  `image "example.com/unknown:v1" is not mapped to a local executable`,
		},
		{
			name:       "CommandNotInPath",
			c:          corev1.Container{Command: []string{"no-such-command-kq"}},
			wantCode:   128,
			wantReason: "StartError",
			wantInMsg:  `exec: "no-such-command-kq": executable file not found in $PATH`,
		},
		{
			name:       "ContainerPath",
			c:          corev1.Container{Command: []string{"entrypoint", "via PATH"}, Env: []corev1.EnvVar{{Name: "PATH", Value: filepath.Dir(script)}}},
			wantLog:    "arg=via PATH\n",
			wantReason: "Completed",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tk := newTestKubelet(t)
			tk.setImage(t, "example.com/app:v1", script)
			tk.create(t, testPod("p", tt.c))
			p := tk.waitFor(t, "p", ended)
			term := terminated(p)
			require.Equal(t, tt.wantCode, term.ExitCode, term.Message)
			if tt.wantReason != "" {
				require.Equal(t, tt.wantReason, term.Reason)
			}
			require.Contains(t, term.Message, tt.wantInMsg)
			if tt.wantCode != 0 {
				require.Equal(t, corev1.PodFailed, p.Status.Phase)
				return
			}
			require.Equal(t, tt.wantLog, tk.logs(t, "p", api.ContainerLogOpts{}))
		})
	}
}

func TestProvider_Environment(t *testing.T) {
	t.Setenv("KUBEQUEUE_TEST_SECRET_OF_THE_KUBELET", "leak")
	t.Setenv("HOME", "/home/kubelet-test")
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	t.Setenv("LANG", "kubelet_TEST.UTF-8")
	tk := newTestKubelet(t)
	c := sh(`env | sort`)
	c.Env = []corev1.EnvVar{{Name: "MINE", Value: "1"}, {Name: "LANG", Value: "container_LANG.UTF-8"}}
	tk.create(t, testPod("env", c))
	tk.waitFor(t, "env", ended)
	out := "\n" + tk.logs(t, "env", api.ContainerLogOpts{}) // each line starts after a newline
	require.Contains(t, out, "MINE=1\n")
	require.Contains(t, out, "HOSTNAME=env\n")
	require.Contains(t, out, "PATH="+os.Getenv("PATH")+"\n")
	// HOME, TMPDIR and LANG come from the kubelet's environment unless the
	// container sets them.
	require.Contains(t, out, "\nHOME=/home/kubelet-test\n")
	require.Contains(t, out, "\nTMPDIR="+tmp+"\n")
	require.Contains(t, out, "\nLANG=container_LANG.UTF-8\n")
	require.NotContains(t, out, "kubelet_TEST")
	require.Contains(t, out, EnvRoot+"="+filepath.Join(tk.dir, "pods", "ns_env_uid-env", "containers", "main", "root")+"\n")
	require.NotContains(t, out, "KUBEQUEUE_TEST_SECRET_OF_THE_KUBELET")

	// What the kubelet's environment lacks, the container lacks too.
	require.NoError(t, os.Unsetenv("TMPDIR")) // t.Setenv restores it
	tk.create(t, testPod("unset", sh(`env | sort`)))
	tk.waitFor(t, "unset", ended)
	out = "\n" + tk.logs(t, "unset", api.ContainerLogOpts{})
	require.Contains(t, out, "\nLANG=kubelet_TEST.UTF-8\n")
	require.NotContains(t, out, "TMPDIR=")
}

func TestProvider_Volumes(t *testing.T) {
	t.Parallel()
	tk := newTestKubelet(t)
	require.NoError(t, tk.store.Add(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "creds"}, Data: map[string][]byte{"token": []byte("s3cr3t"), "other": []byte("o")}}))
	require.NoError(t, tk.store.Add(&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "settings"}, Data: map[string]string{"level": "debug"}}))
	c := sh(`cd "$KUBEQUEUE_LOCAL_ROOT" && cat etc/creds/token; echo; ls etc/creds; cat etc/settings/level; echo; cat etc/one/renamed; echo; ls -d scratch; cat etc/info/name; echo; stat -L -c %a etc/one/renamed`)
	c.VolumeMounts = []corev1.VolumeMount{
		{Name: "creds", MountPath: "/etc/creds"},
		{Name: "settings", MountPath: "/etc/settings"},
		{Name: "one", MountPath: "/etc/one"},
		{Name: "scratch", MountPath: "/scratch"},
		{Name: "info", MountPath: "/etc/info"},
	}
	pod := testPod("vol", c)
	pod.Spec.Volumes = []corev1.Volume{
		{Name: "creds", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "creds"}}},
		{Name: "settings", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "settings"}}}},
		{Name: "one", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "creds", Items: []corev1.KeyToPath{{Key: "token", Path: "renamed", Mode: ptr.To[int32](0o400)}}}}},
		{Name: "scratch", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
		{Name: "info", VolumeSource: corev1.VolumeSource{DownwardAPI: &corev1.DownwardAPIVolumeSource{Items: []corev1.DownwardAPIVolumeFile{{Path: "name", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}}}}},
	}
	tk.create(t, pod)
	p := tk.waitFor(t, "vol", ended)
	require.Equal(t, int32(0), terminated(p).ExitCode, tk.logs(t, "vol", api.ContainerLogOpts{}))
	require.Equal(t, "s3cr3t\nother\ntoken\ndebug\ns3cr3t\nscratch\nvol\n400\n", tk.logs(t, "vol", api.ContainerLogOpts{}))

	// A missing Secret keeps the pod Pending, waiting with a reason, as the
	// kubelet does; once the Secret exists, the pod runs.
	late := testPod("late", sh(`cat "$KUBEQUEUE_LOCAL_ROOT/etc/late/key"`))
	late.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "x", MountPath: "/etc/late"}}
	late.Spec.Volumes = []corev1.Volume{{Name: "x", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "later"}}}}
	tk.create(t, late)
	p = tk.waitFor(t, "late", waiting("CreateContainerConfigError"))
	require.Equal(t, corev1.PodPending, p.Status.Phase)
	require.Contains(t, p.Status.ContainerStatuses[0].State.Waiting.Message, `secret "later"`)
	require.NoError(t, tk.store.Add(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "later"}, Data: map[string][]byte{"key": []byte("arrived")}}))
	p = tk.waitFor(t, "late", ended)
	require.Equal(t, corev1.PodSucceeded, p.Status.Phase)
	require.Equal(t, "arrived", tk.logs(t, "late", api.ContainerLogOpts{}))

	// A volume the local kubelet cannot provide fails the pod at once.
	bad := testPod("unsupported", sh("echo ran"))
	bad.Spec.Volumes = []corev1.Volume{{Name: "x", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "data"}}}}
	tk.create(t, bad)
	p = tk.waitFor(t, "unsupported", ended)
	require.Equal(t, corev1.PodFailed, p.Status.Phase)
	require.Equal(t, "UnsupportedVolume", p.Status.Reason)
	require.Equal(t, "UnsupportedVolume", terminated(p).Reason)
}

func TestProvider_SubPath(t *testing.T) {
	t.Parallel()
	tk := newTestKubelet(t)
	require.NoError(t, tk.store.Add(&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "app"}, Data: map[string]string{"app.yaml": "mode: batch"}}))
	c := sh(`cat "$KUBEQUEUE_LOCAL_ROOT/etc/app.yaml"; echo; ls -d "$KUBEQUEUE_LOCAL_ROOT/data/$HOSTNAME"`)
	c.VolumeMounts = []corev1.VolumeMount{
		{Name: "app", MountPath: "/etc/app.yaml", SubPath: "app.yaml"},  // one file
		{Name: "scratch", MountPath: "/data/sp", SubPathExpr: "$(POD)"}, // a new directory
	}
	c.Env = []corev1.EnvVar{{Name: "POD", Value: "sp"}}
	pod := testPod("sp", c)
	pod.Spec.Volumes = []corev1.Volume{
		{Name: "app", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "app"}}}},
		{Name: "scratch", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
	}
	tk.create(t, pod)
	p := tk.waitFor(t, "sp", ended)
	out := tk.logs(t, "sp", api.ContainerLogOpts{})
	require.Equal(t, int32(0), terminated(p).ExitCode, out)
	require.Contains(t, out, "mode: batch\n")
	_, err := os.Stat(filepath.Join(tk.podDir(pod), "volumes", "scratch", "sp"))
	require.NoError(t, err, "subPathExpr expanded to a directory in the volume")
}

func TestProvider_DeleteStopsTheProcessGroup(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		script   string
		grace    int64
		wantCode int32
		wantLog  string
	}{
		{name: "SIGTERMHandled", script: `trap 'echo got TERM; exit 7' TERM; echo ready; sleep 300 & wait`, grace: 30, wantCode: 7, wantLog: "got TERM"},
		{name: "SIGKILLAfterGrace", script: `trap '' TERM; echo ready; sleep 300 & wait; sleep 300 & wait`, grace: 1, wantCode: 137},
		{name: "NoHandler", script: `echo ready; exec sleep 300`, grace: 30, wantCode: 143},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tk := newTestKubelet(t)
			pod := testPod("del", sh(tt.script))
			tk.create(t, pod)
			tk.waitFor(t, "del", running)
			require.Eventually(t, func() bool {
				return strings.Contains(tk.logs(t, "del", api.ContainerLogOpts{}), "ready")
			}, 10*time.Second, 20*time.Millisecond)
			r := tk.get("ns", "del")
			r.mu.Lock()
			pgid := r.containers[0].proc.cmd.Process.Pid
			r.mu.Unlock()

			// The log, followed from before the deletion to the end.
			follow, err := tk.GetContainerLogs(t.Context(), "ns", "del", "main", api.ContainerLogOpts{Follow: true})
			require.NoError(t, err)
			defer follow.Close()

			deleting := pod.DeepCopy()
			deleting.DeletionTimestamp = ptr.To(metav1.Now())
			deleting.DeletionGracePeriodSeconds = ptr.To(tt.grace)
			require.NoError(t, tk.DeletePod(t.Context(), deleting))
			p := tk.waitFor(t, "del", ended)
			require.Equal(t, corev1.PodFailed, p.Status.Phase)
			require.Equal(t, tt.wantCode, terminated(p).ExitCode)
			out, err := io.ReadAll(follow)
			require.NoError(t, err)
			require.Contains(t, string(out), tt.wantLog)
			// Its containers stopped, the kubelet writes the final status and
			// deletes the pod at once, as the kubelet does.
			require.Eventually(t, func() bool {
				_, err := tk.client.CoreV1().Pods("ns").Get(t.Context(), "del", metav1.GetOptions{})
				return apierrors.IsNotFound(err)
			}, 10*time.Second, 20*time.Millisecond, "the pod was not deleted")
			// Nothing of the group is left: the background sleep died too.
			require.Eventually(t, func() bool {
				return syscall.Kill(-pgid, 0) == syscall.ESRCH
			}, 5*time.Second, 20*time.Millisecond)

			// Deleted, the pod is forgotten with its files.
			require.Eventually(t, func() bool { return tk.get("ns", "del") == nil }, 10*time.Second, 20*time.Millisecond)
			_, err = os.Stat(tk.podDir(pod))
			require.ErrorIs(t, err, os.ErrNotExist)
			err = tk.DeletePod(t.Context(), deleting)
			require.True(t, errdefs.IsNotFound(err), "%v", err)
		})
	}
}

func TestProvider_ActiveDeadline(t *testing.T) {
	t.Parallel()
	tk := newTestKubelet(t)
	pod := testPod("slow", sh(`exec sleep 300`))
	pod.Spec.ActiveDeadlineSeconds = ptr.To[int64](1)
	tk.create(t, pod)
	p := tk.waitFor(t, "slow", ended)
	require.Equal(t, corev1.PodFailed, p.Status.Phase)
	require.Equal(t, "DeadlineExceeded", p.Status.Reason)
	require.Equal(t, int32(143), terminated(p).ExitCode)
}

func TestProvider_RestartOnFailure(t *testing.T) {
	t.Parallel()
	tk := newTestKubelet(t)
	marker := filepath.Join(t.TempDir(), "ran-once")
	pod := testPod("flaky", sh(`if [ -e `+marker+` ]; then echo second; exit 0; fi; touch `+marker+`; echo first; exit 3`))
	pod.Spec.RestartPolicy = corev1.RestartPolicyOnFailure
	tk.create(t, pod)
	p := tk.waitFor(t, "flaky", ended)
	require.Equal(t, corev1.PodSucceeded, p.Status.Phase)
	cs := p.Status.ContainerStatuses[0]
	require.Equal(t, int32(1), cs.RestartCount)
	require.Equal(t, int32(3), cs.LastTerminationState.Terminated.ExitCode)
	require.Equal(t, "second\n", tk.logs(t, "flaky", api.ContainerLogOpts{}))
	require.Equal(t, "first\n", tk.logs(t, "flaky", api.ContainerLogOpts{Previous: true}))

	tk.mu.Lock()
	sawBackOff := false
	for _, pushed := range tk.pushed {
		if w := pushed.Status.ContainerStatuses[0].State.Waiting; w != nil && w.Reason == "CrashLoopBackOff" {
			sawBackOff = true
			require.Equal(t, corev1.PodRunning, pushed.Status.Phase)
		}
	}
	tk.mu.Unlock()
	require.True(t, sawBackOff)

	// A pod that never restarted has no previous log.
	tk.create(t, testPod("once", sh("echo hi")))
	tk.waitFor(t, "once", ended)
	_, err := tk.GetContainerLogs(t.Context(), "ns", "once", "main", api.ContainerLogOpts{Previous: true})
	require.True(t, errdefs.IsInvalidInput(err), "%v", err)
}

func TestProvider_RestartedKubeletDoesNotRunAgain(t *testing.T) {
	t.Parallel()
	tk := newTestKubelet(t)
	marker := filepath.Join(t.TempDir(), "ran")
	pod := testPod("old", sh("touch "+marker))
	pod.Status.StartTime = ptr.To(metav1.Now())
	pod.Status.Phase = corev1.PodRunning
	tk.create(t, pod)
	p := tk.waitFor(t, "old", ended)
	require.Equal(t, corev1.PodFailed, p.Status.Phase)
	require.Equal(t, "ContainerStatusUnknown", terminated(p).Reason)
	require.Equal(t, int32(137), terminated(p).ExitCode)
	_, err := os.Stat(marker)
	require.ErrorIs(t, err, os.ErrNotExist, "the command ran a second time")
}

func TestProvider_StatusFromLiveObject(t *testing.T) {
	t.Parallel()
	tk := newTestKubelet(t)
	pod := testPod("live", sh(`sleep 0.3`))
	pod.Finalizers = []string{"batch.kubernetes.io/job-tracking"}
	tk.create(t, pod)
	tk.waitFor(t, "live", running)
	// The Job controller removes its finalizer while the pod runs; the
	// terminal status must not bring it back.
	cur := pod.DeepCopy()
	cur.Finalizers = nil
	cur.Labels["added"] = "later"
	require.NoError(t, tk.store.Update(cur))
	p := tk.waitFor(t, "live", ended)
	require.Empty(t, p.Finalizers)
	require.Equal(t, "later", p.Labels["added"])
}

func TestProvider_Unknown(t *testing.T) {
	t.Parallel()
	tk := newTestKubelet(t)
	_, err := tk.GetPod(t.Context(), "ns", "nope")
	require.True(t, errdefs.IsNotFound(err))
	_, err = tk.GetContainerLogs(t.Context(), "ns", "nope", "main", api.ContainerLogOpts{})
	require.True(t, errdefs.IsNotFound(err))
	require.True(t, errdefs.IsNotFound(tk.DeletePod(t.Context(), testPod("nope", sh("")))))
	require.ErrorIs(t, tk.RunInContainer(t.Context(), "ns", "p", "c", nil, nil), errUnsupported)

	tk.create(t, testPod("p", sh("true")))
	tk.waitFor(t, "p", ended)
	_, err = tk.GetContainerLogs(t.Context(), "ns", "p", "other", api.ContainerLogOpts{})
	require.True(t, errdefs.IsNotFound(err))
	pods, err := tk.GetPods(t.Context())
	require.NoError(t, err)
	require.Len(t, pods, 1)
}

func TestProvider_FollowLogs(t *testing.T) {
	t.Parallel()
	tk := newTestKubelet(t)
	gate := filepath.Join(t.TempDir(), "go")
	tk.create(t, testPod("f", sh(`echo one; while [ ! -e `+gate+` ]; do sleep 0.02; done; echo two`)))
	tk.waitFor(t, "f", running)
	rc, err := tk.GetContainerLogs(t.Context(), "ns", "f", "main", api.ContainerLogOpts{Follow: true})
	require.NoError(t, err)
	defer rc.Close()
	var got bytes.Buffer
	done := make(chan error, 1)
	go func() {
		_, err := io.Copy(&got, rc)
		done <- err
	}()
	require.NoError(t, os.WriteFile(gate, nil, 0o644))
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(20 * time.Second):
		t.Fatal("follow did not end when the container did")
	}
	require.Equal(t, "one\ntwo\n", got.String())
}

func TestProvider_DetachedChildDoesNotHoldThePod(t *testing.T) {
	t.Parallel()
	tk := newTestKubelet(t)
	// The child leaves the process group but keeps stdout open.
	tk.create(t, testPod("detach", sh(`setsid sleep 5 & echo parent done`)))
	start := time.Now()
	p := tk.waitFor(t, "detach", ended)
	require.Less(t, time.Since(start), 4*time.Second, "the pod waited for the detached child")
	require.Equal(t, corev1.PodSucceeded, p.Status.Phase)
	require.Equal(t, "parent done\n", tk.logs(t, "detach", api.ContainerLogOpts{}))
}

func TestProvider_RecreatedPodOfTheSameName(t *testing.T) {
	t.Parallel()
	tk := newTestKubelet(t)
	first := testPod("same", sh("echo first"))
	tk.create(t, first)
	tk.waitFor(t, "same", ended)

	// Deleted and created again under the same name: virtual-kubelet finds
	// a pod of that name and calls UpdatePod with the new one.
	second := testPod("same", sh("echo second"))
	second.UID = "uid-same-2"
	require.NoError(t, tk.store.Update(second))
	require.NoError(t, tk.UpdatePod(t.Context(), second))
	p := tk.waitFor(t, "same", func(p *corev1.Pod) bool { return p.UID == second.UID && ended(p) })
	require.Equal(t, corev1.PodSucceeded, p.Status.Phase)
	require.Equal(t, "second\n", tk.logs(t, "same", api.ContainerLogOpts{}))
}

func TestProvider_RelativeCommand(t *testing.T) {
	t.Parallel()
	tk := newTestKubelet(t)
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "run.sh"), []byte("#!/bin/sh\necho from workdir\n"), 0o755))
	c := corev1.Container{Command: []string{"./run.sh"}, WorkingDir: "/work", VolumeMounts: []corev1.VolumeMount{{Name: "src", MountPath: "/work"}}}
	pod := testPod("rel", c)
	pod.Spec.Volumes = []corev1.Volume{{Name: "src", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: dir}}}}
	tk.create(t, pod)
	p := tk.waitFor(t, "rel", ended)
	require.Equal(t, int32(0), terminated(p).ExitCode, terminated(p).Message)
	require.Equal(t, "from workdir\n", tk.logs(t, "rel", api.ContainerLogOpts{}))
}

func TestProvider_LogsDuringBackOff(t *testing.T) {
	t.Parallel()
	tk := newTestKubelet(t)
	tk.restartBackoff = time.Minute
	pod := testPod("crash", sh(`echo crashed; exit 1`))
	pod.Spec.RestartPolicy = corev1.RestartPolicyOnFailure
	tk.create(t, pod)
	p := tk.waitFor(t, "crash", waiting("CrashLoopBackOff"))
	require.Equal(t, corev1.PodRunning, p.Status.Phase, "a pod waiting to restart is Running")
	// While it waits, the last run is both the current and the previous
	// one, as with the kubelet.
	require.Equal(t, "crashed\n", tk.logs(t, "crash", api.ContainerLogOpts{}))
	require.Equal(t, "crashed\n", tk.logs(t, "crash", api.ContainerLogOpts{Previous: true}))

	// Deleted during the back-off, it ends terminated with its last exit.
	deleting := pod.DeepCopy()
	deleting.DeletionTimestamp = ptr.To(metav1.Now())
	require.NoError(t, tk.DeletePod(t.Context(), deleting))
	p = tk.waitFor(t, "crash", ended)
	require.Equal(t, corev1.PodFailed, p.Status.Phase)
	require.Equal(t, int32(1), terminated(p).ExitCode)
}
