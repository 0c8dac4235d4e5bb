// Command ecmp builds active-active directors in network namespaces and
// drives them: a router running FRR (zebra, bgpd, bfdd: nothing of
// lvskit's), three directors announcing one VIP to it by BGP with BFD and
// forwarding in DR with the mh scheduler through the nftables backend,
// three real servers, and a client holding long-lived TCP connections
// that keep exchanging data while short ones come and go.
//
// It reports the router's route to the VIP (three next hops) and how the
// client's flows spread over the directors; then it kills one director
// (SIGKILL, its link taken down first, as when its host dies, so that BFD
// and not a closed TCP session tells the router) and reports how long the
// router took to drop it and how many connections broke (the goal is
// none); it brings the director back and reports the spread again; then
// it stops one real server and reports that only that server's flows
// moved. Then it removes everything it made.
//
// Run it as root after `make build` (`make demo-ecmp` does both). It
// prints a short report, or JSON with --json. --kills N repeats the kill
// and the return N times (make bench uses it), and --bfd 0 turns BFD off,
// leaving the router's BGP timers (keepalive 1 s, hold 3 s) to notice.
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

type options struct {
	json      bool
	verbose   bool
	conns     int
	kills     int
	bfd       time.Duration
	linkDown  bool
	serverOut bool
}

func main() {
	var opts options
	flag.BoolVar(&opts.json, "json", false, "print the report as JSON")
	flag.BoolVar(&opts.verbose, "v", false, "print the roles' logs as they run")
	flag.IntVar(&opts.conns, "conns", 100, "long-lived connections the client holds")
	flag.IntVar(&opts.kills, "kills", 1, "times a director is killed and brought back")
	flag.DurationVar(&opts.bfd, "bfd", 300*time.Millisecond, "BFD interval each way (multiplier 3); 0 turns BFD off (BGP keepalive 1s, hold 3s)")
	flag.BoolVar(&opts.linkDown, "link-down", true, "take the killed director's link down first, as when its host dies (else only the process dies, and its kernel closes the BGP session)")
	flag.BoolVar(&opts.serverOut, "server-out", true, "stop a real server at the end and show that only its flows move")
	flag.Parse()

	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "ecmp: needs root to create network namespaces (try: sudo make demo-ecmp)")
		os.Exit(2)
	}
	if opts.conns < 1 || opts.kills < 0 || opts.bfd < 0 || (opts.bfd > 0 && opts.bfd < 10*time.Millisecond) {
		fmt.Fprintln(os.Stderr, "ecmp: want --conns >= 1, --kills >= 0, --bfd 0 or >= 10ms")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	log := io.Writer(os.Stderr)
	if opts.json && !opts.verbose {
		log = io.Discard
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

// run builds the lab, drives it and tears it down, whatever happens.
func run(ctx context.Context, opts options, log io.Writer) *report {
	rep := &report{Started: time.Now(), Conns: opts.conns, LinkDown: opts.linkDown, Kills: []killRun{}, Problems: []string{}}
	d := &demo{opts: opts, rep: rep, log: log, prefix: fmt.Sprintf("lvsecmp%d", os.Getpid())}
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
