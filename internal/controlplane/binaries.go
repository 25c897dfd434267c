package controlplane

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"
)

// Versions of the control-plane components. The tools modules under
// tools/controlplane pin the same versions; a unit test keeps them in step.
const (
	KubernetesVersion = "v1.37.2"
	EtcdVersion       = "v3.7.3"
	KwokVersion       = "v0.8.0"
)

// EnvBinDir names the environment variable that points at a directory of
// prebuilt binaries (etcd, kube-apiserver, kube-controller-manager,
// kube-scheduler, kwok and kwok-stages.yaml). When it is set, nothing is built
// and nothing is cached.
const EnvBinDir = "KUBEQUEUE_CONTROLPLANE_BIN"

// ErrNotBuilt is returned, wrapped, by [BinDir] and [Start] when the
// binaries for these versions have not been built yet.
var ErrNotBuilt = errors.New("controlplane: not built")

// Binary and file names inside a binary directory.
const (
	binEtcd              = "etcd"
	binAPIServer         = "kube-apiserver"
	binControllerManager = "kube-controller-manager"
	binScheduler         = "kube-scheduler"
	binKwok              = "kwok"
	fileKwokStages       = "kwok-stages.yaml"
)

var binaryFiles = []string{binEtcd, binAPIServer, binControllerManager, binScheduler, binKwok, fileKwokStages}

// kubernetesLDFlags makes the binaries report their real version; without
// them /version says v0.0.0-master.
var kubernetesLDFlags = "-s -w" +
	" -X k8s.io/component-base/version.gitVersion=" + KubernetesVersion +
	" -X k8s.io/component-base/version.gitMajor=1" +
	" -X k8s.io/component-base/version.gitMinor=37" +
	" -X k8s.io/component-base/version.gitTreeState=clean"

// A buildStep builds some of the binaries from one tools module.
type buildStep struct {
	module   string   // directory under tools/controlplane
	packages []string // main packages, built with -o into the binary directory
	output   string   // the binary's name when packages holds one whose name would differ
	ldflags  string
	estimate time.Duration // on 2 cores with empty caches
	what     string
}

var buildSteps = []buildStep{
	{
		module:   "etcd",
		packages: []string{"go.etcd.io/etcd/server/v3"},
		output:   binEtcd,
		ldflags:  "-s -w",
		estimate: 45 * time.Second,
		what:     "etcd " + EtcdVersion,
	},
	{
		module:   "kwok",
		packages: []string{"sigs.k8s.io/kwok/cmd/kwok"},
		ldflags:  "-s -w",
		estimate: 2 * time.Minute,
		what:     "kwok " + KwokVersion,
	},
	{
		module: "kubernetes",
		packages: []string{
			"k8s.io/kubernetes/cmd/kube-apiserver",
			"k8s.io/kubernetes/cmd/kube-controller-manager",
			"k8s.io/kubernetes/cmd/kube-scheduler",
		},
		ldflags:  kubernetesLDFlags,
		estimate: 7 * time.Minute,
		what:     "kube-apiserver, kube-controller-manager and kube-scheduler " + KubernetesVersion,
	},
}

// kwokStages are the upstream stage files, in the kwok module, that the
// simulated node plays: nodes become Ready and send heartbeats, pods run and
// complete quickly, and a pod labelled
// pod-container-running-failed.stage.kwok.x-k8s.io=true fails instead.
var kwokStages = []string{
	"kustomize/stage/node/fast/node-initialize.yaml",
	"kustomize/stage/node/heartbeat/node-heartbeat.yaml",
	"kustomize/stage/pod/fast/pod-ready.yaml",
	"kustomize/stage/pod/fast/pod-complete.yaml",
	"kustomize/stage/pod/fast/pod-delete.yaml",
	"kustomize/stage/pod/chaos/pod-container-running-failed.yaml",
}

// BinDir returns the directory holding the binaries for this version when
// they, and the local kubelet, are already built, or an error that says how
// to build them. It never builds.
func BinDir() (string, error) {
	if dir := os.Getenv(EnvBinDir); dir != "" {
		if missing := missingFiles(dir); len(missing) > 0 {
			return "", fmt.Errorf("controlplane: %s=%s lacks %s", EnvBinDir, dir, strings.Join(missing, ", "))
		}
		return dir, nil
	}
	_, dir, err := cacheDir()
	if err != nil {
		return "", err
	}
	if missing := missingFiles(dir); len(missing) > 0 {
		return "", fmt.Errorf("%w: the binaries for Kubernetes %s are not in %s: run `make controlplane` (about %d minutes on 2 cores the first time)",
			ErrNotBuilt, KubernetesVersion, dir, BuildMinutes())
	}
	if _, err := kubeletBinary(context.Background(), false, nil); err != nil {
		return "", err
	}
	return dir, nil
}

// BuildMinutes is roughly how long a first build takes on 2 cores with
// empty Go caches.
func BuildMinutes() int {
	total := kubeletEstimate
	for _, s := range buildSteps {
		total += s.estimate
	}
	return int(total.Round(time.Minute) / time.Minute)
}

// Ensure returns the directory holding the binaries, building them first if
// they are missing, and builds the local kubelet too if needed. A build writes
// what it is doing to progress (nil discards it); it takes minutes the first
// time and is cached outside the repository afterwards, keyed by the versions
// and the tools modules' go.sum (the local kubelet by a hash of its sources).
// Concurrent callers, in this process or others, build once.
func Ensure(ctx context.Context, progress io.Writer) (string, error) {
	if progress == nil {
		progress = io.Discard
	}
	dir, err := ensureBinaries(ctx, progress)
	if err != nil {
		return "", err
	}
	if _, err := kubeletBinary(ctx, true, progress); err != nil {
		return "", err
	}
	return dir, nil
}

func ensureBinaries(ctx context.Context, progress io.Writer) (string, error) {
	if os.Getenv(EnvBinDir) != "" {
		return BinDir()
	}
	tools, dir, err := cacheDir()
	if err != nil {
		return "", err
	}
	complete := func() bool { return len(missingFiles(dir)) == 0 }
	err = buildInto(ctx, dir, complete, progress, func(goBin, tmp string) error {
		fmt.Fprintf(progress, "controlplane: building the control plane into %s\n", dir)
		fmt.Fprintf(progress, "controlplane: the first build takes about %d minutes on 2 cores (less with a warm Go build cache); later runs reuse it\n", BuildMinutes())
		start := time.Now()
		for _, s := range buildSteps {
			if err := runStep(ctx, goBin, filepath.Join(tools, s.module), tmp, s, progress); err != nil {
				return err
			}
		}
		if err := writeKwokStages(ctx, goBin, filepath.Join(tools, "kwok"), filepath.Join(tmp, fileKwokStages)); err != nil {
			return err
		}
		fmt.Fprintf(progress, "controlplane: built in %s\n", time.Since(start).Round(time.Second))
		return nil
	})
	if err != nil {
		return "", err
	}
	return dir, nil
}

// buildInto makes the cache directory dir complete: unless complete()
// already holds, it takes dir's lock (so that concurrent callers, in this
// process or others, build once), has build fill a temporary directory next
// to dir, and renames that into place, so a directory that exists is
// complete.
func buildInto(ctx context.Context, dir string, complete func() bool, progress io.Writer, build func(goBin, tmp string) error) error {
	if complete() {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return fmt.Errorf("controlplane: create cache directory: %w", err)
	}
	unlock, err := lockFile(ctx, dir+".lock", func() {
		fmt.Fprintf(progress, "controlplane: waiting for another build of %s\n", dir)
	})
	if err != nil {
		return err
	}
	defer unlock()
	if complete() { // built by whoever held the lock
		return nil
	}
	// Builds killed before they finished leave their directories behind;
	// holding the lock, no build of this key is running.
	stale, _ := filepath.Glob(dir + ".building-*")
	for _, d := range stale {
		_ = os.RemoveAll(d)
	}
	goBin, err := goCommand()
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), filepath.Base(dir)+".building-")
	if err != nil {
		return fmt.Errorf("controlplane: %w", err)
	}
	defer os.RemoveAll(tmp)
	if err := build(goBin, tmp); err != nil {
		return err
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return fmt.Errorf("controlplane: %w", err)
	}
	_ = os.RemoveAll(dir) // an incomplete directory left by hand
	if err := os.Rename(tmp, dir); err != nil {
		return fmt.Errorf("controlplane: %w", err)
	}
	return nil
}

func runStep(ctx context.Context, goBin, moduleDir, out string, s buildStep, progress io.Writer) error {
	fmt.Fprintf(progress, "controlplane: building %s (about %s cold)\n", s.what, s.estimate.Round(time.Second))
	if s.output != "" {
		out = filepath.Join(out, s.output)
	} else {
		out += string(filepath.Separator)
	}
	args := append([]string{"build", "-trimpath", "-ldflags", s.ldflags, "-o", out}, s.packages...)
	cmd := goCmd(ctx, goBin, moduleDir, args...)
	var output strings.Builder
	cmd.Stdout = &output
	cmd.Stderr = &output

	start := time.Now()
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(30 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				fmt.Fprintf(progress, "controlplane:   still building %s (%s)\n", s.what, time.Since(start).Round(time.Second))
			}
		}
	}()
	err := cmd.Run()
	close(done)
	if err != nil {
		return fmt.Errorf("controlplane: build %s in %s: %w\n%s", s.what, moduleDir, err, output.String())
	}
	fmt.Fprintf(progress, "controlplane:   done in %s\n", time.Since(start).Round(time.Second))
	return nil
}

// writeKwokStages concatenates the upstream stage files from the kwok module
// the tools module pins into one multi-document file.
func writeKwokStages(ctx context.Context, goBin, moduleDir, path string) error {
	var stderr strings.Builder
	cmd := goCmd(ctx, goBin, moduleDir, "list", "-m", "-f", "{{.Dir}}", "sigs.k8s.io/kwok")
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return fmt.Errorf("controlplane: locate the kwok module: %w: %s", err, stderr.String())
	}
	root := strings.TrimSpace(string(out))
	var stages []byte
	for _, name := range kwokStages {
		b, err := os.ReadFile(filepath.Join(root, name))
		if err != nil {
			return fmt.Errorf("controlplane: read kwok stage: %w", err)
		}
		stages = append(stages, "---\n"...)
		stages = append(stages, b...)
		if len(b) > 0 && b[len(b)-1] != '\n' {
			stages = append(stages, '\n')
		}
	}
	if err := os.WriteFile(path, stages, 0o644); err != nil {
		return fmt.Errorf("controlplane: write kwok stages: %w", err)
	}
	return nil
}

// goCmd returns a go command run in dir, in a process group of its own so
// that cancelling ctx also ends the compilers and linker it started.
func goCmd(ctx context.Context, goBin, dir string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, goBin, args...)
	cmd.Dir = dir
	// The tools modules are built on their own, whatever workspace or flags
	// the caller's environment sets, for the platform this process runs on.
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-buildvcs=false -mod=readonly",
		"GOOS="+runtime.GOOS, "GOARCH="+runtime.GOARCH)
	setProcessGroup(cmd)
	cmd.Cancel = func() error { return signalGroup(cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 10 * time.Second
	return cmd
}

func goCommand() (string, error) {
	if p, err := exec.LookPath("go"); err == nil {
		return p, nil
	}
	p := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(p); err != nil {
		return "", errors.New("controlplane: the go command is needed to build the control plane and is not in PATH")
	}
	return p, nil
}

// ToolsDir returns the directory of the tools modules that pin the
// control-plane versions: next to this source file in a checkout or, when
// the build trimmed source paths, in the working directory or one above it.
func ToolsDir() (string, error) {
	var candidates []string
	if _, file, _, ok := runtime.Caller(0); ok && filepath.IsAbs(file) {
		candidates = append(candidates, filepath.Join(filepath.Dir(file), "..", ".."))
	}
	if wd, err := os.Getwd(); err == nil {
		for dir := wd; ; dir = filepath.Dir(dir) {
			candidates = append(candidates, dir)
			if filepath.Dir(dir) == dir {
				break
			}
		}
	}
	for _, root := range candidates {
		dir := filepath.Join(root, "tools", "controlplane")
		if _, err := os.Stat(filepath.Join(dir, "kubernetes", "go.mod")); err == nil {
			return filepath.Clean(dir), nil
		}
	}
	return "", fmt.Errorf("controlplane: the tools modules (tools/controlplane) are not found; run from a kubequeue checkout or set %s to a directory of prebuilt binaries", EnvBinDir)
}

// cacheDir returns the tools modules' directory and the binaries' cache
// directory, $XDG_CACHE_HOME/kubequeue/controlplane/<versions>-<hash> (or
// the platform's user cache directory), where hash covers the tools modules
// and build flags, so a change to any pin builds afresh.
func cacheDir() (tools, dir string, err error) {
	if tools, err = ToolsDir(); err != nil {
		return "", "", err
	}
	root, err := os.UserCacheDir()
	if err != nil {
		return "", "", fmt.Errorf("controlplane: no cache directory (set %s or XDG_CACHE_HOME): %w", EnvBinDir, err)
	}
	key, err := cacheKey(tools)
	if err != nil {
		return "", "", err
	}
	return tools, filepath.Join(root, "kubequeue", "controlplane", key), nil
}

func cacheKey(tools string) (string, error) {
	h := sha256.New()
	for _, s := range buildSteps {
		for _, f := range []string{"go.mod", "go.sum"} {
			b, err := os.ReadFile(filepath.Join(tools, s.module, f))
			if err != nil {
				return "", fmt.Errorf("controlplane: %w", err)
			}
			fmt.Fprintf(h, "%s/%s %d\n", s.module, f, len(b))
			h.Write(b)
		}
		fmt.Fprintf(h, "%q %q %q\n", s.packages, s.output, s.ldflags)
	}
	fmt.Fprintf(h, "%q %s/%s\n", kwokStages, runtime.GOOS, runtime.GOARCH)
	sum := hex.EncodeToString(h.Sum(nil))[:12]
	return fmt.Sprintf("kubernetes-%s-etcd-%s-kwok-%s-%s", KubernetesVersion, EtcdVersion, KwokVersion, sum), nil
}

func missingFiles(dir string) []string {
	var missing []string
	for _, f := range binaryFiles {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			missing = append(missing, f)
		}
	}
	return missing
}
