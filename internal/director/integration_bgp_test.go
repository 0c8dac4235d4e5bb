package director_test

import (
	"fmt"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lvskit/lvskit/internal/director"
	"github.com/lvskit/lvskit/internal/netnstest"
	"github.com/lvskit/lvskit/internal/nslab"
	"github.com/lvskit/lvskit/internal/peer"
)

// Active-active directors: three director processes announce one VIP to
// FRR (zebra, bgpd, bfdd) by BGP with BFD, and forward in DR with mh
// through the nftables backend to two real servers. The router's kernel
// FIB, read with `ip route` in its namespace, is the judge: the VIP via
// three next hops; two after a graceful stop (withdrawn before the
// session closed); none while the real servers are down (quorum lost,
// sessions up); back when they return; a director whose host dies (link
// down, SIGKILL) taken out by BFD, the BGP hold timer being far longer
// than the test's bounds. A reload that adds a neighbor does not reset
// the session with the router.

const (
	ecmpVIP    = "192.0.2.10"
	ecmpRouter = "10.98.0.254"
	bgpBound   = 60 * time.Second
)

func ecmpDirectorAddr(i int) string { return fmt.Sprintf("10.98.0.%d", i) }

// ecmpConf is director i's keepalived.conf; extra goes into its bgp block.
//
// A real server's probe may take 5 s (retry 0: one failure takes it out,
// and a loaded machine can stall one for a second); the tests take the
// servers out by closing them, which fails the probe at once.
func ecmpConf(i int, extra string) string {
	rs := ""
	for _, a := range []string{"10.98.0.11", "10.98.0.12"} {
		rs += fmt.Sprintf(`    real_server %s 80 {
        HTTP_GET {
            url {
                path /
            }
            connect_timeout 5
            retry 0
        }
    }
`, a)
	}
	return fmt.Sprintf(`global_defs {
    router_id d%d
}
bgp {
    local_as 65001
    router_id %s
    drain_timeout 2
    neighbor %s {
        remote_as 65000
        connect_retry 1
        bfd {
            min_rx 300
            min_tx 300
            multiplier 3
        }
    }
%s    announce %s
}
virtual_server %s 80 {
    delay_loop 1
    alpha
    lb_algo mh
    mh-port
    lb_kind DR
    protocol TCP
%s}
`, i, ecmpDirectorAddr(i), ecmpRouter, extra, ecmpVIP, ecmpVIP, rs)
}

func TestIntegrationBGPDirectors(t *testing.T) {
	netnstest.RequireRoot(t)
	start := time.Now()
	step := func(what string) { t.Logf("%6.2fs %s", time.Since(start).Seconds(), what) }
	bin := buildDirector(t)
	step("built")

	lab := netnstest.New(t)
	lan := lab.LAN("lan")
	router := lab.Host("router")
	lan.Connect(router, "eth0", ecmpRouter+"/24")
	var dirs []*netnstest.Host
	var addrs []netip.Addr
	for i := 1; i <= 3; i++ {
		h := lab.Host(fmt.Sprintf("d%d", i))
		lan.Connect(h, "eth0", ecmpDirectorAddr(i)+"/24")
		dirs = append(dirs, h)
		addrs = append(addrs, netip.MustParseAddr(ecmpDirectorAddr(i)))
	}
	webs := map[string]*netnstest.Host{}
	servers := map[string]*http.Server{}
	for i, name := range []string{"web1", "web2"} {
		h := lab.Host(name)
		addr := fmt.Sprintf("10.98.0.%d", 11+i)
		lan.Connect(h, "eth0", addr+"/24")
		h.AddAddr("lo", ecmpVIP+"/32") // DR: the real server takes the VIP's packets
		webs[name] = h
		servers[name] = serveHTTP(t, h, ":80", name)
	}
	frr := peer.StartFRR(t, router, nslab.FRRECMP{
		ASN: 65000, RouterID: netip.MustParseAddr(ecmpRouter), Neighbors: addrs, NeighborASN: 65001,
		BFD: 300 * time.Millisecond,
	}.Config())
	t.Cleanup(func() {
		if t.Failed() {
			for _, c := range []string{"show bgp summary", "show bgp ipv4 unicast", "show bfd peers brief", "show ip route"} {
				out, err := frr.Vtysh(c)
				t.Logf("router: %s (%v):\n%s", c, err, out)
			}
		}
	})
	step("router up")

	dir := t.TempDir()
	confs := make([]string, 3)
	procs := make([]*nslab.Proc, 3)
	for i := range 3 {
		confs[i] = filepath.Join(dir, fmt.Sprintf("d%d.conf", i+1))
		if err := os.WriteFile(confs[i], []byte(ecmpConf(i+1, "")), 0o644); err != nil {
			t.Fatal(err)
		}
		procs[i] = startDirector(t, dirs[i], bin, fmt.Sprintf("d%d", i+1), "-f", confs[i], "--backend", "nftables", "--metrics", ":9100")
	}

	vip := netip.MustParsePrefix(ecmpVIP + "/32")
	fib := func(want ...netip.Addr) func() bool {
		slices.SortFunc(want, netip.Addr.Compare)
		return func() bool { return slices.Equal(peer.FIBNextHops(t, router, vip), want) }
	}
	mustFIB := func(what string, want ...netip.Addr) {
		t.Helper()
		if !waitFor(bgpBound, fib(want...)) {
			t.Fatalf("%s: router's route to %v via %v, want %v", what, vip, peer.FIBNextHops(t, router, vip), want)
		}
		step(what)
	}
	mustFIB("VIP via three directors", addrs...)
	// GoBGP's BFD may expire once while FRR's bfdd slows down to the
	// agreed rate on a loaded machine; the session comes back at once.
	established := func(addrs ...netip.Addr) func() bool {
		return func() bool {
			bfd := frr.BFDPeers(t)
			for _, a := range addrs {
				if frr.Neighbor(t, a).BgpState != "Established" || bfd[a] != "up" {
					return false
				}
			}
			return true
		}
	}
	if !waitFor(bgpBound, established(addrs...)) {
		t.Fatalf("sessions with BFD up: not all of %v", addrs)
	}
	// The router's view first, d1's own a moment later (a BFD flap, see
	// above, goes through both).
	var st *director.Status
	if !waitFor(bgpBound, func() bool {
		st, _ = fetchStatus(dirs[0])
		if st == nil {
			return false
		}
		b := st.BGP
		return b != nil && b.Running && len(b.Peers) == 1 && b.Peers[0].State.String() == "established" &&
			len(b.Routes) == 1 && b.Routes[0].State.String() == "announced" && len(b.Announce) == 1 && b.Announce[0].QuorumUp
	}) {
		if st == nil {
			t.Fatal("no status from d1")
		}
		t.Errorf("d1's bgp status: %+v", st.BGP)
	}
	if st.Backend != "nftables" {
		t.Errorf("d1's backend %q, want nftables", st.Backend)
	}

	// The data plane: the router's own connections go through the
	// directors (ECMP) to the real servers (DR), which answer directly.
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DialContext: router.DialContext, DisableKeepAlives: true}}
	served := map[string]int{}
	for range 20 {
		name, err := servedBy(c, "http://"+ecmpVIP+"/")
		if err != nil {
			t.Fatalf("request to the VIP from the router: %v", err)
		}
		served[name]++
	}
	if served["web1"]+served["web2"] != 20 {
		t.Errorf("served %v, want 20 by web1 and web2", served)
	}
	step("served through the VIP")

	// A reload that adds a neighbor leaves the session with the router
	// alone: the director's speaker keeps it (the same session, since the
	// same time), and the router saw no reset. A BFD flap meanwhile (see
	// above) would show in the director's log as GoBGP's BFD expiring.
	if !waitFor(bgpBound, established(addrs[1])) {
		t.Fatalf("d2's session not up before the reload")
	}
	st1, err := fetchStatus(dirs[1])
	if err != nil {
		t.Fatal(err)
	}
	before := frr.Neighbor(t, addrs[1])
	logBefore := len(procs[1].Output())
	if err := os.WriteFile(confs[1], []byte(ecmpConf(2, "    neighbor 10.98.0.253 {\n        remote_as 65002\n        passive\n        no_bfd\n    }\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := procs[1].Cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	var st2 *director.Status
	if !waitFor(bgpBound, func() bool { st2, _ = fetchStatus(dirs[1]); return st2 != nil && st2.ReloadsOK == 1 }) {
		t.Fatalf("d2's reload not applied: %+v", st2)
	}
	// The reload logs before the status counts it, but the line reaches
	// our pipe later; a restart of the speaker would be logged first.
	var reloadLog string
	if !waitFor(10*time.Second, func() bool {
		reloadLog = procs[1].Output()[logBefore:]
		return strings.Contains(reloadLog, "bgp peers changed")
	}) || strings.Contains(reloadLog, "restarting the speaker") {
		t.Errorf("d2's reload: want the peers changed by difference, not the speaker restarted:\n%s", reloadLog)
	}
	p := st2.BGP.Peers
	if len(p) != 2 || p[1].Address != netip.MustParseAddr("10.98.0.253") {
		t.Errorf("d2's peers after the reload: %+v", p)
	}
	after := frr.Neighbor(t, addrs[1])
	flapped := !p[0].Since.Equal(st1.BGP.Peers[0].Since) || after.ConnectionsEstablished != before.ConnectionsEstablished
	// A BFD flap is no reset by the reload: GoBGP's BFD expiring (in d2's
	// log, which reaches our pipe late) or the router's bfdd declaring d2
	// down (its last reset, if it is new, says BFD).
	routerBFD := after.ConnectionsDropped != before.ConnectionsDropped &&
		strings.Contains(after.LastResetDueTo+" "+after.LastNotificationReason, "BFD")
	if flapped && !routerBFD && !waitFor(10*time.Second, func() bool { return strings.Contains(procs[1].Output()[logBefore:], "msg=Expired") }) {
		t.Errorf("d2's session with the router reset by a reload that added another neighbor: since %v -> %v, established %d -> %d times",
			st1.BGP.Peers[0].Since, p[0].Since, before.ConnectionsEstablished, after.ConnectionsEstablished)
	}
	step("reloaded d2: a neighbor added, the router's session kept")

	// Graceful stop: withdrawn, then the session closes.
	before = frr.Neighbor(t, addrs[2])
	if err := procs[2].Terminate(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	mustFIB("d3 stopped gracefully", addrs[0], addrs[1])
	after = frr.Neighbor(t, addrs[2])
	if after.MessageStats.UpdatesRecv <= before.MessageStats.UpdatesRecv {
		t.Errorf("the router got no UPDATE (the withdrawal) from d3 on its stop: %d, then %d", before.MessageStats.UpdatesRecv, after.MessageStats.UpdatesRecv)
	}
	out := procs[2].Output()
	withdrawn, drained, stopped := strings.Index(out, "bgp route withdrawn"), strings.Index(out, "bgp: drained"), strings.Index(out, "bgp speaker stopped")
	if withdrawn < 0 || drained < withdrawn || stopped < drained {
		t.Errorf("d3's stop: want withdrawn, drained, speaker stopped, in that order:\n%s", out)
	}

	// Quorum lost on both remaining directors: the route withdrawn, the
	// sessions up.
	for _, s := range servers {
		s.Close()
	}
	mustFIB("real servers down: VIP withdrawn")
	if !waitFor(bgpBound, established(addrs[:2]...)) {
		t.Errorf("sessions after the quorum loss: want them up (a withdrawal, not a reset)")
	}
	for _, h := range dirs[:2] {
		st, err := fetchStatus(h)
		if err != nil {
			t.Fatal(err)
		}
		if b := st.BGP; b.Announce[0].QuorumUp || len(b.Routes) != 1 || b.Routes[0].State.String() != "withdrawn" {
			t.Errorf("%s's bgp status after the quorum loss: %+v", h.Name(), b)
		}
	}
	for name, h := range webs {
		servers[name] = serveHTTP(t, h, ":80", name)
	}
	mustFIB("real servers back: VIP announced again", addrs[0], addrs[1])

	// d1's host dies: its link goes down, then the process. Only BFD can
	// take it out within the bound (hold time 90s).
	link, err := dirs[0].Netlink().LinkByName("eth0")
	if err != nil {
		t.Fatal(err)
	}
	if err := dirs[0].Netlink().LinkSetDown(link); err != nil {
		t.Fatal(err)
	}
	procs[0].Kill()
	mustFIB("d1's host dead: taken out", addrs[1])
	nb := frr.Neighbor(t, addrs[0])
	if !strings.Contains(nb.LastResetDueTo+" "+nb.LastNotificationReason, "BFD") {
		t.Errorf("router reset the session with d1 due to %q (notification %q), want BFD", nb.LastResetDueTo, nb.LastNotificationReason)
	}
}
