// Command director is an LVS director that runs a keepalived.conf: VRRP
// instances and sync groups, health checkers and the IPVS table (kernel
// IPVS over netlink, nftables where the kernel has no IPVS, or the
// userspace proxy), e-mail alerts and the connection sync daemon.
//
//	director -f keepalived.conf [--backend auto|netlink|nftables|userspace]
//	         [--metrics ADDR] [--metrics-compat keepalived]
//	         [--socket PATH] [--dump-dir DIR] [--pid FILE]
//	         [--log-level debug|info] [-t]
//	director status [--socket PATH] [--json]
//
// --backend is passed to ipvs.Open, which knows the kinds. -t checks the
// file and exits 0, or 1 after printing every error (with a --backend
// other than auto, also what that backend cannot carry, such as lb_kind DR
// on userspace, each at its line).
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
	os.Exit(run(os.Args[1:], os.Stderr))
}

func run(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("director", flag.ContinueOnError)
	fs.SetOutput(stderr)
	conf := fs.String("f", "/etc/keepalived/keepalived.conf", "keepalived.conf to run")
	backend := fs.String("backend", ipvs.KindAuto, "IPVS backend, as ipvs.Open knows them: auto (kernel IPVS, else nftables, else userspace), netlink, nftables (NAT and DR without IPVS), userspace (a NAT-like proxy)")
	metrics := fs.String("metrics", "", "address for /metrics and /status (off when empty; \":port\" is loopback)")
	level := fs.String("log-level", "info", "log level: debug or info")
	check := fs.Bool("t", false, "check the configuration and exit")
	hostname := fs.String("i", "", "config-id for @host conditionals and the default router_id (default: the host name)")
	op := addOperatorFlags(fs)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	var lv slog.Level
	switch *level {
	case "debug":
		lv = slog.LevelDebug
	case "info":
		lv = slog.LevelInfo
	default:
		fmt.Fprintf(stderr, "director: unknown --log-level %q (want debug or info)\n", *level)
		return 2
	}
	log := newLogger(stderr, lv, sdnotify.UnderJournal())

	if *hostname == "" {
		*hostname = director.DefaultHostname()
	}
	if *check {
		plan, warns, err := director.Load(*conf, *hostname)
		for _, w := range warns {
			fmt.Fprintf(stderr, "warning: %s\n", w)
		}
		if caps, ok := ipvs.CapabilitiesOf(*backend); err == nil && ok {
			// What auto opens is known only when running.
			err = plan.CheckCapabilities(*backend, caps)
		}
		if err != nil {
			for _, d := range director.Diagnostics(err) {
				fmt.Fprintf(stderr, "%s\n", d)
			}
			return 1
		}
		fmt.Fprintf(stderr, "%s: configuration OK\n", *conf)
		return 0
	}

	return serve(director.Options{
		ConfigPath:  *conf,
		Backend:     *backend,
		MetricsAddr: *metrics,
		Logger:      log,
		Hostname:    *hostname,
	}, op)
}
