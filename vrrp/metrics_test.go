package vrrp

import (
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
)

// Stats count what keepalived counts per instance: adverts, priority-0
// adverts among them, transitions into and out of MASTER (a stop is
// neither), and drops by reason.
func TestMetricsStats(t *testing.T) {
	m := NewMetrics()
	im := m.instance("VI_1")
	im.transition(StateInit, StateBackup)
	im.transition(StateBackup, StateMaster)
	im.advertSent(100)
	im.advertSent(100)
	im.transition(StateMaster, StateBackup)
	im.transition(StateBackup, StateMaster)
	im.advertSent(0)
	im.transition(StateMaster, StateInit) // a stop
	im.advertReceived(90)
	im.advertReceived(0)
	im.drop(ReasonTTL)
	im.drop(ReasonTTL)
	im.drop(ReasonAuth)
	// A restarted instance of the same name counts on.
	m.instance("VI_1").advertSent(100)

	want := Stats{AdvertsSent: 4, AdvertsReceived: 2, PriorityZeroSent: 1, PriorityZeroReceived: 1,
		BecameMaster: 2, LeftMaster: 1, Transitions: 5, Drops: map[DropReason]uint64{ReasonTTL: 2, ReasonAuth: 1}}
	got := m.Stats("VI_1")
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Stats (-want +got):\n%s", diff)
	}
	got.Drops[ReasonTTL] = 99 // a copy: the caller cannot change the counts
	if m.Stats("VI_1").Drops[ReasonTTL] != 2 {
		t.Error("Stats returned the live map")
	}
	if diff := cmp.Diff(Stats{}, m.Stats("other")); diff != "" {
		t.Errorf("Stats of an unknown instance (-want +got):\n%s", diff)
	}
	var none *Metrics
	if diff := cmp.Diff(Stats{}, none.Stats("VI_1")); diff != "" {
		t.Errorf("nil Metrics' Stats (-want +got):\n%s", diff)
	}
}

// A master that stops sends priority 0; the backup counts it received.
func TestMetricsStatsPriorityZero(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newSim(t)
		met := NewMetrics()
		master := s.start("10.0.0.1", Config{Name: "M", Priority: 200, Metrics: met})
		backup := s.start("10.0.0.2", Config{Name: "B", Priority: 100, Metrics: met})
		master.run()
		backup.run()
		t.Cleanup(func() { master.stop(t); backup.stop(t) })
		s.waitFor("M master and B backup", 10*time.Second, func() bool {
			return master.inst.State() == StateMaster && backup.inst.State() == StateBackup
		})
		master.stop(t)
		s.waitFor("B to count the priority-0 advert", 10*time.Second, func() bool {
			return met.Stats("B").PriorityZeroReceived >= 1
		})
		m := met.Stats("M")
		if m.PriorityZeroSent < 1 || m.BecameMaster != 1 || m.LeftMaster != 0 || m.AdvertsSent <= m.PriorityZeroSent {
			t.Errorf("M's stats after a graceful stop: %+v", m)
		}
	})
}
