package kubequeue_test

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/kubequeue/kubequeue"
)

func TestSetResult(t *testing.T) {
	t.Parallel()
	type receipt struct {
		ID    string  `json:"id"`
		Total float64 `json:"total"`
	}
	tests := []struct {
		name    string
		set     func(ctx context.Context) error
		want    string // the result; "" for none
		wantErr error  // what SetResult returned
		perform error  // what perform returns after it
	}{
		{
			name: "Struct",
			set:  func(ctx context.Context) error { return kubequeue.SetResult(ctx, receipt{ID: "r-1", Total: 9.5}) },
			want: `{"id":"r-1","total":9.5}`,
		},
		{
			name: "DollarsAndQuotes",
			set:  func(ctx context.Context) error { return kubequeue.SetResult(ctx, `costs $5, "quoted"`) },
			want: `"costs $5, \"quoted\""`, // no kubelet expands a termination message
		},
		{
			name: "Replaced",
			set: func(ctx context.Context) error {
				if err := kubequeue.SetResult(ctx, 1); err != nil {
					return err
				}
				return kubequeue.SetResult(ctx, 2)
			},
			want: `2`,
		},
		{
			name: "LargestAllowed",
			set: func(ctx context.Context) error {
				return kubequeue.SetResult(ctx, strings.Repeat("x", kubequeue.MaxResultSize-2))
			},
			want: `"` + strings.Repeat("x", kubequeue.MaxResultSize-2) + `"`,
		},
		{
			name: "TooLarge",
			set: func(ctx context.Context) error {
				return kubequeue.SetResult(ctx, strings.Repeat("x", kubequeue.MaxResultSize-1))
			},
			wantErr: kubequeue.ErrResultTooLarge,
		},
		{
			name: "TooLargeKeepsTheFormer",
			set: func(ctx context.Context) error {
				_ = kubequeue.SetResult(ctx, 7)
				return kubequeue.SetResult(ctx, make([]int, 5000))
			},
			want:    `7`,
			wantErr: kubequeue.ErrResultTooLarge,
		},
		{
			name:    "NaN",
			set:     func(ctx context.Context) error { return kubequeue.SetResult(ctx, math.NaN()) },
			wantErr: kubequeue.ErrPayloadEncode,
		},
		{
			name:    "Channel",
			set:     func(ctx context.Context) error { return kubequeue.SetResult(ctx, make(chan int)) },
			wantErr: kubequeue.ErrPayloadEncode,
		},
		{
			name:    "InvalidUTF8",
			set:     func(ctx context.Context) error { return kubequeue.SetResult(ctx, "\xff") },
			wantErr: kubequeue.ErrPayloadEncode,
		},
		{
			name: "Removed",
			set: func(ctx context.Context) error {
				if err := kubequeue.SetResult(ctx, 1); err != nil {
					return err
				}
				return kubequeue.SetResult(ctx, nil)
			},
		},
		{
			name: "FromGoroutines",
			set: func(ctx context.Context) error {
				var wg sync.WaitGroup
				for range 8 {
					wg.Go(func() { _ = kubequeue.SetResult(ctx, 5) })
				}
				wg.Wait()
				return nil
			},
			want: `5`,
		},
		{
			name:    "DroppedOnFailure",
			set:     func(ctx context.Context) error { return kubequeue.SetResult(ctx, 1) },
			perform: errors.New("failed after recording a result"),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var setErr error
			w := rtWorker("with-result", func(ctx context.Context, _ rtArgs) error {
				setErr = tt.set(ctx)
				return tt.perform
			})
			result, err := kubequeue.PerformJob(t.Context(), build(t, w, rtArgs{}), w)
			require.ErrorIs(t, err, tt.perform)
			if tt.wantErr != nil {
				require.ErrorIs(t, setErr, tt.wantErr)
			} else {
				require.NoError(t, setErr)
			}
			if tt.want == "" {
				require.Nil(t, result)
				return
			}
			require.Equal(t, tt.want, string(result))
			require.True(t, json.Valid(result))
		})
	}
}

func TestSetResult_OutsidePerform(t *testing.T) {
	t.Parallel()
	err := kubequeue.SetResult(t.Context(), 1)
	require.ErrorIs(t, err, kubequeue.ErrNotInJob)
	require.ErrorContains(t, err, "SetResult needs the context kubequeue passed to perform")
}

// TestRun_TerminationMessage runs the runtime in this process, as the local
// kubelet would start it: the termination message file exists under
// KUBEQUEUE_LOCAL_ROOT. It changes the environment, so it does not run in
// parallel.
func TestRun_TerminationMessage(t *testing.T) {
	root := t.TempDir()
	file := filepath.Join(root, kubequeue.TerminationMessagePath)
	require.NoError(t, os.MkdirAll(filepath.Dir(file), 0o755))
	t.Setenv("KUBEQUEUE_LOCAL_ROOT", root)

	long := strings.Repeat("é", kubequeue.MaxResultSize) // 2 bytes each
	tests := []struct {
		name     string
		noFile   bool
		perform  func(ctx context.Context) error
		wantCode int
		want     string
	}{
		{
			name:    "Result",
			perform: func(ctx context.Context) error { return kubequeue.SetResult(ctx, map[string]int{"sum": 42}) },
			want:    `{"sum":42}`,
		},
		{
			name:    "NoResult",
			perform: func(context.Context) error { return nil },
			want:    "",
		},
		{
			name:     "Error",
			perform:  func(context.Context) error { return errors.New("charge card: connection refused") },
			wantCode: kubequeue.ExitRetryable,
			want:     "charge card: connection refused",
		},
		{
			name:     "PermanentError",
			perform:  func(context.Context) error { return kubequeue.Permanent(errors.New("no such user")) },
			wantCode: kubequeue.ExitPermanent,
			want:     "no such user",
		},
		{
			name:     "LongErrorIsCut",
			perform:  func(context.Context) error { return errors.New(long) },
			wantCode: kubequeue.ExitRetryable,
			want:     long[:kubequeue.MaxResultSize],
		},
		{
			// Invalid UTF-8 early in a long error does not shorten it.
			name: "LongErrorWithInvalidUTF8",
			perform: func(context.Context) error {
				return errors.New("open \xff" + strings.Repeat("x", 2*kubequeue.MaxResultSize))
			},
			wantCode: kubequeue.ExitRetryable,
			want:     ("open \xff" + strings.Repeat("x", 2*kubequeue.MaxResultSize))[:kubequeue.MaxResultSize],
		},
		{
			name:    "NotInAContainer",
			noFile:  true,
			perform: func(ctx context.Context) error { return kubequeue.SetResult(ctx, 1) },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_ = os.Remove(file)
			if !tt.noFile {
				// The kubelet creates the file, empty, before the container
				// starts.
				require.NoError(t, os.WriteFile(file, nil, 0o666))
			}
			w := rtWorker("terminates", func(ctx context.Context, _ rtArgs) error { return tt.perform(ctx) })
			for _, e := range rtContainerEnv(t, build(t, w, rtArgs{})) {
				name, value, _ := strings.Cut(e, "=")
				t.Setenv(name, value)
			}
			require.Equal(t, tt.wantCode, kubequeue.Run(t.Context(), w))
			got, err := os.ReadFile(file)
			if tt.noFile {
				require.ErrorIs(t, err, os.ErrNotExist, "outside a container nothing is created")
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, string(got))
			require.LessOrEqual(t, len(got), kubequeue.MaxResultSize)
			if utf8.ValidString(tt.want) {
				require.True(t, utf8.Valid(got), "no character cut in two")
			}
		})
	}
}
