package kubequeuecli

import (
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/kubequeue/kubequeue"
)

// states are the states --state accepts.
var states = []kubequeue.State{
	kubequeue.StatePending, kubequeue.StateSuspended, kubequeue.StateWaiting, kubequeue.StateQueued,
	kubequeue.StateRunning, kubequeue.StateSucceeded, kubequeue.StateFailed,
}

func (c *cli) listCommand() *cobra.Command {
	var (
		all      bool
		selector string
		worker   string
		state    []string
		output   string
	)
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List kubequeue's Jobs, newest first",
		Long: `List kubequeue's Jobs of the namespace (or of all with -A), newest first,
with their worker, state, attempts (pods run), age and run time.
-o wide adds the reason of a failure, what a waiting Job waits for (its
gate), and a batch's items (succeeded/all). list reads no Kueue Workload:
a Job in Kueue's queue lists as queued, even once preempted; status tells
why it waits.`,
		Example: `  kubequeue list
  kubequeue list -A --worker resize-image --state failed,running
  kubequeue list -l team=a -o name | xargs kubectl describe`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutput(output, outputTable, outputWide, outputJSON, outputYAML, outputName); err != nil {
				return err
			}
			opts := kubequeue.ListOptions{AllNamespaces: all, Worker: worker}
			if selector != "" {
				sel, err := labels.Parse(selector)
				if err != nil {
					return fmt.Errorf("--selector %q: %w", selector, err)
				}
				opts.Selector = sel
			}
			want := make(map[kubequeue.State]bool, len(state))
			for _, s := range state {
				s := kubequeue.State(strings.TrimSpace(s))
				if !slices.Contains(states, s) {
					return fmt.Errorf("--state %q: must be one of %v", s, states)
				}
				want[s] = true
			}
			q, namespace, err := c.queue()
			if err != nil {
				return err
			}
			opts.Namespace = namespace
			list, err := q.List(cmd.Context(), opts)
			if err != nil {
				return err
			}
			jobs := list.Items
			if len(want) > 0 {
				jobs = slices.DeleteFunc(jobs, func(st kubequeue.Status) bool { return !want[st.State] })
			}
			return c.printList(output, all, jobs)
		},
	}
	cmd.Flags().BoolVarP(&all, "all-namespaces", "A", false, "List the Jobs of every namespace")
	cmd.Flags().StringVarP(&selector, "selector", "l", "", "Keep the Jobs whose labels match this selector, as kubectl's -l (such as team=a,tier!=web)")
	cmd.Flags().StringVar(&worker, "worker", "", "Keep the Jobs of this worker")
	cmd.Flags().StringSliceVar(&state, "state", nil, "Keep the Jobs in these states (comma-separated): pending, suspended, waiting, queued (preempted ones too), running, succeeded, failed")
	addOutputFlag(cmd, &output)
	return cmd
}

// printList prints jobs in the format of output; all adds the NAMESPACE
// column to the tables.
func (c *cli) printList(output string, all bool, jobs []kubequeue.Status) error {
	out := c.streams.Out
	switch output {
	case outputJSON, outputYAML:
		if jobs == nil {
			jobs = []kubequeue.Status{}
		}
		return printData(out, output, map[string]any{"items": jobs})
	case outputName:
		hs := make([]kubequeue.Handle, len(jobs))
		for i, st := range jobs {
			hs[i] = st.Handle
		}
		return printNames(out, hs...)
	}
	if len(jobs) == 0 {
		_, err := fmt.Fprintln(c.streams.ErrOut, "No kubequeue Jobs found.")
		return err
	}
	w, flush := table(out)
	header := []string{"NAME", "WORKER", "STATE", "ATTEMPTS", "AGE", "DURATION"}
	if all {
		header = append([]string{"NAMESPACE"}, header...)
	}
	if output == outputWide {
		header = append(header, "ITEMS", "REASON", "WAITING-FOR")
	}
	fmt.Fprintln(w, strings.Join(header, "\t"))
	now := c.now()
	for _, st := range jobs {
		row := []string{st.Handle.Name, st.Handle.Worker, string(st.State), fmt.Sprint(attempts(st)), age(now, st.Created), runTime(now, st)}
		if all {
			row = append([]string{st.Handle.Namespace}, row...)
		}
		if output == outputWide {
			row = append(row, items(st), st.Reason, waitingFor(st))
		}
		fmt.Fprintln(w, strings.Join(row, "\t"))
	}
	return flush()
}
