package kubequeue

import (
	"context"
	"fmt"
	"reflect"
	"strconv"
	"strings"

	"github.com/kubequeue/kubequeue/internal/wire"
)

// AnyWorker is a [*Worker] of any payload type, as [Queue.Enqueue],
// [Queue.Build] and the runtime take it. It is sealed: only *Worker
// implements it, so that every Job carries a typed payload.
type AnyWorker interface {
	// Name returns the worker name stored in the Jobs it creates.
	Name() string
	// Validate returns the error that makes the worker unusable, or nil.
	Validate() error
	// DecodePayload decodes a payload given as JSON into a value of the
	// worker's payload type, ready for [Queue.Enqueue] or [Queue.Build],
	// such as one typed on a command line. It is strict, whatever
	// [WithStrictPayload] says: a field the type does not have, a value
	// of the wrong JSON type and anything after the value are errors
	// matching [ErrPayloadDecode], which name the field and the Go types
	// but quote none of the payload's values.
	DecodePayload(data []byte) (any, error)

	config() (*workerConfig, error)
	encodePayload(v any) (string, error)
	encodeItems(items any) ([]string, error)
	payloadList(v any) ([]any, error)
	performPayload(ctx context.Context, data string) error
}

// Worker is the code that performs one kind of Job, with payloads of type
// T. Declare it once with [NewWorker], usually as a package-level variable,
// shared by the code that enqueues it and the runtime that performs it.
type Worker[T any] struct {
	name    string
	perform func(context.Context, T) error
	cfg     workerConfig
	err     error

	// roundTrips tells that every encodable T decodes back (see
	// wire.RoundTrips), so that Build need not check it.
	roundTrips bool
}

var _ AnyWorker = (*Worker[struct{}])(nil)

// NewWorker declares a worker named name that performs payloads of type T
// with perform; T is inferred from perform. T must be encodable as JSON,
// and its encoding must decode back into a T (see "Payloads" in the
// package documentation).
//
// The name is stored in every Job the worker creates and is how the runtime
// finds perform: keep it stable across deploys. It must be a DNS-1123 label
// (lower-case letters, digits and '-') of at most [MaxWorkerNameLen]
// characters. [WithImage] is required. perform may be nil only for a worker
// whose [WithCommand] runs a program of its own.
//
// NewWorker never panics: an invalid name or option is reported, naming the
// setting and its value, by [Worker.Validate], [Queue.Build],
// [Queue.Enqueue] and the runtime, as an error matching [ErrInvalidWorker].
// Options are copied: changing a map or slice passed to an option afterwards
// does not change the worker.
func NewWorker[T any](name string, perform func(context.Context, T) error, opts ...WorkerOption) *Worker[T] {
	w := &Worker[T]{name: name, perform: perform, roundTrips: wire.RoundTrips(reflect.TypeFor[T]())}
	for _, opt := range opts {
		if opt != nil {
			opt.applyWorker(&w.cfg)
		}
	}
	w.cfg.normalise(name, perform != nil)
	w.err = validateWorker(name, &w.cfg)
	return w
}

// Name returns the worker's name.
func (w *Worker[T]) Name() string {
	if w == nil {
		return ""
	}
	return w.name
}

// Validate returns nil if the worker can be enqueued and performed, and
// otherwise an error matching [ErrInvalidWorker] that names each invalid
// setting. A service may call it at start-up to fail fast.
func (w *Worker[T]) Validate() error {
	_, err := w.config()
	return err
}

// String returns the worker's name and payload type, as in
// "resize-image(main.ResizeArgs)".
func (w *Worker[T]) String() string {
	return fmt.Sprintf("%s(%s)", w.Name(), reflect.TypeFor[T]())
}

func (w *Worker[T]) config() (*workerConfig, error) {
	if w == nil {
		return nil, fmt.Errorf("%w: nil worker", ErrInvalidWorker)
	}
	return &w.cfg, w.err
}

// encodePayload checks that v is a T (nil is one when T is an interface
// type), encodes it, and checks that the encoding decodes back into a T,
// unless T is a type for which it always does: a payload the runtime
// cannot decode is refused here rather than failing its Job.
func (w *Worker[T]) encodePayload(v any) (string, error) {
	if _, ok := v.(T); !ok && (v != nil || reflect.TypeFor[T]().Kind() != reflect.Interface) {
		return "", fmt.Errorf("%w: worker %q takes %v, not %T", ErrPayloadType, w.name, reflect.TypeFor[T](), v)
	}
	return w.encode(v, "payload")
}

// encode encodes v, a T, as encodePayload says; what names it in errors.
func (w *Worker[T]) encode(v any, what string) (string, error) {
	data, err := wire.Encode(v)
	if err != nil {
		return "", fmt.Errorf("%w: worker %q: %s: %T as JSON: %w", ErrPayloadEncode, w.name, what, v, err)
	}
	if len(data) > MaxPayloadSize {
		return "", fmt.Errorf("%w: worker %q: %s is %d bytes encoded, more than %d", ErrPayloadTooLarge, w.name, what, len(data), MaxPayloadSize)
	}
	if !w.roundTrips {
		if _, err := w.decode(data); err != nil {
			return "", fmt.Errorf("%w: worker %q: %s: %T encodes as JSON that does not decode back into %v, so its Job could never run: %w", ErrPayloadEncode, w.name, what, v, reflect.TypeFor[T](), err)
		}
	}
	return data, nil
}

// encodeItems checks that items is a []T, and encodes each item as
// encodePayload does, each one's encoding on a line of its own (see
// wire.JoinItems).
func (w *Worker[T]) encodeItems(items any) ([]string, error) {
	s, ok := items.([]T)
	if !ok {
		return nil, fmt.Errorf("%w: worker %q takes a batch of []%v, not %T", ErrPayloadType, w.name, reflect.TypeFor[T](), items)
	}
	out := make([]string, len(s))
	for i, v := range s {
		what := "item " + strconv.Itoa(i)
		data, err := w.encode(v, what)
		if err != nil {
			return nil, err
		}
		if strings.IndexByte(data, '\n') >= 0 { // encoding/json never writes one; a line is an item
			return nil, fmt.Errorf("%w: worker %q: %s: %T encodes as JSON with a line break", ErrPayloadEncode, w.name, what, v)
		}
		out[i] = data
	}
	return out, nil
}

// payloadList returns the payloads of v, a []T, or a []any whose every
// element encodePayload then checks, as EnqueueMany takes them.
func (w *Worker[T]) payloadList(v any) ([]any, error) {
	switch s := v.(type) {
	case []T:
		list := make([]any, len(s))
		for i := range s {
			list[i] = s[i]
		}
		return list, nil
	case []any:
		return s, nil
	}
	return nil, fmt.Errorf("%w: worker %q takes a []%v (or a []any of them) for EnqueueMany, not %T", ErrPayloadType, w.name, reflect.TypeFor[T](), v)
}

// decode decodes a payload as the runtime does: strictly with
// WithStrictPayload.
func (w *Worker[T]) decode(data string) (T, error) {
	if w.cfg.strictPayload {
		return wire.DecodeStrict[T](data)
	}
	return wire.Decode[T](data)
}

// DecodePayload implements [AnyWorker]: it decodes data strictly into a T.
func (w *Worker[T]) DecodePayload(data []byte) (any, error) {
	v, err := wire.DecodeStrict[T](string(data))
	if err != nil {
		return nil, fmt.Errorf("%w: worker %q: %w", ErrPayloadDecode, w.Name(), err)
	}
	return v, nil
}

// performPayload decodes data into a T and performs it, turning a panic
// into an error matching ErrPanic (see callPerform).
func (w *Worker[T]) performPayload(ctx context.Context, data string) error {
	if w.perform == nil {
		return fmt.Errorf("%w: worker %q has no perform function: its Jobs run a command of their own", ErrInvalidWorker, w.name)
	}
	v, err := w.decode(data)
	if err != nil {
		return fmt.Errorf("%w: worker %q: %w", ErrPayloadDecode, w.name, err)
	}
	return callPerform(w.name, func() error { return w.perform(ctx, v) })
}
