package healthcheck_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sys/unix"

	"github.com/lvskit/lvskit/clock/clocktest"
	"github.com/lvskit/lvskit/healthcheck"
	"github.com/lvskit/lvskit/internal/logtest"
)

func TestIsLocal(t *testing.T) {
	dial := func(network string, errno error) error {
		return &net.OpError{Op: "dial", Net: network, Err: os.NewSyscallError("connect", errno)}
	}
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"EMFILE from socket", fmt.Errorf("tcp check x: connect: %w", os.NewSyscallError("socket", unix.EMFILE)), true},
		{"ENFILE", fmt.Errorf("x: %w", unix.ENFILE), true},
		{"ENOBUFS from sendto", fmt.Errorf("ping check x: send: %w", &net.OpError{Op: "write", Err: os.NewSyscallError("sendto", unix.ENOBUFS)}), true},
		{"ENOMEM", fmt.Errorf("x: %w", unix.ENOMEM), true},
		{"EADDRNOTAVAIL from bind", fmt.Errorf("x: bind 192.0.2.1:0: %w", unix.EADDRNOTAVAIL), true},
		{"EMFILE starting a program", fmt.Errorf("misc check x: start: %w", &os.PathError{Op: "fork/exec", Path: "/bin/true", Err: unix.EMFILE}), true},
		{"LocalError", fmt.Errorf("x: %w", &healthcheck.LocalError{Err: errors.New("whatever")}), true},
		{"no route dialing UDP", fmt.Errorf("udp check x: connect: %w", dial("udp", unix.ENETUNREACH)), true},
		{"no route dialing UDP6", dial("udp6", unix.ENETUNREACH), true},
		// A TCP connect reports ENETUNREACH also when a router on the
		// way says so: that is about the target.
		{"network unreachable connecting TCP", dial("tcp", unix.ENETUNREACH), false},
		{"connection refused", fmt.Errorf("x: %w", dial("tcp", unix.ECONNREFUSED)), false},
		{"host unreachable", dial("udp", unix.EHOSTUNREACH), false},
		{"timeout", fmt.Errorf("x: timeout: %w", context.DeadlineExceeded), false},
		{"status", errors.New("http check x/: status 503 not in [200-299]"), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := healthcheck.IsLocal(tc.err); got != tc.want {
				t.Errorf("IsLocal(%v) = %v, want %v", tc.err, got, tc.want)
			}
		})
	}
}

// localScript is a TCP_CHECK whose probes return scripted errors on a fake
// clock and record when they started.
type localScript struct {
	*healthcheck.TCPChecker
	clock *clocktest.Clock
	errs  []error
	start time.Time

	mu     sync.Mutex
	starts []time.Duration
}

func (s *localScript) Check(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := len(s.starts)
	s.starts = append(s.starts, s.clock.Now().Sub(s.start))
	if n < len(s.errs) {
		return s.errs[n]
	}
	return nil
}

// logLines returns the level and message of each line logged at min or
// above.
func logLines(rec *logtest.Recorder, min slog.Level) []string {
	var out []string
	for _, r := range rec.Records() {
		if r.Level >= min {
			out = append(out, r.Level.String()+" "+r.Message)
		}
	}
	return out
}

// probeCounts returns lvskit_healthcheck_probes_total by result for target.
func probeCounts(t *testing.T, reg *prometheus.Registry, target string) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != "lvskit_healthcheck_probes_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["target"] == target {
				out[labels["result"]] = m.GetCounter().GetValue()
			}
		}
	}
	return out
}

// TestMonitorLocalFailuresDoNotCount: probes that fail for a local reason
// (EMFILE, ENOBUFS, EADDRNOTAVAIL) neither take the target down nor use
// up a retry: with retry 1, the target goes down at the second real
// failure in a row, with a local failure in between. Each local failure
// is followed by a probe after delay_before_retry, counted under
// result="local_failure", and the first of a run logged as a warning.
func TestMonitorLocalFailuresDoNotCount(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clk := clocktest.New(start)
	emfile := fmt.Errorf("tcp check 192.0.2.1:80: connect: open socket: %w", unix.EMFILE)
	enobufs := fmt.Errorf("tcp check 192.0.2.1:80: connect: %w", os.NewSyscallError("connect", unix.ENOBUFS))
	eaddr := fmt.Errorf("tcp check 192.0.2.1:80: connect: bind 192.0.2.9:0: %w", unix.EADDRNOTAVAIL)
	refused := fmt.Errorf("tcp check 192.0.2.1:80: connect: %w", unix.ECONNREFUSED)
	s := &localScript{TCPChecker: &healthcheck.TCPChecker{}, clock: clk, start: start,
		errs: []error{emfile, nil, refused, enobufs, refused, eaddr, emfile, nil}}
	reg := prometheus.NewRegistry()
	met, err := healthcheck.NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	logs := &logtest.Recorder{}
	type event struct {
		At time.Duration
		Up bool
	}
	var mu sync.Mutex
	var events []event
	m, err := healthcheck.NewMonitor(healthcheck.MonitorConfig{
		Name: "rs1", Checker: s, Clock: clk, Metrics: met, Logger: slog.New(logs),
		Policy: healthcheck.Policy{DelayLoop: 10 * time.Second, DelayBeforeRetry: 2 * time.Second, Warmup: -1},
		OnEvent: func(e healthcheck.Event) {
			mu.Lock()
			defer mu.Unlock()
			events = append(events, event{e.Time.Sub(start), e.Up})
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	if err := m.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer m.Stop()
	for range len(s.errs) {
		clk.BlockUntil(1)
		clk.AdvanceToNext()
	}
	clk.BlockUntil(1)
	m.Stop()

	sec := func(fs ...float64) []time.Duration {
		out := make([]time.Duration, len(fs))
		for i, f := range fs {
			out[i] = time.Duration(f * float64(time.Second))
		}
		return out
	}
	// 1 EMFILE (retry in 2 s), 3 ok, 13 refused (retry), 15 ENOBUFS
	// (retry in 2 s, the retry left), 17 refused: down; 27
	// EADDRNOTAVAIL, 29 EMFILE, 31 ok: up.
	if diff := cmp.Diff(sec(1, 3, 13, 15, 17, 27, 29, 31), s.starts); diff != "" {
		t.Errorf("probe starts (-want +got):\n%s", diff)
	}
	mu.Lock()
	if diff := cmp.Diff([]event{{sec(17)[0], false}, {sec(31)[0], true}}, events); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
	mu.Unlock()
	if diff := cmp.Diff(map[string]float64{"success": 2, "failure": 2, "local_failure": 4}, probeCounts(t, reg, "rs1")); diff != "" {
		t.Errorf("probes_total by result (-want +got):\n%s", diff)
	}
	const local, again = "WARN probe failed for a local reason, not counted against the target", "INFO probes count again after local failures"
	want := []string{local, again, local, again, "INFO target down", local, again, "INFO target up"}
	// The second local failure in a row (29 s) is logged at debug only.
	if diff := cmp.Diff(want, logLines(logs, slog.LevelInfo)); diff != "" {
		t.Errorf("log lines at info and above (-want +got):\n%s", diff)
	}
}

// TestMonitorLocalFailureRealEMFILE runs a real TCP_CHECK under a limit on
// open files that leaves it no socket: the probe fails with EMFILE, which
// the monitor does not count, so the target stays up; with the limit back,
// probes succeed, and a real failure (the server gone) still takes the
// target down. It runs in a child process, whose limit it can lower without
// touching the tests running beside it.
func TestMonitorLocalFailureRealEMFILE(t *testing.T) {
	if os.Getenv("LVSKIT_TEST_EMFILE_CHILD") == "1" {
		emfileChild(t)
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestMonitorLocalFailureRealEMFILE$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), "LVSKIT_TEST_EMFILE_CHILD=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	t.Logf("child:\n%s", out)
}

func emfileChild(t *testing.T) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clk := clocktest.New(start)
	reg := prometheus.NewRegistry()
	met, err := healthcheck.NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var events []healthcheck.Event
	m, err := healthcheck.NewMonitor(healthcheck.MonitorConfig{
		Name: "rs1", Clock: clk, Metrics: met,
		Checker: &healthcheck.TCPChecker{Conn: healthcheck.Conn{Addr: netip.MustParseAddrPort(ln.Addr().String())}},
		Policy:  healthcheck.Policy{DelayLoop: 10 * time.Second, Retry: healthcheck.NoRetry, Warmup: -1},
		OnEvent: func(e healthcheck.Event) {
			mu.Lock()
			defer mu.Unlock()
			events = append(events, e)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	defer m.Stop()
	probe := func() {
		clk.BlockUntil(1)
		clk.AdvanceToNext()
		clk.BlockUntil(1) // the probe is over and the next one scheduled
	}

	// No descriptor to spare: the lowest free number is the limit.
	var old unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &old); err != nil {
		t.Fatal(err)
	}
	free, err := unix.Dup(0)
	if err != nil {
		t.Fatal(err)
	}
	unix.Close(free)
	tight := old
	tight.Cur = uint64(free)
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &tight); err != nil {
		t.Fatal(err)
	}
	probe()
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &old); err != nil {
		t.Fatal(err)
	}
	if !m.Up() {
		t.Fatalf("target down after a probe that had no socket: %+v", m.State())
	}
	if got := probeCounts(t, reg, "rs1"); got["local_failure"] != 1 || got["failure"] != 0 {
		t.Fatalf("probes by result after the EMFILE probe: %v, want one local failure", got)
	}
	probe()
	if got := probeCounts(t, reg, "rs1"); got["success"] != 1 || !m.Up() {
		t.Fatalf("probes by result with the limit back: %v, up %v; want a success", got, m.Up())
	}
	ln.Close()
	probe()
	if m.Up() || !errors.Is(m.State().Err, syscall.ECONNREFUSED) {
		t.Fatalf("after the server went away: up %v, %v; want down, connection refused", m.Up(), m.State().Err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(events) != 1 || events[0].Up {
		t.Errorf("events %+v, want one: down", events)
	}
}
