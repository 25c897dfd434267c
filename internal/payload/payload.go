// Package payload holds the wire format between Enqueue and the runtime in
// the Job's container: the environment variables kubequeue sets and the JSON
// encoding of payloads.
package payload

import (
	"bytes"
	"encoding/json"
	"errors"
	"slices"
	"sync"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
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

// WorkerContainer returns the index of the pod's kubequeue container, the
// first one that sets EnvWorker, or -1 when none does.
func WorkerContainer(spec *corev1.PodSpec) int {
	return slices.IndexFunc(spec.Containers, func(c corev1.Container) bool {
		return slices.ContainsFunc(c.Env, func(e corev1.EnvVar) bool { return e.Name == EnvWorker })
	})
}

// JobEnv returns the plain environment variables of job's kubequeue
// container (see WorkerContainer), as its process would see them before the
// kubelet resolves valueFrom. ok is false when no container sets EnvWorker.
func JobEnv(job *batchv1.Job) (env map[string]string, ok bool) {
	if job == nil {
		return nil, false
	}
	i := WorkerContainer(&job.Spec.Template.Spec)
	if i < 0 {
		return nil, false
	}
	c := &job.Spec.Template.Spec.Containers[i]
	env = make(map[string]string, len(c.Env))
	for _, e := range c.Env {
		if e.ValueFrom == nil {
			env[e.Name] = e.Value
		}
	}
	return env, true
}

// SecretVolumeOf returns the pod's payload Secret volume (SecretVolume), or
// nil when the payload is not in a Secret.
func SecretVolumeOf(spec *corev1.PodSpec) *corev1.SecretVolumeSource {
	for i := range spec.Volumes {
		if v := &spec.Volumes[i]; v.Name == SecretVolume && v.Secret != nil {
			return v.Secret
		}
	}
	return nil
}

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
	if replacedInvalidUTF8(out) {
		return "", ErrInvalidUTF8
	}
	if bytes.IndexByte(out, '$') >= 0 {
		out = bytes.ReplaceAll(out, []byte("$"), []byte(`\u0024`))
	}
	return string(out), nil
}

// ErrInvalidUTF8 reports a string in the payload that is not valid UTF-8,
// which encoding/json would silently replace with U+FFFD.
var ErrInvalidUTF8 = errors.New("a string is not valid UTF-8 (send binary data as []byte)")

// replacedInvalidUTF8 reports whether encoding/json replaced invalid UTF-8
// in out: it writes the escape \ufffd for each invalid byte, and never for a
// valid U+FFFD, which it writes as is. A backslash in the input is written
// as \\, so an escape is one preceded by an even number of backslashes.
func replacedInvalidUTF8(out []byte) bool {
	const esc = `\ufffd`
	for i := 0; ; {
		j := bytes.Index(out[i:], []byte(esc))
		if j < 0 {
			return false
		}
		j += i
		n := 0
		for k := j - 1; k >= 0 && out[k] == '\\'; k-- {
			n++
		}
		if n%2 == 0 {
			return true
		}
		i = j + len(esc)
	}
}

// Decode decodes data into a new T with encoding/json's rules.
func Decode[T any](data string) (T, error) {
	var v T
	err := json.Unmarshal([]byte(data), &v)
	return v, err
}
