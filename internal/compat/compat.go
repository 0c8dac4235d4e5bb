package compat

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/lvskit/lvskit/internal/director"
	"github.com/lvskit/lvskit/internal/nslab"
)

// Verdict is a side's verdict on a file: the director's classes, which
// keepalived's are mapped onto (KeepalivedResult.Verdict).
type Verdict = director.Verdict

// Verdicts.
const (
	Runs             = director.Runs
	RunsWithWarnings = director.RunsWithWarnings
	Refused          = director.Refused
)

// Row is the comparison of one case.
type Row struct {
	Case Case
	// Keepalived and Director are the two verdicts.
	Keepalived, Director Verdict
	// ValuesCompared says keepalived dumped VRRP values to compare
	// with; ValueDiffs lists the settings that differ.
	ValuesCompared bool
	ValueDiffs     []string
	// Corrections is how many of keepalived's messages there were, and
	// Missed those the director does not report.
	Corrections int
	Missed      []Message
	// Warnings are the director's diagnostics, and Output keepalived's.
	Diagnostics []director.Diagnostic
	Output      string
}

var vrrpInstance = regexp.MustCompile(`(?m)^\s*vrrp_instance\s`)

// Options configure Run.
type Options struct {
	// ID is the config-id both sides get (keepalived's -i, the
	// director's -i); empty means the host name, keepalived's default.
	ID string
	// Dir holds the files of each case; empty means a temporary folder.
	Dir string
}

// Run compares the director with keepalived on each case, each in a
// network namespace of its own (root, keepalived). It stops at the first
// error of the harness; differences are in the rows.
func Run(ctx context.Context, cases []Case, o Options) ([]Row, error) {
	if o.ID == "" {
		h, err := os.Hostname()
		if err != nil {
			return nil, fmt.Errorf("compat: host name: %w", err)
		}
		o.ID = h
	}
	if o.Dir == "" {
		d, err := os.MkdirTemp("", "lvskit-compat-")
		if err != nil {
			return nil, fmt.Errorf("compat: %w", err)
		}
		defer os.RemoveAll(d)
		o.Dir = d
	}
	lab := nslab.New(fmt.Sprintf("lvc%d-", os.Getpid()%100000))
	defer lab.Close()
	var rows []Row
	for i, c := range cases {
		row, err := runCase(ctx, lab, fmt.Sprintf("c%d", i), c, o)
		if err != nil {
			return rows, fmt.Errorf("compat: case %s: %w", c.Name, err)
		}
		rows = append(rows, row)
	}
	return rows, nil
}

func runCase(ctx context.Context, lab *nslab.Lab, ns string, c Case, o Options) (Row, error) {
	dir := filepath.Join(o.Dir, c.Name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return Row{}, err
	}
	conf := filepath.Join(dir, "keepalived.conf")
	if err := os.WriteFile(conf, c.Text, 0o644); err != nil {
		return Row{}, err
	}
	h, err := lab.Host(ns)
	if err != nil {
		return Row{}, err
	}
	for _, name := range interfaces(string(c.Text)) {
		if err := addLink(h, name); err != nil {
			return Row{}, err
		}
	}
	k, err := runKeepalived(ctx, h, dir, conf, o.ID, vrrpInstance.Match(c.Text))
	if err != nil {
		return Row{}, err
	}
	plan, warns, lerr := director.Load(conf, o.ID)
	ds := director.Report(warns, lerr)
	row := Row{Case: c, Keepalived: k.Verdict(), Director: director.VerdictOf(ds),
		Corrections: len(k.Messages), Diagnostics: ds, Output: k.Output}
	row.Missed = matchCorrections(k.Messages, warns, ds)
	if k.Dumped && plan != nil {
		row.ValuesCompared = true
		row.ValueDiffs = diffValues(k.Values, planValues(plan, true))
	}
	return row, nil
}

// Summary is a Row's values column: "equal", "n/a" or the differences.
func (r Row) Summary() string {
	switch {
	case !r.ValuesCompared:
		return "n/a"
	case len(r.ValueDiffs) == 0:
		return "equal"
	}
	return "differ: " + strings.Join(r.ValueDiffs, "; ")
}
