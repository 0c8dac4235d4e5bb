package director

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/lvskit/lvskit/internal/keepalived"
	"github.com/lvskit/lvskit/netcfg"
)

// This file translates keepalived's iproute lines into netcfg values, as
// keepalived 2.2.7 sets them: static_ipaddress, static_routes and
// static_rules (Plan.Static, set at start whatever the VRRP state), and an
// instance's virtual_routes and virtual_rules (vrrp.Config.MasterItems,
// set while MASTER).
//
// What keepalived does that a reader of ip(8) might not expect, and this
// does too (each measured against keepalived 2.2.7):
//   - routes and rules get protocol keepalived (18); a protocol written on
//     the line is kept only with no_track (keepalived resets it, with a
//     warning, because it tracks the route by that protocol);
//   - a rule without a preference gets 16384, with a warning;
//   - "via A or B" is a multipath route over A and B;
//   - a line keepalived cannot set (an unknown table name, a prefix with
//     host bits, ...) is logged and skipped, and the rest runs: here a
//     warning at its position, never an error.

// staticDefaultInterface is keepalived's default_interface.
const staticDefaultInterface = "eth0"

// rulePriorityDefault is what keepalived gives a rule without one.
const rulePriorityDefault = 16384

// statics translates static_ipaddress, static_routes and static_rules.
func (t *translator) statics() {
	dev := t.cfg.Global.DefaultInterface.Or(staticDefaultInterface)
	for _, a := range t.cfg.StaticIPAddresses {
		if na, ok := t.ipAddress("static_ipaddress", a, dev); ok {
			t.plan.Static.Addresses = append(t.plan.Static.Addresses, StaticAddress{Pos: a.Pos, Address: na})
		}
	}
	for _, r := range t.cfg.StaticRoutes {
		if nr, ok := t.ipRoute("static_routes", r); ok {
			t.plan.Static.Routes = append(t.plan.Static.Routes, StaticRoute{Pos: r.Pos, Route: nr})
		}
	}
	for _, r := range t.cfg.StaticRules {
		if nr, ok := t.ipRule("static_rules", r); ok {
			t.plan.Static.Rules = append(t.plan.Static.Rules, StaticRule{Pos: r.Pos, Rule: nr})
		}
	}
}

// skipLine warns that the line at p is not set, and why. keepalived, too,
// logs a line it cannot set and runs on (seen for an unknown table name
// and a prefix with host bits).
func (t *translator) skipLine(p keepalived.Pos, kw, what, format string, args ...any) {
	t.warnf(p, kw, "%s: %s; the %s is not set", kw, fmt.Sprintf(format, args...), what)
}

func scopeOf(s string) netcfg.Scope {
	switch s {
	case "site":
		return netcfg.ScopeSite
	case "link":
		return netcfg.ScopeLink
	case "host":
		return netcfg.ScopeHost
	case "nowhere":
		return netcfg.ScopeNowhere
	}
	return netcfg.ScopeUniverse
}

// ipAddress translates an address line of static_ipaddress; dev is the
// interface of a line without one.
func (t *translator) ipAddress(kw string, a keepalived.IPAddress, dev string) (netcfg.Address, bool) {
	out := netcfg.Address{Link: a.Dev, Prefix: a.Prefix, Label: a.Label, Scope: scopeOf(a.Scope),
		NoPrefixRoute: a.NoPrefixRoute, Home: a.Home, MngTmpAddr: a.MngTmpAddr, AutoJoin: a.AutoJoin}
	if out.Link == "" {
		out.Link = dev
	}
	switch a.Broadcast {
	case "", "-":
	case "+":
		out.Broadcast = lastAddr(a.Prefix)
	default:
		out.Broadcast, _ = netip.ParseAddr(a.Broadcast) // the parser checked it
	}
	opt := func(set bool, name string) {
		if set {
			t.warnf(a.Pos, kw, "%s: option %q is not implemented by the lvskit director and is ignored", kw, name)
		}
	}
	opt(a.Peer.IsValid(), "peer")
	opt(a.PreferredLft != "", "preferred_lft")
	opt(a.TrackGroup != "", "track_group")
	opt(a.UseVMAC, "use_vmac")
	if err := out.Validate(); err != nil {
		t.skipLine(a.Pos, kw, "address", "%v", err)
		return out, false
	}
	return out, true
}

// lastAddr is the broadcast address "brd +" asks for: the last of an
// IPv4 prefix shorter than /31, else none.
func lastAddr(p netip.Prefix) netip.Addr {
	if !p.Addr().Is4() || p.Bits() >= 31 {
		return netip.Addr{}
	}
	b := p.Masked().Addr().As4()
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	v |= 1<<(32-p.Bits()) - 1
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

var routeTypes = map[string]netcfg.RouteType{
	"": netcfg.RouteUnicast, "unicast": netcfg.RouteUnicast, "blackhole": netcfg.RouteBlackhole,
	"unreachable": netcfg.RouteUnreachable, "prohibit": netcfg.RouteProhibit,
	"throw": netcfg.RouteThrow, "local": netcfg.RouteLocal,
}

// ipRoute translates a route line of static_routes or virtual_routes.
func (t *translator) ipRoute(kw string, r keepalived.Route) (netcfg.Route, bool) {
	out := netcfg.Route{Dst: r.Dst, Gateway: r.Via, Link: r.Dev, Src: r.Src, OnLink: r.OnLink,
		Metric: r.Metric.V, Scope: scopeOf(r.Scope), Protocol: netcfg.ProtocolKeepalived}
	skip := func(format string, args ...any) (netcfg.Route, bool) {
		t.skipLine(r.Pos, kw, "route", format, args...)
		return out, false
	}
	typ, ok := routeTypes[r.Type]
	if !ok {
		t.warnf(r.Pos, kw, "%s: route type %q is not implemented by the lvskit director; the route is ignored", kw, r.Type)
		return out, false
	}
	out.Type = typ
	if r.Dev == "" && !r.NoTrack {
		t.warnf(r.Pos, kw, "%s: route %s has no interface (dev): keepalived warns that it cannot track it and does not; the director tracks no route", kw, r.Dst)
	}
	if r.Table != "" {
		n, ok := t.names.lookup("rt_tables", r.Table)
		if !ok {
			return skip("routing table %q not found", r.Table)
		}
		out.Table = n
	}
	if r.Protocol != "" {
		p, err := t.lineProtocol(kw, "route", r.Pos, r.Protocol, r.NoTrack)
		if err != nil {
			return skip("%v", err)
		}
		out.Protocol = p
	}
	switch {
	case r.Or.IsValid() && len(r.Nexthops) > 0:
		return skip(`"or" and "nexthop" together`)
	case r.Or.IsValid():
		if !r.Via.IsValid() {
			return skip(`"or" without "via"`)
		}
		out.Nexthops = []netcfg.Nexthop{{Gateway: r.Via, Link: r.Dev, Weight: 1, OnLink: r.OnLink}, {Gateway: r.Or, Link: r.Dev, Weight: 1, OnLink: r.OnLink}}
	case len(r.Nexthops) > 0:
		if r.Via.IsValid() {
			return skip(`"via" and "nexthop" together`)
		}
		for _, nh := range r.Nexthops {
			n := netcfg.Nexthop{Gateway: nh.Via, Link: nh.Dev, Weight: nh.Weight.Or(1), OnLink: nh.OnLink}
			if n.Link == "" {
				n.Link = r.Dev
			}
			out.Nexthops = append(out.Nexthops, n)
		}
	}
	if len(out.Nexthops) > 0 {
		out.Gateway, out.Link, out.OnLink = netip.Addr{}, "", false
	}
	if out.Dst == netip.MustParsePrefix("0.0.0.0/0") && routeIsIPv6(r) {
		out.Dst = netip.MustParsePrefix("::/0") // "default" with IPv6 gateways
	}
	if err := t.lineEnd(r.Pos, r.TrackGroup, r.Options, func(o keepalived.IPOption) error { return t.routeOption(kw, &out, o) }, out); err != nil {
		return skip("%v", err)
	}
	return out, true
}

// lineEnd is the common end of a route or rule line: its valued options
// (apply), track_group (not implemented), and netcfg's verdict on what was
// made.
func (t *translator) lineEnd(pos keepalived.Pos, trackGroup string, opts []keepalived.IPOption,
	apply func(keepalived.IPOption) error, out interface{ Validate() error }) error {
	for _, o := range opts {
		if err := apply(o); err != nil {
			return fmt.Errorf("%s %s: %w", o.Name, o.Value, err)
		}
	}
	if trackGroup != "" {
		t.unimplemented(pos, "track_group", "")
	}
	return out.Validate()
}

// lineProtocol is the protocol of a route or rule line that names one
// (name): keepalived's own (18) unless the line is no_track, as keepalived
// does (it tracks its routes and rules by that protocol), with a warning
// when the one named is replaced.
func (t *translator) lineProtocol(kw, what string, pos keepalived.Pos, name string, noTrack bool) (uint8, error) {
	n, ok := t.names.lookup("rt_protos", name)
	if !ok || n > 255 {
		return 0, fmt.Errorf("unknown protocol %q", name)
	}
	if noTrack {
		return uint8(n), nil
	}
	if uint8(n) != netcfg.ProtocolKeepalived {
		t.warnf(pos, kw, "%s: protocol %s replaced by keepalived (18), as keepalived does: only no_track %ss keep their own", kw, name, what)
	}
	return netcfg.ProtocolKeepalived, nil
}

func routeIsIPv6(r keepalived.Route) bool {
	for _, a := range []netip.Addr{r.Via, r.Or, r.Src} {
		if a.Is6() {
			return true
		}
	}
	for _, nh := range r.Nexthops {
		if nh.Via.Is6() {
			return true
		}
	}
	return false
}

// routeOption sets one valued option of a route line.
func (t *translator) routeOption(kw string, r *netcfg.Route, o keepalived.IPOption) error {
	m := &r.Metrics
	metrics := map[string]*int{
		"mtu": &m.MTU, "advmss": &m.AdvMSS, "window": &m.Window, "rtt": &m.RTT, "rttvar": &m.RTTVar,
		"ssthresh": &m.Ssthresh, "cwnd": &m.Cwnd, "reordering": &m.Reordering, "hoplimit": &m.Hoplimit,
		"initcwnd": &m.InitCwnd, "initrwnd": &m.InitRwnd, "rto_min": &m.RTOMin, "quickack": &m.QuickACK,
		"fastopen_no_cookie": &m.FastOpenNoCookie,
	}
	if o.Lock && o.Name != "mtu" {
		t.warnf(o.Pos, kw, "%s: %s lock: the lock is not implemented by the lvskit director and is ignored (the value is set)", kw, o.Name)
	}
	switch o.Name {
	case "features":
		if o.Value == "ecn" {
			m.Features = 1
			return nil
		}
		v, err := strconv.ParseUint(o.Value, 0, 32)
		m.Features = int(v)
		return err
	case "congctl":
		m.Congctl = o.Value
		return nil
	case "tos", "dsfield":
		v, ok := t.names.lookup("rt_dsfield", o.Value)
		if !ok || v > 255 {
			return fmt.Errorf("not a TOS value")
		}
		r.TOS = uint8(v)
		return nil
	case "realms":
		v, err := t.realms(o.Value)
		r.Realm = v
		return err
	}
	p, ok := metrics[o.Name]
	if !ok {
		return fmt.Errorf("unknown option")
	}
	v, err := strconv.ParseUint(o.Value, 10, 32)
	if err != nil {
		return fmt.Errorf("not a number")
	}
	*p = int(v)
	if o.Name == "mtu" {
		m.LockMTU = o.Lock
	}
	return nil
}

// realms reads "TO" or "FROM/TO", numbers or names of rt_realms.
func (t *translator) realms(s string) (uint32, error) {
	from, to := "0", s
	if i := strings.IndexByte(s, '/'); i >= 0 {
		from, to = s[:i], s[i+1:]
	}
	f, ok1 := t.names.lookup("rt_realms", from)
	v, ok2 := t.names.lookup("rt_realms", to)
	if !ok1 || !ok2 || f > 0xffff || v > 0xffff {
		return 0, fmt.Errorf("not a realm")
	}
	return uint32(f)<<16 | uint32(v), nil
}

// numRange reads "N" or "N-M" of bits-wide numbers.
func numRange(s string, bits int) (uint64, uint64, error) {
	a, b, found := strings.Cut(s, "-")
	lo, err := strconv.ParseUint(a, 10, bits)
	if err != nil {
		return 0, 0, fmt.Errorf("not a number or range")
	}
	hi := lo
	if found {
		if hi, err = strconv.ParseUint(b, 10, bits); err != nil {
			return 0, 0, fmt.Errorf("not a number or range")
		}
	}
	return lo, hi, nil
}
