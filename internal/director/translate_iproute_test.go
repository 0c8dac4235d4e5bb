package director

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/lvskit/lvskit/netcfg"
	"github.com/lvskit/lvskit/vrrp"
)

// static_* and an instance's virtual_routes / virtual_rules become netcfg
// values as keepalived 2.2.7 sets them (read back from it with ip(8) in a
// namespace): protocol keepalived unless no_track, a rule without a
// preference at 16384, "or" as a multipath route, "brd +" as the last
// address of the prefix, default_interface for an address without dev;
// each correction is a warning at its line, and a line keepalived cannot
// set is skipped with a warning, never an error.
func TestTranslateIPRoute(t *testing.T) {
	path := writeTemp(t, `global_defs {
    default_interface eth1
}
static_ipaddress {
    10.5.0.1/24 dev eth0 brd + noprefixroute label eth0:5
    10.6.0.1/24 scope link
    10.7.0.1/24 peer 10.7.0.2
}
static_routes {
    src 10.1.0.1 to 192.168.109.0/24 via 10.1.0.254 dev eth0 metric 5 table 100 onlink
    192.168.113.0/24 via 10.1.0.254 or 10.1.0.253 dev eth0
    blackhole 192.168.114.0/24
    unreachable 192.168.115.0/24 table main
    192.168.117.0/24 dev eth0 scope host protocol bird mtu lock 1400 advmss 1300 ssthresh lock 7 tos 0x10 realms 3/4 features ecn
    192.168.118.0/24 dev eth0 protocol 99 no_track
    192.168.119.0/24 nexthop via 10.1.0.254 dev eth0 weight 2 nexthop via 10.2.0.254 onlink
    default via fd00::1 dev eth0
    10.0.0.1/8 dev eth0
    192.168.120.0/24 dev eth0 table nosuchtable
}
static_rules {
    from 192.168.2.0/24 table 100 preference 10
    not to 192.168.3.0/24 fwmark 0x10/0xff iif eth0 oif eth1 tos 8 preference 11 blackhole
    from 192.168.4.0/24 preference 12 goto 20
    ipproto tcp sport 80 dport 8000-8080 uidrange 1000-1999 realms 5 preference 13 table local protocol 50 no_track
    to 192.168.5.0/24 table 101
    inet6 from all preference 14 prohibit protocol static
}
vrrp_instance V {
    interface eth0
    virtual_router_id 9
    virtual_ipaddress {
        10.0.0.9
    }
    virtual_routes {
        192.168.130.0/24 via 10.1.0.254 src 10.0.0.9
        prohibit 192.168.131.0/24
    }
    virtual_rules {
        from 10.0.0.9/32 table 200 preference 100
    }
}
`)
	p, warns := mustLoad(t, path, "")
	a := netip.MustParseAddr
	pf := netip.MustParsePrefix
	const ka = netcfg.ProtocolKeepalived

	wantAddrs := []netcfg.Address{
		{Link: "eth0", Prefix: pf("10.5.0.1/24"), Label: "eth0:5", Broadcast: a("10.5.0.255"), NoPrefixRoute: true},
		{Link: "eth1", Prefix: pf("10.6.0.1/24"), Scope: netcfg.ScopeLink},
		{Link: "eth1", Prefix: pf("10.7.0.1/24")},
	}
	gotAddrs := each(p.Static.Addresses, func(s StaticAddress) netcfg.Address { return s.Address })
	if diff := cmp.Diff(wantAddrs, gotAddrs, ignorePos); diff != "" {
		t.Errorf("static addresses (-want +got):\n%s", diff)
	}

	wantRoutes := []netcfg.Route{
		{Dst: pf("192.168.109.0/24"), Src: a("10.1.0.1"), Gateway: a("10.1.0.254"), Link: "eth0", Metric: 5, Table: 100, OnLink: true, Protocol: ka},
		{Dst: pf("192.168.113.0/24"), Protocol: ka, Nexthops: []netcfg.Nexthop{{Gateway: a("10.1.0.254"), Link: "eth0", Weight: 1}, {Gateway: a("10.1.0.253"), Link: "eth0", Weight: 1}}},
		{Dst: pf("192.168.114.0/24"), Type: netcfg.RouteBlackhole, Protocol: ka},
		{Dst: pf("192.168.115.0/24"), Type: netcfg.RouteUnreachable, Table: netcfg.TableMain, Protocol: ka},
		{Dst: pf("192.168.117.0/24"), Link: "eth0", Scope: netcfg.ScopeHost, Protocol: ka, TOS: 0x10, Realm: 3<<16 | 4,
			Metrics: netcfg.RouteMetrics{MTU: 1400, LockMTU: true, AdvMSS: 1300, Ssthresh: 7, Features: 1}},
		{Dst: pf("192.168.118.0/24"), Link: "eth0", Protocol: 99},
		{Dst: pf("192.168.119.0/24"), Protocol: ka, Nexthops: []netcfg.Nexthop{{Gateway: a("10.1.0.254"), Link: "eth0", Weight: 2}, {Gateway: a("10.2.0.254"), Weight: 1, OnLink: true}}},
		{Dst: pf("::/0"), Gateway: a("fd00::1"), Link: "eth0", Protocol: ka},
	}
	gotRoutes := each(p.Static.Routes, func(s StaticRoute) netcfg.Route { return s.Route })
	if diff := cmp.Diff(wantRoutes, gotRoutes, ignorePos); diff != "" {
		t.Errorf("static routes (-want +got):\n%s", diff)
	}

	wantRules := []netcfg.Rule{
		{Priority: 10, From: pf("192.168.2.0/24"), Table: 100, Protocol: ka},
		{Priority: 11, Invert: true, To: pf("192.168.3.0/24"), FwMark: 0x10, FwMask: 0xff, IIF: "eth0", OIF: "eth1", TOS: 8, Action: netcfg.RuleBlackhole, Protocol: ka},
		{Priority: 12, From: pf("192.168.4.0/24"), Action: netcfg.RuleGoto, Goto: 20, Protocol: ka},
		{Priority: 13, IPProto: 6, SrcPorts: netcfg.PortRange{Start: 80, End: 80}, DstPorts: netcfg.PortRange{Start: 8000, End: 8080},
			UIDs: netcfg.UIDRange{Start: 1000, End: 1999}, Realm: 5, Table: netcfg.TableLocal, Protocol: 50},
		{Priority: rulePriorityDefault, To: pf("192.168.5.0/24"), Table: 101, Protocol: ka},
		{Priority: 14, IPv6: true, Action: netcfg.RuleProhibit, Protocol: ka},
	}
	gotRules := each(p.Static.Rules, func(s StaticRule) netcfg.Rule { return s.Rule })
	if diff := cmp.Diff(wantRules, gotRules, ignorePos); diff != "" {
		t.Errorf("static rules (-want +got):\n%s", diff)
	}

	wantItems := []vrrp.MasterItem{
		netcfg.Route{Dst: pf("192.168.130.0/24"), Gateway: a("10.1.0.254"), Src: a("10.0.0.9"), Protocol: ka},
		netcfg.Route{Dst: pf("192.168.131.0/24"), Type: netcfg.RouteProhibit, Protocol: ka},
		netcfg.Rule{Priority: 100, From: pf("10.0.0.9/32"), Table: 200, Protocol: ka},
	}
	if diff := cmp.Diff(wantItems, p.Instances[0].VRRP.MasterItems, ignorePos); diff != "" {
		t.Errorf("virtual routes and rules (-want +got):\n%s", diff)
	}

	wantWarns := []string{
		`:7:5: static_ipaddress: option "peer" is not implemented`,
		`:11:37: static_routes: "or" is deprecated in keepalived 2.2.7`,
		`:12:5: static_routes: route 192.168.114.0/24 has no interface (dev): keepalived warns that it cannot track it`,
		`:13:5: static_routes: route 192.168.115.0/24 has no interface (dev)`,
		`:16:5: static_routes: route 192.168.119.0/24 has no interface (dev)`,
		`:36:9: virtual_routes: route 192.168.130.0/24 has no interface (dev)`,
		`:37:9: virtual_routes: route 192.168.131.0/24 has no interface (dev)`,
		`:14:5: static_routes: protocol bird replaced by keepalived (18), as keepalived does`,
		`:14:82: static_routes: ssthresh lock: the lock is not implemented`,
		`:18:5: static_routes: route 10.0.0.1/8: bad prefix: host bits set (did you mean 10.0.0.0/8?); the route is not set`,
		`:19:5: static_routes: routing table "nosuchtable" not found; the route is not set`,
		`:26:5: static_rules: rule has no preference: 16384, as keepalived sets`,
		`:27:43: static_rules: protocol static replaced by keepalived (18)`,
	}
	var got []string
	for _, w := range warns {
		got = append(got, strings.TrimPrefix(w.String(), path))
	}
	for _, w := range wantWarns {
		found := false
		for _, g := range got {
			found = found || strings.HasPrefix(g, w)
		}
		if !found {
			t.Errorf("no warning %q in:\n%s", w, strings.Join(got, "\n"))
		}
	}
	if len(got) != len(wantWarns) {
		t.Errorf("%d warnings, want %d:\n%s", len(got), len(wantWarns), strings.Join(got, "\n"))
	}
}

// each maps f over xs.
func each[S, T any](xs []S, f func(S) T) []T {
	out := make([]T, 0, len(xs))
	for _, x := range xs {
		out = append(out, f(x))
	}
	return out
}

// Names of tables, protocols and realms resolve as keepalived resolves
// them: numbers as written (decimal or hex), the built-in names, then
// iproute2's files and their .d folders.
func TestIPRoute2Names(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("rt_tables", "# reserved\n255\tlocal\n100 web\n")
	write("rt_tables.d/more.conf", "0x65 api\n")
	write("rt_protos", "77 myproto\n")
	n := iproute2Names{dir: dir}
	for _, tc := range []struct {
		file, word string
		want       int
		ok         bool
	}{
		{"rt_tables", "main", 254, true},
		{"rt_tables", "42", 42, true},
		{"rt_tables", "0x10", 16, true},
		{"rt_tables", "web", 100, true},
		{"rt_tables", "api", 101, true},
		{"rt_tables", "nosuch", 0, false},
		{"rt_protos", "keepalived", 18, true},
		{"rt_protos", "myproto", 77, true},
		{"rt_realms", "nosuch", 0, false},
	} {
		got, ok := n.lookup(tc.file, tc.word)
		if got != tc.want || ok != tc.ok {
			t.Errorf("lookup(%s, %s) = %d, %v; want %d, %v", tc.file, tc.word, got, ok, tc.want, tc.ok)
		}
	}
}
