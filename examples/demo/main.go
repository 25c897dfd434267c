// Command demo enqueues the two examples, printmessage and computepi, waits
// for their Jobs to finish, prints a table of them and what each one's pod
// printed. It is what `make demo` runs.
//
// Without -kubeconfig it starts a local cluster (package localcluster:
// etcd, kube-apiserver, the Job and TTL controllers, the scheduler and a
// kubelet that runs pods as processes on this machine), installing its
// binaries first if needed, and stops it at the end. printmessage's pod runs
// the printmessage binary the demo builds; computepi's runs the local perl.
// With -kubeconfig it runs against that cluster instead; KUBECONFIG in the
// environment is deliberately ignored, so the demo never lands on a cluster
// by accident. It is a module of its own, so that the local cluster's
// dependencies never reach kubequeue's go.mod:
//
//	cd examples/demo && go run .                              # on a local cluster
//	cd examples/demo && go run . -kubeconfig ~/.kube/config   # on a real cluster
//
// On a real cluster, printmessage needs an image that contains it
// (PRINTMESSAGE_IMAGE, see examples/printmessage) and computepi pulls the
// public perl image.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/kubequeue/kubequeue"
	"github.com/kubequeue/kubequeue/localcluster"
)

// examples are the programs the demo builds and runs, with their arguments.
// A Job whose outcome depends on the machine (computepi needs perl on the
// local cluster) may fail without failing the demo.
var examples = []struct {
	name    string
	args    []string
	mayFail bool
}{
	{"printmessage", []string{"-message", `Hello from the kubequeue demo: "quotes" and $dollars survive`}, false},
	{"computepi", nil, true},
}

// demoImage is printmessage's image on the local cluster: its kubelet runs
// the printmessage binary for it.
const demoImage = "kubequeue.local/demo/printmessage:latest"

func main() {
	kubeconfig := flag.String("kubeconfig", "", "run on this cluster instead of a local cluster")
	namespace := flag.String("namespace", "", "namespace of the Jobs (default: the kubeconfig context's, or default)")
	timeout := flag.Duration("timeout", 3*time.Minute, "give up waiting for the Jobs after this long")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Stdout, *kubeconfig, *namespace, *timeout); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, out io.Writer, kubeconfig, namespace string, timeout time.Duration) error {
	var local *localcluster.Cluster
	if kubeconfig != "" && os.Getenv("PRINTMESSAGE_IMAGE") == "" {
		return errors.New("on a real cluster, printmessage needs an image that contains it: build one from examples/printmessage, push it, and set PRINTMESSAGE_IMAGE")
	}
	if kubeconfig == "" {
		if _, err := localcluster.Installed(localcluster.Options{}); errors.Is(err, localcluster.ErrNotInstalled) {
			fmt.Fprintf(out, "Installing the local cluster's binaries first: a download, or where that fails a build of about %d minutes on 2 cores, once.\n", localcluster.BuildMinutes())
		}
		fmt.Fprintln(out, "Starting a local cluster. Its kubelet runs pods as processes on this machine, as the current user.")
		c, err := localcluster.Start(ctx, localcluster.Options{Log: out})
		if err != nil {
			return err
		}
		defer func() {
			c.Stop()
			fmt.Fprintln(out, "Stopped the local cluster.")
		}()
		kubeconfig = c.Kubeconfig()
		local = c
	}
	client, contextNamespace, err := kubequeue.NewClientset(kubeconfig, "")
	if err != nil {
		return err
	}
	if namespace == "" {
		namespace = contextNamespace
	}

	bin, err := buildExamples(ctx)
	if err != nil {
		return err
	}
	defer os.RemoveAll(bin)
	env := os.Environ()
	if local != nil {
		if err := local.SetImage(demoImage, filepath.Join(bin, "printmessage")); err != nil {
			return err
		}
		env = append(env, "PRINTMESSAGE_IMAGE="+demoImage)
	}

	var handles []kubequeue.Handle
	for _, ex := range examples {
		args := append([]string{"-kubeconfig", kubeconfig, "-namespace", namespace, "-json"}, ex.args...)
		h, err := enqueue(ctx, filepath.Join(bin, ex.name), args, env)
		if err != nil {
			return fmt.Errorf("%s: %w", ex.name, err)
		}
		fmt.Fprintf(out, "Enqueued %s (worker %s) with `%s`.\n", h, h.Worker, ex.name)
		handles = append(handles, h)
	}

	fmt.Fprintf(out, "Waiting for %d Jobs to finish...\n", len(handles))
	waitCtx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	queue, err := kubequeue.New(client)
	if err != nil {
		return err
	}
	statuses := make(map[kubequeue.Handle]kubequeue.Status, len(handles))
	var waitErr error
	for st, err := range queue.WaitAll(waitCtx, handles...) {
		statuses[st.Handle] = st
		if err != nil && !errors.Is(err, kubequeue.ErrJobFailed) {
			waitErr = err
		}
	}
	printTable(out, handles, statuses)
	if waitErr != nil {
		return fmt.Errorf("waiting for the Jobs: %w", waitErr)
	}
	for i, h := range handles {
		st := statuses[h]
		printOutput(ctx, out, queue, st)
		if st.State != kubequeue.StateSucceeded && !examples[i].mayFail {
			return fmt.Errorf("job %s %s", h, st.State)
		}
	}
	return nil
}

// printOutput prints the last lines the Job's last attempt printed, or why
// it failed.
func printOutput(ctx context.Context, out io.Writer, queue *kubequeue.Queue, st kubequeue.Status) {
	fmt.Fprintf(out, "%s:\n", st.Handle.Name)
	if st.State == kubequeue.StateFailed {
		fmt.Fprintf(out, "  %s after %d attempt(s), exit code %d: %s\n", st.Reason, st.Failures, st.ExitCode, strings.TrimSpace(st.TerminationMessage))
		return
	}
	var lines []kubequeue.LogLine
	for line, err := range queue.Logs(ctx, st.Handle, kubequeue.LogOptions{TailLines: 5}) {
		if err != nil {
			fmt.Fprintf(out, "  (logs: %v)\n", err)
			return
		}
		lines = append(lines, line)
	}
	for _, line := range lines {
		if line.Attempt != lines[len(lines)-1].Attempt {
			continue // show the last attempt only
		}
		text := line.Text
		if len(text) > 100 {
			text = text[:100] + fmt.Sprintf("... (%d characters)", len(text))
		}
		fmt.Fprintf(out, "  %s\n", text)
	}
}

// buildExamples builds the example programs into a new temporary directory.
// It runs the go command in this source file's directory when the path is
// known, else in the working directory, which must be in the module.
func buildExamples(ctx context.Context) (string, error) {
	dir, err := os.MkdirTemp("", "kubequeue-demo-")
	if err != nil {
		return "", err
	}
	args := []string{"build", "-o", dir + string(filepath.Separator)}
	for _, ex := range examples {
		args = append(args, "github.com/kubequeue/kubequeue/examples/"+ex.name)
	}
	cmd := exec.CommandContext(ctx, "go", args...)
	if _, file, _, ok := runtime.Caller(0); ok && filepath.IsAbs(file) {
		cmd.Dir = filepath.Dir(file)
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		return "", fmt.Errorf("build the examples: %w\n%s", err, out)
	}
	return dir, nil
}

// enqueue runs an example program, which enqueues its Job and prints the
// handle as JSON.
func enqueue(ctx context.Context, bin string, args, env []string) (kubequeue.Handle, error) {
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = env
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return kubequeue.Handle{}, err
	}
	var h kubequeue.Handle
	if err := json.Unmarshal(out, &h); err != nil {
		return kubequeue.Handle{}, fmt.Errorf("read the handle from %q: %w", out, err)
	}
	return h, nil
}

// printTable prints one row per Job: name, worker, state and duration.
func printTable(out io.Writer, handles []kubequeue.Handle, statuses map[kubequeue.Handle]kubequeue.Status) {
	fmt.Fprintln(out)
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "JOB\tWORKER\tSTATE\tDURATION")
	for _, h := range handles {
		st := statuses[h]
		state := string(st.State)
		if st.Reason != "" {
			state += " (" + st.Reason + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", h.Name, h.Worker, state, duration(st))
	}
	tw.Flush()
	fmt.Fprintln(out)
}

// duration is the time from the Job's start to its end, or until now while
// it runs.
func duration(st kubequeue.Status) string {
	if st.Started.IsZero() {
		return "-"
	}
	end := st.Finished
	if end.IsZero() {
		end = time.Now()
	}
	return end.Sub(st.Started).Round(time.Second).String()
}
