package netcfg_test

import (
	"bytes"
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/vishvananda/netlink"

	"github.com/lvskit/lvskit/internal/netnstest"
	"github.com/lvskit/lvskit/internal/peer"
	"github.com/lvskit/lvskit/netcfg"
)

// A DR real server must not answer ARP for the VIP, yet accept packets for
// it. The control step (VIP on lo without the sysctls) shows the probe
// does see replies when there are any.
func TestIntegrationRealServerARP(t *testing.T) {
	lab := netnstest.New(t)
	rs, client := lab.Host("rs"), lab.Host("client")
	lan := lab.LAN("lan")
	lan.Connect(rs, "eth0", "10.99.0.1/24")
	lan.Connect(client, "eth0", "10.99.0.2/24")
	h := open(t, rs)
	vip := netip.MustParseAddr("10.99.0.100")
	clientIP := netip.MustParseAddr("10.99.0.2")
	rsMAC := rs.HardwareAddr("eth0")

	// Control: the VIP on lo with default sysctls is answered by ARP.
	c := must(t)(h.AddAddress(netcfg.Address{Link: "lo", Prefix: netip.PrefixFrom(vip, 32)}))
	if got := arpWho(t, client, "eth0", clientIP, vip); len(got) == 0 || !bytes.Equal(got[0], rsMAC) {
		t.Fatalf("control: ARP replies for the VIP on lo with arp_ignore=0: got %v, want %v", got, rsMAC)
	}
	if err := c.Undo(); err != nil {
		t.Fatal(err)
	}

	change := must(t)(h.ConfigureRealServer(vip, "eth0"))
	t.Logf("ConfigureRealServer changed:\n%s", change)

	addrs, err := h.Addresses("lo")
	if err != nil {
		t.Fatal(err)
	}
	want := netcfg.Address{Link: "lo", Prefix: netip.MustParsePrefix("10.99.0.100/32"), Label: "lo:0"}
	if !containsAddr(addrs, want) {
		t.Fatalf("lo addresses %v lack %v", addrs, want)
	}
	if out := rs.Run("ip", "-4", "addr", "show", "dev", "lo"); !strings.Contains(out, "10.99.0.100/32 scope global lo:0") {
		t.Fatalf("ip addr show dev lo does not show the VIP with label lo:0:\n%s", out)
	}
	for _, k := range []string{"net.ipv4.conf.all.arp_ignore = 1", "net.ipv4.conf.eth0.arp_ignore = 1", "net.ipv4.conf.all.arp_announce = 2", "net.ipv4.conf.eth0.arp_announce = 2"} {
		name := strings.Fields(k)[0]
		if got := strings.TrimSpace(rs.Run("sysctl", name)); got != k {
			t.Errorf("sysctl %s: got %q, want %q", name, got, k)
		}
	}

	if got := arpWho(t, client, "eth0", clientIP, vip); len(got) != 0 {
		t.Fatalf("real server answered ARP for the VIP: %v", got)
	}
	// The same probe still gets the real server's own address.
	if got := arpWho(t, client, "eth0", clientIP, netip.MustParseAddr("10.99.0.1")); len(got) == 0 {
		t.Fatal("no ARP reply for the real server's own address: the probe is broken")
	}

	// Packets for the VIP routed to the real server's MAC are accepted.
	ln, err := rs.Listen("tcp", "10.99.0.100:8080")
	if err != nil {
		t.Fatal(err)
	}
	serve(t, ln, "rs")
	client.AddRoute("10.99.0.100/32", "10.99.0.1")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	conn, err := client.Dial(ctx, "tcp", "10.99.0.100:8080")
	if err != nil {
		t.Fatalf("connect to the VIP through the real server's MAC: %v", err)
	}
	if got := exchange(t, conn, "hello"); got != "rs 10.99.0.2" {
		t.Errorf("answer: got %q, want %q", got, "rs 10.99.0.2")
	}
	conn.Close()

	if err := change.Undo(); err != nil {
		t.Fatal(err)
	}
	addrs, err = h.Addresses("lo")
	if err != nil {
		t.Fatal(err)
	}
	if containsAddr(addrs, want) {
		t.Errorf("VIP still on lo after undo: %v", addrs)
	}
	if got := strings.TrimSpace(rs.Run("sysctl", "net.ipv4.conf.all.arp_ignore")); got != "net.ipv4.conf.all.arp_ignore = 0" {
		t.Errorf("after undo: %s", got)
	}
}

func containsAddr(list []netcfg.Address, a netcfg.Address) bool {
	for _, x := range list {
		if x == a {
			return true
		}
	}
	return false
}

// Gratuitous ARP and unsolicited NA from one namespace update another's
// neighbour table, and tshark decodes them as what they claim to be.
func TestIntegrationAnnounce(t *testing.T) {
	lab := netnstest.New(t)
	a, b := lab.Host("a"), lab.Host("b")
	lan := lab.LAN("lan")
	lan.Connect(a, "eth0", "10.99.0.1/24", "fd00:99::1/64")
	lan.Connect(b, "eth0", "10.99.0.2/24", "fd00:99::2/64")
	h := open(t, a)
	vip4, vip6 := netip.MustParseAddr("10.99.0.50"), netip.MustParseAddr("fd00:99::50")
	aMAC := a.HardwareAddr("eth0")
	stale := []byte{0x02, 0, 0, 0, 0, 0x99}

	// b already has (stale) entries with another MAC, so an update shows.
	bl, err := b.Netlink().LinkByName("eth0")
	if err != nil {
		t.Fatal(err)
	}
	for _, ip := range []netip.Addr{vip4, vip6} {
		n := &netlink.Neigh{LinkIndex: bl.Attrs().Index, IP: ip.AsSlice(), HardwareAddr: stale, State: netlink.NUD_STALE}
		if err := b.Netlink().NeighAdd(n); err != nil {
			t.Fatalf("neigh add %v: %v", ip, err)
		}
		if got := neighMAC(t, b, "eth0", ip); !bytes.Equal(got, stale) {
			t.Fatalf("setup: neighbour %v has %v", ip, got)
		}
	}

	capture := peer.StartCapture(t, b, "eth0", "arp or icmp6")
	counter := countAnnouncements(t, b, "eth0")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := h.Announce(ctx, netcfg.Announcement{Link: "eth0", Addrs: []netip.Addr{vip4, vip6}, Count: 3, Interval: 50 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	waitNeigh(t, b, "eth0", vip4, aMAC)
	waitNeigh(t, b, "eth0", vip6, aMAC)

	// With a VRRP virtual MAC as the source, the entries move to it.
	vmac4, vmac6 := netcfg.VirtualMAC(51, false), netcfg.VirtualMAC(51, true)
	if err := h.Announce(ctx, netcfg.Announcement{Link: "eth0", Addrs: []netip.Addr{vip4}, SourceMAC: vmac4}); err != nil {
		t.Fatal(err)
	}
	if err := h.Announce(ctx, netcfg.Announcement{Link: "eth0", Addrs: []netip.Addr{vip6}, SourceMAC: vmac6}); err != nil {
		t.Fatal(err)
	}
	waitNeigh(t, b, "eth0", vip4, vmac4)
	waitNeigh(t, b, "eth0", vip6, vmac6)

	// Counted on b by a packet socket opened before anything was sent:
	// Count 3 sent three of each from a's MAC, then one of each from the
	// virtual MACs.
	wantCounts := map[string]int{
		"garp " + aMAC.String(): 3, "na " + aMAC.String(): 3,
		"garp " + vmac4.String(): 1, "na " + vmac6.String(): 1,
	}
	if diff := cmp.Diff(wantCounts, counter(wantCounts)); diff != "" {
		t.Errorf("announcements received by b (-want +got):\n%s", diff)
	}

	// libpcap hands packets to dumpcap a ring block at a time, and dumpcap
	// writes them when it gets to run: stopping it before the last frames
	// are in the file loses them. Wait until the file has the frames sent
	// last (from the virtual MACs).
	waitCaptured(t, capture, "arp.isgratuitous == 1 || icmpv6.type == 136", vmac4.String(), vmac6.String())
	// One tshark pass over the capture: every frame it calls a gratuitous
	// ARP or a neighbour advertisement, with the fields that make it one.
	rows := capture.Fields("arp.isgratuitous == 1 || icmpv6.type == 136",
		"eth.src", "eth.dst", "arp.opcode", "arp.src.hw_mac", "arp.src.proto_ipv4", "arp.dst.proto_ipv4",
		"ipv6.src", "ipv6.dst", "ipv6.hlim", "icmpv6.nd.na.flag.o", "icmpv6.nd.na.flag.s",
		"icmpv6.nd.na.target_address", "icmpv6.opt.linkaddr", "icmpv6.checksum.status")
	var garps, nas [][]string
	for _, r := range rows {
		if len(r) < 14 {
			t.Fatalf("short tshark row %q", r)
		}
		if r[2] != "" {
			garps = append(garps, r[:6])
		} else {
			nas = append(nas, append([]string{r[1]}, r[6:]...))
		}
	}
	// tshark may start capturing a little late on a loaded machine, so
	// it judges the frames it saw (at least the virtual-MAC ones, sent
	// last), and b's own counter above judges how many.
	wantGARP := [][]string{
		{aMAC.String(), "ff:ff:ff:ff:ff:ff", "1", aMAC.String(), "10.99.0.50", "10.99.0.50"},
		{vmac4.String(), "ff:ff:ff:ff:ff:ff", "1", vmac4.String(), "10.99.0.50", "10.99.0.50"},
	}
	if diff := tailDiff(wantGARP, dedupe(garps)); diff != "" {
		t.Errorf("gratuitous ARPs tshark decoded (-want +got):\n%s", diff)
	}
	na := func(mac string) []string {
		return []string{"33:33:00:00:00:01", "fd00:99::50", "ff02::1", "255", "True", "False", "fd00:99::50", mac, "1"}
	}
	wantNA := [][]string{na(aMAC.String()), na(vmac6.String())}
	if diff := tailDiff(wantNA, dedupe(normalizeBools(nas))); diff != "" {
		t.Errorf("neighbour advertisements tshark decoded (-want +got):\n%s", diff)
	}
	if probs := capture.Problems(); len(probs) != 0 {
		t.Errorf("tshark reports problems: %v", probs)
	}
}

// waitCaptured waits until the capture's file, read while tshark still
// writes it, has frames matching displayFilter from each of the source
// MACs (30 s in all), or fails saying which it has.
func waitCaptured(t *testing.T, c *peer.Capture, displayFilter string, macs ...string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for _, m := range macs {
		if !c.WaitFor("("+displayFilter+") && eth.src == "+m, time.Until(deadline)) {
			var from []string
			for _, r := range c.Fields(displayFilter, "eth.src") {
				from = append(from, r[0])
			}
			t.Fatalf("capture has no frame from %s after 30 s; frames from: %q", m, from)
		}
	}
}

// normalizeBools maps tshark's boolean renderings (1/0, True/False by
// version) to True/False, leaving other fields.
func normalizeBools(rows [][]string) [][]string {
	for _, r := range rows {
		for _, i := range []int{4, 5} {
			if i < len(r) {
				switch r[i] {
				case "1":
					r[i] = "True"
				case "0":
					r[i] = "False"
				}
			}
		}
	}
	return rows
}

// dedupe drops consecutive repeated rows.
func dedupe(rows [][]string) [][]string {
	var out [][]string
	for _, r := range rows {
		if len(out) == 0 || !cmp.Equal(out[len(out)-1], r) {
			out = append(out, r)
		}
	}
	return out
}

// tailDiff compares got with the last len(got) rows of want (a capture
// that started late misses leading rows, never trailing ones); got must
// hold at least the last row.
func tailDiff(want, got [][]string) string {
	if len(got) == 0 || len(got) > len(want) {
		return cmp.Diff(want, got)
	}
	return cmp.Diff(want[len(want)-len(got):], got)
}
