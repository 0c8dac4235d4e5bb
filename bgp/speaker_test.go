package bgp

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/lvskit/lvskit/clock/clocktest"
	api "github.com/osrg/gobgp/v4/api"
	"github.com/osrg/gobgp/v4/pkg/apiutil"
	gobgp "github.com/osrg/gobgp/v4/pkg/packet/bgp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/goleak"
)

// offlineConfig is a speaker that opens no socket: it does not listen, its
// one peer is passive and has no BFD. GoBGP runs for real; only the
// network is missing, so the route set, its status and the lifecycle can
// be checked in the unit tier.
func offlineConfig(clk *clocktest.Clock, m *Metrics) Config {
	return Config{
		ASN:        65001,
		RouterID:   netip.MustParseAddr("10.0.0.1"),
		ListenPort: -1,
		Peers: []Peer{{
			Address: netip.MustParseAddr("10.0.0.254"), ASN: 65000, Passive: true, BFD: BFD{Disable: true},
		}},
		Clock:   clk,
		Metrics: m,
	}
}

func TestSpeakerLifecycle(t *testing.T) {
	defer goleak.VerifyNone(t)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clk := clocktest.New(t0)
	m := NewMetrics()
	sp, err := New(offlineConfig(clk, m))
	if err != nil {
		t.Fatal(err)
	}
	vip := Route{Prefix: netip.MustParsePrefix("192.0.2.10/32"), Communities: []Community{NoExport}}
	vip2 := Route{Prefix: netip.MustParsePrefix("192.0.2.11/32")}
	eq := cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })
	routes := func(step string, want ...RouteStatus) {
		t.Helper()
		if diff := cmp.Diff(want, sp.Status().Routes, eq); diff != "" {
			t.Errorf("%s: routes (-want +got):\n%s", step, diff)
		}
	}

	// Before Run: kept as pending.
	if err := sp.Announce(vip); err != nil {
		t.Fatal(err)
	}
	routes("before run", RouteStatus{vip, RoutePending, t0})
	if err := sp.Announce(Route{Prefix: netip.MustParsePrefix("2001:db8::1/128")}); err == nil || !strings.Contains(err.Error(), "no IPv6 peer") {
		t.Errorf("IPv6 route without an IPv6 peer: %v", err)
	}
	// A bad route rejects the whole set and changes nothing.
	bad := []Route{vip2, {Prefix: netip.MustParsePrefix("192.0.2.0/8")}}
	if err := sp.SetRoutes(bad); err == nil || !strings.Contains(err.Error(), "host bits") {
		t.Errorf("SetRoutes with a bad route: %v", err)
	}
	if err := sp.SetRoutes([]Route{vip2, vip2}); err == nil || !strings.Contains(err.Error(), "given twice") {
		t.Errorf("SetRoutes with a repeated prefix: %v", err)
	}
	routes("after rejected sets", RouteStatus{vip, RoutePending, t0})

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- sp.Run(ctx) }()
	waitRunning(t, sp)
	clk.Advance(time.Second)
	t1 := t0.Add(time.Second)
	routes("running", RouteStatus{vip, RouteAnnounced, t0}) // announced at start, before the clock moved

	if err := sp.SetRoutes([]Route{vip2}); err != nil {
		t.Fatal(err)
	}
	routes("set", RouteStatus{vip, RouteWithdrawn, t1}, RouteStatus{vip2, RouteAnnounced, t1})
	// GoBGP's table holds exactly the wanted routes.
	if got := ribPrefixes(t, sp); !cmp.Equal(got, []string{"192.0.2.11/32"}) {
		t.Errorf("GoBGP's table holds %v", got)
	}
	if err := sp.Withdraw(vip2.Prefix); err != nil {
		t.Fatal(err)
	}
	if err := sp.Withdraw(netip.MustParsePrefix("198.51.100.1/32")); err != nil {
		t.Errorf("withdrawing what is not announced: %v", err)
	}
	if got := ribPrefixes(t, sp); len(got) != 0 {
		t.Errorf("GoBGP's table holds %v after the withdrawal", got)
	}
	if err := sp.Announce(vip); err != nil {
		t.Fatal(err)
	}

	st := sp.Status()
	if !st.Running || len(st.Peers) != 1 || st.Peers[0].BFD != BFDDisabled || st.Peers[0].State == Established || st.Peers[0].Internal {
		t.Errorf("status %+v", st)
	}
	if err := testutil.CollectAndCompare(m, strings.NewReader(`
# HELP lvskit_bgp_route_announced Whether the route is announced (1) or pending or withdrawn (0).
# TYPE lvskit_bgp_route_announced gauge
lvskit_bgp_route_announced{prefix="192.0.2.10/32"} 1
lvskit_bgp_route_announced{prefix="192.0.2.11/32"} 0
# HELP lvskit_bgp_peer_up Whether the BGP session is established.
# TYPE lvskit_bgp_peer_up gauge
lvskit_bgp_peer_up{peer="10.0.0.254"} 0
# HELP lvskit_bgp_peer_bfd_state BFD session state: 0 disabled, 1 admindown, 2 down, 3 init, 4 up.
# TYPE lvskit_bgp_peer_bfd_state gauge
lvskit_bgp_peer_bfd_state{peer="10.0.0.254"} 0
# HELP lvskit_bgp_peer_uptime_seconds Seconds since the BGP session was established; 0 while it is not.
# TYPE lvskit_bgp_peer_uptime_seconds gauge
lvskit_bgp_peer_uptime_seconds{peer="10.0.0.254"} 0
# HELP lvskit_bgp_peer_prefixes Prefixes sent to, received from and accepted from the peer.
# TYPE lvskit_bgp_peer_prefixes gauge
lvskit_bgp_peer_prefixes{direction="accepted",peer="10.0.0.254"} 0
lvskit_bgp_peer_prefixes{direction="received",peer="10.0.0.254"} 0
lvskit_bgp_peer_prefixes{direction="sent",peer="10.0.0.254"} 0
`), "lvskit_bgp_route_announced", "lvskit_bgp_peer_up", "lvskit_bgp_peer_bfd_state", "lvskit_bgp_peer_uptime_seconds", "lvskit_bgp_peer_prefixes"); err != nil {
		t.Error(err)
	}
	if problems, err := testutil.CollectAndLint(m); err != nil || len(problems) > 0 {
		t.Errorf("metrics lint: %v %v", problems, err)
	}
	if err := sp.Run(ctx); err == nil {
		t.Error("a second Run succeeded")
	}

	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run after cancel: %v", err)
	}
	st = sp.Status()
	if st.Running || st.Peers[0].State != Idle {
		t.Errorf("after Run: %+v", st)
	}
	routes("stopped", RouteStatus{vip, RouteWithdrawn, t1}, RouteStatus{vip2, RouteWithdrawn, t1})
	if err := sp.Announce(vip); !errors.Is(err, ErrStopped) {
		t.Errorf("Announce after Run: %v, want ErrStopped", err)
	}
	if err := sp.WithdrawAll(context.Background()); err != nil {
		t.Errorf("WithdrawAll after Run: %v", err)
	}
}

func waitRunning(t *testing.T, sp *Speaker) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !sp.Status().Running {
		if time.Now().After(deadline) {
			t.Fatal("speaker not running after 30s")
		}
		time.Sleep(time.Millisecond)
	}
}

// ribPrefixes lists the IPv4 prefixes in GoBGP's global table.
func ribPrefixes(t *testing.T, sp *Speaker) []string {
	t.Helper()
	sp.mu.Lock()
	srv := sp.srv
	sp.mu.Unlock()
	var out []string
	err := srv.ListPath(apiutil.ListPathRequest{TableType: api.TableType_TABLE_TYPE_GLOBAL, Family: gobgp.RF_IPv4_UC},
		func(prefix gobgp.NLRI, _ []*apiutil.Path) { out = append(out, prefix.String()) })
	if err != nil {
		t.Fatalf("list GoBGP's table: %v", err)
	}
	slices.Sort(out)
	return out
}

func TestSpeakerRunFails(t *testing.T) {
	defer goleak.VerifyNone(t)
	c := offlineConfig(clocktest.New(time.Unix(0, 0)), nil)
	c.ListenPort = 1179
	c.ListenAddresses = []netip.Addr{netip.MustParseAddr("192.0.2.77")} // not ours: bind fails
	sp, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	err = sp.Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), "start bgp") {
		t.Errorf("Run on an address that is not local: %v", err)
	}
	if sp.Status().Running {
		t.Error("running after a failed start")
	}
	if err := sp.Announce(Route{Prefix: netip.MustParsePrefix("192.0.2.10/32")}); !errors.Is(err, ErrStopped) {
		t.Errorf("Announce after a failed Run: %v", err)
	}
}

var _ prometheus.Collector = (*Metrics)(nil)

// A Run whose context ends while it starts still starts, withdraws and
// stops, and returns nil as any cancelled Run.
func TestSpeakerRunCancelledEarly(t *testing.T) {
	defer goleak.VerifyNone(t)
	sp, err := New(offlineConfig(clocktest.New(time.Unix(0, 0)), nil))
	if err != nil {
		t.Fatal(err)
	}
	if err := sp.Announce(Route{Prefix: netip.MustParsePrefix("192.0.2.10/32")}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := sp.Run(ctx); err != nil {
		t.Errorf("Run with a cancelled context: %v", err)
	}
	if st := sp.Status(); st.Running || st.Routes[0].State != RouteWithdrawn {
		t.Errorf("after Run: %+v", st)
	}
}
