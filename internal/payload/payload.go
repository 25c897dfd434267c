// Package payload holds the wire format between Enqueue and the runtime in
// the Job's container: the environment variables kubequeue sets and the JSON
// encoding of payloads.
package payload

import (
	"bytes"
	"encoding/json"
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

// Encode returns the JSON encoding of v. Unlike json.Marshal it leaves <, >
// and & as they are, so the payload reads as written in kubectl's output.
func Encode(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// Decode decodes data into a new T with encoding/json's rules.
func Decode[T any](data []byte) (T, error) {
	var v T
	err := json.Unmarshal(data, &v)
	return v, err
}
