// Command director is an LVS director that runs a keepalived.conf: VRRP
// instances and sync groups, health checkers and the IPVS table (kernel
// IPVS over netlink, nftables where the kernel has no IPVS, or the
// userspace proxy), e-mail alerts and the connection sync daemon.
//
//	director -f keepalived.conf [--backend auto|netlink|nftables|userspace]
//	         [--metrics ADDR] [--log-level debug|info] [-t]
//
// --backend is passed to ipvs.Open, which knows the kinds. -t checks the
// file as a start would, short of opening anything (director.Check: the
// same load and the same build of every unit), and exits 0, or 1 after
// printing every error (with a --backend other than auto, also what that
// backend cannot carry, such as lb_kind DR on userspace, each at its line).
// SIGHUP reloads the file and applies only what changed (a bad file is
// rejected and the running configuration stays); SIGTERM and SIGINT stop
// gracefully. --metrics serves /metrics and /status (":9100" listens on
// 127.0.0.1).
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/lvskit/lvskit/internal/director"
	"github.com/lvskit/lvskit/ipvs"
)

func main() {
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
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: lv}))

	if *hostname == "" {
		*hostname = director.DefaultHostname()
	}
	if *check {
		// The same load and build of every unit as a start, opening
		// nothing (what auto opens is known only when running).
		_, warns, err := director.Check(director.Options{ConfigPath: *conf, Backend: *backend, Hostname: *hostname})
		for _, w := range warns {
			fmt.Fprintf(stderr, "warning: %s\n", w)
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

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	d, err := director.New(director.Options{
		ConfigPath:  *conf,
		Backend:     *backend,
		MetricsAddr: *metrics,
		Logger:      log,
		Hostname:    *hostname,
	})
	if err != nil {
		log.Error("director not started", "err", err)
		return 1
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				log.Info("SIGHUP: reloading", "config", *conf)
				_ = d.Reload() // errors are logged by Reload
			}
		}
	}()
	if err := d.Run(ctx); err != nil {
		log.Error("director failed", "err", err)
		return 1
	}
	return 0
}
