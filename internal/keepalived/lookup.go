package keepalived

// Lookups by name, for wiring references (track_script, sync group
// members, virtual_server group, FILE_CHECK track_file). They return nil
// when there is no such block; a parsed Config has no dangling references.

// Instance returns the vrrp_instance named name.
func (c *Config) Instance(name string) *VRRPInstance {
	for i := range c.Instances {
		if c.Instances[i].Name == name {
			return &c.Instances[i]
		}
	}
	return nil
}

// Script returns the vrrp_script named name.
func (c *Config) Script(name string) *VRRPScript {
	for i := range c.Scripts {
		if c.Scripts[i].Name == name {
			return &c.Scripts[i]
		}
	}
	return nil
}

// TrackFile returns the track_file named name.
func (c *Config) TrackFile(name string) *TrackFile {
	for i := range c.TrackFiles {
		if c.TrackFiles[i].Name == name {
			return &c.TrackFiles[i]
		}
	}
	return nil
}

// VirtualServerGroup returns the virtual_server_group named name.
func (c *Config) VirtualServerGroup(name string) *VirtualServerGroup {
	for i := range c.VirtualServerGroups {
		if c.VirtualServerGroups[i].Name == name {
			return &c.VirtualServerGroups[i]
		}
	}
	return nil
}

// SyncGroupOf returns the vrrp_sync_group that instance belongs to.
func (c *Config) SyncGroupOf(instance string) *VRRPSyncGroup {
	for i := range c.SyncGroups {
		for _, m := range c.SyncGroups[i].Group {
			if m.V == instance {
				return &c.SyncGroups[i]
			}
		}
	}
	return nil
}
