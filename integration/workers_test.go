package integration

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/kubequeue/kubequeue"
	"github.com/kubequeue/kubequeue/internal/wire"
)

// testImage is the image of the workers below. The local kubelet maps it to
// this test binary, which TestMain turns into the worker (kubequeue.Main)
// when the kubelet starts it as a Job's container: the perform functions
// below really run, in pods scheduled by the real scheduler for the real Job
// controller.
const testImage = "registry.example.com/app:v1"

type greeting struct {
	Name string `json:"name"`
}

// greet prints a greeting.
func greet(_ context.Context, g greeting) error {
	fmt.Printf("hello, %s\n", g.Name)
	return nil
}

// marker names a file on the host that a worker writes to, so that a test
// sees what happened inside the process: the pods run on this host.
type marker struct {
	File string `json:"file"`
}

func (m marker) write(format string, args ...any) error {
	f, err := os.OpenFile(m.File, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = fmt.Fprintf(f, format+"\n", args...)
	return err
}

// sleep writes "started pid=N" and waits for its context, which kubequeue
// cancels on SIGTERM; then it writes how it ended.
func sleep(ctx context.Context, m marker) error {
	if err := m.write("started pid=%d", os.Getpid()); err != nil {
		return err
	}
	fmt.Println("sleeping until stopped")
	<-ctx.Done()
	if err := m.write("stopped: %v", ctx.Err()); err != nil {
		return err
	}
	return ctx.Err()
}

// flaky fails the first time it runs for a marker, and succeeds after.
func flaky(_ context.Context, m marker) error {
	if _, err := os.Stat(m.File); err != nil {
		fmt.Println("attempt 1")
		if err := m.write("attempt 1"); err != nil {
			return err
		}
		return errors.New("the first attempt fails on purpose")
	}
	fmt.Println("attempt 2")
	return nil
}

// count prints line 1 to line N, Interval apart.
type count struct {
	Lines    int           `json:"lines"`
	Interval time.Duration `json:"interval"`
}

func countLines(ctx context.Context, c count) error {
	for i := 1; i <= c.Lines; i++ {
		if i > 1 {
			select {
			case <-time.After(c.Interval):
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		fmt.Printf("line %d\n", i)
	}
	return nil
}

// show asks printEnv for environment variables and files.
type show struct {
	Vars  []string `json:"vars"`
	Files []string `json:"files"` // container paths
}

// printEnv prints NAME=value for each variable and path: content for each
// file, read where the container sees it.
func printEnv(_ context.Context, s show) error {
	for _, v := range s.Vars {
		fmt.Printf("%s=%s\n", v, os.Getenv(v))
	}
	for _, f := range s.Files {
		b, err := os.ReadFile(wire.ContainerPath(f, os.LookupEnv))
		if err != nil {
			return err
		}
		fmt.Printf("%s: %s\n", filepath.Base(f), strings.TrimSpace(string(b)))
	}
	return nil
}

// sum is added by addWorker, which records the total as its result.
type sum struct {
	A int `json:"a"`
	B int `json:"b"`
}

// total is addWorker's result.
type total struct {
	Sum  int    `json:"sum"`
	Note string `json:"note"`
}

func add(ctx context.Context, s sum) error {
	return kubequeue.SetResult(ctx, total{Sum: s.A + s.B, Note: `it's "quoted" and costs $5`})
}

// waitForFile returns once the marker's file exists.
func waitForFile(ctx context.Context, m marker) error {
	fmt.Println("waiting for", m.File)
	for {
		if _, err := os.Stat(m.File); err == nil {
			fmt.Println("found it")
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// square is an item of squareWorker's batches.
type square struct {
	N    int  `json:"n"`
	Fail bool `json:"fail,omitempty"`
}

// squareItem records N*N as its result, or, with Fail, fails permanently.
func squareItem(ctx context.Context, s square) error {
	fmt.Printf("squaring %d\n", s.N)
	if s.Fail {
		return kubequeue.Permanent(fmt.Errorf("item %d can never succeed", s.N))
	}
	return kubequeue.SetResult(ctx, s.N*s.N)
}

// stamp is the payload of stampWorker.
type stamp struct {
	File  string        `json:"file"`
	Name  string        `json:"name"`
	Sleep time.Duration `json:"sleep"`
}

// stampRun writes "start <name> <unix nanoseconds>", sleeps, then writes
// "end <name> <unix nanoseconds>", so that a test sees when each Job ran.
func stampRun(ctx context.Context, s stamp) error {
	m := marker{File: s.File}
	if err := m.write("start %s %d", s.Name, time.Now().UnixNano()); err != nil {
		return err
	}
	select {
	case <-time.After(s.Sleep):
	case <-ctx.Done():
		return ctx.Err()
	}
	return m.write("end %s %d", s.Name, time.Now().UnixNano())
}

// nap sleeps for its payload.
func nap(ctx context.Context, d time.Duration) error {
	select {
	case <-time.After(d):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

var (
	greetWorker    = kubequeue.NewWorker("greet", greet, kubequeue.WithImage(testImage))
	longNameWorker = kubequeue.NewWorker("a-worker-whose-name-is-as-long-as-kubequeue-allows-x", greet, kubequeue.WithImage(testImage))
	failingWorker  = kubequeue.NewWorker("always-fails", func(context.Context, greeting) error {
		return errors.New("the worker failed on purpose")
	}, kubequeue.WithImage(testImage))
	permanentWorker = kubequeue.NewWorker("fails-permanently", func(context.Context, greeting) error {
		return kubequeue.Permanent(errors.New("this payload can never succeed"))
	}, kubequeue.WithImage(testImage))
	sleepWorker = kubequeue.NewWorker("sleeps", sleep, kubequeue.WithImage(testImage))
	flakyWorker = kubequeue.NewWorker("flaky", flaky, kubequeue.WithImage(testImage))
	countWorker = kubequeue.NewWorker("counts", countLines, kubequeue.WithImage(testImage))
	envWorker   = kubequeue.NewWorker("prints-env", printEnv, kubequeue.WithImage(testImage))
	addWorker   = kubequeue.NewWorker("adds", add, kubequeue.WithImage(testImage))
	fileWorker  = kubequeue.NewWorker("waits-for-file", waitForFile, kubequeue.WithImage(testImage))
	stampWorker = kubequeue.NewWorker("stamps", stampRun, kubequeue.WithImage(testImage))
	napWorker   = kubequeue.NewWorker("naps", nap, kubequeue.WithImage(testImage))

	// testWorkers are the workers this binary performs as a Job's container.
	testWorkers = []kubequeue.AnyWorker{
		greetWorker, longNameWorker, failingWorker, permanentWorker,
		sleepWorker, flakyWorker, countWorker, envWorker, addWorker, fileWorker,
		squareWorker,
		stampWorker, napWorker,
	}
)
