package director

import (
	"github.com/lvskit/lvskit/internal/keepalived"
	"github.com/lvskit/lvskit/internal/names"
)

// validate asks the libraries whether they take what the plan configures,
// through their own Validate methods, so that what they would refuse when
// the director builds its units is reported now, at the position of its
// block: vrrp.Config.Validate for each instance, and for each virtual
// server ipvs.Service.ValidateDestination per real server (at the real
// server) and healthcheck.PoolConfig.Validate for the rest. Names reach
// metric labels, logs and /status: the libraries refuse the ones they
// are given (vrrp.Config.Validate), and the router_id taken from the host
// name and the sync group names are checked here (package names).
func (t *translator) validate() {
	if !t.cfg.Global.RouterID.Set() {
		// The host name stands in for router_id: the same rule as a name
		// in the file (the parser checked those).
		if err := names.Name(t.plan.RouterID); err != nil {
			t.errorf(keepalived.Pos{File: t.plan.Source}, "config-id %q (the default router_id): %v", t.plan.RouterID, err)
		}
	}
	for i := range t.plan.SyncGroups {
		g := &t.plan.SyncGroups[i]
		if err := names.Name(g.Name); err != nil {
			t.errorf(g.Pos, "vrrp_sync_group %q: %v", g.Name, err)
		}
	}
	for i := range t.plan.Instances {
		p := &t.plan.Instances[i]
		if err := p.VRRP.Validate(); err != nil {
			t.errorf(p.Pos, "vrrp_instance %q: %v", p.VRRP.Name, err)
		}
	}
	for i := range t.plan.VirtualServers {
		vs := &t.plan.VirtualServers[i]
		ok := true
		for j := range vs.RealServers {
			rs := &vs.RealServers[j]
			if err := vs.Service.ValidateDestination(&rs.Destination); err != nil {
				t.errorf(rs.Pos, "real_server %s: %v", rs.Addr, err)
				ok = false
			}
		}
		if !ok {
			continue
		}
		cfg := vs.poolConfig()
		if err := cfg.Validate(); err != nil {
			t.errorf(vs.Pos, "virtual_server %s: %v", vs.Service.String(), err)
		}
	}
}
