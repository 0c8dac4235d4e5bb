package bgp

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/lvskit/lvskit/internal/netnstest"
	"github.com/lvskit/lvskit/internal/peer"
)

// TestIntegrationECMP: three speakers announce the same VIPs to FRR,
// which installs them with three next hops each (IPv4 /32 and IPv6 /128);
// an explicit Withdraw, a re-announcement, a graceful stop (SIGTERM), a
// host death that only BFD can see and a crash (SIGKILL) each change the
// router's FIB as they should.
func TestIntegrationECMP(t *testing.T) {
	const n = 3
	l := newECMPLab(t, n)
	sp := make([]*speakerProc, n)
	for i := range n {
		sp[i] = startSpeaker(t, l.speakers[i], fmt.Sprintf("s%d", i+1), speakerSpecFor(i+1, "", testBFD))
	}
	// Started last, so that on failure its state is logged while the
	// speakers still run.
	frr := startRouter(t, l.router, peer.FRRConfig{BGP: routerBGP(n, nil), BFD: routerBFD(testBFD)})
	all4 := []netip.Addr{lan4(1), lan4(2), lan4(3)}
	all6 := []netip.Addr{lan6(1), lan6(2), lan6(3)}

	waitFor(t, "sessions and BFD up", established(t, frr, append(all4, all6...)...))
	waitFor(t, "IPv4 VIP over three next hops", fibIs(t, l.router, vip4, all4...))
	waitFor(t, "IPv6 VIP over three next hops", fibIs(t, l.router, vip6, all6...))

	// The speakers see it the same way.
	waitFor(t, "speaker 1 status", func() (bool, string) {
		st := sp[0].status()
		for _, p := range st.Peers {
			if p.State != Established || p.BFD != BFDUp || p.Sent != 1 {
				return false, fmt.Sprintf("%+v", st.Peers)
			}
		}
		return st.Running && len(st.Peers) == 2, fmt.Sprintf("%+v", st)
	})

	t.Run("Withdraw", func(t *testing.T) {
		before := frr.Neighbor(t, lan4(1)).ConnectionsEstablished
		if before == 0 {
			t.Fatal("router reports no established connection with speaker 1")
		}
		sp[0].must("withdraw " + vip4.String())
		waitFor(t, "IPv4 VIP without speaker 1", fibIs(t, l.router, vip4, lan4(2), lan4(3)))
		// The IPv6 VIP and the session stay.
		waitFor(t, "IPv6 VIP still over three next hops", fibIs(t, l.router, vip6, all6...))
		// A withdrawal is an UPDATE: the session stays as it was. A loaded
		// machine can make BFD (300 ms x 3) flap and take the session down
		// meanwhile: the router then names BFD as the reason, which a
		// speaker that withdrew by resetting the session would not.
		if nb := frr.Neighbor(t, lan4(1)); nb.BgpState != "Established" || nb.ConnectionsEstablished != before {
			why := nb.LastResetDueTo + " " + nb.LastNotificationReason
			if strings.Contains(why, "BFD") {
				t.Logf("session with speaker 1 went down by BFD during the withdraw (%q; %q, established %d times, %d before): a flap of the loaded machine, not the withdraw",
					why, nb.BgpState, nb.ConnectionsEstablished, before)
			} else {
				t.Errorf("session with speaker 1 after a withdraw: %q, established %d times, %d before (reset due to %q)", nb.BgpState, nb.ConnectionsEstablished, before, why)
			}
		}
		sp[0].must("announce " + vip4.String())
		waitFor(t, "IPv4 VIP back over three next hops", fibIs(t, l.router, vip4, all4...))
	})

	t.Run("GracefulStop", func(t *testing.T) {
		before := frr.Neighbor(t, lan4(2)).MessageStats
		sp[1].terminate()
		waitFor(t, "IPv4 VIP without speaker 2", fibIs(t, l.router, vip4, lan4(1), lan4(3)))
		waitFor(t, "IPv6 VIP without speaker 2", fibIs(t, l.router, vip6, lan6(1), lan6(3)))
		// The withdrawal came as an UPDATE before the session was closed
		// with a NOTIFICATION (Cease). The FIB can change on the UPDATE
		// before bgpd has read the NOTIFICATION behind it: wait for both.
		waitFor(t, "router counted speaker 2's withdrawal UPDATE and its NOTIFICATION", func() (bool, string) {
			after := frr.Neighbor(t, lan4(2))
			return after.MessageStats.UpdatesRecv > before.UpdatesRecv && after.MessageStats.NotificationsRecv > before.NotificationsRecv,
				fmt.Sprintf("UPDATEs received %d before the stop, %d now; NOTIFICATIONs %d before, %d now (reset due to %q)",
					before.UpdatesRecv, after.MessageStats.UpdatesRecv, before.NotificationsRecv, after.MessageStats.NotificationsRecv, after.LastResetDueTo)
		})
	})

	// A director host that dies (power, kernel, cable) sends nothing more:
	// no BFD, no TCP FIN. Its link goes down, then its process is killed:
	// only BFD can tell the router.
	t.Run("HostDeathCaughtByBFD", func(t *testing.T) {
		link, err := l.speakers[2].Netlink().LinkByName("eth0")
		if err != nil {
			t.Fatal(err)
		}
		if err := l.speakers[2].Netlink().LinkSetDown(link); err != nil {
			t.Fatal(err)
		}
		sp[2].kill()
		waitFor(t, "IPv4 VIP only via speaker 1", fibIs(t, l.router, vip4, lan4(1)))
		waitFor(t, "IPv6 VIP only via speaker 1", fibIs(t, l.router, vip6, lan6(1)))
		bfd := frr.BFDPeers(t)
		for _, a := range []netip.Addr{lan4(3), lan6(3)} {
			if bfd[a] != "down" {
				t.Errorf("router's BFD session with the dead speaker %v is %q, want down", a, bfd[a])
			}
			// The hold timer (90s) cannot have done it: BFD did.
			nb := frr.Neighbor(t, a)
			if !strings.Contains(nb.LastResetDueTo+" "+nb.LastNotificationReason, "BFD") {
				t.Errorf("router reset the session with %v due to %q (notification %q), want BFD", a, nb.LastResetDueTo, nb.LastNotificationReason)
			}
		}
		// The survivor's BFD session is up (again, if the loaded machine
		// made it flap).
		waitFor(t, "BFD with speaker 1 up", func() (bool, string) {
			st := frr.BFDPeers(t)[lan4(1)]
			return st == "up", fmt.Sprintf("BFD with speaker 1 is %q", st)
		})
	})

	// A director process that crashes on a live host: its kernel closes
	// the TCP sessions, and its BFD stops. The router drops the next hop,
	// and its BFD session goes down.
	t.Run("Crash", func(t *testing.T) {
		sp[0].kill()
		waitFor(t, "no IPv4 route once the last speaker is gone", fibIs(t, l.router, vip4))
		waitFor(t, "no IPv6 route once the last speaker is gone", fibIs(t, l.router, vip6))
		waitFor(t, "BFD with the crashed speaker down", func() (bool, string) {
			bfd := frr.BFDPeers(t)
			return bfd[lan4(1)] == "down" && bfd[lan6(1)] == "down", fmt.Sprintf("BFD %v", bfd)
		})
	})
}

// TestIntegrationPassword: a speaker with the router's TCP MD5 password
// gets its route installed; one with another password never gets a
// session: the router's kernel drops its segments (TCPMD5Failure).
func TestIntegrationPassword(t *testing.T) {
	l := newECMPLab(t, 2)
	bgpConf := routerBGP(2, func(_ int, a netip.Addr) string {
		return fmt.Sprintf(" neighbor %v password s3cret\n", a)
	})
	failuresBefore := md5Failures(t, l.router)
	startSpeaker(t, l.speakers[0], "s1", speakerSpecFor(1, "s3cret", testBFD))
	bad := startSpeaker(t, l.speakers[1], "s2", speakerSpecFor(2, "wrong", testBFD))
	frr := startRouter(t, l.router, peer.FRRConfig{BGP: bgpConf, BFD: routerBFD(testBFD)})

	waitFor(t, "matching password: sessions up", established(t, frr, lan4(1), lan6(1)))
	waitFor(t, "IPv4 VIP via the speaker with the password", fibIs(t, l.router, vip4, lan4(1)))
	waitFor(t, "IPv6 VIP via the speaker with the password", fibIs(t, l.router, vip6, lan6(1)))
	waitFor(t, "the router's kernel dropping the wrong password", func() (bool, string) {
		n := md5Failures(t, l.router)
		return n > failuresBefore, fmt.Sprintf("TCPMD5Failure %d", n)
	})
	for _, a := range []netip.Addr{lan4(2), lan6(2)} {
		if st := frr.Neighbor(t, a).BgpState; st == "Established" {
			t.Errorf("session with %v (wrong password) is established", a)
		}
	}
	for _, p := range bad.status().Peers {
		if p.State == Established {
			t.Errorf("speaker with the wrong password has an established session with %v", p.Address)
		}
	}
	// Both speakers' routes were sent all along: only the one with the
	// password is in the FIB.
	waitFor(t, "IPv4 VIP still only via the speaker with the password", fibIs(t, l.router, vip4, lan4(1)))
}

// TestIntegrationSessionOptions: an iBGP speaker's route carries its
// LOCAL_PREF, MED and communities to the router; an eBGP speaker two hops
// away (behind a forwarding host) reaches the router only because its
// session is multihop (TTL 2), and its LOCAL_PREF is not sent.
func TestIntegrationSessionOptions(t *testing.T) {
	lab := netnstest.New(t)
	lan := lab.LAN("lan")
	router, ibgp, mid, far := lab.Host("router"), lab.Host("ibgp"), lab.Host("mid"), lab.Host("far")
	lan.Connect(router, "eth0", "10.97.0.254/24")
	lan.Connect(ibgp, "eth0", "10.97.0.1/24")
	lan.Connect(mid, "eth0", "10.97.0.100/24")
	lab.Link(mid, "eth1", "10.96.0.1/24", far, "eth0", "10.96.0.2/24")
	mid.SetSysctl("net.ipv4.ip_forward", "1")
	far.AddRoute("default", "10.96.0.1")
	router.AddRoute("10.96.0.0/24", "10.97.0.100")

	vipI := netip.MustParsePrefix("192.0.2.20/32")
	vipE := netip.MustParsePrefix("192.0.2.30/32")
	startSpeaker(t, ibgp, "ibgp", speakerSpec{
		ASN: routerASN, RouterID: netip.MustParseAddr("10.97.0.1"),
		Peers: []Peer{{Address: netip.MustParseAddr("10.97.0.254"), ASN: routerASN, ConnectRetry: time.Second,
			BFD: BFD{MinTx: testBFD, MinRx: testBFD}}},
		Routes: []routeSpec{{Prefix: vipI, LocalPref: 200, MED: 50, Communities: []string{"no-export", "65000:100"}}},
	})
	startSpeaker(t, far, "far", speakerSpec{
		ASN: 65002, RouterID: netip.MustParseAddr("10.96.0.2"),
		Peers: []Peer{{Address: netip.MustParseAddr("10.97.0.254"), ASN: routerASN, ConnectRetry: time.Second,
			Multihop: 2, BFD: BFD{Disable: true}}},
		Routes: []routeSpec{{Prefix: vipE, LocalPref: 300, MED: 70, Communities: []string{"65002:7"}}},
	})
	frr := startRouter(t, router, peer.FRRConfig{BFD: routerBFD(testBFD), BGP: `router bgp 65000
 bgp router-id 10.97.0.254
 no bgp ebgp-requires-policy
 neighbor 10.97.0.1 remote-as 65000
 neighbor 10.97.0.1 bfd profile fast
 neighbor 10.97.0.1 timers connect 1
 neighbor 10.96.0.2 remote-as 65002
 neighbor 10.96.0.2 ebgp-multihop 2
 neighbor 10.96.0.2 timers connect 1
exit
`})

	type path struct {
		LocPrf    int `json:"locPrf"`
		Metric    int `json:"metric"`
		Community struct {
			String string `json:"string"`
		} `json:"community"`
		Peer struct {
			PeerID string `json:"peerId"`
			Type   string `json:"type"`
		} `json:"peer"`
		Nexthops []struct {
			IP string `json:"ip"`
		} `json:"nexthops"`
	}
	lookup := func(p netip.Prefix) (path, bool) {
		var r struct {
			Paths []path `json:"paths"`
		}
		if err := frr.VtyshJSON("show bgp ipv4 unicast "+p.String()+" json", &r); err != nil {
			t.Fatal(err)
		}
		if len(r.Paths) == 0 {
			return path{}, false
		}
		return r.Paths[0], true
	}
	var pi, pe path
	waitFor(t, "the iBGP and the multihop routes at the router", func() (bool, string) {
		var okI, okE bool
		pi, okI = lookup(vipI)
		pe, okE = lookup(vipE)
		return okI && okE, fmt.Sprintf("iBGP route %v, multihop route %v", okI, okE)
	})
	if pi.Peer.Type != "internal" || pi.LocPrf != 200 || pi.Metric != 50 || pi.Community.String != "65000:100 no-export" ||
		len(pi.Nexthops) != 1 || pi.Nexthops[0].IP != "10.97.0.1" {
		t.Errorf("iBGP route as the router sees it: %+v; want internal, local pref 200, MED 50, communities 65000:100 no-export, next hop 10.97.0.1", pi)
	}
	if pe.Peer.Type != "external" || pe.LocPrf == 300 || pe.Metric != 70 || pe.Community.String != "65002:7" ||
		len(pe.Nexthops) != 1 || pe.Nexthops[0].IP != "10.96.0.2" {
		t.Errorf("multihop eBGP route as the router sees it: %+v; want external, no local pref 300, MED 70, community 65002:7, next hop 10.96.0.2", pe)
	}
	waitFor(t, "iBGP route in the FIB", fibIs(t, router, vipI, netip.MustParseAddr("10.97.0.1")))
	// The multihop route's next hop resolves through the forwarding host.
	waitFor(t, "multihop route in the FIB", fibIs(t, router, vipE, netip.MustParseAddr("10.97.0.100")))
}
