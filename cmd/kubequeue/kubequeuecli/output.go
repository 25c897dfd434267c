package kubequeuecli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"
	batchv1 "k8s.io/api/batch/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/duration"
	"k8s.io/cli-runtime/pkg/printers"

	"github.com/kubequeue/kubequeue"
)

// Output formats of -o.
const (
	outputTable = ""
	outputWide  = "wide"
	outputJSON  = "json"
	outputYAML  = "yaml"
	outputName  = "name"
)

// addOutputFlag adds -o/--output to cmd.
func addOutputFlag(cmd *cobra.Command, output *string) {
	cmd.Flags().StringVarP(output, "output", "o", "", "Output format: one of json, yaml, name, wide (default: a table)")
}

// checkOutput returns an error for a format that is not one of formats.
func checkOutput(output string, formats ...string) error {
	for _, f := range formats {
		if output == f {
			return nil
		}
	}
	return fmt.Errorf("unknown output format %q: use one of %q", output, formats[1:])
}

// printData prints v, encoded as JSON, in the format of output (json or
// yaml) with cli-runtime's printers.
func printData(w io.Writer, output string, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return err
	}
	obj := &runtime.Unknown{Raw: raw, ContentType: runtime.ContentTypeJSON}
	if output == outputYAML {
		return (&printers.YAMLPrinter{}).PrintObj(obj, w)
	}
	return (&printers.JSONPrinter{}).PrintObj(obj, w)
}

// printName prints "job.batch/NAME" for each handle, as kubectl -o name
// does.
func printNames(w io.Writer, hs ...kubequeue.Handle) error {
	p := &printers.NamePrinter{}
	for _, h := range hs {
		job := &batchv1.Job{
			TypeMeta:   metav1.TypeMeta{APIVersion: "batch/v1", Kind: "Job"},
			ObjectMeta: metav1.ObjectMeta{Namespace: h.Namespace, Name: h.Name},
		}
		if err := p.PrintObj(job, w); err != nil {
			return err
		}
	}
	return nil
}

// table returns a tab writer, as kubectl's tables use, that writes to
// out on flush, with the spaces that pad empty last cells trimmed.
func table(out io.Writer) (io.Writer, func() error) {
	var buf bytes.Buffer
	w := printers.GetNewTabWriter(&buf)
	return w, func() error {
		if err := w.Flush(); err != nil {
			return err
		}
		for line := range strings.Lines(buf.String()) {
			if _, err := io.WriteString(out, strings.TrimRight(line, " \n")+"\n"); err != nil {
				return err
			}
		}
		return nil
	}
}

// age is how long ago t was, as kubectl writes it ("5m", "3h2m"), or
// "<unknown>" for the zero time.
func age(now, t time.Time) string {
	if t.IsZero() {
		return "<unknown>"
	}
	return duration.HumanDuration(now.Sub(t))
}

// runTime is how long the Job has run: from its start to its end, or to
// now while it runs; "" before it started.
func runTime(now time.Time, st kubequeue.Status) string {
	switch {
	case st.Started.IsZero():
		return ""
	case !st.Finished.IsZero():
		return duration.HumanDuration(st.Finished.Sub(st.Started))
	}
	return duration.HumanDuration(now.Sub(st.Started))
}

// attempts is how many pods of the Job have run or run: failed, active,
// and those that succeeded.
func attempts(st kubequeue.Status) int32 {
	n := st.Failures + st.Active
	switch {
	case st.Items != nil:
		n += int32(st.CountItems(kubequeue.StateSucceeded))
	case st.State == kubequeue.StateSucceeded:
		n++
	}
	return n
}

// waitingFor says in a few words what holds a Job that waits or is
// queued, for the tables; "" otherwise.
func waitingFor(st kubequeue.Status) string {
	switch {
	case st.Gate != nil:
		return string(st.Gate.Kind) + ": " + st.Gate.Message
	case st.State == kubequeue.StateQueued, st.State == kubequeue.StatePreempted:
		return st.Reason
	}
	return ""
}

// items summarises a batch's items: "7/10" succeeded of all; "" for a
// single Job.
func items(st kubequeue.Status) string {
	if st.Items == nil {
		return ""
	}
	return fmt.Sprintf("%d/%d", st.CountItems(kubequeue.StateSucceeded), len(st.Items))
}
