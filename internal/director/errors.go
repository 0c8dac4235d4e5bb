package director

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/lvskit/lvskit/internal/keepalived"
)

// Warning is a value of the configuration that runs other than written
// (corrected or ignored, as keepalived corrects or ignores it) or a keyword
// that lvskit does not implement: the configuration runs.
type Warning = keepalived.Warning

// Diagnostic is one positioned problem in a configuration, an error or a
// warning (Severity).
type Diagnostic = keepalived.Diagnostic

// Severities of a Diagnostic.
const (
	SeverityError   = keepalived.SeverityError
	SeverityWarning = keepalived.SeverityWarning
)

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

// Report lists the warnings and the errors of a configuration (what Load
// and CheckCapabilities return) as one list of diagnostics in file order,
// each with its Severity.
func Report(warns []Warning, err error) []Diagnostic {
	ds := make([]Diagnostic, 0, len(warns))
	for _, w := range warns {
		ds = append(ds, w.Diagnostic())
	}
	ds = append(ds, Diagnostics(err)...)
	sortByPos(ds, func(d Diagnostic) keepalived.Pos { return d.Pos })
	return ds
}

// Verdict is what a configuration's diagnostics say about running it.
type Verdict int

const (
	// Runs: no diagnostics; the file runs as written.
	Runs Verdict = iota
	// RunsWithWarnings: only warnings; the file runs, with the values
	// corrected or ignored as the warnings say.
	RunsWithWarnings
	// Refused: errors; the file does not run.
	Refused
)

func (v Verdict) String() string {
	switch v {
	case Runs:
		return "runs"
	case RunsWithWarnings:
		return "runs with warnings"
	}
	return "refused"
}

// VerdictOf is the verdict of diagnostics ds (as Report returns them).
func VerdictOf(ds []Diagnostic) Verdict {
	v := Runs
	for _, d := range ds {
		if d.Severity == SeverityError {
			return Refused
		}
		v = RunsWithWarnings
	}
	return v
}
