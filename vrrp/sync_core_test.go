package vrrp

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// fakeGate is a sync group seen from one member: allow says whether the
// other members all want MASTER; wants records what the member reported.
type fakeGate struct {
	allow bool
	group State
	wants []State
}

func (f *fakeGate) setWant(s State)   { f.wants = append(f.wants, s) }
func (f *fakeGate) canGoMaster() bool { return f.group == StateMaster || f.allow }
func (f *fakeGate) state() State      { return f.group }

// syncStep is a step plus the wantstates the core must have reported.
type syncStep struct {
	step
	allow bool // the gate's answer from this step on
	wants []State
	want  State // the core's wantstate after the step
}

func runSyncSteps(t *testing.T, cfg coreConfig, p uint8, g *fakeGate, steps []syncStep) {
	t.Helper()
	c := newCore(cfg, p)
	c.sync = g
	for i, s := range steps {
		g.allow = s.allow
		g.wants = nil
		checkStep(t, i, c, s.step, s.event(c, t0.Add(s.at)))
		if diff := cmp.Diff(s.wants, g.wants); diff != "" {
			t.Fatalf("step %d %q: wantstates reported (-want +got):\n%s", i, s.name, diff)
		}
		if c.want != s.want {
			t.Fatalf("step %d %q: wantstate %v, want %v", i, s.name, c.want, s.want)
		}
	}
}

// TestCoreSyncGroup pins keepalived 2.2's sync group rules as the core
// sees them, to the microsecond, with version 2, advert_int 1s, priority
// 100 (skew 609.375ms, master down 3.609375s).
func TestCoreSyncGroup(t *testing.T) {
	s := time.Second
	ms := time.Millisecond
	down := 3609375 * us
	tests := []struct {
		name  string
		cfg   func() coreConfig
		prio  uint8
		group State
		steps []syncStep
	}{
		{"held in backup until every member wants master", v2cfg, 100, StateBackup, []syncStep{
			{step: step{name: "start", event: start(), want: []action{tr(StateInit, StateBackup)},
				state: StateBackup, down: down, adver: -1}, want: StateBackup},
			// vrrp_goto_master: wants MASTER; vrrp_sync_can_goto_master
			// says no, so the down timer restarts (ms_down_timer).
			{step: step{name: "down timer, others want backup", at: down, event: tick(),
				state: StateBackup, down: 2 * down, adver: -1}, wants: []State{StateMaster}, want: StateMaster},
			// vrrp_state_backup: an accepted advert makes it want BACKUP.
			{step: step{name: "advert from a higher master", at: 4 * s, event: adv(150, s, "10.0.0.9"),
				state: StateBackup, down: 4*s + down, adver: -1}, wants: []State{StateBackup}, want: StateBackup},
			{step: step{name: "down timer, still refused", at: 4*s + down, event: tick(),
				state: StateBackup, down: 4*s + 2*down, adver: -1}, wants: []State{StateMaster}, want: StateMaster},
			// A lower advert is discarded under preempt: the wantstate stays.
			{step: step{name: "lower advert discarded", at: 8 * s, event: adv(50, s, "10.0.0.9"),
				state: StateBackup, down: 4*s + 2*down, adver: -1}, want: StateMaster},
			// Now every other member wants MASTER.
			{step: step{name: "down timer, allowed", at: 4*s + 2*down, event: tick(),
				want:  []action{send(100), addVIPs, announce(5), tr(StateBackup, StateMaster)},
				state: StateMaster, down: -1, adver: 4*s + 2*down + s}, allow: true, wants: []State{StateMaster}, want: StateMaster},
			// A higher advert: wants BACKUP and steps down.
			{step: step{name: "higher advert", at: 13 * s, event: adv(200, s, "10.0.0.9"),
				want:  []action{delVIPs, tr(StateMaster, StateBackup)},
				state: StateBackup, down: 13*s + down, adver: -1}, wants: []State{StateBackup}, want: StateBackup},
			// Priority 0 moves the timer to the skew time, the wantstate stays.
			{step: step{name: "priority 0", at: 14 * s, event: adv(0, s, "10.0.0.9"),
				state: StateBackup, down: 14*s + 609375*us, adver: -1}, want: StateBackup},
			{step: step{name: "fault", at: 15 * s, event: prio(100, true),
				want: []action{tr(StateBackup, StateFault)}, state: StateFault, down: -1, adver: -1},
				wants: []State{StateFault}, want: StateFault},
			// try_up_instance: not an owner, so it wants BACKUP.
			{step: step{name: "fault cleared", at: 16 * s, event: prio(100, false),
				want: []action{tr(StateFault, StateBackup)}, state: StateBackup, down: 16*s + down, adver: -1},
				wants: []State{StateBackup}, want: StateBackup},
		}},
		{"group already master lets it go", v2cfg, 100, StateMaster, []syncStep{
			{step: step{name: "start", event: start(), want: []action{tr(StateInit, StateBackup)},
				state: StateBackup, down: down, adver: -1}, want: StateBackup},
			{step: step{name: "down timer", at: down, event: tick(),
				want:  []action{send(100), addVIPs, announce(5), tr(StateBackup, StateMaster)},
				state: StateMaster, down: -1, adver: down + s}, wants: []State{StateMaster}, want: StateMaster},
		}},
		// An owner in a group that is not all owners starts as backup,
		// with the short first timeout, and then needs the group's consent.
		{"owner in a mixed group", func() coreConfig { c := v3cfg(); c.owner = true; return c }, 255, StateBackup, []syncStep{
			{step: step{name: "start", event: start(), want: []action{tr(StateInit, StateBackup)},
				state: StateBackup, down: 100390 * us, adver: -1}, want: StateMaster},
			{step: step{name: "down timer, refused", at: 101 * ms, event: tick(),
				state: StateBackup, down: 101*ms + 300390*us, adver: -1}, wants: []State{StateMaster}, want: StateMaster},
		}},
		{"owners only: the group starts master", func() coreConfig { c := v3cfg(); c.owner = true; return c }, 255, StateMaster, []syncStep{
			{step: step{name: "start", event: start(),
				want:  []action{send(255), addVIPs, announce(5), tr(StateInit, StateMaster)},
				state: StateMaster, down: -1, adver: 100 * ms}, want: StateMaster},
		}},
		// A member whose group goes MASTER is forced there; one whose group
		// goes BACKUP leaves MASTER without sending priority 0.
		{"forced by the group", v2cfg, 100, StateBackup, []syncStep{
			{step: step{name: "start", event: start(), want: []action{tr(StateInit, StateBackup)},
				state: StateBackup, down: down, adver: -1}, want: StateBackup},
			{step: step{name: "force master", at: s, event: func(c *core, now time.Time) []action { return c.force(now, StateMaster) },
				want:  []action{send(100), addVIPs, announce(5), tr(StateBackup, StateMaster)},
				state: StateMaster, down: -1, adver: 2 * s}, want: StateMaster},
			{step: step{name: "force backup", at: 3 * s, event: func(c *core, now time.Time) []action { return c.force(now, StateBackup) },
				want:  []action{delVIPs, tr(StateMaster, StateBackup)},
				state: StateBackup, down: 3*s + down, adver: -1}, want: StateBackup},
			{step: step{name: "group fault", at: 4 * s, event: func(c *core, now time.Time) []action { return c.setGroupFault(now, true) },
				want:  []action{tr(StateBackup, StateFault)},
				state: StateFault, down: -1, adver: -1}, wants: []State{StateFault}, want: StateFault},
			{step: step{name: "group fault released", at: 5 * s, event: func(c *core, now time.Time) []action { return c.setGroupFault(now, false) },
				want:  []action{tr(StateFault, StateBackup)},
				state: StateBackup, down: 5*s + down, adver: -1}, wants: []State{StateBackup}, want: StateBackup},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			runSyncSteps(t, tt.cfg(), tt.prio, &fakeGate{group: tt.group}, tt.steps)
		})
	}
}

// TestInitialState pins what keepalived 2.2.7 does with "state": MASTER
// makes an unset priority 255 (the owner, which starts as master) and
// clears nopreempt and preempt_delay; for a non-owner it changes neither
// the wantstate nor the startup timer (measured against keepalived 2.2.7:
// a sync group of "state MASTER" members took over after 3 x advert_int +
// skew, not one advert interval).
func TestInitialState(t *testing.T) {
	base := Config{Interface: "eth0", VRID: 1, VIPs: []VIP{{Prefix: simVIP}}, Network: newFakeNet(), Transport: NewMemNet().Transport(simVIP.Addr())}
	type res struct {
		Priority     int
		NoPreempt    bool
		PreemptDelay time.Duration
		Want         State
		Owner        bool
	}
	for _, tt := range []struct {
		name string
		cfg  func(c *Config)
		want res
	}{
		{"MASTER without priority is the owner", func(c *Config) { c.InitialState = StateMaster }, res{255, false, 0, StateMaster, true}},
		{"MASTER clears nopreempt and preempt_delay", func(c *Config) {
			c.InitialState, c.Priority, c.NoPreempt, c.PreemptDelay = StateMaster, 150, true, 5*time.Second
		}, res{150, false, 0, StateBackup, false}},
		{"BACKUP keeps them", func(c *Config) {
			c.InitialState, c.Priority, c.NoPreempt, c.PreemptDelay = StateBackup, 150, true, 5*time.Second
		}, res{150, true, 5 * time.Second, StateBackup, false}},
		{"unset, priority 255", func(c *Config) { c.Priority = 255 }, res{255, false, 0, StateMaster, true}},
		{"unset", func(c *Config) {}, res{100, false, 0, StateBackup, false}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := base
			tt.cfg(&c)
			r, err := c.resolve()
			if err != nil {
				t.Fatal(err)
			}
			cc := r.coreConfig(simVIP.Addr())
			got := res{r.Priority, r.NoPreempt, r.PreemptDelay, newCore(cc, uint8(r.Priority)).want, cc.owner}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
	c := base
	c.InitialState = StateFault
	if _, err := c.resolve(); err == nil {
		t.Errorf("InitialState FAULT accepted")
	}
}
