package vrrp

import (
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/goleak"
)

// TestSimAH: instances with AH authentication elect a master among
// themselves; one with another key drops every advert (reason "auth") and
// one with PASS hears nobody (AH is another IP protocol). A master that
// restarts counts its sequence numbers from 1 again, but starts as a
// backup and takes up the number of the master that took over before it
// sends: it preempts with a number past it, accepted there.
func TestSimAH(t *testing.T) {
	defer goleak.VerifyNone(t)
	synctest.Test(t, func(t *testing.T) {
		s := newSim(t)
		m := NewMetrics()
		ah := func(name, pass string, prio int) Config {
			return Config{Name: name, Version: 2, AdvertInterval: time.Second, AuthType: AuthAH, AuthPass: pass, Priority: prio, Metrics: m}
		}
		r1 := s.start("10.0.0.1", ah("r1", "key", 100))
		r2 := s.start("10.0.0.2", ah("r2", "key", 200))
		wrong := s.start("10.0.0.3", ah("wrong", "other", 50))
		pass := s.start("10.0.0.4", Config{Name: "pass", Version: 2, AdvertInterval: time.Second, AuthPass: "key", Priority: 50, Metrics: m})
		for _, r := range []*simRouter{r1, r2, wrong, pass} {
			r.run()
			defer r.stop(t)
		}
		s.waitFor("r2 master, r1 backup", 10*time.Second, func() bool {
			return r2.inst.State() == StateMaster && r1.inst.State() == StateBackup
		})
		s.waitFor("wrong key dropped", 5*time.Second, func() bool {
			return value(m.drops.WithLabelValues("wrong", string(ReasonAuth))) > 0 && wrong.inst.State() == StateMaster
		})
		// PASS and AH travel on different IP protocols: the PASS instance
		// hears nobody, as a keepalived with PASS would not.
		s.waitFor("pass alone", 5*time.Second, func() bool { return pass.inst.State() == StateMaster })
		s.hold("r2 stays master", 5*time.Second, func() bool {
			return r2.inst.State() == StateMaster && r1.inst.State() == StateBackup
		})
		if n := value(m.drops.WithLabelValues("r1", string(ReasonAHReplay))); n != 0 {
			t.Errorf("r1 dropped %v adverts of a steady master as replays", n)
		}

		// Restart r2: a fresh instance counts from 1 again.
		r2.stop(t)
		s.waitFor("r1 master", 10*time.Second, func() bool { return r1.inst.State() == StateMaster })
		s.hold("r1 master a while", 5*time.Second, func() bool { return r1.inst.State() == StateMaster })
		r2b := s.start("10.0.0.2", ah("r2", "key", 200))
		r2b.run()
		defer r2b.stop(t)
		s.waitFor("restarted r2 master again, r1 backup", 30*time.Second, func() bool {
			return r2b.inst.State() == StateMaster && r1.inst.State() == StateBackup
		})
		s.hold("r2 stays master after the restart", 5*time.Second, func() bool {
			return r2b.inst.State() == StateMaster && r1.inst.State() == StateBackup
		})
		for _, n := range []string{"r1", "r2"} {
			if d := value(m.drops.WithLabelValues(n, string(ReasonAHReplay))); d != 0 {
				t.Errorf("%s dropped %v adverts as replays", n, d)
			}
		}

		// An address owner starts as master, sending from 1 again: r1,
		// master meanwhile, drops those as replays, while the owner takes
		// up r1's number from r1's adverts and its next ones pass.
		r2b.stop(t)
		s.waitFor("r1 master", 10*time.Second, func() bool { return r1.inst.State() == StateMaster })
		s.hold("r1 master a while", 5*time.Second, func() bool { return r1.inst.State() == StateMaster })
		owner := s.start("10.0.0.2", ah("owner", "key", 255))
		owner.run()
		defer owner.stop(t)
		s.waitFor("owner master, r1 backup", 10*time.Second, func() bool {
			return owner.inst.State() == StateMaster && r1.inst.State() == StateBackup
		})
		if d := value(m.drops.WithLabelValues("r1", string(ReasonAHReplay))); d == 0 {
			t.Error("r1 took a restarted owner's first sequence numbers")
		}
	})
}
