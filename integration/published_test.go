package integration

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/mod/module"
	"golang.org/x/mod/zip"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/kubequeue/kubequeue"
)

// The modules a user of kubequeue gets from the module proxy, at the version
// the consumer module requires.
const (
	corePath         = "github.com/kubequeue/kubequeue"
	localclusterPath = "github.com/kubequeue/kubequeue/localcluster"
	publishedVersion = "v0.1.0"
)

// consumerImage is the image of the consumer's worker
// (testdata/consumer/resize.go).
const consumerImage = "registry.example.com/shop/thumbs:v1"

// publishedModule writes the module zip of the module in dir, as the module
// proxy would serve it (nested modules, such as localcluster in kubequeue's
// tree, are left out), extracts it into dst and returns dst.
func publishedModule(t *testing.T, path, dir, dst string) string {
	t.Helper()
	m := module.Version{Path: path, Version: publishedVersion}
	zipFile := dst + ".zip"
	f, err := os.Create(zipFile)
	require.NoError(t, err)
	require.NoError(t, zip.CreateFromDir(f, m, dir), "module zip of %s", path)
	require.NoError(t, f.Close())
	require.NoError(t, zip.Unzip(dst, m, zipFile), "extract the module zip of %s", path)
	return dst
}

// consumerModule writes, in a new directory, the module zips of kubequeue
// and localcluster, extracted, and a consumer module that requires them
// (through replace directives to those directories, so that nothing of
// this checkout is used) with the files of testdata/consumer. It returns
// the consumer's directory and the environment its go commands run with:
// no module proxy (the module cache alone) and no workspace.
func consumerModule(t *testing.T) (dir string, env []string) {
	t.Helper()
	scratch := t.TempDir()
	core := publishedModule(t, corePath, "..", filepath.Join(scratch, "kubequeue"))
	lc := publishedModule(t, localclusterPath, "../localcluster", filepath.Join(scratch, "localcluster"))
	_, err := os.Stat(filepath.Join(core, "localcluster"))
	require.ErrorIs(t, err, os.ErrNotExist, "the localcluster module is not in kubequeue's zip")
	_, err = os.Stat(filepath.Join(lc, "tools", "kubernetes", "go.sum.txt"))
	require.NoError(t, err, "the tools modules' files are in localcluster's zip")

	dir = filepath.Join(scratch, "thumbs")
	require.NoError(t, os.MkdirAll(dir, 0o755))
	files, err := filepath.Glob("testdata/consumer/*.go")
	require.NoError(t, err)
	require.Len(t, files, 2)
	for _, f := range files {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dir, filepath.Base(f)), b, 0o644))
	}
	goMod := fmt.Sprintf(`module example.com/thumbs

go 1.26.0

require (
	%[1]s %[3]s
	%[2]s %[3]s
)

replace %[1]s %[3]s => %[4]s

replace %[2]s %[3]s => %[5]s
`, corePath, localclusterPath, publishedVersion, core, lc)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "go.mod"), []byte(goMod), 0o644))
	// The checksums of both modules' dependencies, which the module cache
	// holds.
	var sums []string
	for _, d := range []string{core, lc} {
		b, err := os.ReadFile(filepath.Join(d, "go.sum"))
		require.NoError(t, err)
		sums = append(sums, strings.SplitAfter(string(b), "\n")...)
	}
	slices.Sort(sums)
	sums = slices.Compact(sums)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "go.sum"), []byte(strings.Join(sums, "")), 0o644))

	env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod", "GOPROXY=off", "GOSUMDB=off", "GOTOOLCHAIN=local")
	goCommand(t, dir, env, "mod", "tidy")
	return dir, env
}

// goCommand runs the go command in dir and returns its combined output,
// failing the test if it fails or takes more than 15 minutes.
func goCommand(t *testing.T, dir string, env []string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 15*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = dir
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "go %s in %s:\n%s", strings.Join(args, " "), dir, out)
	return string(out)
}

// TestPublishedModules checks that kubequeue and localcluster work from
// their module zips alone, with the module cache and without this checkout,
// as a user's module gets them: a consumer module's go test starts a local
// cluster in its TestMain and runs its worker to Complete (GoTest), and the
// localcluster command runs a cluster that runs the consumer's worker until
// SIGTERM, leaving nothing behind (Command).
func TestPublishedModules(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the local cluster; run without -short")
	}
	if runtime.GOOS != "linux" {
		t.Skip("what the command leaves behind is checked through /proc, on Linux")
	}
	// Not parallel: it compiles, and starts two clusters beside the shared
	// one.
	dir, env := consumerModule(t)

	t.Run("GoTest", func(t *testing.T) {
		out := goCommand(t, dir, env, "test", "-count=1", "-v", "./...")
		require.Contains(t, out, "--- PASS: TestResize")
		require.Contains(t, out, "localcluster: Kubernetes "+localclusterVersion(t)+" ready at")
		t.Logf("the consumer's go test:\n%s", out)
	})

	t.Run("Command", func(t *testing.T) {
		testBinary := filepath.Join(t.TempDir(), "thumbs.test")
		goCommand(t, dir, env, "test", "-c", "-o", testBinary, ".")

		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "go", "run", localclusterPath+"/cmd/localcluster", "up", "-image", consumerImage+"="+testBinary)
		cmd.Dir = dir
		cmd.Env = env
		// In a process group of its own, as in a terminal, so that it can be
		// signalled with what go run starts.
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		stdout, err := cmd.StdoutPipe()
		require.NoError(t, err)
		require.NoError(t, cmd.Start())
		t.Cleanup(func() {
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			_ = cmd.Wait()
		})

		lines := bufio.NewScanner(stdout)
		require.True(t, lines.Scan(), "no output from the command:\n%s", &stderr)
		kubeconfig, ok := strings.CutPrefix(lines.Text(), "export KUBECONFIG=")
		require.True(t, ok, "first line %q; stderr:\n%s", lines.Text(), &stderr)
		clusterDir := filepath.Dir(kubeconfig)
		require.NotEmpty(t, processesNaming(t, clusterDir))

		// The command's cluster runs the consumer's worker, in the
		// consumer's test binary. This worker has the same name, image and
		// payload; its perform never runs here.
		cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
		require.NoError(t, err)
		c, err := kubernetes.NewForConfig(cfg)
		require.NoError(t, err)
		type resizeArgs struct{ ImageID string }
		resize := kubequeue.NewWorker("resize-image", func(context.Context, resizeArgs) error {
			return fmt.Errorf("performed by the consumer's test binary, not here")
		}, kubequeue.WithImage(consumerImage))
		queue := newQueue(t, c)
		h, err := queue.Enqueue(ctx, resize, resizeArgs{ImageID: "IMG-42"})
		require.NoError(t, err)
		waitCtx, waitCancel := context.WithTimeout(ctx, 2*time.Minute)
		defer waitCancel()
		st, err := queue.Wait(waitCtx, h)
		require.NoError(t, err, "stderr:\n%s", &stderr)
		var thumb struct{ URL string }
		require.NoError(t, st.DecodeResult(&thumb))
		require.Equal(t, "https://cdn.example.com/thumbs/img-42.png", thumb.URL)

		// SIGTERM to the group, as a service manager would: go run ends at
		// once, the command stops the cluster; stdout ends when it exits.
		require.NoError(t, syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM))
		_, _ = io.Copy(io.Discard, stdout)
		_ = cmd.Wait()
		require.Contains(t, stderr.String(), "localcluster: stopped")
		_, err = os.Stat(clusterDir)
		require.ErrorIs(t, err, os.ErrNotExist, "the cluster's directory after SIGTERM")
		require.Empty(t, processesNaming(t, clusterDir), "processes left after SIGTERM")
	})
}

// localclusterVersion is the Kubernetes version the local cluster runs.
func localclusterVersion(t *testing.T) string {
	t.Helper()
	v, err := client.Discovery().ServerVersion()
	require.NoError(t, err)
	return v.GitVersion
}

// processesNaming returns the pids of the running processes whose command
// line or environment names a path under dir.
func processesNaming(t *testing.T, dir string) []int {
	t.Helper()
	needle := []byte(filepath.Clean(dir) + "/")
	entries, err := os.ReadDir("/proc")
	require.NoError(t, err)
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		if stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat")); err != nil ||
			bytes.Contains(stat[bytes.LastIndexByte(stat, ')')+1:], []byte(" Z ")) {
			continue // gone, or a zombie
		}
		for _, f := range []string{"cmdline", "environ"} {
			b, err := os.ReadFile(filepath.Join("/proc", e.Name(), f))
			if err == nil && bytes.Contains(b, needle) {
				pids = append(pids, pid)
				break
			}
		}
	}
	return pids
}

// TestREADME_TestingWorkersEndToEnd keeps the README's example of a test
// on a local cluster the consumer module that TestPublishedModules runs.
func TestREADME_TestingWorkersEndToEnd(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile("../README.md")
	require.NoError(t, err)
	section := string(readme)
	i := strings.Index(section, "## Testing your workers end to end")
	require.GreaterOrEqual(t, i, 0, "README.md has no section \"Testing your workers end to end\"")
	section = section[i:]
	if j := strings.Index(section[3:], "\n## "); j >= 0 {
		section = section[:j+3]
	}
	for _, f := range []string{"resize.go", "resize_test.go"} {
		b, err := os.ReadFile(filepath.Join("testdata", "consumer", f))
		require.NoError(t, err)
		require.Contains(t, section, "```go\n"+string(b)+"```\n", "README.md's section shows testdata/consumer/%s as it is", f)
	}
}
