package director

import (
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/lvskit/lvskit/clock/clocktest"
	"github.com/lvskit/lvskit/internal/nslab"
	"github.com/lvskit/lvskit/ipvs"
	"github.com/lvskit/lvskit/vrrp"
)

// A fault injected into one unit: a build that fails or panics, or a
// start that panics once the unit has begun its side effects. It fires
// once, so that the units apply goes back to build and start as usual.
type fault struct {
	key   unitKey
	what  string // "build error", "build panic", "start panic"
	fired atomic.Bool
}

// wrap is a Director.wrapSpecs that puts the fault on its unit.
func (f *fault) wrap(specs []unitSpec) []unitSpec {
	out := append([]unitSpec(nil), specs...)
	for i, s := range out {
		if s.key() == f.key {
			out[i] = faultSpec{Spec: s, f: f}
		}
	}
	return out
}

// faultSpec is the spec with the fault; it compares (sameConfig) as the
// spec it wraps.
type faultSpec struct {
	Spec unitSpec
	f    *fault
}

func (s faultSpec) key() unitKey { return s.Spec.key() }

func (s faultSpec) build(d *Director, prev unit) (unit, error) {
	if !s.f.fired.Load() {
		switch s.f.what {
		case "build error":
			s.f.fired.Store(true)
			return nil, errors.New("injected build failure")
		case "build panic":
			s.f.fired.Store(true)
			panic("injected build panic")
		}
	}
	u, err := s.Spec.build(d, prev)
	if err != nil || s.f.what != "start panic" || s.f.fired.Load() {
		return u, err
	}
	return faultUnit{unit: u, f: s.f}, nil
}

// faultUnit panics in start, after the unit it wraps has started.
type faultUnit struct {
	unit
	f *fault
}

func (u faultUnit) start(ctx context.Context) {
	u.unit.start(ctx)
	u.f.fired.Store(true)
	panic("injected start panic")
}

// transitions is the number of VRRP transitions the director's metrics
// have counted.
func transitions(t *testing.T, d *Director) float64 {
	t.Helper()
	mfs, err := d.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	n := 0.0
	for _, mf := range mfs {
		if mf.GetName() == "lvskit_vrrp_transitions_total" {
			for _, m := range mf.GetMetric() {
				n += m.GetCounter().GetValue()
			}
		}
	}
	return n
}

// A reload whose new units fail to build, or panic building, changes
// nothing: the running MASTER keeps its VIP, no transition happens, the
// IPVS table is not written, and the reload counts as an error. (On main
// before issue 16, the panic ended the director with the VIP held and no
// priority-0 advert.)
func TestReloadBuildFaultChangesNothing(t *testing.T) {
	clk := clocktest.New(time.Now())
	r := startRig(t, "", nil, clk)
	r.advanceUntil(clk, 50*time.Millisecond, "MASTER with both servers in the table", bothHealthyInTable)
	inst := r.unit()
	r.backend.take()
	failed := 0
	for _, what := range []string{"build error", "build panic"} {
		for _, key := range []unitKey{{kindVRRP, "instance V"}, {kindPool, "TCP 10.0.0.9:80"}} {
			t.Run(what+" in "+key.String(), func(t *testing.T) {
				before := transitions(t, r.d)
				f := &fault{key: key, what: what}
				r.d.mu.Lock()
				r.d.wrapSpecs = f.wrap
				r.d.mu.Unlock()
				r.write(120, 2) // both the instance and the pool change
				err := r.d.Reload()
				failed++
				if err == nil || !strings.Contains(err.Error(), "injected build") {
					t.Fatalf("Reload = %v, want the injected error", err)
				}
				if ops := r.backend.take(); len(ops) != 0 {
					t.Errorf("a failed reload wrote %v", ops)
				}
				if r.unit() != inst {
					t.Error("the VRRP instance was replaced")
				}
				if n := transitions(t, r.d); n != before {
					t.Errorf("%v VRRP transitions during the failed reload", n-before)
				}
				st := r.d.Status(context.Background())
				if st.ReloadsFailed != uint64(failed) || st.VRRP[0].State != "MASTER" || st.VRRP[0].Priority != 100 || !r.net.has("10.0.0.9/24") {
					t.Errorf("after the failed reload: %+v, VIP held %v", st, r.net.has("10.0.0.9/24"))
				}
				if w := r.d.Plan().VirtualServers[0].RealServers[1].Weight; w != 1 {
					t.Errorf("running plan has weight %d, want 1", w)
				}
			})
		}
	}
}

// A unit whose start panics during a reload is stopped and the units it
// replaced run again: the reload fails, and the configuration that ran
// before it runs after it.
func TestReloadStartFaultRollsBack(t *testing.T) {
	clk := clocktest.New(time.Now())
	r := startRig(t, "", nil, clk)
	r.advanceUntil(clk, 50*time.Millisecond, "MASTER with both servers in the table", bothHealthyInTable)
	table, err := r.backend.Dump(context.Background())
	if err != nil {
		t.Fatal(err)
	}

	// The pool: it starts before the VRRP instances, so the instance is
	// not touched at all.
	inst := r.unit()
	before := transitions(t, r.d)
	f := &fault{key: unitKey{kindPool, "TCP 10.0.0.9:80"}, what: "start panic"}
	r.d.mu.Lock()
	r.d.wrapSpecs = f.wrap
	r.d.mu.Unlock()
	r.write(120, 2)
	if err := r.d.Reload(); err == nil || !strings.Contains(err.Error(), "injected start panic") {
		t.Fatalf("Reload = %v, want the injected panic", err)
	}
	if r.unit() != inst || transitions(t, r.d) != before || !r.net.has("10.0.0.9/24") {
		t.Error("the VRRP instance was touched by a reload that failed at a pool")
	}
	got, err := r.backend.Dump(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(table, got, ignorePos); diff != "" {
		t.Errorf("IPVS table after the rollback (-before +after):\n%s", diff)
	}
	if r.d.Plan().Instances[0].VRRP.Priority != 100 {
		t.Error("the running plan changed")
	}

	// The instance itself: the new one stops (it never became master),
	// the old one is built again and takes the VIP back as master.
	f = &fault{key: unitKey{kindVRRP, "instance V"}, what: "start panic"}
	r.d.mu.Lock()
	r.d.wrapSpecs = f.wrap
	r.d.mu.Unlock()
	if err := r.d.Reload(); err == nil || !strings.Contains(err.Error(), "injected start panic") {
		t.Fatalf("Reload = %v, want the injected panic", err)
	}
	st := r.d.Status(context.Background())
	if st.ReloadsFailed != 2 || st.VRRP[0].Priority != 100 {
		t.Errorf("after the failed reload: %+v", st)
	}
	r.advanceUntil(clk, 50*time.Millisecond, "the instance of before MASTER again at priority 100", func(st Status) bool {
		return st.VRRP[0].State == "MASTER" && st.VRRP[0].EffectivePriority == 100
	})
	if !r.net.has("10.0.0.9/24") {
		t.Error("VIP not held after the rollback")
	}
	if !strings.Contains(r.logs.String(), "going back to the configuration that ran before") {
		t.Error("the rollback is not logged")
	}
}

// A start that fails half-way stops what it started: the pools started
// before the VRRP instance that panics are stopped and their services
// removed, no VIP is left, and Run returns the error. A build that panics
// at start configures nothing at all.
func TestStartFaultStopsWhatStarted(t *testing.T) {
	for _, what := range []string{"start panic", "build panic"} {
		t.Run(what, func(t *testing.T) {
			clk := clocktest.New(time.Now())
			path := writeTemp(t, strings.NewReplacer("{{PRIO}}", "100", "{{W1}}", "1", "{{W2}}", "1", "{{GLOBAL}}", "",
				"{{MARK}}", "/nonexistent", "{{P1}}", "1", "{{P2}}", "2").Replace(reloadConf))
			backend, net, logs := &recordingBackend{Memory: ipvs.NewMemory()}, &fakeNetwork{}, &nslab.Buffer{}
			d, err := New(Options{ConfigPath: path, IPVS: backend, Network: net, Clock: clk,
				Transport: vrrp.NewMemNet().Transport(netip.MustParseAddr("10.0.0.1")), Logger: slog.New(slog.NewTextHandler(logs, nil))})
			if err != nil {
				t.Fatal(err)
			}
			f := &fault{key: unitKey{kindVRRP, "instance V"}, what: what}
			d.wrapSpecs = f.wrap
			err = d.Run(context.Background())
			if err == nil || !strings.Contains(err.Error(), "injected") {
				t.Fatalf("Run = %v, want the injected panic", err)
			}
			if svcs, _ := backend.Dump(context.Background()); len(svcs) != 0 || len(net.addrs) != 0 {
				t.Errorf("left configured: services %v, addresses %v", svcs, net.addrs)
			}
			ops := backend.take()
			if what == "build panic" && len(ops) != 0 {
				t.Errorf("a start whose build panicked wrote %v", ops)
			}
			if what == "start panic" && (len(ops) == 0 || ops[len(ops)-1].Kind != ipvs.DeleteService) {
				t.Errorf("the pool that started was not removed: %v", ops)
			}
			if t.Failed() {
				t.Logf("director log:\n%s", logs.String())
			}
		})
	}
}
