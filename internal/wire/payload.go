// Package wire holds the wire format between Enqueue and the runtime in
// the Job's container: the environment variables kubequeue sets and the JSON
// encoding of payloads.
package wire

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strings"
	"unicode/utf8"

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

// Environment variables by which the runtime knows its Job and pod, from
// the downward API (see DownwardEnv).
const (
	// EnvNamespace holds the pod's namespace, the Job's.
	EnvNamespace = "KUBEQUEUE_NAMESPACE"
	// EnvJobName holds the Job's name, from the label the Job controller
	// puts on its pods.
	EnvJobName = "KUBEQUEUE_JOB_NAME"
	// EnvPodName holds the pod's name.
	EnvPodName = "KUBEQUEUE_POD_NAME"
	// EnvIndexFailures holds, in a batch's pod, how many pods of its
	// index failed before it, from the annotation the Job controller puts
	// on the pods of a Job with backoffLimitPerIndex.
	EnvIndexFailures = "KUBEQUEUE_INDEX_FAILURES"
)

// DownwardEnv returns the variables of the downward API that tell the
// runtime its Job and pod; batch adds EnvIndexFailures.
func DownwardEnv(batch bool) []corev1.EnvVar {
	field := func(name, path string) corev1.EnvVar {
		return corev1.EnvVar{Name: name, ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: path}}}
	}
	env := []corev1.EnvVar{
		field(EnvNamespace, "metadata.namespace"),
		field(EnvJobName, "metadata.labels['batch.kubernetes.io/job-name']"),
		field(EnvPodName, "metadata.name"),
	}
	if batch {
		env = append(env, field(EnvIndexFailures, "metadata.annotations['batch.kubernetes.io/job-index-failure-count']"))
	}
	return env
}

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

// Encode returns the JSON encoding of v as it is stored in a Secret or a
// termination message. Unlike json.Marshal it leaves <, > and & as they
// are, so the payload reads as written in kubectl's output. A string that
// is not valid UTF-8, which encoding/json would silently replace with
// U+FFFD, is refused with an error matching ErrInvalidUTF8, and so is a
// MarshalJSON result (a json.RawMessage, say) that is not valid UTF-8,
// which the API server would alter. A MarshalJSON or MarshalText method
// that panics gives an error rather than a panic. See EnvValue for the
// form that travels in an environment variable.
func Encode(v any) (data string, err error) {
	defer func() {
		if r := recover(); r != nil {
			// A MarshalJSON or MarshalText method panicked (encoding/json
			// recovers only its own panics).
			err = fmt.Errorf("%w: %v", errMarshalPanic, r)
		}
	}()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return "", err
	}
	out := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	// encoding/json copies the output of MarshalJSON as it is, invalid
	// UTF-8 included; it writes the escape \ufffd for each invalid byte of
	// a string it encodes itself. Such an escape may also come from a
	// MarshalJSON result, or be the text of a string (written \\ufffd):
	// only then are the strings themselves looked at.
	if !utf8.Valid(out) || bytes.Contains(out, []byte(`\ufffd`)) && hasInvalidUTF8(v) {
		return "", ErrInvalidUTF8
	}
	return string(out), nil
}

// errMarshalPanic reports a MarshalJSON or MarshalText method that
// panicked.
var errMarshalPanic = errors.New("a MarshalJSON or MarshalText method panicked")

// EnvValue returns data, a payload's JSON encoding, fit to be the value of
// a container's environment variable: every '$' is written \u0024. The
// kubelet expands $(NAME) and $$ in environment values, which would change
// a payload such as "costs $$5"; in JSON a '$' can only stand inside a
// string, where \u0024 decodes back to '$'. Nothing else expands a
// payload, so only this form is escaped.
func EnvValue(data string) string {
	if strings.IndexByte(data, '$') < 0 {
		return data
	}
	return strings.ReplaceAll(data, "$", `\u0024`)
}

// ErrInvalidUTF8 reports a string in the payload that is not valid UTF-8,
// which encoding/json would silently replace with U+FFFD.
var ErrInvalidUTF8 = errors.New("a string is not valid UTF-8 (send binary data as []byte)")

// Decode decodes data into a new T with encoding/json's rules: fields of
// the payload that T does not have are ignored. The error, if any, names
// T, the field and the Go types involved but quotes nothing of data (see
// decodeError), and a panic in an UnmarshalJSON or UnmarshalText method is
// returned as an error.
func Decode[T any](data string) (T, error) {
	return decode[T](data, false)
}

// DecodeStrict is Decode, except that a field of the payload that T does
// not have is an error (json.Decoder.DisallowUnknownFields).
func DecodeStrict[T any](data string) (T, error) {
	return decode[T](data, true)
}

func decode[T any](data string, strict bool) (v T, err error) {
	defer func() {
		if r := recover(); r != nil {
			var zero T
			v, err = zero, &DecodeError{Type: reflect.TypeFor[T](), Reason: fmt.Sprintf("an UnmarshalJSON or UnmarshalText method panicked (with a %T, not shown: it may quote the payload)", r)}
		}
	}()
	if !strict {
		err = json.Unmarshal([]byte(data), &v)
	} else {
		dec := json.NewDecoder(strings.NewReader(data))
		dec.DisallowUnknownFields()
		err = dec.Decode(&v)
		switch {
		case err == io.EOF:
			err = io.ErrUnexpectedEOF // no value at all, as json.Unmarshal says
		case err == nil:
			// json.Unmarshal refuses anything but white space after the
			// value; so does this.
			off := int(dec.InputOffset())
			if rest := strings.TrimLeft(data[off:], " \t\r\n"); rest != "" {
				err = errTrailingData{offset: int64(len(data) - len(rest))}
			}
		}
	}
	if err != nil {
		var zero T
		return zero, newDecodeError(reflect.TypeFor[T](), data, strict, err)
	}
	return v, nil
}
