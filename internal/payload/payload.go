// Package payload holds the wire format between Enqueue and the runtime in
// the Job's container: the environment variables kubequeue sets and the JSON
// encoding of payloads.
package payload

import (
	"bytes"
	"encoding/json"
	"sync"
)

// Environment variables of a kubequeue Job's container.
const (
	// EnvWorker holds the worker name. Its presence tells the runtime that
	// the process was started as a kubequeue Job.
	EnvWorker = "KUBEQUEUE_WORKER"
	// EnvPayload holds the JSON-encoded payload.
	EnvPayload = "KUBEQUEUE_PAYLOAD"
	// EnvPrefix is reserved: users cannot set variables that start with it.
	EnvPrefix = "KUBEQUEUE_"
)

// encoder is a reusable JSON encoder and its output buffer.
type encoder struct {
	buf bytes.Buffer
	enc *json.Encoder
}

var encoders = sync.Pool{New: func() any {
	e := &encoder{}
	e.enc = json.NewEncoder(&e.buf)
	e.enc.SetEscapeHTML(false)
	return e
}}

// maxPooled is the largest buffer returned to the pool, so that one huge
// payload does not pin its memory.
const maxPooled = 64 << 10

// Encode returns the JSON encoding of v, fit to be the value of a container's
// environment variable. Unlike json.Marshal it leaves <, > and & as they
// are, so the payload reads as written in kubectl's output. It writes every
// '$' as \u0024: the kubelet expands $(NAME) and $$ in environment values,
// which would change a payload such as "costs $$5". In JSON a '$' can only
// stand inside a string, where \u0024 decodes back to '$'.
func Encode(v any) (string, error) {
	e := encoders.Get().(*encoder)
	defer func() {
		if e.buf.Cap() <= maxPooled {
			e.buf.Reset()
			encoders.Put(e)
		}
	}()
	if err := e.enc.Encode(v); err != nil {
		return "", err
	}
	out := bytes.TrimSuffix(e.buf.Bytes(), []byte("\n"))
	if bytes.IndexByte(out, '$') >= 0 {
		out = bytes.ReplaceAll(out, []byte("$"), []byte(`\u0024`))
	}
	return string(out), nil
}

// Decode decodes data into a new T with encoding/json's rules.
func Decode[T any](data string) (T, error) {
	var v T
	err := json.Unmarshal([]byte(data), &v)
	return v, err
}
