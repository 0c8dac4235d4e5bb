package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/lvskit/lvskit/clock"
	"github.com/lvskit/lvskit/internal/director"
	"github.com/lvskit/lvskit/internal/sdnotify"
)

// This file runs the director as a service: signals (SIGHUP reloads,
// keepalived's dump signals write its dumps, SIGTERM and SIGINT stop),
// and systemd's notification protocol: READY=1 once the configuration is
// applied (the first IPVS sync done), RELOADING=1 then READY=1 with a
// STATUS= line saying how a reload went, STOPPING=1, and WATCHDOG=1 pings
// while the director is healthy when the unit sets WatchdogSec=.

// keepalived's dump signals, as `keepalived --signum=DATA|STATS|JSON`
// names them: SIGUSR1, SIGUSR2 and SIGRTMIN+2. SIGRTMIN is glibc's, 34
// (the kernel's first real-time signal, 32, after the two glibc keeps),
// so SIGRTMIN+2 is 36, the number keepalived 2.2.7 prints.
const (
	sigData  = syscall.SIGUSR1
	sigStats = syscall.SIGUSR2
	sigJSON  = syscall.Signal(36)
)

// operatorFlags are the command's flags for running as a service.
type operatorFlags struct {
	socket                   *socketFlag
	compat, dumpDir, pidFile *string
}

// socketFlag is --socket, remembering whether it was given.
type socketFlag struct {
	path  string
	given bool
}

func (f *socketFlag) String() string { return f.path }

func (f *socketFlag) Set(s string) error {
	f.path, f.given = s, true
	return nil
}

func addOperatorFlags(fs *flag.FlagSet) operatorFlags {
	sock := &socketFlag{path: director.DefaultControlSocket}
	fs.Var(sock, "socket", "control socket that \"director status\" reads (mode 0600; empty: none)")
	return operatorFlags{
		socket:  sock,
		compat:  fs.String("metrics-compat", "", "also export metrics under other exporters' names: keepalived (keepalived-exporter's keepalived_*, node_exporter's node_ipvs_*)"),
		dumpDir: fs.String("dump-dir", "", "folder of keepalived.data, .stats and .json written on keepalived's signals (default $TMPDIR, else /tmp)"),
		pidFile: fs.String("pid", "", "write the process id to this file, as keepalived -p (tools that signal keepalived read /run/keepalived.pid)"),
	}
}

// serve runs a director with opts until SIGTERM or SIGINT.
func serve(opts director.Options, op operatorFlags) int {
	log := opts.Logger
	opts.ControlSocket, opts.MetricsCompat, opts.DumpDir = op.socket.path, *op.compat, *op.dumpDir
	// Another director of this host (in another network namespace, say)
	// may hold the default socket: run without one rather than not at
	// all. A --socket given is an error when taken.
	opts.ControlSocketOptional = !op.socket.given
	notify := sdnotify.New()

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGHUP, sigData, sigStats, sigJSON)
	defer signal.Stop(sigs)

	d, err := director.New(opts)
	if err != nil {
		log.Error("director not started", "err", err)
		_ = notify.Status("not started: " + err.Error())
		return 1
	}
	if *op.pidFile != "" {
		if err := os.WriteFile(*op.pidFile, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
			log.Error("director not started", "err", fmt.Errorf("write pid file: %w", err))
			_ = d.Close()
			return 1
		}
		defer os.Remove(*op.pidFile)
	}
	runErr := make(chan error, 1)
	go func() { runErr <- d.Run(ctx) }()

	var tick <-chan time.Time
	if every, ok := sdnotify.WatchdogInterval(); ok {
		t := time.NewTicker(every)
		defer t.Stop()
		tick = t.C
		log.Info("watchdog enabled", "ping_every", every)
	}
	s := &service{d: d, n: notify, log: log, clock: clock.Wall{}}
	if err := s.loop(ctx, sigs, tick, runErr); err != nil {
		log.Error("director failed", "err", err)
		return 1
	}
	return 0
}

// runningDirector is what the service loop needs of a director.
type runningDirector interface {
	Started() <-chan struct{}
	Reload() error
	Healthy(context.Context) error
	Plan() *director.Plan
	Backend() (name, reason string)
	DumpData() error
	DumpStats() error
	DumpJSON() error
}

// notifier is what the service loop says to the service manager
// (*sdnotify.Notifier; nil outside systemd).
type notifier interface {
	Send(assignments ...string) error
	Reloading() error
	Stopping() error
	Watchdog() error
}

type service struct {
	d     runningDirector
	n     notifier
	log   *slog.Logger
	clock clock.Clock
}

// loop is the service's main loop: it tells the service manager when the
// director is ready, handles the signals, pings the watchdog on each tick
// while the director is healthy, and returns Run's result when the
// director stops.
func (s *service) loop(ctx context.Context, sigs <-chan os.Signal, tick <-chan time.Time, runErr <-chan error) error {
	started := s.d.Started()
	for {
		select {
		case <-started:
			started = nil
			s.send("READY=1", "STATUS="+s.summary("running"))
		case sig := <-sigs:
			s.signal(sig)
		case <-tick:
			if started != nil {
				continue // not ready yet
			}
			if err := s.d.Healthy(ctx); err != nil {
				s.log.Warn("not healthy: watchdog not pinged", "err", err)
				continue
			}
			if err := s.n.Watchdog(); err != nil {
				s.log.Warn("ping the watchdog", "err", err)
			}
		case <-ctx.Done():
			if err := s.n.Stopping(); err != nil {
				s.log.Warn("notify the service manager", "err", err)
			}
			return <-runErr
		case err := <-runErr:
			// Run returned before it was asked to stop: it failed to start.
			if err == nil {
				err = errors.New("the director stopped")
			}
			s.send("STATUS=failed: " + err.Error())
			return err
		}
	}
}

func (s *service) signal(sig os.Signal) {
	switch sig {
	case syscall.SIGHUP:
		s.reload()
	case sigData:
		s.dump(s.d.DumpData)
	case sigStats:
		s.dump(s.d.DumpStats)
	case sigJSON:
		s.dump(s.d.DumpJSON)
	}
}

// reload reloads the configuration between RELOADING=1 and READY=1, with
// a STATUS= line saying how it went. A rejected file leaves the running
// configuration in place, so the service is ready again either way.
func (s *service) reload() {
	s.log.Info("SIGHUP: reloading")
	if err := s.n.Reloading(); err != nil {
		s.log.Warn("notify the service manager", "err", err)
	}
	err := s.d.Reload() // errors are logged by Reload
	if err != nil {
		s.send("READY=1", "STATUS=reload failed, previous configuration still running: "+firstLine(err))
		return
	}
	s.send("READY=1", "STATUS="+s.summary("reloaded"))
}

func (s *service) dump(f func() error) {
	if err := f(); err != nil {
		s.log.Error("keepalived dump", "err", err)
	}
}

func (s *service) send(assignments ...string) {
	for i, a := range assignments {
		assignments[i] = strings.ReplaceAll(a, "\n", " ")
	}
	if err := s.n.Send(assignments...); err != nil {
		s.log.Warn("notify the service manager", "err", err)
	}
}

// summary is the STATUS= line of a director that runs its configuration.
func (s *service) summary(what string) string {
	p := s.d.Plan()
	name, _ := s.d.Backend()
	return fmt.Sprintf("%s %s at %s: %d VRRP instances, %d virtual servers, IPVS backend %s",
		what, p.Source, s.clock.Now().Format(time.DateTime), len(p.Instances), len(p.VirtualServers), name)
}

// firstLine is an error's first diagnostic, with how many follow.
func firstLine(err error) string {
	lines := director.Diagnostics(err)
	if len(lines) == 0 {
		return err.Error()
	}
	s := lines[0].Msg
	if lines[0].Pos.File != "" {
		s = lines[0].String()
	}
	if len(lines) > 1 {
		s += fmt.Sprintf(" (and %d more)", len(lines)-1)
	}
	return s
}
