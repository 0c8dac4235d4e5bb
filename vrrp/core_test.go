package vrrp

import (
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

const us = time.Microsecond

// step is one event fed to the core and what must follow from it. Timer
// expectations are offsets from t0 checked to the microsecond; -1 means
// the timer must be stopped.
type step struct {
	name     string
	at       time.Duration
	event    func(c *core, now time.Time) []action
	want     []action
	state    State
	down     time.Duration
	adver    time.Duration
	interval time.Duration // expected masterAdverInterval, 0 = don't check
}

func start() func(*core, time.Time) []action {
	return func(c *core, now time.Time) []action { return c.start(now) }
}
func tick() func(*core, time.Time) []action {
	return func(c *core, now time.Time) []action { return c.tick(now) }
}
func adv(prio uint8, iv time.Duration, src string) func(*core, time.Time) []action {
	return func(c *core, now time.Time) []action {
		return c.advert(now, received{Priority: prio, Interval: iv, Src: netip.MustParseAddr(src)})
	}
}
func prio(p uint8, fault bool) func(*core, time.Time) []action {
	return func(c *core, now time.Time) []action { return c.setPriority(now, p, fault) }
}
func stopEv() func(*core, time.Time) []action {
	return func(c *core, now time.Time) []action { return c.stop(now) }
}

func tr(from, to State) action { return action{Kind: actTransition, From: from, To: to} }
func send(p uint8) action      { return action{Kind: actSendAdvert, Priority: p} }
func announce(n int) action    { return action{Kind: actAnnounce, Count: n} }

// answered is the note that an advert of priority p is answered, after
// unanswered others.
func answered(p uint8, unanswered int) action {
	return action{Kind: actLowerAnswered, Priority: p, Count: unanswered}
}

var (
	addVIPs = action{Kind: actAddVIPs}
	delVIPs = action{Kind: actRemoveVIPs}
)

func offset(t time.Time) time.Duration {
	if t.IsZero() {
		return -1
	}
	return t.Sub(t0).Truncate(us)
}

func runSteps(t *testing.T, cfg coreConfig, p uint8, steps []step) {
	t.Helper()
	c := newCore(cfg, p)
	for i, s := range steps {
		checkStep(t, i, c, s, s.event(c, t0.Add(s.at)))
	}
}

// checkStep compares the core after step i with what the step expects:
// the actions it returned, its state and its timers.
func checkStep(t *testing.T, i int, c *core, s step, got []action) {
	t.Helper()
	if diff := cmp.Diff(s.want, got); diff != "" {
		t.Fatalf("step %d %q: actions (-want +got):\n%s", i, s.name, diff)
	}
	if c.state != s.state {
		t.Fatalf("step %d %q: state %v, want %v", i, s.name, c.state, s.state)
	}
	if got := offset(c.downAt); got != s.down {
		t.Fatalf("step %d %q: master down timer at %v, want %v", i, s.name, got, s.down)
	}
	if got := offset(c.adverAt); got != s.adver {
		t.Fatalf("step %d %q: advert timer at %v, want %v", i, s.name, got, s.adver)
	}
	if s.interval != 0 && c.masterAdverInterval != s.interval {
		t.Fatalf("step %d %q: Master_Adver_Interval %v, want %v", i, s.name, c.masterAdverInterval, s.interval)
	}
}

func v2cfg() coreConfig {
	return coreConfig{
		version: 2, interval: time.Second, preempt: true,
		primary: netip.MustParseAddr("10.0.0.2"), garpRepeat: 5, garpDelay: 5 * time.Second,
		garpLowerRepeat: 0,
	}
}

func v3cfg() coreConfig {
	c := v2cfg()
	c.version = 3
	c.interval = 100 * time.Millisecond
	c.garpDelay = 0
	return c
}

func TestSkewAndMasterDown(t *testing.T) {
	tests := []struct {
		name       string
		version    int
		prio       uint8
		interval   time.Duration
		skew, down time.Duration
	}{
		// RFC 3768: Skew_Time = (256 - Priority) / 256 seconds.
		{"v2 prio 100", 2, 100, time.Second, 609375 * us, 3609375 * us},
		{"v2 prio 254", 2, 254, time.Second, 7812500 * time.Nanosecond, 3007812500 * time.Nanosecond},
		{"v2 prio 1 advert 2s", 2, 1, 2 * time.Second, 996093750 * time.Nanosecond, 6996093750 * time.Nanosecond},
		// RFC 5798: Skew_Time = ((256 - Priority) * Master_Adver_Interval) / 256.
		{"v3 prio 100 100ms", 3, 100, 100 * time.Millisecond, 60937500 * time.Nanosecond, 360937500 * time.Nanosecond},
		{"v3 prio 200 1s", 3, 200, time.Second, 218750 * us, 3218750 * us},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newCore(coreConfig{version: tt.version, interval: tt.interval}, tt.prio)
			if got := c.skew(); got != tt.skew {
				t.Errorf("skew = %v, want %v", got, tt.skew)
			}
			if got := c.masterDownInterval(); got != tt.down {
				t.Errorf("master down = %v, want %v", got, tt.down)
			}
		})
	}
}

func TestCoreSteps(t *testing.T) {
	s := time.Second
	ms := time.Millisecond
	tests := []struct {
		name  string
		cfg   func() coreConfig
		prio  uint8
		steps []step
	}{
		{
			name: "v2 backup takes over after master down interval",
			cfg:  v2cfg, prio: 100,
			steps: []step{
				{"startup", 0, start(), []action{tr(StateInit, StateBackup)}, StateBackup, 3609375 * us, -1, 0},
				{"early tick does nothing", 3609374 * us, tick(), nil, StateBackup, 3609375 * us, -1, 0},
				{"master down", 3609375 * us, tick(), []action{send(100), addVIPs, announce(5), tr(StateBackup, StateMaster)}, StateMaster, -1, 4609375 * us, 0},
				{"advert timer", 4609375 * us, tick(), []action{send(100)}, StateMaster, -1, 5609375 * us, 0},
				{"garp second set after 5s", 8609375 * us, tick(), []action{send(100), announce(5)}, StateMaster, -1, 9609375 * us, 0},
			},
		},
		{
			name: "v2 higher advert keeps backup, resets down timer",
			cfg:  v2cfg, prio: 100,
			steps: []step{
				{"startup", 0, start(), []action{tr(StateInit, StateBackup)}, StateBackup, 3609375 * us, -1, 0},
				{"higher advert", 2 * s, adv(150, s, "10.0.0.9"), nil, StateBackup, 5609375 * us, -1, 0},
				{"equal advert also accepted", 3 * s, adv(100, s, "10.0.0.1"), nil, StateBackup, 6609375 * us, -1, 0},
				{"lower advert discarded (preempt)", 4 * s, adv(50, s, "10.0.0.9"), nil, StateBackup, 6609375 * us, -1, 0},
				{"priority 0: take over after skew", 5 * s, adv(0, s, "10.0.0.9"), nil, StateBackup, 5609375 * us, -1, 0},
				{"takes over", 5609375 * us, tick(), []action{send(100), addVIPs, announce(5), tr(StateBackup, StateMaster)}, StateMaster, -1, 6609375 * us, 0},
			},
		},
		{
			name: "nopreempt honours a lower master",
			cfg:  func() coreConfig { c := v2cfg(); c.preempt = false; return c }, prio: 100,
			steps: []step{
				{"startup", 0, start(), []action{tr(StateInit, StateBackup)}, StateBackup, 3609375 * us, -1, 0},
				{"lower advert resets", 1 * s, adv(50, s, "10.0.0.9"), nil, StateBackup, 4609375 * us, -1, 0},
			},
		},
		{
			name: "preempt_delay: lower master honoured for the delay, startup delayed",
			cfg:  func() coreConfig { c := v2cfg(); c.preemptDelay = 2 * s; return c }, prio: 100,
			steps: []step{
				{"startup delayed", 0, start(), []action{tr(StateInit, StateBackup)}, StateBackup, 5609375 * us, -1, 0},
				{"lower advert: delay starts", 1 * s, adv(50, s, "10.0.0.9"), nil, StateBackup, 4609375 * us, -1, 0},
				{"still within delay", 2 * s, adv(50, s, "10.0.0.9"), nil, StateBackup, 5609375 * us, -1, 0},
				{"delay over: discarded", 3 * s, adv(50, s, "10.0.0.9"), nil, StateBackup, 5609375 * us, -1, 0},
				{"preempts", 5609375 * us, tick(), []action{send(100), addVIPs, announce(5), tr(StateBackup, StateMaster)}, StateMaster, -1, 6609375 * us, 0},
			},
		},
		{
			name: "owner starts as master",
			cfg:  v2cfg, prio: 255,
			steps: []step{
				{"startup", 0, start(), []action{send(255), addVIPs, announce(5), tr(StateInit, StateMaster)}, StateMaster, -1, 1 * s, 0},
			},
		},
		{
			name: "master: ties go to the higher primary address",
			cfg:  v2cfg, prio: 255 - 155,
			steps: []step{
				{"startup", 0, start(), []action{tr(StateInit, StateBackup)}, StateBackup, 3609375 * us, -1, 0},
				{"master", 3609375 * us, tick(), []action{send(100), addVIPs, announce(5), tr(StateBackup, StateMaster)}, StateMaster, -1, 4609375 * us, 0},
				{"equal prio lower address: answer", 4 * s, adv(100, s, "10.0.0.1"), []action{answered(100, 0), send(100)}, StateMaster, -1, 5 * s, 0},
				{"lower prio within the interval: no answer", 4500 * ms, adv(90, s, "10.0.0.3"), nil, StateMaster, -1, 5 * s, 0},
				{"priority 0: answer", 4700 * ms, adv(0, s, "10.0.0.3"), []action{send(100)}, StateMaster, -1, 5700 * ms, 0},
				{"equal prio higher address: step down", 5 * s, adv(100, s, "10.0.0.3"), []action{delVIPs, tr(StateMaster, StateBackup)}, StateBackup, 8609375 * us, -1, 0},
			},
		},
		{
			name: "lower_prio_no_advert follows the RFC: discard",
			cfg:  func() coreConfig { c := v2cfg(); c.lowerPrioNoAdv = true; return c }, prio: 255,
			steps: []step{
				{"startup", 0, start(), []action{send(255), addVIPs, announce(5), tr(StateInit, StateMaster)}, StateMaster, -1, 1 * s, 0},
				{"lower advert discarded", 500 * ms, adv(100, s, "10.0.0.3"), nil, StateMaster, -1, 1 * s, 0},
			},
		},
		{
			name: "v3 backup learns the master's interval",
			cfg:  v3cfg, prio: 100,
			steps: []step{
				{"startup", 0, start(), []action{tr(StateInit, StateBackup)}, StateBackup, 360937 * us, -1, 100 * ms},
				{"master advertises every 1s", 100 * ms, adv(200, s, "10.0.0.9"), nil, StateBackup, 100*ms + 3609375*us, -1, s},
				{"priority 0: skew of the learned interval", 1100 * ms, adv(0, s, "10.0.0.9"), nil, StateBackup, 1100*ms + 609375*us, -1, s},
				{"take over, advertise at our own interval", 1100*ms + 609375*us, tick(), []action{send(100), addVIPs, announce(5), tr(StateBackup, StateMaster)}, StateMaster, -1, 1200*ms + 609375*us, 0},
				{"higher master with 50ms: step down, learn", 1300 * ms, adv(150, 50*ms, "10.0.0.1"), []action{delVIPs, tr(StateMaster, StateBackup)}, StateBackup, 1300*ms + 150*ms + 30468*us, -1, 50 * ms},
			},
		},
		{
			name: "tracker fault from master sends priority 0, recovery goes backup",
			cfg:  v2cfg, prio: 255 - 155,
			steps: []step{
				{"startup", 0, start(), []action{tr(StateInit, StateBackup)}, StateBackup, 3609375 * us, -1, 0},
				{"master", 3609375 * us, tick(), []action{send(100), addVIPs, announce(5), tr(StateBackup, StateMaster)}, StateMaster, -1, 4609375 * us, 0},
				{"priority change keeps master", 4 * s, prio(80, false), nil, StateMaster, -1, 4609375 * us, 0},
				{"advert at new priority", 4609375 * us, tick(), []action{send(80)}, StateMaster, -1, 5609375 * us, 0},
				{"fault", 5 * s, prio(80, true), []action{send(0), delVIPs, tr(StateMaster, StateFault)}, StateFault, -1, -1, 0},
				{"adverts ignored in fault", 6 * s, adv(50, s, "10.0.0.1"), nil, StateFault, -1, -1, 0},
				{"recovered", 7 * s, prio(80, false), []action{tr(StateFault, StateBackup)}, StateBackup, 7*s + 3687500*us, -1, 0},
			},
		},
		{
			name: "fault at startup",
			cfg:  v2cfg, prio: 100,
			steps: []step{
				{"fault", 0, prio(100, true), nil, StateInit, -1, -1, 0},
				{"startup", 0, start(), []action{tr(StateInit, StateFault)}, StateFault, -1, -1, 0},
			},
		},
		{
			name: "graceful stop from master",
			cfg:  v2cfg, prio: 255,
			steps: []step{
				{"startup", 0, start(), []action{send(255), addVIPs, announce(5), tr(StateInit, StateMaster)}, StateMaster, -1, 1 * s, 0},
				{"stop", 500 * ms, stopEv(), []action{send(0), delVIPs, tr(StateMaster, StateInit)}, StateInit, -1, -1, 0},
				{"stop again is a no-op", 600 * ms, stopEv(), nil, StateInit, -1, -1, 0},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { runSteps(t, tt.cfg(), tt.prio, tt.steps) })
	}
}

func TestCoreGARPRefreshAndLowerPrio(t *testing.T) {
	cfg := v2cfg()
	cfg.garpDelay = 0
	cfg.garpRefresh = 10 * time.Second
	cfg.garpRefreshRepeat = 2
	cfg.garpLowerRepeat = 3
	c := newCore(cfg, 255)
	c.start(t0)
	if got := offset(c.garpRefreshAt); got != 10*time.Second {
		t.Fatalf("refresh at %v, want 10s", got)
	}
	var got []action
	for i := 1; i <= 10; i++ {
		got = c.tick(t0.Add(time.Duration(i) * time.Second))
	}
	if diff := cmp.Diff([]action{send(255), announce(2)}, got); diff != "" {
		t.Errorf("at 10s (-want +got):\n%s", diff)
	}
	if got := offset(c.garpRefreshAt); got != 20*time.Second {
		t.Errorf("next refresh at %v, want 20s", got)
	}
	got = c.advert(t0.Add(10500*time.Millisecond), received{Priority: 100, Interval: time.Second, Src: netip.MustParseAddr("10.0.0.1")})
	if diff := cmp.Diff([]action{answered(100, 0), send(255), announce(3)}, got); diff != "" {
		t.Errorf("lower prio advert (-want +got):\n%s", diff)
	}
}

func TestCoreForce(t *testing.T) {
	c := newCore(v2cfg(), 100)
	c.start(t0)
	got := c.force(t0.Add(time.Second), StateMaster)
	if diff := cmp.Diff([]action{send(100), addVIPs, announce(5), tr(StateBackup, StateMaster)}, got); diff != "" {
		t.Errorf("force master (-want +got):\n%s", diff)
	}
	got = c.force(t0.Add(2*time.Second), StateBackup)
	if diff := cmp.Diff([]action{delVIPs, tr(StateMaster, StateBackup)}, got); diff != "" {
		t.Errorf("force backup (-want +got):\n%s", diff)
	}
	got = c.setGroupFault(t0.Add(3*time.Second), true)
	if diff := cmp.Diff([]action{tr(StateBackup, StateFault)}, got); diff != "" {
		t.Errorf("group fault (-want +got):\n%s", diff)
	}
	got = c.setGroupFault(t0.Add(4*time.Second), false)
	if diff := cmp.Diff([]action{tr(StateFault, StateBackup)}, got); diff != "" {
		t.Errorf("group fault cleared (-want +got):\n%s", diff)
	}
}
