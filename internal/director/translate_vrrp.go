package director

import (
	"net/netip"
	"time"

	"github.com/lvskit/lvskit/internal/keepalived"
	"github.com/lvskit/lvskit/vrrp"
)

// This file translates vrrp_instance blocks into vrrp.Config values, with
// global_defs' vrrp_* defaults; their trackers and sync groups are in
// translate_track.go.

// instances translates every vrrp_instance; groups are the sync groups'
// memberships and trackers, which each member takes with its own.
func (t *translator) instances(groups map[string]groupMembership) {
	g := &t.cfg.Global
	for i := range t.cfg.Instances {
		in := &t.cfg.Instances[i]
		c := vrrp.Config{
			Name:           in.Name,
			Interface:      in.Interface.V,
			Version:        in.Version.Or(g.VRRPVersion.Or(0)),
			Priority:       in.Priority.Or(100),
			AdvertInterval: in.AdvertInt.Or(time.Second),
			NoPreempt:      in.NoPreempt.V,
			PreemptDelay:   in.PreemptDelay.V,
		}
		if v := in.VirtualRouterID; v.V < 1 || v.V > 255 {
			t.errorf(v.Pos, "virtual_router_id: %d is out of range 1..255", v.V)
		} else {
			c.VRID = uint8(v.V)
		}
		if c.Priority < 1 || c.Priority > 255 {
			t.errorf(in.Priority.Pos, "priority: %d is out of range 1..255", c.Priority)
		}
		var authType string
		if a := in.Authentication; a.Set() {
			authType = t.authentication(&c, a, in)
		}
		for _, a := range in.VirtualIPAddresses {
			c.VIPs = append(c.VIPs, vrrp.VIP{Prefix: a.Prefix, Link: a.Dev, Label: a.Label})
			t.vipOptions(a)
		}
		if len(in.VirtualIPAddresses) == 0 {
			t.warnf(in.Pos, "virtual_ipaddress", "vrrp_instance %q: no virtual_ipaddress: keepalived warns \"No VIP specified\" and runs VRRP without addresses (for its notify scripts); so does the director", in.Name)
		}
		for _, a := range in.VirtualIPAddressesExcl {
			t.unimplemented(a.Pos, "virtual_ipaddress_excluded", "")
		}
		for _, r := range in.VirtualRoutes {
			if vr, ok := t.ipRoute("virtual_routes", r); ok {
				c.MasterItems = append(c.MasterItems, vr)
			}
		}
		for _, r := range in.VirtualRules {
			if vr, ok := t.ipRule("virtual_rules", r); ok {
				c.MasterItems = append(c.MasterItems, vr)
			}
		}
		if in.UnicastSrcIP.Set() {
			c.Source = in.UnicastSrcIP.V
		} else if in.McastSrcIP.Set() {
			c.Source = in.McastSrcIP.V
		}
		c.Group = t.mcastGroup(in)
		if in.UnicastPeerBlock.IsValid() {
			c.Unicast = true
			for _, p := range in.UnicastPeers {
				c.UnicastPeers = append(c.UnicastPeers, p.Addr)
				t.unimplemented(p.MinTTL.Pos, "min_ttl", "")
				t.unimplemented(p.MaxTTL.Pos, "max_ttl", "")
			}
			if len(in.UnicastPeers) == 0 {
				t.errorf(in.UnicastPeerBlock, "unicast_peer: the list is empty")
			}
		}
		t.unimplemented(posOf(in.UnicastTTL), "unicast_ttl", "")
		c.CheckUnicastSource = in.CheckUnicastSrc.Or(g.VRRPCheckUnicastSrc.V)
		c.LowerPrioNoAdvert = in.LowerPrioNoAdvert.Or(g.VRRPLowerPrioNoAdvert.V)
		c.SkipCheckAdvAddr = in.SkipCheckAdvAddr.Or(g.VRRPSkipCheckAdvAddr.V)
		c.GARPMasterDelay = garpDelay(in.GarpMasterDelay, g.VRRPGarpMasterDelay)
		c.GARPMasterRepeat = in.GarpMasterRepeat.Or(g.VRRPGarpMasterRepeat.V)
		c.GARPMasterRefresh = in.GarpMasterRefresh.Or(g.VRRPGarpMasterRefresh.V)
		c.GARPMasterRefreshRepeat = in.GarpMasterRefreshRepeat.Or(g.VRRPGarpMasterRefreshRepeat.V)
		c.GARPLowerPrioDelay = garpDelay(in.GarpLowerPrioDelay, g.VRRPGarpLowerPrioDelay)
		c.GARPLowerPrioRepeat = in.GarpLowerPrioRepeat.Or(g.VRRPGarpLowerPrioRepeat.V)
		c.GARPInterval = g.VRRPGarpInterval.V
		c.GNAInterval = g.VRRPGnaInterval.V
		if v := in.UseVMAC; v.Set() {
			c.UseVMAC = true
			c.VMACName = v.V.Name
			if v.V.MAC != "" {
				t.unimplemented(v.Pos, "use_vmac", "a custom MAC is not supported; the VRRP virtual MAC is used")
			}
		}
		c.VMACXmitBase = in.VMACXmitBase.V
		t.unimplemented(posOf(in.NativeIPv6), "native_ipv6", "")
		t.unimplemented(posOf(in.DownTimerAdverts), "down_timer_adverts", "")
		t.unimplemented(posOf(in.HigherPrioSendAdvert), "higher_prio_send_advert", "")
		t.unimplemented(posOf(in.PromoteSecondaries), "promote_secondaries", "")
		t.unimplemented(posOf(in.TrackSrcIP), "track_src_ip", "")
		t.unimplemented(posOf(in.NotifyDeleted), "notify_deleted", "")
		t.unimplemented(posOf(in.NotifyMasterRxLowerPri), "notify_master_rx_lower_pri", "")
		t.unimplemented(posOf(in.NotifyPriorityChanges), "notify_priority_changes", "")
		t.unimplemented(posOf(in.UnicastFaultNoPeer), "unicast_fault_no_peer", "an empty unicast_peer list is an error")
		// "state" as keepalived 2.2.7 treats it (vrrp_complete_instance,
		// vrrp_init_state): only an address owner starts as MASTER; state
		// MASTER makes an unset priority 255 and clears nopreempt and
		// preempt_delay (with keepalived's warnings); a non-owner starts as
		// BACKUP either way. vrrp.Config.InitialState does that.
		// In strict mode state MASTER is for an owner only: acceptStrict
		// resets it first, as keepalived does.
		strictNotOwner := t.strictMode(in) && in.Priority.Set() && in.Priority.V != vrrp.PriorityOwner
		state := in.State
		if state.V == keepalived.StateMaster && authType == "AH" {
			t.warnf(state.Pos, "state", "state MASTER is incompatible with AH authentication: BACKUP, as keepalived does")
			state.V = keepalived.StateBackup
		}
		if state.Set() {
			switch {
			case state.V == keepalived.StateMaster && strictNotOwner:
			case state.V == keepalived.StateMaster:
				c.InitialState = vrrp.StateMaster
				if !in.Priority.Set() {
					c.Priority = vrrp.PriorityOwner
				}
				if c.NoPreempt {
					t.warnf(in.NoPreempt.Pos, "nopreempt", "nopreempt will not work with initial state MASTER - clearing (as keepalived does)")
				}
				if c.PreemptDelay > 0 {
					t.warnf(in.PreemptDelay.Pos, "preempt_delay", "preempt delay will not work with initial state MASTER - clearing (as keepalived does)")
				}
			case state.V == keepalived.StateBackup:
				c.InitialState = vrrp.StateBackup
			}
		}
		t.acceptStrict(in, &c)
		c.Notify = t.notify(in.Notify, in.NotifyMaster, in.NotifyBackup, in.NotifyFault, in.NotifyStop)
		if f := g.VRRPNotifyFIFO; f.Set() {
			c.Notify.FIFO = f.V.Path
		} else if f := g.NotifyFIFO; f.Set() {
			c.Notify.FIFO = f.V.Path
		}

		ip := InstancePlan{Pos: in.Pos, VRRP: c, AuthType: authType, SyncGroup: groups[in.Name].group,
			SMTPAlert: smtpDefault(in.SMTPAlert, g.SMTPAlertVRRP, g.SMTPAlert)}
		if !in.DontTrackPrimary.V && c.Interface != "" {
			ip.Tracks = append(ip.Tracks, TrackPlan{Kind: TrackInterface, Name: c.Interface, Interface: c.Interface})
		}
		for _, r := range in.TrackInterfaces {
			ip.Tracks = append(ip.Tracks, TrackPlan{Kind: TrackInterface, Name: r.Name, Interface: r.Name, Weight: r.Weight.V})
			if r.Reverse {
				t.unimplemented(r.Pos, "reverse", "track_interface weight reverse")
			}
		}
		ip.Tracks = append(ip.Tracks, t.trackScripts(in.TrackScripts, true)...)
		ip.Tracks = append(ip.Tracks, t.trackFiles(in.TrackFiles, true)...)
		ip.Tracks = append(ip.Tracks, t.trackProcesses(in.TrackProcesses, true)...)
		ip.Tracks = append(ip.Tracks, groups[in.Name].tracks...)
		t.plan.Instances = append(t.plan.Instances, ip)
	}
}

// authentication sets c's authentication (PASS, or keepalived's IPsec AH)
// and returns the auth_type that runs, "" for none: it is ignored where
// keepalived 2.2.7 ignores it, with its warnings (vrrp_complete_instance):
// in strict mode, in version 3, without a password, and AH with IPv6. The
// parser has already refused any type but PASS and AH (case-sensitive).
func (t *translator) authentication(c *vrrp.Config, a keepalived.Value[keepalived.Auth], in *keepalived.VRRPInstance) string {
	ipv6 := len(in.VirtualIPAddresses) > 0 && in.VirtualIPAddresses[0].Prefix.Addr().Is6()
	switch typ := a.V.Type; {
	case t.strictMode(in):
		t.warnf(a.Pos, "authentication", "Strict mode does not support authentication. Ignoring. (as keepalived does)")
	case c.Version == 3 || c.Version == 0 && ipv6: // IPv6 defaults to version 3
		t.warnf(a.Pos, "authentication", "VRRP version 3 does not support authentication; ignored, as keepalived does")
	case a.V.Pass == "":
		t.warnf(a.Pos, "authentication", "authentication specified but no password given; ignored, as keepalived does")
	case typ == "AH" && ipv6:
		t.warnf(a.Pos, "authentication", "cannot use AH authentication with IPv6; ignored, as keepalived does")
	case typ == "PASS":
		c.AuthPass = a.V.Pass
		return typ
	case typ == "AH":
		c.AuthPass = a.V.Pass
		c.AuthType = vrrp.AuthAH
		return typ
	default:
		t.errorf(a.Pos, "authentication: unknown auth_type %s", a.V.Type)
	}
	return ""
}

// mcastGroup is the group an instance's adverts go to: mcast_dst_ip, else
// global_defs' vrrp_mcast_group4 / vrrp_mcast_group6 for the VIPs'
// family; zero for the default groups, and with unicast peers (where
// keepalived ignores mcast_dst_ip with a warning).
func (t *translator) mcastGroup(in *keepalived.VRRPInstance) netip.Addr {
	g := &t.cfg.Global
	if in.UnicastPeerBlock.IsValid() {
		if in.McastDstIP.Set() {
			t.warnf(in.McastDstIP.Pos, "mcast_dst_ip", "multicast destination specified with unicast - ignoring (as keepalived does)")
		}
		return netip.Addr{}
	}
	ipv6 := len(in.VirtualIPAddresses) > 0 && in.VirtualIPAddresses[0].Prefix.Addr().Is6()
	switch {
	case in.McastDstIP.Set():
		// vrrp_mcast_dst_ip_handler: a wrong address is skipped.
		a := in.McastDstIP.V
		switch {
		case a.Is6() != ipv6:
			t.warnf(in.McastDstIP.Pos, "mcast_dst_ip", "mcast dest address %v MUST match VRRP instance family. Skipping... (as keepalived does)", a)
		case !ipv6 && !a.IsMulticast(), ipv6 && !a.IsLinkLocalMulticast():
			t.warnf(in.McastDstIP.Pos, "mcast_dst_ip", "mcast_dst_ip %v not%s multicast. Skipping... (as keepalived does)", a, map[bool]string{true: " link-local"}[ipv6])
		default:
			return a
		}
		if ipv6 {
			return g.VRRPMcastGroup6.V
		}
		return g.VRRPMcastGroup4.V
	case ipv6:
		return g.VRRPMcastGroup6.V
	}
	return g.VRRPMcastGroup4.V
}

// garpDelay maps keepalived's delay (0 = none) onto vrrp's (0 = default,
// negative = none).
func garpDelay(own, global keepalived.Value[time.Duration]) time.Duration {
	v := own
	if !v.Set() {
		v = global
	}
	if !v.Set() {
		return 0
	}
	if v.V == 0 {
		return -1
	}
	return v.V
}

func (t *translator) vipOptions(a keepalived.IPAddress) {
	opt := func(set bool, name string) {
		if set {
			t.warnf(a.Pos, "virtual_ipaddress", "virtual_ipaddress: option %q is not implemented by the lvskit director and is ignored", name)
		}
	}
	opt(a.Broadcast != "", "brd")
	opt(a.Scope != "" && a.Scope != "global", "scope")
	opt(a.Peer.IsValid(), "peer")
	opt(a.Home, "home")
	opt(a.NoDAD, "nodad")
	opt(a.MngTmpAddr, "mngtmpaddr")
	opt(a.NoPrefixRoute, "noprefixroute")
	opt(a.AutoJoin, "autojoin")
	opt(a.NoTrack, "no_track")
	opt(a.UseVMAC, "use_vmac")
	opt(a.PreferredLft != "", "preferred_lft")
	opt(a.TrackGroup != "", "track_group")
}
