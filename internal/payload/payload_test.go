package payload

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
)

func TestEncode(t *testing.T) {
	t.Parallel()
	type msg struct {
		Text string `json:"text"`
	}
	tests := []struct {
		name string
		in   any
		want string
	}{
		{"Plain", msg{"hi"}, `{"text":"hi"}`},
		{"HTMLKept", msg{"<a & b>"}, `{"text":"<a & b>"}`},
		{"DollarEscaped", msg{"$(HOME) costs $$5"}, `{"text":"\u0024(HOME) costs \u0024\u00245"}`},
		{"DollarInKey", map[string]int{"$k": 1}, `{"\u0024k":1}`},
		{"Unicode", msg{"zoë 🙂"}, `{"text":"zoë 🙂"}`},
		{"Null", nil, `null`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := Encode(tt.in)
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}

func TestEncode_Decode(t *testing.T) {
	t.Parallel()
	in := map[string]string{"$(X)": "$$ \"q\" \n <&> " + strings.Repeat("é", 100)}
	data, err := Encode(in)
	require.NoError(t, err)
	require.NotContains(t, data, "$")
	out, err := Decode[map[string]string](data)
	require.NoError(t, err)
	require.Equal(t, in, out)
}

func TestEncode_Error(t *testing.T) {
	t.Parallel()
	_, err := Encode(make(chan int))
	require.Error(t, err)
	// The pooled encoder still works after an error.
	got, err := Encode(1)
	require.NoError(t, err)
	require.Equal(t, "1", got)
}

func TestEncode_LargeBufferNotPooled(t *testing.T) {
	t.Parallel()
	big := strings.Repeat("x", 2*maxPooled)
	got, err := Encode(big)
	require.NoError(t, err)
	require.Len(t, got, len(big)+2)
}

func TestEncode_InvalidUTF8(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		in      any
		invalid bool
	}{
		{"InvalidByte", "a\xffb", true},
		{"InvalidInMapKey", map[string]int{"\xfe": 1}, true},
		{"ReplacementCharacter", "a\uFFFDb", false},
		{"EscapedBackslashThenText", `a\ufffd`, false},
		{"EscapedBackslashThenInvalid", "a\\\xff", true},
		{"Bytes", []byte{0xff, 0xfe}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			out, err := Encode(tt.in)
			if tt.invalid {
				require.ErrorIs(t, err, ErrInvalidUTF8)
				return
			}
			require.NoError(t, err)
			require.NotEmpty(t, out)
		})
	}
}

// FuzzEncode checks that every valid string survives Encode and Decode
// exactly, with no '$' left for the kubelet to expand, and that an invalid
// one is refused rather than changed.
func FuzzEncode(f *testing.F) {
	for _, s := range []string{"", "plain", `"quoted" \ back\\slash`, "$(HOME) $$ $", "line\nbreak\t", "zoë 🙂 שלום", "<&>", "\xff", "\uFFFD", `\ufffd`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		type msg struct {
			S string `json:"s"`
		}
		out, err := Encode(msg{s})
		if !utf8.ValidString(s) {
			require.ErrorIs(t, err, ErrInvalidUTF8)
			return
		}
		require.NoError(t, err)
		require.NotContains(t, out, "$")
		got, err := Decode[msg](out)
		require.NoError(t, err)
		require.Equal(t, s, got.S)
	})
}

func TestJobEnv(t *testing.T) {
	t.Parallel()
	sidecar := corev1.Container{Name: "proxy", Env: []corev1.EnvVar{{Name: "A", Value: "sidecar"}}}
	worker := corev1.Container{Name: "worker", Env: []corev1.EnvVar{
		{Name: EnvWorker, Value: "w"},
		{Name: EnvPayload, Value: `{"a":1}`},
		{Name: "FROM_SECRET", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{Key: "k"}}},
		{Name: "A", Value: "worker"},
	}}
	job := &batchv1.Job{}
	job.Spec.Template.Spec.Containers = []corev1.Container{sidecar, worker}

	env, ok := JobEnv(job)
	require.True(t, ok)
	require.Equal(t, map[string]string{EnvWorker: "w", EnvPayload: `{"a":1}`, "A": "worker"}, env,
		"the kubequeue container's plain values only")

	_, ok = JobEnv(&batchv1.Job{})
	require.False(t, ok)
	_, ok = JobEnv(nil)
	require.False(t, ok)
}

// FuzzDecode checks that decoding any input into a payload type never
// panics, and that what decodes encodes again into something that decodes
// to the same value.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{`{"id":1,"tags":["a"],"note":"x"}`, `{"id":1e400}`, `null`, `{"note":"\ud800"}`, `[`, "", `{"id":-0}`, `{"note":"\u0024(HOME)"}`} {
		f.Add(s)
	}
	type args struct {
		ID   int64             `json:"id"`
		Tags []string          `json:"tags"`
		Note string            `json:"note"`
		Meta map[string]any    `json:"meta"`
		Raw  map[string]string `json:"raw"`
	}
	f.Fuzz(func(t *testing.T, data string) {
		v, err := Decode[args](data)
		if err != nil {
			return
		}
		out, err := Encode(v)
		if err != nil {
			require.ErrorIs(t, err, ErrInvalidUTF8, "only invalid UTF-8 that decoding kept may be refused")
			return
		}
		again, err := Decode[args](out)
		require.NoError(t, err)
		require.Equal(t, v, again)
	})
}
