// Command cluster builds the book's LVS cluster (figure 8-5) in network
// namespaces on this machine and drives it: an internet client, a software
// router with NAT, two directors sharing a VIP by VRRP, and two web real
// servers. It measures the load distribution, kills the master director and
// times the failover, stops a real server and watches the health check take
// it out and put it back, then removes everything it made.
//
// Run it as root after `make build` (`make demo` does both). It prints a
// short report, or JSON with --json.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/lvskit/lvskit/internal/nslab"
)

func main() {
	var opts options
	flag.BoolVar(&opts.json, "json", false, "print the report as JSON")
	flag.IntVar(&opts.requests, "requests", 400, "requests sent to measure the distribution")
	flag.StringVar(&opts.backend, "backend", "auto", "IPVS backend of the directors: auto (kernel IPVS, else nftables, else userspace), netlink, nftables or userspace")
	flag.BoolVar(&opts.verbose, "v", false, "print the roles' logs as they run")
	flag.Parse()

	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "cluster: needs root to create network namespaces (try: sudo make demo)")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	log := io.Writer(os.Stderr)
	if opts.json {
		log = io.Discard
		if opts.verbose {
			log = os.Stderr
		}
	}
	rep := run(ctx, opts, log)
	if opts.json {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(rep)
	} else {
		rep.print(os.Stdout)
	}
	if !rep.OK {
		os.Exit(1)
	}
}

type options struct {
	json     bool
	requests int
	backend  string
	verbose  bool
}

// run builds the cluster, drives it and tears it down, whatever happens.
func run(ctx context.Context, opts options, log io.Writer) *report {
	rep := &report{Started: time.Now()}
	d := &demo{opts: opts, rep: rep, log: log, prefix: fmt.Sprintf("lvsdemo%d", os.Getpid())}
	if err := d.run(ctx); err != nil {
		rep.problem("%v", err)
	}
	if len(rep.Problems) > 0 {
		d.dumpLogs()
	}
	d.teardown()
	left, err := nslab.LeftBehind(d.prefix)
	if err != nil {
		rep.problem("list namespaces after the run: %v", err)
	}
	rep.LeftBehind = left
	if len(rep.LeftBehind) > 0 {
		rep.problem("namespaces left behind: %s", strings.Join(rep.LeftBehind, ", "))
	}
	rep.Duration = jsonDuration(time.Since(rep.Started))
	rep.OK = len(rep.Problems) == 0
	return rep
}
