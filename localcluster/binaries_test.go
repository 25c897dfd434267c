package localcluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// goMod is what the tests need from a go.mod file.
type goMod struct {
	module  string
	require map[string]string // module path -> version
	replace []goModReplace
	tools   []string
}

type goModReplace struct {
	old, new, version string
}

// parseGoMod reads the module, require, replace and tool directives of a
// go.mod file, in their single-line and block forms.
func parseGoMod(t *testing.T, name string, data []byte) goMod {
	t.Helper()
	mod := goMod{require: map[string]string{}}
	block := ""
	for line := range strings.Lines(string(data)) {
		if i := strings.Index(line, "//"); i >= 0 {
			line = line[:i]
		}
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if block != "" && f[0] == ")" {
			block = ""
			continue
		}
		if block == "" && len(f) == 2 && f[1] == "(" {
			block = f[0]
			continue
		}
		verb := block
		if verb == "" {
			verb, f = f[0], f[1:]
		}
		switch verb {
		case "module":
			mod.module = f[0]
		case "require":
			require.Len(t, f, 2, "require line %q in %s", line, name)
			mod.require[f[0]] = f[1]
		case "tool":
			require.Len(t, f, 1, "tool line %q in %s", line, name)
			mod.tools = append(mod.tools, f[0])
		case "replace":
			i := slices.Index(f, "=>")
			require.Positive(t, i, "replace line %q in %s", line, name)
			r := goModReplace{old: f[0], new: f[i+1]}
			if len(f) > i+2 {
				r.version = f[i+2]
			}
			mod.replace = append(mod.replace, r)
		}
	}
	return mod
}

// toolsGoMod parses the embedded go.mod of a tools module.
func toolsGoMod(t *testing.T, module string) goMod {
	t.Helper()
	return parseGoMod(t, "tools/"+module+"/go.mod.txt", toolsFile(module, "go.mod"))
}

func TestVersions_ToolsModules(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		module  string // directory under tools/
		path    string // the module it must require
		version string
	}{
		{name: "Kubernetes", module: "kubernetes", path: "k8s.io/kubernetes", version: KubernetesVersion},
		{name: "Etcd", module: "etcd", path: "go.etcd.io/etcd/server/v3", version: EtcdVersion},
		{name: "Kwok", module: "kwok", path: "sigs.k8s.io/kwok", version: KwokVersion},
		{name: "Kueue", module: "kueue", path: "sigs.k8s.io/kueue", version: KueueVersion},
	}
	require.Len(t, tests, len(components)+1)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			mod := toolsGoMod(t, tt.module)
			require.Equal(t, "github.com/kubequeue/kubequeue/localcluster/tools/"+tt.module, mod.module)
			got, ok := mod.require[tt.path]
			require.True(t, ok, "tools/%s/go.mod.txt does not require %s", tt.module, tt.path)
			require.Equal(t, tt.version, got, "tools/%s/go.mod.txt requires %s %s", tt.module, tt.path, got)
		})
	}
}

// TestVersions_ToolDirectives keeps the packages the build compiles in step
// with the tool directives of each tools module, so that `go tool` in that
// module runs the same programs.
func TestVersions_ToolDirectives(t *testing.T) {
	t.Parallel()
	for _, c := range append(slices.Clone(components), kueueComponent) {
		t.Run(c.module, func(t *testing.T) {
			t.Parallel()
			require.ElementsMatch(t, c.packages, toolsGoMod(t, c.module).tools)
		})
	}
}

// stagingVersion is the version of the k8s.io staging modules (client-go,
// api, ...) released with KubernetesVersion: v1.X.Y becomes v0.X.Y.
func stagingVersion(t *testing.T) string {
	t.Helper()
	rest, ok := strings.CutPrefix(KubernetesVersion, "v1.")
	require.True(t, ok, "KubernetesVersion %s is not v1.x.y", KubernetesVersion)
	return "v0." + rest
}

func TestVersions_StagingReplaces(t *testing.T) {
	t.Parallel()
	want := stagingVersion(t)
	require.Equal(t, "v0.37.2", want)

	mod := toolsGoMod(t, "kubernetes")
	var staging []string
	for _, r := range mod.replace {
		if !strings.HasPrefix(r.old, "k8s.io/") {
			continue
		}
		staging = append(staging, r.old)
		require.Equal(t, r.old, r.new, "replace %s => %s %s", r.old, r.new, r.version)
		require.Equal(t, want, r.version, "replace %s => %s %s", r.old, r.new, r.version)
	}
	require.Contains(t, staging, "k8s.io/client-go")
	require.Contains(t, staging, "k8s.io/api")
	require.Contains(t, staging, "k8s.io/apimachinery")
}

// TestVersions_Module checks that this module uses the client libraries of
// the Kubernetes it runs, and has no replace directive, which would make
// `go run` of its command at a version fail.
func TestVersions_Module(t *testing.T) {
	t.Parallel()
	want := stagingVersion(t)
	data, err := os.ReadFile("go.mod")
	require.NoError(t, err)
	mod := parseGoMod(t, "go.mod", data)
	require.Equal(t, "github.com/kubequeue/kubequeue/localcluster", mod.module)
	for _, path := range []string{"k8s.io/client-go", "k8s.io/api", "k8s.io/apimachinery"} {
		require.Equal(t, want, mod.require[path], "go.mod requires %s %q", path, mod.require[path])
	}
	require.Empty(t, mod.replace)
	_, core := mod.require["github.com/kubequeue/kubequeue"]
	require.False(t, core, "the local cluster does not need kubequeue")
}

func TestVersions_LDFlags(t *testing.T) {
	t.Parallel()
	parts := strings.Split(strings.TrimPrefix(KubernetesVersion, "v"), ".")
	require.Len(t, parts, 3)
	require.Contains(t, kubernetesLDFlags, "version.gitVersion="+KubernetesVersion+" ")
	require.Contains(t, kubernetesLDFlags, "version.gitMajor="+parts[0]+" ")
	require.Contains(t, kubernetesLDFlags, "version.gitMinor="+parts[1]+" ")
}

// TestKwokStages keeps the embedded stages identical to the upstream stage
// files of the kwok module at KwokVersion.
func TestKwokStages(t *testing.T) {
	t.Parallel()
	cmd := exec.Command("go", "mod", "download", "-json", "sigs.k8s.io/kwok@"+KwokVersion)
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOWORK=off")
	out, err := cmd.Output()
	require.NoError(t, err, "go mod download sigs.k8s.io/kwok@%s (from the module cache or proxy): %s", KwokVersion, out)
	dir := regexp.MustCompile(`"Dir": "([^"]+)"`).FindSubmatch(out)
	require.NotNil(t, dir, "no Dir in %s", out)
	var want []byte
	for _, name := range []string{
		"kustomize/stage/node/fast/node-initialize.yaml",
		"kustomize/stage/node/heartbeat/node-heartbeat.yaml",
		"kustomize/stage/pod/fast/pod-ready.yaml",
		"kustomize/stage/pod/fast/pod-complete.yaml",
		"kustomize/stage/pod/fast/pod-delete.yaml",
		"kustomize/stage/pod/chaos/pod-container-running-failed.yaml",
	} {
		b, err := os.ReadFile(filepath.Join(string(dir[1]), name))
		require.NoError(t, err)
		want = append(want, "---\n"...)
		want = append(want, b...)
		if !bytes.HasSuffix(b, []byte("\n")) {
			want = append(want, '\n')
		}
	}
	require.Equal(t, string(want), string(kwokStages))
}

func TestCacheKey(t *testing.T) {
	t.Parallel()
	key := cacheKey()
	require.Equal(t, key, cacheKey(), "stable")
	want := regexp.MustCompile("^kubernetes-" + regexp.QuoteMeta(KubernetesVersion) +
		"-etcd-" + regexp.QuoteMeta(EtcdVersion) +
		"-kwok-" + regexp.QuoteMeta(KwokVersion) + "-[0-9a-f]{12}$")
	require.Regexp(t, want, key)
}

// noBinDir unsets EnvBinDir for the rest of the test.
func noBinDir(t *testing.T) {
	t.Helper()
	t.Setenv(EnvBinDir, "")
	require.NoError(t, os.Unsetenv(EnvBinDir))
}

func TestInstalled_EmptyCache(t *testing.T) {
	noBinDir(t)
	cache := t.TempDir()
	opts := Options{CacheDir: cache}
	_, err := Installed(opts)
	require.ErrorIs(t, err, ErrNotInstalled)
	require.ErrorContains(t, err, filepath.Join(cache, cacheKey()))
	entries, err := os.ReadDir(cache)
	require.NoError(t, err)
	require.Empty(t, entries, "Installed writes nothing")

	dir := filepath.Join(cache, cacheKey())
	require.NoError(t, os.MkdirAll(dir, 0o755))
	for _, b := range binaries {
		require.NoError(t, os.WriteFile(filepath.Join(dir, b), nil, 0o755))
	}
	got, err := Installed(opts)
	require.NoError(t, err)
	require.Equal(t, dir, got)
}

func TestCacheRoot(t *testing.T) {
	t.Setenv("XDG_CACHE_HOME", "/var/cache/someone")
	got, err := cacheRoot(Options{})
	require.NoError(t, err)
	want, err := os.UserCacheDir()
	require.NoError(t, err)
	require.Equal(t, filepath.Join(want, "kubequeue", "localcluster"), got)

	got, err = cacheRoot(Options{CacheDir: "relative/cache"})
	require.NoError(t, err)
	wd, err := os.Getwd()
	require.NoError(t, err)
	require.Equal(t, filepath.Join(wd, "relative", "cache"), got)
}

// The tests that set EnvBinDir cannot run in parallel (t.Setenv).
func TestInstall_BinDir(t *testing.T) {
	tests := []struct {
		name    string
		files   []string
		env     bool     // through EnvBinDir rather than Options.BinDir
		missing []string // nil: the directory is complete
	}{
		{name: "Empty", files: nil, missing: binaries},
		{
			name:    "SomeMissing",
			files:   []string{binEtcd, binKwok},
			missing: []string{binAPIServer, binControllerManager, binScheduler},
		},
		{name: "EnvSomeMissing", env: true, files: []string{binEtcd}, missing: []string{binAPIServer, binControllerManager, binScheduler, binKwok}},
		{name: "Complete", files: binaries},
		{name: "EnvComplete", env: true, files: binaries},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			for _, f := range tt.files {
				require.NoError(t, os.WriteFile(filepath.Join(dir, f), nil, 0o755))
			}
			cache := t.TempDir()
			opts := Options{CacheDir: cache, ReleaseURL: "http://127.0.0.1:1"}
			from := "Options.BinDir"
			if tt.env {
				t.Setenv(EnvBinDir, dir)
				from = EnvBinDir
			} else {
				noBinDir(t)
				opts.BinDir = dir
			}
			var progress bytes.Buffer
			opts.Log = &progress

			got, err := Installed(opts)
			installed, installErr := Install(t.Context(), opts)
			require.Empty(t, progress.String(), "Install neither downloads nor builds with a binary directory")
			entries, rerr := os.ReadDir(dir)
			require.NoError(t, rerr)
			require.Len(t, entries, len(tt.files), "nothing is written to the binary directory")
			entries, rerr = os.ReadDir(cache)
			require.NoError(t, rerr)
			require.Empty(t, entries, "nothing is written to the cache")

			if tt.missing == nil {
				require.NoError(t, err)
				require.Equal(t, dir, got)
				require.NoError(t, installErr)
				require.Equal(t, dir, installed)
				return
			}
			want := fmt.Sprintf("%s=%s lacks %s (it must hold etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok)", from, dir, strings.Join(tt.missing, ", "))
			require.ErrorContains(t, err, want)
			require.ErrorContains(t, installErr, want)
			require.Empty(t, got)
			require.Empty(t, installed)
		})
	}
}

func TestMissingFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	require.Equal(t, binaries, missingFiles(dir))
	require.Equal(t, binaries, missingFiles(filepath.Join(dir, "absent")))
	for _, f := range binaries {
		require.NoError(t, os.WriteFile(filepath.Join(dir, f), nil, 0o644))
	}
	require.Empty(t, missingFiles(dir))
}

func TestBuildMinutes(t *testing.T) {
	t.Parallel()
	// The figure the docs give for a cold build from source.
	require.Equal(t, 9, BuildMinutes())
}

func TestPrune(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	base := time.Now().Add(-time.Hour)
	for i, name := range []string{"kubernetes-v1.1.0-a", "kubernetes-v1.2.0-b", "kubernetes-v1.3.0-c", "kubernetes-v1.4.0-d", "kubernetes-v1.5.0-e"} {
		dir := filepath.Join(root, name)
		require.NoError(t, os.MkdirAll(dir, 0o755))
		require.NoError(t, os.WriteFile(dir+".lock", nil, 0o644))
		used := base.Add(time.Duration(i) * time.Minute) // ...-e is the newest
		require.NoError(t, os.Chtimes(dir, used, used))
	}
	kueue := filepath.Join(root, "kueue-v0.17.0-k") // the oldest, but not the cluster's
	require.NoError(t, os.MkdirAll(kueue, 0o755))
	require.NoError(t, os.Chtimes(kueue, base.Add(-time.Hour), base.Add(-time.Hour)))
	inProgress := filepath.Join(root, "kubernetes-v1.6.0-f"+building+"123")
	require.NoError(t, os.MkdirAll(inProgress, 0o755))
	require.NoError(t, os.Chtimes(inProgress, base.Add(-time.Hour), base.Add(-time.Hour)))

	// The oldest is the one in use (its time could not be set): kept too.
	prune(root, 3, filepath.Join(root, "kubernetes-v1.1.0-a"))
	entries, err := os.ReadDir(root)
	require.NoError(t, err)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	require.ElementsMatch(t, []string{
		"kubernetes-v1.1.0-a", "kubernetes-v1.1.0-a.lock",
		"kubernetes-v1.3.0-c", "kubernetes-v1.3.0-c.lock",
		"kubernetes-v1.4.0-d", "kubernetes-v1.4.0-d.lock",
		"kubernetes-v1.5.0-e", "kubernetes-v1.5.0-e.lock",
		filepath.Base(inProgress), filepath.Base(kueue),
	}, names)
}

// TestInstall_PrunesOldInstalls checks that Install keeps the three most
// recently used installs: the one it just used and two others.
func TestInstall_PrunesOldInstalls(t *testing.T) {
	noBinDir(t)
	cache := t.TempDir()
	current := filepath.Join(cache, cacheKey())
	require.NoError(t, os.MkdirAll(current, 0o755))
	for _, b := range binaries {
		require.NoError(t, os.WriteFile(filepath.Join(current, b), nil, 0o755))
	}
	old := time.Now().Add(-24 * time.Hour)
	require.NoError(t, os.Chtimes(current, old, old))
	for i, name := range []string{"kubernetes-v1.0.0-old", "kubernetes-v1.1.0-older", "kubernetes-v1.2.0-oldest"} {
		dir := filepath.Join(cache, name)
		require.NoError(t, os.MkdirAll(dir, 0o755))
		used := time.Now().Add(-time.Duration(i+1) * time.Hour)
		require.NoError(t, os.Chtimes(dir, used, used))
	}
	dir, err := Install(t.Context(), Options{CacheDir: cache, ReleaseURL: releasesOff})
	require.NoError(t, err)
	require.Equal(t, current, dir)
	entries, err := os.ReadDir(cache)
	require.NoError(t, err)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	require.ElementsMatch(t, []string{filepath.Base(current), "kubernetes-v1.0.0-old", "kubernetes-v1.1.0-older"}, names)
}

// fakeBuild replaces buildSource for a test: it records the components it
// is asked to build and writes empty binaries, or fails with err.
type fakeBuild struct {
	mu    sync.Mutex
	built []string
	err   error
}

func (f *fakeBuild) build(_ context.Context, c componentSpec, dir string, progress io.Writer) ([]string, error) {
	f.mu.Lock()
	f.built = append(f.built, c.module)
	f.mu.Unlock()
	if f.err != nil {
		return nil, f.err
	}
	var lines []string
	for _, b := range c.binaries {
		if err := os.WriteFile(filepath.Join(dir, b), nil, 0o755); err != nil {
			return nil, err
		}
		lines = append(lines, b+": built by the test")
	}
	fmt.Fprintf(progress, "built %s\n", c.module)
	return lines, nil
}

// swapBuild makes buildSource fake for the rest of the test, which must
// not be parallel with others that install.
func swapBuild(t *testing.T, f *fakeBuild) {
	t.Helper()
	old := buildSource
	buildSource = f.build
	t.Cleanup(func() { buildSource = old })
}

func TestInstall_DownloadsOff(t *testing.T) {
	noBinDir(t)
	f := &fakeBuild{}
	swapBuild(t, f)
	cache := t.TempDir()
	var progress bytes.Buffer
	t.Setenv(EnvReleaseURL, releasesOff)
	dir, err := Install(t.Context(), Options{CacheDir: cache, Log: &progress})
	require.NoError(t, err)
	require.Equal(t, filepath.Join(cache, cacheKey()), dir)
	require.ElementsMatch(t, []string{"etcd", "kwok", "kubernetes"}, f.built)
	require.Contains(t, progress.String(), "downloads are off ("+EnvReleaseURL+"=off)")
	installed, err := os.ReadFile(filepath.Join(dir, installedFile))
	require.NoError(t, err)
	for _, b := range binaries {
		require.Contains(t, string(installed), b+": built by the test\n")
	}

	// Installed now, so neither downloaded nor built again.
	f.built = nil
	again, err := Install(t.Context(), Options{CacheDir: cache})
	require.NoError(t, err)
	require.Equal(t, dir, again)
	require.Empty(t, f.built)
}

func TestInstall_BuildFails(t *testing.T) {
	noBinDir(t)
	swapBuild(t, &fakeBuild{err: errors.New("no module proxy")})
	cache := t.TempDir()
	_, err := Install(t.Context(), Options{CacheDir: cache, ReleaseURL: releasesOff})
	require.ErrorContains(t, err, "localcluster: install etcd "+EtcdVersion+": download: downloads are off")
	require.ErrorContains(t, err, "build from source: no module proxy")
	entries, rerr := os.ReadDir(cache)
	require.NoError(t, rerr)
	for _, e := range entries {
		require.True(t, strings.HasSuffix(e.Name(), ".lock"), "a failed install leaves only its lock, not %s", e.Name())
	}
}

// TestInstall_Concurrent installs from several goroutines at once: one
// builds, the others wait for it and find the result.
func TestInstall_Concurrent(t *testing.T) {
	noBinDir(t)
	f := &fakeBuild{}
	swapBuild(t, f)
	cache := t.TempDir()
	var wg sync.WaitGroup
	dirs := make([]string, 4)
	errs := make([]error, 4)
	for i := range dirs {
		wg.Go(func() { dirs[i], errs[i] = Install(t.Context(), Options{CacheDir: cache, ReleaseURL: releasesOff}) })
	}
	wg.Wait()
	for i := range dirs {
		require.NoError(t, errs[i])
		require.Equal(t, filepath.Join(cache, cacheKey()), dirs[i])
	}
	require.ElementsMatch(t, []string{"etcd", "kwok", "kubernetes"}, f.built, "built once")
}

func TestInstallInto_RemovesStaleBuilds(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	dir := filepath.Join(root, "kubernetes-v1.37.2-x")
	stale := dir + building + "42"
	require.NoError(t, os.MkdirAll(stale, 0o755))
	err := installInto(t.Context(), dir, func() bool { return false }, io.Discard, func(tmp string) error {
		return os.WriteFile(filepath.Join(tmp, "etcd"), nil, 0o755)
	})
	require.NoError(t, err)
	_, err = os.Stat(stale)
	require.ErrorIs(t, err, os.ErrNotExist)
	_, err = os.Stat(filepath.Join(dir, "etcd"))
	require.NoError(t, err)

	// A failed fill leaves no directory.
	other := filepath.Join(root, "other")
	err = installInto(t.Context(), other, func() bool { return false }, io.Discard, func(string) error { return errors.New("boom") })
	require.EqualError(t, err, "boom")
	matches, _ := filepath.Glob(other + "*")
	require.Equal(t, []string{other + ".lock"}, matches)
}
