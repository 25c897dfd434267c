package bench

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// Report is what a run measured: notes on how, one row per measurement,
// and one ratio per target.
type Report struct {
	Notes  []string
	Rows   []Row
	Ratios []Ratio
}

// Row is one line of the table: a measurement of each side and, where the
// two compare, kubequeue's figure over client-go's.
type Row struct {
	Name      string
	Kubequeue string
	ClientGo  string
	Ratio     string
}

// Ratio is one target: a value measured in the run, compared with Target
// by Op, "<=" or ">=".
type Ratio struct {
	Name   string
	Value  float64
	Op     string
	Target float64
}

// Met reports whether the value meets the target.
func (r Ratio) Met() bool {
	if math.IsNaN(r.Value) {
		return false
	}
	if r.Op == "<=" {
		return r.Value <= r.Target
	}
	return r.Value >= r.Target
}

// String returns the ratio's machine-readable line,
// "RATIO <name> <value> <op><target>".
func (r Ratio) String() string {
	return fmt.Sprintf("RATIO %s %s %s%s", r.Name, number(r.Value), r.Op, number(r.Target))
}

// number formats v with up to 3 significant decimals and no trailing
// zeros.
func number(v float64) string {
	if math.IsNaN(v) {
		return "NaN"
	}
	s := fmt.Sprintf("%.3f", v)
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	return s
}

// Missed returns the ratios whose target was missed.
func (r *Report) Missed() []Ratio {
	var missed []Ratio
	for _, x := range r.Ratios {
		if !x.Met() {
			missed = append(missed, x)
		}
	}
	return missed
}

// add adds a row.
func (r *Report) add(name, kubequeue, clientGo, ratio string) {
	r.Rows = append(r.Rows, Row{Name: name, Kubequeue: kubequeue, ClientGo: clientGo, Ratio: ratio})
}

// target adds a ratio.
func (r *Report) target(name string, value float64, op string, target float64) {
	r.Ratios = append(r.Ratios, Ratio{Name: name, Value: value, Op: op, Target: target})
}

// Write writes the notes, the table (as Markdown, aligned) and the RATIO
// lines.
func (r *Report) Write(w io.Writer) error {
	var b strings.Builder
	for _, n := range r.Notes {
		fmt.Fprintln(&b, n)
	}
	if len(r.Notes) > 0 {
		fmt.Fprintln(&b)
	}
	tw := tabwriter.NewWriter(&b, 0, 0, 1, ' ', tabwriter.Debug)
	fmt.Fprintln(tw, "| measurement\t kubequeue\t client-go\t kubequeue ÷ client-go\t")
	fmt.Fprintln(tw, "|---\t---\t---\t---\t")
	for _, row := range r.Rows {
		fmt.Fprintf(tw, "| %s\t %s\t %s\t %s\t\n", row.Name, row.Kubequeue, row.ClientGo, row.Ratio)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(&b)
	for _, x := range r.Ratios {
		fmt.Fprintln(&b, x)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// median returns the median of vs, or NaN if there are none.
func median(vs []float64) float64 {
	if len(vs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(vs)
	slices.Sort(s)
	if n := len(s); n%2 == 0 {
		return (s[n/2-1] + s[n/2]) / 2
	}
	return s[len(s)/2]
}

// percentile returns the p-th percentile (0 to 100) of ds by the
// nearest-rank method, or 0 if there are none.
func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	rank := int(math.Ceil(p / 100 * float64(len(s))))
	return s[min(max(rank, 1), len(s))-1]
}

// ratios returns a[i]/b[i] for each pair.
func ratios(a, b []float64) []float64 {
	out := make([]float64, min(len(a), len(b)))
	for i := range out {
		out[i] = a[i] / b[i]
	}
	return out
}

// ms formats d in milliseconds.
func ms(d time.Duration) string {
	return fmt.Sprintf("%.1f", float64(d)/float64(time.Millisecond))
}

// mib formats a number of bytes in MiB.
func mib(bytes uint64) string {
	return fmt.Sprintf("%.1f MiB", float64(bytes)/(1<<20))
}
