package controlplane

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// LocalNodeName is the name of the node whose pods really run, as local
// processes, under the local kubelet (internal/localkubelet). Pods land there
// unless they select the simulated node.
const LocalNodeName = "local"

// SimulatedNodeName is the name of the node kwok simulates: its pods go
// Running then Succeeded without running anything, or Failed when their
// template carries the label pod-container-running-failed.stage.kwok.x-k8s.io
// =true. It is tainted with [SimulatedTaint], so only pods that tolerate the
// taint and select the node (see [Simulated]) land there.
const SimulatedNodeName = "kwok-node"

// SimulatedTaint keeps pods off the simulated node unless they tolerate it.
var SimulatedTaint = corev1.Taint{Key: "kubequeue.io/simulated", Value: "true", Effect: corev1.TaintEffectNoSchedule}

// Simulated returns the node selector and toleration that place a pod on
// the simulated node, e.g. for scale tests that need no real process.
func Simulated() (nodeSelector map[string]string, tolerations []corev1.Toleration) {
	return map[string]string{"kubernetes.io/hostname": SimulatedNodeName},
		[]corev1.Toleration{{Key: SimulatedTaint.Key, Operator: corev1.TolerationOpEqual, Value: SimulatedTaint.Value, Effect: SimulatedTaint.Effect}}
}

// binKubelet is the local kubelet's binary.
const binKubelet = "kubequeue-kubelet"

// kubeletEstimate is how long a first build of the local kubelet takes on 2
// cores with empty caches.
const kubeletEstimate = 100 * time.Second

// kubeletBinary returns the local kubelet's binary: $KUBEQUEUE_CONTROLPLANE_BIN
// /kubequeue-kubelet when that exists, else the build of internal/localkubelet
// cached under a hash of its sources. With build false a missing binary is an
// error wrapping [ErrNotBuilt]; with build true it is built, reporting to
// progress.
func kubeletBinary(ctx context.Context, build bool, progress io.Writer) (string, error) {
	if dir := os.Getenv(EnvBinDir); dir != "" {
		if p := filepath.Join(dir, binKubelet); fileExists(p) {
			return p, nil
		}
	}
	src, dir, err := kubeletCacheDir()
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, binKubelet)
	if fileExists(bin) {
		now := time.Now()
		_ = os.Chtimes(dir, now, now) // recently used: kept by pruneKubelets
		return bin, nil
	}
	if !build {
		return "", fmt.Errorf("%w: the local kubelet is not in %s: run `make controlplane` (about %s the first time)",
			ErrNotBuilt, dir, kubeletEstimate)
	}
	if progress == nil {
		progress = io.Discard
	}
	step := buildStep{
		packages: []string{"./cmd/" + binKubelet},
		output:   binKubelet,
		ldflags:  "-s -w",
		estimate: kubeletEstimate,
		what:     "the local kubelet (internal/localkubelet)",
	}
	err = buildInto(ctx, dir, func() bool { return fileExists(bin) }, progress, func(goBin, tmp string) error {
		return runStep(ctx, goBin, src, tmp, step, progress)
	})
	if err != nil {
		return "", err
	}
	pruneKubelets(filepath.Dir(dir), keptKubelets)
	return bin, nil
}

// keptKubelets is how many builds of the local kubelet the cache keeps: the
// most recently used, so that switching between a few branches does not
// rebuild, while every change to its sources does not add 70 MB for good.
const keptKubelets = 3

// pruneKubelets removes all but the keep most recently used builds in root.
func pruneKubelets(root string, keep int) {
	entries, err := os.ReadDir(root)
	if err != nil {
		return
	}
	type build struct {
		path string
		used time.Time
	}
	var builds []build
	for _, e := range entries {
		if !e.IsDir() || strings.Contains(e.Name(), ".") { // .building-* directories belong to builds in progress
			continue
		}
		if fi, err := e.Info(); err == nil {
			builds = append(builds, build{filepath.Join(root, e.Name()), fi.ModTime()})
		}
	}
	slices.SortFunc(builds, func(a, b build) int { return b.used.Compare(a.used) })
	for _, b := range builds[min(keep, len(builds)):] {
		_ = os.RemoveAll(b.path)
		_ = os.Remove(b.path + ".lock")
	}
}

// kubeletCacheDir returns the local kubelet's module directory and the
// directory its build is cached in: $XDG_CACHE_HOME/kubequeue/localkubelet/
// <hash of its sources and the platform>.
func kubeletCacheDir() (src, dir string, err error) {
	tools, err := ToolsDir()
	if err != nil {
		return "", "", err
	}
	src = filepath.Clean(filepath.Join(tools, "..", "..", "internal", "localkubelet"))
	key, err := kubeletKey(src)
	if err != nil {
		return "", "", err
	}
	root, err := os.UserCacheDir()
	if err != nil {
		return "", "", fmt.Errorf("controlplane: no cache directory (set XDG_CACHE_HOME): %w", err)
	}
	return src, filepath.Join(root, "kubequeue", "localkubelet", key), nil
}

// kubeletKey hashes what the local kubelet's build depends on: its go.mod,
// go.sum and non-test Go files, and the platform.
func kubeletKey(src string) (string, error) {
	var files []string
	err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if !d.IsDir() && (name == "go.mod" || name == "go.sum" || (strings.HasSuffix(name, ".go") && !strings.HasSuffix(name, "_test.go"))) {
			files = append(files, path)
		}
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("controlplane: local kubelet sources: %w", err)
	}
	slices.Sort(files)
	h := sha256.New()
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return "", fmt.Errorf("controlplane: %w", err)
		}
		rel, _ := filepath.Rel(src, f)
		fmt.Fprintf(h, "%s %d\n", filepath.ToSlash(rel), len(b))
		h.Write(b)
	}
	fmt.Fprintf(h, "%s/%s\n", runtime.GOOS, runtime.GOARCH)
	return hex.EncodeToString(h.Sum(nil))[:12], nil
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// SetImage maps an image reference to a local executable for the local
// kubelet: a container of that image without a command runs exe. It applies
// to containers that start afterwards.
func (cp *ControlPlane) SetImage(ref, exe string) error {
	if ref == "" {
		return errors.New("controlplane: empty image reference")
	}
	if !filepath.IsAbs(exe) {
		return fmt.Errorf("controlplane: image %s: executable %q is not an absolute path", ref, exe)
	}
	if fi, err := os.Stat(exe); err != nil || fi.IsDir() || fi.Mode().Perm()&0o111 == 0 {
		return fmt.Errorf("controlplane: image %s: %q is not an executable file", ref, exe)
	}
	cp.imagesMu.Lock()
	defer cp.imagesMu.Unlock()
	images := map[string]string{}
	if b, err := os.ReadFile(cp.imagesFile()); err == nil {
		if err := json.Unmarshal(b, &images); err != nil {
			return fmt.Errorf("controlplane: %s: %w", cp.imagesFile(), err)
		}
	}
	images[ref] = exe
	b, err := json.MarshalIndent(images, "", "  ")
	if err != nil {
		return err
	}
	tmp := cp.imagesFile() + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return fmt.Errorf("controlplane: %w", err)
	}
	if err := os.Rename(tmp, cp.imagesFile()); err != nil {
		return fmt.Errorf("controlplane: %w", err)
	}
	return nil
}

func (cp *ControlPlane) imagesFile() string { return filepath.Join(cp.dir, "images.json") }
