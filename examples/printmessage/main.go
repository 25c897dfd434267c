// Command printmessage enqueues a job that prints a message, and performs it
// when started as that job's container: the same binary does both.
//
//	printmessage -message 'Hello "quoted" wörld'            # enqueue on the current kubeconfig context
//	printmessage -message 'Hello' -dry-run                   # print the Job instead
//	printmessage -json                                       # print the handle as JSON
//	KUBEQUEUE_WORKER=print-message KUBEQUEUE_PAYLOAD='{"message":"hi"}' printmessage   # what the Job's container runs
package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
	"sigs.k8s.io/yaml"

	"github.com/kubequeue/kubequeue"
)

// Message is the payload of a print-message job.
type Message struct {
	// Message is printed to standard output.
	Message string `json:"message"`
	// Delay, if set, is how long to wait before printing, such as "30s".
	// The wait ends early when the pod is stopped.
	Delay string `json:"delay,omitempty"`
}

// PrintMessage prints a message. Its image is this program's, set at build
// time or with PRINTMESSAGE_IMAGE.
var PrintMessage = kubequeue.NewWorker("print-message", printMessage,
	kubequeue.WithImage(envOr("PRINTMESSAGE_IMAGE", "registry.example.com/kubequeue/printmessage:latest")),
	kubequeue.WithCPU("10m", "100m"),
	kubequeue.WithMemory("16Mi", "64Mi"),
)

func printMessage(ctx context.Context, m Message) error {
	if m.Message == "" {
		return kubequeue.Permanent(errors.New("message is empty"))
	}
	if m.Delay != "" {
		d, err := time.ParseDuration(m.Delay)
		if err != nil {
			return kubequeue.Permanent(fmt.Errorf("delay: %w", err))
		}
		fmt.Printf("waiting %s\n", d)
		select {
		case <-time.After(d):
		case <-ctx.Done():
			return fmt.Errorf("stopped while waiting: %w", ctx.Err())
		}
	}
	fmt.Println(m.Message)
	return nil
}

func main() {
	kubequeue.Main(PrintMessage) // performs the job and exits when started as one

	kubeconfig := flag.String("kubeconfig", "", "kubeconfig file (default: $KUBECONFIG, ~/.kube/config, or in-cluster)")
	namespace := flag.String("namespace", "", "namespace of the Job (default: the kubeconfig context's)")
	message := flag.String("message", "Hello from kubequeue", "message to print")
	delay := flag.String("delay", "", "wait this long before printing, such as 30s")
	dryRun := flag.Bool("dry-run", false, "print the Job as YAML instead of creating it")
	asJSON := flag.Bool("json", false, "print the enqueued job's handle as JSON")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, *kubeconfig, *namespace, Message{Message: *message, Delay: *delay}, *dryRun, *asJSON); err != nil {
		fmt.Fprintln(os.Stderr, "printmessage:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, kubeconfig, namespace string, m Message, dryRun, asJSON bool) error {
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
		job, err := queue.Build(PrintMessage, m)
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
	handle, err := queue.Enqueue(ctx, PrintMessage, m)
	if err != nil {
		return err
	}
	if asJSON {
		return json.NewEncoder(os.Stdout).Encode(handle)
	}
	fmt.Printf("enqueued job %s (uid %s)\n", handle, handle.UID)
	return nil
}

func envOr(name, fallback string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return fallback
}
