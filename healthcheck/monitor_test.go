package healthcheck_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/lvskit/lvskit/clock/clocktest"
	"github.com/lvskit/lvskit/healthcheck"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// step is one scripted probe: its result and how long it takes.
type step struct {
	err    error
	took   time.Duration
	weight healthcheck.Weight
}

var errProbe = errors.New("connection refused")

func ok() step                      { return step{} }
func fail() step                    { return step{err: errProbe} }
func slowFail(d time.Duration) step { return step{err: errProbe, took: d} }

// script replays steps on a fake clock and records when each probe
// started. Embed one of the package's checkers to take on its kind.
type script struct {
	clock *clocktest.Clock
	steps []step

	mu     sync.Mutex
	n      int
	starts []time.Duration
}

func (s *script) CheckWeight(ctx context.Context) (healthcheck.Weight, error) {
	s.mu.Lock()
	st := ok()
	if s.n < len(s.steps) {
		st = s.steps[s.n]
	}
	s.n++
	s.starts = append(s.starts, s.clock.Now().Sub(t0))
	s.mu.Unlock()
	if st.took > 0 {
		s.clock.Advance(st.took) // no timer is pending while a probe runs
	}
	return st.weight, st.err
}

func (s *script) Check(ctx context.Context) error { _, err := s.CheckWeight(ctx); return err }

type tcpScript struct {
	*healthcheck.TCPChecker
	*script
}

func (s tcpScript) Check(ctx context.Context) error { return s.script.Check(ctx) }

type httpScript struct {
	*healthcheck.HTTPChecker
	*script
}

func (s httpScript) Check(ctx context.Context) error { return s.script.Check(ctx) }

type dnsScript struct {
	*healthcheck.DNSChecker
	*script
}

func (s dnsScript) Check(ctx context.Context) error { return s.script.Check(ctx) }

type miscScript struct {
	*healthcheck.MiscChecker
	*script
}

func (s miscScript) Check(ctx context.Context) error { return s.script.Check(ctx) }
func (s miscScript) CheckWeight(ctx context.Context) (healthcheck.Weight, error) {
	return s.script.CheckWeight(ctx)
}

// ev is an Event reduced to what the tables pin.
type ev struct {
	At     time.Duration
	Up     bool
	Weight healthcheck.Weight
	Err    string
}

func sec(f float64) time.Duration { return time.Duration(f * float64(time.Second)) }

func secs(fs ...float64) []time.Duration {
	out := make([]time.Duration, len(fs))
	for i, f := range fs {
		out[i] = sec(f)
	}
	return out
}

// runMonitor runs a monitor over the script until it has started probes
// probes, and returns when each started and the events it sent.
func runMonitor(t *testing.T, kind string, p healthcheck.Policy, steps []step, probes int, rnd func(time.Duration) time.Duration) ([]time.Duration, []ev) {
	t.Helper()
	clock := clocktest.New(t0)
	s := &script{clock: clock, steps: steps}
	var c healthcheck.Checker
	switch kind {
	case "generic":
		c = s
	case "tcp":
		c = tcpScript{&healthcheck.TCPChecker{}, s}
	case "http":
		c = httpScript{&healthcheck.HTTPChecker{}, s}
	case "dns":
		c = dnsScript{&healthcheck.DNSChecker{}, s}
	case "misc":
		c = miscScript{&healthcheck.MiscChecker{}, s}
	default:
		t.Fatalf("unknown kind %s", kind)
	}
	if got := healthcheck.KindOf(c); got != kind {
		t.Fatalf("KindOf = %s, want %s", got, kind)
	}
	var mu sync.Mutex
	var events []ev
	m, err := healthcheck.NewMonitor(healthcheck.MonitorConfig{
		Name: "rs1", Checker: c, Policy: p, Clock: clock, Rand: rnd,
		OnEvent: func(e healthcheck.Event) {
			mu.Lock()
			defer mu.Unlock()
			x := ev{At: e.Time.Sub(t0), Up: e.Up, Weight: e.Weight}
			if e.Err != nil {
				x.Err = e.Err.Error()
			}
			events = append(events, x)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error)
	go func() { done <- m.Run(ctx) }()
	for range probes {
		clock.BlockUntil(1)
		clock.AdvanceToNext()
	}
	clock.BlockUntil(1) // the last probe is over and the next is scheduled
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	return s.starts, events
}

func down(at float64) ev { return ev{At: sec(at), Up: false, Err: errProbe.Error()} }
func up(at float64) ev   { return ev{At: sec(at), Up: true} }

func noWarmup(p healthcheck.Policy) healthcheck.Policy { p.Warmup = -1; return p }

// TestMonitorPolicy pins the start of every probe and the time of every
// transition, for keepalived's policy: delay_loop 10 s, delay_before_retry
// 2 s, bootstrap 1 s, no warmup unless said.
func TestMonitorPolicy(t *testing.T) {
	base := noWarmup(healthcheck.Policy{DelayLoop: 10 * time.Second, DelayBeforeRetry: 2 * time.Second})
	with := func(f func(*healthcheck.Policy)) healthcheck.Policy { p := base; f(&p); return p }

	tests := []struct {
		name       string
		kind       string
		policy     healthcheck.Policy
		rand       func(time.Duration) time.Duration
		steps      []step
		probes     int
		wantStarts []time.Duration
		wantEvents []ev
	}{
		{
			name: "healthy target: a probe every delay_loop, no event",
			kind: "tcp", policy: base, steps: []step{ok(), ok(), ok()}, probes: 3,
			wantStarts: secs(1, 11, 21),
		},
		{
			name: "first failure takes it down at once, one success brings it back",
			kind: "tcp", policy: base, steps: []step{fail(), ok()}, probes: 2,
			wantStarts: secs(1, 11),
			wantEvents: []ev{down(1), up(11)},
		},
		{
			name: "retry 1: down after the retry fails; http stops retrying while down",
			kind: "http", policy: base, steps: []step{ok(), fail(), fail(), fail(), ok()}, probes: 5,
			wantStarts: secs(1, 11, 13, 23, 33),
			wantEvents: []ev{down(13), up(33)},
		},
		{
			name: "tcp keeps retrying while down, as tcp_epilog does",
			kind: "tcp", policy: base, steps: []step{ok(), fail(), fail(), fail(), fail(), ok()}, probes: 6,
			wantStarts: secs(1, 11, 13, 23, 25, 35),
			wantEvents: []ev{down(13), up(35)},
		},
		{
			name: "retry 3 and a success in between resets the count",
			kind: "tcp", policy: with(func(p *healthcheck.Policy) { p.Retry = 3 }),
			steps:  []step{ok(), fail(), fail(), ok(), fail(), fail(), fail(), fail()},
			probes: 8,
			// ok@1, fail@11, fail@13, ok@15, fail@25, 27, 29, 31 → down at 31.
			wantStarts: secs(1, 11, 13, 15, 25, 27, 29, 31),
			wantEvents: []ev{down(31)},
		},
		{
			name: "NoRetry: the first failure after a success is final",
			kind: "tcp", policy: with(func(p *healthcheck.Policy) { p.Retry = healthcheck.NoRetry }),
			steps: []step{ok(), fail(), ok()}, probes: 3,
			wantStarts: secs(1, 11, 21),
			wantEvents: []ev{down(11), up(21)},
		},
		{
			name: "a timed-out probe: detection when the retry's timeout ends",
			kind: "tcp", policy: with(func(p *healthcheck.Policy) { p.ConnectTimeout = 5 * time.Second }),
			steps:  []step{ok(), slowFail(5 * time.Second), slowFail(5 * time.Second), ok()},
			probes: 4,
			// fail@11 ends 16, retry@18 ends 23 → down at 23, next at 33.
			wantStarts: secs(1, 11, 18, 33),
			wantEvents: []ev{down(23), up(33)},
		},
		{
			name: "alpha: starts down, first success brings it up",
			kind: "tcp", policy: with(func(p *healthcheck.Policy) { p.Alpha = true }),
			steps: []step{ok(), ok()}, probes: 2,
			wantStarts: secs(1, 11),
			wantEvents: []ev{up(1)},
		},
		{
			name: "alpha and failing: stays down silently, probes every delay_loop",
			kind: "http", policy: with(func(p *healthcheck.Policy) { p.Alpha = true }),
			steps: []step{fail(), fail(), ok()}, probes: 3,
			wantStarts: secs(1, 11, 21),
			wantEvents: []ev{up(21)},
		},
		{
			name: "warmup: first probe after bootstrap plus the random part",
			kind: "tcp", policy: with(func(p *healthcheck.Policy) { p.Warmup = 4 * time.Second }),
			rand: func(n time.Duration) time.Duration {
				if n != 4*time.Second {
					panic(fmt.Sprintf("rand(%v), want rand(4s)", n))
				}
				return 3500 * time.Millisecond
			},
			steps: []step{ok(), ok()}, probes: 2,
			wantStarts: secs(4.5, 14.5),
		},
		{
			name: "default warmup is delay_loop",
			kind: "tcp", policy: with(func(p *healthcheck.Policy) { p.Warmup = 0 }),
			rand: func(n time.Duration) time.Duration {
				if n != 10*time.Second {
					panic(fmt.Sprintf("rand(%v), want rand(10s)", n))
				}
				return 9 * time.Second
			},
			steps: []step{ok()}, probes: 1,
			wantStarts: secs(10),
		},
		{
			name: "no bootstrap",
			kind: "tcp", policy: with(func(p *healthcheck.Policy) { p.Bootstrap = -1 }),
			// The first probe needs no clock advance, so one advance
			// sees two probes.
			steps: []step{ok(), ok()}, probes: 1,
			wantStarts: secs(0, 10),
		},
		{
			name: "http waits max(delay_before_retry, delay_loop) after the final failure",
			kind: "http", policy: with(func(p *healthcheck.Policy) { p.DelayBeforeRetry = 15 * time.Second }),
			steps: []step{ok(), fail(), fail(), fail()}, probes: 4,
			wantStarts: secs(1, 11, 26, 41),
			wantEvents: []ev{down(26)},
		},
		{
			name: "http default delay_before_retry is 3 s",
			kind: "http", policy: noWarmup(healthcheck.Policy{DelayLoop: 10 * time.Second}),
			steps: []step{ok(), fail(), fail()}, probes: 3,
			wantStarts: secs(1, 11, 14),
			wantEvents: []ev{down(14)},
		},
		{
			name: "dns defaults: retry 3, delay_before_retry = delay_loop",
			kind: "dns", policy: noWarmup(healthcheck.Policy{DelayLoop: 10 * time.Second}),
			steps: []step{ok(), fail(), fail(), fail(), fail()}, probes: 5,
			wantStarts: secs(1, 11, 21, 31, 41),
			wantEvents: []ev{down(41)},
		},
		{
			name: "misc: default retry 0, next probe timed from the last start",
			kind: "misc", policy: base,
			steps:  []step{{took: 3 * time.Second}, {err: errProbe, took: 3 * time.Second}, ok()},
			probes: 3,
			// ok@1 (ends 4) → next 11; fail@11 (ends 14) → down at 14, next 21.
			wantStarts: secs(1, 11, 21),
			wantEvents: []ev{down(14), up(21)},
		},
		{
			name: "misc_dynamic weight changes are events",
			kind: "misc", policy: base,
			steps: []step{
				{weight: healthcheck.Weight{Kind: healthcheck.WeightAbsolute, Value: 5}},
				{weight: healthcheck.Weight{Kind: healthcheck.WeightAbsolute, Value: 5}},
				{weight: healthcheck.Weight{Kind: healthcheck.WeightConfigured}},
			},
			probes:     3,
			wantStarts: secs(1, 11, 21),
			wantEvents: []ev{
				{At: sec(1), Up: true, Weight: healthcheck.Weight{Kind: healthcheck.WeightAbsolute, Value: 5}},
				{At: sec(21), Up: true, Weight: healthcheck.Weight{Kind: healthcheck.WeightConfigured}},
			},
		},
		{
			name: "rise 3 (extension): three successes in a row to come back",
			kind: "tcp", policy: with(func(p *healthcheck.Policy) { p.Rise = 3 }),
			steps: []step{ok(), fail(), fail(), ok(), ok(), fail(), ok(), ok(), ok()}, probes: 9,
			// ok@1, fail@11, retry@13 fail → down 13; tcp retries while
			// down: ok@23 (1), ok@33 (2), fail@43 → retry 45 ok (1),
			// ok@55 (2), ok@65 (3) → up at 65.
			wantStarts: secs(1, 11, 13, 23, 33, 43, 45, 55, 65),
			wantEvents: []ev{down(13), up(65)},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rnd := tt.rand
			if rnd == nil {
				rnd = func(time.Duration) time.Duration { panic("rand called without warmup") }
			}
			starts, events := runMonitor(t, tt.kind, tt.policy, tt.steps, tt.probes, rnd)
			if diff := cmp.Diff(tt.wantStarts, starts); diff != "" {
				t.Errorf("probe start times (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantEvents, events); diff != "" {
				t.Errorf("events (-want +got):\n%s", diff)
			}
		})
	}
}

func TestMonitorRunsOnce(t *testing.T) {
	clock := clocktest.New(t0)
	m, err := healthcheck.NewMonitor(healthcheck.MonitorConfig{Checker: &script{clock: clock}, Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error)
	go func() { done <- m.Run(ctx) }()
	clock.BlockUntil(1)
	if err := m.Run(ctx); err == nil {
		t.Error("second Run: no error")
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run after cancel: %v, want nil", err)
	}
}

func TestNewMonitorNeedsChecker(t *testing.T) {
	if _, err := healthcheck.NewMonitor(healthcheck.MonitorConfig{}); err == nil {
		t.Error("no error without a checker")
	}
}

// blocking is a checker that waits for its context to end, reporting that
// it started and why it ended.
type blocking struct {
	started chan struct{}
	ended   chan error
}

func (b *blocking) Check(ctx context.Context) error {
	b.started <- struct{}{}
	<-ctx.Done()
	b.ended <- context.Cause(ctx)
	return ctx.Err()
}

// TestMonitorCancelsProbeInFlight shows a probe in flight ends when the
// monitor's context ends and when Stop is called, long before its own
// timeout (an hour here): probes take their context from the monitor's
// without registering with it, and the monitor cancels them itself.
func TestMonitorCancelsProbeInFlight(t *testing.T) {
	for _, how := range []string{"context", "stop"} {
		t.Run(how, func(t *testing.T) {
			clock := clocktest.New(t0)
			b := &blocking{started: make(chan struct{}), ended: make(chan error, 1)}
			m, err := healthcheck.NewMonitor(healthcheck.MonitorConfig{Checker: b, Clock: clock,
				Policy: healthcheck.Policy{ConnectTimeout: time.Hour, Warmup: -1}})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			if err := m.Start(ctx); err != nil {
				t.Fatal(err)
			}
			clock.BlockUntil(1)
			clock.Advance(time.Hour) // past any first delay: the first probe starts
			<-b.started
			if how == "context" {
				cancel()
			} else {
				go m.Stop()
			}
			if err := <-b.ended; !errors.Is(err, context.Canceled) {
				t.Errorf("probe ended with %v, want %v", err, context.Canceled)
			}
			m.Stop()
		})
	}
}
