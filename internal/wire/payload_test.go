package wire

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"
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
		{"DollarAsIs", msg{"$(HOME) costs $$5"}, `{"text":"$(HOME) costs $$5"}`},
		{"DollarInKey", map[string]int{"$k": 1}, `{"$k":1}`},
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
	for _, form := range []string{data, EnvValue(data)} {
		out, err := Decode[map[string]string](form)
		require.NoError(t, err)
		require.Equal(t, in, out)
	}
	require.NotContains(t, EnvValue(data), "$")
}

// TestEnvValue checks that only the form in an environment variable, which
// the kubelet expands, has its '$' escaped.
func TestEnvValue(t *testing.T) {
	t.Parallel()
	require.Equal(t, `{"text":"\u0024(HOME) costs \u0024\u00245"}`, EnvValue(`{"text":"$(HOME) costs $$5"}`))
	require.Equal(t, `{"\u0024k":1}`, EnvValue(`{"$k":1}`))
	require.Equal(t, `{"text":"plain"}`, EnvValue(`{"text":"plain"}`))
}

func TestEncode_Error(t *testing.T) {
	t.Parallel()
	_, err := Encode(make(chan int))
	require.Error(t, err)
	// Encode still works after an error.
	got, err := Encode(1)
	require.NoError(t, err)
	require.Equal(t, "1", got)
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
// exactly, as stored and in the environment, where no '$' is left for the
// kubelet to expand, and that an invalid one is refused rather than
// changed.
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
		env := EnvValue(out)
		require.NotContains(t, env, "$")
		for _, form := range []string{out, env} {
			got, err := Decode[msg](form)
			require.NoError(t, err)
			require.Equal(t, s, got.S)
		}
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

// Types whose methods are tried by TestEncode_InvalidUTF8 and
// TestEncode_MethodPanics.
type (
	rawText       string // MarshalJSON writes it as it is
	badText       struct{}
	panicsJSON    struct{}
	panicsText    struct{}
	quotedInvalid struct {
		S string `json:"s,string"`
	}
	withRaw struct {
		Raw  json.RawMessage `json:"raw"`
		Text string          `json:"text"`
	}
)

func (r rawText) MarshalJSON() ([]byte, error)  { return []byte(r), nil }
func (badText) MarshalText() ([]byte, error)    { return []byte("a\xffb"), nil }
func (panicsJSON) MarshalJSON() ([]byte, error) { panic("marshal-json-boom") }
func (panicsText) MarshalText() ([]byte, error) { panic("marshal-text-boom") }

func TestEncode_InvalidUTF8FromMethodsAndOptions(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		in      any
		invalid bool
	}{
		// encoding/json copies these as they are; the API server would
		// then replace the invalid bytes.
		{"RawMessageInvalid", json.RawMessage("\"a\xffb\""), true},
		{"RawMessageInvalidInStruct", withRaw{Raw: json.RawMessage("\"\xfe\""), Text: "ok"}, true},
		{"MarshalJSONInvalid", rawText("\"\xff\""), true},
		// Escapes of U+FFFD that are no replacement.
		{"RawMessageEscapedReplacement", json.RawMessage(`"\ufffd"`), false},
		{"RawMessageEscapedReplacementInStruct", withRaw{Raw: json.RawMessage(`{"a":"\ufffd"}`), Text: `\ufffd`}, false},
		{"MarshalJSONEscapedReplacement", rawText(`"x\ufffdy"`), false},
		{"EscapedReplacementAsText", `\ufffd`, false},
		// Strings encoding/json writes itself, in other guises.
		{"MarshalTextInvalid", badText{}, true},
		{"MarshalTextInvalidMapKey", map[badText]int{{}: 1}, true},
		{"StringOptionInvalid", quotedInvalid{S: "a\xffb"}, true},
		{"StringOptionValid", quotedInvalid{S: `a\ufffdb`}, false},
		{"InvalidBesideRawEscape", withRaw{Raw: json.RawMessage(`"\ufffd"`), Text: "\xff"}, true},
		{"InvalidInAny", map[string]any{"k": []any{"\xff"}}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			out, err := Encode(tt.in)
			if tt.invalid {
				require.ErrorIs(t, err, ErrInvalidUTF8, "encoded as %q", out)
				return
			}
			require.NoError(t, err)
			require.True(t, utf8.ValidString(out))
		})
	}
}

func TestEncode_MethodPanics(t *testing.T) {
	t.Parallel()
	for _, in := range []any{panicsJSON{}, panicsText{}, map[string]any{"deep": []any{panicsJSON{}}}} {
		var err error
		require.NotPanics(t, func() { _, err = Encode(in) })
		require.ErrorIs(t, err, errMarshalPanic)
		require.ErrorContains(t, err, "boom")
	}
	// Encode still works after a panic.
	got, err := Encode(map[string]int{"a": 1})
	require.NoError(t, err)
	require.Equal(t, `{"a":1}`, got)
}

// Types for TestDecode_ErrorsQuoteNoPayload.
type (
	refusesText    string
	refusesJSON    struct{}
	panicsOnDecode struct{}
	decodeInner    struct {
		At time.Time `json:"at"`
	}
	decodeArgs struct {
		When   time.Time              `json:"when"`
		Small  int8                   `json:"small"`
		Count  int                    `json:"count,string"`
		Addr   netip.Addr             `json:"addr"`
		Text   refusesText            `json:"text"`
		JSON   refusesJSON            `json:"json"`
		Panics panicsOnDecode         `json:"panics"`
		Items  []decodeInner          `json:"items"`
		ByKey  map[string]decodeInner `json:"by_key"`
	}
)

func (t *refusesText) UnmarshalText(b []byte) error {
	return fmt.Errorf("refusesText: %q is not a code", b)
}

func (*refusesJSON) UnmarshalJSON(b []byte) error {
	return errors.New("refusesJSON: cannot use " + string(b))
}

func (*panicsOnDecode) UnmarshalJSON(b []byte) error {
	panic("panicsOnDecode: " + string(b))
}

// TestDecode_ErrorsQuoteNoPayload checks that a decode error, which ends
// up in logs and in the Job's status, names the field and the types but
// quotes nothing of the payload, whatever produced it.
func TestDecode_ErrorsQuoteNoPayload(t *testing.T) {
	t.Parallel()
	const secret = "sk_live_7f3a9"
	tests := []struct {
		name   string
		data   string
		strict bool
		want   []string // in the error
	}{
		{name: "Time", data: `{"when":"` + secret + `"}`, want: []string{"decodeArgs.when", "time.Time", "*time.ParseError"}},
		{name: "NumberOverflow", data: `{"small":7000000001}`, want: []string{"decodeArgs.small", "number", "int8"}},
		{name: "StringOption", data: `{"count":"` + secret + `"}`, want: []string{"decodeArgs.count", ",string", "int"}},
		{name: "Netip", data: `{"addr":"` + secret + `"}`, want: []string{"decodeArgs.addr", "netip.Addr"}},
		{name: "UnmarshalText", data: `{"text":"` + secret + `"}`, want: []string{"decodeArgs.text", "wire.refusesText"}},
		{name: "UnmarshalJSON", data: `{"json":"` + secret + `"}`, want: []string{"decodeArgs.json", "wire.refusesJSON"}},
		{name: "UnmarshalJSONPanics", data: `{"panics":"` + secret + `"}`, want: []string{"panicked", "wire.decodeArgs"}},
		{name: "InSlice", data: `{"items":[{},{"at":"` + secret + `"}]}`, want: []string{"decodeArgs.items[1].at", "time.Time"}},
		{name: "InMapKeyNotShown", data: `{"by_key":{"` + secret + `":{"at":"` + secret + `"}}}`, want: []string{"decodeArgs.by_key[…].at", "time.Time"}},
		{name: "SyntaxError", data: `{"small":` + secret + `}`, want: []string{"not valid JSON", "invalid character", "offset 10"}},
		{name: "TrailingData", data: `{"small":1}` + secret, want: []string{"not valid JSON", "after top-level value"}},
		{name: "TrailingDataStrict", data: `{"small":1} ` + secret, strict: true, want: []string{"not valid JSON", "after top-level value"}},
		{name: "Truncated", data: `{"when":"` + secret, want: []string{"unexpected end of JSON input"}},
		{name: "UnknownFieldStrict", data: `{"small":1,"` + secret + `":1}`, strict: true, want: []string{"decodeArgs", "does not have", "strict"}},
		{name: "UnknownNestedFieldStrict", data: `{"items":[{"` + secret + `":1}]}`, strict: true, want: []string{"decodeArgs.items[0]", "does not have"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var err error
			require.NotPanics(t, func() {
				if tt.strict {
					_, err = DecodeStrict[decodeArgs](tt.data)
				} else {
					_, err = Decode[decodeArgs](tt.data)
				}
			})
			require.Error(t, err)
			var de *DecodeError
			require.ErrorAs(t, err, &de)
			msg := err.Error()
			for _, leak := range []string{"sk_live", "7f3a9", "7000000001", "'s'"} {
				require.NotContains(t, msg, leak)
			}
			for _, w := range tt.want {
				require.Contains(t, msg, w)
			}
		})
	}

	// Without strict decoding, an unknown field is ignored.
	got, err := Decode[decodeArgs](`{"small":3,"other":"x"}`)
	require.NoError(t, err)
	require.EqualValues(t, 3, got.Small)
	got, err = DecodeStrict[decodeArgs](` {"small":4} ` + "\n")
	require.NoError(t, err, "white space around the value is fine")
	require.EqualValues(t, 4, got.Small)
	_, err = DecodeStrict[decodeArgs]("")
	require.ErrorContains(t, err, "unexpected end of JSON input")
}

type (
	rtAny       struct{ V any }
	rtStringer  struct{ S fmt.Stringer }
	rtTime      struct{ T time.Time }
	rtRecursive struct{ Next *rtRecursive }
	rtQuoted    struct {
		N int `json:"n,string"`
	}
	rtHidden struct {
		Skip any `json:"-"`
		priv any
		N    int
	}
	rtPlain struct {
		ID    int64
		Name  string
		Tags  []string
		Attrs map[string]string
		ByID  map[int]*rtHidden
		Bytes []byte
		Arr   [2]float64
		Flag  bool
		Ptr   **uint8
	}
	rtEmbedded struct {
		rtPlain
		Extra string
	}
	rtTextOnly   struct{ R refusesText }
	unexported   struct{ A int }
	rtEmbedPtr   struct{ *unexported }
	rtEmbedValue struct{ unexported }
)

func TestRoundTrips(t *testing.T) {
	t.Parallel()
	tests := []struct {
		typ  reflect.Type
		want bool
	}{
		{reflect.TypeFor[rtPlain](), true},
		{reflect.TypeFor[*rtPlain](), true},
		{reflect.TypeFor[rtEmbedded](), true},
		{reflect.TypeFor[rtHidden](), true},
		{reflect.TypeFor[rtEmbedValue](), true},
		{reflect.TypeFor[[]map[string][]int](), true},
		{reflect.TypeFor[string](), true},
		{reflect.TypeFor[any](), false},
		{reflect.TypeFor[rtAny](), false},
		{reflect.TypeFor[rtStringer](), false},
		{reflect.TypeFor[rtTime](), true},
		{reflect.TypeFor[[]*time.Time](), true},
		{reflect.TypeFor[json.RawMessage](), true},
		{reflect.TypeFor[map[string]netip.Prefix](), true},
		{reflect.TypeFor[rtTextOnly](), false},
		{reflect.TypeFor[rtRecursive](), false},
		{reflect.TypeFor[rtQuoted](), false},
		{reflect.TypeFor[rtEmbedPtr](), false},
		{reflect.TypeFor[map[bool]int](), false},
		{reflect.TypeFor[map[netip.Addr]int](), false},
		{reflect.TypeFor[chan int](), false},
		{reflect.TypeFor[complex128](), false},
	}
	for _, tt := range tests {
		require.Equal(t, tt.want, RoundTrips(tt.typ), "%v", tt.typ)
	}
}
