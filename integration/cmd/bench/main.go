// Command bench measures kubequeue beside raw client-go on a local cluster
// (package localcluster) and prints one table, then one line per target,
//
//	RATIO <name> <value> <op><target>
//
// and exits with status 1 if a target is missed (2 on any other error).
//
//	go run ./cmd/bench                      # make bench: a few minutes
//	go run ./cmd/bench -smoke               # seconds: checks that it works, checks no target
//	go run ./cmd/bench -only enqueue,wait   # some measurements
//	go run ./cmd/bench -cpuprofile cpu.out  # then go tool pprof cpu.out
//
// The cluster's binaries are installed first if missing (see make
// localcluster). The table goes to standard output, progress to
// standard error.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/kubequeue/kubequeue/integration/internal/bench"
	"github.com/kubequeue/kubequeue/localcluster"
)

func main() {
	os.Exit(benchMain())
}

// benchMain runs the command and returns its exit status.
func benchMain() int {
	smoke := flag.Bool("smoke", false, "run every measurement at a tiny scale, to check that the program works; targets are not checked")
	only := flag.String("only", "", "run only these measurements, comma-separated, of: "+strings.Join(bench.Steps(), ", "))
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the whole run (both sides) to this file, for go tool pprof")
	flag.Parse()
	if *cpuProfile != "" {
		stopProfile, err := startCPUProfile(*cpuProfile)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 2
		}
		defer stopProfile()
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var steps []string
	if *only != "" {
		steps = strings.Split(*only, ",")
		for _, s := range steps {
			if !slices.Contains(bench.Steps(), s) {
				fmt.Fprintf(os.Stderr, "bench: -only: no measurement %q (there are %s)\n", s, strings.Join(bench.Steps(), ", "))
				return 2
			}
		}
	}
	code, err := run(ctx, *smoke, steps)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
	}
	return code
}

// startCPUProfile starts profiling the CPU into the file at path, and
// returns the function that stops it.
func startCPUProfile(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("bench: start the CPU profile: %w", err)
	}
	return func() {
		pprof.StopCPUProfile()
		if err := f.Close(); err != nil {
			fmt.Fprintln(os.Stderr, "bench: write the CPU profile:", err)
		}
	}, nil
}

// run runs the benchmark and returns the exit status.
func run(ctx context.Context, smoke bool, only []string) (int, error) {
	scale := bench.Full
	if smoke {
		scale = bench.Smoke
	}
	began := time.Now()
	load := loadAverage()
	cp, err := localcluster.Start(ctx, localcluster.Options{Log: os.Stderr})
	if err != nil {
		return 2, err
	}
	defer cp.Stop()
	selector, tolerations := localcluster.Simulated()
	report, err := bench.Run(ctx, bench.Config{
		Rest:                  cp.Config(),
		SimulatedNodeSelector: selector,
		SimulatedTolerations:  tolerations,
		Scale:                 scale,
		Progress:              os.Stderr,
		Only:                  only,
	})
	if err != nil {
		if report != nil && len(report.Rows) > 0 {
			fmt.Println("The run stopped early; what it measured:")
			_ = report.Write(os.Stdout)
		}
		return 2, err
	}
	fmt.Printf("Machine: %d cores (%s), %s %s/%s; load average %s at the start, %s at the end.\n",
		runtime.NumCPU(), cpuModel(), runtime.Version(), runtime.GOOS, runtime.GOARCH, load, loadAverage())
	fmt.Printf("Local cluster: Kubernetes %s, etcd %s, kwok %s, on the same machine. Run on %s, %s in all.\n",
		localcluster.KubernetesVersion, localcluster.EtcdVersion, localcluster.KwokVersion,
		began.UTC().Format("2006-01-02"), time.Since(began).Round(time.Second))
	if smoke {
		report.Notes = append(report.Notes, "SMOKE RUN (-smoke): tiny counts; the figures mean nothing and no target is checked.")
	}
	if err := report.Write(os.Stdout); err != nil {
		return 2, err
	}
	missed := report.Missed()
	switch {
	case smoke:
		return 0, nil
	case len(missed) > 0:
		var names []string
		for _, m := range missed {
			names = append(names, m.Name)
		}
		return 1, fmt.Errorf("bench: targets missed: %s", strings.Join(names, ", "))
	}
	return 0, nil
}

// cpuModel returns the CPU's model name from /proc/cpuinfo, or "unknown
// CPU".
func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if k, v, ok := strings.Cut(s.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}

// loadAverage returns the 1-minute load average from /proc/loadavg, or
// "unknown".
func loadAverage() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	if fields := strings.Fields(string(data)); len(fields) > 0 {
		return fields[0]
	}
	return "unknown"
}
