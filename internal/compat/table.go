package compat

import (
	"fmt"
	"slices"
	"strings"
)

// Table prints rows as a Markdown table: case, keepalived's verdict, the
// director's, whether the VRRP values are equal, and how many of
// keepalived's corrections the director reports; then the counts, and
// each difference with the reason Differences gives (or "not explained").
func Table(rows []Row) string {
	var b strings.Builder
	b.WriteString("| case | keepalived 2.2.7 | director | values equal? | keepalived's corrections the director reports |\n")
	b.WriteString("|---|---|---|---|---|\n")
	counts := map[string]int{}
	var reasons []string
	byReason := map[string][]string{}
	for _, r := range rows {
		counts[r.Case.Kind]++
		values := "n/a"
		switch {
		case r.ValuesCompared && len(r.ValueDiffs) == 0:
			values = "yes"
		case r.ValuesCompared:
			values = "no"
		}
		corr := fmt.Sprintf("%d of %d", r.Corrections-len(r.Missed), r.Corrections)
		if r.Corrections == 0 {
			corr = "none made"
		}
		name := r.Case.Name
		if d := r.Differences(); len(d) > 0 {
			reason, ok := Differences[r.Case.Name]
			if !ok {
				reason = "NOT EXPLAINED"
			}
			if _, seen := byReason[reason]; !seen {
				reasons = append(reasons, reason)
			}
			byReason[reason] = append(byReason[reason], fmt.Sprintf("%s (%s)", r.Case.Name, strings.Join(d, "; ")))
			name += fmt.Sprintf(" [%d]", slices.Index(reasons, reason)+1)
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", name, r.Keepalived, r.Director, values, corr)
	}
	fmt.Fprintf(&b, "\n%d files: %d cases, %d keyword families, %d keepalived samples.\n",
		len(rows), counts["case"], counts["family"], counts["sample"])
	if len(reasons) > 0 {
		b.WriteString("\nDifferences:\n\n")
		for i, reason := range reasons {
			fmt.Fprintf(&b, "%d. %s. Cases: %s.\n", i+1, reason, strings.Join(byReason[reason], ", "))
		}
	}
	return b.String()
}

// Differences lists how r differs from keepalived: its verdict, its
// values, the corrections the director does not report.
func (r Row) Differences() []string {
	var d []string
	if r.Keepalived != r.Director {
		d = append(d, fmt.Sprintf("keepalived %s, director %s", r.Keepalived, r.Director))
	}
	d = append(d, r.ValueDiffs...)
	for _, m := range r.Missed {
		d = append(d, "not reported: "+m.String())
	}
	return d
}
