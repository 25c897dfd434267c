// Command localcluster runs a local Kubernetes cluster (package
// github.com/kubequeue/kubequeue/localcluster) until Ctrl-C or SIGTERM, or
// installs its binaries.
//
//	go run github.com/kubequeue/kubequeue/localcluster/cmd/localcluster@latest up -image registry.example.com/app:v1=/path/to/app
//	go run github.com/kubequeue/kubequeue/localcluster/cmd/localcluster@latest install
//
// up starts the cluster, installing its binaries first if needed, prints
// the line export KUBECONFIG=<path> on standard output once it is ready
// (progress goes to standard error), and runs until interrupted; then it
// stops every process it started and removes every file. Pods run as
// processes on this machine, as the current user: -image (repeatable) maps
// an image to the executable its containers run.
//
// install downloads or builds the binaries into the cache, if they are not
// there yet, and prints their directory. With -kueue it also installs Kueue
// (see localcluster.InstallKueue: a build of about 4 minutes the first
// time) and prints its directory on a second line.
//
// The first install downloads the release binaries (or, where that fails,
// builds them from source: about 9 minutes on 2 cores); later starts take
// seconds. The cache is in $XDG_CACHE_HOME/kubequeue/localcluster
// (~/.cache/kubequeue/localcluster); delete it to clear it.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/kubequeue/kubequeue/localcluster"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, err)
		if errors.Is(err, errUsage) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

// errUsage marks a command line that is not understood.
var errUsage = errors.New("usage: localcluster up [-image ref=/path/to/executable ...] [-releases URL|off] | localcluster install [-releases URL|off] [-kueue]")

// run runs the command line args, writing the kubeconfig line or the
// binary directory to stdout and progress to stderr.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return errUsage
	}
	opts := localcluster.Options{Log: stderr, Images: map[string]string{}}
	fs := flag.NewFlagSet("localcluster "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&opts.ReleaseURL, "releases", "", "mirror of the release downloads, or off to build from source (default $"+localcluster.EnvReleaseURL+", else the upstream sites)")
	kueue := false
	if args[0] == "install" {
		fs.BoolVar(&kueue, "kueue", false, "also install Kueue "+localcluster.KueueVersion)
	}
	if args[0] == "up" {
		fs.Func("image", "map an image to a local executable, as ref=/path (repeatable)", func(v string) error {
			ref, exe, ok := strings.Cut(v, "=")
			if !ok || ref == "" || exe == "" {
				return fmt.Errorf("want ref=/path/to/executable, got %q", v)
			}
			abs, err := filepath.Abs(exe)
			if err != nil {
				return err
			}
			opts.Images[ref] = abs
			return nil
		})
	}
	if err := fs.Parse(args[1:]); err != nil {
		return fmt.Errorf("%w\n%w", err, errUsage)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q\n%w", fs.Args(), errUsage)
	}
	switch args[0] {
	case "install":
		dir, err := localcluster.Install(ctx, opts)
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, dir)
		if kueue {
			dir, err := localcluster.InstallKueue(ctx, opts)
			if err != nil {
				return err
			}
			fmt.Fprintln(stdout, dir)
		}
		return nil
	case "up":
		return up(ctx, opts, stdout, stderr)
	default:
		return fmt.Errorf("unknown command %q\n%w", args[0], errUsage)
	}
}

// up runs the cluster until ctx ends.
func up(ctx context.Context, opts localcluster.Options, stdout, stderr io.Writer) error {
	cluster, err := localcluster.Start(ctx, opts)
	if err != nil {
		return err
	}
	defer func() {
		cluster.Stop()
		fmt.Fprintln(stderr, "localcluster: stopped")
	}()
	fmt.Fprintf(stdout, "export KUBECONFIG=%s\n", cluster.Kubeconfig())
	fmt.Fprintln(stderr, "localcluster: running; pods run as processes on this machine as the current user; press Ctrl-C to stop")
	<-ctx.Done()
	return nil
}
