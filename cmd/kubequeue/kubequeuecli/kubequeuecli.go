// Package kubequeuecli builds the kubequeue command: cobra commands that
// show and steer kubequeue's Jobs with kubectl's flags, on the public API
// of package kubequeue (Queue.List, Status, Logs, WaitAll, Cancel,
// Suspend, Resume and Retry).
//
// The command github.com/kubequeue/kubequeue/cmd/kubequeue is NewCommand
// and Execute. A service mounts the same commands in its own binary,
// given its workers, which adds enqueue (a payload typed as JSON, decoded
// strictly into the worker's type) and render (the Job that Queue.Build
// makes, as YAML):
//
//	root := &cobra.Command{Use: "myservice"}
//	root.AddCommand(kubequeuecli.NewCommand(kubequeuecli.WithWorkers(ResizeImage, SendEmail)))
//	os.Exit(kubequeuecli.Execute(ctx, root))
//
// # Flags
//
// The flags of k8s.io/cli-runtime's ConfigFlags (--kubeconfig, --context,
// -n/--namespace, --server, --token, ...) choose the cluster and namespace
// as kubectl does; list takes -A/--all-namespaces, -l/--selector and
// -o json|yaml|name|wide, status -o json|yaml|name. JSON and YAML print
// kubequeue.Status as its JSON encoding (a list as {"items": [...]});
// name prints job.batch/NAME, which kubectl takes.
//
// # Exit codes
//
// ExitOK (0) when the command did what it was asked; ExitError (1) for an
// invalid argument or flag, a Job that does not exist, or an API error;
// ExitFailed (2) when wait saw a Job fail; ExitTimeout (3) when wait's
// --timeout passed first. When wait's Jobs end differently, the highest
// code wins. Errors are printed to standard error.
package kubequeuecli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/kubernetes"

	"github.com/kubequeue/kubequeue"
)

// Exit codes of the kubequeue command, as ExitCode returns them for the
// error of a command.
const (
	// ExitOK: the command did what it was asked; for wait, every Job
	// succeeded.
	ExitOK = 0
	// ExitError: an invalid argument or flag, a Job that does not exist or
	// was deleted while waited for, an API error.
	ExitError = 1
	// ExitFailed: wait saw at least one Job fail.
	ExitFailed = 2
	// ExitTimeout: wait's --timeout passed before every Job finished.
	ExitTimeout = 3
)

// Option configures NewCommand.
type Option interface {
	apply(*cli)
}

type optionFunc func(*cli)

func (f optionFunc) apply(c *cli) { f(c) }

// WithWorkers adds the commands that need the service's workers: enqueue
// WORKER JSON and render WORKER JSON, for these workers. Without it the
// command has neither. Repeating it adds workers; two of the same name are
// an error when the command runs.
func WithWorkers(workers ...kubequeue.AnyWorker) Option {
	return optionFunc(func(c *cli) { c.workers = append(c.workers, workers...) })
}

// WithIOStreams sets where the commands read and write. Default: the
// process's standard input, output and error. Repeating it replaces.
func WithIOStreams(streams genericiooptions.IOStreams) Option {
	return optionFunc(func(c *cli) { c.streams = streams })
}

// WithClientset makes the commands use client instead of the cluster
// that the flags (--kubeconfig, --context, ...) choose, such as client-go's
// fake clientset in a test; -n still chooses the namespace, and the
// default namespace is "default". Repeating it replaces.
func WithClientset(client kubernetes.Interface) Option {
	return optionFunc(func(c *cli) { c.client = client })
}

// WithClock sets the clock from which list's AGE and DURATION and status's
// ages are counted. Default: time.Now. Repeating it replaces.
func WithClock(now func() time.Time) Option {
	return optionFunc(func(c *cli) { c.now = now })
}

// cli is the state the commands share.
type cli struct {
	flags   *genericclioptions.ConfigFlags
	streams genericiooptions.IOStreams
	client  kubernetes.Interface
	workers []kubequeue.AnyWorker
	now     func() time.Time
}

// NewCommand returns the command "kubequeue" and its subcommands list,
// status, logs, wait, cancel, suspend, resume and retry, and, with
// WithWorkers, enqueue and render. Run it with Execute (or cobra's
// Execute, then ExitCode), or add it to a service's own root command.
// Errors are returned, not printed: Execute prints them.
func NewCommand(opts ...Option) *cobra.Command {
	c := &cli{
		flags:   genericclioptions.NewConfigFlags(true),
		streams: genericiooptions.IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr},
		now:     time.Now,
	}
	for _, opt := range opts {
		if opt != nil {
			opt.apply(c)
		}
	}
	root := &cobra.Command{
		Use:   "kubequeue",
		Short: "Show and steer kubequeue's Jobs",
		Long: `kubequeue shows and steers the Jobs that kubequeue runs: their workers,
states, attempts, results, logs and failures, which kubectl does not know.
It takes kubectl's flags to choose the cluster and the namespace.

Exit codes: 0 success; 1 an error (invalid argument, Job not found, API
error); 2 wait saw a Job fail; 3 wait's --timeout passed first.`,
		SilenceErrors: true,
		SilenceUsage:  true,
	}
	root.SetIn(c.streams.In)
	root.SetOut(c.streams.Out)
	root.SetErr(c.streams.ErrOut)
	c.flags.AddFlags(root.PersistentFlags())
	root.AddCommand(c.listCommand(), c.statusCommand(), c.logsCommand(), c.waitCommand(),
		c.cancelCommand(), c.suspendCommand(), c.resumeCommand(), c.retryCommand())
	if len(c.workers) > 0 {
		root.AddCommand(c.enqueueCommand(), c.renderCommand())
	}
	return root
}

// Execute runs cmd with ctx, prints its error, if any, to cmd's error
// stream as "error: ...", and returns the exit code (see ExitCode). A
// service whose root command holds NewCommand's calls it with its root.
func Execute(ctx context.Context, cmd *cobra.Command) int {
	err := cmd.ExecuteContext(ctx)
	if err != nil {
		fmt.Fprintln(cmd.ErrOrStderr(), "error:", err)
	}
	return ExitCode(err)
}

// ExitCode returns the exit code for the error of a command: ExitOK for
// nil, the Code of an *ExitCodeError in err's chain, else ExitError.
func ExitCode(err error) int {
	if err == nil {
		return ExitOK
	}
	if e, ok := errors.AsType[*ExitCodeError](err); ok {
		return e.Code
	}
	return ExitError
}

// ExitCodeError is an error that asks for an exit code other than
// ExitError, such as wait's ExitFailed and ExitTimeout.
type ExitCodeError struct {
	// Code is the exit code.
	Code int
	// Err says what happened.
	Err error
}

// Error returns Err's message.
func (e *ExitCodeError) Error() string { return e.Err.Error() }

// Unwrap returns Err.
func (e *ExitCodeError) Unwrap() error { return e.Err }

// queue returns a queue on the command's cluster, whose default namespace
// is the one the flags choose, and that namespace.
func (c *cli) queue() (*kubequeue.Queue, string, error) {
	return c.queueFor(false)
}

// queueFor is queue; an offline queue, which only builds Jobs, needs no
// cluster: its client makes no request, and a kubeconfig that cannot be
// read leaves the namespace -n's, else "default".
func (c *cli) queueFor(offline bool) (*kubequeue.Queue, string, error) {
	client := c.client
	namespace := kubequeue.DefaultNamespace
	if client == nil && offline {
		client = kubernetes.New(nil)
		if ns, _, err := c.flags.ToRawKubeConfigLoader().Namespace(); err == nil && ns != "" {
			namespace = ns
		} else if c.flags.Namespace != nil && *c.flags.Namespace != "" {
			namespace = *c.flags.Namespace
		}
	} else if client == nil {
		cfg, err := c.flags.ToRESTConfig()
		if err != nil {
			return nil, "", fmt.Errorf("load the client configuration: %w", err)
		}
		if cfg.QPS == 0 && cfg.Burst == 0 {
			cfg.QPS, cfg.Burst = kubequeue.DefaultQPS, kubequeue.DefaultBurst
		}
		cs, err := kubernetes.NewForConfig(cfg)
		if err != nil {
			return nil, "", fmt.Errorf("make the client: %w", err)
		}
		client = cs
		ns, _, err := c.flags.ToRawKubeConfigLoader().Namespace()
		if err != nil {
			return nil, "", fmt.Errorf("read the namespace: %w", err)
		}
		namespace = ns
	} else if c.flags.Namespace != nil && *c.flags.Namespace != "" {
		namespace = *c.flags.Namespace
	}
	q, err := kubequeue.New(client, kubequeue.WithDefaultNamespace(namespace))
	if err != nil {
		return nil, "", err
	}
	return q, namespace, nil
}

// queueAndHandles returns a queue (see queue) and the handles of the Jobs
// that args name in its namespace.
func (c *cli) queueAndHandles(args []string) (*kubequeue.Queue, []kubequeue.Handle, error) {
	q, namespace, err := c.queue()
	if err != nil {
		return nil, nil, err
	}
	hs, err := handles(namespace, args)
	if err != nil {
		return nil, nil, err
	}
	return q, hs, nil
}

// handles returns the handles of the Jobs args name in namespace. A name
// may be written as kubectl and -o name write it: job/NAME, jobs/NAME or
// job.batch/NAME.
func handles(namespace string, args []string) ([]kubequeue.Handle, error) {
	out := make([]kubequeue.Handle, 0, len(args))
	for _, arg := range args {
		name := arg
		if kind, rest, ok := strings.Cut(arg, "/"); ok {
			switch kind {
			case "job", "jobs", "job.batch", "jobs.batch":
				name = rest
			default:
				return nil, fmt.Errorf("%q: a Job is named NAME or job/NAME", arg)
			}
		}
		out = append(out, kubequeue.Handle{Namespace: namespace, Name: name})
	}
	return out, nil
}

// jobsArgs checks that a command got at least one Job.
func jobsArgs(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("%s needs at least one Job name (see %s --help)", cmd.Name(), cmd.CommandPath())
	}
	return nil
}

// oneJobArg checks that a command got exactly one Job.
func oneJobArg(cmd *cobra.Command, args []string) error {
	if len(args) != 1 {
		return fmt.Errorf("%s takes one Job name, not %d (see %s --help)", cmd.Name(), len(args), cmd.CommandPath())
	}
	return nil
}
