package vrrp

import (
	"context"
	"net/netip"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/goleak"
)

// syncPair is one router with a sync group of two instances, one on each
// of two segments ("seg1", "seg2"), each segment with its own address so
// that one link can be cut (MemNet.SetDown) without the other.
type syncPair struct {
	m1, m2 *simRouter
	g      *SyncGroup
	trans  chan Transition
	seen   []State     // group states notified, by groupStates
	up1    atomic.Bool // the tracker of link 1 (the instance's interface)
}

var (
	syncVIP1 = netip.MustParsePrefix("10.0.1.100/32")
	syncVIP2 = netip.MustParsePrefix("10.0.2.100/32")
)

func newSyncPair(s *sim, name string, host byte, prio int, initial State) *syncPair {
	t := s.t
	t.Helper()
	p := &syncPair{trans: make(chan Transition, 256)}
	p.up1.Store(true)
	link1 := TrackFunc(10*time.Millisecond, func(context.Context) error {
		if p.up1.Load() {
			return nil
		}
		return context.Canceled
	})
	p.m1 = s.start(netip.AddrFrom4([4]byte{10, 0, 1, host}).String(), Config{Name: name + "1", Interface: "seg1", VRID: 1,
		Priority: prio, InitialState: initial, VIPs: []VIP{{Prefix: syncVIP1}},
		Trackers: []Track{{Name: "seg1", Tracker: link1}}})
	p.m2 = s.start(netip.AddrFrom4([4]byte{10, 0, 2, host}).String(), Config{Name: name + "2", Interface: "seg2", VRID: 2,
		Priority: prio, InitialState: initial, VIPs: []VIP{{Prefix: syncVIP2}}})
	g, err := NewSyncGroup("G"+name, Notify{Chan: p.trans}, nil, p.m1.inst, p.m2.inst)
	if err != nil {
		t.Fatal(err)
	}
	p.g = g
	return p
}

func (p *syncPair) run() {
	p.m1.run()
	p.m2.run()
}

func (p *syncPair) stop(t *testing.T) {
	p.m1.stop(t)
	p.m2.stop(t)
	p.g.Close()
}

func (p *syncPair) states() (State, State) { return p.m1.inst.State(), p.m2.inst.State() }

// groupStates returns the group's notifications so far, oldest first.
func (p *syncPair) groupStates() []State {
	for {
		select {
		case tr := <-p.trans:
			if tr.Group {
				p.seen = append(p.seen, tr.To)
			}
		default:
			return p.seen
		}
	}
}

// holders counts the pairs holding vip.
func holders(vip netip.Prefix, ps ...*syncPair) int {
	n := 0
	for _, p := range ps {
		if p.m1.net.has(vip) || p.m2.net.has(vip) {
			n++
		}
	}
	return n
}

// TestSimSyncGroupKeepalivedRules runs two routers, A (priority 200) and
// B (100), each with a sync group of two instances on two segments, and
// pins each of keepalived 2.2's group transitions.
func TestSimSyncGroupKeepalivedRules(t *testing.T) {
	defer goleak.VerifyNone(t)
	synctest.Test(t, func(t *testing.T) {
		s := newSim(t)
		a := newSyncPair(s, "a", 1, 200, 0)
		b := newSyncPair(s, "b", 2, 100, 0)
		a.run()
		defer a.stop(t)
		b.run()
		defer b.stop(t)
		both := func(p *syncPair, s State) func() bool {
			return func() bool { x, y := p.states(); return x == s && y == s }
		}
		// Never both routers holding one VIP.
		atMostOne := func() bool { return holders(syncVIP1, a, b) <= 1 && holders(syncVIP2, a, b) <= 1 }

		s.waitFor("A master on both, B backup on both", 3*time.Second, func() bool {
			return both(a, StateMaster)() && both(b, StateBackup)() && a.m1.net.has(syncVIP1) && a.m2.net.has(syncVIP2)
		})
		if got := a.g.State(); got != StateMaster {
			t.Errorf("group A state %v, want MASTER", got)
		}
		if got := b.g.State(); got != StateBackup {
			t.Errorf("group B state %v, want BACKUP", got)
		}

		// 1. Prefer BACKUP: cut A's link 1 only, its tracker still up. B's
		// instance 1 times out and wants MASTER, but its partner still hears
		// A on segment 2 and wants BACKUP, so B stays BACKUP on both
		// (the old "first master pulls the others" rule made B1 master here).
		s.net.SetDown(netip.MustParseAddr("10.0.1.1"), true)
		// On the fake clock a state that comes and goes within one instant
		// is never seen by a poll: the group's notifications tell it.
		bSeen := len(b.groupStates())
		s.hold("B backup on both while A2 advertises", 600*time.Millisecond, func() bool {
			return both(b, StateBackup)() && atMostOne()
		})
		if moved := b.groupStates()[bSeen:]; len(moved) > 0 {
			t.Fatalf("group B moved to %v while A2 advertised", moved)
		}
		if got := b.m1.inst.Status().State; got != StateBackup {
			t.Fatalf("B1 %v", got)
		}

		// 2. FAULT moves the group: A's link-1 tracker goes down: A1 FAULT,
		// A2 forced to FAULT (priority 0 on segment 2), B2 wants MASTER at
		// once, B1 after its timer, and then B takes both.
		a.up1.Store(false)
		s.waitFor("A FAULT on both, B master on both", 3*time.Second, func() bool {
			return both(a, StateFault)() && both(b, StateMaster)() && b.m1.net.has(syncVIP1) && b.m2.net.has(syncVIP2)
		})
		if !atMostOne() || holders(syncVIP1, a, b) != 1 || holders(syncVIP2, a, b) != 1 {
			t.Fatalf("VIPs not on exactly one router")
		}
		if got := a.g.State(); got != StateFault {
			t.Errorf("group A state %v, want FAULT", got)
		}

		// 3. A recovers: the group leaves FAULT for BACKUP on both members,
		// then preempts B (higher priority) on both; B's master that hears
		// the higher priority steps down and pulls its partner to BACKUP.
		s.net.SetDown(netip.MustParseAddr("10.0.1.1"), false)
		a.up1.Store(true)
		s.waitFor("A master on both again, B backup", 3*time.Second, func() bool {
			return both(a, StateMaster)() && both(b, StateBackup)() && a.m1.net.has(syncVIP1) && a.m2.net.has(syncVIP2) &&
				holders(syncVIP1, a, b) == 1 && holders(syncVIP2, a, b) == 1
		})
		wantSeq := func(got []State, want ...State) bool {
			for _, s := range got {
				if len(want) > 0 && s == want[0] {
					want = want[1:]
				}
			}
			return len(want) == 0
		}
		if g := a.groupStates(); !wantSeq(g, StateMaster, StateFault, StateBackup, StateMaster) {
			t.Errorf("group A notified %v, want MASTER, FAULT, BACKUP, MASTER in that order", g)
		}
		if g := b.groupStates(); !wantSeq(g, StateMaster, StateBackup) {
			t.Errorf("group B notified %v, want MASTER then BACKUP", g)
		}

		// 4. A higher priority router C appears on segment 2 only: A2 hears
		// it and steps down, pulling A1 to BACKUP without priority 0. Then no
		// one takes VIP 1: A1 and B1 time out wanting MASTER, but their
		// partners hear C and want BACKUP (keepalived prefers BACKUP).
		c := s.start("10.0.2.3", Config{Name: "c2", Interface: "seg2", VRID: 2, Priority: 250, VIPs: []VIP{{Prefix: syncVIP2}}})
		c.run()
		defer c.stop(t)
		s.waitFor("C master on segment 2, A and B backup on both", 3*time.Second, func() bool {
			return c.inst.State() == StateMaster && both(a, StateBackup)() && both(b, StateBackup)()
		})
		aSeen, bSeen := len(a.groupStates()), len(b.groupStates())
		s.hold("VIP 1 held by no one while C holds segment 2", 600*time.Millisecond, func() bool {
			return holders(syncVIP1, a, b) == 0 && both(a, StateBackup)() && both(b, StateBackup)()
		})
		if moved := append(a.groupStates()[aSeen:], b.groupStates()[bSeen:]...); len(moved) > 0 {
			t.Fatalf("groups moved to %v while C held segment 2", moved)
		}
		if got := a.g.State(); got != StateBackup {
			t.Errorf("group A state %v, want BACKUP", got)
		}
	})
}

// TestSimSyncGroupStateMaster: members configured "state MASTER" (priority
// below 255) start as BACKUP like any other; the group then goes MASTER
// as one, and the InitialState MASTER default priority is 255.
func TestSimSyncGroupStateMaster(t *testing.T) {
	defer goleak.VerifyNone(t)
	synctest.Test(t, func(t *testing.T) {
		s := newSim(t)
		a := newSyncPair(s, "a", 1, 150, StateMaster)
		a.run()
		defer a.stop(t)
		if s1, s2 := a.states(); s1 == StateMaster || s2 == StateMaster {
			t.Fatalf("state MASTER members started as %v/%v", s1, s2)
		}
		s.waitFor("A master on both", 3*time.Second, func() bool {
			x, y := a.states()
			return x == StateMaster && y == StateMaster
		})
		r := s.start("10.0.3.1", Config{Name: "x", Interface: "seg3", VRID: 3, InitialState: StateMaster})
		if got := r.inst.cfg.Priority; got != PriorityOwner {
			t.Errorf("state MASTER without a priority: priority %d, want 255", got)
		}
	})
}
