package localcluster

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/kubequeue/kubequeue/localcluster/internal/spawn"
)

// tools holds the go.mod and go.sum of one Go module per component, which
// pin the versions built from source: tools/<module>/go.mod.txt and
// go.sum.txt (not go.mod: a directory with a go.mod would be a module of
// its own, left out of this module's zip). tools/README.md says how to
// change them.
//
//go:embed tools/*/go.mod.txt tools/*/go.sum.txt
var tools embed.FS

// toolsFile returns the embedded file name ("go.mod" or "go.sum") of the
// tools module.
func toolsFile(module, name string) []byte {
	b, err := tools.ReadFile(path.Join("tools", module, name+".txt"))
	if err != nil {
		panic("localcluster: embedded tools module: " + err.Error()) // the embed pattern guarantees them
	}
	return b
}

// A componentSpec is one component of the cluster: its binaries, where its
// release is downloaded from, and how it is built from source.
type componentSpec struct {
	module   string   // tools module under tools/
	what     string   // for messages
	binaries []string // the files it provides
	packages []string // main packages built from source with -o into the binary directory
	output   string   // the binary's name when packages holds one whose name would differ
	ldflags  string
	estimate time.Duration // of the build, on 2 cores with empty caches
	download func(ctx context.Context, d *downloader, dir string) ([]string, error)
}

// kubernetesLDFlags makes the binaries report their real version; without
// them /version says v0.0.0-master.
var kubernetesLDFlags = "-s -w" +
	" -X k8s.io/component-base/version.gitVersion=" + KubernetesVersion +
	" -X k8s.io/component-base/version.gitMajor=1" +
	" -X k8s.io/component-base/version.gitMinor=37" +
	" -X k8s.io/component-base/version.gitTreeState=clean"

var components = []componentSpec{
	{
		module:   "etcd",
		what:     "etcd " + EtcdVersion,
		binaries: []string{binEtcd},
		packages: []string{"go.etcd.io/etcd/server/v3"},
		output:   binEtcd,
		ldflags:  "-s -w",
		estimate: 45 * time.Second,
		download: downloadEtcd,
	},
	{
		module:   "kwok",
		what:     "kwok " + KwokVersion,
		binaries: []string{binKwok},
		packages: []string{"sigs.k8s.io/kwok/cmd/kwok"},
		ldflags:  "-s -w",
		estimate: 90 * time.Second,
		download: downloadKwok,
	},
	{
		module:   "kubernetes",
		what:     "kube-apiserver, kube-controller-manager and kube-scheduler " + KubernetesVersion,
		binaries: []string{binAPIServer, binControllerManager, binScheduler},
		packages: []string{
			"k8s.io/kubernetes/cmd/kube-apiserver",
			"k8s.io/kubernetes/cmd/kube-controller-manager",
			"k8s.io/kubernetes/cmd/kube-scheduler",
		},
		ldflags:  kubernetesLDFlags,
		estimate: 7 * time.Minute,
		download: downloadKubernetes,
	},
}

// buildComponent builds c's binaries into dir with go build, in a scratch
// module made of c's embedded go.mod and go.sum, and returns a line per
// binary for the INSTALLED file.
func buildComponent(ctx context.Context, c componentSpec, dir string, progress io.Writer) ([]string, error) {
	goBin, err := goCommand()
	if err != nil {
		return nil, err
	}
	scratch, err := os.MkdirTemp("", "kubequeue-localcluster-build-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(scratch)
	for _, f := range []string{"go.mod", "go.sum"} {
		if err := os.WriteFile(filepath.Join(scratch, f), toolsFile(c.module, f), 0o644); err != nil {
			return nil, err
		}
	}
	fmt.Fprintf(progress, "localcluster: building %s from source (about %s on 2 cores with empty Go caches)\n", c.what, c.estimate.Round(time.Second))
	out := dir + string(filepath.Separator)
	if c.output != "" {
		out = filepath.Join(dir, c.output)
	}
	args := append([]string{"build", "-trimpath", "-ldflags", c.ldflags, "-o", out}, c.packages...)
	cmd := goCmd(ctx, goBin, scratch, args...)
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
				fmt.Fprintf(progress, "localcluster:   still building %s (%s)\n", c.what, time.Since(start).Round(time.Second))
			}
		}
	}()
	if err = spawn.Start(cmd); err == nil {
		err = cmd.Wait()
	}
	close(done)
	if err != nil {
		return nil, fmt.Errorf("go %s: %w\n%s", strings.Join(args, " "), err, output.String())
	}
	fmt.Fprintf(progress, "localcluster:   built %s in %s\n", c.what, time.Since(start).Round(time.Second))
	goVersion := runtime.Version()
	lines := make([]string, len(c.binaries))
	for i, b := range c.binaries {
		lines[i] = fmt.Sprintf("%s: built from source (tools/%s) by %s", b, c.module, goVersion)
	}
	return lines, nil
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
		return "", errors.New("the go command is needed to build from source and is not in PATH")
	}
	return p, nil
}
