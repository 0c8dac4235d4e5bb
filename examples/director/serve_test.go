package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/lvskit/lvskit/clock"
	"github.com/lvskit/lvskit/internal/director"
	"github.com/lvskit/lvskit/internal/keepalived"
	"github.com/lvskit/lvskit/internal/sdnotify"
	"github.com/lvskit/lvskit/internal/sdnotify/sdnotifytest"
)

// fakeDirector is a runningDirector whose answers the test sets.
type fakeDirector struct {
	started   chan struct{}
	reloadErr error
	unhealthy atomic.Bool
	mu        sync.Mutex
	dumps     []string
}

func (f *fakeDirector) Started() <-chan struct{} { return f.started }
func (f *fakeDirector) Reload() error            { return f.reloadErr }
func (f *fakeDirector) Healthy(context.Context) error {
	if f.unhealthy.Load() {
		return errors.New("stuck")
	}
	return nil
}
func (f *fakeDirector) Plan() *director.Plan {
	return &director.Plan{Source: "/etc/keepalived/keepalived.conf", Instances: make([]director.InstancePlan, 2),
		VirtualServers: make([]director.VirtualServerPlan, 1)}
}
func (f *fakeDirector) Backend() (string, string) { return "userspace", "test" }
func (f *fakeDirector) DumpData() error           { return f.dump("data") }
func (f *fakeDirector) DumpStats() error          { return f.dump("stats") }
func (f *fakeDirector) DumpJSON() error           { return f.dump("json") }
func (f *fakeDirector) dump(what string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.dumps = append(f.dumps, what)
	return nil
}

// nextNotify reads one notification the loop sent.
func nextNotify(t *testing.T, s *sdnotifytest.Socket) []string {
	t.Helper()
	got, ok := s.Next(20 * time.Second)
	if !ok {
		t.Fatal("no notification within 20s")
	}
	return got
}

// The service loop speaks systemd's protocol: READY=1 only once the
// director has started (a watchdog tick before sends nothing), WATCHDOG=1
// per tick only while healthy, RELOADING=1 then READY=1 with a STATUS=
// after a good and after a bad reload, STOPPING=1 at the end; keepalived's
// dump signals write the dumps.
func TestServiceNotify(t *testing.T) {
	sock := sdnotifytest.Listen(t)
	f := &fakeDirector{started: make(chan struct{})}
	s := &service{d: f, n: sdnotify.New(), log: slog.New(slog.DiscardHandler), clock: clock.Wall{}}
	sigs := make(chan os.Signal)
	tick := make(chan time.Time)
	runErr := make(chan error, 1)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.loop(ctx, sigs, tick, runErr) }()
	defer cancel()

	tick <- time.Time{} // not started: no ping
	close(f.started)
	got := nextNotify(t, sock)
	if len(got) != 2 || got[0] != "READY=1" ||
		got[1] != "STATUS=running /etc/keepalived/keepalived.conf at "+got[1][len("STATUS=running /etc/keepalived/keepalived.conf at "):] ||
		!strings.HasSuffix(got[1], ": 2 VRRP instances, 1 virtual servers, IPVS backend userspace") {
		t.Fatalf("first notification %q, want READY=1 with the running summary", got)
	}

	tick <- time.Time{}
	if got := nextNotify(t, sock); len(got) != 1 || got[0] != "WATCHDOG=1" {
		t.Errorf("healthy tick sent %q, want WATCHDOG=1", got)
	}
	f.unhealthy.Store(true)
	tick <- time.Time{}    // unhealthy: no ping
	sigs <- syscall.SIGHUP // taken once the tick is handled
	f.unhealthy.Store(false)
	if got := nextNotify(t, sock); len(got) != 2 || got[0] != "RELOADING=1" || !strings.HasPrefix(got[1], "MONOTONIC_USEC=") {
		t.Errorf("reload began with %q, want RELOADING=1 (an unhealthy tick pings nothing)", got)
	}
	if got := nextNotify(t, sock); len(got) != 2 || got[0] != "READY=1" || !strings.HasPrefix(got[1], "STATUS=reloaded /etc/keepalived/keepalived.conf at ") {
		t.Errorf("good reload ended with %q, want READY=1 and STATUS=reloaded ...", got)
	}

	f.reloadErr = &director.ConfigError{Diagnostics: []director.Diagnostic{
		{Pos: keepalived.Pos{File: "/etc/keepalived/keepalived.conf", Line: 4, Col: 14}, Msg: "priority banana"}, {Msg: "no interface"}}}
	sigs <- syscall.SIGHUP
	if got := nextNotify(t, sock); got[0] != "RELOADING=1" {
		t.Errorf("bad reload began with %q", got)
	}
	want := []string{"READY=1", "STATUS=reload failed, previous configuration still running: /etc/keepalived/keepalived.conf:4:14: priority banana (and 1 more)"}
	if got := nextNotify(t, sock); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("bad reload ended with %q, want %q", got, want)
	}

	for _, sig := range []os.Signal{sigData, sigStats, sigJSON} {
		sigs <- sig
	}
	sigs <- syscall.SIGHUP // handled after the dumps: they are done when it is
	nextNotify(t, sock)
	nextNotify(t, sock)
	f.mu.Lock()
	if strings.Join(f.dumps, ",") != "data,stats,json" {
		t.Errorf("dumps written: %v, want data,stats,json", f.dumps)
	}
	f.mu.Unlock()

	cancel()
	if got := nextNotify(t, sock); len(got) != 1 || got[0] != "STOPPING=1" {
		t.Errorf("stop sent %q, want STOPPING=1", got)
	}
	runErr <- nil
	if err := <-done; err != nil {
		t.Errorf("loop = %v", err)
	}
}

// A director that fails to start ends the loop with its error and a
// STATUS= saying so.
func TestServiceStartFailure(t *testing.T) {
	sock := sdnotifytest.Listen(t)
	f := &fakeDirector{started: make(chan struct{})}
	s := &service{d: f, n: sdnotify.New(), log: slog.New(slog.DiscardHandler), clock: clock.Wall{}}
	runErr := make(chan error, 1)
	runErr <- errors.New("listen for metrics: address in use")
	err := s.loop(context.Background(), nil, nil, runErr)
	if err == nil || !strings.Contains(err.Error(), "address in use") {
		t.Errorf("loop = %v", err)
	}
	if got := nextNotify(t, sock); len(got) != 1 || got[0] != "STATUS=failed: listen for metrics: address in use" {
		t.Errorf("sent %q", got)
	}
}

// Under the journal the log lines carry a syslog priority prefix and no
// time of their own; elsewhere they keep their time.
func TestJournalLogger(t *testing.T) {
	var b strings.Builder
	log := newLogger(&b, slog.LevelDebug, true).With("component", "vrrp")
	log.Info("vrrp transition", "to", "MASTER")
	log.Warn("reload rejected")
	log.Error("director failed")
	log.Debug("detail")
	want := "<6>level=INFO msg=\"vrrp transition\" component=vrrp to=MASTER\n" +
		"<4>level=WARN msg=\"reload rejected\" component=vrrp\n" +
		"<3>level=ERROR msg=\"director failed\" component=vrrp\n" +
		"<7>level=DEBUG msg=detail component=vrrp\n"
	if b.String() != want {
		t.Errorf("journal log:\n%s\nwant:\n%s", b.String(), want)
	}

	b.Reset()
	newLogger(&b, slog.LevelInfo, false).Info("hello")
	if !strings.HasPrefix(b.String(), "time=") {
		t.Errorf("log outside the journal: %q, want a time", b.String())
	}
	newLogger(io.Discard, slog.LevelInfo, true).Debug("not enabled")
}
