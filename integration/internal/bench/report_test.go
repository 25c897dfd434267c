package bench

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestRatio(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		ratio Ratio
		met   bool
		line  string
	}{
		{"AtLeastMet", Ratio{"enqueue_c32", 0.99, ">=", 0.97}, true, "RATIO enqueue_c32 0.99 >=0.97"},
		{"AtLeastEqual", Ratio{"enqueue_c1", 0.97, ">=", 0.97}, true, "RATIO enqueue_c1 0.97 >=0.97"},
		{"AtLeastMissed", Ratio{"enqueue_c8", 0.9612, ">=", 0.97}, false, "RATIO enqueue_c8 0.961 >=0.97"},
		{"AtMostMet", Ratio{"wait_watches_per_namespace", 2, "<=", 2}, true, "RATIO wait_watches_per_namespace 2 <=2"},
		{"AtMostMissed", Ratio{"cpu_per_job", 1.25, "<=", 1.1}, false, "RATIO cpu_per_job 1.25 <=1.1"},
		{"NaN", Ratio{"heap_growth", math.NaN(), "<=", 1.1}, false, "RATIO heap_growth NaN <=1.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tt.met, tt.ratio.Met())
			require.Equal(t, tt.line, tt.ratio.String())
		})
	}
}

func TestReport_Write(t *testing.T) {
	t.Parallel()
	r := &Report{Notes: []string{"Jobs are created suspended."}}
	r.add("enqueue, concurrency 1: Jobs/s", "150", "152", "0.987")
	r.add("heap", "2.0 MiB", "2.1 MiB", "")
	r.target("enqueue_c1", 0.987, ">=", 0.97)
	r.target("cpu_per_job", 1.2, "<=", 1.1)
	var b strings.Builder
	require.NoError(t, r.Write(&b))
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	require.Equal(t, []string{
		"Jobs are created suspended.",
		"",
		"| measurement                    | kubequeue | client-go | kubequeue ÷ client-go |",
		"|---                             |---        |---        |---                    |",
		"| enqueue, concurrency 1: Jobs/s | 150       | 152       | 0.987                 |",
		"| heap                           | 2.0 MiB   | 2.1 MiB   |                       |",
		"",
		"RATIO enqueue_c1 0.987 >=0.97",
		"RATIO cpu_per_job 1.2 <=1.1",
	}, lines)
	require.Equal(t, []Ratio{{"cpu_per_job", 1.2, "<=", 1.1}}, r.Missed())
}

func TestMedianPercentile(t *testing.T) {
	t.Parallel()
	require.True(t, math.IsNaN(median(nil)))
	require.Equal(t, 2.0, median([]float64{3, 1, 2}))
	require.Equal(t, 2.5, median([]float64{4, 1, 3, 2}))
	require.Equal(t, []float64{0.5, 2}, ratios([]float64{1, 4}, []float64{2, 2}))

	var ds []time.Duration
	for i := 1; i <= 100; i++ {
		ds = append(ds, time.Duration(101-i)*time.Millisecond)
	}
	require.Equal(t, 50*time.Millisecond, percentile(ds, 50))
	require.Equal(t, 99*time.Millisecond, percentile(ds, 99))
	require.Equal(t, 100*time.Millisecond, percentile(ds, 100))
	require.Equal(t, 7*time.Millisecond, percentile([]time.Duration{7 * time.Millisecond}, 99))
	require.Zero(t, percentile(nil, 50))
}
