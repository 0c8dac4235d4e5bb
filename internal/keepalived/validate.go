package keepalived

import (
	"slices"
	"time"
)

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
	// keepalived ignores a reference to a block that does not exist.
	checkRefs := func(kind string, refs []TrackRef, known map[string]bool, what string) []TrackRef {
		return slices.DeleteFunc(refs, func(r TrackRef) bool {
			if known[r.Name] {
				return false
			}
			d.warnf(r.Pos, kind, "%s: no %s named %q: ignored, as keepalived does", kind, what, r.Name)
			return true
		})
	}
	instances := map[string]*VRRPInstance{}
	for i := range c.Instances {
		in := &c.Instances[i]
		if instances[in.Name] != nil {
			d.errorf(in.Pos, "vrrp_instance %q is defined twice", in.Name)
		}
		instances[in.Name] = in
		// keepalived stops on these two: its VRRP process exits.
		if !in.VirtualRouterID.Set() {
			d.errorf(in.Pos, "vrrp_instance %q: missing virtual_router_id (keepalived does not start either)", in.Name)
		}
		if !in.Interface.Set() && !in.UnicastPeerBlock.IsValid() {
			d.errorf(in.Pos, "vrrp_instance %q: missing interface (keepalived does not start either)", in.Name)
		}
		if len(in.VirtualIPAddresses) > 0 {
			first, what := in.VirtualIPAddresses[0].Prefix.Addr(), ""
			if m := in.McastDstIP; m.Set() && before(m.Pos, in.VirtualIPAddresses[0].Pos) {
				// keepalived takes the instance's family from the first
				// of mcast_dst_ip and the VIPs in the file.
				first, what = m.V, "mcast_dst_ip "
			}
			in.VirtualIPAddresses = slices.DeleteFunc(in.VirtualIPAddresses, func(a IPAddress) bool {
				if a.Prefix.Addr().Is4() == first.Is4() {
					return false
				}
				d.warnf(a.Pos, "virtual_ipaddress", "virtual_ipaddress: %s is not of the address family of %s%s: ignored, as keepalived does (use virtual_ipaddress_excluded to mix families)", a.Prefix, what, first)
				return true
			})
		}
		in.TrackScripts = checkRefs("track_script", in.TrackScripts, scripts, "vrrp_script")
		in.TrackFiles = checkRefs("track_file", in.TrackFiles, files, "track_file")
		in.TrackProcesses = checkRefs("track_process", in.TrackProcesses, processes, "vrrp_track_process")
	}
	member := map[string]string{}
	for i := 0; i < len(c.SyncGroups); i++ {
		g := &c.SyncGroups[i]
		g.Group = slices.DeleteFunc(g.Group, func(m Value[string]) bool {
			if instances[m.V] == nil {
				d.warnf(m.Pos, "vrrp_sync_group", "vrrp_sync_group %q: no vrrp_instance named %q: ignored, as keepalived does", g.Name, m.V)
				return true
			}
			if other, ok := member[m.V]; ok {
				d.warnf(m.Pos, "vrrp_sync_group", "vrrp_sync_group %q: vrrp_instance %q is already in group %q: ignored, as keepalived does", g.Name, m.V, other)
				return true
			}
			member[m.V] = g.Name
			return false
		})
		switch len(g.Group) {
		case 0:
			d.warnf(g.Pos, "vrrp_sync_group", "vrrp_sync_group %q has no instances: removed, as keepalived does", g.Name)
			c.SyncGroups = slices.Delete(c.SyncGroups, i, i+1)
			i--
			continue
		case 1:
			d.warnf(g.Pos, "vrrp_sync_group", "vrrp_sync_group %q has only one instance: kept, as keepalived does (it says: this probably isn't what you want)", g.Name)
		}
		g.TrackScripts = checkRefs("track_script", g.TrackScripts, scripts, "vrrp_script")
		g.TrackFiles = checkRefs("track_file", g.TrackFiles, files, "track_file")
		g.TrackProcesses = checkRefs("track_process", g.TrackProcesses, processes, "vrrp_track_process")
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
	for i := range c.VirtualServers {
		vs := &c.VirtualServers[i]
		if vs.Group != "" && !groups[vs.Group] {
			d.errorf(vs.Pos, "virtual_server: no virtual_server_group named %q", vs.Group)
		}
		if vs.Addr.IsValid() && vs.Port == 0 && !vs.PersistenceTimeout.Set() {
			d.warnf(vs.Pos, "virtual_server", "virtual_server %s: port 0 is valid only for persistent services: persistence_timeout 360 set, as keepalived does", vs.Addr)
			vs.PersistenceTimeout = Value[time.Duration]{V: 360 * time.Second, Pos: vs.Pos}
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

// before reports whether a comes before b in the same file.
func before(a, b Pos) bool {
	return a.File == b.File && (a.Line < b.Line || a.Line == b.Line && a.Col < b.Col)
}
