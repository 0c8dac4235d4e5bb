package director

import (
	"context"

	"github.com/lvskit/lvskit/healthcheck"
	"github.com/lvskit/lvskit/ipvs"
	"github.com/lvskit/lvskit/vrrp"
)

// validate builds every VRRP instance, sync group and pool of the plan
// without running them, so that what the libraries refuse is reported at
// load time with the position of its block.
func (t *translator) validate() {
	net := nopNetwork{}
	tr := vrrp.NewMemNet().Transport()
	byName := map[string]*vrrp.Instance{}
	for i := range t.plan.Instances {
		p := &t.plan.Instances[i]
		c := p.VRRP
		c.Network, c.Transport = net, tr
		in, err := vrrp.New(c)
		if err != nil {
			t.errorf(p.Pos, "vrrp_instance %q: %v", c.Name, err)
			continue
		}
		byName[c.Name] = in
	}
	for _, g := range t.plan.SyncGroups {
		var members []*vrrp.Instance
		for _, m := range g.Members {
			if in := byName[m]; in != nil {
				members = append(members, in)
			}
		}
		if len(members) != len(g.Members) {
			continue // the member's own error is reported
		}
		sg, err := vrrp.NewSyncGroup(g.Name, vrrp.Notify{}, nil, members...)
		if err != nil {
			t.errorf(g.Pos, "vrrp_sync_group %q: %v", g.Name, err)
			continue
		}
		sg.Close()
	}
	for i := range t.plan.VirtualServers {
		vs := &t.plan.VirtualServers[i]
		if _, err := healthcheck.NewPool(poolConfig(vs, nil, nopSyncer{})); err != nil {
			t.errorf(vs.Pos, "virtual_server %s: %v", vs.Service.String(), err)
		}
		want := vs.Service
		for _, rs := range vs.RealServers {
			d := ipvs.Destination{Addr: rs.Addr, Port: rs.Port, Weight: rs.Weight, Forward: rs.Forward,
				TunnelType: rs.TunnelType, TunnelPort: rs.TunnelPort, TunnelFlags: rs.TunnelFlags,
				UpperThreshold: rs.UpperThreshold, LowerThreshold: rs.LowerThreshold}
			if err := want.ValidateDestination(&d); err != nil {
				t.errorf(rs.Pos, "real_server %s: %v", rs.Addr, err)
			}
		}
	}
}

// poolConfig turns a virtual server plan into a pool configuration. With
// prev (the pool this one replaces), a real server whose checks did not
// change starts in the health state it had there.
func poolConfig(vs *VirtualServerPlan, prev *poolRun, syncer healthcheck.Syncer) healthcheck.PoolConfig {
	svc := vs.Service
	svc.Destinations = nil
	cfg := healthcheck.PoolConfig{
		Service:     svc,
		Quorum:      vs.Quorum,
		Hysteresis:  vs.Hysteresis,
		SorryServer: vs.SorryServer,
		Omega:       vs.Omega,
		Syncer:      syncer,
	}
	var prevAlive map[string]bool
	if prev != nil {
		prevAlive = prev.aliveByChecks()
	}
	for i := range vs.RealServers {
		rs := &vs.RealServers[i]
		hr := healthcheck.RealServer{
			Addr: rs.Addr, Port: rs.Port, Weight: rs.Weight, Forward: rs.Forward,
			TunnelType: rs.TunnelType, TunnelPort: rs.TunnelPort, TunnelFlags: rs.TunnelFlags,
			UpperThreshold: rs.UpperThreshold, LowerThreshold: rs.LowerThreshold,
			InhibitOnFailure: rs.InhibitOnFailure,
		}
		if rs.Weight == 0 {
			hr.Weight = healthcheck.ZeroWeight // keepalived's "weight 0": in the table, no new connections
		}
		alive, known := prevAlive[rs.DestinationKey(svc.Port).String()+"|"+rs.checksFingerprint()]
		for _, c := range rs.Checks {
			pol := c.Policy
			if known {
				pol.Alpha = !alive
			}
			hr.Checks = append(hr.Checks, healthcheck.Check{Checker: c.Checker, Policy: pol})
		}
		cfg.RealServers = append(cfg.RealServers, hr)
	}
	return cfg
}

type nopNetwork struct{}

func (nopNetwork) AddAddress(context.Context, vrrp.Address) error    { return nil }
func (nopNetwork) DeleteAddress(context.Context, vrrp.Address) error { return nil }
func (nopNetwork) Announce(context.Context, vrrp.Announcement) error { return nil }
func (nopNetwork) AddRoute(context.Context, vrrp.Route) error        { return nil }
func (nopNetwork) DeleteRoute(context.Context, vrrp.Route) error     { return nil }
func (nopNetwork) CreateVMAC(context.Context, vrrp.VMAC) error       { return nil }
func (nopNetwork) DeleteVMAC(context.Context, string) error          { return nil }
func (nopSyncer) SyncService(context.Context, ipvs.Service) error    { return nil }

type nopSyncer struct{}
