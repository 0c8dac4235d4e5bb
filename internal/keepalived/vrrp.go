package keepalived

import (
	"net/netip"
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
		d.errorf(n.pos, "vrrp_script %q: missing script", s.Name)
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
				d.errorf(n.args[1].Pos, "%s: unexpected %q (want reverse)", n.name, n.args[1].Text)
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
		d.errorf(n.pos, "%s %q: missing file", n.name, f.Name)
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
	d.decodeBlock("vrrp_sync_group", n, t, set("track_process", "track_bfd"))
	if len(g.Group) == 0 {
		d.errorf(n.pos, "vrrp_sync_group %q: no group { } of instances", g.Name)
	}
	d.cfg.SyncGroups = append(d.cfg.SyncGroups, g)
}

var instanceIgnored = set(
	"vrf", "use_vmac_addr", "use_ipvlan", "track_process", "track_bfd",
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
			switch s := State(strings.ToUpper(c.args[0].Text)); s {
			case StateMaster, StateBackup:
				in.State = Value[State]{V: s, Pos: c.pos}
			default:
				d.errorf(c.args[0].Pos, "state: invalid state %q (want MASTER or BACKUP)", c.args[0].Text)
			}
		},
		"interface":          d.str(&in.Interface),
		"dont_track_primary": d.fixed(&in.DontTrackPrimary, true),
		"track_interface":    d.trackRefs(&in.TrackInterfaces, -253, 253),
		"track_script":       d.trackRefs(&in.TrackScripts, -253, 253),
		"track_file":         d.trackRefs(&in.TrackFiles, -254, 254),
		"mcast_src_ip":       d.addr(&in.McastSrcIP),
		"mcast_dst_ip":       d.addr(&in.McastDstIP),
		"unicast_src_ip":     d.addr(&in.UnicastSrcIP),
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
		"unicast_ttl":                d.integer(&in.UnicastTTL, 0, 255),
		"unicast_fault_no_peer":      d.fixed(&in.UnicastFaultNoPeer, true),
		"check_unicast_src":          d.fixed(&in.CheckUnicastSrc, true),
		"track_src_ip":               d.fixed(&in.TrackSrcIP, true),
		"lvs_sync_daemon_interface":  d.str(&in.LVSSyncDaemonInterface),
		"virtual_router_id":          d.integer(&in.VirtualRouterID, 1, 255),
		"priority":                   d.integer(&in.Priority, 1, 255),
		"advert_int":                 d.duration(&in.AdvertInt),
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
	a, ok := d.parseAddr("unicast_peer", token{Text: l.name, Pos: l.pos})
	if !ok {
		return UnicastPeer{}, false
	}
	p := UnicastPeer{Pos: l.pos, Addr: a}
	for i := 0; i < len(l.args); i += 2 {
		k := l.args[i]
		if k.Text != "min_ttl" && k.Text != "max_ttl" {
			d.errorf(k.Pos, "unicast_peer: unexpected %q (want min_ttl or max_ttl)", k.Text)
			return UnicastPeer{}, false
		}
		if i+1 >= len(l.args) {
			d.errorf(k.Pos, "unicast_peer: %s needs a value", k.Text)
			return UnicastPeer{}, false
		}
		v, ok := d.parseInt("unicast_peer "+k.Text, l.args[i+1], 0, 255)
		if !ok {
			return UnicastPeer{}, false
		}
		if k.Text == "min_ttl" {
			p.MinTTL = Value[int]{V: int(v), Pos: k.Pos}
		} else {
			p.MaxTTL = Value[int]{V: int(v), Pos: k.Pos}
		}
	}
	return p, true
}

func (d *decoder) authentication(dst *Value[Auth]) kwFunc {
	return func(n *node) {
		if !d.blockOnly(n, 0, 0) {
			return
		}
		var typ, pass Value[string]
		t := table{
			"auth_type": func(c *node) {
				if !d.plain(c, 1, 1) {
					return
				}
				switch v := strings.ToUpper(c.args[0].Text); v {
				case "PASS", "AH":
					typ = Value[string]{V: v, Pos: c.pos}
				default:
					d.errorf(c.args[0].Pos, "auth_type: invalid type %q (want PASS or AH)", c.args[0].Text)
				}
			},
			"auth_pass": d.str(&pass),
		}
		d.decodeBlock("authentication", n, t, nil)
		if !typ.Set() {
			d.errorf(n.pos, "authentication: missing auth_type")
			return
		}
		if typ.V == "PASS" && !pass.Set() {
			d.errorf(n.pos, "authentication: auth_type PASS needs auth_pass")
			return
		}
		*dst = Value[Auth]{V: Auth{Type: typ.V, Pass: pass.V}, Pos: n.pos}
	}
}

// lineTokens returns a list-block line as tokens: its first word and
// arguments.
func lineTokens(l *node) []token {
	return append([]token{{Text: l.name, Pos: l.pos, Quoted: l.quoted}}, l.args...)
}

func (d *decoder) ipAddresses(dst *[]IPAddress) kwFunc {
	return func(n *node) {
		if !d.blockOnly(n, 0, 0) {
			return
		}
		for _, l := range n.children {
			if l.block {
				d.errorf(l.pos, "%s: unexpected { } block", n.name)
				continue
			}
			if a, ok := d.ipAddress(n.name, lineTokens(l)); ok {
				*dst = append(*dst, a)
			}
		}
	}
}

func (d *decoder) ipAddress(kw string, toks []token) (IPAddress, bool) {
	p, ok := d.parsePrefix(kw, toks[0])
	if !ok {
		return IPAddress{}, false
	}
	a := IPAddress{Pos: toks[0].Pos, Prefix: p}
	for i := 1; i < len(toks); i++ {
		o := toks[i]
		val := func() (token, bool) {
			if i+1 >= len(toks) {
				d.errorf(o.Pos, "%s: %s needs a value", kw, o.Text)
				return token{}, false
			}
			i++
			return toks[i], true
		}
		switch o.Text {
		case "brd", "broadcast":
			t, ok := val()
			if !ok {
				return a, false
			}
			if t.Text != "+" && t.Text != "-" {
				if _, ok := d.parseAddr(kw+" brd", t); !ok {
					return a, false
				}
			}
			a.Broadcast = t.Text
		case "dev":
			t, ok := val()
			if !ok {
				return a, false
			}
			a.Dev = t.Text
		case "scope":
			t, ok := val()
			if !ok {
				return a, false
			}
			switch t.Text {
			case "site", "link", "host", "nowhere", "global":
				a.Scope = t.Text
			default:
				d.errorf(t.Pos, "%s: invalid scope %q", kw, t.Text)
				return a, false
			}
		case "label":
			t, ok := val()
			if !ok {
				return a, false
			}
			a.Label = t.Text
		case "peer":
			t, ok := val()
			if !ok {
				return a, false
			}
			pp, ok := d.parsePrefix(kw+" peer", t)
			if !ok {
				return a, false
			}
			a.Peer = pp
		case "preferred_lft":
			t, ok := val()
			if !ok {
				return a, false
			}
			if t.Text != "forever" {
				if _, ok := d.parseInt(kw+" preferred_lft", t, 0, 1<<32-1); !ok {
					return a, false
				}
			}
			a.PreferredLft = t.Text
		case "track_group":
			t, ok := val()
			if !ok {
				return a, false
			}
			a.TrackGroup = t.Text
		case "home":
			a.Home = true
		case "-nodad", "nodad":
			a.NoDAD = true
		case "mngtmpaddr":
			a.MngTmpAddr = true
		case "noprefixroute":
			a.NoPrefixRoute = true
		case "autojoin":
			a.AutoJoin = true
		case "no_track":
			a.NoTrack = true
		case "use_vmac":
			a.UseVMAC = true
		default:
			d.errorf(o.Pos, "%s: unknown option %q", kw, o.Text)
			return a, false
		}
	}
	return a, true
}

func (d *decoder) routes(dst *[]Route) kwFunc { return lineBlock(d, dst, d.route) }

// lineBlock decodes a block of one-line entries (virtual_routes,
// virtual_rules, ...) with parse, appending each good one to dst.
func lineBlock[T any](d *decoder, dst *[]T, parse func(kw string, toks []token) (T, bool)) kwFunc {
	return func(n *node) {
		if !d.blockOnly(n, 0, 0) {
			return
		}
		for _, l := range n.children {
			if l.block {
				d.errorf(l.pos, "%s: unexpected { } block", n.name)
				continue
			}
			if v, ok := parse(n.name, lineTokens(l)); ok {
				*dst = append(*dst, v)
			}
		}
	}
}

// routeValueOptions are ip route options that take a value and that lvskit
// keeps only in Route.Extra.
var routeValueOptions = set("mtu", "advmss", "rtt", "rttvar", "reordering", "window",
	"cwnd", "ssthresh", "realms", "rto_min", "initcwnd", "initrwnd", "features",
	"quickack", "congctl", "pref", "fastopen_no_cookie", "hoplimit", "tos", "vrf",
	"expires", "nexthop", "weight", "encap", "ttl-propagate")

func (d *decoder) route(kw string, toks []token) (Route, bool) {
	r := Route{Pos: toks[0].Pos}
	i := 0
	switch toks[0].Text {
	case "blackhole", "unreachable", "prohibit", "throw", "unicast", "local", "broadcast", "anycast", "multicast", "nat":
		r.Type = toks[0].Text
		i++
	}
	if i < len(toks) && toks[i].Text == "src" {
		if i+1 >= len(toks) {
			d.errorf(toks[i].Pos, "%s: src needs a value", kw)
			return r, false
		}
		a, ok := d.parseAddr(kw+" src", toks[i+1])
		if !ok {
			return r, false
		}
		r.Src = a
		i += 2
	}
	if i < len(toks) && toks[i].Text == "to" {
		i++
	}
	if i >= len(toks) {
		d.errorf(toks[len(toks)-1].Pos, "%s: missing destination", kw)
		return r, false
	}
	if toks[i].Text == "default" {
		r.Dst = netip.MustParsePrefix("0.0.0.0/0")
	} else {
		p, ok := d.parsePrefix(kw, toks[i])
		if !ok {
			return r, false
		}
		r.Dst = p
	}
	i++
	warned := false
	for ; i < len(toks); i++ {
		o := toks[i]
		val := func() (token, bool) {
			if i+1 >= len(toks) {
				d.errorf(o.Pos, "%s: %s needs a value", kw, o.Text)
				return token{}, false
			}
			i++
			return toks[i], true
		}
		var ok bool
		var t token
		switch o.Text {
		case "via", "gw", "or", "src":
			if t, ok = val(); !ok {
				return r, false
			}
			if o.Text == "via" && (t.Text == "inet" || t.Text == "inet6") {
				if t, ok = val(); !ok {
					return r, false
				}
			}
			a, ok := d.parseAddr(kw+" "+o.Text, t)
			if !ok {
				return r, false
			}
			switch o.Text {
			case "or":
				r.Or = a
			case "src":
				r.Src = a
			default:
				r.Via = a
			}
		case "dev", "oif":
			if t, ok = val(); !ok {
				return r, false
			}
			r.Dev = t.Text
		case "scope":
			if t, ok = val(); !ok {
				return r, false
			}
			r.Scope = t.Text
		case "table":
			if t, ok = val(); !ok {
				return r, false
			}
			r.Table = t.Text
		case "metric", "priority", "preference":
			if t, ok = val(); !ok {
				return r, false
			}
			v, ok := d.parseInt(kw+" "+o.Text, t, 0, 1<<32-1)
			if !ok {
				return r, false
			}
			r.Metric = Value[int]{V: int(v), Pos: o.Pos}
		case "proto", "protocol":
			if t, ok = val(); !ok {
				return r, false
			}
			r.Protocol = t.Text
		case "track_group":
			if t, ok = val(); !ok {
				return r, false
			}
			r.TrackGroup = t.Text
		case "onlink":
			r.OnLink = true
		case "no_track":
			r.NoTrack = true
		case "inet6", "inet":
			// the family follows from the addresses
		default:
			if !routeValueOptions[o.Text] && !isRouteFlag(o.Text) {
				d.errorf(o.Pos, "%s: unknown option %q", kw, o.Text)
				return r, false
			}
			if !warned {
				d.notImplementedOpt(o.Pos, kw, o.Text)
				warned = true
			}
			r.Extra = append(r.Extra, o.Text)
			if routeValueOptions[o.Text] && i+1 < len(toks) {
				i++
				r.Extra = append(r.Extra, toks[i].Text)
				if toks[i].Text == "lock" && i+1 < len(toks) {
					i++
					r.Extra = append(r.Extra, toks[i].Text)
				}
			}
		}
	}
	return r, true
}

func isRouteFlag(s string) bool {
	switch s {
	case "append", "ecn", "add", "lock", "pervasive":
		return true
	}
	return false
}

func (d *diags) notImplementedOpt(p Pos, kw, opt string) {
	d.warnf(p, kw, "%s: option %q is not implemented by lvskit and is ignored", kw, opt)
}

func (d *decoder) rules(dst *[]Rule) kwFunc { return lineBlock(d, dst, d.rule) }

var ruleValueOptions = set("tos", "dsfield", "realms", "goto", "uidrange", "ipproto",
	"ip_proto", "sport", "dport", "suppress_prefixlength", "suppress_ifgroup", "nat",
	"protocol", "tun_id")

func (d *decoder) rule(kw string, toks []token) (Rule, bool) {
	r := Rule{Pos: toks[0].Pos}
	warned := false
	for i := 0; i < len(toks); i++ {
		o := toks[i]
		val := func() (token, bool) {
			if i+1 >= len(toks) {
				d.errorf(o.Pos, "%s: %s needs a value", kw, o.Text)
				return token{}, false
			}
			i++
			return toks[i], true
		}
		var t token
		var ok bool
		switch o.Text {
		case "from", "to":
			if t, ok = val(); !ok {
				return r, false
			}
			var p netip.Prefix
			if t.Text != "all" {
				if p, ok = d.parsePrefix(kw+" "+o.Text, t); !ok {
					return r, false
				}
			}
			if o.Text == "from" {
				r.From = p
			} else {
				r.To = p
			}
		case "table", "lookup":
			if t, ok = val(); !ok {
				return r, false
			}
			r.Table = t.Text
		case "preference", "priority", "pref", "order":
			if t, ok = val(); !ok {
				return r, false
			}
			v, ok := d.parseInt(kw+" "+o.Text, t, 0, 1<<32-1)
			if !ok {
				return r, false
			}
			r.Priority = Value[int]{V: int(v), Pos: o.Pos}
		case "fwmark":
			if t, ok = val(); !ok {
				return r, false
			}
			r.FwMark = t.Text
		case "iif":
			if t, ok = val(); !ok {
				return r, false
			}
			r.IIf = t.Text
		case "oif":
			if t, ok = val(); !ok {
				return r, false
			}
			r.OIf = t.Text
		case "track_group":
			if t, ok = val(); !ok {
				return r, false
			}
			r.TrackGroup = t.Text
		case "no_track":
			r.NoTrack = true
		case "inet6":
			r.Family = "inet6"
		default:
			if !ruleValueOptions[o.Text] && o.Text != "not" && o.Text != "l3mdev" && o.Text != "prohibit" && o.Text != "blackhole" && o.Text != "unreachable" {
				d.errorf(o.Pos, "%s: unknown option %q", kw, o.Text)
				return r, false
			}
			if !warned {
				d.notImplementedOpt(o.Pos, kw, o.Text)
				warned = true
			}
			r.Extra = append(r.Extra, o.Text)
			if ruleValueOptions[o.Text] && i+1 < len(toks) {
				i++
				r.Extra = append(r.Extra, toks[i].Text)
			}
		}
	}
	return r, true
}
