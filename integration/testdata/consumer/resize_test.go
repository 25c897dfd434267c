package thumbs

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"

	"github.com/kubequeue/kubequeue"
	"github.com/kubequeue/kubequeue/localcluster"
)

var queue *kubequeue.Queue

func TestMain(m *testing.M) {
	// Started by the local cluster as a Job's container, this test binary
	// performs the job and exits here.
	kubequeue.Main(Resize)
	os.Exit(run(m))
}

func run(m *testing.M) int {
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	cluster, err := localcluster.Start(context.Background(), localcluster.Options{
		// The containers of the worker's image run this test binary.
		Images: map[string]string{"registry.example.com/shop/thumbs:v1": self},
		Log:    os.Stderr,
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer cluster.Stop()
	client, err := kubernetes.NewForConfig(cluster.Config())
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if queue, err = kubequeue.New(client); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

func TestResize(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	handle, err := queue.Enqueue(ctx, Resize, ResizeArgs{ImageID: "IMG-7"})
	if err != nil {
		t.Fatal(err)
	}
	st, err := queue.Wait(ctx, handle) // the Job ran in its own pod, and completed
	if err != nil {
		t.Fatal(err)
	}
	var thumb Thumbnail
	if err := st.DecodeResult(&thumb); err != nil {
		t.Fatal(err)
	}
	if want := "https://cdn.example.com/thumbs/img-7.png"; thumb.URL != want {
		t.Errorf("got %q, want %q", thumb.URL, want)
	}
}
