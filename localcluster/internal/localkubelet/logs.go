package localkubelet

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/virtual-kubelet/virtual-kubelet/node/api"
)

// A container's output is kept the way the kubelet's container runtimes keep
// it (the CRI log format): one record per line,
//
//	<RFC 3339 time with nanoseconds> <stdout|stderr> <F|P> <text>
//
// where F marks a line that ended with a newline and P one that did not (a
// line longer than maxLogLine, or the output's last bytes).
const maxLogLine = 16 << 10

// logFile is one container attempt's log, written by the two streams of one
// process and read by any number of readers.
type logFile struct {
	path string

	mu      sync.Mutex
	f       *os.File
	changed chan struct{} // closed and replaced on every write and on close
	closed  bool
}

func createLogFile(path string) (*logFile, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, err
	}
	return &logFile{path: path, f: f, changed: make(chan struct{})}, nil
}

// copyFrom writes r's lines as records of stream until r ends.
func (l *logFile) copyFrom(stream string, r io.Reader) {
	br := bufio.NewReaderSize(r, maxLogLine)
	for {
		line, err := br.ReadSlice('\n')
		if len(line) > 0 {
			tag := "P"
			if line[len(line)-1] == '\n' {
				tag, line = "F", line[:len(line)-1]
			}
			l.write(stream, tag, line)
		}
		if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
			return
		}
	}
}

func (l *logFile) write(stream, tag string, line []byte) {
	rec := make([]byte, 0, len(line)+48)
	rec = time.Now().UTC().AppendFormat(rec, time.RFC3339Nano)
	rec = append(rec, ' ')
	rec = append(rec, stream...)
	rec = append(rec, ' ')
	rec = append(rec, tag...)
	rec = append(rec, ' ')
	rec = append(rec, line...)
	rec = append(rec, '\n')
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return
	}
	_, _ = l.f.Write(rec)
	close(l.changed)
	l.changed = make(chan struct{})
}

// close ends the log: readers that follow it stop at its end.
func (l *logFile) close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return
	}
	l.closed = true
	_ = l.f.Close()
	close(l.changed)
}

// state reports whether the log is closed, and a channel closed on the next
// change.
func (l *logFile) state() (closed bool, changed <-chan struct{}) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.closed, l.changed
}

// record is one parsed log line.
type record struct {
	time time.Time
	text []byte // with its newline when the record was an F record
}

func parseRecord(line []byte) (record, bool) {
	ts, rest, ok := bytes.Cut(line, []byte{' '})
	if !ok {
		return record{}, false
	}
	t, err := time.Parse(time.RFC3339Nano, string(ts))
	if err != nil {
		return record{}, false
	}
	_, rest, ok = bytes.Cut(rest, []byte{' '}) // stream
	if !ok {
		return record{}, false
	}
	tag, text, ok := bytes.Cut(rest, []byte{' '})
	if !ok {
		return record{}, false
	}
	out := make([]byte, len(text), len(text)+1)
	copy(out, text)
	if string(tag) == "F" {
		out = append(out, '\n')
	}
	return record{time: t, text: out}, true
}

// format renders r as the API server's pods/log returns it.
func (r record) format(timestamps bool) []byte {
	if !timestamps {
		return r.text
	}
	b := r.time.AppendFormat(nil, time.RFC3339Nano)
	b = append(b, ' ')
	return append(b, r.text...)
}

// readLogs writes the log at path to w as kubectl logs would show it with
// opts: since, tail, timestamps and limitBytes, and with follow it waits for
// more until the log is closed or ctx ends. l is nil for a log that is no
// longer written to.
func readLogs(ctx context.Context, w io.Writer, path string, l *logFile, opts api.ContainerLogOpts) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	since := opts.SinceTime
	if opts.SinceSeconds > 0 {
		since = time.Now().Add(-time.Duration(opts.SinceSeconds) * time.Second)
	}
	limit := opts.LimitBytes
	written := 0
	// emit writes one record; it returns false once limitBytes is reached.
	emit := func(r record) (bool, error) {
		if !since.IsZero() && r.time.Before(since) {
			return true, nil
		}
		b := r.format(opts.Timestamps)
		if limit > 0 && written+len(b) >= limit {
			_, err := w.Write(b[:limit-written])
			return false, err
		}
		written += len(b)
		_, err := w.Write(b)
		return true, err
	}

	br := bufio.NewReader(f)
	var pending []byte // a record read without its newline yet
	// readAll passes each complete record up to the current end of the file
	// to each, until each returns false; it reports whether that happened.
	readAll := func(each func(record) (bool, error)) (stopped bool, err error) {
		for {
			line, err := br.ReadBytes('\n')
			pending = append(pending, line...)
			if errors.Is(err, io.EOF) {
				return false, nil
			}
			if err != nil {
				return false, err
			}
			rec, ok := parseRecord(pending[:len(pending)-1])
			pending = pending[:0]
			if !ok {
				continue
			}
			if more, err := each(rec); err != nil || !more {
				return true, err
			}
		}
	}

	// The first pass reads what is there; with tail, only the last lines.
	// (virtual-kubelet's options cannot tell tailLines=0 from no tailLines, so
	// 0 means the whole log.)
	if opts.Tail == 0 {
		if stopped, err := readAll(emit); err != nil || stopped {
			return err
		}
	}
	var head []record
	if _, err := readAll(func(rec record) (bool, error) {
		head = append(head, rec)
		if opts.Tail > 0 && len(head) > opts.Tail {
			head = head[1:]
		}
		return true, nil
	}); err != nil {
		return err
	}
	for _, rec := range head {
		if more, err := emit(rec); err != nil || !more {
			return err
		}
	}
	if !opts.Follow || l == nil {
		return nil
	}
	for {
		closed, changed := l.state()
		if stopped, err := readAll(emit); err != nil || stopped {
			return err
		}
		if closed {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// logReader streams readLogs through a pipe, so that the handler can copy
// from it while the container still writes.
func logReader(ctx context.Context, path string, l *logFile, opts api.ContainerLogOpts) io.ReadCloser {
	ctx, cancel := context.WithCancel(ctx)
	pr, pw := io.Pipe()
	go func() {
		defer cancel()
		err := readLogs(ctx, pw, path, l, opts)
		if err != nil && !errors.Is(err, context.Canceled) {
			err = fmt.Errorf("read log: %w", err)
		}
		pw.CloseWithError(err)
	}()
	return &cancelReadCloser{ReadCloser: pr, cancel: cancel}
}

type cancelReadCloser struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (c *cancelReadCloser) Close() error {
	c.cancel()
	return c.ReadCloser.Close()
}
