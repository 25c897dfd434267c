// Command printmessage enqueues a job that prints a message, and performs it
// when started as that job's container: the same binary does both.
//
//	printmessage -message 'Hello "quoted" wörld'            # enqueue on the current kubeconfig context
//	printmessage -message 'Hello' -dry-run                   # print the Job instead
//	printmessage -json                                       # print the handle as JSON
//	KUBEQUEUE_WORKER=print-message KUBEQUEUE_PAYLOAD='{"message":"hi"}' printmessage   # what the Job's container runs
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/kubequeue/kubequeue"
	"github.com/kubequeue/kubequeue/examples/internal/enqueuecmd"
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

	message := flag.String("message", "Hello from kubequeue", "message to print")
	delay := flag.String("delay", "", "wait this long before printing, such as 30s")
	enqueuecmd.Main(PrintMessage, func() Message { return Message{Message: *message, Delay: *delay} })
}

func envOr(name, fallback string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return fallback
}
