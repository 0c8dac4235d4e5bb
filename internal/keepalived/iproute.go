package keepalived

import "net/netip"

// This file holds the iproute grammar of keepalived's address, route and
// rule lines (virtual_ipaddress, virtual_routes, virtual_rules and their
// static_* forms): "ip addr", "ip route" and "ip rule" syntax. The block
// decoders that use it are in vrrp.go (vrrp_instance) and parse.go (the
// static_* blocks).

func (d *decoder) ipAddresses(dst *[]IPAddress) kwFunc { return lineBlock(d, dst, d.ipAddress) }

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
				d.ignoredf(o.Pos, kw, "%s: %s needs a value: the address", kw, o.Text)
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
				d.ignoredf(t.Pos, kw, "%s: invalid scope %q: the address", kw, t.Text)
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
			// keepalived logs each word it does not know and goes on.
			d.ignoredf(o.Pos, kw, "%s: unknown option %q", kw, o.Text)
		}
	}
	return a, true
}

func (d *decoder) routes(dst *[]Route) kwFunc { return lineBlock(d, dst, d.route) }

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
			d.ignoredf(toks[i].Pos, kw, "%s: src needs a value: the route", kw)
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
		d.ignoredf(toks[len(toks)-1].Pos, kw, "%s: missing destination: the route", kw)
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
	opts := ipOptions{d: d, kw: kw, toks: toks, i: i + 1}
	for ; opts.i < len(toks); opts.i++ {
		o := toks[opts.i]
		ok := true
		switch o.Text {
		case "via", "gw", "or", "src":
			if o.Text == "gw" {
				d.warnf(o.Pos, kw, "%s: \"gw\" is deprecated in keepalived 2.2.7 (it says: please use \"via\"); read as via, as keepalived does", kw)
			}
			var t token
			if t, ok = opts.value(); !ok {
				return r, false
			}
			if o.Text == "via" && (t.Text == "inet" || t.Text == "inet6") {
				if t, ok = opts.value(); !ok {
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
			ok = opts.text(&r.Dev)
		case "scope":
			ok = opts.text(&r.Scope)
		case "table":
			ok = opts.text(&r.Table)
		case "metric", "priority", "preference":
			ok = opts.number(&r.Metric)
		case "proto", "protocol":
			ok = opts.text(&r.Protocol)
		case "track_group":
			ok = opts.text(&r.TrackGroup)
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
			at := opts.i
			opts.unimplemented(&r.Extra, routeValueOptions[o.Text])
			if opts.i > at && toks[opts.i].Text == "lock" && opts.i+1 < len(toks) {
				opts.i++ // "mtu lock 1500"
				r.Extra = append(r.Extra, toks[opts.i].Text)
			}
		}
		if !ok {
			return r, false
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
	opts := ipOptions{d: d, kw: kw, toks: toks}
	for ; opts.i < len(toks); opts.i++ {
		o := toks[opts.i]
		ok := true
		switch o.Text {
		case "from", "to":
			var t token
			if t, ok = opts.value(); !ok {
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
			ok = opts.text(&r.Table)
		case "preference", "priority", "pref", "order":
			ok = opts.number(&r.Priority)
		case "fwmark":
			ok = opts.text(&r.FwMark)
		case "iif":
			ok = opts.text(&r.IIf)
		case "oif":
			ok = opts.text(&r.OIf)
		case "track_group":
			ok = opts.text(&r.TrackGroup)
		case "no_track":
			r.NoTrack = true
		case "inet6":
			r.Family = "inet6"
		default:
			if !ruleValueOptions[o.Text] && o.Text != "not" && o.Text != "l3mdev" && o.Text != "prohibit" && o.Text != "blackhole" && o.Text != "unreachable" {
				d.errorf(o.Pos, "%s: unknown option %q", kw, o.Text)
				return r, false
			}
			opts.unimplemented(&r.Extra, ruleValueOptions[o.Text])
		}
		if !ok {
			return r, false
		}
	}
	return r, true
}

// ipOptions walks the options of one route or rule line: i is the option
// being read, value moves past the word that follows it.
type ipOptions struct {
	d      *decoder
	kw     string
	toks   []token
	i      int
	warned bool // an unimplemented option was reported on this line
}

// value returns the word after the option, or records that it is
// missing.
func (o *ipOptions) value() (token, bool) {
	if o.i+1 >= len(o.toks) {
		opt := o.toks[o.i]
		o.d.ignoredf(opt.Pos, o.kw, "%s: %s needs a value: the line", o.kw, opt.Text)
		return token{}, false
	}
	o.i++
	return o.toks[o.i], true
}

// text stores the option's value in dst.
func (o *ipOptions) text(dst *string) bool {
	t, ok := o.value()
	if ok {
		*dst = t.Text
	}
	return ok
}

// number stores the option's value, a number of 32 bits, in dst with the
// option's position.
func (o *ipOptions) number(dst *Value[int]) bool {
	opt := o.toks[o.i]
	t, ok := o.value()
	if !ok {
		return false
	}
	v, ok := o.d.parseInt(o.kw+" "+opt.Text, t, 0, 1<<32-1)
	if ok {
		*dst = Value[int]{V: int(v), Pos: opt.Pos}
	}
	return ok
}

// unimplemented keeps an option lvskit parses but does not implement in
// extra, with its value when it takes one, and warns about the first of
// the line.
func (o *ipOptions) unimplemented(extra *[]string, valued bool) {
	opt := o.toks[o.i]
	if !o.warned {
		o.d.notImplementedOpt(opt.Pos, o.kw, opt.Text)
		o.warned = true
	}
	*extra = append(*extra, opt.Text)
	if valued && o.i+1 < len(o.toks) {
		o.i++
		*extra = append(*extra, o.toks[o.i].Text)
	}
}
