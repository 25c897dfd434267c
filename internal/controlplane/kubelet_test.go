package controlplane

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestKubeletKey(t *testing.T) {
	t.Parallel()
	src := t.TempDir()
	write := func(name, content string) {
		p := filepath.Join(src, name)
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte(content), 0o644))
	}
	write("go.mod", "module x\n")
	write("a.go", "package x\n")
	write("a_test.go", "package x\n")
	write("cmd/k/main.go", "package main\n")
	key := func() string {
		k, err := kubeletKey(src)
		require.NoError(t, err)
		return k
	}
	base := key()
	require.Len(t, base, 12)
	require.Equal(t, base, key(), "stable")

	write("a_test.go", "package x // changed\n")
	require.Equal(t, base, key(), "tests do not change the binary")
	write("README.md", "docs")
	require.Equal(t, base, key(), "nor do other files")

	for _, f := range []string{"a.go", "cmd/k/main.go", "go.mod", "go.sum"} {
		write(f, "// changed "+f+"\n")
		next := key()
		require.NotEqual(t, base, next, "changing %s rebuilds", f)
		base = next
	}
}

func TestKubeletBinary(t *testing.T) {
	cache := emptyCache(t)

	// Not built, and not built on demand without build.
	_, dir, err := kubeletCacheDir()
	require.NoError(t, err)
	_, err = kubeletBinary(t.Context(), false, nil)
	require.ErrorIs(t, err, ErrNotBuilt)
	require.ErrorContains(t, err, "make controlplane")
	require.ErrorContains(t, err, dir)
	entries, err := os.ReadDir(cache)
	require.NoError(t, err)
	require.Empty(t, entries, "nothing is written to the cache")

	// A cached build is used.
	require.NoError(t, os.MkdirAll(dir, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, binKubelet), nil, 0o755))
	got, err := kubeletBinary(t.Context(), false, nil)
	require.NoError(t, err)
	require.Equal(t, filepath.Join(dir, binKubelet), got)

	// A prebuilt one in $KUBEQUEUE_CONTROLPLANE_BIN comes first.
	prebuilt := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(prebuilt, binKubelet), nil, 0o755))
	t.Setenv(EnvBinDir, prebuilt)
	got, err = kubeletBinary(t.Context(), true, nil)
	require.NoError(t, err)
	require.Equal(t, filepath.Join(prebuilt, binKubelet), got)
}

func TestControlPlane_SetImage(t *testing.T) {
	t.Parallel()
	cp := &ControlPlane{dir: t.TempDir()}
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
		require.ErrorContains(t, cp.SetImage(bad.ref, bad.exe), bad.want, "SetImage(%q, %q)", bad.ref, bad.exe)
	}
	_, err := os.Stat(cp.imagesFile())
	require.ErrorIs(t, err, os.ErrNotExist, "a refused image writes nothing")

	require.NoError(t, cp.SetImage("app:v1", exe))
	require.NoError(t, cp.SetImage("registry.example.com/other@sha256:abc", exe))
	require.NoError(t, cp.SetImage("app:v1", exe)) // replaces
	b, err := os.ReadFile(cp.imagesFile())
	require.NoError(t, err)
	var got map[string]string
	require.NoError(t, json.Unmarshal(b, &got))
	require.Equal(t, map[string]string{"app:v1": exe, "registry.example.com/other@sha256:abc": exe}, got)
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

func TestPruneKubelets(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	base := time.Now().Add(-time.Hour)
	for i, name := range []string{"aaa", "bbb", "ccc", "ddd", "eee"} {
		dir := filepath.Join(root, name)
		require.NoError(t, os.MkdirAll(dir, 0o755))
		require.NoError(t, os.WriteFile(dir+".lock", nil, 0o644))
		used := base.Add(time.Duration(i) * time.Minute) // eee is the newest
		require.NoError(t, os.Chtimes(dir, used, used))
	}
	building := filepath.Join(root, "fff.building-123")
	require.NoError(t, os.MkdirAll(building, 0o755))
	require.NoError(t, os.Chtimes(building, base.Add(-time.Hour), base.Add(-time.Hour)))

	pruneKubelets(root, 3)
	entries, err := os.ReadDir(root)
	require.NoError(t, err)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	require.ElementsMatch(t, []string{"ccc", "ccc.lock", "ddd", "ddd.lock", "eee", "eee.lock", "fff.building-123"}, names)
}
