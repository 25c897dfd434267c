// Command computepi enqueues a job that computes 1,000 digits of π with Perl
// in the public perl image: a worker whose container runs a program of its
// own rather than this binary.
//
//	computepi            # enqueue on the current kubeconfig context
//	computepi -dry-run   # print the Job instead
//	computepi -json      # print the handle as JSON
package main

import (
	"cmp"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
	"sigs.k8s.io/yaml"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"

	"github.com/kubequeue/kubequeue"
)

// ComputePi runs Perl's bignum bpi. It has no perform function: its command
// is the work, so its payload type is the empty struct.
var ComputePi = kubequeue.NewWorker[struct{}]("compute-pi", nil,
	kubequeue.WithImage("perl"),
	kubequeue.WithContainerName("pi"),
	kubequeue.WithCommand("perl", "-Mbignum=bpi", "-wle", "print bpi(1000)"),
	kubequeue.WithCPU("200m", "300m"),
	kubequeue.WithMemory("50Mi", "100Mi"),
	// The perl image runs as root; kubequeue's default runAsNonRoot needs
	// a user other than root, so run it as nobody.
	kubequeue.WithPodSecurityContext(&corev1.PodSecurityContext{
		RunAsNonRoot:   ptr.To(true),
		RunAsUser:      ptr.To[int64](65534),
		SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
	}),
)

func main() {
	kubeconfig := flag.String("kubeconfig", "", "kubeconfig file (default: $KUBECONFIG, ~/.kube/config, or in-cluster)")
	namespace := flag.String("namespace", "", "namespace of the Job (default: the kubeconfig context's)")
	dryRun := flag.Bool("dry-run", false, "print the Job as YAML instead of creating it")
	asJSON := flag.Bool("json", false, "print the enqueued job's handle as JSON")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, *kubeconfig, *namespace, *dryRun, *asJSON); err != nil {
		fmt.Fprintln(os.Stderr, "computepi:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, kubeconfig, namespace string, dryRun, asJSON bool) error {
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
		job, err := queue.Build(ComputePi, struct{}{})
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
	handle, err := queue.Enqueue(ctx, ComputePi, struct{}{})
	if err != nil {
		return err
	}
	if asJSON {
		return json.NewEncoder(os.Stdout).Encode(handle)
	}
	fmt.Printf("enqueued job %s (uid %s)\n", handle, handle.UID)
	return nil
}
