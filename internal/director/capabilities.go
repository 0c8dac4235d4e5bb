package director

import (
	"fmt"
	"strings"

	"github.com/lvskit/lvskit/internal/keepalived"
	"github.com/lvskit/lvskit/ipvs"
)

// CheckCapabilities reports every setting of the plan that a backend with
// caps cannot carry (ipvs.Capabilities.Refusals), each at the position of
// the setting: the lb_kind line of a real server, the protocol, fwmark or
// ops line of a virtual server, and so on; nil when the plan runs on it.
// backend names the backend in the messages ("userspace").
func (p *Plan) CheckCapabilities(backend string, caps ipvs.Capabilities) error {
	var ds []Diagnostic
	seen := map[Diagnostic]bool{} // a virtual_server_group repeats its block's settings
	for i := range p.VirtualServers {
		vs := &p.VirtualServers[i]
		svc := vs.Service
		svc.Destinations = nil
		for j := range vs.RealServers {
			svc.Destinations = append(svc.Destinations, vs.RealServers[j].Destination)
		}
		if s := vs.SorryServer; s != nil {
			svc.Destinations = append(svc.Destinations, ipvs.Destination{Addr: s.Addr, Port: s.Port, Forward: s.Forward})
		}
		for _, r := range caps.Refusals(&svc) {
			pos, setting := vs.setting(&svc, r)
			d := Diagnostic{Pos: pos, Msg: fmt.Sprintf("%s: not supported by the %s backend (%v)", setting, backend, r.Err)}
			if !seen[d] {
				seen[d] = true
				ds = append(ds, d)
			}
		}
	}
	if len(ds) == 0 {
		return nil
	}
	sortByPos(ds, func(d Diagnostic) keepalived.Pos { return d.Pos })
	return &ConfigError{Diagnostics: ds}
}

// setting names the keepalived setting behind a refusal of svc (the plan's
// service with its real servers and then its sorry server as
// destinations) and where it was written.
func (v *VirtualServerPlan) setting(svc *ipvs.Service, r ipvs.Refusal) (keepalived.Pos, string) {
	at := func(p keepalived.Pos) keepalived.Pos {
		if p.IsValid() {
			return p
		}
		return v.Pos
	}
	if r.Destination >= 0 {
		d := &svc.Destinations[r.Destination]
		forward := "lb_kind " + strings.ToUpper(d.Forward.String())
		if r.Destination == len(v.RealServers) { // the sorry server
			return at(v.Lines.SorryForward), "sorry_server " + forward
		}
		rs := &v.RealServers[r.Destination]
		if r.Feature == ipvs.FeatureThresholds {
			return at(rs.ThresholdPos), "uthreshold"
		}
		if rs.ForwardPos.IsValid() {
			return rs.ForwardPos, forward
		}
		return rs.Pos, forward
	}
	s := &v.Service
	switch r.Feature {
	case ipvs.FeatureProtocol:
		return at(v.Lines.Protocol), "protocol " + s.Protocol.String()
	case ipvs.FeatureFWMark:
		return at(v.Lines.FWMark), fmt.Sprintf("fwmark %d", s.FWMark)
	case ipvs.FeatureScheduler:
		return at(v.Lines.Scheduler), "lb_algo " + s.SchedulerName()
	case ipvs.FeatureSchedFlag3:
		return at(v.Lines.Flag3), "flag-3"
	case ipvs.FeatureOnePacket:
		return at(v.Lines.OPS), "ops"
	case ipvs.FeaturePersistence:
		return at(v.Lines.Persistence), "persistence_timeout"
	}
	return v.Pos, "virtual_server " + s.String()
}
