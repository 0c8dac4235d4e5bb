package director

import (
	"net/netip"
	"slices"
	"time"

	"github.com/lvskit/lvskit/bgp"
	"github.com/lvskit/lvskit/internal/keepalived"
	"github.com/lvskit/lvskit/ipvs"
)

// This file translates the bgp block (lvskit's own) into a bgp.Config and
// the routes it announces, each gated by the quorum of the virtual servers
// on its address.

// BGPPlan is the bgp block.
type BGPPlan struct {
	Pos keepalived.Pos
	// Speaker is the speaker's configuration without its run-time parts
	// (Clock, Logger, Metrics).
	Speaker bgp.Config
	// DrainTimeout bounds, on a graceful stop, the wait between the
	// withdrawal of the routes and the removal of the services.
	DrainTimeout time.Duration
	Announce     []AnnouncePlan
	// SloppyTCP says an announced service forwards in DR with mh: on kernel
	// IPVS the director then sets net.ipv4.vs.sloppy_tcp, so that a flow
	// that ECMP moves to it mid-connection is still forwarded.
	SloppyTCP bool
}

// AnnouncePlan is one announced address.
type AnnouncePlan struct {
	Pos   keepalived.Pos
	Route bgp.Route
	// Services are the virtual services on the address: the route is
	// announced while any of them runs with its quorum.
	Services []ipvs.ServiceKey
}

// defaultDrainTimeout is drain_timeout's default.
const defaultDrainTimeout = 10 * time.Second

func (t *translator) bgp() {
	b := t.cfg.BGP
	if b == nil {
		return
	}
	p := &BGPPlan{Pos: b.Pos, DrainTimeout: b.DrainTimeout.Or(defaultDrainTimeout)}
	c := &p.Speaker
	c.ASN = b.LocalAS.V
	c.RouterID = b.RouterID.V
	if !c.RouterID.Is4() || c.RouterID.IsUnspecified() {
		t.errorf(b.RouterID.Pos, "router_id: %s: the BGP identifier is a non-zero IPv4 address", c.RouterID)
		c.RouterID = netip.IPv4Unspecified()
	}
	switch {
	case b.NoListen.Set() && b.ListenPort.Set():
		t.errorf(b.NoListen.Pos, "no_listen: contradicts listen_port (at %s)", b.ListenPort.Pos)
	case b.NoListen.Set():
		c.ListenPort = -1
	case b.ListenPort.Set() && b.ListenPort.V == 0:
		t.errorf(b.ListenPort.Pos, "listen_port: 0 is not a port (use no_listen to accept no session)")
	default:
		c.ListenPort = int(b.ListenPort.V)
	}
	if b.DrainTimeout.Set() && b.DrainTimeout.V > time.Hour {
		t.errorf(b.DrainTimeout.Pos, "drain_timeout: %v is longer than an hour", b.DrainTimeout.V)
	}
	seen := map[netip.Addr]keepalived.Pos{}
	for i := range b.Neighbors {
		n := &b.Neighbors[i]
		if first, dup := seen[n.Addr.Unmap()]; dup {
			t.errorf(n.Pos, "neighbor %s: already defined at %s", n.Addr, first)
			continue
		}
		seen[n.Addr.Unmap()] = n.Pos
		if peer, ok := t.bgpPeer(c, n); ok {
			c.Peers = append(c.Peers, peer)
		}
	}
	defaults := t.bgpAttributes(b.BGPAttributes, bgp.Route{})
	announced := map[netip.Addr]keepalived.Pos{}
	for _, a := range b.Announce {
		if first, dup := announced[a.Addr]; dup {
			t.errorf(a.Pos, "announce %s: already announced at %s", a.Addr, first)
			continue
		}
		announced[a.Addr] = a.Pos
		if ap, ok := t.announce(p, b.Neighbors, a, defaults); ok {
			p.Announce = append(p.Announce, ap)
		}
	}
	if len(t.errs) == 0 {
		if err := c.Validate(); err != nil {
			t.errorf(b.Pos, "bgp: the speaker's settings are refused: %v", err)
		}
	}
	t.plan.BGP = p
}

// bgpPeer makes a neighbor block a bgp.Peer, checking at their positions
// what the speaker would refuse.
func (t *translator) bgpPeer(c *bgp.Config, n *keepalived.BGPNeighbor) (bgp.Peer, bool) {
	p := bgp.Peer{
		Address:           n.Addr.Unmap(),
		ASN:               n.RemoteAS.V,
		Port:              n.Port.V,
		LocalAddress:      n.LocalAddress.V,
		Password:          n.Password.V,
		Multihop:          uint8(n.EBGPMultihop.V),
		HoldTime:          n.HoldTime.V,
		KeepaliveInterval: n.Keepalive.V,
		ConnectRetry:      n.ConnectRetry.V,
		Passive:           n.Passive.V,
		Description:       n.Description.V,
		BFD: bgp.BFD{
			Disable:    n.BFD.Disable.V,
			MinRx:      n.BFD.MinRx.V,
			MinTx:      n.BFD.MinTx.V,
			Multiplier: uint8(n.BFD.Multiplier.V),
		},
	}
	errs := len(t.errs)
	wholeSeconds := func(v keepalived.Value[time.Duration], kw string, lo time.Duration) {
		if v.Set() && (v.V%time.Second != 0 || v.V < lo) {
			t.errorf(v.Pos, "%s: %v: want whole seconds, at least %v", kw, v.V, lo)
		}
	}
	wholeSeconds(n.HoldTime, "hold_time", 3*time.Second)
	wholeSeconds(n.Keepalive, "keepalive", time.Second)
	wholeSeconds(n.ConnectRetry, "connect_retry", time.Second)
	if n.HoldTime.Set() && n.HoldTime.V > 65535*time.Second {
		t.errorf(n.HoldTime.Pos, "hold_time: %v is longer than 65535s", n.HoldTime.V)
	}
	hold := n.HoldTime.Or(90 * time.Second)
	if n.Keepalive.Set() && n.Keepalive.V > hold {
		t.errorf(n.Keepalive.Pos, "keepalive: %v is longer than the hold time %v", n.Keepalive.V, hold)
	}
	if n.EBGPMultihop.Set() && n.EBGPMultihop.V > 1 && !p.BFD.Disable {
		t.errorf(n.EBGPMultihop.Pos, "ebgp_multihop: BFD is single-hop here (RFC 5881): add no_bfd to a multihop neighbor")
	}
	if n.EBGPMultihop.Set() && n.RemoteAS.V == c.ASN {
		t.errorf(n.EBGPMultihop.Pos, "ebgp_multihop: neighbor %s is internal (remote_as = local_as)", n.Addr)
	}
	if la := n.LocalAddress; la.Set() && la.V.Unmap().Is4() != p.Address.Is4() {
		t.errorf(la.Pos, "local_address: %s is not of the family of neighbor %s", la.V, n.Addr)
	}
	if len(n.Password.V) > 80 {
		t.errorf(n.Password.Pos, "password: longer than 80 bytes (the kernel's TCP MD5 key limit)")
	}
	if len(t.errs) > errs {
		return p, false
	}
	// Anything else the speaker refuses, at the neighbor.
	if err := (bgp.Config{ASN: c.ASN, RouterID: netip.MustParseAddr("192.0.2.1"), Peers: []bgp.Peer{p}}).Validate(); err != nil {
		t.errorf(n.Pos, "neighbor %s: %v", n.Addr, err)
		return p, false
	}
	return p, true
}

// bgpAttributes returns base with the attributes a sets.
func (t *translator) bgpAttributes(a keepalived.BGPAttributes, base bgp.Route) bgp.Route {
	if len(a.Communities) > 0 {
		base.Communities = nil
		for _, w := range a.Communities {
			c, err := bgp.ParseCommunity(w.V)
			if err != nil {
				t.errorf(w.Pos, "community: %q: want AS:VALUE (each 0..65535), no-export, no-advertise or local-AS", w.V)
				continue
			}
			base.Communities = append(base.Communities, c)
		}
	}
	if a.MED.Set() {
		base.MED = a.MED.V
	}
	if a.LocalPref.Set() {
		base.LocalPref = a.LocalPref.V
	}
	return base
}

// announce resolves an announced address: its route and the virtual
// services whose quorum gates it.
func (t *translator) announce(p *BGPPlan, neighbors []keepalived.BGPNeighbor, a keepalived.BGPAnnounce, defaults bgp.Route) (AnnouncePlan, bool) {
	r := t.bgpAttributes(a.BGPAttributes, defaults)
	r.Prefix = netip.PrefixFrom(a.Addr, a.Addr.BitLen())
	ap := AnnouncePlan{Pos: a.Pos, Route: r}
	// The neighbors as written, refused or not: a neighbor with an error
	// has its own, and is no reason for another here.
	if !slices.ContainsFunc(neighbors, func(n keepalived.BGPNeighbor) bool { return n.Addr.Unmap().Is4() == a.Addr.Is4() }) {
		family := "IPv4"
		if a.Addr.Is6() {
			family = "IPv6"
		}
		t.errorf(a.Pos, "announce %s: no %s neighbor to announce it to", a.Addr, family)
		return ap, false
	}
	var nat, unhashed []string
	for i := range t.plan.VirtualServers {
		vs := &t.plan.VirtualServers[i]
		if vs.Service.FWMark != 0 || vs.Service.Addr != a.Addr {
			continue
		}
		ap.Services = append(ap.Services, vs.Key())
		if slices.ContainsFunc(vs.RealServers, func(rs RealServerPlan) bool { return rs.Forward == ipvs.Masquerade }) {
			nat = append(nat, vs.Service.String())
		}
		switch vs.Service.Scheduler {
		case "mh", "sh":
			if vs.Service.Scheduler == "mh" && slices.ContainsFunc(vs.RealServers, func(rs RealServerPlan) bool { return rs.Forward == ipvs.DirectRoute }) {
				p.SloppyTCP = true
			}
		default:
			unhashed = append(unhashed, vs.Service.String())
		}
	}
	if len(ap.Services) == 0 {
		t.errorf(a.Pos, "announce %s: no virtual_server on this address (fwmark services cannot be announced)", a.Addr)
		return ap, false
	}
	if len(nat) > 0 {
		t.warnf(a.Pos, "announce", "announce %s: %v forward by NAT: replies must come back through the director that translated them, which ECMP does not ensure; with more than one director announcing it, use DR", a.Addr, nat)
	}
	if len(unhashed) > 0 {
		t.warnf(a.Pos, "announce", "announce %s: %v schedule without a hash (mh, sh): a flow that ECMP moves to another director may reach another real server", a.Addr, unhashed)
	}
	return ap, true
}
