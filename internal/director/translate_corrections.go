package director

import (
	"fmt"
	"net/netip"
	"slices"

	"github.com/lvskit/lvskit/internal/keepalived"
	"github.com/lvskit/lvskit/ipvs"
)

// This file holds the corrections keepalived 2.2.7 makes to a virtual
// server once its block is read (check_data.c, validate_check_config),
// each made here the same way with a warning at its line: a virtual
// server without real servers is dropped, no protocol means UDP, one
// packet scheduling needs UDP, a fwmark service has no protocol, no
// scheduler means wlc and no forwarding method NAT, a duplicated real
// server goes, the quorum is at most the real servers' total weight and
// the hysteresis below the quorum, and a real server of a DR or TUN
// service takes the service's port.

// vsName names a virtual server as its header does.
func vsName(vs *keepalived.VirtualServer) string {
	switch {
	case vs.FwMark.Set():
		return fmt.Sprintf("fwmark %d", vs.FwMark.V)
	case vs.Group != "":
		return "group " + vs.Group
	}
	return fmt.Sprintf("%s %d", vs.Addr, vs.Port)
}

// keepVirtualServer reports whether keepalived keeps vs, and applies the
// corrections of its block that the translation reads: the protocol.
// g is its virtual_server_group, if any.
func (t *translator) keepVirtualServer(vs *keepalived.VirtualServer, g *keepalived.VirtualServerGroup) bool {
	if len(vs.RealServers) == 0 {
		t.warnf(vs.Pos, "virtual_server", "virtual_server %s has no real servers: ignored, as keepalived does (no IPVS service is made)", vsName(vs))
		return false
	}
	addressed := vs.Addr.IsValid()
	if g != nil {
		addressed = slices.ContainsFunc(g.Entries, func(e keepalived.VSGEntry) bool { return !e.FwMark.Set() })
	}
	switch {
	case addressed && !vs.Protocol.Set():
		t.warnf(vs.Pos, "protocol", "virtual_server %s: no protocol: UDP, as keepalived 2.2.7 does (the kernel's default); write protocol TCP for a TCP service", vsName(vs))
		vs.Protocol = keepalived.Value[string]{V: "UDP", Pos: vs.Pos}
	case !addressed && vs.Protocol.Set():
		t.warnf(vs.Protocol.Pos, "protocol", "virtual_server %s: protocol is ignored for a fwmark service, as keepalived does", vsName(vs))
	}
	if addressed && vs.OPS.V && vs.Protocol.V != "UDP" {
		t.warnf(vs.OPS.Pos, "ops", "virtual_server %s: one packet scheduling needs UDP: ops cleared, as keepalived does", vsName(vs))
		vs.OPS = keepalived.Value[bool]{}
	}
	if !vs.Scheduler.Set() {
		t.warnf(vs.Pos, "lb_algo", "virtual_server %s: no lb_algo: wlc, as keepalived does", vsName(vs))
	}
	if !vs.Forwarding.Set() && slices.ContainsFunc(vs.RealServers, func(rs keepalived.RealServer) bool { return !rs.Forwarding.Set() }) {
		t.warnf(vs.Pos, "lb_kind", "virtual_server %s: no lb_kind: NAT, as keepalived does", vsName(vs))
	}
	return true
}

// correctVirtualServer makes keepalived's corrections of the real servers
// of p, translated from vs.
func (t *translator) correctVirtualServer(vs *keepalived.VirtualServer, p *VirtualServerPlan) {
	type rsKey struct {
		addr netip.Addr
		port uint16
	}
	seen := map[rsKey]bool{}
	p.RealServers = slices.DeleteFunc(p.RealServers, func(rs RealServerPlan) bool {
		k := rsKey{rs.Addr, rs.Port}
		if seen[k] {
			t.warnf(rs.Pos, "real_server", "virtual_server %s: real_server %s %d is a duplicate: the second is removed, as keepalived does", vsName(vs), rs.Addr, rs.Port)
			return true
		}
		seen[k] = true
		return false
	})
	if !vs.FwMark.Set() && vs.Group == "" {
		for i := range p.RealServers {
			rs := &p.RealServers[i]
			if rs.Forward != ipvs.Masquerade && rs.Port != 0 && rs.Port != vs.Port {
				t.warnf(rs.Pos, "real_server", "virtual_server %s: real_server %s port %d does not match (DR and TUN keep the port): reset to %d, as keepalived does", vsName(vs), rs.Addr, rs.Port, vs.Port)
				rs.Port = vs.Port
			}
		}
	}
	var total int64
	for _, rs := range p.RealServers {
		total += int64(rs.Weight)
	}
	if p.Quorum > total {
		t.warnf(firstPos(vs.Quorum.Pos, vs.Pos), "quorum", "virtual_server %s: quorum %d exceeds the real servers' total weight %d: reduced to %d, as keepalived does", vsName(vs), p.Quorum, total, total)
		p.Quorum = total
	}
	if p.Hysteresis >= p.Quorum && p.Hysteresis > 0 {
		h := max(p.Quorum-1, 0)
		t.warnf(firstPos(vs.Hysteresis.Pos, vs.Pos), "hysteresis", "virtual_server %s: hysteresis %d is not below quorum %d: set to %d, as keepalived does", vsName(vs), p.Hysteresis, p.Quorum, h)
		p.Hysteresis = h
	}
}

func firstPos(ps ...keepalived.Pos) keepalived.Pos {
	for _, p := range ps {
		if p.IsValid() {
			return p
		}
	}
	return keepalived.Pos{}
}
