package main

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/lvskit/lvskit/internal/director"
)

// Exit codes of director -t. 2 is flag's (and this command's) usage error.
const (
	exitOK       = 0 // the file runs as written
	exitErrors   = 1 // the file does not run: keepalived stops on it too, or running it is unsafe
	exitUsage    = 2 // bad flags
	exitWarnings = 3 // the file runs, with warnings: values corrected or ignored as keepalived does
)

// checkOptions are the flags of -t.
type checkOptions struct {
	conf, hostname, backend string
	strict                  bool // warnings are errors
	json                    bool // a JSON array on stdout instead of lines on stderr
}

// jsonDiagnostic is one element of -t --json's array.
type jsonDiagnostic struct {
	File     string `json:"file"`
	Line     int    `json:"line"`
	Col      int    `json:"col"`
	Severity string `json:"severity"`
	Message  string `json:"message"`
}

// check runs -t: it loads the file as the director would run it and
// reports every warning and error as file:line:col: severity: message
// (or JSON), then returns the verdict as the exit code.
func check(o checkOptions, stdout, stderr io.Writer) int {
	// The same load and build of every unit as a start, opening nothing
	// (what auto opens is known only when running).
	_, warns, err := director.Check(director.Options{ConfigPath: o.conf, Backend: o.backend, Hostname: o.hostname})
	ds := director.Report(warns, err)
	if o.strict {
		for i := range ds {
			ds[i].Severity = director.SeverityError
		}
	}
	code := map[director.Verdict]int{director.Runs: exitOK, director.RunsWithWarnings: exitWarnings, director.Refused: exitErrors}[director.VerdictOf(ds)]
	if o.json {
		out := make([]jsonDiagnostic, 0, len(ds))
		for _, d := range ds {
			out = append(out, jsonDiagnostic{File: d.Pos.File, Line: d.Pos.Line, Col: d.Pos.Col, Severity: d.Severity.String(), Message: d.Msg})
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(out); err != nil {
			fmt.Fprintf(stderr, "director: write JSON: %v\n", err)
			return exitErrors
		}
		return code
	}
	for _, d := range ds {
		fmt.Fprintln(stderr, annotation(d, o.conf))
	}
	switch code {
	case exitOK:
		fmt.Fprintf(stderr, "%s: configuration OK\n", o.conf)
	case exitWarnings:
		fmt.Fprintf(stderr, "%s: configuration OK, with %d warnings (exit %d; --strict makes them errors)\n", o.conf, len(ds), exitWarnings)
	default:
		fmt.Fprintf(stderr, "%s: configuration rejected\n", o.conf)
	}
	return code
}

// annotation is d as a compiler writes it, "file:line:col: severity:
// message", which editors and CI annotate; a diagnostic without a
// position (the file cannot be read) names the file.
func annotation(d director.Diagnostic, conf string) string {
	at := d.Pos.String()
	if at == "" {
		at = conf
	}
	return fmt.Sprintf("%s: %s: %s", at, d.Severity, d.Msg)
}
