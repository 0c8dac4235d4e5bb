package netcfg

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/vishvananda/netlink"
)

// This file holds the parts of a Route beyond its destination and next
// hop: the next hops of a multipath route and the route's metrics
// (RTA_MULTIPATH and RTA_METRICS), as `ip route add ... nexthop ...` and
// `ip route add ... mtu ... advmss ...` set them.

// Routing protocols (rtnetlink's RTPROT_*) for Route.Protocol and
// Rule.Protocol, as ip(8) and keepalived name them.
const (
	ProtocolKernel     uint8 = 2
	ProtocolBoot       uint8 = 3
	ProtocolStatic     uint8 = 4
	ProtocolKeepalived uint8 = 18 // what keepalived gives its routes and rules
)

// Nexthop is one next hop of a multipath route, as `ip route add DST
// nexthop via GATEWAY dev LINK weight WEIGHT onlink` sets it.
type Nexthop struct {
	// Gateway is the next hop's address; zero for a directly connected
	// one, which then needs Link.
	Gateway netip.Addr
	// Link is the outgoing interface; may be empty when Gateway is set.
	Link string
	// Weight is the next hop's share, 1..256; zero means 1.
	Weight int
	// OnLink says the gateway is on the link even if no prefix says so.
	OnLink bool
}

func (n Nexthop) String() string {
	s := "nexthop"
	if n.Gateway.IsValid() {
		s += " via " + n.Gateway.String()
	}
	if n.Link != "" {
		s += " dev " + n.Link
	}
	s += fmt.Sprintf(" weight %d", n.Weight)
	if n.OnLink {
		s += " onlink"
	}
	return s
}

func (n Nexthop) normalize(dst netip.Prefix) (Nexthop, error) {
	if !n.Gateway.IsValid() && n.Link == "" {
		return n, fmt.Errorf("%v needs a gateway or an interface", n)
	}
	if n.Gateway.IsValid() && n.Gateway.Is6() != dst.Addr().Is6() {
		return n, fmt.Errorf("%v: gateway %v is of the other address family", n, n.Gateway)
	}
	if n.Link != "" {
		if err := validLinkName(n.Link); err != nil {
			return n, fmt.Errorf("%v: %w", n, err)
		}
	}
	if n.Weight == 0 {
		n.Weight = 1
	}
	if n.Weight < 1 || n.Weight > 256 {
		return n, fmt.Errorf("%v: weight must be 1..256", n)
	}
	return n, nil
}

// RouteMetrics are a route's per-destination TCP and path settings (the
// kernel's RTAX_* metrics), as `ip route add ... mtu 1400 advmss 1360`
// sets them. A zero field is not set. RTT, RTTVar and RTOMin are the
// kernel's raw values, as ip(8) passes a number without a unit. Of the
// locks ("ssthresh lock 10") only the MTU's is carried: the netlink
// library sends one lock bit per route.
type RouteMetrics struct {
	MTU        int
	LockMTU    bool // "mtu lock N": path MTU discovery does not change it
	AdvMSS     int
	Window     int
	RTT        int
	RTTVar     int
	Ssthresh   int
	Cwnd       int
	Reordering int
	Hoplimit   int
	InitCwnd   int
	InitRwnd   int
	RTOMin     int
	QuickACK   int
	// FastOpenNoCookie is 1 to allow TCP fast open without a cookie.
	FastOpenNoCookie int
	// Features is RTAX_FEATURES; 1 (RTAX_FEATURE_ECN) is "features ecn".
	Features int
	// Congctl is the congestion control algorithm ("congctl cubic").
	Congctl string
}

// metricFields lists the metrics with their ip(8) names, for String,
// validation and matching.
func (m *RouteMetrics) fields() []struct {
	name string
	v    *int
} {
	return []struct {
		name string
		v    *int
	}{
		{"mtu", &m.MTU}, {"advmss", &m.AdvMSS}, {"window", &m.Window}, {"rtt", &m.RTT},
		{"rttvar", &m.RTTVar}, {"ssthresh", &m.Ssthresh}, {"cwnd", &m.Cwnd},
		{"reordering", &m.Reordering}, {"hoplimit", &m.Hoplimit}, {"initcwnd", &m.InitCwnd},
		{"initrwnd", &m.InitRwnd}, {"rto_min", &m.RTOMin}, {"quickack", &m.QuickACK},
		{"fastopen_no_cookie", &m.FastOpenNoCookie}, {"features", &m.Features},
	}
}

func (m RouteMetrics) String() string {
	var parts []string
	for _, f := range m.fields() {
		if *f.v == 0 {
			continue
		}
		lock := ""
		if f.name == "mtu" && m.LockMTU {
			lock = "lock "
		}
		parts = append(parts, fmt.Sprintf("%s %s%d", f.name, lock, *f.v))
	}
	if m.Congctl != "" {
		parts = append(parts, "congctl "+m.Congctl)
	}
	return strings.Join(parts, " ")
}

func (m RouteMetrics) validate() error {
	for _, f := range m.fields() {
		if *f.v < 0 || int64(*f.v) > 1<<32-1 {
			return fmt.Errorf("bad %s %d", f.name, *f.v)
		}
	}
	if m.LockMTU && m.MTU == 0 {
		return fmt.Errorf("mtu lock without an mtu")
	}
	if m.Hoplimit > 255 {
		return fmt.Errorf("bad hoplimit %d (at most 255)", m.Hoplimit)
	}
	if m.QuickACK > 1 || m.FastOpenNoCookie > 1 {
		return fmt.Errorf("quickack and fastopen_no_cookie are 0 or 1")
	}
	return nil
}

// covers reports whether have carries every metric that m sets, with
// m's value (a route found by AddRoute must be the one asked for).
func (m RouteMetrics) covers(have RouteMetrics) bool {
	hf := have.fields()
	for i, f := range m.fields() {
		if *f.v != 0 && *f.v != *hf[i].v {
			return false
		}
	}
	if m.LockMTU && !have.LockMTU {
		return false
	}
	return m.Congctl == "" || m.Congctl == have.Congctl
}

func (m RouteMetrics) toNetlink(nr *netlink.Route) {
	nr.MTU, nr.MTULock = m.MTU, m.LockMTU
	nr.AdvMSS = m.AdvMSS
	nr.Window = m.Window
	nr.Rtt, nr.RttVar = m.RTT, m.RTTVar
	nr.Ssthresh = m.Ssthresh
	nr.Cwnd = m.Cwnd
	nr.Reordering = m.Reordering
	nr.Hoplimit = m.Hoplimit
	nr.InitCwnd, nr.InitRwnd = m.InitCwnd, m.InitRwnd
	nr.RtoMin = m.RTOMin
	nr.QuickACK = m.QuickACK
	nr.FastOpenNoCookie = m.FastOpenNoCookie
	nr.Features = m.Features
	nr.Congctl = m.Congctl
}

func metricsFromNetlink(nr netlink.Route) RouteMetrics {
	return RouteMetrics{
		MTU: nr.MTU, LockMTU: nr.MTULock, AdvMSS: nr.AdvMSS, Window: nr.Window,
		RTT: nr.Rtt, RTTVar: nr.RttVar, Ssthresh: nr.Ssthresh, Cwnd: nr.Cwnd,
		Reordering: nr.Reordering, Hoplimit: nr.Hoplimit, InitCwnd: nr.InitCwnd,
		InitRwnd: nr.InitRwnd, RTOMin: nr.RtoMin,
		QuickACK: nr.QuickACK, FastOpenNoCookie: nr.FastOpenNoCookie,
		Features: nr.Features, Congctl: nr.Congctl,
	}
}

// nexthopsMatch compares next hops in order, as the kernel keeps them;
// a next hop's interface is compared where want gives one (the kernel
// fills in the one it resolved the gateway on).
func nexthopsMatch(want, have []Nexthop) bool {
	if len(want) != len(have) {
		return false
	}
	for i, w := range want {
		h := have[i]
		if w.Link == "" {
			h.Link = ""
		}
		if w != h {
			return false
		}
	}
	return true
}

func (h *Host) toNetlinkNexthops(nhs []Nexthop) ([]*netlink.NexthopInfo, error) {
	out := make([]*netlink.NexthopInfo, 0, len(nhs))
	for _, n := range nhs {
		ni := &netlink.NexthopInfo{Hops: n.Weight - 1}
		if n.Gateway.IsValid() {
			ni.Gw = n.Gateway.AsSlice()
		}
		if n.Link != "" {
			l, err := h.link(n.Link)
			if err != nil {
				return nil, err
			}
			ni.LinkIndex = l.Attrs().Index
		}
		if n.OnLink {
			ni.Flags |= int(netlink.FLAG_ONLINK)
		}
		out = append(out, ni)
	}
	return out, nil
}

func (h *Host) fromNetlinkNexthops(nis []*netlink.NexthopInfo, names map[int]string) []Nexthop {
	if len(nis) == 0 {
		return nil
	}
	out := make([]Nexthop, 0, len(nis))
	for _, ni := range nis {
		n := Nexthop{Weight: ni.Hops + 1, OnLink: ni.Flags&int(netlink.FLAG_ONLINK) != 0}
		if ni.Gw != nil {
			n.Gateway, _ = ipFromSlice(ni.Gw)
		}
		if ni.LinkIndex > 0 {
			n.Link = h.linkName(ni.LinkIndex, names)
		}
		out = append(out, n)
	}
	return out
}

// linkName is the name of the interface with index i, looked up once per
// listing (names caches them).
func (h *Host) linkName(i int, names map[int]string) string {
	name, ok := names[i]
	if !ok {
		if l, err := h.nl.LinkByIndex(i); err == nil {
			name = l.Attrs().Name
		}
		names[i] = name
	}
	return name
}
