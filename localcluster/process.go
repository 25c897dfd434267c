package localcluster

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"github.com/kubequeue/kubequeue/localcluster/internal/spawn"
)

// A process is one component of the cluster, running in a process
// group of its own with its output in a log file.
type process struct {
	name    string
	logPath string
	cmd     *exec.Cmd
	done    chan struct{} // closed when the process has exited
	err     error         // the exit status, once done is closed
}

// startProcess starts bin with args, its stdout and stderr appended to
// logDir/name.log.
func startProcess(name, bin string, args []string, logDir string) (*process, error) {
	return startProcessWith(name, bin, args, logDir, nil)
}

// startProcessWith is startProcess with prepare, when not nil, called on
// the command before it starts.
func startProcessWith(name, bin string, args []string, logDir string, prepare func(*exec.Cmd)) (*process, error) {
	logPath := filepath.Join(logDir, name+".log")
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("localcluster: %s log: %w", name, err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	setProcessGroup(cmd)
	if prepare != nil {
		prepare(cmd)
	}
	if err := spawn.Start(cmd); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("localcluster: start %s: %w", name, err)
	}
	p := &process{name: name, logPath: logPath, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		logFile.Close()
		close(p.done)
	}()
	return p, nil
}

// exited returns a non-nil error describing the exit if the process has
// ended.
func (p *process) exited() error {
	select {
	case <-p.done:
		return fmt.Errorf("localcluster: %s exited (%v); its log is %s", p.name, p.err, p.logPath)
	default:
		return nil
	}
}

// stop sends SIGTERM to the process group, and SIGKILL to whatever is left
// after grace. It returns once the process has been reaped.
func (p *process) stop(grace time.Duration) {
	pid := p.cmd.Process.Pid
	_ = signalGroup(pid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		_ = signalGroup(pid, syscall.SIGKILL)
		<-p.done
	}
	// Children that outlived the leader still belong to its group.
	_ = signalGroup(pid, syscall.SIGKILL)
}

// tailFile returns the last n lines of the file at path, reading at most
// its last 64 KiB.
func tailFile(path string, n int) string {
	if n <= 0 {
		return ""
	}
	f, err := os.Open(path)
	if err != nil {
		return fmt.Sprintf("(%v)", err)
	}
	defer f.Close()
	const maxRead = 64 << 10
	partial := false
	if st, err := f.Stat(); err == nil && st.Size() > maxRead {
		if _, err := f.Seek(st.Size()-maxRead, io.SeekStart); err != nil {
			return fmt.Sprintf("(%v)", err)
		}
		partial = true
	}
	b, err := io.ReadAll(f)
	if err != nil {
		return fmt.Sprintf("(%v)", err)
	}
	if partial { // the read began mid-line: drop that fragment
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			b = b[i+1:]
		}
	}
	b = bytes.TrimRight(b, "\n")
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] == '\n' {
			n--
			if n == 0 {
				return string(b[i+1:])
			}
		}
	}
	return string(b)
}
