// Command director is an LVS director that runs a keepalived.conf: VRRP
// instances and sync groups, health checkers and the IPVS table (kernel
// IPVS over netlink, nftables where the kernel has no IPVS, or the
// userspace proxy), e-mail alerts and the connection sync daemon.
//
//	director -f keepalived.conf [--backend auto|netlink|nftables|userspace]
//	         [--metrics ADDR] [--metrics-compat keepalived]
//	         [--socket PATH] [--dump-dir DIR] [--pid FILE]
//	         [--log-level debug|info]
//	director -t [--strict] [--json] -f keepalived.conf [--backend ...]
//	director status [--socket PATH] [--json]
//
// --backend is passed to ipvs.Open, which knows the kinds.
//
// -t checks the file the way the director would run it and prints every
// warning and error as "file:line:col: severity: message" (severity error
// or warning), the form editors and CI annotate; --json prints a JSON
// array of {file, line, col, severity, message} on stdout instead. With a
// --backend other than auto it also reports what that backend cannot
// carry (lb_kind DR on userspace, say) at its line. The director runs
// every file keepalived 2.2.7 runs, as keepalived runs it: what keepalived
// corrects or ignores is a warning saying what keepalived does, an error
// is what keepalived stops on too or what would be unsafe to run. The exit
// code is the verdict:
//
//	0  the file runs as written
//	1  the file is rejected (errors)
//	2  usage: a bad flag
//	3  the file runs, with warnings
//
// --strict makes every warning an error (exit 1), for CI.
// SIGHUP reloads the file and applies only what changed (a bad file is
// rejected and the running configuration stays); SIGTERM and SIGINT stop
// gracefully; SIGUSR1, SIGUSR2 and SIGRTMIN+2 (36) write keepalived's
// dumps (/tmp/keepalived.data, .stats, .json, or in --dump-dir), as
// keepalived does on the signals `keepalived --signum=DATA|STATS|JSON`
// names (--pid writes a pid file for tools that signal keepalived through
// one). --metrics serves /metrics and /status (":9100" listens on
// 127.0.0.1); --metrics-compat keepalived adds keepalived-exporter's and
// node_exporter's metric names. The control socket (--socket, default
// /run/lvskit/director.sock, mode 0600; "" for none) serves the same, and
// `director status` prints it for a person (--json: the document).
// Under systemd (Type=notify) it says READY=1 once the configuration is
// applied, RELOADING=1 and READY=1 with a STATUS= line around a reload,
// pings the watchdog while healthy, and logs without its own timestamps
// (examples/systemd).
package main

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/lvskit/lvskit/internal/director"
	"github.com/lvskit/lvskit/internal/sdnotify"
	"github.com/lvskit/lvskit/ipvs"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "status" {
		os.Exit(runStatus(os.Args[2:], os.Stdout, os.Stderr))
	}
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("director", flag.ContinueOnError)
	fs.SetOutput(stderr)
	conf := fs.String("f", "/etc/keepalived/keepalived.conf", "keepalived.conf to run")
	backend := fs.String("backend", ipvs.KindAuto, "IPVS backend, as ipvs.Open knows them: auto (kernel IPVS, else nftables, else userspace), netlink, nftables (NAT and DR without IPVS), userspace (a NAT-like proxy)")
	metrics := fs.String("metrics", "", "address for /metrics and /status (off when empty; \":port\" is loopback)")
	level := fs.String("log-level", "info", "log level: debug or info")
	checkOnly := fs.Bool("t", false, "check the configuration and exit: 0 clean, 1 errors, 3 warnings")
	strict := fs.Bool("strict", false, "with -t: warnings are errors")
	asJSON := fs.Bool("json", false, "with -t: print the diagnostics as a JSON array on stdout")
	hostname := fs.String("i", "", "config-id for @host conditionals and the default router_id (default: the host name)")
	op := addOperatorFlags(fs)
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	var lv slog.Level
	switch *level {
	case "debug":
		lv = slog.LevelDebug
	case "info":
		lv = slog.LevelInfo
	default:
		fmt.Fprintf(stderr, "director: unknown --log-level %q (want debug or info)\n", *level)
		return exitUsage
	}
	log := newLogger(stderr, lv, sdnotify.UnderJournal())

	if *hostname == "" {
		*hostname = director.DefaultHostname()
	}
	if *checkOnly {
		return check(checkOptions{conf: *conf, hostname: *hostname, backend: *backend, strict: *strict, json: *asJSON}, stdout, stderr)
	}
	if *strict || *asJSON {
		fmt.Fprintln(stderr, "director: --strict and --json go with -t")
		return exitUsage
	}

	return serve(director.Options{
		ConfigPath:  *conf,
		Backend:     *backend,
		MetricsAddr: *metrics,
		Logger:      log,
		Hostname:    *hostname,
	}, op)
}
