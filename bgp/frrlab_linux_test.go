package bgp

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lvskit/lvskit/internal/netnstest"
	"github.com/lvskit/lvskit/internal/peer"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// The router in these tests is FRR (zebra, bfdd, bgpd from Debian) in a
// namespace of its own on a LAN with the speakers; what it thinks is read
// with vtysh, and what it does with `ip route` in its namespace: the
// kernel's FIB is the judge. Every wait is bounded polling for a state;
// no test asserts how long anything took.

const (
	routerASN  = 65000
	speakerASN = 65001
	waitBound  = 60 * time.Second
)

var (
	vip4 = netip.MustParsePrefix("192.0.2.10/32")
	vip6 = netip.MustParsePrefix("2001:db8::10/128")
)

// lanAddrs are speaker i's (1-based) and the router's (i = 254) addresses.
func lan4(i int) netip.Addr { return netip.AddrFrom4([4]byte{10, 97, 0, byte(i)}) }
func lan6(i int) netip.Addr { return netip.MustParseAddr(fmt.Sprintf("fd97::%x", i)) }

// testBFD is the BFD interval of the tests, each way, with multiplier 3:
// slow enough that a loaded 2-core machine does not starve a speaker past
// the detection time (it did at 100ms), fast enough that BFD and not the
// 90s hold timer takes a dead speaker out. The benchmark runs 100ms.
const testBFD = 300 * time.Millisecond

// routerBFD is bfdd's configuration with the profile "fast" at interval
// each way, multiplier 3.
func routerBFD(interval time.Duration) string {
	ms := interval.Milliseconds()
	return fmt.Sprintf("bfd\n profile fast\n  receive-interval %d\n  transmit-interval %d\n  detect-multiplier 3\n exit\nexit\n", ms, ms)
}

// routerBGP is bgpd's configuration for speakers 1..n in AS speakerASN,
// each over IPv4 and IPv6, with BFD; extra goes inside "router bgp" for
// each neighbor (a password, say). The BGP timers are long (hold 90s), so
// that a next hop that goes within the tests' bounds went by BFD.
func routerBGP(n int, extra func(i int, addr netip.Addr) string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "router bgp %d\n bgp router-id %v\n no bgp ebgp-requires-policy\n no bgp default ipv4-unicast\n timers bgp 30 90\n", routerASN, lan4(254))
	for i := 1; i <= n; i++ {
		for _, a := range []netip.Addr{lan4(i), lan6(i)} {
			fmt.Fprintf(&b, " neighbor %v remote-as %d\n neighbor %v bfd profile fast\n neighbor %v timers connect 1\n", a, speakerASN, a, a)
			if extra != nil {
				b.WriteString(extra(i, a))
			}
		}
	}
	for _, fam := range []string{"ipv4", "ipv6"} {
		fmt.Fprintf(&b, " address-family %s unicast\n  maximum-paths 8\n", fam)
		for i := 1; i <= n; i++ {
			a := lan4(i)
			if fam == "ipv6" {
				a = lan6(i)
			}
			fmt.Fprintf(&b, "  neighbor %v activate\n", a)
		}
		b.WriteString(" exit-address-family\n")
	}
	b.WriteString("exit\n")
	return b.String()
}

// ecmpLab is a router and n speaker hosts on one LAN.
type ecmpLab struct {
	router   *netnstest.Host
	speakers []*netnstest.Host
}

func newECMPLab(t *testing.T, n int) *ecmpLab {
	lab := netnstest.New(t)
	lan := lab.LAN("lan")
	l := &ecmpLab{router: lab.Host("router")}
	lan.Connect(l.router, "eth0", lan4(254).String()+"/24", lan6(254).String()+"/64")
	for i := 1; i <= n; i++ {
		h := lab.Host(fmt.Sprintf("s%d", i))
		lan.Connect(h, "eth0", lan4(i).String()+"/24", lan6(i).String()+"/64")
		l.speakers = append(l.speakers, h)
	}
	waitLinkLocal(t, l.router, "eth0")
	return l
}

// waitLinkLocal waits until a link of h has a usable IPv6 link-local
// address (past duplicate address detection): FRR's bgpd resets IPv6
// sessions on an interface without one, as it needs it for the next hop.
func waitLinkLocal(t *testing.T, h *netnstest.Host, ifname string) {
	t.Helper()
	waitFor(t, ifname+" link-local address", func() (bool, string) {
		link, err := h.Netlink().LinkByName(ifname)
		if err != nil {
			return false, err.Error()
		}
		addrs, err := h.Netlink().AddrList(link, netlink.FAMILY_V6)
		if err != nil {
			return false, err.Error()
		}
		for _, a := range addrs {
			if a.IP.IsLinkLocalUnicast() && a.Flags&(unix.IFA_F_TENTATIVE|unix.IFA_F_DADFAILED) == 0 {
				return true, ""
			}
		}
		return false, fmt.Sprintf("addresses %v", addrs)
	})
}

// speakerSpecFor is speaker i's configuration: the router over IPv4 and
// IPv6 with BFD at interval × 3, and the two VIPs.
func speakerSpecFor(i int, password string, interval time.Duration) speakerSpec {
	bfd := BFD{MinTx: interval, MinRx: interval, Multiplier: 3}
	return speakerSpec{
		ASN:      speakerASN,
		RouterID: lan4(i),
		Peers: []Peer{
			{Address: lan4(254), ASN: routerASN, Password: password, ConnectRetry: time.Second, BFD: bfd},
			{Address: lan6(254), ASN: routerASN, Password: password, ConnectRetry: time.Second, BFD: bfd},
		},
		Routes: []routeSpec{{Prefix: vip4}, {Prefix: vip6}},
	}
}

// waitFor polls cond until it holds, failing the test after waitBound
// with cond's last explanation.
func waitFor(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(waitBound)
	var last string
	for {
		ok, why := cond()
		if ok {
			return
		}
		last = why
		if time.Now().After(deadline) {
			t.Fatalf("%s: not so after %v: %s", what, waitBound, last)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// fibIs is a waitFor condition: the router's route to p goes exactly to
// want.
func fibIs(t *testing.T, router *netnstest.Host, p netip.Prefix, want ...netip.Addr) func() (bool, string) {
	slices.SortFunc(want, netip.Addr.Compare)
	return func() (bool, string) {
		got := peer.FIBNextHops(t, router, p)
		return slices.Equal(got, want), fmt.Sprintf("FIB %v via %v, want %v", p, got, want)
	}
}

// established is a waitFor condition: the router has these sessions
// established and their BFD sessions up.
func established(t *testing.T, frr *peer.FRR, addrs ...netip.Addr) func() (bool, string) {
	return func() (bool, string) {
		bfd := frr.BFDPeers(t)
		for _, a := range addrs {
			if st := frr.Neighbor(t, a).BgpState; st != "Established" {
				return false, fmt.Sprintf("session with %v is %q", a, st)
			}
			if bfd[a] != "up" {
				return false, fmt.Sprintf("BFD with %v is %q", a, bfd[a])
			}
		}
		return true, ""
	}
}

// startRouter starts FRR in the router and, if the test fails, logs what
// the router thought and did.
func startRouter(t *testing.T, router *netnstest.Host, conf peer.FRRConfig) *peer.FRR {
	frr := peer.StartFRR(t, router, conf)
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		for _, c := range []string{"show bgp summary", "show bgp ipv4 unicast", "show bgp ipv6 unicast", "show bfd peers brief", "show ip route", "show ipv6 route"} {
			out, err := frr.Vtysh(c)
			t.Logf("router: %s (%v):\n%s", c, err, out)
		}
		out, _ := router.Command(context.Background(), "ip", "addr").CombinedOutput()
		t.Logf("router: ip addr:\n%s", out)
	})
	return frr
}

// md5Failures reads TcpExt TCPMD5Failure (segments whose MD5 signature
// did not match) in host h.
func md5Failures(t *testing.T, h *netnstest.Host) int {
	t.Helper()
	out := h.Run("cat", "/proc/net/netstat")
	lines := strings.Split(out, "\n")
	for i := 0; i+1 < len(lines); i += 2 {
		names, values := strings.Fields(lines[i]), strings.Fields(lines[i+1])
		if len(names) == 0 || names[0] != "TcpExt:" || len(names) != len(values) {
			continue
		}
		for j, name := range names {
			if name == "TCPMD5Failure" {
				n, _ := strconv.Atoi(values[j])
				return n
			}
		}
	}
	t.Fatalf("no TcpExt TCPMD5Failure in /proc/net/netstat")
	return 0
}
