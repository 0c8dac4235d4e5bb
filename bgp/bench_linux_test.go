package bgp

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lvskit/lvskit/internal/netnstest"
	"github.com/lvskit/lvskit/internal/peer"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// TestIntegrationBenchFailover is a benchmark, not a test: it runs only
// with LVSKIT_BENCH=1 (make bench) and asserts no timing. It measures how
// long after a speaker's death the router's kernel FIB drops its next hop
// for the VIP, with BFD at 100ms × 3 and with BGP timers alone (keepalive
// 1s, hold 3s, the shortest FRR takes), for two deaths:
//
//   - host death: the speaker's link goes down, then its process is
//     SIGKILLed, so the router hears nothing more (no TCP FIN);
//   - crash: SIGKILL alone on a live host, whose kernel closes the TCP
//     sessions (FIN) at once.
//
// The clock starts just before the link goes down (or the SIGKILL) and
// stops when a netlink read of the router's FIB, repeated every 2ms, no
// longer shows the next hop. Results go to LVSKIT_BENCH_OUT (markdown)
// and the test log.
func TestIntegrationBenchFailover(t *testing.T) {
	if os.Getenv("LVSKIT_BENCH") != "1" {
		t.Skip("a benchmark: set LVSKIT_BENCH=1 (make bench)")
	}
	runs := 5
	type result struct {
		name string
		ms   []float64
	}
	var results []result
	for _, sc := range []struct {
		name      string
		bfd       bool
		hostDeath bool
	}{
		{"host death, BFD 100ms x 3", true, true},
		{"host death, BGP timers 1s/3s, no BFD", false, true},
		{"crash (SIGKILL, host up), BFD 100ms x 3", true, false},
		{"crash (SIGKILL, host up), BGP timers 1s/3s, no BFD", false, false},
	} {
		t.Run(strings.NewReplacer(" ", "_", ",", "", "(", "", ")", "").Replace(sc.name), func(t *testing.T) {
			ms := benchFailover(t, runs, sc.bfd, sc.hostDeath)
			results = append(results, result{sc.name, ms})
		})
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# BGP speaker failover: router FIB drops a dead speaker's next hop\n\n")
	fmt.Fprintf(&b, "FRR %s as the router, 2 speakers announcing one /32, %d runs each; times in ms from the death to the FIB change.\n\n", frrVersion(), runs)
	b.WriteString("| scenario | min | median | max | runs |\n|---|---|---|---|---|\n")
	med := map[string]float64{}
	for _, r := range results {
		s := slices.Clone(r.ms)
		slices.Sort(s)
		if len(s) == 0 {
			continue
		}
		med[r.name] = s[len(s)/2]
		fmt.Fprintf(&b, "| %s | %.0f | %.0f | %.0f | %s |\n", r.name, s[0], s[len(s)/2], s[len(s)-1], fmtMS(r.ms))
	}
	if a, h := med["host death, BFD 100ms x 3"], med["host death, BGP timers 1s/3s, no BFD"]; a > 0 && h > 0 {
		fmt.Fprintf(&b, "\nHost death: BFD takes %.2f of the time the hold timer takes (median against median, same run).\n", a/h)
	}
	t.Log("\n" + b.String())
	if out := os.Getenv("LVSKIT_BENCH_OUT"); out != "" {
		if err := os.WriteFile(out, []byte(b.String()), 0o644); err != nil {
			t.Error(err)
		}
	}
}

func fmtMS(ms []float64) string {
	s := make([]string, len(ms))
	for i, v := range ms {
		s[i] = fmt.Sprintf("%.0f", v)
	}
	return strings.Join(s, " ")
}

func frrVersion() string {
	out, err := exec.Command("dpkg-query", "-W", "-f", "${Version}", "frr").Output()
	if err != nil {
		return "(version unknown)"
	}
	return string(out)
}

// benchFailover builds a router and two speakers and kills speaker 2 runs
// times (restarting it in between), returning each run's time in ms.
func benchFailover(t *testing.T, runs int, bfd, hostDeath bool) []float64 {
	l := newECMPLab(t, 2)
	timers, nbBFD := "timers bgp 30 90", " neighbor %v bfd profile fast\n"
	if !bfd {
		timers, nbBFD = "timers bgp 1 3", ""
	}
	var conf strings.Builder
	fmt.Fprintf(&conf, "router bgp %d\n bgp router-id %v\n no bgp ebgp-requires-policy\n %s\n", routerASN, lan4(254), timers)
	for i := 1; i <= 2; i++ {
		fmt.Fprintf(&conf, " neighbor %v remote-as %d\n neighbor %v timers connect 1\n", lan4(i), speakerASN, lan4(i))
		if nbBFD != "" {
			fmt.Fprintf(&conf, nbBFD, lan4(i))
		}
	}
	conf.WriteString(" address-family ipv4 unicast\n  maximum-paths 8\n exit-address-family\nexit\n")
	spec := func(i int) speakerSpec {
		s := speakerSpecFor(i, "", 100*time.Millisecond)
		s.Peers = s.Peers[:1] // IPv4 only
		s.Routes = s.Routes[:1]
		if !bfd {
			s.Peers[0].BFD = BFD{Disable: true}
			s.Peers[0].HoldTime, s.Peers[0].KeepaliveInterval = 3*time.Second, time.Second
		}
		return s
	}
	startSpeaker(t, l.speakers[0], "s1", spec(1))
	frr := peer.StartFRR(t, l.router, peer.FRRConfig{BGP: conf.String(), BFD: routerBFD(100 * time.Millisecond)})
	both := []netip.Addr{lan4(1), lan4(2)}

	var out []float64
	for run := 0; run < runs; run++ {
		link, err := l.speakers[1].Netlink().LinkByName("eth0")
		if err != nil {
			t.Fatal(err)
		}
		if err := l.speakers[1].Netlink().LinkSetUp(link); err != nil {
			t.Fatal(err)
		}
		s2 := startSpeaker(t, l.speakers[1], fmt.Sprintf("s2-run%d", run), spec(2))
		waitFor(t, "two next hops", fibIs(t, l.router, vip4, both...))
		if bfd {
			waitFor(t, "BFD up with both", func() (bool, string) {
				p := frr.BFDPeers(t)
				return p[lan4(1)] == "up" && p[lan4(2)] == "up", fmt.Sprint(p)
			})
		}
		time.Sleep(500 * time.Millisecond) // let the sessions settle before the next death

		start := time.Now()
		if hostDeath {
			if err := l.speakers[1].Netlink().LinkSetDown(link); err != nil {
				t.Fatal(err)
			}
		}
		s2.kill()
		d, ok := waitNextHopGone(l.router, vip4, lan4(2), start, 30*time.Second)
		if !ok {
			t.Fatalf("run %d: the router kept the dead speaker's next hop for 30s", run)
		}
		out = append(out, float64(d.Microseconds())/1000)
		t.Logf("run %d: %v", run, d.Round(time.Millisecond))
	}
	return out
}

// waitNextHopGone reads the router's route to p through netlink every 2ms
// until gw is not among its next hops, and returns the time since start.
func waitNextHopGone(router *netnstest.Host, p netip.Prefix, gw netip.Addr, start time.Time, bound time.Duration) (time.Duration, bool) {
	dst := &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
	family := unix.AF_INET
	if p.Addr().Is6() {
		family = unix.AF_INET6
	}
	for time.Since(start) < bound {
		routes, err := router.Netlink().RouteListFiltered(family, &netlink.Route{Dst: dst}, netlink.RT_FILTER_DST)
		if err == nil && !hasGateway(routes, gw) {
			return time.Since(start), true
		}
		time.Sleep(2 * time.Millisecond)
	}
	return bound, false
}

func hasGateway(routes []netlink.Route, gw netip.Addr) bool {
	for _, r := range routes {
		if a, ok := netip.AddrFromSlice(r.Gw); ok && a.Unmap() == gw {
			return true
		}
		for _, nh := range r.MultiPath {
			if a, ok := netip.AddrFromSlice(nh.Gw); ok && a.Unmap() == gw {
				return true
			}
		}
	}
	return false
}
