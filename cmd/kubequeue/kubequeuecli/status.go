package kubequeuecli

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"
	batchv1 "k8s.io/api/batch/v1"

	"github.com/kubequeue/kubequeue"
)

func (c *cli) statusCommand() *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "status JOB",
		Short: "Show where a Job stands",
		Long: `Show where a Job stands: its state, attempts, the exit code and message of
its last failure, its result, what a waiting or queued Job waits for, a
batch's items, and the Job's conditions.`,
		Example: `  kubequeue status resize-image-7x2kq9vbnm
  kubequeue status resize-image-7x2kq9vbnm -o json`,
		Args: oneJobArg,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output, outputTable, outputJSON, outputYAML, outputName); err != nil {
				return err
			}
			q, hs, err := c.queueAndHandles(args)
			if err != nil {
				return err
			}
			job, err := q.Get(cmd.Context(), hs[0])
			if err != nil {
				return err
			}
			st, err := q.Status(cmd.Context(), kubequeue.HandleFor(job))
			if err != nil {
				return err
			}
			switch output {
			case outputJSON, outputYAML:
				return printData(c.streams.Out, output, st)
			case outputName:
				return printNames(c.streams.Out, st.Handle)
			}
			return c.describe(c.streams.Out, job, st)
		},
	}
	addOutputFlag(cmd, &output)
	return cmd
}

// describe prints st, of job, as kubectl describe would.
func (c *cli) describe(out io.Writer, job *batchv1.Job, st kubequeue.Status) error {
	now := c.now()
	w, flush := table(out)
	field := func(name, value string) {
		if value != "" {
			fmt.Fprintf(w, "%s:\t%s\n", name, value)
		}
	}
	when := func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return fmt.Sprintf("%s (%s ago)", t.UTC().Format(time.RFC3339), age(now, t))
	}
	field("Name", st.Handle.Name)
	field("Namespace", st.Handle.Namespace)
	field("Worker", st.Handle.Worker)
	field("State", string(st.State))
	field("Created", when(st.Created))
	field("Started", when(st.Started))
	field("Finished", when(st.Finished))
	field("Duration", runTime(now, st))
	field("Attempts", fmt.Sprintf("%d (%d failed, %d active)", attempts(st), st.Failures, st.Active))
	field("Retry of", job.Annotations[kubequeue.AnnotationRetryOf])
	field("Queue", job.Labels[kubequeue.LabelQueueName])
	field("Reason", st.Reason)
	field("Message", st.Message)
	if st.ExitCode != 0 {
		field("Exit code", fmt.Sprintf("%d%s", st.ExitCode, exitMeaning(st.ExitCode)))
	}
	field("Last failure", oneLine(st.TerminationMessage))
	if len(st.Result) > 0 {
		field("Result", st.Result.String())
	}
	if g := st.Gate; g != nil {
		field("Waiting for", string(g.Kind)+": "+g.Message)
	}
	if st.Items != nil {
		field("Items", fmt.Sprintf("%d: %d succeeded, %d failed, %d running, %d pending", len(st.Items),
			st.CountItems(kubequeue.StateSucceeded), st.CountItems(kubequeue.StateFailed),
			st.CountItems(kubequeue.StateRunning), st.CountItems(kubequeue.StatePending)))
		for _, it := range st.Items {
			if it.State == kubequeue.StateFailed {
				field(fmt.Sprintf("  Item %d", it.Index), fmt.Sprintf("failed, exit code %d: %s", it.ExitCode, oneLine(it.TerminationMessage)))
			}
		}
	}
	if len(job.Status.Conditions) > 0 {
		fmt.Fprintln(w, "Conditions:")
		fmt.Fprintln(w, "  TYPE\tSTATUS\tREASON\tMESSAGE")
		for _, cond := range job.Status.Conditions {
			fmt.Fprintf(w, "  %s\t%s\t%s\t%s\n", cond.Type, cond.Status, cond.Reason, oneLine(cond.Message))
		}
	}
	return flush()
}

// exitMeaning says what kubequeue's exit codes mean.
func exitMeaning(code int32) string {
	switch code {
	case kubequeue.ExitRetryable:
		return " (retryable: perform returned an error or panicked)"
	case kubequeue.ExitPermanent:
		return " (permanent: not retried)"
	}
	return ""
}

// oneLine joins the lines of s, trimmed, with " | ", for a table cell.
func oneLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	for i := range lines {
		lines[i] = strings.TrimSpace(lines[i])
	}
	return strings.Join(lines, " | ")
}
