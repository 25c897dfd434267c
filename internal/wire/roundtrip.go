package wire

import (
	"encoding/json"
	"net/netip"
	"reflect"
	"time"
)

// roundTripTypes have methods of their own whose output always decodes
// back: time.Time's MarshalJSON fails rather than write a year its
// UnmarshalJSON cannot read, a json.RawMessage is valid JSON once encoded,
// and netip's MarshalText writes what its UnmarshalText reads.
var roundTripTypes = map[reflect.Type]bool{
	reflect.TypeFor[time.Time]():       true,
	reflect.TypeFor[json.RawMessage](): true,
	reflect.TypeFor[netip.Addr]():      true,
	reflect.TypeFor[netip.Prefix]():    true,
	reflect.TypeFor[netip.AddrPort]():  true,
}

// maxTypeDepth bounds the nesting of a type that RoundTrips accepts, far
// below the 10,000 levels of nesting that encoding/json decodes.
const maxTypeDepth = 100

// RoundTrips reports whether the JSON encoding of every value of type t
// that encoding/json can encode is sure to decode back into a t, with or
// without DisallowUnknownFields: t is built of booleans, numbers, strings,
// byte slices, time.Time, json.RawMessage, netip's addresses, and slices,
// arrays, maps (with string or integer keys), pointers and structs of
// them, with no interface, no other type with a method of its own
// (MarshalJSON, UnmarshalJSON, MarshalText, UnmarshalText), no
// field with the ",string" option, no embedded pointer to an unexported
// struct (which decoding cannot set) and no recursion (which allows
// nesting deeper than decoding accepts). For other types, only decoding
// a payload tells.
func RoundTrips(t reflect.Type) bool {
	return roundTrips(t, make(map[reflect.Type]bool), 0)
}

func roundTrips(t reflect.Type, visiting map[reflect.Type]bool, depth int) bool {
	if roundTripTypes[t] {
		return true
	}
	// A pointer's methods are its element's, looked at there.
	if depth > maxTypeDepth || visiting[t] || t.Kind() != reflect.Pointer && hasMethods(t) {
		return false
	}
	visiting[t] = true
	defer delete(visiting, t)
	switch t.Kind() {
	case reflect.Bool, reflect.String,
		reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64:
		return true
	case reflect.Pointer, reflect.Slice, reflect.Array:
		return roundTrips(t.Elem(), visiting, depth+1)
	case reflect.Map:
		switch t.Key().Kind() {
		case reflect.String,
			reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
			reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		default:
			return false
		}
		return !hasMethods(t.Key()) && roundTrips(t.Elem(), visiting, depth+1)
	case reflect.Struct:
		for i := range t.NumField() {
			f := t.Field(i)
			if !encodedField(f) {
				continue
			}
			if jsonOption(f, "string") {
				return false
			}
			if f.Anonymous && !f.IsExported() && f.Type.Kind() == reflect.Pointer {
				return false // decoding cannot allocate an unexported embedded struct
			}
			if !roundTrips(f.Type, visiting, depth+1) {
				return false
			}
		}
		return true
	default: // interfaces, and what encoding/json cannot encode
		return false
	}
}

// hasMethods reports whether t or *t has a method of encoding/json's or
// encoding's interfaces, which may encode what they cannot decode.
func hasMethods(t reflect.Type) bool {
	p := reflect.PointerTo(t)
	for _, m := range []reflect.Type{marshalerType, unmarshalerType, textMarshalerType, textUnmarshalerType} {
		if t.Implements(m) || p.Implements(m) {
			return true
		}
	}
	return false
}
