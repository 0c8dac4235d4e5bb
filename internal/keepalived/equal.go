package keepalived

import (
	"reflect"
	"sync"
)

// Equal reports whether a and b, two values (or pointers to values) of the
// same type from this package, hold the same configuration, ignoring where
// in the files it was written (but not whether a Value was set: "smtp_alert
// off" differs from no smtp_alert when a global default applies). A reload
// can use it to find what changed: a block moved down by an added comment
// line is still Equal.
func Equal(a, b any) bool {
	va, vb := reflect.ValueOf(a), reflect.ValueOf(b)
	if !va.IsValid() || !vb.IsValid() {
		return va.IsValid() == vb.IsValid()
	}
	if va.Type() != vb.Type() {
		return false
	}
	return equalValues(va, vb)
}

var posType = reflect.TypeFor[Pos]()

// hasPos caches whether a type contains a Pos anywhere.
var hasPos sync.Map // reflect.Type -> bool

func containsPos(t reflect.Type) bool {
	if v, ok := hasPos.Load(t); ok {
		return v.(bool)
	}
	hasPos.Store(t, false) // breaks cycles; corrected below
	found := false
	switch t.Kind() {
	case reflect.Struct:
		if t == posType {
			found = true
			break
		}
		for i := 0; i < t.NumField() && !found; i++ {
			f := t.Field(i)
			found = f.IsExported() && containsPos(f.Type)
		}
	case reflect.Slice, reflect.Array, reflect.Pointer:
		found = containsPos(t.Elem())
	}
	hasPos.Store(t, found)
	return found
}

func equalValues(a, b reflect.Value) bool {
	if !containsPos(a.Type()) {
		return reflect.DeepEqual(a.Interface(), b.Interface())
	}
	switch a.Kind() {
	case reflect.Struct:
		if a.Type() == posType {
			return a.Interface().(Pos).IsValid() == b.Interface().(Pos).IsValid()
		}
		for i := 0; i < a.NumField(); i++ {
			if !equalValues(a.Field(i), b.Field(i)) {
				return false
			}
		}
		return true
	case reflect.Pointer:
		if a.IsNil() || b.IsNil() {
			return a.IsNil() == b.IsNil()
		}
		return equalValues(a.Elem(), b.Elem())
	case reflect.Slice, reflect.Array:
		if a.Len() != b.Len() {
			return false
		}
		for i := 0; i < a.Len(); i++ {
			if !equalValues(a.Index(i), b.Index(i)) {
				return false
			}
		}
		return true
	}
	return reflect.DeepEqual(a.Interface(), b.Interface())
}
