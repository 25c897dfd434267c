package kubequeue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync"
	"unicode/utf8"

	corev1 "k8s.io/api/core/v1"

	"github.com/kubequeue/kubequeue/internal/wire"
)

// MaxResultSize is the longest result, encoded: 4096 bytes, the most of a
// container's termination message that the kubelet keeps. The kubelet keeps
// at most 12 KiB of messages per pod, shared by its containers: in a pod of
// more than three containers (sidecars, injected proxies), each keeps less,
// and a longer result is cut.
const MaxResultSize = 4096

// TerminationMessagePath is where the runtime writes a Job's result, or
// the error perform returned: the container's terminationMessagePath, which
// kubequeue leaves at Kubernetes' default. A [WithJobMutator] that moves it
// loses both.
const TerminationMessagePath = corev1.TerminationMessagePathDefault

// resultKey is the context key of the *resultSlot of a perform call.
type resultKey struct{}

// resultSlot holds what perform recorded with SetResult.
type resultSlot struct {
	mu   sync.Mutex
	data json.RawMessage
}

func (s *resultSlot) set(data json.RawMessage) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.data = data
}

func (s *resultSlot) get() json.RawMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.data
}

// SetResult records v as the result of the job being performed. Call it from
// perform, with perform's ctx (or one derived from it). When perform returns
// nil, the runtime writes the result, as JSON, as the container's
// termination message; [Queue.Status], [Queue.Wait] and [Queue.WaitAll]
// return it in [Status.Result] (decode it with [Status.DecodeResult]) for as
// long as the Job's pod exists. Calling SetResult again replaces the result,
// and SetResult(ctx, nil) removes it; it is safe to call from several
// goroutines. A result recorded by a perform that then fails is dropped,
// since the termination message then holds the error.
//
// A result is small by nature: its JSON encoding may take at most
// [MaxResultSize] bytes, and a larger one is refused with an error matching
// [ErrResultTooLarge] (store big results elsewhere and return where). A
// value encoding/json cannot encode gives an error matching
// [ErrPayloadEncode], and a ctx that did not come from the runtime one
// matching [ErrNotInJob]. The result is not recorded in any of these cases.
func SetResult(ctx context.Context, v any) error {
	slot, _ := ctx.Value(resultKey{}).(*resultSlot)
	if slot == nil {
		return fmt.Errorf("%w: SetResult needs the context kubequeue passed to perform", ErrNotInJob)
	}
	if v == nil {
		slot.set(nil)
		return nil
	}
	data, err := wire.Encode(v)
	if err != nil {
		return fmt.Errorf("%w: result %T as JSON: %w", ErrPayloadEncode, v, err)
	}
	if len(data) > MaxResultSize {
		return fmt.Errorf("%w: result is %d bytes encoded, more than %d", ErrResultTooLarge, len(data), MaxResultSize)
	}
	slot.set(json.RawMessage(data))
	return nil
}

// withResultSlot returns a context in which SetResult records into the
// returned slot.
func withResultSlot(ctx context.Context) (context.Context, *resultSlot) {
	slot := new(resultSlot)
	return context.WithValue(ctx, resultKey{}, slot), slot
}

// terminationMessage returns what the runtime writes to the termination
// message for a perform that ended with err and recorded result: the result
// on success, else the error's text, cut to MaxResultSize bytes at a rune
// boundary.
func terminationMessage(result json.RawMessage, err error) []byte {
	if err == nil {
		return result
	}
	msg := err.Error()
	if len(msg) > MaxResultSize {
		n := MaxResultSize
		for n > 0 && !utf8.RuneStart(msg[n]) {
			n-- // do not cut a character in two
		}
		msg = msg[:n]
	}
	return []byte(msg)
}

// writeTerminationMessage writes msg to the container's termination message
// file. The kubelet creates that file before the container starts; where
// it does not exist, the process is not in a Kubernetes container and
// nothing is written. Nothing is written for an empty msg either.
func writeTerminationMessage(lookup func(string) (string, bool), msg []byte) error {
	if len(msg) == 0 {
		return nil
	}
	f, err := os.OpenFile(wire.ContainerPath(TerminationMessagePath, lookup), os.O_WRONLY|os.O_TRUNC, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	_, err = f.Write(msg)
	return errors.Join(err, f.Close())
}
