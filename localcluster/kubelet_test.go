package localcluster

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestCluster_SetImage(t *testing.T) {
	t.Parallel()
	c := &Cluster{dir: t.TempDir()}
	exe := filepath.Join(t.TempDir(), "app")
	require.NoError(t, os.WriteFile(exe, []byte("#!/bin/sh\n"), 0o755))
	plain := filepath.Join(t.TempDir(), "data")
	require.NoError(t, os.WriteFile(plain, nil, 0o644))

	for _, bad := range []struct{ ref, exe, want string }{
		{"", exe, "empty image reference"},
		{"app:v1", "app", "not an absolute path"},
		{"app:v1", plain, "not an executable file"},
		{"app:v1", filepath.Dir(exe), "not an executable file"},
		{"app:v1", "/nonexistent/app", "not an executable file"},
	} {
		require.ErrorContains(t, c.SetImage(bad.ref, bad.exe), bad.want, "SetImage(%q, %q)", bad.ref, bad.exe)
		_, err := Start(t.Context(), Options{Images: map[string]string{bad.ref: bad.exe}, BinDir: t.TempDir()})
		require.ErrorContains(t, err, bad.want, "Start refuses it before anything else")
	}
	require.NoError(t, c.SetImage("app:v1", exe))
	require.NoError(t, c.SetImage("registry.example.com/other@sha256:abc", exe))
}

func TestSimulated(t *testing.T) {
	t.Parallel()
	selector, tolerations := Simulated()
	require.Equal(t, map[string]string{"kubernetes.io/hostname": SimulatedNodeName}, selector)
	require.Len(t, tolerations, 1)
	tol := tolerations[0]
	require.Equal(t, SimulatedTaint.Key, tol.Key)
	require.Equal(t, SimulatedTaint.Value, tol.Value)
	require.Equal(t, SimulatedTaint.Effect, tol.Effect)
}

func TestKubeletRun_Exited(t *testing.T) {
	t.Parallel()
	k := &kubeletRun{logPath: "/tmp/kubelet.log", done: make(chan struct{}), cancel: func() {}}
	require.NoError(t, k.exited())
	k.err = errors.New("listen: address already in use")
	close(k.done)
	err := k.exited()
	require.ErrorContains(t, err, "the local kubelet ended (listen: address already in use)")
	require.ErrorContains(t, err, "/tmp/kubelet.log")
	start := time.Now()
	k.stop()
	require.Less(t, time.Since(start), time.Second)
}
