package vrrp

import (
	"context"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"go.uber.org/goleak"

	"github.com/lvskit/lvskit/clock/clocktest"
)

// fakeNet records what an instance did to its host.
type fakeNet struct {
	mu        sync.Mutex
	addrs     map[netip.Prefix]string // prefix -> label
	announced int
}

func newFakeNet() *fakeNet { return &fakeNet{addrs: map[netip.Prefix]string{}} }

func (f *fakeNet) AddAddress(_ context.Context, a Address) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.addrs[a.Prefix] = a.Label
	return nil
}

func (f *fakeNet) DeleteAddress(_ context.Context, a Address) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.addrs, a.Prefix)
	return nil
}

func (f *fakeNet) Announce(_ context.Context, a Announcement) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.announced += a.Count * len(a.Addrs)
	return nil
}

func (f *fakeNet) has(p netip.Prefix) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	_, ok := f.addrs[p]
	return ok
}

type simRouter struct {
	inst   *Instance
	net    *fakeNet
	addr   netip.Addr
	cancel context.CancelFunc
	done   chan error
}

func (r *simRouter) stop(t *testing.T) {
	t.Helper()
	if r.cancel == nil {
		return
	}
	r.cancel()
	if err := <-r.done; err != nil {
		t.Errorf("Run: %v", err)
	}
	r.cancel = nil
}

var simVIP = netip.MustParsePrefix("10.0.0.100/32")

// sim is a simulated network of routers (MemNet) whose instances and
// trackers all run on one fake clock. It lives in a testing/synctest
// bubble: the clock moves from timer to timer, and only once every
// goroutine of the simulation waits (synctest.Wait), so what happens
// between two timers has happened in full before the test looks, however
// busy the machine is.
type sim struct {
	t   *testing.T
	net *MemNet
	clk *clocktest.Clock
}

var simEpoch = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// newSim must be called inside a synctest bubble (synctest.Test).
func newSim(t *testing.T) *sim {
	return &sim{t: t, net: NewMemNet(), clk: clocktest.New(simEpoch)}
}

// start makes an instance at addr on the simulated network, on the
// simulation's clock, with test defaults for what cfg leaves zero.
func (s *sim) start(addr string, cfg Config) *simRouter {
	t := s.t
	t.Helper()
	r := &simRouter{net: newFakeNet(), addr: netip.MustParseAddr(addr), done: make(chan error, 1)}
	if cfg.Interface == "" {
		cfg.Interface = "lan"
	}
	if cfg.VRID == 0 {
		cfg.VRID = 7
	}
	if cfg.Version == 0 {
		cfg.Version = 3
	}
	if cfg.AdvertInterval == 0 {
		cfg.AdvertInterval = 50 * time.Millisecond
	}
	if len(cfg.VIPs) == 0 {
		cfg.VIPs = []VIP{{Prefix: simVIP, Label: "lan:1"}}
	}
	cfg.Network = r.net
	cfg.Transport = s.net.Transport(r.addr)
	cfg.Clock = s.clk
	inst, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	r.inst = inst
	return r
}

func (r *simRouter) run() {
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go func() { r.done <- r.inst.Run(ctx) }()
}

// waitFor moves the fake clock from timer to timer until cond holds, and
// fails the test when it does not within d of fake time.
func (s *sim) waitFor(what string, d time.Duration, cond func() bool) {
	s.t.Helper()
	start := s.clk.Now()
	end := start.Add(d)
	for {
		synctest.Wait()
		if cond() {
			return
		}
		next, ok := s.clk.Next()
		if !ok || next.After(end) {
			s.t.Fatalf("%s: not within %v (fake time)", what, d)
		}
		s.clk.AdvanceToNext()
	}
}

// hold moves the fake clock through d, from timer to timer, and fails the
// test at the first instant cond does not hold.
func (s *sim) hold(what string, d time.Duration, cond func() bool) {
	s.t.Helper()
	start := s.clk.Now()
	end := start.Add(d)
	for {
		synctest.Wait()
		if !cond() {
			s.t.Fatalf("%s stopped holding %v into %v (fake time)", what, s.clk.Now().Sub(start), d)
		}
		next, ok := s.clk.Next()
		if !ok || next.After(end) {
			s.clk.Advance(end.Sub(s.clk.Now()))
			synctest.Wait()
			if !cond() {
				s.t.Fatalf("%s stopped holding at the end of %v (fake time)", what, d)
			}
			return
		}
		s.clk.AdvanceToNext()
	}
}

func masters(rs ...*simRouter) []*simRouter {
	var m []*simRouter
	for _, r := range rs {
		if r.inst.State() == StateMaster {
			m = append(m, r)
		}
	}
	return m
}

// vipHolders counts routers holding the VIP.
func vipHolders(rs ...*simRouter) int {
	n := 0
	for _, r := range rs {
		if r.net.has(simVIP) {
			n++
		}
	}
	return n
}

func TestSimElectionFailoverPartition(t *testing.T) {
	defer goleak.VerifyNone(t)
	synctest.Test(t, func(t *testing.T) {
		s := newSim(t)
		m := NewMetrics()
		r1 := s.start("10.0.0.1", Config{Priority: 100, Metrics: m, Name: "r1"})
		r2 := s.start("10.0.0.2", Config{Priority: 150, Metrics: m, Name: "r2"})
		r3 := s.start("10.0.0.3", Config{Priority: 200, Metrics: m, Name: "r3"})
		all := []*simRouter{r1, r2, r3}
		for _, r := range all {
			r.run()
			defer r.stop(t)
		}
		steady := func(want *simRouter) func() bool {
			return func() bool {
				ms := masters(all...)
				return len(ms) == 1 && ms[0] == want && vipHolders(all...) == 1 && want.net.has(simVIP)
			}
		}
		s.waitFor("r3 master", 3*time.Second, steady(r3))
		if got := r3.net.announced; got == 0 {
			t.Errorf("master sent no announcements")
		}
		s.waitFor("r1 sees r3 as master", time.Second, func() bool {
			st := r1.inst.Status()
			return st.State == StateBackup && st.Master == r3.addr
		})

		// Partition r3 away: the rest elect r2; heal: r3 preempts again and
		// r2 steps down, leaving one master.
		s.net.SetDown(r3.addr, true)
		s.waitFor("r2 master while r3 is cut off", 3*time.Second, func() bool { return r2.inst.State() == StateMaster })
		s.net.SetDown(r3.addr, false)
		s.waitFor("one master after heal", 3*time.Second, steady(r3))

		// Graceful stop of r3: r2 takes over after its skew time.
		r3.stop(t)
		if r3.net.has(simVIP) {
			t.Errorf("stopped master kept the VIP")
		}
		s.waitFor("r2 master after r3 stopped", 3*time.Second, func() bool {
			return r2.inst.State() == StateMaster && vipHolders(all...) == 1
		})
		if got := value(m.received.WithLabelValues("r1")); got == 0 {
			t.Errorf("r1 received no adverts")
		}
		if got := value(m.transitions.WithLabelValues("r3", "MASTER", "INIT")); got != 1 {
			t.Errorf("r3 MASTER->INIT transitions = %v, want 1", got)
		}
	})
}

func TestSimDropsByReason(t *testing.T) {
	defer goleak.VerifyNone(t)
	synctest.Test(t, func(t *testing.T) {
		s := newSim(t)
		s.net.SetHopLimit(254)
		m := NewMetrics()
		r1 := s.start("10.0.0.1", Config{Priority: 100, Metrics: m, Name: "r1"})
		r2 := s.start("10.0.0.2", Config{Priority: 200, Metrics: m, Name: "r2"})
		r1.run()
		defer r1.stop(t)
		r2.run()
		defer r2.stop(t)
		// With every packet at hop limit 254 both become master and count drops.
		s.waitFor("ttl drops", 3*time.Second, func() bool {
			return value(m.drops.WithLabelValues("r1", string(ReasonTTL))) > 0
		})
		s.waitFor("two masters when every advert is dropped", 3*time.Second, func() bool { return len(masters(r1, r2)) == 2 })
		s.net.SetHopLimit(255)
		s.waitFor("r2 sole master", 3*time.Second, func() bool { return len(masters(r1, r2)) == 1 && r2.inst.State() == StateMaster })
	})
}

func TestSimVRIDMismatchAndAuth(t *testing.T) {
	defer goleak.VerifyNone(t)
	synctest.Test(t, func(t *testing.T) {
		s := newSim(t)
		m := NewMetrics()
		a := s.start("10.0.0.1", Config{Version: 2, AdvertInterval: time.Second, AuthPass: "right", Priority: 100, Metrics: m, Name: "a"})
		b := s.start("10.0.0.2", Config{Version: 2, AdvertInterval: time.Second, AuthPass: "wrong", Priority: 255, Metrics: m, Name: "b"})
		a.run()
		defer a.stop(t)
		b.run()
		defer b.stop(t)
		s.waitFor("auth drops", 3*time.Second, func() bool {
			return value(m.drops.WithLabelValues("a", string(ReasonAuth))) > 0
		})
	})
}

func TestSimTrackersAndSyncGroup(t *testing.T) {
	defer goleak.VerifyNone(t)
	synctest.Test(t, func(t *testing.T) {
		s := newSim(t)
		var healthy atomic.Bool
		healthy.Store(true)
		// The tracker runs on the instance's clock (the simulation's).
		check := TrackFunc(20*time.Millisecond, func(context.Context) error {
			if healthy.Load() {
				return nil
			}
			return context.DeadlineExceeded
		})
		transitions := make(chan Transition, 64)
		a := s.start("10.0.0.1", Config{Name: "a", VRID: 1, Priority: 200,
			Trackers: []Track{{Name: "svc", Tracker: check, Weight: 0}}})
		b := s.start("10.0.0.1", Config{Name: "b", VRID: 2, Priority: 200, VIPs: []VIP{{Prefix: netip.MustParsePrefix("10.0.0.101/32")}}})
		g, err := NewSyncGroup("G", Notify{Chan: transitions}, nil, a.inst, b.inst)
		if err != nil {
			t.Fatal(err)
		}
		defer g.Close()
		peerA := s.start("10.0.0.2", Config{Name: "pa", VRID: 1, Priority: 100})
		peerB := s.start("10.0.0.2", Config{Name: "pb", VRID: 2, Priority: 100, VIPs: []VIP{{Prefix: netip.MustParsePrefix("10.0.0.101/32")}}})
		for _, r := range []*simRouter{a, b, peerA, peerB} {
			r.run()
			defer r.stop(t)
		}
		s.waitFor("a and b master", 3*time.Second, func() bool {
			return a.inst.State() == StateMaster && b.inst.State() == StateMaster
		})
		healthy.Store(false)
		s.waitFor("both FAULT, peers master", 3*time.Second, func() bool {
			return a.inst.State() == StateFault && b.inst.State() == StateFault &&
				peerA.inst.State() == StateMaster && peerB.inst.State() == StateMaster
		})
		healthy.Store(true)
		s.waitFor("both master again", 3*time.Second, func() bool {
			return a.inst.State() == StateMaster && b.inst.State() == StateMaster &&
				peerA.inst.State() == StateBackup && peerB.inst.State() == StateBackup
		})
		var sawFault bool
		for len(transitions) > 0 {
			tr := <-transitions
			if tr.Group && tr.To == StateFault {
				sawFault = true
			}
		}
		if !sawFault {
			t.Errorf("group notify did not report FAULT")
		}
	})
}

func TestEffectivePriority(t *testing.T) {
	tracks := []Track{{Weight: 10}, {Weight: -20}, {Weight: 0}}
	tests := []struct {
		base      int
		up        []bool
		wantPrio  uint8
		wantFault bool
	}{
		{100, []bool{true, true, true}, 110, false},
		{100, []bool{false, false, true}, 80, false},
		{250, []bool{true, true, true}, 254, false},
		{10, []bool{false, false, true}, 1, false},
		{100, []bool{true, true, false}, 110, true},
		{255, []bool{false, false, true}, 255, false},
	}
	for _, tt := range tests {
		p, f := effectivePriority(tt.base, tracks, tt.up, nil)
		if p != tt.wantPrio || f != tt.wantFault {
			t.Errorf("effectivePriority(%d, %v) = %d, %v; want %d, %v", tt.base, tt.up, p, f, tt.wantPrio, tt.wantFault)
		}
	}
}

func TestConfigErrors(t *testing.T) {
	base := func() Config {
		return Config{Interface: "eth0", VRID: 1, VIPs: []VIP{{Prefix: simVIP}}, Network: newFakeNet(), Transport: NewMemNet().Transport()}
	}
	tests := []struct {
		name string
		mod  func(c *Config)
	}{
		{"no interface", func(c *Config) { c.Interface = "" }},
		{"vrid 0", func(c *Config) { c.VRID = 0 }},
		{"mixed families", func(c *Config) { c.VIPs = append(c.VIPs, VIP{Prefix: netip.MustParsePrefix("fd00::1/128")}) }},
		{"v2 ipv6", func(c *Config) { c.Version = 2; c.VIPs = []VIP{{Prefix: netip.MustParsePrefix("fd00::1/128")}} }},
		{"unicast without peers", func(c *Config) { c.Unicast = true }},
		{"long password", func(c *Config) { c.AuthPass = "123456789" }},
		{"v3 password", func(c *Config) { c.Version = 3; c.AuthPass = "x" }},
		{"v2 sub-second", func(c *Config) { c.AdvertInterval = 100 * time.Millisecond }},
		{"priority 300", func(c *Config) { c.Priority = 300 }},
		{"no network", func(c *Config) { c.Network = nil }},
		{"routes without RouteNetwork", func(c *Config) { c.Routes = []Route{{Dst: netip.MustParsePrefix("10.1.0.0/16")}} }},
		{"vmac without VMACNetwork", func(c *Config) { c.UseVMAC = true }},
		{"no_accept without AcceptNetwork", func(c *Config) { c.NoAccept = true }},
		{"AH without a key", func(c *Config) { c.AuthType = AuthAH }},
		{"unknown auth type", func(c *Config) { c.AuthType = 3; c.AuthPass = "x" }},
		{"file tracker with a weight", func(c *Config) { c.Trackers = []Track{{Tracker: TrackFile(FileConfig{Path: "/x"}), Weight: 5}} }},
		{"file weight 255", func(c *Config) { c.Trackers = []Track{{Tracker: TrackFile(FileConfig{Path: "/x", Weight: 255})}} }},
	}
	if _, err := New(base()); err != nil {
		t.Fatalf("base config: %v", err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := base()
			tt.mod(&c)
			if _, err := New(c); err == nil {
				t.Errorf("New accepted the config")
			}
		})
	}
}

// value reads a counter or gauge.
func value(m prometheus.Metric) float64 {
	var d dto.Metric
	if err := m.Write(&d); err != nil {
		panic(err)
	}
	if d.Counter != nil {
		return d.Counter.GetValue()
	}
	return d.Gauge.GetValue()
}

func TestMetricsRegister(t *testing.T) {
	m := NewMetrics()
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(m); err != nil {
		t.Fatal(err)
	}
	im := m.instance("VI_1")
	im.drop(ReasonTTL)
	im.transition(StateBackup, StateMaster)
	im.advertSent(0)
	im.advertReceived(100)
	im.priority(100)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, mf := range mfs {
		names = append(names, mf.GetName())
	}
	want := []string{"lvskit_vrrp_adverts_received_total", "lvskit_vrrp_adverts_sent_total", "lvskit_vrrp_drops_total",
		"lvskit_vrrp_effective_priority", "lvskit_vrrp_state", "lvskit_vrrp_transitions_total"}
	if diff := cmp.Diff(want, names); diff != "" {
		t.Errorf("metric names (-want +got):\n%s", diff)
	}
	if got := value(m.state.WithLabelValues("VI_1")); got != float64(StateMaster) {
		t.Errorf("state gauge %v, want %v", got, float64(StateMaster))
	}
}

// fullNet is a fake Network with routes, VMAC and no_accept support.
type fullNet struct {
	*fakeNet
	routes  map[netip.Prefix]bool
	vmacs   map[string]string // name -> MAC
	blocked map[netip.Addr]bool
	links   map[netip.Prefix]string
}

func (f *fullNet) AddAddress(ctx context.Context, a Address) error {
	f.mu.Lock()
	f.links[a.Prefix] = a.Link
	f.mu.Unlock()
	return f.fakeNet.AddAddress(ctx, a)
}
func (f *fullNet) AddRoute(_ context.Context, r Route) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.routes[r.Dst] = true
	return nil
}
func (f *fullNet) DeleteRoute(_ context.Context, r Route) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.routes, r.Dst)
	return nil
}
func (f *fullNet) CreateVMAC(_ context.Context, v VMAC) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.vmacs[v.Name] = v.MAC.String()
	return nil
}
func (f *fullNet) DeleteVMAC(_ context.Context, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.vmacs, name)
	return nil
}
func (f *fullNet) BlockAddresses(addrs []netip.Addr) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, a := range addrs {
		f.blocked[a] = true
	}
	return nil
}
func (f *fullNet) UnblockAddresses(addrs []netip.Addr) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, a := range addrs {
		delete(f.blocked, a)
	}
	return nil
}

func TestSimRoutesVMACNoAccept(t *testing.T) {
	defer goleak.VerifyNone(t)
	synctest.Test(t, func(t *testing.T) {
		s := newSim(t)
		fn := &fullNet{fakeNet: newFakeNet(), routes: map[netip.Prefix]bool{}, vmacs: map[string]string{},
			blocked: map[netip.Addr]bool{}, links: map[netip.Prefix]string{}}
		route := netip.MustParsePrefix("10.9.0.0/16")
		inst, err := New(Config{Interface: "lan", VRID: 7, Version: 3, AdvertInterval: 20 * time.Millisecond,
			VIPs: []VIP{{Prefix: simVIP}}, Routes: []Route{{Dst: route, Link: "lan"}}, UseVMAC: true, NoAccept: true,
			Network: fn, Transport: s.net.Transport(netip.MustParseAddr("10.0.0.1")), Clock: s.clk})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- inst.Run(ctx) }()
		s.waitFor("master", 3*time.Second, func() bool { return inst.State() == StateMaster })
		fn.mu.Lock()
		if fn.vmacs["vrrp.7"] != "00:00:5e:00:01:07" || fn.links[simVIP] != "vrrp.7" || !fn.routes[route] || !fn.blocked[simVIP.Addr()] {
			t.Errorf("as master: vmacs %v, VIP link %q, routes %v, blocked %v", fn.vmacs, fn.links[simVIP], fn.routes, fn.blocked)
		}
		fn.mu.Unlock()
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if len(fn.vmacs) != 0 || len(fn.routes) != 0 || len(fn.blocked) != 0 || fn.has(simVIP) {
			t.Errorf("after stop: vmacs %v, routes %v, blocked %v, VIP held %v", fn.vmacs, fn.routes, fn.blocked, fn.has(simVIP))
		}
	})
}
