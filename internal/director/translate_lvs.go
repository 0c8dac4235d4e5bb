package director

import (
	"net/netip"
	"strings"

	"github.com/lvskit/lvskit/healthcheck"
	"github.com/lvskit/lvskit/internal/keepalived"
	"github.com/lvskit/lvskit/ipvs"
)

// This file translates virtual_server and virtual_server_group blocks into
// ipvs.Service values with their real servers; the checkers of the real
// servers are in translate_check.go.

// tunnelTypes and tunnelChecksums map lb_kind TUN's options onto IPVS;
// what they do not name (ipip, no checksum option) is the zero value.
var (
	tunnelTypes     = map[string]ipvs.TunnelType{"gue": ipvs.TunnelGUE, "gre": ipvs.TunnelGRE}
	tunnelChecksums = map[string]ipvs.TunnelFlags{"csum": ipvs.TunnelCsum, "remcsum": ipvs.TunnelRemoteCsum}
)

// forward maps lb_kind onto IPVS.
func (t *translator) forward(f keepalived.Value[keepalived.Forwarding], what string) (ipvs.Forward, ipvs.TunnelType, uint16, ipvs.TunnelFlags) {
	switch f.V.Method {
	case "", "NAT":
		return ipvs.Masquerade, 0, 0, 0
	case "DR":
		return ipvs.DirectRoute, 0, 0, 0
	case "TUN":
		return ipvs.Tunnel, tunnelTypes[f.V.TunnelType], f.V.TunnelPort, tunnelChecksums[f.V.Checksum]
	}
	t.errorf(f.Pos, "%s: unknown forwarding method %q", what, f.V.Method)
	return ipvs.Masquerade, 0, 0, 0
}

func (t *translator) virtualServers() {
	groups := map[string]*keepalived.VirtualServerGroup{}
	for i := range t.cfg.VirtualServerGroups {
		groups[t.cfg.VirtualServerGroups[i].Name] = &t.cfg.VirtualServerGroups[i]
	}
	seen := map[ipvs.ServiceKey]keepalived.Pos{}
	for i := range t.cfg.VirtualServers {
		vs := &t.cfg.VirtualServers[i]
		if !t.keepVirtualServer(vs, groups[vs.Group]) {
			continue
		}
		base, ok := t.virtualServer(vs)
		if !ok {
			continue
		}
		t.correctVirtualServer(vs, &base)
		var keys []groupService
		switch {
		case vs.Group != "":
			g := groups[vs.Group]
			if g == nil {
				t.errorf(vs.Pos, "virtual_server: no virtual_server_group named %q", vs.Group)
				continue
			}
			for _, e := range g.Entries {
				keys = append(keys, t.groupEntry(base.Service, e)...)
			}
		default:
			keys = append(keys, groupService{base.Service, base.Lines.FWMark})
		}
		for _, gs := range keys {
			svc := gs.svc
			p := base
			p.Service = svc
			p.Lines.FWMark = gs.fwmark
			if err := svc.Validate(); err != nil {
				t.errorf(vs.Pos, "virtual_server %s: %v", svc.String(), err)
				continue
			}
			if old, dup := seen[svc.Key()]; dup {
				t.errorf(vs.Pos, "virtual_server %s: already defined at %s", svc.String(), old)
				continue
			}
			seen[svc.Key()] = vs.Pos
			// Every service gets checkers of its own.
			if len(keys) > 1 {
				p.RealServers = t.realServers(vs, svc)
				t.correctVirtualServer(vs, &p)
			}
			t.plan.VirtualServers = append(t.plan.VirtualServers, p)
		}
	}
}

// maxGroupRange bounds the addresses of one virtual_server_group range.
const maxGroupRange = 256

// groupService is one service of a virtual_server_group entry, with the
// position of its fwmark (a fwmark entry's).
type groupService struct {
	svc    ipvs.Service
	fwmark keepalived.Pos
}

func (t *translator) groupEntry(base ipvs.Service, e keepalived.VSGEntry) []groupService {
	if e.FwMark.Set() {
		s := base
		s.Protocol, s.Addr, s.Port = 0, netip.Addr{}, 0
		s.FWMark = e.FwMark.V
		s.Family = ipvs.Inet
		if e.Family == "inet6" {
			s.Family = ipvs.Inet6
		}
		return []groupService{{s, e.Pos}}
	}
	var out []groupService
	port := e.Port
	if port == 0 {
		port = base.Port
	}
	for a, n := e.First, 0; a.IsValid() && a.Compare(e.Last) <= 0; a, n = a.Next(), n+1 {
		if n >= maxGroupRange {
			t.errorf(e.Pos, "virtual_server_group: range %s-%s has more than %d addresses", e.First, e.Last, maxGroupRange)
			return nil
		}
		s := base
		s.FWMark = 0
		s.Family = 0
		s.Addr, s.Port = a, port
		out = append(out, groupService{s, keepalived.Pos{}})
	}
	return out
}

func (t *translator) virtualServer(vs *keepalived.VirtualServer) (VirtualServerPlan, bool) {
	g := &t.cfg.Global
	svc := ipvs.Service{
		Addr:               vs.Addr,
		Port:               vs.Port,
		Scheduler:          vs.Scheduler.Or("wlc"),
		PersistenceTimeout: vs.PersistenceTimeout.V,
		PersistenceBits:    vs.PersistenceGranularity.V,
	}
	switch strings.ToUpper(vs.Protocol.Or("UDP")) {
	case "TCP":
		svc.Protocol = ipvs.TCP
	case "UDP":
		svc.Protocol = ipvs.UDP
	case "SCTP":
		svc.Protocol = ipvs.SCTP
	default:
		t.errorf(vs.Protocol.Pos, "protocol: unknown protocol %q", vs.Protocol.V)
		return VirtualServerPlan{}, false
	}
	if vs.FwMark.Set() {
		svc.Protocol, svc.Addr, svc.Port = 0, netip.Addr{}, 0
		svc.FWMark = vs.FwMark.V
		svc.Family = ipvs.Inet
		if vs.IPFamily.V == "inet6" {
			svc.Family = ipvs.Inet6
		} else if !vs.IPFamily.Set() && len(vs.RealServers) > 0 && vs.RealServers[0].Addr.Is6() {
			svc.Family = ipvs.Inet6
		}
	}
	flag := func(v keepalived.Value[bool], f ipvs.ServiceFlags) {
		if v.V {
			svc.Flags |= f
		}
	}
	flag(vs.Flag1, ipvs.SHFallback)
	flag(vs.Flag2, ipvs.SHPort)
	flag(vs.Flag3, ipvs.Sched3)
	flag(vs.SHFallback, ipvs.SHFallback)
	flag(vs.SHPort, ipvs.SHPort)
	flag(vs.MHFallback, ipvs.MHFallback)
	flag(vs.MHPort, ipvs.MHPort)
	flag(vs.OPS, ipvs.OnePacket)
	t.unimplemented(posOf(vs.HASuspend), "ha_suspend", "")

	p := VirtualServerPlan{
		Pos: vs.Pos,
		Lines: ServiceLines{Protocol: vs.Protocol.Pos, FWMark: vs.FwMark.Pos, Scheduler: vs.Scheduler.Pos,
			Persistence: vs.PersistenceTimeout.Pos, OPS: vs.OPS.Pos, Flag3: vs.Flag3.Pos},
		Service:    svc,
		Quorum:     int64(vs.Quorum.Or(1)),
		Hysteresis: int64(vs.Hysteresis.V),
		Omega:      vs.Omega.V,
		SMTPAlert:  smtpDefault(vs.SMTPAlert, g.SMTPAlertChecker, g.SMTPAlert),
		QuorumUp:   t.programOf(vs.QuorumUp, "quorum_up"),
		QuorumDown: t.programOf(vs.QuorumDown, "quorum_down"),
	}
	if s := vs.SorryServer; s.Set() {
		fw, _, _, _ := t.forward(vs.SorryServerForwarding, "sorry_server_lvs_method")
		p.Lines.SorryForward = vs.SorryServerForwarding.Pos
		if !vs.SorryServerForwarding.Set() {
			fw, _, _, _ = t.forward(vs.Forwarding, "lb_kind")
			p.Lines.SorryForward = vs.Forwarding.Pos
		}
		p.SorryServer = &healthcheck.SorryServer{Addr: s.V.Addr, Port: s.V.Port, Forward: fw, Inhibit: vs.SorryServerInhibit.V}
	}
	p.RealServers = t.realServers(vs, svc)
	return p, true
}

// realServers translates the real_server blocks of vs for the service
// svc, each with checkers of its own.
func (t *translator) realServers(vs *keepalived.VirtualServer, svc ipvs.Service) []RealServerPlan {
	g := &t.cfg.Global
	var out []RealServerPlan
	for i := range vs.RealServers {
		rs := &vs.RealServers[i]
		fwv := rs.Forwarding
		if !fwv.Set() {
			fwv = vs.Forwarding
		}
		fw, tt, tport, tf := t.forward(fwv, "lb_kind")
		wv := firstSet(rs.Weight, vs.Weight)
		w := wv.Or(1)
		if w < 0 || w > 65535 {
			t.errorf(wv.Pos, "weight: %d is out of range [0, 65535]", w)
		}
		port := rs.Port
		if port == 0 {
			port = svc.Port
		}
		rp := RealServerPlan{
			Pos: rs.Pos,
			RealServer: healthcheck.RealServer{
				Destination: ipvs.Destination{
					Addr:           rs.Addr,
					Port:           rs.Port,
					Weight:         int32(w),
					Forward:        fw,
					TunnelType:     tt,
					TunnelPort:     tport,
					TunnelFlags:    tf,
					UpperThreshold: uint32(rs.UThreshold.V),
					LowerThreshold: uint32(rs.LThreshold.V),
				},
				InhibitOnFailure: rs.InhibitOnFailure.Or(vs.InhibitOnFailure.V),
			},
			SMTPAlert:    smtpDefault(rs.SMTPAlert, vs.SMTPAlert, smtpDefaultVal(g)),
			NotifyUp:     t.programOf(rs.NotifyUp, "notify_up"),
			NotifyDown:   t.programOf(rs.NotifyDown, "notify_down"),
			ForwardPos:   fwv.Pos,
			ThresholdPos: rs.UThreshold.Pos,
		}
		if !rp.ThresholdPos.IsValid() {
			rp.ThresholdPos = rs.LThreshold.Pos
		}
		for ci := range rs.Checkers {
			ck := &rs.Checkers[ci]
			rp.Checks = append(rp.Checks, t.checker(vs, rs, ck, port)...)
		}
		out = append(out, rp)
	}
	return out
}

// smtpDefaultVal is the global default of a checker's smtp_alert.
func smtpDefaultVal(g *keepalived.GlobalDefs) keepalived.Value[bool] {
	if g.SMTPAlertChecker.Set() {
		return g.SMTPAlertChecker
	}
	return g.SMTPAlert
}
