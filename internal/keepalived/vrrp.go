package keepalived

import (
	"strings"
)

func (d *decoder) vrrpScript(n *node) {
	if !d.blockOnly(n, 1, 1) {
		return
	}
	s := VRRPScript{Name: n.args[0].Text, Pos: n.pos}
	t := table{
		"script":    d.script(&s.Script),
		"interval":  d.duration(&s.Interval),
		"timeout":   d.duration(&s.Timeout),
		"weight":    d.weight(&s.Weight, &s.Reverse, -253, 253),
		"rise":      d.integer(&s.Rise, 1, 1<<31-1),
		"fall":      d.integer(&s.Fall, 1, 1<<31-1),
		"user":      d.user(&s.User),
		"init_fail": d.fixed(&s.InitFail, true),
	}
	d.decodeBlock("vrrp_script", n, t, nil)
	if !s.Script.Set() {
		d.warnf(n.pos, "vrrp_script", "vrrp_script %q: no script: removed, as keepalived does (a track_script naming it is ignored)", s.Name)
		return
	}
	d.cfg.Scripts = append(d.cfg.Scripts, s)
}

// weight handles "weight N [reverse]".
func (d *decoder) weight(w *Value[int], rev *Value[bool], min, max int64) kwFunc {
	return func(n *node) {
		if !d.plain(n, 1, 2) {
			return
		}
		v, ok := d.parseInt(n.name, n.args[0], min, max)
		if !ok {
			return
		}
		if len(n.args) == 2 {
			if n.args[1].Text != "reverse" {
				d.ignoredf(n.args[1].Pos, n.name, "%s: unexpected %q (want reverse)", n.name, n.args[1].Text)
				return
			}
			*rev = Value[bool]{V: true, Pos: n.args[1].Pos}
		}
		*w = Value[int]{V: int(v), Pos: n.pos}
	}
}

func (d *decoder) trackFile(n *node) {
	if !d.blockOnly(n, 1, 1) {
		return
	}
	f := TrackFile{Name: n.args[0].Text, Pos: n.pos}
	t := table{
		"file":   d.str(&f.File),
		"weight": d.weight(&f.Weight, &f.Reverse, -2147483647, 2147483647),
		"init_file": func(c *node) {
			if !d.plain(c, 0, 2) {
				return
			}
			var in InitFile
			for _, a := range c.args {
				if a.Text == "overwrite" {
					in.Overwrite = true
					continue
				}
				v, ok := d.parseInt(c.name, a, -2147483648, 2147483647)
				if !ok {
					return
				}
				in.Value = int(v)
			}
			f.InitFile = Value[InitFile]{V: in, Pos: c.pos}
		},
	}
	d.decodeBlock(n.name, n, t, nil)
	if !f.File.Set() {
		d.warnf(n.pos, n.name, "%s %q: no file: removed, as keepalived does (a track_file naming it is ignored)", n.name, f.Name)
		return
	}
	d.cfg.TrackFiles = append(d.cfg.TrackFiles, f)
}

func (d *decoder) syncGroup(n *node) {
	if !d.blockOnly(n, 1, 1) {
		return
	}
	g := VRRPSyncGroup{Name: n.args[0].Text, Pos: n.pos}
	t := table{
		"group":                      d.list(&g.Group),
		"track_interface":            d.trackRefs(&g.TrackInterfaces, -253, 253),
		"track_script":               d.trackRefs(&g.TrackScripts, -253, 253),
		"track_file":                 d.trackRefs(&g.TrackFiles, -254, 254),
		"track_process":              d.trackRefs(&g.TrackProcesses, -254, 254),
		"notify":                     d.script(&g.Notify),
		"notify_master":              d.script(&g.NotifyMaster),
		"notify_backup":              d.script(&g.NotifyBackup),
		"notify_fault":               d.script(&g.NotifyFault),
		"notify_stop":                d.script(&g.NotifyStop),
		"notify_priority_changes":    d.flag(&g.NotifyPriorityChanges),
		"smtp_alert":                 d.flag(&g.SMTPAlert),
		"global_tracking":            d.fixed(&g.GlobalTracking, true),
		"sync_group_tracking_weight": d.fixed(&g.SyncGroupTrackingWeight, true),
	}
	d.decodeBlock("vrrp_sync_group", n, t, set("track_bfd"))
	if len(g.Group) == 0 {
		d.warnf(n.pos, "vrrp_sync_group", "vrrp_sync_group %q has no instances (no group { }): removed, as keepalived does", g.Name)
		return
	}
	d.cfg.SyncGroups = append(d.cfg.SyncGroups, g)
}

var instanceIgnored = set(
	"vrf", "use_vmac_addr", "use_ipvlan", "track_bfd",
	"old_unicast_checksum", "garp_extra_if", "garp_extra_if_vmac", "debug",
	"kernel_rx_buf_size", "linkbeat_use_polling", "no_virtual_ipaddress",
	"v3_checksum_as_v2", "timer_expired_backup", "vmac_garp_intvl",
)

func (d *decoder) vrrpInstance(n *node) {
	if !d.blockOnly(n, 1, 1) {
		return
	}
	in := VRRPInstance{Name: n.args[0].Text, Pos: n.pos}
	t := table{
		"state": func(c *node) {
			if !d.plain(c, 1, 1) {
				return
			}
			// keepalived compares the word as written: "master" and
			// "SLAVE" are unknown states, and it starts in BACKUP.
			switch s := State(c.args[0].Text); s {
			case StateMaster, StateBackup:
				in.State = Value[State]{V: s, Pos: c.pos}
			default:
				d.warnf(c.args[0].Pos, "state", "state: unknown state %q (MASTER and BACKUP are case-sensitive): BACKUP, as keepalived does", c.args[0].Text)
				in.State = Value[State]{V: StateBackup, Pos: c.pos}
			}
		},
		"interface":          d.str(&in.Interface),
		"dont_track_primary": d.fixed(&in.DontTrackPrimary, true),
		"track_interface":    d.trackRefs(&in.TrackInterfaces, -253, 253),
		"track_script":       d.trackRefs(&in.TrackScripts, -253, 253),
		"track_file":         d.trackRefs(&in.TrackFiles, -254, 254),
		"track_process":      d.trackRefs(&in.TrackProcesses, -254, 254),
		"mcast_src_ip":       d.hostAddr(&in.McastSrcIP),
		"mcast_dst_ip":       d.addr(&in.McastDstIP),
		"unicast_src_ip":     d.hostAddr(&in.UnicastSrcIP),
		"unicast_peer": func(c *node) {
			if !d.blockOnly(c, 0, 0) {
				return
			}
			in.UnicastPeerBlock = c.pos
			if len(c.children) == 0 {
				d.errorf(c.pos, "vrrp_instance %q: unicast_peer has no peers", in.Name)
			}
			for _, l := range c.children {
				if p, ok := d.unicastPeer(l); ok {
					in.UnicastPeers = append(in.UnicastPeers, p)
				}
			}
		},
		"unicast_ttl":           d.integer(&in.UnicastTTL, 0, 255),
		"unicast_fault_no_peer": d.fixed(&in.UnicastFaultNoPeer, true),
		"check_unicast_src":     d.fixed(&in.CheckUnicastSrc, true),
		"track_src_ip":          d.fixed(&in.TrackSrcIP, true),
		"lvs_sync_daemon_interface": func(c *node) {
			d.warnf(c.pos, c.name, "lvs_sync_daemon_interface in a vrrp_instance is deprecated in keepalived 2.2.7 (it says: please use global lvs_sync_daemon); used, as keepalived does")
			d.str(&in.LVSSyncDaemonInterface)(c)
		},
		"virtual_router_id":          d.integer(&in.VirtualRouterID, 1, 255),
		"priority":                   d.integer(&in.Priority, 1, 255),
		"advert_int":                 d.positiveDuration(&in.AdvertInt),
		"version":                    d.integer(&in.Version, 2, 3),
		"authentication":             d.authentication(&in.Authentication),
		"virtual_ipaddress":          d.ipAddresses(&in.VirtualIPAddresses),
		"virtual_ipaddress_excluded": d.ipAddresses(&in.VirtualIPAddressesExcl),
		"virtual_routes":             d.routes(&in.VirtualRoutes),
		"virtual_rules":              d.rules(&in.VirtualRules),
		"use_vmac": func(c *node) {
			if !d.plain(c, 0, 2) {
				return
			}
			var v VMAC
			for _, a := range c.args {
				if strings.Count(a.Text, ":") >= 4 {
					v.MAC = a.Text
				} else {
					v.Name = a.Text
				}
			}
			in.UseVMAC = Value[VMAC]{V: v, Pos: c.pos}
		},
		"vmac_xmit_base":             d.fixed(&in.VMACXmitBase, true),
		"native_ipv6":                d.fixed(&in.NativeIPv6, true),
		"nopreempt":                  d.fixed(&in.NoPreempt, true),
		"no_preempt":                 d.fixed(&in.NoPreempt, true),
		"preempt":                    d.fixed(&in.NoPreempt, false),
		"preempt_delay":              d.duration(&in.PreemptDelay),
		"accept":                     d.fixed(&in.Accept, true),
		"no_accept":                  d.fixed(&in.Accept, false),
		"garp_master_delay":          d.duration(&in.GarpMasterDelay),
		"garp_master_repeat":         d.integer(&in.GarpMasterRepeat, 0, 255),
		"garp_lower_prio_delay":      d.duration(&in.GarpLowerPrioDelay),
		"garp_lower_prio_repeat":     d.integer(&in.GarpLowerPrioRepeat, 0, 255),
		"garp_master_refresh":        d.duration(&in.GarpMasterRefresh),
		"garp_master_refresh_repeat": d.integer(&in.GarpMasterRefreshRepeat, 0, 255),
		"down_timer_adverts":         d.integer(&in.DownTimerAdverts, 1, 100),
		"lower_prio_no_advert":       d.flag(&in.LowerPrioNoAdvert),
		"higher_prio_send_advert":    d.flag(&in.HigherPrioSendAdvert),
		"skip_check_adv_addr":        d.flag(&in.SkipCheckAdvAddr),
		"strict_mode":                d.flag(&in.StrictMode),
		"promote_secondaries":        d.fixed(&in.PromoteSecondaries, true),
		"notify":                     d.script(&in.Notify),
		"notify_master":              d.script(&in.NotifyMaster),
		"notify_backup":              d.script(&in.NotifyBackup),
		"notify_fault":               d.script(&in.NotifyFault),
		"notify_stop":                d.script(&in.NotifyStop),
		"notify_deleted": func(c *node) {
			if len(c.args) == 0 && d.plain(c, 0, 0) {
				in.NotifyDeleted = Value[Script]{Pos: c.pos}
				return
			}
			d.script(&in.NotifyDeleted)(c)
		},
		"notify_master_rx_lower_pri": d.script(&in.NotifyMasterRxLowerPri),
		"notify_priority_changes":    d.flag(&in.NotifyPriorityChanges),
		"smtp_alert":                 d.flag(&in.SMTPAlert),
	}
	d.decodeBlock("vrrp_instance", n, t, instanceIgnored)
	d.cfg.Instances = append(d.cfg.Instances, in)
}

func (d *decoder) unicastPeer(l *node) (UnicastPeer, bool) {
	if l.block {
		d.errorf(l.pos, "unicast_peer: unexpected { } block")
		return UnicastPeer{}, false
	}
	a, ok := d.parseHostAddr("unicast_peer", token{Text: l.name, Pos: l.pos})
	if !ok {
		return UnicastPeer{}, false
	}
	p := UnicastPeer{Pos: l.pos, Addr: a}
	for i := 0; i < len(l.args); i += 2 {
		k := l.args[i]
		if k.Text != "min_ttl" && k.Text != "max_ttl" {
			d.ignoredf(k.Pos, "unicast_peer", "unicast_peer: unexpected %q (want min_ttl or max_ttl)", k.Text)
			i--
			continue
		}
		if i+1 >= len(l.args) {
			d.ignoredf(k.Pos, "unicast_peer", "unicast_peer: %s needs a value", k.Text)
			break
		}
		v, ok := d.parseInt("unicast_peer "+k.Text, l.args[i+1], 0, 255)
		if !ok {
			continue
		}
		if k.Text == "min_ttl" {
			p.MinTTL = Value[int]{V: int(v), Pos: k.Pos}
		} else {
			p.MaxTTL = Value[int]{V: int(v), Pos: k.Pos}
		}
	}
	return p, true
}

// maxAuthPass is the length of VRRP v2's authentication data: keepalived
// uses the first 8 characters of auth_pass.
const maxAuthPass = 8

func (d *decoder) authentication(dst *Value[Auth]) kwFunc {
	return func(n *node) {
		if !d.blockOnly(n, 0, 0) {
			return
		}
		var typ, pass Value[string]
		badType := false
		t := table{
			"auth_type": func(c *node) {
				if !d.plain(c, 1, 1) {
					return
				}
				// Case-sensitive in keepalived: "pass" is unknown.
				switch v := c.args[0].Text; v {
				case "PASS", "AH":
					typ = Value[string]{V: v, Pos: c.pos}
				default:
					badType = true
					d.warnf(c.args[0].Pos, "auth_type", "auth_type: unknown authentication type %q (PASS and AH are case-sensitive): no authentication, as keepalived does", v)
				}
			},
			"auth_pass": func(c *node) {
				if !d.plain(c, 1, 1) {
					return
				}
				p := c.args[0].Text
				if len(p) > maxAuthPass {
					d.warnf(c.args[0].Pos, "auth_pass", "auth_pass truncated to %d characters, as keepalived does (a keepalived peer with the same auth_pass uses the same %d)", maxAuthPass, maxAuthPass)
					p = p[:maxAuthPass]
				}
				pass = Value[string]{V: p, Pos: c.pos}
			},
		}
		d.decodeBlock("authentication", n, t, nil)
		if !typ.Set() {
			if !badType {
				d.warnf(n.pos, "authentication", "authentication: no auth_type: no authentication, as keepalived does")
			}
			return
		}
		if typ.V == "PASS" && !pass.Set() {
			d.errorf(n.pos, "authentication: auth_type PASS needs auth_pass")
			return
		}
		*dst = Value[Auth]{V: Auth{Type: typ.V, Pass: pass.V}, Pos: n.pos}
	}
}
