package director

// validate asks the libraries whether they take what the plan configures,
// through their own Validate methods, so that what they would refuse when
// the director builds its units is reported now, at the position of its
// block: vrrp.Config.Validate for each instance, and for each virtual
// server ipvs.Service.ValidateDestination per real server (at the real
// server) and healthcheck.PoolConfig.Validate for the rest.
func (t *translator) validate() {
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
