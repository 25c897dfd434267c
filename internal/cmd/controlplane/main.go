// Command controlplane builds the embedded control plane's binaries, or runs
// the control plane until interrupted.
//
//	go run ./internal/cmd/controlplane build   # build once and cache (make controlplane)
//	go run ./internal/cmd/controlplane up      # run it; prints a kubeconfig path
//	go run ./internal/cmd/controlplane up -image registry.example.com/app:v1=/path/to/app
//
// Pods run as processes on this machine under the local kubelet; -image
// (repeatable) maps an image to the executable its containers run.
//
// The first build takes minutes; later runs reuse the cache (see the
// controlplane package).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/kubequeue/kubequeue/internal/controlplane"
)

func main() {
	images := map[string]string{}
	flag.Func("image", "with up: map an image to a local executable, as ref=/path (repeatable)", func(v string) error {
		ref, exe, ok := strings.Cut(v, "=")
		if !ok || ref == "" || exe == "" {
			return fmt.Errorf("want ref=/path/to/executable, got %q", v)
		}
		images[ref] = exe
		return nil
	})
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: controlplane build | [-image ref=path ...] up")
		flag.PrintDefaults()
	}
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	switch flag.Arg(0) {
	case "build", "":
		var dir string
		dir, err = controlplane.Ensure(ctx, os.Stderr)
		if err == nil {
			fmt.Fprintln(os.Stderr, "controlplane: binaries in", dir)
		}
	case "up":
		err = up(ctx, images)
	default:
		flag.Usage()
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// up runs the control plane until interrupted.
func up(ctx context.Context, images map[string]string) error {
	cp, err := controlplane.Start(ctx, controlplane.Options{Build: true, Log: os.Stderr, Images: images})
	if err != nil {
		return err
	}
	defer cp.Stop()
	fmt.Printf("export KUBECONFIG=%s\n", cp.Kubeconfig())
	fmt.Fprintln(os.Stderr, "controlplane: running; press Ctrl-C to stop")
	<-ctx.Done()
	return nil
}
