package keepalived

import (
	"fmt"
	"strings"
)

// Pos is a position in a configuration file. Line and Col are 1-based; the
// zero Pos means "not set" (a value that the file did not give).
//
// Columns count bytes from the start of the line as written in the file.
// On a line that was changed by parameter substitution ($VAR, ~SEQ) the
// column of a token after the substitution points into the expanded text.
type Pos struct {
	File string
	Line int
	Col  int
}

// IsValid reports whether p refers to a place in a file.
func (p Pos) IsValid() bool { return p.Line > 0 }

func (p Pos) String() string {
	if !p.IsValid() {
		return p.File
	}
	return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Col)
}

// Value is a scalar setting together with where the file set it. A Value
// whose Pos is not valid was not given in the file; V then holds the zero
// value, and the documented keepalived default applies (see Or).
type Value[T any] struct {
	V   T
	Pos Pos
}

// Set reports whether the file gave this value.
func (v Value[T]) Set() bool { return v.Pos.IsValid() }

// Or returns the configured value, or def when the file did not set it.
func (v Value[T]) Or(def T) T {
	if v.Set() {
		return v.V
	}
	return def
}

// Severity says whether a Diagnostic stops a configuration.
type Severity int

const (
	// SeverityError rejects the configuration: keepalived stops on it too,
	// or running it would be unsafe. It is the zero value.
	SeverityError Severity = iota
	// SeverityWarning reports a value that is corrected or ignored, the
	// way keepalived corrects or ignores it, or a keyword lvskit does not
	// implement; the configuration runs.
	SeverityWarning
)

func (s Severity) String() string {
	if s == SeverityWarning {
		return "warning"
	}
	return "error"
}

// Diagnostic is one positioned problem found in a configuration.
type Diagnostic struct {
	Pos      Pos
	Severity Severity
	Msg      string
}

// String is "file:line:col: message", or the message alone when it has
// no position at all (a problem of no file, such as a backend refusal).
func (d Diagnostic) String() string {
	if at := d.Pos.String(); at != "" {
		return at + ": " + d.Msg
	}
	return d.Msg
}

// Warning reports a value that runs other than written (corrected or
// ignored as keepalived corrects or ignores it) or a keyword that lvskit
// does not implement: the configuration is accepted.
type Warning struct {
	Pos     Pos
	Keyword string
	Msg     string
}

func (w Warning) String() string {
	return fmt.Sprintf("%s: %s", w.Pos, w.Msg)
}

// Diagnostic is w as a Diagnostic of SeverityWarning.
func (w Warning) Diagnostic() Diagnostic {
	return Diagnostic{Pos: w.Pos, Severity: SeverityWarning, Msg: w.Msg}
}

// ParseError is returned when a configuration has one or more errors. It
// lists every error found (at most 200): first the syntax and keyword
// errors in the order of the files, then those of checks across blocks
// (undefined names, missing required settings). The configuration is
// rejected as a whole.
type ParseError struct {
	Diagnostics []Diagnostic
}

func (e *ParseError) Error() string {
	var b strings.Builder
	for i, d := range e.Diagnostics {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(d.String())
	}
	return b.String()
}

// diags collects errors and warnings while reading one configuration.
type diags struct {
	errs  []Diagnostic
	warns []Warning
	// seen suppresses repeated identical diagnostics (a multiline
	// definition expanded many times, say).
	seen map[Diagnostic]bool
}

// maxErrors bounds the number of errors kept, so that a garbage input
// (a binary file, say) does not produce megabytes of messages.
const maxErrors = 200

func (d *diags) errorf(p Pos, format string, args ...any) {
	dg := Diagnostic{Pos: p, Msg: fmt.Sprintf(format, args...)}
	if d.seen == nil {
		d.seen = map[Diagnostic]bool{}
	}
	if d.seen[dg] {
		return
	}
	d.seen[dg] = true
	if len(d.errs) == maxErrors {
		d.errs = append(d.errs, Diagnostic{Pos: p, Msg: "too many errors"})
		return
	}
	if len(d.errs) > maxErrors {
		return
	}
	d.errs = append(d.errs, dg)
}

func (d *diags) warnf(p Pos, keyword, format string, args ...any) {
	d.warns = append(d.warns, Warning{Pos: p, Keyword: keyword, Msg: fmt.Sprintf(format, args...)})
}

// ignoredf warns about a value that keepalived logs and ignores (its
// default, or the value set before, stays); the caller ignores it too.
func (d *diags) ignoredf(p Pos, keyword, format string, args ...any) {
	d.warnf(p, keyword, "%s: ignored, as keepalived does", fmt.Sprintf(format, args...))
}

func (d *diags) notImplemented(p Pos, keyword string) {
	d.warnf(p, keyword, "keyword %q is not implemented by lvskit and is ignored", keyword)
}
