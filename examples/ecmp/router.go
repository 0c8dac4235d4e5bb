package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os/exec"
	"strings"
	"time"

	"github.com/lvskit/lvskit/internal/nslab"
)

// What the router thinks, read from its kernel: the route to the VIP
// (netlink for the timing, `ip route` for the report) and, for each
// connection, the next hop its ECMP hash picks (`ip route get` with the
// connection's ports, as the router's forwarding path hashes them with
// fib_multipath_hash_policy 1).

var vipPrefix = netip.MustParsePrefix(vip + "/32")

func (d *demo) nextHops() ([]netip.Addr, error) { return d.l.router.RouteNextHops(vipPrefix) }

// ipRoute is `ip route show VIP` in the router's namespace.
func (d *demo) ipRoute(ctx context.Context) string {
	out, err := exec.CommandContext(ctx, "ip", "-n", d.l.router.Name(), "route", "show", vip).CombinedOutput()
	if err != nil {
		return fmt.Sprintf("ip route show %s: %v: %s", vip, err, out)
	}
	return strings.TrimSpace(string(out))
}

// waitNextHops waits until the router's route to the VIP has exactly the
// next hops want, polling every 5 ms, and returns when that was seen.
func (d *demo) waitNextHops(ctx context.Context, timeout time.Duration, want ...netip.Addr) (time.Time, error) {
	deadline := time.Now().Add(timeout)
	var got []netip.Addr
	var err error
	for {
		got, err = d.nextHops()
		if err == nil && sameAddrs(got, want) {
			return time.Now(), nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return time.Time{}, fmt.Errorf("the router's route to %s goes via %v (err %v), want %v", vip, got, err, want)
		}
		sleepCtx(ctx, 5*time.Millisecond)
	}
}

func sameAddrs(a, b []netip.Addr) bool {
	if len(a) != len(b) {
		return false
	}
	m := map[netip.Addr]bool{}
	for _, x := range a {
		m[x] = true
	}
	for _, x := range b {
		if !m[x] {
			return false
		}
	}
	return true
}

// ecmpChoice asks the router's kernel which director it sends each of the
// client ports' flows to (one `ip -batch` for all of them).
func (d *demo) ecmpChoice(ctx context.Context, sports []uint16) (map[uint16]string, error) {
	var in strings.Builder
	for _, p := range sports {
		fmt.Fprintf(&in, "route get %s from %s iif eth1 ipproto tcp sport %d dport 80\n", vip, clientAddr, p)
	}
	cmd := exec.CommandContext(ctx, "ip", "-n", d.l.router.Name(), "-j", "-batch", "-")
	cmd.Stdin = strings.NewReader(in.String())
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("ip route get (batch): %w", err)
	}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	res := map[uint16]string{}
	for _, p := range sports {
		var routes []struct {
			Gateway string `json:"gateway"`
		}
		if err := dec.Decode(&routes); err != nil {
			return nil, fmt.Errorf("ip route get: decode: %w", err)
		}
		if len(routes) == 1 {
			if a, err := netip.ParseAddr(routes[0].Gateway); err == nil {
				res[p] = directorByAddr(a)
			}
		}
	}
	return res, nil
}

// startRouter starts FRR in the router: zebra, bgpd and bfdd, peered with
// the three directors, ECMP over up to eight next hops.
func startRouter(h *nslab.Host, bfd time.Duration) (*nslab.FRR, error) {
	r := nslab.FRRECMP{ASN: routerASN, RouterID: netip.MustParseAddr(routerInside),
		Neighbors: directorAddrs(), NeighborASN: directorASN, BFD: bfd}
	if bfd == 0 {
		// BGP timers alone, at FRR's shortest.
		r.Keepalive, r.HoldTime = time.Second, 3*time.Second
	}
	return h.StartFRR(r.Config())
}

// bfdSettle is how long the router's BFD sessions must have been up
// before a director is killed: GoBGP's BFD may expire once a few seconds
// after coming up, while FRR's bfdd moves to the agreed rate, and a
// session that is not up when the director dies cannot take it out.
const bfdSettle = 5 * time.Second

// routerReady reports whether the router has its sessions with every
// director established and, with BFD, their BFD sessions up for at least
// bfdSettle; why says what is missing.
func (d *demo) routerReady() (ok bool, why string) {
	var nbs map[string]struct {
		BgpState string `json:"bgpState"`
	}
	if err := d.frr.VtyshJSON("show bgp neighbors json", &nbs); err != nil {
		return false, err.Error()
	}
	for _, dr := range directors {
		if st := nbs[dr.addr].BgpState; st != "Established" {
			return false, fmt.Sprintf("session with %s is %q", dr.name, st)
		}
	}
	if d.opts.bfd == 0 {
		return true, ""
	}
	var peers []struct {
		Peer   string `json:"peer"`
		Status string `json:"status"`
		Uptime int    `json:"uptime"`
	}
	if err := d.frr.VtyshJSON("show bfd peers json", &peers); err != nil {
		return false, err.Error()
	}
	up := map[string]bool{}
	for _, p := range peers {
		if p.Status == "up" && time.Duration(p.Uptime)*time.Second >= bfdSettle {
			up[p.Peer] = true
		}
	}
	for _, dr := range directors {
		if !up[dr.addr] {
			return false, fmt.Sprintf("BFD with %s not up for %v yet", dr.name, bfdSettle)
		}
	}
	return true, ""
}

// waitRouterReady waits for routerReady.
func (d *demo) waitRouterReady(ctx context.Context) error {
	var why string
	if !nslab.WaitFor(ctx, upBound, 200*time.Millisecond, func() bool {
		var ok bool
		ok, why = d.routerReady()
		return ok
	}) {
		return fmt.Errorf("the router's sessions not ready within %v: %s", upBound, why)
	}
	return nil
}

// resetReason is why the router last reset its session with a director
// ("BFD down received", "Hold Timer Expired", ...).
func (d *demo) resetReason(addr string) string {
	var nbs map[string]struct {
		LastResetDueTo         string `json:"lastResetDueTo"`
		LastNotificationReason string `json:"lastNotificationReason"`
	}
	if err := d.frr.VtyshJSON("show bgp neighbors "+addr+" json", &nbs); err != nil {
		return err.Error()
	}
	nb := nbs[addr]
	if nb.LastNotificationReason != "" {
		return nb.LastResetDueTo + ": " + nb.LastNotificationReason
	}
	return nb.LastResetDueTo
}
