package netcfg_test

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/mdlayher/packet"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/lvskit/lvskit/internal/netnstest"
	"github.com/lvskit/lvskit/internal/peer"
	"github.com/lvskit/lvskit/netcfg"
)

// Block drops traffic to an address while neighbour discovery for it
// still works; Unblock restores it and leaves no ruleset behind.
func TestIntegrationBlock(t *testing.T) {
	lab := netnstest.New(t)
	a, b := lab.Host("a"), lab.Host("b")
	lan := lab.LAN("lan")
	lan.Connect(a, "eth0", "10.99.0.1/24", "fd00:99::1/64")
	lan.Connect(b, "eth0", "10.99.0.2/24", "fd00:99::2/64")
	h := open(t, a)
	for _, addr := range []string{"10.99.0.1:7000", "[fd00:99::1]:7000"} {
		ln, err := a.Listen("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		serve(t, ln, "a")
	}
	dial := func(addr string, timeout time.Duration) error {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		c, err := b.Dial(ctx, "tcp", addr)
		if err == nil {
			exchange(t, c, "hi")
			c.Close()
		}
		return err
	}
	for _, addr := range []string{"10.99.0.1:7000", "[fd00:99::1]:7000"} {
		if err := dial(addr, 20*time.Second); err != nil {
			t.Fatalf("before blocking, %s: %v", addr, err)
		}
	}

	c4 := must(t)(h.Block(netip.MustParseAddr("10.99.0.1")))
	c6 := must(t)(h.Block(netip.MustParseAddr("fd00:99::1")))
	if again := must(t)(h.Block(netip.MustParseAddr("fd00:99::1"))); !again.Empty() {
		t.Errorf("blocking twice changed %s", again)
	}
	t.Logf("nft ruleset while blocked:\n%s", a.Run("nft", "list", "ruleset"))

	// b forgets a's IPv6 MAC, so the next connect must resolve it anew.
	bl, err := b.Netlink().LinkByName("eth0")
	if err != nil {
		t.Fatal(err)
	}
	b.Netlink().NeighDel(&netlink.Neigh{LinkIndex: bl.Attrs().Index, IP: netip.MustParseAddr("fd00:99::1").AsSlice()})
	for _, addr := range []string{"10.99.0.1:7000", "[fd00:99::1]:7000"} {
		if err := dial(addr, time.Second); err == nil {
			t.Errorf("%s reachable while blocked", addr)
		}
	}
	// Neighbour discovery for the blocked IPv6 address still works (the
	// dial above sent a solicitation; the entry follows the answer).
	waitNeigh(t, b, "eth0", netip.MustParseAddr("fd00:99::1"), a.HardwareAddr("eth0"))
	// A unicast solicitation (what neighbour unreachability detection
	// sends) is addressed to the blocked address itself; it must still be
	// answered, or neighbours would lose the address after a while.
	if !unicastNSAnswered(t, b, "eth0", netip.MustParseAddr("fd00:99::2"), netip.MustParseAddr("fd00:99::1"), a.HardwareAddr("eth0")) {
		t.Error("unicast neighbour solicitation for the blocked address not answered")
	}

	if err := c6.Undo(); err != nil {
		t.Fatal(err)
	}
	if err := c4.Undo(); err != nil {
		t.Fatal(err)
	}
	for _, addr := range []string{"10.99.0.1:7000", "[fd00:99::1]:7000"} {
		if err := dial(addr, 20*time.Second); err != nil {
			t.Errorf("after unblocking, %s: %v", addr, err)
		}
	}
	if out := a.Run("nft", "list", "ruleset"); strings.TrimSpace(out) != "" {
		t.Errorf("ruleset left after undo:\n%s", out)
	}
}

// unicastNSAnswered sends, from observer's link, a neighbour solicitation
// for target addressed to target itself at dstMAC, and reports whether a
// neighbour advertisement for target came back (three tries).
func unicastNSAnswered(t *testing.T, observer *netnstest.Host, ifname string, src, target netip.Addr, dstMAC net.HardwareAddr) bool {
	t.Helper()
	conn, mac := observerSocket(t, observer, ifname, unix.ETH_P_IPV6)
	defer conn.Close()
	ip6 := &layers.IPv6{Version: 6, HopLimit: 255, NextHeader: layers.IPProtocolICMPv6, SrcIP: src.AsSlice(), DstIP: target.AsSlice()}
	icmp := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(layers.ICMPv6TypeNeighborSolicitation, 0)}
	icmp.SetNetworkLayerForChecksum(ip6)
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
		&layers.Ethernet{SrcMAC: mac, DstMAC: dstMAC, EthernetType: layers.EthernetTypeIPv6}, ip6, icmp,
		&layers.ICMPv6NeighborSolicitation{TargetAddress: target.AsSlice(),
			Options: layers.ICMPv6Options{{Type: layers.ICMPv6OptSourceAddress, Data: mac}}},
	); err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 2048)
	for i := 0; i < 3; i++ {
		if _, err := conn.WriteTo(buf.Bytes(), &packet.Addr{HardwareAddr: dstMAC}); err != nil {
			t.Fatal(err)
		}
		conn.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		for {
			n, _, err := conn.ReadFrom(b)
			if err != nil {
				break
			}
			p := gopacket.NewPacket(b[:n], layers.LayerTypeEthernet, gopacket.Default)
			if na, ok := p.Layer(layers.LayerTypeICMPv6NeighborAdvertisement).(*layers.ICMPv6NeighborAdvertisement); ok && na.TargetAddress.Equal(target.AsSlice()) && na.Solicited() {
				return true
			}
		}
	}
	return false
}

// Block lays out the VIPs in nftables as keepalived 2.2.7 does with
// vrrp_strict: keepalived, master of an IPv4 and an IPv6 instance in one
// namespace, and netcfg blocking the same addresses in another list
// the same tables, word for word (`nft list table ip|ip6 keepalived`).
func TestIntegrationBlockAsKeepalived(t *testing.T) {
	lab := netnstest.New(t)
	k, g := lab.Host("k"), lab.Host("g")
	lan := lab.LAN("lan")
	lan.Connect(k, "eth0", "10.99.0.1/24", "fd00:99::1/64")
	lan.Connect(g, "eth0", "10.99.0.2/24", "fd00:99::2/64")
	for _, h := range []*netnstest.Host{k, g} {
		waitLinkLocal(t, h, "eth0")
	}
	kp := peer.StartKeepalived(t, k, `global_defs {
    vrrp_strict
}
vrrp_instance V4 {
    interface eth0
    virtual_router_id 1
    priority 150
    virtual_ipaddress {
        10.99.0.100/32
        10.99.0.101/24
    }
}
vrrp_instance V6 {
    interface eth0
    virtual_router_id 2
    priority 150
    virtual_ipaddress {
        fe80::79/64
        fd00:99::100/128
    }
}
`)
	// A bound for a broken test: keepalived alone becomes master after
	// its master-down interval, then fills the sets.
	deadline := time.Now().Add(60 * time.Second)
	for strings.Count(kp.Log(), "setting firewall drop rule") < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("keepalived did not set its drop rules:\n%s", kp.Log())
		}
		time.Sleep(50 * time.Millisecond)
	}
	h := open(t, g)
	var changes []*netcfg.Change
	for _, a := range []string{"10.99.0.100", "10.99.0.101", "fe80::79%eth0", "fd00:99::100"} {
		changes = append(changes, must(t)(h.Block(netip.MustParseAddr(a))))
	}
	blocked, err := h.BlockedAddresses()
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(blocked); got != "[10.99.0.100 10.99.0.101 fd00:99::100 fe80::79%eth0]" {
		t.Errorf("BlockedAddresses = %s", got)
	}
	// keepalived logs "setting firewall drop rule" before it sends its
	// nftables batch: its table may still lack the last addresses when
	// the second line is read. Compare until they agree, or 30 s went by
	// (a bound for a broken test).
	for _, fam := range []string{"ip", "ip6"} {
		got := g.Run("nft", "list", "table", fam, netcfg.BlockTable)
		var d string
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
			// Not Run: the table may not be there yet either.
			want, _ := k.Command(context.Background(), "nft", "list", "table", fam, netcfg.BlockTable).CombinedOutput()
			if d = diffLines(string(want), got); d == "" || time.Now().After(deadline) {
				break
			}
		}
		if d != "" {
			t.Errorf("nft list table %s keepalived, keepalived's then netcfg's:\n%s", fam, d)
		}
	}
	// Unblocking removes the addresses, the last one its table.
	for i := len(changes) - 1; i >= 0; i-- {
		if err := changes[i].Undo(); err != nil {
			t.Fatal(err)
		}
	}
	if out := g.Run("nft", "list", "ruleset"); strings.TrimSpace(out) != "" {
		t.Errorf("ruleset left after undo:\n%s", out)
	}
}

// waitLinkLocal waits until link's IPv6 link-local address passed DAD.
func waitLinkLocal(t *testing.T, h *netnstest.Host, link string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		l, err := h.Netlink().LinkByName(link)
		if err != nil {
			t.Fatal(err)
		}
		addrs, err := h.Netlink().AddrList(l, netlink.FAMILY_V6)
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range addrs {
			if a.IP.IsLinkLocalUnicast() && a.Flags&unix.IFA_F_TENTATIVE == 0 {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no link-local address on %s in %s", link, h.Name())
		}
		time.Sleep(20 * time.Millisecond)
	}
}
