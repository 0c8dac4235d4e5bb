package netcfg_test

import (
	"context"
	"net/netip"
	"testing"

	"github.com/lvskit/lvskit/internal/netnstest"
	"github.com/lvskit/lvskit/netcfg"
)

// BenchmarkTakeover measures what a new VRRP master does to its host:
// add the VIP, send one gratuitous ARP, and (to repeat) remove the VIP.
// Needs root; run with: go test -run '^$' -bench Takeover ./netcfg
func BenchmarkTakeover(b *testing.B) {
	lab := netnstest.New(b)
	n, peerHost := lab.Host("n"), lab.Host("peer")
	lab.Link(n, "eth0", "10.99.0.1/24", peerHost, "eth0", "10.99.0.2/24")
	h, err := netcfg.Open(netcfg.Config{NetNS: n.Name()})
	if err != nil {
		b.Fatal(err)
	}
	defer h.Close()
	vip := netip.MustParseAddr("10.99.0.100")
	a := netcfg.Address{Link: "eth0", Prefix: netip.PrefixFrom(vip, 24), Label: "eth0:1"}
	ctx := context.Background()
	b.ResetTimer()
	for b.Loop() {
		if _, err := h.AddAddress(a); err != nil {
			b.Fatal(err)
		}
		if err := h.Announce(ctx, netcfg.Announcement{Link: "eth0", Addrs: []netip.Addr{vip}}); err != nil {
			b.Fatal(err)
		}
		if _, err := h.RemoveAddress(a); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSetSysctl measures a sysctl read-compare-write in another
// namespace (a thread entering it each time).
func BenchmarkSetSysctl(b *testing.B) {
	lab := netnstest.New(b)
	n := lab.Host("n")
	h, err := netcfg.Open(netcfg.Config{NetNS: n.Name()})
	if err != nil {
		b.Fatal(err)
	}
	defer h.Close()
	v := 0
	for b.Loop() {
		v ^= 1
		if _, err := h.SetARPIgnore("all", v); err != nil {
			b.Fatal(err)
		}
	}
}
