package netcfg_test

import (
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/lvskit/lvskit/internal/netnstest"
	"github.com/lvskit/lvskit/netcfg"
)

// Each address, route and rule option keepalived's iproute grammar can ask
// for is set as ip(8) reads it back, is found again (a second add changes
// nothing, Routes/Rules list it equal), and its undo leaves no trace.
func TestIntegrationRouteAndRuleOptions(t *testing.T) {
	lab := netnstest.New(t)
	n, peer := lab.Host("n"), lab.Host("peer")
	lab.Link(n, "eth0", "10.99.0.1/24", peer, "eth0", "10.99.0.2/24")
	lab.Link(n, "eth1", "10.98.0.1/24", peer, "eth1", "10.98.0.2/24")
	n.AddAddr("eth0", "fd00:99::1/64")
	h := open(t, n)
	settle(t, n)
	before := takeSnapshot(t, n)

	p := netip.MustParsePrefix
	a := netip.MustParseAddr
	routes := []struct {
		r    netcfg.Route
		show []string // ip route show table all: one line (multipath: joined), in this order
	}{
		{netcfg.Route{Dst: p("192.168.130.0/24"), Gateway: a("10.99.0.254"), Link: "eth0", Src: a("10.99.0.1"), Protocol: netcfg.ProtocolKeepalived},
			[]string{"192.168.130.0/24 via 10.99.0.254 dev eth0", "proto keepalived", "src 10.99.0.1"}},
		{netcfg.Route{Dst: p("192.168.131.0/24"), Protocol: netcfg.ProtocolKeepalived, Nexthops: []netcfg.Nexthop{
			{Gateway: a("10.99.0.254"), Link: "eth0"}, {Gateway: a("10.98.0.254"), Weight: 3}}},
			[]string{"192.168.131.0/24 proto keepalived", "nexthop via 10.99.0.254 dev eth0 weight 1", "nexthop via 10.98.0.254 dev eth1 weight 3"}},
		{netcfg.Route{Dst: p("192.168.132.0/24"), Type: netcfg.RouteBlackhole}, []string{"blackhole 192.168.132.0/24"}},
		{netcfg.Route{Dst: p("192.168.133.0/24"), Type: netcfg.RouteUnreachable, Table: 200}, []string{"unreachable 192.168.133.0/24 table 200"}},
		{netcfg.Route{Dst: p("192.168.134.0/24"), Type: netcfg.RouteProhibit, Metric: 7}, []string{"prohibit 192.168.134.0/24", "metric 7"}},
		{netcfg.Route{Dst: p("192.168.135.0/24"), Type: netcfg.RouteThrow, Table: 201}, []string{"throw 192.168.135.0/24 table 201"}},
		{netcfg.Route{Dst: p("192.168.136.0/24"), Link: "eth0", Scope: netcfg.ScopeHost, Protocol: 50, Metric: 55, Table: 202},
			[]string{"192.168.136.0/24 dev eth0 table 202 proto 50 scope host metric 55"}},
		{netcfg.Route{Dst: p("192.168.137.0/24"), Gateway: a("10.9.9.9"), Link: "eth0", OnLink: true},
			[]string{"192.168.137.0/24 via 10.9.9.9 dev eth0", "onlink"}},
		{netcfg.Route{Dst: p("192.168.138.0/24"), Link: "eth0", Metrics: netcfg.RouteMetrics{MTU: 1400, LockMTU: true, AdvMSS: 1300,
			Hoplimit: 100, InitCwnd: 10, InitRwnd: 20, Window: 105, Cwnd: 106, Ssthresh: 107, Reordering: 104,
			RTOMin: 108, QuickACK: 1, Features: 1, Congctl: "reno"}},
			[]string{"192.168.138.0/24 dev eth0", "mtu lock 1400", "advmss 1300", "hoplimit 100", "initcwnd 10", "initrwnd 20",
				"window 105", "cwnd 106", "ssthresh 107", "reordering 104", "rto_min 108ms", "quickack 1", "features ecn", "congctl reno"}},
		{netcfg.Route{Dst: p("192.168.139.0/24"), Gateway: a("10.99.0.254"), TOS: 0x10, Realm: 3<<16 | 4},
			[]string{"192.168.139.0/24 tos 0x10 via 10.99.0.254 dev eth0", "realms 3/4"}},
		{netcfg.Route{Dst: p("2001:db8:5::/48"), Nexthops: []netcfg.Nexthop{{Gateway: a("fd00:99::fe"), Link: "eth0"}, {Gateway: a("fd00:99::fd"), Link: "eth0", Weight: 2}}},
			[]string{"2001:db8:5::/48 metric 1024", "nexthop via fd00:99::fe dev eth0 weight 1", "nexthop via fd00:99::fd dev eth0 weight 2"}},
		{netcfg.Route{Dst: p("0.0.0.0/0"), Gateway: a("10.99.0.254"), Table: 100}, []string{"default via 10.99.0.254 dev eth0 table 100"}},
	}
	rules := []struct {
		r    netcfg.Rule
		show string // ip rule show, as a regular expression of the whole line
	}{
		{netcfg.Rule{Priority: 100, From: p("192.168.7.0/24"), Table: 200, Protocol: netcfg.ProtocolKeepalived},
			`^100:\s+from 192.168.7.0/24 lookup 200 proto keepalived$`},
		{netcfg.Rule{Priority: 101, Invert: true, From: p("192.168.8.0/24"), Table: 200},
			`^101:\s+not from 192.168.8.0/24 lookup 200( proto boot)?$`},
		{netcfg.Rule{Priority: 102, From: p("192.168.9.0/24"), Action: netcfg.RuleBlackhole},
			`^102:\s+from 192.168.9.0/24 blackhole( proto boot)?$`},
		{netcfg.Rule{Priority: 103, To: p("192.168.10.0/24"), Action: netcfg.RuleUnreachable},
			`^103:\s+from all to 192.168.10.0/24 unreachable( proto boot)?$`},
		{netcfg.Rule{Priority: 104, FwMark: 0x10, FwMask: 0xff, IIF: "eth0", Action: netcfg.RuleProhibit},
			`^104:\s+from all fwmark 0x10/0xff iif eth0 prohibit( proto boot)?$`},
		{netcfg.Rule{Priority: 105, OIF: "eth1", TOS: 0x10, Action: netcfg.RuleGoto, Goto: 110},
			`^105:\s+from all tos 0x10 oif eth1 goto 110( \[unresolved\])?( proto boot)?$`},
		{netcfg.Rule{Priority: 106, IPProto: 6, DstPorts: netcfg.PortRange{Start: 20, End: 30}, SrcPorts: netcfg.PortRange{Start: 80, End: 80}, Table: 201},
			`^106:\s+from all ipproto tcp sport 80 dport 20-30 lookup 201( proto boot)?$`},
		{netcfg.Rule{Priority: 107, UIDs: netcfg.UIDRange{Start: 1000, End: 1999}, Table: 202, Protocol: 50},
			`^107:\s+from all uidrange 1000-1999 lookup 202 proto 50$`},
		{netcfg.Rule{Priority: 108, From: p("192.168.11.0/24"), Realm: 1<<16 | 2, Table: 203},
			`^108:\s+from 192.168.11.0/24 lookup 203 realms 1/2( proto boot)?$`},
		{netcfg.Rule{Priority: 109, Action: netcfg.RuleNop}, `^109:\s+from all nop( proto boot)?$`},
		{netcfg.Rule{Priority: 110, To: p("2001:db8::/64"), Table: 200, Protocol: netcfg.ProtocolKeepalived},
			`^110:\s+from all to 2001:db8::/64 lookup 200 proto keepalived$`},
		{netcfg.Rule{Priority: 111, IPv6: true, Action: netcfg.RuleProhibit}, `^111:\s+from all prohibit( proto boot)?$`},
	}

	var changes []*netcfg.Change
	addr := netcfg.Address{Link: "eth1", Prefix: p("10.97.0.1/24"), Label: "eth1:7", Broadcast: a("10.97.0.255"), NoPrefixRoute: true}
	changes = append(changes, must(t)(h.AddAddress(addr)))
	if out := n.Run("ip", "-4", "addr", "show", "dev", "eth1"); !strings.Contains(out, "inet 10.97.0.1/24 brd 10.97.0.255 scope global noprefixroute eth1:7") {
		t.Errorf("ip addr show dev eth1 lacks the address with its broadcast and noprefixroute:\n%s", out)
	}
	if out := n.Run("ip", "route", "show", "10.97.0.0/24"); strings.TrimSpace(out) != "" {
		t.Errorf("a noprefixroute address got its prefix route: %s", out)
	}
	if got, err := h.Addresses("eth1"); err != nil || !slices.Contains(got, addr) {
		t.Errorf("Addresses(eth1) = %v, %v; want it to hold %v", got, err, addr)
	}
	// once applies an addition twice: the first changes something, the
	// second nothing.
	once := func(what fmt.Stringer, add func() (*netcfg.Change, error)) {
		t.Helper()
		c := must(t)(add())
		if c.Empty() {
			t.Errorf("add %v changed nothing", what)
		}
		changes = append(changes, c)
		if again := must(t)(add()); !again.Empty() {
			t.Errorf("add %v again: %s", what, again)
		}
	}
	for _, tt := range routes {
		once(tt.r, func() (*netcfg.Change, error) { return h.AddRoute(tt.r) })
	}
	for _, tt := range rules {
		once(tt.r, func() (*netcfg.Change, error) { return h.AddRule(tt.r) })
	}

	shown := oneLinePerRoute(n.Run("ip", "route", "show", "table", "all") + n.Run("ip", "-6", "route", "show", "table", "all"))
	for _, tt := range routes {
		if !routeShown(shown, tt.show) {
			t.Errorf("ip route show table all has no route with %q:\n%s", tt.show, strings.Join(shown, "\n"))
		}
	}
	ruleLines := strings.Split(n.Run("ip", "rule", "show")+n.Run("ip", "-6", "rule", "show"), "\n")
	for _, tt := range rules {
		re := regexp.MustCompile(tt.show)
		found := false
		for _, l := range ruleLines {
			if re.MatchString(strings.TrimSpace(l)) {
				found = true
			}
		}
		if !found {
			t.Errorf("ip rule show has no line matching %s:\n%s", tt.show, strings.Join(ruleLines, "\n"))
		}
	}
	// netcfg's own listing finds each rule with its action.
	for _, v6 := range []bool{false, true} {
		listed, err := h.Rules(v6)
		if err != nil {
			t.Fatal(err)
		}
		for _, tt := range rules {
			if is6 := tt.r.IPv6 || tt.r.To.Addr().Is6(); is6 != v6 {
				continue
			}
			found := false
			for _, l := range listed {
				if l.Priority == tt.r.Priority && l.Action == tt.r.Action {
					found = true
				}
			}
			if !found {
				t.Errorf("Rules(ipv6=%v) lacks %v: %v", v6, tt.r, listed)
			}
		}
	}

	for i := len(changes) - 1; i >= 0; i-- {
		if err := changes[i].Undo(); err != nil {
			t.Errorf("undo: %v", err)
		}
	}
	after := takeSnapshot(t, n)
	for _, k := range []string{"routes4", "routes6", "rules4", "rules6", "addresses"} {
		if diff := diffLines(before[k], after[k]); diff != "" {
			t.Errorf("%s differs after undo (-before +after):\n%s", k, diff)
		}
	}
}

// oneLinePerRoute joins a multipath route's "nexthop" lines to its first.
func oneLinePerRoute(out string) []string {
	var lines []string
	for _, l := range strings.Split(out, "\n") {
		if strings.TrimSpace(l) == "" {
			continue
		}
		if strings.HasPrefix(l, "\t") || strings.HasPrefix(l, " ") {
			if len(lines) > 0 {
				lines[len(lines)-1] += " " + strings.TrimSpace(l)
			}
			continue
		}
		lines = append(lines, strings.TrimSpace(l))
	}
	return lines
}

// routeShown says whether one line starts with the first part and holds
// every other (ip(8) prints metrics in its own order).
func routeShown(lines, parts []string) bool {
	for _, l := range lines {
		if !strings.HasPrefix(l, parts[0]) {
			continue
		}
		ok := true
		for _, p := range parts[1:] {
			ok = ok && strings.Contains(l, p)
		}
		if ok {
			return true
		}
	}
	return false
}

// Bad route and rule options are refused before anything is sent.
func TestIntegrationRouteOptionErrors(t *testing.T) {
	lab := netnstest.New(t)
	n := lab.Host("n")
	h := open(t, n)
	p := netip.MustParsePrefix
	a := netip.MustParseAddr
	for name, r := range map[string]netcfg.Route{
		"multipath with a gateway":     {Dst: p("10.1.0.0/16"), Gateway: a("10.0.0.1"), Nexthops: []netcfg.Nexthop{{Gateway: a("10.0.0.2")}}},
		"blackhole with next hops":     {Dst: p("10.1.0.0/16"), Type: netcfg.RouteBlackhole, Nexthops: []netcfg.Nexthop{{Gateway: a("10.0.0.2")}}},
		"next hop of the other family": {Dst: p("10.1.0.0/16"), Nexthops: []netcfg.Nexthop{{Gateway: a("fd00::1")}}},
		"next hop going nowhere":       {Dst: p("10.1.0.0/16"), Nexthops: []netcfg.Nexthop{{Weight: 2}}},
		"weight out of range":          {Dst: p("10.1.0.0/16"), Nexthops: []netcfg.Nexthop{{Gateway: a("10.0.0.2"), Weight: 257}}},
		"hoplimit out of range":        {Dst: p("10.1.0.0/16"), Link: "lo", Metrics: netcfg.RouteMetrics{Hoplimit: 300}},
		"lock without mtu":             {Dst: p("10.1.0.0/16"), Link: "lo", Metrics: netcfg.RouteMetrics{LockMTU: true}},
	} {
		if _, err := h.AddRoute(r); err == nil {
			t.Errorf("%s: AddRoute(%v) succeeded", name, r)
		} else {
			t.Logf("%s: %v", name, err)
		}
	}
	for name, r := range map[string]netcfg.Rule{
		"blackhole with a table": {Priority: 10, Action: netcfg.RuleBlackhole, Table: 5},
		"goto nowhere":           {Priority: 10, Action: netcfg.RuleGoto},
		"bad port range":         {Priority: 10, Table: 5, DstPorts: netcfg.PortRange{Start: 30, End: 20}},
		"bad uid range":          {Priority: 10, Table: 5, UIDs: netcfg.UIDRange{Start: 30, End: 20}},
	} {
		if _, err := h.AddRule(r); err == nil {
			t.Errorf("%s: AddRule(%v) succeeded", name, r)
		} else {
			t.Logf("%s: %v", name, err)
		}
	}
	if out := n.Run("ip", "rule", "show"); strings.Count(out, "\n") != 3 {
		t.Errorf("rules changed by refused calls:\n%s", out)
	}
}
