// Command controlplane builds the embedded control plane's binaries, or runs
// the control plane until interrupted.
//
//	go run ./internal/cmd/controlplane build   # build once and cache (make controlplane)
//	go run ./internal/cmd/controlplane up      # run it; prints a kubeconfig path
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
	"syscall"

	"github.com/kubequeue/kubequeue/internal/controlplane"
)

func main() {
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: controlplane build | up")
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
		err = up(ctx)
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
func up(ctx context.Context) error {
	cp, err := controlplane.Start(ctx, controlplane.Options{Build: true, Log: os.Stderr})
	if err != nil {
		return err
	}
	defer cp.Stop()
	fmt.Printf("export KUBECONFIG=%s\n", cp.Kubeconfig())
	fmt.Fprintln(os.Stderr, "controlplane: running; press Ctrl-C to stop")
	<-ctx.Done()
	return nil
}
