// Command computepi enqueues a job that computes 1,000 digits of π with Perl
// in the public perl image: a worker whose container runs a program of its
// own rather than this binary.
//
//	computepi            # enqueue on the current kubeconfig context
//	computepi -dry-run   # print the Job instead
//	computepi -json      # print the handle as JSON
package main

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"

	"github.com/kubequeue/kubequeue"
	"github.com/kubequeue/kubequeue/examples/internal/enqueuecmd"
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
	enqueuecmd.Main(ComputePi, func() struct{} { return struct{}{} })
}
