// Package enqueuecmd is the command line the example programs share: it
// enqueues a worker's Job on the cluster of a kubeconfig, or prints the Job
// instead.
package enqueuecmd

import (
	"cmp"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
	"sigs.k8s.io/yaml"

	"github.com/kubequeue/kubequeue"
)

// Main defines the flags -kubeconfig, -namespace, -dry-run and -json,
// parses the command line, and enqueues w's Job for the payload that
// payload returns once the flags are parsed; with -dry-run it prints the
// Job as YAML instead. On an error it exits with status 1.
func Main[T any](w *kubequeue.Worker[T], payload func() T) {
	kubeconfig := flag.String("kubeconfig", "", "kubeconfig file (default: $KUBECONFIG, ~/.kube/config, or in-cluster)")
	namespace := flag.String("namespace", "", "namespace of the Job (default: the kubeconfig context's)")
	dryRun := flag.Bool("dry-run", false, "print the Job as YAML instead of creating it")
	asJSON := flag.Bool("json", false, "print the enqueued job's handle as JSON")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, *kubeconfig, *namespace, *dryRun, *asJSON, w, payload()); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", filepath.Base(os.Args[0]), err)
		stop()
		os.Exit(1)
	}
}

func run[T any](ctx context.Context, kubeconfig, namespace string, dryRun, asJSON bool, w *kubequeue.Worker[T], payload T) error {
	// A dry run only builds the Job, which any clientset can do.
	var client kubernetes.Interface = fake.NewClientset()
	if !dryRun {
		cs, contextNamespace, err := kubequeue.NewClientset(kubeconfig, "")
		if err != nil {
			return err
		}
		client, namespace = cs, cmp.Or(namespace, contextNamespace)
	}
	queue, err := kubequeue.New(client, kubequeue.WithDefaultNamespace(cmp.Or(namespace, kubequeue.DefaultNamespace)))
	if err != nil {
		return err
	}
	if dryRun {
		job, err := queue.Build(w, payload)
		if err != nil {
			return err
		}
		out, err := yaml.Marshal(job)
		if err != nil {
			return err
		}
		_, err = os.Stdout.Write(out)
		return err
	}
	handle, err := queue.Enqueue(ctx, w, payload)
	if err != nil {
		return err
	}
	if asJSON {
		return json.NewEncoder(os.Stdout).Encode(handle)
	}
	fmt.Printf("enqueued job %s (uid %s)\n", handle, handle.UID)
	return nil
}
