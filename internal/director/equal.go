package director

import (
	"reflect"

	"github.com/lvskit/lvskit/internal/keepalived"
)

// sameConfig reports whether a and b, two plan values of one type,
// configure the same thing. It is the director's one equality, which a
// reload uses to tell a kept unit from a changed one (changes, in
// unit.go) and a real server whose checks did not change (unit_pool.go):
//
//   - positions (keepalived.Pos) are left out: moving a block in the file
//     is not a change;
//   - a struct is compared by its exported fields: a checker's unexported
//     fields are the state it keeps between probes, not configuration;
//     a struct without exported fields (netip.Addr, time.Time) is a value,
//     compared with == (and taken as changed when == cannot compare it);
//   - a nil and an empty slice or map are the same; functions are the
//     same only when both are nil.
func sameConfig(a, b any) bool {
	return sameValue(reflect.ValueOf(a), reflect.ValueOf(b))
}

var posType = reflect.TypeFor[keepalived.Pos]()

func sameValue(a, b reflect.Value) bool {
	if !a.IsValid() || !b.IsValid() {
		return a.IsValid() == b.IsValid()
	}
	if a.Type() != b.Type() {
		return false
	}
	switch a.Kind() {
	case reflect.Struct:
		if a.Type() == posType {
			return true
		}
		exported := false
		for i := 0; i < a.NumField(); i++ {
			if !a.Type().Field(i).IsExported() {
				continue
			}
			exported = true
			if !sameValue(a.Field(i), b.Field(i)) {
				return false
			}
		}
		if !exported {
			// A value such as netip.Addr; one that == cannot compare is
			// taken as changed.
			return a.Comparable() && a.Equal(b)
		}
		return true
	case reflect.Pointer, reflect.Interface:
		if a.IsNil() || b.IsNil() {
			return a.IsNil() == b.IsNil()
		}
		return sameValue(a.Elem(), b.Elem())
	case reflect.Slice, reflect.Array:
		if a.Len() != b.Len() {
			return false
		}
		for i := 0; i < a.Len(); i++ {
			if !sameValue(a.Index(i), b.Index(i)) {
				return false
			}
		}
		return true
	case reflect.Map:
		if a.Len() != b.Len() {
			return false
		}
		for it := a.MapRange(); it.Next(); {
			bv := b.MapIndex(it.Key())
			if !bv.IsValid() || !sameValue(it.Value(), bv) {
				return false
			}
		}
		return true
	case reflect.Func:
		return a.IsNil() && b.IsNil()
	case reflect.Chan, reflect.UnsafePointer:
		return a.Pointer() == b.Pointer()
	}
	return a.Equal(b)
}
