// Command compat runs the director next to keepalived 2.2.7 on the
// fidelity suite's configurations and Debian's keepalived samples, and
// prints the comparison as a Markdown table (`make compat`; root, with
// keepalived installed). It exits 1 when a difference is not explained in
// compat.Differences.
//
//	compat [-v] [-samples DIR]
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"

	"github.com/lvskit/lvskit/internal/compat"
)

func main() {
	verbose := flag.Bool("v", false, "print each case's director diagnostics and keepalived output")
	samples := flag.String("samples", compat.SamplesDir, "keepalived's sample configurations")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	cases, err := compat.Cases()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	s, err := compat.Samples(*samples)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	rows, err := compat.Run(ctx, append(cases, s...), compat.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if *verbose {
		for _, r := range rows {
			fmt.Printf("## %s\n\ndirector:\n", r.Case.Name)
			for _, d := range r.Diagnostics {
				fmt.Printf("  %s: %s: %s\n", d.Pos, d.Severity, d.Msg)
			}
			fmt.Printf("%s\n\n", r.Output)
		}
	}
	fmt.Print(compat.Table(rows))
	for _, r := range rows {
		if _, ok := compat.Differences[r.Case.Name]; len(r.Differences()) > 0 && !ok {
			os.Exit(1)
		}
	}
}
