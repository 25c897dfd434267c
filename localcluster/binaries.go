package localcluster

import (
	"context"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"
)

// Versions of the cluster's components. The tools modules embedded in this
// package (tools/*/go.mod.txt) pin the same versions; a unit test keeps
// them in step.
const (
	KubernetesVersion = "v1.37.2"
	EtcdVersion       = "v3.7.3"
	KwokVersion       = "v0.8.0"
)

// EnvBinDir names the environment variable that points at a directory of
// binaries installed by other means, used when [Options.BinDir] is empty.
// It must hold etcd, kube-apiserver, kube-controller-manager,
// kube-scheduler and kwok, of the pinned versions; nothing is then
// downloaded, built or cached.
const EnvBinDir = "KUBEQUEUE_LOCALCLUSTER_BIN"

// EnvReleaseURL names the environment variable that sets where release
// binaries are downloaded from, used when [Options.ReleaseURL] is empty:
// a mirror's base URL, or "off" to build from source only.
const EnvReleaseURL = "KUBEQUEUE_LOCALCLUSTER_RELEASES"

// ErrNotInstalled is returned, wrapped, by [Installed] when the binaries
// for the pinned versions are not in the cache.
var ErrNotInstalled = errors.New("localcluster: binaries not installed")

// Binary names inside a binary directory.
const (
	binEtcd              = "etcd"
	binAPIServer         = "kube-apiserver"
	binControllerManager = "kube-controller-manager"
	binScheduler         = "kube-scheduler"
	binKwok              = "kwok"
)

// binaries are the files a complete binary directory holds.
var binaries = []string{binEtcd, binAPIServer, binControllerManager, binScheduler, binKwok}

// kwokStages are the stages the simulated node plays, the upstream stage
// files of the kwok module at KwokVersion, one after the other:
// kustomize/stage/node/fast/node-initialize.yaml,
// node/heartbeat/node-heartbeat.yaml, pod/fast/pod-ready.yaml,
// pod/fast/pod-complete.yaml, pod/fast/pod-delete.yaml and
// pod/chaos/pod-container-running-failed.yaml (Apache License 2.0). Nodes
// become Ready and send heartbeats, pods run and complete at once, and a
// pod labelled pod-container-running-failed.stage.kwok.x-k8s.io=true fails.
//
//go:embed kwok-stages.yaml
var kwokStages []byte

// keptInstalls is how many installed sets of binaries the cache keeps: the
// most recently used, so that switching between a few versions does not
// install again, while each new version does not add 400 MB for good.
const keptInstalls = 3

// installedFile records, in a binary directory, where each binary came
// from.
const installedFile = "INSTALLED"

// Installed returns the directory holding the binaries when they are
// installed ([Options.BinDir], $KUBEQUEUE_LOCALCLUSTER_BIN or the cache),
// or an error: for the cache, one that wraps [ErrNotInstalled]. It never
// downloads or builds.
func Installed(opts Options) (string, error) {
	if dir, ok, err := givenBinDir(opts); ok || err != nil {
		return dir, err
	}
	root, err := cacheRoot(opts)
	if err != nil {
		return "", err
	}
	dir := filepath.Join(root, cacheKey())
	if missing := missingFiles(dir); len(missing) > 0 {
		return "", fmt.Errorf("%w: the binaries for Kubernetes %s are not in %s; Start installs them (a download, or a build of about %d minutes on 2 cores)",
			ErrNotInstalled, KubernetesVersion, dir, BuildMinutes())
	}
	return dir, nil
}

// givenBinDir returns the directory [Options.BinDir] or $KUBEQUEUE_LOCALCLUSTER_BIN
// names, with ok true, or an error naming the files it lacks.
func givenBinDir(opts Options) (dir string, ok bool, err error) {
	dir, from := opts.BinDir, "Options.BinDir"
	if dir == "" {
		dir, from = os.Getenv(EnvBinDir), EnvBinDir
	}
	if dir == "" {
		return "", false, nil
	}
	if missing := missingFiles(dir); len(missing) > 0 {
		return "", true, fmt.Errorf("localcluster: %s=%s lacks %s (it must hold %s)",
			from, dir, strings.Join(missing, ", "), strings.Join(binaries, ", "))
	}
	return dir, true, nil
}

// BuildMinutes is roughly how long building the binaries from source takes
// on 2 cores with empty Go caches.
func BuildMinutes() int {
	var total time.Duration
	for _, c := range components {
		total += c.estimate
	}
	return int(total.Round(time.Minute) / time.Minute)
}

// Install returns the directory holding the binaries, installing them in
// the cache first if they are not there, and is what [Start] does first.
//
// With [Options.BinDir] or $KUBEQUEUE_LOCALCLUSTER_BIN set, it only checks
// that directory. Otherwise, on Linux, it downloads the official release
// binaries of each component and checks each against its published SHA-256
// before use:
//
//   - kube-apiserver, kube-controller-manager and kube-scheduler from
//     https://dl.k8s.io/release/<version>/bin/linux/<arch>/<name>, checked
//     against <name>.sha256 beside it;
//   - etcd from https://github.com/etcd-io/etcd/releases/download/<version>/
//     etcd-<version>-linux-<arch>.tar.gz, checked against SHA256SUMS beside
//     it;
//   - kwok from https://github.com/kubernetes-sigs/kwok/releases/download/
//     <version>/kwok-linux-<arch>, checked against the digest GitHub
//     publishes for that release asset
//     (https://api.github.com/repos/kubernetes-sigs/kwok/releases/tags/<version>).
//
// A mirror ([Options.ReleaseURL], $KUBEQUEUE_LOCALCLUSTER_RELEASES) serves
// the same files under <mirror>/<host>/<path>, e.g.
// <mirror>/dl.k8s.io/release/v1.37.2/bin/linux/amd64/kube-apiserver; the
// checksums then come from the mirror too. A component whose download fails
// (no network, no such file, a checksum that does not match: such a file is
// never used) is built from source instead, with the go command, from the
// module versions that the go.mod and go.sum embedded in this package pin:
// that needs the Go module proxy or a module cache that holds them, and
// about 9 minutes on 2 cores for all of them. Progress goes to
// [Options.Log].
//
// The cache directory is <CacheDir>/kubernetes-<v>-etcd-<v>-kwok-<v>-<hash>,
// where the hash covers the embedded go.mod and go.sum files, the build
// flags and the platform; the file INSTALLED in it says where each binary
// came from. Installing keeps the three most recently used such directories
// and removes older ones. Concurrent callers, in this process or others,
// install once.
func Install(ctx context.Context, opts Options) (string, error) {
	if dir, ok, err := givenBinDir(opts); ok || err != nil {
		return dir, err
	}
	var progress io.Writer = io.Discard
	if opts.Log != nil {
		progress = &syncWriter{w: opts.Log} // downloads report at once
	}
	root, err := cacheRoot(opts)
	if err != nil {
		return "", err
	}
	dir := filepath.Join(root, cacheKey())
	releases, err := releaseBase(opts)
	if err != nil {
		return "", err
	}
	complete := func() bool { return len(missingFiles(dir)) == 0 }
	err = installInto(ctx, dir, complete, progress, func(tmp string) error {
		return installComponents(ctx, tmp, releases, progress)
	})
	if err != nil {
		return "", err
	}
	now := time.Now()
	_ = os.Chtimes(dir, now, now) // recently used: kept by prune
	prune(root, keptInstalls, dir)
	return dir, nil
}

// A syncWriter serializes the writes to w.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

// buildSource builds a component from source into dir. Tests replace it.
var buildSource = buildComponent

// installComponents fills dir with every component's binaries: downloaded
// where releases is not "off", and built from source where that fails.
func installComponents(ctx context.Context, dir, releases string, progress io.Writer) error {
	start := time.Now()
	fmt.Fprintf(progress, "localcluster: installing Kubernetes %s, etcd %s and kwok %s into %s\n",
		KubernetesVersion, EtcdVersion, KwokVersion, filepath.Dir(dir))
	origins := make([][]string, len(components))
	failed := make([]error, len(components))
	if releases == releasesOff {
		for i := range components {
			failed[i] = fmt.Errorf("downloads are off (%s=off)", EnvReleaseURL)
		}
	} else {
		var wg sync.WaitGroup
		for i, c := range components {
			wg.Go(func() {
				origins[i], failed[i] = downloadComponent(ctx, c, releases, dir, progress)
			})
		}
		wg.Wait()
	}
	for i, c := range components {
		if failed[i] == nil {
			continue
		}
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("localcluster: install: %w", err)
		}
		fmt.Fprintf(progress, "localcluster: no release binary for %s (%v): building it from source\n", c.what, failed[i])
		built, err := buildSource(ctx, c, dir, progress)
		if err != nil {
			return fmt.Errorf("localcluster: install %s: download: %v; build from source: %w", c.what, failed[i], err)
		}
		origins[i] = built
	}
	if err := os.WriteFile(filepath.Join(dir, installedFile), []byte(strings.Join(slices.Concat(origins...), "\n")+"\n"), 0o644); err != nil {
		return fmt.Errorf("localcluster: %w", err)
	}
	fmt.Fprintf(progress, "localcluster: installed in %s\n", time.Since(start).Round(time.Second))
	return nil
}

// installInto makes the cache directory dir complete: unless complete()
// already holds, it takes dir's lock (so that concurrent callers, in this
// process or others, install once), has fill fill a temporary directory
// next to dir, and renames that into place, so a directory that exists is
// complete.
func installInto(ctx context.Context, dir string, complete func() bool, progress io.Writer, fill func(tmp string) error) error {
	if complete() {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return fmt.Errorf("localcluster: create cache directory: %w", err)
	}
	unlock, err := lockFile(ctx, dir+".lock", func() {
		fmt.Fprintf(progress, "localcluster: waiting for another install of %s\n", dir)
	})
	if err != nil {
		return err
	}
	defer unlock()
	if complete() { // installed by whoever held the lock
		return nil
	}
	// Installs killed before they finished leave their directories behind;
	// holding the lock, no install of this key is running.
	stale, _ := filepath.Glob(dir + building + "*")
	for _, d := range stale {
		_ = os.RemoveAll(d)
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), filepath.Base(dir)+building)
	if err != nil {
		return fmt.Errorf("localcluster: %w", err)
	}
	defer os.RemoveAll(tmp)
	if err := fill(tmp); err != nil {
		return err
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return fmt.Errorf("localcluster: %w", err)
	}
	_ = os.RemoveAll(dir) // an incomplete directory left by hand
	if err := os.Rename(tmp, dir); err != nil {
		return fmt.Errorf("localcluster: %w", err)
	}
	return nil
}

// building marks the temporary directory of an install in progress.
const building = ".building-"

// prune removes all but the keep most recently used installs of the
// cluster's binaries (kubernetes-...) in root, and never used, the one
// just used.
func prune(root string, keep int, used string) {
	entries, err := os.ReadDir(root)
	if err != nil {
		return
	}
	type install struct {
		path string
		used time.Time
	}
	var installs []install
	for _, e := range entries {
		// Kueue's install (kueue-...) is not one of the cluster's.
		if !e.IsDir() || strings.Contains(e.Name(), building) || !strings.HasPrefix(e.Name(), "kubernetes-") {
			continue
		}
		if fi, err := e.Info(); err == nil {
			installs = append(installs, install{filepath.Join(root, e.Name()), fi.ModTime()})
		}
	}
	slices.SortFunc(installs, func(a, b install) int { return b.used.Compare(a.used) })
	for _, in := range installs[min(keep, len(installs)):] {
		if in.path == used {
			continue
		}
		_ = os.RemoveAll(in.path)
		_ = os.Remove(in.path + ".lock")
	}
}

// cacheRoot returns the directory installs are cached in:
// [Options.CacheDir], or kubequeue/localcluster in the user cache directory.
func cacheRoot(opts Options) (string, error) {
	if opts.CacheDir != "" {
		return filepath.Abs(opts.CacheDir)
	}
	root, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("localcluster: no cache directory (set Options.CacheDir, XDG_CACHE_HOME or %s): %w", EnvBinDir, err)
	}
	return filepath.Join(root, "kubequeue", "localcluster"), nil
}

// cacheKey names the cache directory of the pinned versions:
// kubernetes-<v>-etcd-<v>-kwok-<v>-<hash>, where the hash covers the
// embedded tools modules, what is built from them and how, and the
// platform, so that a change to any pin installs afresh.
func cacheKey() string {
	h := sha256.New()
	for _, c := range components {
		for _, f := range []string{"go.mod", "go.sum"} {
			b := toolsFile(c.module, f)
			fmt.Fprintf(h, "%s/%s %d\n", c.module, f, len(b))
			h.Write(b)
		}
		fmt.Fprintf(h, "%q %q %q\n", c.packages, c.output, c.ldflags)
	}
	fmt.Fprintf(h, "%s/%s\n", runtime.GOOS, runtime.GOARCH)
	sum := hex.EncodeToString(h.Sum(nil))[:12]
	return fmt.Sprintf("kubernetes-%s-etcd-%s-kwok-%s-%s", KubernetesVersion, EtcdVersion, KwokVersion, sum)
}

func missingFiles(dir string) []string {
	var missing []string
	for _, f := range binaries {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			missing = append(missing, f)
		}
	}
	return missing
}
