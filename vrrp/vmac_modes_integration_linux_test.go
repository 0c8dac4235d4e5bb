package vrrp_test

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lvskit/lvskit/internal/netnstest"
	"github.com/lvskit/lvskit/internal/peer"
	"github.com/lvskit/lvskit/netcfg"
	"github.com/lvskit/lvskit/vrrp"
	"github.com/vishvananda/netlink"
)

// TestIntegrationVMACModes runs two lvskit instances with UseVMAC for IPv6
// multicast and for IPv4 and IPv6 unicast peers, with tshark and the
// kernel of a third namespace as observers, and checks what keepalived
// 2.2.7 does in the same setups (checked against it by hand: see the
// report of this change):
//
//   - IPv6 multicast: adverts leave from the macvlan, Ethernet source the
//     virtual MAC 00:00:5e:00:02:VRID, IPv6 source the link-local address
//     the macvlan got (a copy of the parent's), and the backup receives
//     them on its own macvlan.
//   - unicast: keepalived forces vmac_xmit_base, so adverts leave from the
//     parent with its MAC; the VIP is on the macvlan all the same.
//   - in every mode the observer's neighbour table maps the VIP to the
//     virtual MAC (the parent, with arp_ignore=1 and arp_filter=1, does not
//     answer for it), the IPv4 sysctls keepalived sets are set, and when
//     an instance stops its macvlan is gone and the parent's settings are
//     restored.
func TestIntegrationVMACModes(t *testing.T) {
	netnstest.RequireRoot(t)
	t.Parallel()
	for _, m := range []struct {
		name                    string
		ipv6, unicast, xmitBase bool
	}{
		{"ipv4_multicast", false, false, false},
		{"ipv6_multicast", true, false, false},
		{"ipv4_unicast", false, true, false},
		{"ipv6_unicast", true, true, false},
		{"ipv6_multicast_xmit_base", true, false, true},
	} {
		t.Run(m.name, func(t *testing.T) {
			t.Parallel()
			vmacMode(t, m.ipv6, m.unicast, m.xmitBase)
		})
	}
}

func vmacMode(t *testing.T, ipv6, unicast, xmitBase bool) {
	// Adverts leave from the parent with unicast peers (keepalived forces
	// vmac_xmit_base then) or with vmac_xmit_base.
	fromParent := unicast || xmitBase
	lab := netnstest.New(t)
	lan := lab.LAN("lan")
	h1, h2, obs := lab.Host("m1"), lab.Host("m2"), lab.Host("mo")
	lan.Connect(h1, "eth0", "10.98.0.1/24", "fd00:98::1/64")
	lan.Connect(h2, "eth0", "10.98.0.2/24", "fd00:98::2/64")
	lan.Connect(obs, "eth0", "10.98.0.3/24", "fd00:98::3/64")
	const vrid = 63
	vmacName := fmt.Sprintf("vrrp.%d", vrid)
	vmac := netcfg.VirtualMAC(vrid, ipv6)
	addr1, addr2 := netip.MustParseAddr("10.98.0.1"), netip.MustParseAddr("10.98.0.2")
	vip := netip.MustParsePrefix("10.98.0.100/32")
	if ipv6 {
		addr1, addr2 = netip.MustParseAddr("fd00:98::1"), netip.MustParseAddr("fd00:98::2")
		vip = netip.MustParsePrefix("fd00:98::100/128")
		for _, h := range []*netnstest.Host{h1, h2, obs} {
			waitDAD(t, h)
		}
	}
	parentMAC := h1.HardwareAddr("eth0")
	ll1 := linkLocal(t, h1, "eth0")

	// On the backup's link: unicast adverts reach only it (the bridge has
	// learnt its MAC), and the capture taps frames before its macvlan
	// takes those from the virtual MAC.
	capture := peer.StartCapture(t, h2, "eth0", "proto 112 or arp or icmp6")

	start := func(h *netnstest.Host, prio int, self, other netip.Addr) *vmacNode {
		t.Helper()
		cfg := vrrp.Config{
			Name: h.Name(), Interface: "eth0", VRID: vrid, Priority: prio, Version: 3,
			// 500ms: a master-down interval of 1.8 s, a margin that a
			// busy machine does not eat (100ms, 0.36 s, it did; 300ms,
			// 1.1 s, is one stall of the test process).
			AdvertInterval: 500 * time.Millisecond, UseVMAC: true, VMACXmitBase: xmitBase,
			VIPs: []vrrp.VIP{{Prefix: vip}},
		}
		if unicast {
			cfg.Source, cfg.UnicastPeers = self, []netip.Addr{other}
		}
		return startNode(t, h, cfg)
	}
	sysctl := func(h *netnstest.Host, key string) string {
		t.Helper()
		var v string
		if err := h.Do(func() error {
			b, err := readFile("/proc/sys/net/" + key)
			v = strings.TrimSpace(b)
			return err
		}); err != nil {
			t.Fatalf("read %s in %s: %v", key, h.Name(), err)
		}
		return v
	}
	onLink := func(h *netnstest.Host, link string, p netip.Prefix) bool { return addrOn(t, h, link, p.Addr()) }

	n1 := start(h1, 200, addr1, addr2)
	n2 := start(h2, 100, addr2, addr1)
	waitFor(t, "m1 MASTER", 30*time.Second, func() bool { return n1.inst.State() == vrrp.StateMaster })
	// Both start as backups: m2 is settled once it follows a master (at
	// startup it may time out first and advertise until it hears m1).
	waitFor(t, "m2 BACKUP following m1", 30*time.Second, func() bool {
		s := n2.inst.Status()
		return s.State == vrrp.StateBackup && s.Master.IsValid()
	})
	// Ten adverts received: the backup stays backup, so it receives the
	// master's adverts (on its macvlan for multicast, its parent for unicast).
	vrrp.StaysPut(t, "m1 MASTER, m2 BACKUP", n2.adverts, 10, func() bool {
		return n2.inst.State() == vrrp.StateBackup && n1.inst.State() == vrrp.StateMaster
	})
	if !onLink(h1, vmacName, vip) || onLink(h1, "eth0", vip) {
		t.Errorf("VIP %v: want it on m1's %s only", vip, vmacName)
	}
	if onLink(h2, vmacName, vip) || onLink(h2, "eth0", vip) {
		t.Errorf("VIP %v on the backup", vip)
	}
	if l, err := h1.Netlink().LinkByName(vmacName); err != nil {
		t.Fatalf("m1's %s: %v", vmacName, err)
	} else if got := l.Attrs().HardwareAddr.String(); got != vmac.String() {
		t.Errorf("%s has MAC %s, want %s", vmacName, got, vmac)
	}

	// keepalived's settings (vrrp_if_config.c, vrrp_vmac.c).
	if ipv6 {
		if got := sysctl(h1, "ipv6/conf/"+vmacName+"/addr_gen_mode"); got != "1" {
			t.Errorf("%s addr_gen_mode %s, want 1 (none)", vmacName, got)
		}
		vll := linkLocal(t, h1, vmacName)
		switch {
		case fromParent && vll.IsValid():
			t.Errorf("%s has link-local %v; with xmit_base it needs none", vmacName, vll)
		case !fromParent && vll != ll1:
			t.Errorf("%s link-local %v, want the parent's %v", vmacName, vll, ll1)
		}
	} else {
		for key, want := range map[string]string{
			"ipv4/conf/" + vmacName + "/arp_ignore":          "1",
			"ipv4/conf/" + vmacName + "/accept_local":        "1",
			"ipv4/conf/" + vmacName + "/rp_filter":           "0",
			"ipv4/conf/" + vmacName + "/promote_secondaries": "1",
			"ipv6/conf/" + vmacName + "/disable_ipv6":        "1",
			"ipv4/conf/eth0/arp_ignore":                      "1",
			"ipv4/conf/eth0/arp_filter":                      "1",
		} {
			if got := sysctl(h1, key); got != want {
				t.Errorf("m1 %s = %s, want %s", key, got, want)
			}
		}
	}

	// The observer reaches the VIP: its neighbour table maps it to the
	// virtual MAC. It reaches m1's own address first, as any host on the
	// LAN talking to m1 would have: otherwise m1, answering from the VIP
	// through its parent, would ask for the observer's MAC from the
	// parent with the VIP as sender, and the observer would learn the
	// parent's MAC from that request (so would it with keepalived).
	ping := "ping"
	if ipv6 {
		ping = "ping6"
	}
	_ = obs.Command(context.Background(), ping, "-c", "1", "-W", "1", addr1.String()).Run()
	waitFor(t, "observer's neighbour entry for the VIP", 30*time.Second, func() bool {
		_ = obs.Command(context.Background(), ping, "-c", "1", "-W", "1", vip.Addr().String()).Run()
		neighs, err := obs.Netlink().NeighList(0, netlink.FAMILY_ALL)
		if err != nil {
			t.Fatal(err)
		}
		for _, nb := range neighs {
			if ip, ok := netip.AddrFromSlice(nb.IP); ok && ip.Unmap() == vip.Addr() && len(nb.HardwareAddr) == 6 {
				if nb.HardwareAddr.String() != vmac.String() {
					t.Fatalf("observer maps %v to %v, want the virtual MAC %v (m1's parent is %v)", vip.Addr(), nb.HardwareAddr, vmac, parentMAC)
				}
				return true
			}
		}
		return false
	})

	// What tshark saw of the master's adverts.
	srcField, src := "ip.src", addr1.String()
	if ipv6 {
		srcField = "ipv6.src"
		if !unicast {
			src = ll1.String()
		}
	}
	var adverts int
	for _, r := range capture.Fields(fmt.Sprintf("vrrp && %s == %s", srcField, src), "eth.src", "vrrp.prio") {
		adverts++
		want := vmac.String()
		if fromParent {
			want = parentMAC.String()
		}
		if r[0] != want {
			t.Errorf("advert from %s with eth.src %s, want %s", src, r[0], want)
			break
		}
	}
	if adverts < 5 {
		t.Errorf("tshark saw %d adverts from %s, want at least 5", adverts, src)
	}
	// Gratuitous ARPs / unsolicited NAs for the VIP come from the virtual MAC.
	annFilter := fmt.Sprintf("arp.src.proto_ipv4 == %s", vip.Addr())
	if ipv6 {
		annFilter = fmt.Sprintf("icmpv6.type == 136 && icmpv6.nd.na.target_address == %s", vip.Addr())
	}
	var anns int
	for _, r := range capture.Fields(annFilter, "eth.src") {
		anns++
		if r[0] != vmac.String() {
			t.Errorf("announcement of %v from %s, want the virtual MAC %s", vip.Addr(), r[0], vmac)
		}
	}
	if anns == 0 {
		t.Errorf("tshark saw no gratuitous ARP / NA for %v", vip.Addr())
	}
	if p := capture.Problems(); len(p) > 0 {
		t.Errorf("tshark reports problems: %v", p)
	}

	// The master stops: the backup takes over on its own macvlan, and the
	// stopped one leaves no macvlan and its parent's settings restored.
	n1.stop(t)
	waitFor(t, "m2 MASTER with the VIP on its vmac", 30*time.Second, func() bool {
		return n2.inst.State() == vrrp.StateMaster && onLink(h2, vmacName, vip)
	})
	if _, err := h1.Netlink().LinkByName(vmacName); err == nil {
		t.Errorf("m1's %s still exists after its instance stopped", vmacName)
	}
	if !ipv6 {
		for _, key := range []string{"ipv4/conf/eth0/arp_ignore", "ipv4/conf/eth0/arp_filter"} {
			if got := sysctl(h1, key); got != "0" {
				t.Errorf("m1 %s = %s after the last VMAC went, want 0 (restored)", key, got)
			}
		}
	}
	n2.stop(t)
	if _, err := h2.Netlink().LinkByName(vmacName); err == nil {
		t.Errorf("m2's %s still exists after its instance stopped", vmacName)
	}
}

// linkLocal is the IPv6 link-local address of link in h, zero if none.
func linkLocal(t *testing.T, h *netnstest.Host, link string) netip.Addr {
	t.Helper()
	l, err := h.Netlink().LinkByName(link)
	if err != nil {
		t.Fatalf("find %s in %s: %v", link, h.Name(), err)
	}
	addrs, err := h.Netlink().AddrList(l, netlink.FAMILY_V6)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		if ip, ok := netip.AddrFromSlice(a.IP); ok && ip.IsLinkLocalUnicast() {
			return ip
		}
	}
	return netip.Addr{}
}

// waitDAD waits until no IPv6 address of h is tentative.
func waitDAD(t *testing.T, h *netnstest.Host) {
	t.Helper()
	waitFor(t, "DAD in "+h.Name(), 30*time.Second, func() bool {
		addrs, err := h.Netlink().AddrList(nil, netlink.FAMILY_V6)
		if err != nil {
			t.Fatal(err)
		}
		ll := false
		for _, a := range addrs {
			if a.Flags&syscall.IFA_F_TENTATIVE != 0 {
				return false
			}
			ll = ll || a.IP.IsLinkLocalUnicast() && !a.IP.Equal(net.IPv6loopback)
		}
		return ll
	})
}

func readFile(p string) (string, error) {
	b, err := os.ReadFile(p)
	return string(b), err
}

// TestIntegrationVMACKeepalived runs use_vmac against keepalived 2.2.7,
// both with their VMACs carrying the same virtual MAC, in both
// directions, for IPv6 multicast (adverts from the VMACs) and IPv4
// unicast (adverts from the parents): the backup keeps hearing the master
// and stays BACKUP, the VIP is on the master's VMAC only, and when the
// master dies (SIGKILL for keepalived, a stop for lvskit) the backup
// takes the VIP onto its own VMAC.
func TestIntegrationVMACKeepalived(t *testing.T) {
	netnstest.RequireRoot(t)
	t.Parallel()
	for _, m := range []struct {
		name    string
		ipv6    bool
		unicast bool
	}{{"ipv6_multicast", true, false}, {"ipv4_unicast", false, true}} {
		for _, lvskitMaster := range []bool{false, true} {
			name := m.name + "/keepalived_master"
			if lvskitMaster {
				name = m.name + "/lvskit_master"
			}
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				vmacKeepalived(t, m.ipv6, m.unicast, lvskitMaster)
			})
		}
	}
}

func vmacKeepalived(t *testing.T, ipv6, unicast, lvskitMaster bool) {
	lab := netnstest.New(t)
	lan := lab.LAN("lan")
	kh, gh := lab.Host("k"), lab.Host("g")
	lan.Connect(kh, "eth0", "10.97.0.1/24", "fd00:97::1/64")
	lan.Connect(gh, "eth0", "10.97.0.2/24", "fd00:97::2/64")
	const vrid = 64
	vmacName := fmt.Sprintf("vrrp.%d", vrid)
	kAddr, gAddr := netip.MustParseAddr("10.97.0.1"), netip.MustParseAddr("10.97.0.2")
	vip := netip.MustParsePrefix("10.97.0.100/32")
	if ipv6 {
		kAddr, gAddr = netip.MustParseAddr("fd00:97::1"), netip.MustParseAddr("fd00:97::2")
		vip = netip.MustParsePrefix("fd00:97::100/128")
		waitDAD(t, kh)
		waitDAD(t, gh)
	}
	kPrio, gPrio := 200, 100
	if lvskitMaster {
		kPrio, gPrio = 100, 200
	}
	var b strings.Builder
	fmt.Fprintf(&b, "vrrp_instance VI_1 {\n  state BACKUP\n  interface eth0\n  virtual_router_id %d\n  priority %d\n", vrid, kPrio)
	// 500ms: a master-down interval near 1.6-1.8s, as the interop tests
	// have it (at 200ms, 0.7s: a router starved that long on a busy
	// machine, keepalived or lvskit, lets the backup take over).
	b.WriteString("  advert_int 0.5\n  version 3\n  use_vmac\n")
	if unicast {
		fmt.Fprintf(&b, "  unicast_src_ip %s\n  unicast_peer {\n    %s\n  }\n", kAddr, gAddr)
	}
	fmt.Fprintf(&b, "  virtual_ipaddress {\n    %s\n  }\n}\n", vip)
	k := peer.StartKeepalived(t, kh, b.String())

	cfg := vrrp.Config{Name: "g", Interface: "eth0", VRID: vrid, Priority: gPrio, Version: 3,
		AdvertInterval: 500 * time.Millisecond, UseVMAC: true, VIPs: []vrrp.VIP{{Prefix: vip}}}
	if unicast {
		cfg.Source, cfg.UnicastPeers = gAddr, []netip.Addr{kAddr}
	}
	g := startNode(t, gh, cfg)
	inst := g.inst

	onVMAC := func(h *netnstest.Host) bool { return addrOn(t, h, vmacName, vip.Addr()) }
	master, backup := kh, gh
	wantG := vrrp.StateBackup
	if lvskitMaster {
		master, backup, wantG = gh, kh, vrrp.StateMaster
	}
	steady := func() bool {
		return inst.State() == wantG && onVMAC(master) && !onVMAC(backup)
	}
	// Settled once lvskit as backup has taken an advert from keepalived:
	// started together, both may time out in the same moment, and lvskit
	// go MASTER after keepalived's VIP is up but before its first advert
	// arrives. (As master, lvskit holds the VIP alone only once keepalived
	// gave it up on lvskit's advert.)
	waitFor(t, "VIP on the master's VMAC ("+master.Name()+"), the backup following it", 30*time.Second, func() bool {
		return steady() && (lvskitMaster || inst.Status().Master.IsValid())
	})
	// Fifteen adverts sent or received by lvskit: the backup keeps
	// hearing the master.
	vrrp.StaysPut(t, "roles", g.adverts, 15, func() bool {
		if !steady() {
			t.Errorf("roles changed: lvskit %v, VIP on master %v, on backup %v", inst.State(), onVMAC(master), onVMAC(backup))
			return false
		}
		return true
	})
	if lvskitMaster {
		g.stop(t)
		waitFor(t, "keepalived takes the VIP onto its VMAC", 30*time.Second, func() bool { return onVMAC(kh) && !onVMAC(gh) })
		if _, err := gh.Netlink().LinkByName(vmacName); err == nil {
			t.Errorf("lvskit's %s still exists after it stopped", vmacName)
		}
	} else {
		k.Kill()
		waitFor(t, "lvskit takes the VIP onto its VMAC", 30*time.Second, func() bool {
			return inst.State() == vrrp.StateMaster && onVMAC(gh)
		})
	}
}
