// Command kubequeue-kubelet runs the local kubelet of package localkubelet:
// it registers a Node with a control plane on this machine and runs the pods
// bound to it as local processes. The embedded control plane starts it; see
// the package documentation for what it does and does not emulate.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/kubequeue/kubequeue/internal/localkubelet"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "kubequeue-kubelet:", err)
		os.Exit(1)
	}
}

func run() error {
	var (
		cfg        localkubelet.Config
		kubeconfig = flag.String("kubeconfig", "", "kubeconfig of the control plane (required)")
		taints     = flag.String("taints", "", "the node's taints as JSON, e.g. [{\"key\":\"k\",\"value\":\"v\",\"effect\":\"NoSchedule\"}]")
		labels     = flag.String("labels", "", "extra node labels, key=value,...")
		readyFile  = flag.String("ready-file", "", "file created once the node is Ready")
		verbose    = flag.Bool("v", false, "log at debug level")
	)
	flag.StringVar(&cfg.NodeName, "node-name", "local", "name of the Node")
	flag.StringVar(&cfg.Addr, "addr", "127.0.0.1:10250", "loopback host:port of the kubelet API")
	flag.StringVar(&cfg.CertFile, "tls-cert-file", "", "serving certificate of the kubelet API")
	flag.StringVar(&cfg.KeyFile, "tls-private-key-file", "", "key of the serving certificate")
	flag.StringVar(&cfg.ClientCAFile, "client-ca-file", "", "authority of the API server's client certificate")
	flag.StringVar(&cfg.ImagesFile, "images", "", "JSON file mapping image references to local executables")
	flag.StringVar(&cfg.Dir, "root-dir", "", "directory for the pods' files")
	flag.DurationVar(&cfg.RestartBackoff, "restart-backoff", localkubelet.DefaultRestartBackoff, "first delay before a container restarts")
	flag.Parse()

	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	if *kubeconfig == "" {
		return fmt.Errorf("-kubeconfig is required")
	}
	rc, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
	if err != nil {
		return err
	}
	cfg.RESTConfig = rc
	if *taints != "" {
		if err := json.Unmarshal([]byte(*taints), &cfg.Taints); err != nil {
			return fmt.Errorf("-taints: %w", err)
		}
	} else {
		cfg.Taints = []corev1.Taint{}
	}
	if *labels != "" {
		cfg.Labels = map[string]string{}
		for kv := range strings.SplitSeq(*labels, ",") {
			k, v, ok := strings.Cut(kv, "=")
			if !ok {
				return fmt.Errorf("-labels: %q is not key=value", kv)
			}
			cfg.Labels[k] = v
		}
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return localkubelet.Run(ctx, cfg, func() {
		if *readyFile != "" {
			if err := os.WriteFile(*readyFile, nil, 0o644); err != nil {
				cfg.Logger.Error("ready file", "err", err)
			}
		}
	})
}
