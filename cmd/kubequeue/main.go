// Command kubequeue shows and steers kubequeue's Jobs from the terminal:
// list, status, logs, wait, cancel, suspend, resume and retry, with
// kubectl's flags (--kubeconfig, --context, -n, -A, -l, -o). Install it
// from a checkout of the repository with
//
//	cd cmd/kubequeue && go install .
//
// (its go.mod takes kubequeue from the repository's root) and run
// kubequeue --help. The commands are those of package
// kubequeuecli, which a service can also mount in its own binary, with its
// workers, to gain enqueue and render.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/kubequeue/kubequeue/cmd/kubequeue/kubequeuecli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := kubequeuecli.Execute(ctx, kubequeuecli.NewCommand())
	stop()
	os.Exit(code)
}
