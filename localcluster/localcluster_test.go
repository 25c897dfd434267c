package localcluster

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

func TestFreePorts(t *testing.T) {
	t.Parallel()
	const n = 5
	ports, err := freePorts(n)
	require.NoError(t, err)
	require.Len(t, ports, n)
	hi := ephemeralLow()
	seen := map[int]bool{}
	for _, p := range ports {
		require.False(t, seen[p], "port %d drawn twice in %v", p, ports)
		seen[p] = true
		require.GreaterOrEqual(t, p, 1024)
		require.Less(t, p, hi, "port %d is in the ephemeral range from %d", p, hi)
	}

	// A port held by a listener is not free. (Whether a drawn port is still
	// free a moment later depends on the other processes of the machine,
	// such as a cluster starting in another test package; Start
	// retries on a conflict.)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	require.False(t, portFree(l.Addr().(*net.TCPAddr).Port))
}

func TestDrawPorts(t *testing.T) {
	t.Parallel()
	// Draws 0, 1, 1, 2, 3, 4 from [100, 110): 101 is busy, 101 repeats.
	draws := []int{0, 1, 1, 2, 3, 4}
	next := func(int) int { d := draws[0]; draws = draws[1:]; return d }
	busy := map[int]bool{101: true}
	ports, err := drawPorts(3, 100, 110, next, func(p int) bool { return !busy[p] })
	require.NoError(t, err)
	require.Equal(t, []int{100, 102, 103}, ports)

	_, err = drawPorts(1, 100, 110, func(n int) int { return 5 }, func(int) bool { return false })
	require.ErrorContains(t, err, "no free port found in [100, 110)")
}

func TestRemoveStaleDirs(t *testing.T) {
	t.Parallel()
	if runtime.GOOS == "windows" {
		t.Skip("processAlive is always false without Unix")
	}
	cmd := exec.Command("true")
	require.NoError(t, cmd.Run())
	dead := cmd.ProcessState.Pid()
	require.False(t, processAlive(dead))
	self := os.Getpid()

	root := t.TempDir()
	tests := []struct {
		name string
		dir  string
		kept bool
	}{
		{name: "DeadPid", dir: fmt.Sprintf("kubequeue-etcd-%d-x", dead)},
		{name: "DeadPidOtherSuffix", dir: fmt.Sprintf("kubequeue-etcd-%d-123456", dead)},
		{name: "OwnPid", dir: fmt.Sprintf("kubequeue-etcd-%d-x", self), kept: true},
		{name: "Unrelated", dir: "unrelated", kept: true},
		{name: "OtherPrefix", dir: fmt.Sprintf("kubequeue-other-%d-x", dead), kept: true},
		{name: "NotAPid", dir: "kubequeue-etcd-abc-x", kept: true},
	}
	for _, tt := range tests {
		require.NoError(t, os.MkdirAll(filepath.Join(root, tt.dir, "member"), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(root, tt.dir, "member", "db"), []byte("data"), 0o644))
	}

	removeStale(root, "kubequeue-etcd-")

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := os.Stat(filepath.Join(root, tt.dir))
			if tt.kept {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, os.ErrNotExist)
		})
	}
}

func TestWriteKubeconfig(t *testing.T) {
	t.Parallel()
	ca, err := newAuthority("test-ca")
	require.NoError(t, err)
	c := &Cluster{ca: ca, host: "https://127.0.0.1:6443"}

	tests := []struct {
		name      string
		user      string
		groups    []string
		namespace string
	}{
		{name: "Default", user: "kubequeue-admin", groups: []string{"system:masters"}, namespace: "default"},
		{name: "OtherNamespace", user: "alice", groups: []string{"dev"}, namespace: "jobs"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg, err := c.UserConfig(tt.user, tt.groups...)
			require.NoError(t, err)
			require.Equal(t, c.host, cfg.Host)
			require.Equal(t, tt.user, parseCert(t, cfg.CertData).Subject.CommonName)

			path := filepath.Join(t.TempDir(), "kubeconfig")
			require.NoError(t, WriteKubeconfig(path, cfg, tt.namespace))

			loader := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(
				&clientcmd.ClientConfigLoadingRules{ExplicitPath: path}, &clientcmd.ConfigOverrides{})
			got, err := loader.ClientConfig()
			require.NoError(t, err)
			require.Equal(t, cfg.Host, got.Host)
			require.Equal(t, cfg.CAData, got.CAData)
			require.Equal(t, cfg.CertData, got.CertData)
			require.Equal(t, cfg.KeyData, got.KeyData)
			ns, _, err := loader.Namespace()
			require.NoError(t, err)
			require.Equal(t, tt.namespace, ns)

			_, err = rest.TransportFor(got)
			require.NoError(t, err, "the loaded configuration builds a TLS transport")
		})
	}

	t.Run("PathIsADirectory", func(t *testing.T) {
		t.Parallel()
		cfg, err := c.UserConfig("bob")
		require.NoError(t, err)
		err = WriteKubeconfig(t.TempDir(), cfg, "default")
		require.ErrorContains(t, err, "localcluster: write kubeconfig")
	})
}

func TestCluster_UserConfig(t *testing.T) {
	t.Parallel()
	ca, err := newAuthority("test-ca")
	require.NoError(t, err)
	c := &Cluster{ca: ca, host: "https://127.0.0.1:6443"}
	_, err = c.UserConfig("")
	require.ErrorContains(t, err, "empty user name")

	cfg, err := c.UserConfig("carol", "a", "b")
	require.NoError(t, err)
	cert := parseCert(t, cfg.CertData)
	require.Equal(t, "carol", cert.Subject.CommonName)
	require.Equal(t, []string{"a", "b"}, cert.Subject.Organization)
	require.Equal(t, ca.certPEM, cfg.CAData)
}

// fakeProcess is a process that has not exited and never will.
func fakeProcess() *process {
	return &process{name: "fake", done: make(chan struct{})}
}

func TestWaitFor(t *testing.T) {
	t.Parallel()

	t.Run("SucceedsAfterFailures", func(t *testing.T) {
		t.Parallel()
		calls := 0
		err := waitFor(t.Context(), "the thing", fakeProcess(), func(ctx context.Context) error {
			calls++
			if _, ok := ctx.Deadline(); !ok {
				return errors.New("check called without a deadline")
			}
			if calls < 4 {
				return fmt.Errorf("not yet (%d)", calls)
			}
			return nil
		})
		require.NoError(t, err)
		require.Equal(t, 4, calls)
	})

	t.Run("Timeout", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
		defer cancel()
		start := time.Now()
		err := waitFor(ctx, "the thing", fakeProcess(), func(context.Context) error {
			return errors.New("still broken")
		})
		require.ErrorIs(t, err, context.DeadlineExceeded)
		require.ErrorContains(t, err, "waiting for the thing")
		require.ErrorContains(t, err, "still broken")
		require.Less(t, time.Since(start), 2*time.Second)
	})

	t.Run("ProcessExits", func(t *testing.T) {
		t.Parallel()
		skipUnlessLinux(t)
		p := startShell(t, "dying", "sleep 0.2; echo goodbye; exit 1")
		start := time.Now()
		err := waitFor(t.Context(), "the thing", p, func(context.Context) error {
			return errors.New("never ready")
		})
		require.ErrorContains(t, err, "dying exited")
		require.ErrorContains(t, err, "exit status 1")
		require.ErrorContains(t, err, p.logPath)
		require.Equal(t, "goodbye", tailFile(p.logPath, 20))
		require.Less(t, time.Since(start), 2*time.Second)
	})

	t.Run("AlreadyExited", func(t *testing.T) {
		t.Parallel()
		p := fakeProcess()
		p.logPath = filepath.Join(t.TempDir(), "fake.log")
		p.err = errors.New("exit status 2")
		close(p.done)
		called := false
		err := waitFor(t.Context(), "the thing", p, func(context.Context) error {
			called = true
			return nil
		})
		require.ErrorContains(t, err, "fake exited (exit status 2)")
		require.False(t, called, "the process is checked before the check")
	})
}

func TestHTTPCheck(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/ok" {
			_, _ = w.Write([]byte("ok"))
			return
		}
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte("[-]etcd failed"))
	}))
	t.Cleanup(srv.Close)

	tests := []struct {
		name string
		path string
		want string // empty: no error
	}{
		{name: "OK", path: "/ok"},
		{name: "NotReady", path: "/readyz", want: "503 Service Unavailable: [-]etcd failed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := httpCheck(srv.Client(), srv.URL+tt.path)(t.Context())
			if tt.want == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tt.want)
		})
	}
}

// TestKillLeftovers checks what the clean-up of a dead cluster's directory
// kills: the processes its containers started (which inherit
// KUBEQUEUE_LOCAL_ROOT) and its components (flags that name files in it),
// not a program that only names a file there, nor another cluster's.
func TestKillLeftovers(t *testing.T) {
	t.Parallel()
	skipUnlessLinux(t)
	dir := filepath.Join(t.TempDir(), dirPrefix+"1-2")
	other := dir + "0"
	start := func(env []string, args ...string) *exec.Cmd {
		cmd := exec.Command("/bin/sh", append([]string{"-c", "sleep 300", "sh"}, args...)...)
		cmd.Env = append(os.Environ(), env...)
		require.NoError(t, cmd.Start())
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		return cmd
	}
	container := start([]string{EnvRoot + "=" + dir + "/kubelet/pods/p/containers/c/root"})
	component := start(nil, "--tls-cert-file="+dir+"/serving.crt")
	pager := start(nil, dir+"/kube-apiserver.log")
	otherContainer := start([]string{EnvRoot + "=" + other + "/kubelet/pods/p/containers/c/root"})
	otherComponent := start(nil, "--tls-cert-file="+other+"/serving.crt")

	killLeftovers(dir)
	for name, cmd := range map[string]*exec.Cmd{"container": container, "component": component} {
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			require.ErrorContains(t, err, "signal: killed", name)
		case <-time.After(5 * time.Second):
			require.FailNow(t, "not killed", name)
		}
	}
	time.Sleep(100 * time.Millisecond)
	for name, cmd := range map[string]*exec.Cmd{"pager": pager, "other container": otherContainer, "other component": otherComponent} {
		require.True(t, running(cmd.Process.Pid), "the %s was killed", name)
	}
}
