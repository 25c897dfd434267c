package localcluster

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestTailFile(t *testing.T) {
	t.Parallel()
	var big strings.Builder
	for i := range 10000 { // 10 bytes a line: about 98 KiB
		fmt.Fprintf(&big, "line %04d\n", i)
	}
	require.Greater(t, big.Len(), 64<<10)
	// One line longer than what tailFile reads, then two short ones: the
	// fragment of the long line must not come back as a line.
	longLine := strings.Repeat("x", 80<<10) + "\nshort 1\nshort 2\n"

	tests := []struct {
		name    string
		content *string // nil: no file
		n       int
		want    string
	}{
		{name: "FewerLines", content: ptr("a\nb\n"), n: 5, want: "a\nb"},
		{name: "ExactlyN", content: ptr("a\nb\nc\n"), n: 3, want: "a\nb\nc"},
		{name: "MoreLines", content: ptr("a\nb\nc\nd\ne\n"), n: 2, want: "d\ne"},
		{name: "NoFinalNewline", content: ptr("a\nb\nc"), n: 2, want: "b\nc"},
		{name: "TrailingNewlines", content: ptr("a\nb\nc\n\n\n"), n: 2, want: "b\nc"},
		{name: "EmptyLineKept", content: ptr("a\n\nb\n"), n: 2, want: "\nb"},
		{name: "OneLine", content: ptr("only\n"), n: 1, want: "only"},
		{name: "Empty", content: ptr(""), n: 3, want: ""},
		{name: "BiggerThan64KiB", content: ptr(big.String()), n: 3, want: "line 9997\nline 9998\nline 9999"},
		{name: "MissingFile", content: nil, n: 3},
		{name: "ZeroLines", content: ptr("a\nb\n"), n: 0, want: ""},
		{name: "NegativeLines", content: ptr("a\nb\n"), n: -1, want: ""},
		{name: "PartialFirstLineDropped", content: ptr(longLine), n: 5, want: "short 1\nshort 2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "x.log")
			if tt.content == nil {
				got := tailFile(path, tt.n)
				require.True(t, strings.HasPrefix(got, "(") && strings.HasSuffix(got, ")"), "got %q", got)
				require.Contains(t, got, path)
				require.Contains(t, got, "no such file")
				return
			}
			require.NoError(t, os.WriteFile(path, []byte(*tt.content), 0o644))
			require.Equal(t, tt.want, tailFile(path, tt.n))
		})
	}
}

func ptr[T any](v T) *T { return &v }

func skipUnlessLinux(t *testing.T) {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("process supervision is tested on Linux")
	}
}

// startShell runs script with /bin/sh under startProcess, logging to a new
// directory, and stops it when the test ends.
func startShell(t *testing.T, name, script string) *process {
	t.Helper()
	p, err := startProcess(name, "/bin/sh", []string{"-c", script}, t.TempDir())
	require.NoError(t, err)
	t.Cleanup(func() { p.stop(time.Second) })
	return p
}

// running reports whether pid is a live process: a zombie, dead and waiting
// for its parent (here init) to reap it, does not count.
func running(pid int) bool {
	if !processAlive(pid) {
		return false
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 || i+2 >= len(s) {
		return true
	}
	return s[i+2] != 'Z'
}

// waitUntil polls cond every 10ms for up to d.
func waitUntil(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestProcess_Stop(t *testing.T) {
	t.Parallel()
	skipUnlessLinux(t)

	t.Run("NoStrayChildren", func(t *testing.T) {
		t.Parallel()
		pidFile := filepath.Join(t.TempDir(), "child.pid")
		p := startShell(t, "parent", "sleep 300 & echo $! > "+pidFile+"; wait")
		var child int
		require.True(t, waitUntil(2*time.Second, func() bool {
			b, err := os.ReadFile(pidFile)
			if err != nil || !bytes.HasSuffix(b, []byte("\n")) {
				return false
			}
			child, err = strconv.Atoi(strings.TrimSpace(string(b)))
			return err == nil
		}), "the shell did not write its child's pid")
		shell := p.cmd.Process.Pid
		require.True(t, running(shell))
		require.True(t, running(child))
		require.NoError(t, p.exited())

		start := time.Now()
		p.stop(2 * time.Second)
		require.Less(t, time.Since(start), time.Second, "SIGTERM is enough, no need to wait for the grace period")
		require.False(t, processAlive(shell), "stop returns once the shell is reaped")
		require.True(t, waitUntil(2*time.Second, func() bool { return !running(child) }),
			"the shell's child %d still runs after stop", child)
		require.ErrorContains(t, p.exited(), "signal: terminated")
	})

	t.Run("IgnoresSIGTERM", func(t *testing.T) {
		t.Parallel()
		p := startShell(t, "stubborn", `trap "" TERM; echo ready; sleep 300`)
		require.True(t, waitUntil(2*time.Second, func() bool {
			return strings.Contains(tailFile(p.logPath, 1), "ready")
		}), "the trap was not set")

		const grace = 300 * time.Millisecond
		start := time.Now()
		p.stop(grace)
		took := time.Since(start)
		require.GreaterOrEqual(t, took, grace, "SIGTERM is ignored, so only SIGKILL after the grace period ends it")
		require.Less(t, took, grace+2*time.Second)
		require.False(t, processAlive(p.cmd.Process.Pid))
		require.ErrorContains(t, p.exited(), "signal: killed")
	})

	t.Run("AlreadyExited", func(t *testing.T) {
		t.Parallel()
		p := startShell(t, "quick", "exit 0")
		<-p.done
		start := time.Now()
		p.stop(2 * time.Second)
		require.Less(t, time.Since(start), time.Second)
	})
}

// envParentDeathHelper makes the test binary act as a process that starts
// a component and waits to be killed (see TestProcess_ParentDeath).
const envParentDeathHelper = "KUBEQUEUE_TEST_PARENT_DEATH_PIDFILE"

func init() {
	pidFile := os.Getenv(envParentDeathHelper)
	if pidFile == "" {
		return
	}
	p, err := startProcess("sleeper", "/bin/sleep", []string{"300"}, filepath.Dir(pidFile))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	if err := os.WriteFile(pidFile, []byte(strconv.Itoa(p.cmd.Process.Pid)), 0o644); err != nil {
		os.Exit(2)
	}
	select {} // until killed
}

// TestProcess_ParentDeath kills, with SIGKILL, a process that started a
// component (as a test timeout or kill -9 would): the kernel must end the
// component too, since nothing in the dead process can.
func TestProcess_ParentDeath(t *testing.T) {
	t.Parallel()
	skipUnlessLinux(t)
	pidFile := filepath.Join(t.TempDir(), "sleeper.pid")
	parent := exec.Command(os.Args[0], "-test.run=^$")
	parent.Env = append(os.Environ(), envParentDeathHelper+"="+pidFile)
	require.NoError(t, parent.Start())
	t.Cleanup(func() { _ = parent.Process.Kill(); _ = parent.Wait() })

	var pid int
	require.True(t, waitUntil(10*time.Second, func() bool {
		b, err := os.ReadFile(pidFile)
		if err != nil || len(b) == 0 {
			return false
		}
		pid, err = strconv.Atoi(string(b))
		return err == nil
	}), "the helper never started its component")
	require.True(t, running(pid))

	require.NoError(t, parent.Process.Kill())
	_ = parent.Wait()
	require.True(t, waitUntil(5*time.Second, func() bool { return !running(pid) }),
		"the component (pid %d) outlived the process that started it", pid)
}

func TestProcess_Exited(t *testing.T) {
	t.Parallel()
	skipUnlessLinux(t)

	t.Run("Running", func(t *testing.T) {
		t.Parallel()
		p := startShell(t, "sleeper", "sleep 300")
		require.NoError(t, p.exited())
		time.Sleep(50 * time.Millisecond)
		require.NoError(t, p.exited())
	})

	t.Run("ExitsOnItsOwn", func(t *testing.T) {
		t.Parallel()
		p := startShell(t, "boomer", "echo starting; echo boom >&2; exit 3")
		select {
		case <-p.done:
		case <-time.After(2 * time.Second):
			require.FailNow(t, "the process did not exit")
		}
		err := p.exited()
		require.Error(t, err)
		require.ErrorContains(t, err, "boomer exited")
		require.ErrorContains(t, err, "exit status 3")
		require.ErrorContains(t, err, p.logPath, "the error says where the log is")
		require.Equal(t, "starting\nboom", tailFile(p.logPath, 20), "stdout and stderr go to the log")
	})
}

func TestStartProcess_Errors(t *testing.T) {
	t.Parallel()
	skipUnlessLinux(t)

	t.Run("NoBinary", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		_, err := startProcess("ghost", filepath.Join(dir, "ghost"), nil, dir)
		require.ErrorContains(t, err, "start ghost")
		require.ErrorIs(t, err, os.ErrNotExist)
	})

	t.Run("NoLogDir", func(t *testing.T) {
		t.Parallel()
		_, err := startProcess("sh", "/bin/sh", []string{"-c", "exit 0"}, filepath.Join(t.TempDir(), "absent"))
		require.ErrorContains(t, err, "sh log")
	})
}

func TestLockFile(t *testing.T) {
	t.Parallel()
	skipUnlessLinux(t)
	path := filepath.Join(t.TempDir(), "x.lock")
	unlock, err := lockFile(t.Context(), path, func() { t.Error("waiting called for a free lock") })
	require.NoError(t, err)

	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	waited := 0
	_, err = lockFile(ctx, path, func() { waited++ })
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.Equal(t, 1, waited)

	unlock()
	unlock2, err := lockFile(t.Context(), path, func() { t.Error("waiting called after unlock") })
	require.NoError(t, err)
	unlock2()
}
