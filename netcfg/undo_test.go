package netcfg_test

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/lvskit/lvskit/internal/netnstest"
	"github.com/lvskit/lvskit/netcfg"
)

// Every operation, applied twice, changes the namespace once; undoing the
// recorded changes puts addresses, routes, rules, sysctls, links and the
// nft ruleset back exactly as ip(8), sysctl(8) and nft(8) saw them.
func TestIntegrationIdempotentUndo(t *testing.T) {
	lab := netnstest.New(t)
	n, peerHost := lab.Host("n"), lab.Host("peer")
	lab.Link(n, "eth0", "10.99.0.1/24", peerHost, "eth0", "10.99.0.2/24")
	n.AddAddr("eth0", "fd00:99::1/64")
	h := open(t, n)
	settle(t, n)
	before := takeSnapshot(t, n)

	p := netip.MustParsePrefix
	a := netip.MustParseAddr
	ops := []struct {
		name string
		do   func() (*netcfg.Change, error)
	}{
		{"address with label", func() (*netcfg.Change, error) {
			return h.AddAddress(netcfg.Address{Link: "eth0", Prefix: p("10.99.0.10/24"), Label: "eth0:1"})
		}},
		{"ipv6 address", func() (*netcfg.Change, error) {
			return h.AddAddress(netcfg.Address{Link: "eth0", Prefix: p("fd00:99::10/64")})
		}},
		{"host-scope address on lo", func() (*netcfg.Change, error) {
			return h.AddAddress(netcfg.Address{Link: "lo", Prefix: p("10.200.0.1/32"), Scope: netcfg.ScopeHost})
		}},
		{"remove an existing address", func() (*netcfg.Change, error) {
			return h.RemoveAddress(netcfg.Address{Link: "eth0", Prefix: p("fd00:99::1/64")})
		}},
		{"gateway route", func() (*netcfg.Change, error) {
			return h.AddRoute(netcfg.Route{Dst: p("10.50.0.0/16"), Gateway: a("10.99.0.2"), Metric: 10})
		}},
		{"device route with source in table 100", func() (*netcfg.Change, error) {
			return h.AddRoute(netcfg.Route{Dst: p("10.70.0.0/24"), Link: "eth0", Src: a("10.99.0.1"), Table: 100})
		}},
		{"blackhole route", func() (*netcfg.Change, error) {
			return h.AddRoute(netcfg.Route{Dst: p("10.60.0.0/16"), Type: netcfg.RouteBlackhole, Table: 100})
		}},
		{"unreachable ipv6 route", func() (*netcfg.Change, error) {
			return h.AddRoute(netcfg.Route{Dst: p("2001:db8::/32"), Type: netcfg.RouteUnreachable})
		}},
		{"ipv6 default route", func() (*netcfg.Change, error) {
			return h.AddRoute(netcfg.Route{Dst: p("::/0"), Link: "eth0", Gateway: a("fe80::1")})
		}},
		{"remove the connected route", func() (*netcfg.Change, error) {
			return h.RemoveRoute(netcfg.Route{Dst: p("10.99.0.0/24"), Link: "eth0", Src: a("10.99.0.1")})
		}},
		{"source rule", func() (*netcfg.Change, error) {
			return h.AddRule(netcfg.Rule{Priority: 100, From: p("10.99.0.0/24"), Table: 100})
		}},
		{"fwmark rule", func() (*netcfg.Change, error) {
			return h.AddRule(netcfg.Rule{Priority: 101, FwMark: 0x10, Table: 100})
		}},
		{"ipv6 rule without priority", func() (*netcfg.Change, error) {
			return h.AddRule(netcfg.Rule{To: p("2001:db8::/32"), IIF: "eth0", Table: 100})
		}},
		{"rp_filter", func() (*netcfg.Change, error) { return h.SetRPFilter("eth0", 2) }},
		{"ipv6 forwarding", func() (*netcfg.Change, error) { return h.SetIPv6Forwarding(true) }},
		{"generic sysctl, dotted", func() (*netcfg.Change, error) { return h.SetSysctl("net.ipv4.conf.eth0.arp_accept", "1") }},
		{"real server", func() (*netcfg.Change, error) { return h.ConfigureRealServer(a("10.99.0.100"), "eth0") }},
		{"ipv6 real server", func() (*netcfg.Change, error) { return h.ConfigureRealServer(a("fd00:99::100"), "eth0") }},
		{"router", func() (*netcfg.Change, error) {
			return h.ConfigureRouter(netcfg.Router{
				IPv6:       true,
				Masquerade: []netcfg.Masquerade{{Source: p("10.99.0.0/24"), OutLink: "eth0"}, {Source: p("fd00:99::/64"), OutLink: "eth0"}},
				DNAT: []netcfg.DNAT{
					{Dst: netip.MustParseAddrPort("10.99.0.1:80"), To: netip.MustParseAddrPort("10.99.0.2:8080")},
					{Protocol: "udp", Dst: netip.MustParseAddrPort("[fd00:99::1]:53"), To: netip.MustParseAddrPort("[fd00:99::2]:0"), InLink: "eth0"},
				},
			})
		}},
		{"vmac", func() (*netcfg.Change, error) {
			return h.AddVMAC(netcfg.VMAC{Name: "vrrp.51", Parent: "eth0", VRID: 51})
		}},
		{"ipv6 vmac", func() (*netcfg.Change, error) {
			return h.AddVMAC(netcfg.VMAC{Name: "vrrp6.51", Parent: "eth0", VRID: 51, IPv6: true})
		}},
		{"vmac with explicit MAC", func() (*netcfg.Change, error) {
			return h.AddVMAC(netcfg.VMAC{Name: "vrrp.52", Parent: "eth0", MAC: netcfg.VirtualMAC(52, false)})
		}},
		{"block ipv4", func() (*netcfg.Change, error) { return h.Block(a("10.99.0.10")) }},
		{"block ipv6", func() (*netcfg.Change, error) { return h.Block(a("fd00:99::10")) }},
		{"remove a vmac", func() (*netcfg.Change, error) { return h.RemoveVMAC("vrrp.52") }},
		{"remove a nat rule", func() (*netcfg.Change, error) {
			return h.RemoveDNAT(netcfg.DNAT{Dst: netip.MustParseAddrPort("10.99.0.1:80"), To: netip.MustParseAddrPort("10.99.0.2:8080")})
		}},
	}

	var changes []*netcfg.Change
	for _, op := range ops {
		first, err := op.do()
		if err != nil {
			t.Fatalf("%s: %v", op.name, err)
		}
		if first.Empty() {
			t.Errorf("%s: first apply changed nothing", op.name)
		}
		second, err := op.do()
		if err != nil {
			t.Fatalf("%s, again: %v", op.name, err)
		}
		if !second.Empty() {
			t.Errorf("%s, again: changed %s", op.name, second)
		}
		changes = append(changes, first, second)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := h.Announce(ctx, netcfg.Announcement{Link: "vrrp.51", Addrs: []netip.Addr{a("10.99.0.10")}}); err != nil {
		t.Errorf("announce on the vmac: %v", err)
	}
	vmacOut := n.Run("ip", "-d", "link", "show", "vrrp.51")
	for _, want := range []string{"vrrp.51@eth0", "link/ether 00:00:5e:00:01:33", "macvlan mode private", "state UP"} {
		if !strings.Contains(vmacOut, want) {
			t.Errorf("ip -d link show vrrp.51 lacks %q:\n%s", want, vmacOut)
		}
	}
	if out := n.Run("ip", "-d", "link", "show", "vrrp6.51"); !strings.Contains(out, "link/ether 00:00:5e:00:02:33") {
		t.Errorf("IPv6 vmac has the wrong MAC:\n%s", out)
	}
	during := takeSnapshot(t, n)
	for k := range before {
		if before[k] == during[k] {
			t.Errorf("%s: the operations changed nothing an observer sees", k)
		}
	}

	for i := len(changes) - 1; i >= 0; i-- {
		if err := changes[i].Undo(); err != nil {
			t.Errorf("undo: %v", err)
		}
	}
	// Undo is idempotent.
	for _, c := range changes {
		if err := c.Undo(); err != nil {
			t.Errorf("second undo: %v", err)
		}
	}
	settle(t, n)
	after := takeSnapshot(t, n)
	for k := range before {
		if diff := diffLines(before[k], after[k]); diff != "" {
			t.Errorf("%s differs after undo (-before +after):\n%s", k, diff)
		}
	}
	_ = peerHost
}

// Removing what is absent is not an error and changes nothing.
func TestIntegrationRemoveAbsent(t *testing.T) {
	lab := netnstest.New(t)
	n := lab.Host("n")
	lab.Link(n, "eth0", "10.99.0.1/24", lab.Host("peer"), "eth0", "10.99.0.2/24")
	h := open(t, n)
	p := netip.MustParsePrefix
	for name, do := range map[string]func() (*netcfg.Change, error){
		"address": func() (*netcfg.Change, error) {
			return h.RemoveAddress(netcfg.Address{Link: "eth0", Prefix: p("10.99.0.9/24")})
		},
		"route": func() (*netcfg.Change, error) {
			return h.RemoveRoute(netcfg.Route{Dst: p("10.50.0.0/16"), Gateway: netip.MustParseAddr("10.99.0.2")})
		},
		"rule": func() (*netcfg.Change, error) { return h.RemoveRule(netcfg.Rule{From: p("10.1.0.0/16"), Table: 100}) },
		"vmac": func() (*netcfg.Change, error) { return h.RemoveVMAC("vrrp.9") },
		"masquerade": func() (*netcfg.Change, error) {
			return h.RemoveMasquerade(netcfg.Masquerade{Source: p("10.0.0.0/8"), OutLink: "eth0"})
		},
		"dnat": func() (*netcfg.Change, error) {
			return h.RemoveDNAT(netcfg.DNAT{Dst: netip.MustParseAddrPort("10.99.0.1:80"), To: netip.MustParseAddrPort("10.99.0.2:80")})
		},
	} {
		c, err := do()
		if err != nil {
			t.Errorf("remove absent %s: %v", name, err)
		} else if !c.Empty() {
			t.Errorf("remove absent %s: changed %s", name, c)
		}
	}
	if out := n.Run("nft", "list", "ruleset"); out != "" {
		t.Errorf("removing absent NAT rules left a ruleset:\n%s", out)
	}
}
