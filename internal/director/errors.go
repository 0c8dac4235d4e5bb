package director

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/lvskit/lvskit/internal/keepalived"
)

// Warning is a keyword of the configuration that lvskit understands but
// does not implement; it has no effect.
type Warning = keepalived.Warning

// Diagnostic is one positioned problem in a configuration.
type Diagnostic = keepalived.Diagnostic

// ConfigError lists every semantic error of a configuration, in file
// order. The configuration is rejected as a whole.
type ConfigError struct {
	Diagnostics []Diagnostic
}

func (e *ConfigError) Error() string {
	lines := make([]string, len(e.Diagnostics))
	for i, d := range e.Diagnostics {
		lines[i] = d.String()
	}
	return strings.Join(lines, "\n")
}

// Diagnostics returns the positioned errors inside err: the parser's and
// the director's, also from errors joined with errors.Join (the builds of
// several units). An error of another kind gives one diagnostic without a
// position.
func Diagnostics(err error) []Diagnostic {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []Diagnostic
		for _, e := range j.Unwrap() {
			out = append(out, Diagnostics(e)...)
		}
		return out
	}
	if pe, ok := errors.AsType[*keepalived.ParseError](err); ok {
		return pe.Diagnostics
	}
	if ce, ok := errors.AsType[*ConfigError](err); ok {
		return ce.Diagnostics
	}
	return []Diagnostic{{Msg: err.Error()}}
}

// errorAt is a ConfigError of one diagnostic: a unit that cannot be built
// says where its block is.
func errorAt(p keepalived.Pos, format string, args ...any) error {
	return &ConfigError{Diagnostics: []Diagnostic{{Pos: p, Msg: fmt.Sprintf(format, args...)}}}
}

// sortByPos orders items by file, line and column, keeping the order of
// items at the same place.
func sortByPos[T any](items []T, pos func(T) keepalived.Pos) {
	slices.SortStableFunc(items, func(a, b T) int {
		pa, pb := pos(a), pos(b)
		if c := cmp.Compare(pa.File, pb.File); c != 0 {
			return c
		}
		if c := cmp.Compare(pa.Line, pb.Line); c != 0 {
			return c
		}
		return cmp.Compare(pa.Col, pb.Col)
	})
}
