package wire

import (
	"encoding"
	"encoding/json"
	"reflect"
	"strings"
	"unicode/utf8"
)

var (
	marshalerType       = reflect.TypeFor[json.Marshaler]()
	unmarshalerType     = reflect.TypeFor[json.Unmarshaler]()
	textMarshalerType   = reflect.TypeFor[encoding.TextMarshaler]()
	textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// hasInvalidUTF8 reports whether encoding/json, encoding v, encodes a
// string that is not valid UTF-8 (and so writes U+FFFD in its place): a
// string, a map key, or the text of a MarshalText method. It follows
// encoding/json's choice of encoder for each value; the output of a
// MarshalJSON method is left out, as encoding/json copies it as it is
// (Encode checks it whole). It is called only once v has been encoded
// without error, so v holds no cycle and each method succeeds.
func hasInvalidUTF8(v any) bool {
	return invalidUTF8(reflect.ValueOf(v))
}

func invalidUTF8(v reflect.Value) bool {
	if !v.IsValid() {
		return false
	}
	t := v.Type()
	addressable := t.Kind() != reflect.Pointer && v.CanAddr()
	switch {
	case addressable && reflect.PointerTo(t).Implements(marshalerType), t.Implements(marshalerType):
		return false
	case addressable && reflect.PointerTo(t).Implements(textMarshalerType):
		return invalidText(v.Addr())
	case t.Implements(textMarshalerType):
		return invalidText(v)
	}
	switch v.Kind() {
	case reflect.String:
		return !utf8.ValidString(v.String())
	case reflect.Interface, reflect.Pointer:
		return !v.IsNil() && invalidUTF8(v.Elem())
	case reflect.Slice:
		if e := t.Elem(); e.Kind() == reflect.Uint8 {
			if p := reflect.PointerTo(e); !p.Implements(marshalerType) && !p.Implements(textMarshalerType) {
				return false // base64
			}
		}
		fallthrough
	case reflect.Array:
		for i := range v.Len() {
			if invalidUTF8(v.Index(i)) {
				return true
			}
		}
	case reflect.Map:
		for it := v.MapRange(); it.Next(); {
			if invalidKey(it.Key()) || invalidUTF8(it.Value()) {
				return true
			}
		}
	case reflect.Struct:
		for i := range t.NumField() {
			if f := t.Field(i); encodedField(f) && invalidUTF8(v.Field(i)) {
				return true
			}
		}
	}
	return false
}

// invalidKey reports whether the map key k encodes as a string that is not
// valid UTF-8: a string kind as it is, else the text of its MarshalText.
func invalidKey(k reflect.Value) bool {
	if k.Kind() == reflect.String {
		return !utf8.ValidString(k.String())
	}
	return k.Type().Implements(textMarshalerType) && invalidText(k)
}

// invalidText reports whether the MarshalText method of v returns text
// that is not valid UTF-8. A value that cannot be reached (an unexported
// field's) or whose method fails is not looked at: encoding succeeded, so
// encoding/json did not call it either.
func invalidText(v reflect.Value) bool {
	if (v.Kind() == reflect.Pointer || v.Kind() == reflect.Interface) && v.IsNil() || !v.CanInterface() {
		return false
	}
	m, ok := v.Interface().(encoding.TextMarshaler)
	if !ok {
		return false
	}
	text, err := m.MarshalText()
	return err == nil && !utf8.Valid(text)
}

// encodedField reports whether encoding/json may encode struct field f:
// an exported field, or an embedded struct (whose exported fields are
// promoted), unless tagged `json:"-"`. Of fields whose names collide,
// encoding/json keeps one or none; all are looked at here, which can only
// find a string that was not encoded in a payload that already wrote
// \ufffd otherwise.
func encodedField(f reflect.StructField) bool {
	if f.Tag.Get("json") == "-" {
		return false
	}
	if f.IsExported() {
		return true
	}
	if !f.Anonymous {
		return false
	}
	t := f.Type
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t.Kind() == reflect.Struct
}

// jsonOption reports whether the json tag of f lists option.
func jsonOption(f reflect.StructField, option string) bool {
	_, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
	for opts != "" {
		var o string
		o, opts, _ = strings.Cut(opts, ",")
		if o == option {
			return true
		}
	}
	return false
}
