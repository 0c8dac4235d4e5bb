package keepalived

import "net/netip"

// This file holds the iproute grammar of keepalived's address, route and
// rule lines (virtual_ipaddress, virtual_routes, virtual_rules and their
// static_* forms): "ip addr", "ip route" and "ip rule" syntax. The block
// decoders that use it are in vrrp.go (vrrp_instance) and parse.go (the
// static_* blocks).

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
