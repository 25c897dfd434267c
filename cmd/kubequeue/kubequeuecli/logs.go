package kubequeuecli

import (
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"
	batchv1 "k8s.io/api/batch/v1"

	"github.com/kubequeue/kubequeue"
)

func (c *cli) logsCommand() *cobra.Command {
	var (
		opts        kubequeue.LogOptions
		allAttempts bool
		index       int
	)
	cmd := &cobra.Command{
		Use:   "logs JOB",
		Short: "Print a Job's logs, attempt by attempt",
		Long: `Print the log of a Job's worker container (Queue.Logs).

By default, the last attempt's log (for a batch, each item's last attempt).
--attempt N prints attempt N's (1 is the first pod); --all-attempts prints
every attempt's, each line prefixed with [attempt N]. -f follows the Job:
every attempt from the first, prefixed, through each retry, until the Job
finishes (with --attempt, until that attempt ends). --index I keeps the
item I of a batch. Logs exist as long as the Job's pods do.`,
		Example: `  kubequeue logs resize-image-7x2kq9vbnm
  kubequeue logs -f resize-image-7x2kq9vbnm
  kubequeue logs --all-attempts --index 3 thumbnails-batch-4kq8d2xq7z`,
		Args: oneJobArg,
		RunE: func(cmd *cobra.Command, args []string) error {
			if allAttempts && opts.Attempt != 0 {
				return errors.New("--attempt and --all-attempts exclude each other")
			}
			if opts.Attempt < 0 {
				return fmt.Errorf("--attempt %d: attempts count from 1", opts.Attempt)
			}
			if cmd.Flags().Changed("index") {
				if index < 0 {
					return fmt.Errorf("--index %d: indexes count from 0", index)
				}
				opts.Index = &index
			}
			q, hs, err := c.queueAndHandles(args)
			if err != nil {
				return err
			}
			job, err := q.Get(cmd.Context(), hs[0])
			if err != nil {
				return err
			}
			// Lines of a batch name their item, unless --index chose one.
			batch := opts.Index == nil && job.Spec.CompletionMode != nil && *job.Spec.CompletionMode == batchv1.IndexedCompletion
			lines := q.Logs(cmd.Context(), kubequeue.HandleFor(job), opts)
			prefix := opts.Attempt == 0 && (allAttempts || opts.Follow)
			if opts.Attempt != 0 || allAttempts || opts.Follow {
				for line, err := range lines {
					if err != nil {
						return err
					}
					writeLine(c.streams.Out, line, prefix, batch, opts.Timestamps)
				}
				return nil
			}
			// The last attempt of each item: the lines come attempt by
			// attempt, item by item, so keep the current attempt's.
			type key struct{ index, attempt int }
			var last []kubequeue.LogLine
			var cur key
			flush := func() {
				for _, l := range last {
					writeLine(c.streams.Out, l, false, false, opts.Timestamps)
				}
				last = last[:0]
			}
			for line, err := range lines {
				if err != nil {
					return err
				}
				k := key{line.Index, line.Attempt}
				if len(last) > 0 && k != cur {
					if k.index != cur.index {
						flush()
					} else {
						last = last[:0] // a later attempt of the same item
					}
				}
				cur = k
				last = append(last, line)
			}
			flush()
			return nil
		},
	}
	cmd.Flags().BoolVarP(&opts.Follow, "follow", "f", false, "Follow the log through each attempt until the Job finishes")
	cmd.Flags().IntVar(&opts.Attempt, "attempt", 0, "Print attempt N's log only (1 is the first)")
	cmd.Flags().BoolVar(&allAttempts, "all-attempts", false, "Print every attempt's log, each line prefixed with [attempt N]")
	cmd.Flags().IntVar(&index, "index", 0, "Print the log of this item of a batch only")
	cmd.Flags().BoolVar(&opts.Timestamps, "timestamps", false, "Prefix each line with the time it was written (RFC 3339)")
	cmd.Flags().IntVar(&opts.TailLines, "tail", 0, "Print only the last N lines of each attempt (0: all)")
	cmd.Flags().DurationVar(&opts.Since, "since", 0, "Print only lines written in the last duration, such as 5m")
	return cmd
}

// writeLine writes line, prefixed with its attempt (and item, for a
// batch) when prefix is set, and with its time when timestamps is.
func writeLine(w io.Writer, line kubequeue.LogLine, prefix, batch, timestamps bool) {
	if timestamps && !line.Time.IsZero() {
		fmt.Fprint(w, line.Time.UTC().Format(time.RFC3339Nano), " ")
	}
	if prefix {
		if batch {
			fmt.Fprintf(w, "[item %d attempt %d] ", line.Index, line.Attempt)
		} else {
			fmt.Fprintf(w, "[attempt %d] ", line.Attempt)
		}
	}
	fmt.Fprintln(w, line.Text)
}
