package keepalived

// validate checks what no single keyword can: required settings and
// references between blocks.
func (d *decoder) validate() {
	c := d.cfg
	scripts := map[string]bool{}
	for _, s := range c.Scripts {
		if scripts[s.Name] {
			d.errorf(s.Pos, "vrrp_script %q is defined twice", s.Name)
		}
		scripts[s.Name] = true
	}
	files := map[string]bool{}
	for _, f := range c.TrackFiles {
		if files[f.Name] {
			d.errorf(f.Pos, "track_file %q is defined twice", f.Name)
		}
		files[f.Name] = true
	}
	processes := map[string]bool{}
	for _, p := range c.TrackProcesses {
		if processes[p.Name] {
			d.errorf(p.Pos, "vrrp_track_process %q is defined twice", p.Name)
		}
		processes[p.Name] = true
	}
	checkRefs := func(kind string, refs []TrackRef, known map[string]bool, what string) {
		for _, r := range refs {
			if !known[r.Name] {
				d.errorf(r.Pos, "%s: no %s named %q", kind, what, r.Name)
			}
		}
	}
	instances := map[string]*VRRPInstance{}
	for i := range c.Instances {
		in := &c.Instances[i]
		if instances[in.Name] != nil {
			d.errorf(in.Pos, "vrrp_instance %q is defined twice", in.Name)
		}
		instances[in.Name] = in
		if !in.VirtualRouterID.Set() {
			d.errorf(in.Pos, "vrrp_instance %q: missing virtual_router_id", in.Name)
		}
		if !in.Interface.Set() && !in.UnicastPeerBlock.IsValid() {
			d.errorf(in.Pos, "vrrp_instance %q: missing interface", in.Name)
		}
		if in.AdvertInt.Set() && in.AdvertInt.V <= 0 {
			d.errorf(in.AdvertInt.Pos, "advert_int: must be greater than 0")
		}
		for _, a := range in.VirtualIPAddresses {
			if first := in.VirtualIPAddresses[0].Prefix.Addr(); a.Prefix.Addr().Is4() != first.Is4() {
				d.errorf(a.Pos, "virtual_ipaddress: %s is not of the same address family as %s (use virtual_ipaddress_excluded to mix families)", a.Prefix, first)
			}
		}
		checkRefs("track_script", in.TrackScripts, scripts, "vrrp_script")
		checkRefs("track_file", in.TrackFiles, files, "track_file")
		checkRefs("track_process", in.TrackProcesses, processes, "vrrp_track_process")
	}
	member := map[string]string{}
	for _, g := range c.SyncGroups {
		for _, m := range g.Group {
			if instances[m.V] == nil {
				d.errorf(m.Pos, "vrrp_sync_group %q: no vrrp_instance named %q", g.Name, m.V)
				continue
			}
			if other, ok := member[m.V]; ok {
				d.errorf(m.Pos, "vrrp_sync_group %q: vrrp_instance %q is already in group %q", g.Name, m.V, other)
				continue
			}
			member[m.V] = g.Name
		}
		checkRefs("track_script", g.TrackScripts, scripts, "vrrp_script")
		checkRefs("track_file", g.TrackFiles, files, "track_file")
		checkRefs("track_process", g.TrackProcesses, processes, "vrrp_track_process")
	}
	if s := c.Global.LVSSyncDaemon; s.Set() && s.V.Instance != "" && instances[s.V.Instance] == nil {
		d.errorf(s.Pos, "lvs_sync_daemon: no vrrp_instance named %q", s.V.Instance)
	}
	groups := map[string]bool{}
	for _, g := range c.VirtualServerGroups {
		if groups[g.Name] {
			d.errorf(g.Pos, "virtual_server_group %q is defined twice", g.Name)
		}
		groups[g.Name] = true
	}
	for _, vs := range c.VirtualServers {
		if vs.Group != "" && !groups[vs.Group] {
			d.errorf(vs.Pos, "virtual_server: no virtual_server_group named %q", vs.Group)
		}
		if vs.Addr.IsValid() && vs.Port == 0 && !vs.PersistenceTimeout.Set() {
			d.errorf(vs.Pos, "virtual_server %s: a port is required unless persistence_timeout is set", vs.Addr)
		}
		for _, rs := range vs.RealServers {
			if vs.Addr.IsValid() && rs.Addr.Is4() != vs.Addr.Is4() && rs.Forwarding.V.Method != "TUN" && vs.Forwarding.V.Method != "TUN" {
				d.errorf(rs.Pos, "real_server %s: address family differs from virtual_server %s", rs.Addr, vs.Addr)
			}
			for _, ck := range rs.Checkers {
				if ck.File != nil && ck.File.TrackFile.Set() && !files[ck.File.TrackFile.V] {
					d.errorf(ck.File.TrackFile.Pos, "FILE_CHECK: no track_file named %q", ck.File.TrackFile.V)
				}
			}
		}
	}
}
