package peer

import (
	"encoding/json"
	"net/netip"
	"path/filepath"
	"slices"
	"testing"

	"github.com/lvskit/lvskit/internal/netnstest"
	"github.com/lvskit/lvskit/internal/nslab"
)

// FRRConfig is what an FRR router runs (nslab.FRRConfig): bgpd's and
// bfdd's configuration files in FRR's own syntax.
type FRRConfig = nslab.FRRConfig

// FRR is an FRR router in a test host (nslab.FRR: zebra, bfdd and bgpd,
// Vtysh and VtyshJSON to ask them).
type FRR struct {
	*nslab.FRR
}

// RequireFRR skips t unless FRR is installed (fails it under CI=true).
func RequireFRR(t testing.TB) {
	t.Helper()
	need(t, "vtysh")
	need(t, filepath.Join(nslab.FRRSbin, "bgpd"))
}

// StartFRR starts zebra, bfdd and bgpd in host h with config and waits
// until bgpd answers on its vty. They are killed when the test ends, and
// their log is printed if it failed. Without FRR installed the test is
// skipped (failed under CI=true).
func StartFRR(t testing.TB, h *netnstest.Host, config FRRConfig) *FRR {
	t.Helper()
	RequireFRR(t)
	f, err := h.StartFRR(config)
	if err != nil {
		t.Fatalf("peer: %v", err)
	}
	t.Cleanup(func() {
		f.Kill()
		if t.Failed() {
			t.Logf("FRR in %s logged:\n%s", h.Name(), f.Log())
		}
	})
	return &FRR{f}
}

// FRRNeighbor is what "show bgp neighbors ADDR json" says about a session.
type FRRNeighbor struct {
	BgpState       string `json:"bgpState"`
	LastResetDueTo string `json:"lastResetDueTo"`
	// LastNotificationReason is set when the router reset the session
	// itself with a NOTIFICATION ("Cease/BFD Down").
	LastNotificationReason string `json:"lastNotificationReason"`
	ConnectionsEstablished int    `json:"connectionsEstablished"`
	ConnectionsDropped     int    `json:"connectionsDropped"`
	MessageStats           struct {
		UpdatesRecv       int `json:"updatesRecv"`
		NotificationsRecv int `json:"notificationsRecv"`
	} `json:"messageStats"`
}

// Neighbor reads the router's view of its session with a.
func (f *FRR) Neighbor(t testing.TB, a netip.Addr) FRRNeighbor {
	t.Helper()
	var m map[string]FRRNeighbor
	if err := f.VtyshJSON("show bgp neighbors "+a.String()+" json", &m); err != nil {
		t.Fatal(err)
	}
	return m[a.String()]
}

// BFDPeers returns the router's BFD session status ("up", "down", ...)
// by peer.
func (f *FRR) BFDPeers(t testing.TB) map[netip.Addr]string {
	t.Helper()
	var ps []struct {
		Peer   string `json:"peer"`
		Status string `json:"status"`
	}
	if err := f.VtyshJSON("show bfd peers json", &ps); err != nil {
		t.Fatal(err)
	}
	out := make(map[netip.Addr]string)
	for _, p := range ps {
		out[netip.MustParseAddr(p.Peer)] = p.Status
	}
	return out
}

// FIBNextHops reads host h's kernel route to p with `ip route` and returns
// its gateways, sorted; none when there is no route.
func FIBNextHops(t testing.TB, h *netnstest.Host, p netip.Prefix) []netip.Addr {
	t.Helper()
	fam := "-4"
	if p.Addr().Is6() {
		fam = "-6"
	}
	out := h.Run("ip", fam, "-j", "route", "show", "exact", p.String())
	var routes []struct {
		Gateway  string `json:"gateway"`
		Nexthops []struct {
			Gateway string `json:"gateway"`
		} `json:"nexthops"`
	}
	if err := json.Unmarshal([]byte(out), &routes); err != nil {
		t.Fatalf("ip route show %v: %v: %s", p, err, out)
	}
	var gws []netip.Addr
	for _, r := range routes {
		if r.Gateway != "" {
			gws = append(gws, netip.MustParseAddr(r.Gateway))
		}
		for _, nh := range r.Nexthops {
			gws = append(gws, netip.MustParseAddr(nh.Gateway))
		}
	}
	slices.SortFunc(gws, netip.Addr.Compare)
	return gws
}
