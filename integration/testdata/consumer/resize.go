// Package thumbs makes thumbnails in Kubernetes Jobs.
package thumbs

import (
	"context"
	"strings"

	"github.com/kubequeue/kubequeue"
)

// ResizeArgs is the payload of Resize.
type ResizeArgs struct{ ImageID string }

// Thumbnail is what Resize records as its result.
type Thumbnail struct{ URL string }

// Resize makes the thumbnail of an image.
var Resize = kubequeue.NewWorker("resize-image", resize,
	kubequeue.WithImage("registry.example.com/shop/thumbs:v1"))

func resize(ctx context.Context, args ResizeArgs) error {
	url := "https://cdn.example.com/thumbs/" + strings.ToLower(args.ImageID) + ".png"
	return kubequeue.SetResult(ctx, Thumbnail{URL: url})
}
