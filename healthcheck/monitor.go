package healthcheck

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/lvskit/lvskit/clock"
	"github.com/lvskit/lvskit/internal/names"
)

// Event reports a change of a monitored target: its up/down state, or the
// weight its checker sets (MISC_CHECK misc_dynamic, FILE_CHECK).
type Event struct {
	Name   string    // MonitorConfig.Name
	Time   time.Time // when the deciding probe ended, on the Monitor's clock
	Up     bool
	Weight Weight
	// Err is the last probe's error: the reason for going down (nil when
	// up).
	Err error
}

// MonitorConfig configures a Monitor.
type MonitorConfig struct {
	// Name names the target in events, logs and metrics. Empty means
	// "<kind> <target>" from the checker.
	Name string
	// Checker probes the target. Required.
	Checker Checker
	// Policy is keepalived's timing; its zero value is keepalived's
	// defaults.
	Policy Policy
	// OnEvent, when set, is called from the Monitor's goroutine on every
	// change of state or weight. It must not block for long.
	OnEvent func(Event)
	// Clock is the time source; nil means the wall clock.
	Clock Clock
	// Rand returns a uniform random duration in [0, n) for the warmup; nil
	// means math/rand/v2.
	Rand func(n time.Duration) time.Duration
	// Logger receives transitions at Info and failed probes at Debug; nil
	// discards.
	Logger *slog.Logger
	// Metrics, when set, counts probes and records their latency and the
	// target's state.
	Metrics *Metrics
}

// Monitor runs one checker on keepalived's policy and reports transitions.
type Monitor struct {
	cfg     MonitorConfig
	p       resolved
	name    string
	timeout time.Duration

	mu      sync.Mutex // guards the state below
	m       *machine
	weight  Weight
	lastErr error
	local   int  // probes in a row that failed for a local reason
	probed  bool // a probe has been counted

	runMu    sync.Mutex // guards the scheduling below
	started  bool
	stopped  bool
	ctx      context.Context
	cancel   context.CancelFunc
	timer    Timer
	inflight sync.WaitGroup
	// probeBase is ctx without its cancellation: a probe's context
	// derives from it, so ten thousand probes a second do not register
	// and unregister with ctx (a locked map). probeCancel cancels the
	// probe in flight; Stop and the end of ctx call it.
	probeBase   context.Context
	probeCancel context.CancelFunc
	unwatch     func() bool
}

// NewMonitor validates cfg and returns a Monitor that is not yet running.
func NewMonitor(cfg MonitorConfig) (*Monitor, error) {
	if cfg.Checker == nil {
		return nil, errors.New("new monitor: no checker")
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.Wall{}
	}
	if cfg.Rand == nil {
		cfg.Rand = func(n time.Duration) time.Duration {
			if n <= 0 {
				return 0
			}
			return rand.N(n)
		}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	k := kindOf(cfg.Checker)
	p := cfg.Policy.resolve(k)
	name := cfg.Name
	if name == "" {
		name = k.name
		if s, ok := cfg.Checker.(fmt.Stringer); ok {
			name = s.String()
		}
	}
	timeout := p.timeout
	if t, ok := cfg.Checker.(interface{ probeTimeout() time.Duration }); ok {
		// MISC_CHECK: misc_timeout, or delay_loop without one.
		timeout = t.probeTimeout()
		if timeout <= 0 {
			timeout = p.delayLoop
		}
	}
	if err := names.Text(name); err != nil {
		return nil, fmt.Errorf("new monitor %q: %w", name, err)
	}
	return &Monitor{cfg: cfg, p: p, name: name, timeout: timeout, m: newMachine(p)}, nil
}

// Name returns the monitor's name.
func (m *Monitor) Name() string { return m.name }

// Up reports whether the target is up now (before the first probe: not
// Alpha).
func (m *Monitor) Up() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.m.up
}

// Probed reports whether a probe has been counted (passed or failed; a
// probe that failed for a local reason is not counted): until then Up is
// the starting state (alpha or not), not what was seen.
func (m *Monitor) Probed() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.probed
}

// State returns the current state, weight and last error.
func (m *Monitor) State() Event {
	m.mu.Lock()
	defer m.mu.Unlock()
	return Event{Name: m.name, Time: m.cfg.Clock.Now(), Up: m.m.up, Weight: m.weight, Err: m.lastErr}
}

// Run probes until ctx ends, then returns nil. A Monitor runs once.
func (m *Monitor) Run(ctx context.Context) error {
	if err := m.Start(ctx); err != nil {
		return err
	}
	<-ctx.Done()
	m.Stop()
	return nil
}

// Start begins probing in the background and returns at once. No
// goroutine waits between probes: each probe runs in a timer callback, so
// ten thousand idle monitors cost no stacks. Stop ends it; so does the end
// of ctx (call Stop anyway to wait for a probe in flight). A Monitor
// starts once.
func (m *Monitor) Start(ctx context.Context) error {
	m.runMu.Lock()
	defer m.runMu.Unlock()
	if m.started {
		return errors.New("start monitor: already started")
	}
	m.started = true
	if met := m.cfg.Metrics; met != nil {
		// Here, not in NewMonitor: building has no side effects.
		met.setState(m.name, m.Up())
	}
	m.ctx, m.cancel = context.WithCancel(ctx)
	m.probeBase = context.WithoutCancel(m.ctx)
	m.unwatch = context.AfterFunc(m.ctx, m.cancelProbe)
	first := m.p.bootstrap
	if m.p.warmup > 0 {
		first += m.cfg.Rand(m.p.warmup)
	}
	m.timer = m.cfg.Clock.AfterFunc(first, m.fire)
	return nil
}

// Stop stops probing and waits for a probe in flight. It is idempotent.
func (m *Monitor) Stop() {
	m.runMu.Lock()
	m.stopped = true
	if m.cancel != nil {
		m.cancel()
	}
	if m.timer != nil {
		m.timer.Stop()
	}
	if m.probeCancel != nil {
		m.probeCancel()
	}
	unwatch := m.unwatch
	m.runMu.Unlock()
	m.inflight.Wait()
	if unwatch != nil {
		unwatch()
	}
}

// cancelProbe cancels the probe in flight, if any.
func (m *Monitor) cancelProbe() {
	m.runMu.Lock()
	if m.probeCancel != nil {
		m.probeCancel()
	}
	m.runMu.Unlock()
}

// fire runs one probe and schedules the next.
func (m *Monitor) fire() {
	m.runMu.Lock()
	if m.stopped || m.ctx.Err() != nil {
		m.runMu.Unlock()
		return
	}
	m.inflight.Add(1)
	m.runMu.Unlock()
	defer m.inflight.Done()

	clock := m.cfg.Clock
	start := clock.Now()
	w, err := m.probe(m.ctx)
	if m.ctx.Err() != nil {
		return // a probe cut short by shutdown says nothing
	}
	end := clock.Now()
	next := m.record(start, end, w, err)
	base := end
	if m.p.kind.fromStart {
		base = start
	}
	m.runMu.Lock()
	defer m.runMu.Unlock()
	if !m.stopped && m.ctx.Err() == nil {
		m.timer = clock.AfterFunc(base.Add(next).Sub(clock.Now()), m.fire)
	}
}

func (m *Monitor) probe(ctx context.Context) (Weight, error) {
	pctx, cancel := context.WithTimeout(m.probeBase, m.timeout)
	pctx = withProbeClock(pctx, m.cfg.Clock, m.timeout)
	m.runMu.Lock()
	m.probeCancel = cancel
	if m.stopped || ctx.Err() != nil {
		cancel() // Stop or the end of ctx came first
	}
	m.runMu.Unlock()
	defer func() {
		m.runMu.Lock()
		m.probeCancel = nil
		m.runMu.Unlock()
		cancel()
	}()
	if wc, ok := m.cfg.Checker.(WeightChecker); ok {
		return wc.CheckWeight(pctx)
	}
	return Weight{}, m.cfg.Checker.Check(pctx)
}

// record feeds one result to the state machine, reports what changed and
// returns the delay before the next probe. A probe that failed for a
// local reason (IsLocal) says nothing about the target: it is counted and
// logged apart, leaves the state (and the retries left) as it was, and
// the next probe comes after delay_before_retry.
func (m *Monitor) record(start, end time.Time, w Weight, err error) time.Duration {
	local := IsLocal(err)
	if met := m.cfg.Metrics; met != nil {
		met.observe(m.p.kind.name, m.name, end.Sub(start), err, local)
	}
	m.mu.Lock()
	if local {
		m.local++
		n := m.local
		m.mu.Unlock()
		if n == 1 {
			m.cfg.Logger.Warn("probe failed for a local reason, not counted against the target", "target", m.name, "err", err)
		} else {
			m.cfg.Logger.Debug("probe failed for a local reason, not counted against the target", "target", m.name, "err", err, "in_a_row", n)
		}
		return m.p.delayBeforeRetry
	}
	recovered := m.local
	m.local = 0
	m.probed = true
	next, changed := m.m.result(err == nil)
	weightChanged := false
	if err == nil && w != m.weight {
		m.weight, weightChanged = w, true
	}
	m.lastErr = err
	ev := Event{Name: m.name, Time: end, Up: m.m.up, Weight: m.weight, Err: err}
	m.mu.Unlock()

	if recovered > 0 {
		m.cfg.Logger.Info("probes count again after local failures", "target", m.name, "local_failures", recovered)
	}
	if err != nil {
		m.cfg.Logger.Debug("probe failed", "target", m.name, "err", err)
	}
	if changed {
		if ev.Up {
			m.cfg.Logger.Info("target up", "target", m.name)
		} else {
			m.cfg.Logger.Info("target down", "target", m.name, "reason", err)
		}
		if met := m.cfg.Metrics; met != nil {
			met.setState(m.name, ev.Up)
		}
	}
	if (changed || weightChanged) && m.cfg.OnEvent != nil {
		m.cfg.OnEvent(ev)
	}
	return next
}
