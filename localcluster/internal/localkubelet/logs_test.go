package localkubelet

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/virtual-kubelet/virtual-kubelet/node/api"
)

func TestReadLogs(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "0.log")
	// Records as copyFrom writes them: times, streams, full and partial lines.
	content := strings.Join([]string{
		"2026-01-01T00:00:01.000000001Z stdout F one",
		"2026-01-01T00:00:02Z stderr F two",
		"not a record",
		"2026-01-01T00:00:03Z stdout P thr",
		"2026-01-01T00:00:03.5Z stdout F ee",
		"2026-01-01T00:00:04Z stdout P no newline",
	}, "\n") + "\n"
	require.NoError(t, os.WriteFile(path, []byte(content), 0o600))
	tests := []struct {
		name string
		opts api.ContainerLogOpts
		want string
	}{
		{name: "All", want: "one\ntwo\nthree\nno newline"},
		{name: "TailLines", opts: api.ContainerLogOpts{Tail: 2}, want: "ee\nno newline"},
		{name: "TailMoreThanThere", opts: api.ContainerLogOpts{Tail: 100}, want: "one\ntwo\nthree\nno newline"},
		{name: "SinceTime", opts: api.ContainerLogOpts{SinceTime: time.Date(2026, 1, 1, 0, 0, 2, 0, time.UTC)}, want: "two\nthree\nno newline"},
		{name: "LimitBytes", opts: api.ContainerLogOpts{LimitBytes: 6}, want: "one\ntw"},
		{name: "Timestamps", opts: api.ContainerLogOpts{Timestamps: true, Tail: 2},
			want: "2026-01-01T00:00:03.5Z ee\n2026-01-01T00:00:04Z no newline"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var out bytes.Buffer
			require.NoError(t, readLogs(t.Context(), &out, path, nil, tt.opts))
			require.Equal(t, tt.want, out.String())
		})
	}
}

func TestLogFile_CopyFrom(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "0.log")
	l, err := createLogFile(path)
	require.NoError(t, err)
	long := strings.Repeat("x", maxLogLine+10)
	l.copyFrom("stdout", strings.NewReader("a\n"+long+"\nlast"))
	l.close()
	l.close() // idempotent
	closed, _ := l.state()
	require.True(t, closed)

	var out bytes.Buffer
	require.NoError(t, readLogs(t.Context(), &out, path, nil, api.ContainerLogOpts{}))
	require.Equal(t, "a\n"+long+"\nlast", out.String(), "a line longer than a record is split and joined again")
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, 4, strings.Count(string(b), "\n"), "a, the long line in two records, last")
}

func TestReadLogs_SinceSeconds(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "0.log")
	now := time.Now().UTC()
	content := now.Add(-time.Minute).Format(time.RFC3339Nano) + " stdout F a minute ago\n" +
		now.Add(-5*time.Second).Format(time.RFC3339Nano) + " stdout F five seconds ago\n" +
		now.Format(time.RFC3339Nano) + " stdout F now\n"
	require.NoError(t, os.WriteFile(path, []byte(content), 0o600))
	for _, tt := range []struct {
		seconds int
		want    string
	}{
		{seconds: 30, want: "five seconds ago\nnow\n"},
		{seconds: 3600, want: "a minute ago\nfive seconds ago\nnow\n"},
	} {
		var out bytes.Buffer
		require.NoError(t, readLogs(t.Context(), &out, path, nil, api.ContainerLogOpts{SinceSeconds: tt.seconds}))
		require.Equal(t, tt.want, out.String(), "sinceSeconds=%d", tt.seconds)
	}
}
