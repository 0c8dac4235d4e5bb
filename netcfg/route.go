package netcfg

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// RouteType is a route's type (rtnetlink's RTN_*); the zero value is an
// ordinary unicast route.
type RouteType uint8

// Route types keepalived's static_routes/virtual_routes can ask for, and
// the ones a listing of the local table shows.
const (
	RouteUnicast RouteType = iota
	RouteBlackhole
	RouteUnreachable
	RouteProhibit
	RouteThrow
	RouteLocal
	RouteBroadcast
	RouteAnycast
	RouteMulticast
	RouteOther // a type lvskit does not name; listing only
)

var routeTypes = kernelNames[RouteType]{
	{RouteUnicast, unix.RTN_UNICAST, "unicast"},
	{RouteBlackhole, unix.RTN_BLACKHOLE, "blackhole"},
	{RouteUnreachable, unix.RTN_UNREACHABLE, "unreachable"},
	{RouteProhibit, unix.RTN_PROHIBIT, "prohibit"},
	{RouteThrow, unix.RTN_THROW, "throw"},
	{RouteLocal, unix.RTN_LOCAL, "local"},
	{RouteBroadcast, unix.RTN_BROADCAST, "broadcast"},
	{RouteAnycast, unix.RTN_ANYCAST, "anycast"},
	{RouteMulticast, unix.RTN_MULTICAST, "multicast"},
}

func (t RouteType) String() string {
	if n, ok := routeTypes.name(t); ok {
		return n
	}
	return "other"
}

func (t RouteType) rtn() int { return routeTypes.kernelOf(t) }

func routeTypeOf(rtn int) RouteType {
	if t, ok := routeTypes.of(rtn); ok {
		return t
	}
	return RouteOther
}

// Routing table numbers with names.
const (
	TableMain  = unix.RT_TABLE_MAIN
	TableLocal = unix.RT_TABLE_LOCAL
)

// Route is one route, as `ip route add TYPE DST via GW dev LINK src SRC
// metric METRIC table TABLE scope SCOPE proto PROTO tos TOS [onlink]
// [nexthop ...] [mtu ...]` sets it.
type Route struct {
	// Dst is the destination prefix; 0.0.0.0/0 or ::/0 for a default
	// route. Required; host bits must be zero.
	Dst netip.Prefix
	// Gateway is the next hop; zero for a directly connected route.
	Gateway netip.Addr
	// Link is the outgoing interface; may be empty when Gateway is set.
	Link string
	// Src is the preferred source address; zero for none.
	Src netip.Addr
	// Metric is the route priority. Zero means 0 for IPv4 and 1024 for
	// IPv6 (what the kernel picks).
	Metric int
	// Table is the routing table; zero means main (254).
	Table int
	// Scope zero means what ip(8) picks: link for a unicast route without
	// a gateway, host for local routes, global otherwise.
	Scope Scope
	// Type zero means unicast. Blackhole, unreachable, prohibit and throw
	// routes take no gateway and no interface.
	Type RouteType
	// OnLink says the gateway is on the link even if no prefix says so.
	OnLink bool
	// Protocol is the routing protocol that installed the route (RTPROT_*:
	// 2 kernel, 3 boot, 4 static, 18 keepalived). Zero sends none (the
	// kernel records boot). Listings report it, so a removed kernel route
	// comes back as one on undo. It does not take part in matching.
	Protocol uint8
	// TOS is the type of service the route is for; part of its identity,
	// like Dst and Metric. Zero matches any.
	TOS uint8
	// Nexthops make a multipath route (`nexthop via A dev X weight 1
	// nexthop via B ...`, keepalived's "via A or B"): traffic is spread
	// over them. Gateway, Link and OnLink must then be unset: each next
	// hop has its own.
	Nexthops []Nexthop
	// Realm is the route's realm (RTA_FLOW; `realms FROM/TO` is
	// FROM<<16|TO). Zero means none.
	Realm uint32
	// Metrics are the route's path and TCP settings (mtu, advmss, ...).
	// Matching compares those set here.
	Metrics RouteMetrics
}

func (r Route) String() string {
	s := ""
	if r.Type != RouteUnicast {
		s = r.Type.String() + " "
	}
	s += r.Dst.String()
	if r.TOS != 0 {
		s += fmt.Sprintf(" tos %#x", r.TOS)
	}
	if r.Gateway.IsValid() {
		s += " via " + r.Gateway.String()
	}
	if r.Link != "" {
		s += " dev " + r.Link
	}
	if r.Src.IsValid() {
		s += " src " + r.Src.String()
	}
	if r.Metric != 0 {
		s += fmt.Sprintf(" metric %d", r.Metric)
	}
	if r.Table != 0 && r.Table != TableMain {
		s += fmt.Sprintf(" table %d", r.Table)
	}
	if r.Scope != 0 {
		s += " scope " + r.Scope.String()
	}
	if r.Protocol != 0 {
		s += fmt.Sprintf(" proto %d", r.Protocol)
	}
	if r.Realm != 0 {
		s += fmt.Sprintf(" realms %d/%d", r.Realm>>16, r.Realm&0xffff)
	}
	if r.OnLink {
		s += " onlink"
	}
	if m := r.Metrics.String(); m != "" {
		s += " " + m
	}
	for _, n := range r.Nexthops {
		s += " " + n.String()
	}
	return s
}

// Validate reports what AddRoute would refuse in r without asking the
// kernel (interfaces are not looked up).
func (r Route) Validate() error {
	_, err := r.normalize()
	return err
}

// normalize validates r and fills in the defaults the kernel would, so
// that it compares equal to what a listing returns.
func (r Route) normalize() (Route, error) {
	if !r.Dst.IsValid() {
		return r, fmt.Errorf("route %v: bad prefix (want a destination like 10.0.0.0/24 or 0.0.0.0/0)", r.Dst)
	}
	if r.Dst.Addr().Is4In6() || r.Dst.Addr().Zone() != "" {
		return r, fmt.Errorf("route %v: bad prefix", r.Dst)
	}
	if r.Dst.Masked() != r.Dst {
		return r, fmt.Errorf("route %v: bad prefix: host bits set (did you mean %v?)", r.Dst, r.Dst.Masked())
	}
	v6 := r.Dst.Addr().Is6()
	if r.Gateway.IsValid() && r.Gateway.Is6() != v6 {
		return r, fmt.Errorf("route %v: gateway %v is of the other address family", r.Dst, r.Gateway)
	}
	if r.Src.IsValid() && r.Src.Is6() != v6 {
		return r, fmt.Errorf("route %v: source %v is of the other address family", r.Dst, r.Src)
	}
	if r.Link != "" {
		if err := validLinkName(r.Link); err != nil {
			return r, fmt.Errorf("route %v: %w", r.Dst, err)
		}
	}
	if err := r.Metrics.validate(); err != nil {
		return r, fmt.Errorf("route %v: %w", r.Dst, err)
	}
	if len(r.Nexthops) > 0 {
		if r.Type != RouteUnicast {
			return r, fmt.Errorf("route %v: a %s route has no next hops", r.Dst, r.Type)
		}
		if r.Gateway.IsValid() || r.Link != "" || r.OnLink {
			return r, fmt.Errorf("route %v: a multipath route takes its gateways and interfaces from its next hops", r.Dst)
		}
		nhs := make([]Nexthop, len(r.Nexthops))
		for i, n := range r.Nexthops {
			var err error
			if nhs[i], err = n.normalize(r.Dst); err != nil {
				return r, fmt.Errorf("route %v: %w", r.Dst, err)
			}
		}
		r.Nexthops = nhs
	}
	switch r.Type {
	case RouteUnicast:
		if !r.Gateway.IsValid() && r.Link == "" && len(r.Nexthops) == 0 {
			return r, fmt.Errorf("route %v: needs a gateway or an interface", r.Dst)
		}
	case RouteBlackhole, RouteUnreachable, RouteProhibit, RouteThrow:
		if r.Gateway.IsValid() || r.Link != "" {
			return r, fmt.Errorf("route %v: a %s route takes no gateway or interface", r.Dst, r.Type)
		}
	case RouteLocal:
		if r.Link == "" {
			return r, fmt.Errorf("route %v: a local route needs an interface", r.Dst)
		}
	default:
		return r, fmt.Errorf("route %v: type %s cannot be added", r.Dst, r.Type)
	}
	if r.Table == 0 {
		r.Table = TableMain
	}
	if r.Table < 0 {
		return r, fmt.Errorf("route %v: bad table %d", r.Dst, r.Table)
	}
	if r.Metric < 0 {
		return r, fmt.Errorf("route %v: bad metric %d", r.Dst, r.Metric)
	}
	if v6 && r.Metric == 0 {
		r.Metric = 1024
	}
	if r.Scope == 0 {
		switch {
		case r.Type == RouteLocal:
			r.Scope = ScopeHost
		case r.Type == RouteUnicast && !r.Gateway.IsValid() && len(r.Nexthops) == 0:
			r.Scope = ScopeLink
		}
	}
	return r, nil
}

// RouteChange is a route added or removed.
type RouteChange struct {
	Route Route
	Added bool
}

func (s RouteChange) String() string {
	if s.Added {
		return "add route " + s.Route.String()
	}
	return "remove route " + s.Route.String()
}

func (s RouteChange) undo(h *Host) error {
	if s.Added {
		_, err := h.RemoveRoute(s.Route)
		return err
	}
	_, err := h.AddRoute(s.Route)
	return err
}

// AddRoute adds r. A route that is already there (same table,
// destination, metric, type, and gateway, interface and source where r
// gives them) gives an empty Change. A different route holding the same
// table, destination and metric is an error: netcfg does not replace
// routes it did not make.
func (h *Host) AddRoute(r Route) (*Change, error) {
	r, err := r.normalize()
	if err != nil {
		return nil, fmt.Errorf("add route: %w", err)
	}
	c := h.newChange()
	if _, found, err := h.findRoute(r); err != nil {
		return nil, fmt.Errorf("add route %v: %w", r, err)
	} else if found {
		return c, nil
	}
	nr, err := h.toNetlinkRoute(r)
	if err != nil {
		return nil, fmt.Errorf("add route %v: %w", r.Dst, err)
	}
	if err := h.nl.RouteAdd(nr); err != nil {
		if errors.Is(err, syscall.EEXIST) {
			return nil, fmt.Errorf("add route %v: another route to %v with metric %d is in table %d: %w", r, r.Dst, r.Metric, r.Table, err)
		}
		if errors.Is(err, syscall.ENETUNREACH) {
			return nil, fmt.Errorf("add route %v: a gateway is not on a connected network: %w", r, err)
		}
		return nil, withPrivilegeHint(fmt.Errorf("add route %v: %w", r, err))
	}
	h.log.Debug("netcfg: added route", "route", r.String())
	c.add(RouteChange{Route: r, Added: true})
	return c, nil
}

// RemoveRoute removes the route that matches r as AddRoute matches. An
// absent route gives an empty Change; the Change records the route as it
// was so Undo restores it.
func (h *Host) RemoveRoute(r Route) (*Change, error) {
	r, err := r.normalize()
	if err != nil {
		return nil, fmt.Errorf("remove route: %w", err)
	}
	c := h.newChange()
	have, found, err := h.findRoute(r)
	if err != nil {
		return nil, fmt.Errorf("remove route %v: %w", r, err)
	}
	if !found {
		return c, nil
	}
	nr, err := h.toNetlinkRoute(have)
	if err != nil {
		return nil, fmt.Errorf("remove route %v: %w", have, err)
	}
	if err := h.nl.RouteDel(nr); err != nil {
		if errors.Is(err, syscall.ESRCH) || errors.Is(err, syscall.ENOENT) {
			return c, nil
		}
		return nil, withPrivilegeHint(fmt.Errorf("remove route %v: %w", have, err))
	}
	h.log.Debug("netcfg: removed route", "route", have.String())
	c.add(RouteChange{Route: have, Added: false})
	return c, nil
}

// TableAll asks Routes for every table.
const TableAll = -1

// Routes lists the routes of a table (zero = main, TableAll = all), both
// families, without the kernel's cached clones.
func (h *Host) Routes(table int) ([]Route, error) {
	filter := &netlink.Route{Table: table}
	switch table {
	case 0:
		filter.Table = TableMain
	case TableAll:
		filter.Table = unix.RT_TABLE_UNSPEC
	}
	list, err := h.nl.RouteListFiltered(netlink.FAMILY_ALL, filter, netlink.RT_FILTER_TABLE)
	if err != nil {
		return nil, withPrivilegeHint(fmt.Errorf("list routes: %w", err))
	}
	names := map[int]string{}
	out := make([]Route, 0, len(list))
	for _, nr := range list {
		if r, ok := h.fromNetlinkRoute(nr, names); ok {
			out = append(out, r)
		}
	}
	return out, nil
}

func (h *Host) findRoute(want Route) (Route, bool, error) {
	have, err := h.Routes(want.Table)
	if err != nil {
		return Route{}, false, err
	}
	for _, r := range have {
		if routeMatches(want, r) {
			return r, true, nil
		}
	}
	return Route{}, false, nil
}

func routeMatches(want, have Route) bool {
	if want.Dst != have.Dst || want.Table != have.Table || want.Metric != have.Metric || want.Type != have.Type {
		return false
	}
	if want.TOS != 0 && want.TOS != have.TOS {
		return false
	}
	if !nexthopsMatch(want.Nexthops, have.Nexthops) || !want.Metrics.covers(have.Metrics) {
		return false
	}
	if want.Realm != 0 && want.Realm != have.Realm {
		return false
	}
	if want.Gateway.IsValid() && want.Gateway != have.Gateway {
		return false
	}
	if !want.Gateway.IsValid() && have.Gateway.IsValid() {
		return false
	}
	if want.Link != "" && want.Link != have.Link {
		return false
	}
	if want.Src.IsValid() && want.Src != have.Src {
		return false
	}
	return true
}

func (h *Host) toNetlinkRoute(r Route) (*netlink.Route, error) {
	ip := r.Dst.Addr()
	nr := &netlink.Route{
		Dst:      &net.IPNet{IP: ip.AsSlice(), Mask: net.CIDRMask(r.Dst.Bits(), ip.BitLen())},
		Priority: r.Metric,
		Table:    r.Table,
		Scope:    netlink.Scope(r.Scope),
		Type:     r.Type.rtn(),
		Family:   netlink.FAMILY_V4,
		Protocol: netlink.RouteProtocol(r.Protocol),
		Tos:      int(r.TOS),
		Realm:    int(r.Realm),
	}
	r.Metrics.toNetlink(nr)
	if len(r.Nexthops) > 0 {
		nhs, err := h.toNetlinkNexthops(r.Nexthops)
		if err != nil {
			return nil, err
		}
		nr.MultiPath = nhs
	}
	if ip.Is6() {
		nr.Family = netlink.FAMILY_V6
	}
	if r.Gateway.IsValid() {
		nr.Gw = r.Gateway.AsSlice()
	}
	if r.Src.IsValid() {
		nr.Src = r.Src.AsSlice()
	}
	if r.Link != "" {
		l, err := h.link(r.Link)
		if err != nil {
			return nil, err
		}
		nr.LinkIndex = l.Attrs().Index
	}
	if r.OnLink {
		nr.Flags |= int(netlink.FLAG_ONLINK)
	}
	return nr, nil
}

func (h *Host) fromNetlinkRoute(nr netlink.Route, names map[int]string) (Route, bool) {
	fam := nr.Family
	var dst netip.Prefix
	if nr.Dst == nil {
		if fam == netlink.FAMILY_V6 {
			dst = netip.MustParsePrefix("::/0")
		} else {
			dst = netip.MustParsePrefix("0.0.0.0/0")
		}
	} else {
		a, ok := ipFromSlice(nr.Dst.IP)
		if !ok {
			return Route{}, false
		}
		bits, _ := nr.Dst.Mask.Size()
		dst = netip.PrefixFrom(a, bits)
	}
	r := Route{
		Dst:      dst,
		Metric:   nr.Priority,
		Table:    nr.Table,
		Scope:    Scope(nr.Scope),
		Type:     routeTypeOf(nr.Type),
		OnLink:   nr.Flags&int(netlink.FLAG_ONLINK) != 0,
		Protocol: uint8(nr.Protocol),
		TOS:      uint8(nr.Tos),
		Realm:    uint32(nr.Realm),
		Metrics:  metricsFromNetlink(nr),
		Nexthops: h.fromNetlinkNexthops(nr.MultiPath, names),
	}
	if nr.Gw != nil {
		r.Gateway, _ = ipFromSlice(nr.Gw)
	}
	if nr.Src != nil {
		r.Src, _ = ipFromSlice(nr.Src)
	}
	if nr.LinkIndex > 0 && (r.Type == RouteUnicast || r.Type == RouteLocal || r.Type == RouteBroadcast || r.Type == RouteAnycast || r.Type == RouteMulticast) {
		// (the kernel reports IPv6 blackhole-like routes on lo; they take no interface)
		r.Link = h.linkName(nr.LinkIndex, names)
	}
	return r, true
}

func ipFromSlice(b net.IP) (netip.Addr, bool) {
	if v4 := b.To4(); v4 != nil {
		return netip.AddrFrom4([4]byte(v4)), true
	}
	return netip.AddrFromSlice(b)
}
