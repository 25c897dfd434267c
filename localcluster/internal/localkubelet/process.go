package localkubelet

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/kubequeue/kubequeue/localcluster/internal/spawn"
)

// A process is one attempt of one container: a local process in a process
// group of its own, its stdout and stderr copied into a log.
type process struct {
	cmd     *exec.Cmd
	started time.Time
	done    chan struct{} // closed once the process has exited and its output is read
	code    int32         // exit code, 128+signal for a signal death; valid after done
}

// startProcess runs argv with env in dir, its output going to log.
func startProcess(argv, env []string, dir string, log *logFile) (*process, error) {
	outR, outW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		outR.Close()
		outW.Close()
		return nil, err
	}
	cmd := &exec.Cmd{
		Path:        argv[0],
		Args:        argv,
		Env:         env,
		Dir:         dir,
		Stdout:      outW,
		Stderr:      errW,
		SysProcAttr: sysProcAttr(),
	}
	err = spawn.Start(cmd) // a parent-death signal comes when this process dies, only
	outW.Close()
	errW.Close()
	if err != nil {
		outR.Close()
		errR.Close()
		return nil, err
	}
	p := &process{cmd: cmd, started: time.Now(), done: make(chan struct{})}
	var copying sync.WaitGroup
	pipes := map[string]*os.File{"stdout": outR, "stderr": errR}
	for stream, r := range pipes {
		copying.Go(func() { log.copyFrom(stream, r) })
	}
	go func() {
		_ = cmd.Wait()
		p.code = exitCode(cmd.ProcessState)
		// Whatever the process started dies with it, as in a container, and
		// with it the last writers of the pipes. A child that left the
		// group (setsid) may still hold them: its output is not waited for
		// long.
		p.signal(syscall.SIGKILL)
		p.waitGroupGone(groupGrace)
		copied := make(chan struct{})
		go func() { copying.Wait(); close(copied) }()
		select {
		case <-copied:
		case <-time.After(outputGrace):
		}
		for _, r := range pipes {
			r.Close()
		}
		<-copied
		close(p.done)
	}()
	return p, nil
}

// groupGrace bounds the wait for the members of a process group that
// received SIGKILL to be gone: reaped by their new parent, usually at once.
const groupGrace = 2 * time.Second

// waitGroupGone waits, at most d, until no process is left in the
// process's group, so that a container counts as ended only once
// everything it started has.
func (p *process) waitGroupGone(d time.Duration) {
	deadline := time.Now().Add(d)
	for killGroup(p.cmd.Process.Pid, 0) == nil && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
}

// signal sends sig to the process's group.
func (p *process) signal(sig syscall.Signal) {
	_ = killGroup(p.cmd.Process.Pid, sig)
}

// stop sends SIGTERM to the process group, then SIGKILL after grace unless
// the process has exited by then.
func (p *process) stop(grace time.Duration) {
	p.signal(syscall.SIGTERM)
	if grace <= 0 {
		p.signal(syscall.SIGKILL)
		return
	}
	go func() {
		t := time.NewTimer(grace)
		defer t.Stop()
		select {
		case <-t.C:
			p.signal(syscall.SIGKILL)
		case <-p.done:
		}
	}()
}

func exitCode(ps *os.ProcessState) int32 {
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int32(ws.Signal())
	}
	return int32(ps.ExitCode())
}

// outputGrace is how long the output of a process that has exited is still
// read, for children that escaped its process group and kept its pipes.
const outputGrace = 2 * time.Second

// errNotFound is the error of lookPath for a name found nowhere.
var errNotFound = errors.New("executable file not found in $PATH")

// lookPath finds name as a shell would, in the directories of path (the
// container's PATH), or relative to dir when it holds a slash.
func lookPath(name, path, dir string) (string, error) {
	if strings.Contains(name, "/") {
		if !filepath.IsAbs(name) {
			name = filepath.Join(dir, name)
		}
		if err := executable(name); err != nil {
			return "", err
		}
		return name, nil
	}
	for _, dir := range filepath.SplitList(path) {
		if dir == "" || !filepath.IsAbs(dir) {
			continue
		}
		p := filepath.Join(dir, name)
		if executable(p) == nil {
			return p, nil
		}
	}
	return "", errNotFound
}

func executable(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	if fi.IsDir() || fi.Mode().Perm()&0o111 == 0 {
		return &os.PathError{Op: "exec", Path: path, Err: syscall.EACCES}
	}
	return nil
}
