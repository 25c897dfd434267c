package kubequeuecli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/kubequeue/kubequeue"
)

func (c *cli) waitCommand() *cobra.Command {
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "wait JOB...",
		Short: "Wait for Jobs to finish",
		Long: `Wait for Jobs to finish (Queue.WaitAll), printing a line for each as it
finishes, and, when standard error is a terminal, a live progress line
"N of M done".

Exit codes: 0 if every Job succeeded; 2 if one failed; 3 if --timeout passed
first; 1 for any other error (a Job that does not exist or was deleted, an
API error). When Jobs end differently, the highest code wins.`,
		Example: `  kubequeue wait resize-image-7x2kq9vbnm
  kubequeue wait --timeout 10m $(kubequeue list --worker resize-image --state running -o name)`,
		Args: jobsArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if timeout < 0 {
				return fmt.Errorf("--timeout %v: must not be negative", timeout)
			}
			q, hs, err := c.queueAndHandles(args)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			if timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, timeout)
				defer cancel()
			}
			return c.wait(ctx, q, hs, timeout)
		},
	}
	cmd.Flags().DurationVar(&timeout, "timeout", 0, "How long to wait, such as 30s or 10m (0: until the Jobs finish)")
	return cmd
}

// wait waits for hs and returns the error whose exit code says how they
// ended.
func (c *cli) wait(ctx context.Context, q *kubequeue.Queue, hs []kubequeue.Handle, timeout time.Duration) error {
	progress := isTerminal(c.streams.ErrOut)
	total := len(hs)
	done, failed, timedOut := 0, 0, 0
	var errs []error
	if progress {
		fmt.Fprintf(c.streams.ErrOut, "\r0 of %d done", total)
	}
	for st, err := range q.WaitAll(ctx, hs...) {
		if err != nil && ctx.Err() != nil && st.State.Done() {
			// Seen finished before the time was up.
			err = st.Err()
		}
		if progress {
			fmt.Fprint(c.streams.ErrOut, "\r\033[K") // clear the progress line
		}
		switch {
		case err == nil:
			fmt.Fprintf(c.streams.Out, "job.batch/%s %s\n", st.Handle.Name, st.State)
		case errors.Is(err, kubequeue.ErrJobFailed):
			failed++
			fmt.Fprintf(c.streams.Out, "job.batch/%s failed: %v\n", st.Handle.Name, err)
		case errors.Is(err, context.DeadlineExceeded) && ctx.Err() != nil:
			timedOut++
			state := string(st.State)
			if state == "" {
				state = "not seen"
			}
			fmt.Fprintf(c.streams.Out, "job.batch/%s %s: timed out after %v\n", st.Handle.Name, state, timeout)
		default:
			errs = append(errs, err)
		}
		done++
		if progress && done < total {
			fmt.Fprintf(c.streams.ErrOut, "\r%d of %d done", done, total)
		}
	}
	if progress {
		fmt.Fprintf(c.streams.ErrOut, "\r\033[K%d of %d done\n", done-timedOut, total)
	}
	// The highest code wins; the message says everything.
	code := ExitError
	var msgs []error
	if timedOut > 0 {
		code = ExitTimeout
		msgs = append(msgs, fmt.Errorf("%d of %d Jobs did not finish within %v", timedOut, total, timeout))
	}
	if failed > 0 {
		code = max(code, ExitFailed)
		msgs = append(msgs, fmt.Errorf("%d of %d Jobs failed", failed, total))
	}
	err := errors.Join(append(msgs, errs...)...)
	if err == nil || code == ExitError {
		return err
	}
	return &ExitCodeError{Code: code, Err: err}
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
