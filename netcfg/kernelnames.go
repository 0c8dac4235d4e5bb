package netcfg

// kernelNames ties the values of one of netcfg's enumerations (route
// types, rule actions) to the kernel's numbers and ip(8)'s names.
type kernelNames[T comparable] []struct {
	v      T
	kernel int
	name   string
}

// name is ip(8)'s name of v.
func (n kernelNames[T]) name(v T) (string, bool) {
	for _, e := range n {
		if e.v == v {
			return e.name, true
		}
	}
	return "", false
}

// kernelOf is the kernel's number of v; 0 (unspec) when v has none.
func (n kernelNames[T]) kernelOf(v T) int {
	for _, e := range n {
		if e.v == v {
			return e.kernel
		}
	}
	return 0
}

// of is the value of the kernel's number k.
func (n kernelNames[T]) of(k int) (T, bool) {
	for _, e := range n {
		if e.kernel == k {
			return e.v, true
		}
	}
	var zero T
	return zero, false
}
