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
)

// DecodeError describes a payload that could not be decoded, without
// quoting any of it: the errors of encoding/json and of UnmarshalJSON and
// UnmarshalText methods often do ("parsing time \"sk_live_…\" as …",
// "cannot unmarshal number 1000 into … int8", "invalid character 'k' …"),
// and a decode error travels far: into the container's log, its
// termination message, and from there to whoever reads the Job's status.
// It is built from the error's type and fields, never from its text, so
// that a new message of encoding/json cannot leak a value either.
type DecodeError struct {
	// Type is the Go type the payload was decoded into.
	Type reflect.Type
	// Field is the path of the struct field whose value was refused, by
	// JSON names as encoding/json reports it ("Args.when"), or empty when
	// unknown.
	Field string
	// Reason says what was wrong, in words that quote nothing of the
	// payload.
	Reason string
}

// Error implements error.
func (e *DecodeError) Error() string {
	if e.Field != "" {
		return fmt.Sprintf("json: %v: field %s: %s", e.Type, e.Field, e.Reason)
	}
	return fmt.Sprintf("json: %v: %s", e.Type, e.Reason)
}

// errTrailingData reports data after the payload's JSON value.
type errTrailingData struct{ offset int64 }

func (e errTrailingData) Error() string {
	return fmt.Sprintf("invalid character after top-level value (at byte offset %d)", e.offset)
}

// newDecodeError describes err, an error of decoding data into t (strictly
// if strict).
func newDecodeError(t reflect.Type, data string, strict bool, err error) *DecodeError {
	var (
		typeErr   *json.UnmarshalTypeError
		syntaxErr *json.SyntaxError
		trailing  errTrailingData
	)
	e := &DecodeError{Type: t}
	switch {
	case errors.As(err, &typeErr):
		if typeErr.Field != "" {
			e.Field = typeErr.Field
			if typeErr.Struct != "" {
				e.Field = typeErr.Struct + "." + typeErr.Field
			}
		}
		e.Reason = fmt.Sprintf("a JSON %s cannot be decoded into Go type %v (at byte offset %d)", jsonKind(typeErr.Value), typeErr.Type, typeErr.Offset)
	case errors.As(err, &syntaxErr):
		e.Reason = fmt.Sprintf("not valid JSON: %s (at byte offset %d)", syntaxReason(syntaxErr.Error()), syntaxErr.Offset)
	case errors.As(err, &trailing):
		e.Reason = "not valid JSON: " + trailing.Error()
	case errors.Is(err, io.ErrUnexpectedEOF):
		e.Reason = "not valid JSON: unexpected end of JSON input"
	default:
		// encoding/json's other errors, and those of UnmarshalJSON and
		// UnmarshalText methods, do not say where: find the field.
		path, at := locate(t, []byte(data), typeName(t), strict, 0)
		if path != typeName(t) {
			e.Field = path
		}
		e.Reason = otherReason(err, at)
	}
	return e
}

// typeName is how a path of fields starts: the name of t's struct type.
func typeName(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Name() != "" {
		return t.Name()
	}
	return t.String()
}

// maxLocateDepth bounds how deep locate looks for a field.
const maxLocateDepth = 32

// locate finds, best effort, where in data decoding into t fails: it
// decodes each field, element or map value of data into its Go type alone
// and descends into the first that fails. It returns the path of what
// failed, by JSON names as encoding/json's errors give it
// ("Args.items[2].when"; map keys, which are data, are written […])
// and its type. It runs only once decoding has failed.
func locate(t reflect.Type, data []byte, path string, strict bool, depth int) (string, reflect.Type) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if depth >= maxLocateDepth || hasMethods(t) {
		return path, t
	}
	fails := func(t reflect.Type, raw []byte) bool {
		v := reflect.New(t).Interface()
		if !strict {
			return json.Unmarshal(raw, v) != nil
		}
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		return dec.Decode(v) != nil
	}
	switch t.Kind() {
	case reflect.Struct:
		var obj map[string]json.RawMessage
		if json.Unmarshal(data, &obj) != nil {
			return path, t
		}
		fields := structFields(t, 0, nil)
		for _, key := range sortedKeys(obj) {
			f := matchField(fields, key)
			if f == nil {
				if strict {
					return path, t // the unknown field is here
				}
				continue
			}
			raw := []byte(obj[key])
			if f.quoted {
				var s string
				if json.Unmarshal(raw, &s) != nil || string(raw) == "null" {
					return path + "." + f.name, f.typ
				}
				raw = []byte(s)
			}
			if fails(f.typ, raw) {
				return locate(f.typ, raw, path+"."+f.name, strict, depth+1)
			}
		}
	case reflect.Slice, reflect.Array:
		var items []json.RawMessage
		if json.Unmarshal(data, &items) != nil {
			return path, t
		}
		for i, raw := range items {
			if fails(t.Elem(), raw) {
				return locate(t.Elem(), raw, fmt.Sprintf("%s[%d]", path, i), strict, depth+1)
			}
		}
	case reflect.Map:
		var obj map[string]json.RawMessage
		if json.Unmarshal(data, &obj) != nil {
			return path, t
		}
		for _, key := range sortedKeys(obj) {
			if raw := obj[key]; fails(t.Elem(), raw) {
				return locate(t.Elem(), raw, path+"[…]", strict, depth+1)
			}
		}
	}
	return path, t
}

func sortedKeys(m map[string]json.RawMessage) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// fieldInfo is a struct field as encoding/json decodes it.
type fieldInfo struct {
	name   string // the JSON key, which encoding/json's errors name too
	typ    reflect.Type
	quoted bool // the ",string" option
	depth  int  // of embedding
}

// structFields returns the fields encoding/json decodes into struct type
// t, embedded structs' included.
func structFields(t reflect.Type, depth int, out []fieldInfo) []fieldInfo {
	if depth > maxLocateDepth {
		return out
	}
	for i := range t.NumField() {
		f := t.Field(i)
		if !encodedField(f) {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		ft := f.Type
		if ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		if f.Anonymous && name == "" && ft.Kind() == reflect.Struct {
			out = structFields(ft, depth+1, out)
			continue
		}
		if name == "" {
			name = f.Name
		}
		out = append(out, fieldInfo{name: name, typ: f.Type, quoted: jsonOption(f, "string"), depth: depth})
	}
	return out
}

// matchField returns the field that encoding/json decodes key into: the
// shallowest of those named key exactly, else case-insensitively.
func matchField(fields []fieldInfo, key string) *fieldInfo {
	var exact, folded *fieldInfo
	for i := range fields {
		f := &fields[i]
		switch {
		case f.name == key && (exact == nil || f.depth < exact.depth):
			exact = f
		case strings.EqualFold(f.name, key) && (folded == nil || f.depth < folded.depth):
			folded = f
		}
	}
	if exact != nil {
		return exact
	}
	return folded
}

// jsonKind returns the kind of JSON value that UnmarshalTypeError.Value
// describes ("number 1000" is a number), or "value".
func jsonKind(value string) string {
	kind, _, _ := strings.Cut(value, " ")
	switch kind {
	case "string", "number", "bool", "array", "object", "null":
		return kind
	}
	return "value"
}

// syntaxReason returns the text of a json.SyntaxError without the
// character it quotes ("invalid character 'k' looking for beginning of
// value" becomes "invalid character looking for beginning of value"), or a
// generic reason when the text is not of the form known to hold no other
// value.
func syntaxReason(msg string) string {
	if strings.HasSuffix(msg, " exceeded max depth") {
		return "nested deeper than encoding/json decodes (10,000 levels)"
	}
	const invalid = "invalid character "
	if rest, ok := strings.CutPrefix(msg, invalid); ok && len(rest) > 1 && rest[0] == '\'' {
		// The character is quoted as 'c', '\'' or '\x01', then a space.
		if i := strings.Index(rest[1:], "' "); i >= 0 {
			msg = invalid + rest[i+3:]
		}
	}
	if strings.Trim(msg, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ -") != "" {
		return "invalid JSON"
	}
	return msg
}

// Messages of encoding/json that are not of a type of their own; the
// values they quote are left out.
const (
	msgStringTag = "json: invalid use of ,string struct tag"
	msgUnknown   = "json: unknown field "
	msgEmbedded  = "json: cannot set embedded pointer to unexported struct"
)

// otherReason describes an error that is neither a syntax nor a type
// error: one of encoding/json's own, or one returned by an UnmarshalJSON
// or UnmarshalText method (of type at, as far as locate found), whose
// text (time.ParseError's, netip.ParseAddr's, a user's) may quote the
// value.
func otherReason(err error, at reflect.Type) string {
	msg := err.Error()
	switch {
	case strings.HasPrefix(msg, msgStringTag):
		// "…, trying to unmarshal %q into %v"
		into := ""
		if i := strings.LastIndex(msg, " into "); i >= 0 && goTypeName(msg[i+len(" into "):]) {
			into = " " + msg[i+1:]
		}
		return "a field with the ,string option does not hold a quoted value that decodes" + into
	case strings.HasPrefix(msg, msgUnknown):
		return "the payload has a field that the type does not have (strict decoding; its name is not shown, as it may be data)"
	case strings.HasPrefix(msg, msgEmbedded+": ") && goTypeName(msg[len(msgEmbedded+": "):]):
		return msg[len("json: "):]
	}
	method := "its type's UnmarshalJSON or UnmarshalText method"
	if at != nil && hasMethods(at) {
		method = fmt.Sprintf("the UnmarshalJSON or UnmarshalText method of %v", at)
	}
	return fmt.Sprintf("the value was refused by %s, with an error of type %T (its text is not shown, as it may quote the payload)", method, err)
}

// goTypeName reports whether s can be the name of a Go type as reflect
// prints it, and so quotes no value.
func goTypeName(s string) bool {
	return s != "" && !strings.ContainsAny(s, " \t\n\"'`\\")
}
