package kubequeuecli

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/kubequeue/kubequeue"
)

// controlCommand returns a command that calls act for each Job named and
// prints "job.batch/NAME <done>" for each; the Jobs after one that fails
// are still acted on, and the errors are joined.
func (c *cli) controlCommand(use, short, long, done string, act func(ctx context.Context, q *kubequeue.Queue, h kubequeue.Handle) error) *cobra.Command {
	return &cobra.Command{
		Use:   use + " JOB...",
		Short: short,
		Long:  long,
		Args:  jobsArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			q, hs, err := c.queueAndHandles(args)
			if err != nil {
				return err
			}
			var errs []error
			for _, h := range hs {
				if err := act(cmd.Context(), q, h); err != nil {
					errs = append(errs, err)
					continue
				}
				fmt.Fprintf(c.streams.Out, "job.batch/%s %s\n", h.Name, done)
			}
			return errors.Join(errs...)
		},
	}
}

func (c *cli) cancelCommand() *cobra.Command {
	return c.controlCommand("cancel", "Delete Jobs and their pods",
		`Delete Jobs and their pods (Queue.Cancel): perform's context is cancelled
in each running pod. A Job that is already gone is no error.`,
		"cancelled", func(ctx context.Context, q *kubequeue.Queue, h kubequeue.Handle) error {
			return q.Cancel(ctx, h)
		})
}

func (c *cli) suspendCommand() *cobra.Command {
	return c.controlCommand("suspend", "Suspend Jobs: stop their pods until resumed",
		`Suspend Jobs (Queue.Suspend): the Job controller deletes their running pods
(the attempt does not count as a failure) and starts none until resume.`,
		"suspended", func(ctx context.Context, q *kubequeue.Queue, h kubequeue.Handle) error {
			return q.Suspend(ctx, h)
		})
}

func (c *cli) resumeCommand() *cobra.Command {
	return c.controlCommand("resume", "Resume suspended Jobs",
		`Resume Jobs (Queue.Resume): the Job controller starts their pods again. A
Job that waits at its gates starts at once, past them.`,
		"resumed", func(ctx context.Context, q *kubequeue.Queue, h kubequeue.Handle) error {
			return q.Resume(ctx, h)
		})
}

func (c *cli) retryCommand() *cobra.Command {
	var unfinished bool
	var output string
	cmd := &cobra.Command{
		Use:   "retry JOB...",
		Short: "Run finished Jobs again, as new Jobs",
		Long: `Run finished Jobs again (Queue.Retry): for each, a new Job of the same
worker, payload and options, with a fresh name and the annotation
kubequeue.io/retry-of naming the old Job, which is kept. A Job that has not
finished is refused unless --unfinished; a batch is refused.`,
		Example: `  kubequeue retry resize-image-7x2kq9vbnm
  kubequeue list --state failed -o name | xargs kubequeue retry`,
		Args: jobsArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output, outputTable, outputName); err != nil {
				return err
			}
			q, hs, err := c.queueAndHandles(args)
			if err != nil {
				return err
			}
			var opts []kubequeue.RetryOption
			if unfinished {
				opts = append(opts, kubequeue.WithRetryUnfinished())
			}
			var errs []error
			for _, h := range hs {
				got, err := q.Retry(cmd.Context(), h, opts...)
				if err != nil {
					errs = append(errs, err)
					continue
				}
				if output == outputName {
					if err := printNames(c.streams.Out, got); err != nil {
						return err
					}
					continue
				}
				fmt.Fprintf(c.streams.Out, "job.batch/%s created (retry of %s)\n", got.Name, h.Name)
			}
			return errors.Join(errs...)
		},
	}
	cmd.Flags().BoolVar(&unfinished, "unfinished", false, "Also retry Jobs that have not finished; they go on running beside their retries")
	cmd.Flags().StringVarP(&output, "output", "o", "", "Output format: name prints job.batch/NAME of each new Job")
	return cmd
}
