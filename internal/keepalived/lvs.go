package keepalived

import (
	"encoding/hex"
	"math"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

func (d *decoder) virtualServerGroup(n *node) {
	if !d.blockOnly(n, 1, 1) {
		return
	}
	g := VirtualServerGroup{Name: n.args[0].Text, Pos: n.pos}
	for _, l := range n.children {
		if l.block {
			d.errorf(l.pos, "virtual_server_group: unexpected { } block")
			continue
		}
		if e, ok := d.vsgEntry(l); ok {
			g.Entries = append(g.Entries, e)
		}
	}
	d.cfg.VirtualServerGroups = append(d.cfg.VirtualServerGroups, g)
}

func (d *decoder) vsgEntry(l *node) (VSGEntry, bool) {
	e := VSGEntry{Pos: l.pos}
	if l.name == "fwmark" {
		if !d.nargs(l, 1, 2) {
			return e, false
		}
		v, ok := d.parseInt("fwmark", l.args[0], 1, math.MaxUint32)
		if !ok {
			return e, false
		}
		e.FwMark = Value[uint32]{V: uint32(v), Pos: l.pos}
		if len(l.args) == 2 {
			switch f := l.args[1].Text; f {
			case "inet", "inet6":
				e.Family = f
			default:
				d.ignoredf(l.args[1].Pos, "fwmark", "fwmark: unexpected %q (want inet or inet6)", f)
			}
		}
		return e, true
	}
	if !d.nargs(l, 0, 1) {
		return e, false
	}
	first, last, ok := d.addrRange(token{Text: l.name, Pos: l.pos})
	if !ok {
		return e, false
	}
	e.First, e.Last = first, last
	if len(l.args) == 1 {
		if e.Port, ok = d.parsePort("virtual_server_group port", l.args[0]); !ok {
			return e, false
		}
	}
	return e, true
}

// addrRange parses A, A-B (B a full address or the last part of A) or
// A/len into an inclusive range.
func (d *decoder) addrRange(t token) (netip.Addr, netip.Addr, bool) {
	s := t.Text
	if i := strings.IndexByte(s, '/'); i >= 0 {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			d.ignoredf(t.Pos, "virtual_server_group", "virtual_server_group: invalid address range %q", s)
			return netip.Addr{}, netip.Addr{}, false
		}
		p = p.Masked()
		first := p.Addr()
		b := first.AsSlice()
		host := first.BitLen() - p.Bits()
		for k := len(b) - 1; k >= 0 && host > 0; k-- {
			n := min(host, 8)
			b[k] |= byte(1<<n - 1)
			host -= n
		}
		last, _ := netip.AddrFromSlice(b)
		return first, last, true
	}
	i := strings.LastIndexByte(s, '-')
	if i < 0 {
		a, ok := d.parseAddr("virtual_server_group", t)
		return a, a, ok
	}
	first, err := netip.ParseAddr(s[:i])
	if err != nil {
		d.ignoredf(t.Pos, "virtual_server_group", "virtual_server_group: invalid address %q", s[:i])
		return netip.Addr{}, netip.Addr{}, false
	}
	end := s[i+1:]
	last, err := netip.ParseAddr(end)
	if err != nil {
		// only the last octet (IPv4, decimal) or group (IPv6, hex)
		b := first.AsSlice()
		if first.Is4() {
			v, err := strconv.ParseUint(end, 10, 8)
			if err != nil {
				d.ignoredf(t.Pos, "virtual_server_group", "virtual_server_group: invalid range end %q", end)
				return netip.Addr{}, netip.Addr{}, false
			}
			b[3] = byte(v)
		} else {
			v, err := strconv.ParseUint(end, 16, 16)
			if err != nil {
				d.ignoredf(t.Pos, "virtual_server_group", "virtual_server_group: invalid range end %q", end)
				return netip.Addr{}, netip.Addr{}, false
			}
			b[14], b[15] = byte(v>>8), byte(v)
		}
		last, _ = netip.AddrFromSlice(b)
	}
	if last.Is4() != first.Is4() || last.Less(first) {
		d.ignoredf(t.Pos, "virtual_server_group", "virtual_server_group: range %q ends before it starts", s)
		return netip.Addr{}, netip.Addr{}, false
	}
	return first, last, true
}

var schedulers = set("rr", "wrr", "lc", "wlc", "lblc", "sh", "mh", "dh", "fo", "ovf", "lblcr", "sed", "nq", "twos")

func (d *decoder) scheduler(dst *Value[string]) kwFunc {
	return func(n *node) {
		if !d.plain(n, 1, 1) {
			return
		}
		s := n.args[0].Text
		if !schedulers[s] {
			d.ignoredf(n.args[0].Pos, n.name, "%s: unknown scheduler %q (names are lower case)", n.name, s)
			return
		}
		*dst = Value[string]{V: s, Pos: n.pos}
	}
}

// forwarding: NAT|DR|TUN [type ipip|gue port N|gre] [nocsum|csum|remcsum].
func (d *decoder) forwarding(dst *Value[Forwarding]) kwFunc {
	return func(n *node) {
		if !d.plain(n, 1, 6) {
			return
		}
		// keepalived compares the method as written: "dr" is unknown.
		f := Forwarding{Method: n.args[0].Text}
		switch f.Method {
		case "NAT", "DR":
			if len(n.args) > 1 {
				d.ignoredf(n.args[1].Pos, n.name, "%s: unexpected argument %q", n.name, n.args[1].Text)
			}
		case "TUN":
			for i := 1; i < len(n.args); i++ {
				a := n.args[i]
				switch a.Text {
				case "type":
					if i+1 >= len(n.args) {
						d.ignoredf(a.Pos, n.name, "%s: type needs a value", n.name)
						return
					}
					i++
					f.TunnelType = n.args[i].Text
					switch f.TunnelType {
					case "ipip", "gre":
					case "gue":
						if i+2 >= len(n.args) || n.args[i+1].Text != "port" {
							d.ignoredf(n.args[i].Pos, n.name, "%s: type gue needs port N", n.name)
							return
						}
						p, ok := d.parseInt(n.name+" port", n.args[i+2], 1, 65535)
						if !ok {
							return
						}
						f.TunnelPort = uint16(p)
						i += 2
					default:
						d.ignoredf(n.args[i].Pos, n.name, "%s: unknown tunnel type %q (want ipip, gue or gre)", n.name, f.TunnelType)
						return
					}
				case "nocsum", "csum", "remcsum":
					f.Checksum = a.Text
				default:
					d.ignoredf(a.Pos, n.name, "%s: unexpected argument %q", n.name, a.Text)
					return
				}
			}
		default:
			d.warnf(n.args[0].Pos, n.name, "%s: unknown forwarding method %q (NAT, DR and TUN are case-sensitive): ignored, as keepalived does (the inherited method or NAT applies)", n.name, n.args[0].Text)
			return
		}
		*dst = Value[Forwarding]{V: f, Pos: n.pos}
	}
}

var virtualServerIgnored = set("persistence_engine", "snmp_name", "hashed")

func (d *decoder) virtualServer(n *node) {
	if !d.blockOnly(n, 1, 2) {
		return
	}
	vs := VirtualServer{Pos: n.pos}
	switch n.args[0].Text {
	case "fwmark":
		if len(n.args) != 2 {
			d.errorf(n.pos, "virtual_server: fwmark needs a number")
			return
		}
		v, ok := d.parseInt("virtual_server fwmark", n.args[1], 1, math.MaxUint32)
		if !ok {
			return
		}
		vs.FwMark = Value[uint32]{V: uint32(v), Pos: n.args[0].Pos}
	case "group":
		if len(n.args) != 2 {
			d.errorf(n.pos, "virtual_server: group needs a name")
			return
		}
		vs.Group = n.args[1].Text
	default:
		a, ok := d.parseAddr("virtual_server", n.args[0])
		if !ok {
			return
		}
		vs.Addr = a
		if len(n.args) == 2 {
			if vs.Port, ok = d.parsePort("virtual_server port", n.args[1]); !ok {
				return
			}
		}
	}
	t := table{
		"delay_loop":  d.duration(&vs.DelayLoop),
		"lb_algo":     d.scheduler(&vs.Scheduler),
		"lvs_sched":   d.scheduler(&vs.Scheduler),
		"flag-1":      d.fixed(&vs.Flag1, true),
		"flag-2":      d.fixed(&vs.Flag2, true),
		"flag-3":      d.fixed(&vs.Flag3, true),
		"sh-port":     d.fixed(&vs.SHPort, true),
		"sh-fallback": d.fixed(&vs.SHFallback, true),
		"mh-port":     d.fixed(&vs.MHPort, true),
		"mh-fallback": d.fixed(&vs.MHFallback, true),
		"ops":         d.fixed(&vs.OPS, true),
		"lb_kind":     d.forwarding(&vs.Forwarding),
		"lvs_method":  d.forwarding(&vs.Forwarding),
		"persistence_timeout": func(c *node) {
			if !d.plain(c, 0, 1) {
				return
			}
			v := int64(360)
			if len(c.args) == 1 {
				var ok bool
				if v, ok = d.parseInt(c.name, c.args[0], 1, math.MaxUint32); !ok {
					return
				}
			}
			vs.PersistenceTimeout = Value[time.Duration]{V: time.Duration(v) * time.Second, Pos: c.pos}
		},
		"persistence_granularity": func(c *node) {
			if !d.plain(c, 1, 1) {
				return
			}
			s := c.args[0].Text
			if a, err := netip.ParseAddr(s); err == nil && a.Is4() {
				bits, ok := maskBits(a)
				if !ok {
					d.ignoredf(c.args[0].Pos, c.name, "%s: %q is not a contiguous netmask", c.name, s)
					return
				}
				vs.PersistenceGranularity = Value[int]{V: bits, Pos: c.pos}
				return
			}
			v, ok := d.parseInt(c.name, c.args[0], 1, 128)
			if ok {
				vs.PersistenceGranularity = Value[int]{V: int(v), Pos: c.pos}
			}
		},
		"protocol": func(c *node) {
			if !d.plain(c, 1, 1) {
				return
			}
			switch p := strings.ToUpper(c.args[0].Text); p {
			case "TCP", "UDP", "SCTP":
				vs.Protocol = Value[string]{V: p, Pos: c.pos}
			default:
				d.ignoredf(c.args[0].Pos, "protocol", "protocol: unknown protocol %q (want TCP, UDP or SCTP)", c.args[0].Text)
			}
		},
		"ha_suspend":  d.fixed(&vs.HASuspend, true),
		"smtp_alert":  d.flag(&vs.SMTPAlert),
		"virtualhost": d.str(&vs.Virtualhost),
		"alpha":       d.flag(&vs.Alpha),
		"omega":       d.flag(&vs.Omega),
		"quorum":      d.integer(&vs.Quorum, 1, math.MaxInt32),
		"hysteresis":  d.integer(&vs.Hysteresis, 0, math.MaxInt32),
		"quorum_up":   d.script(&vs.QuorumUp),
		"quorum_down": d.script(&vs.QuorumDown),
		"ip_family": func(c *node) {
			if !d.plain(c, 1, 1) {
				return
			}
			if f := c.args[0].Text; f == "inet" || f == "inet6" {
				vs.IPFamily = Value[string]{V: f, Pos: c.pos}
				return
			}
			d.ignoredf(c.args[0].Pos, "ip_family", "ip_family: unknown family %q (want inet or inet6)", c.args[0].Text)
		},
		"sorry_server": func(c *node) {
			if !d.plain(c, 1, 2) {
				return
			}
			a, ok := d.parseAddr(c.name, c.args[0])
			if !ok {
				return
			}
			hp := HostPort{Addr: a}
			if len(c.args) == 2 {
				if hp.Port, ok = d.parsePort(c.name+" port", c.args[1]); !ok {
					return
				}
			}
			vs.SorryServer = Value[HostPort]{V: hp, Pos: c.pos}
		},
		"sorry_server_inhibit":    d.flag(&vs.SorryServerInhibit),
		"sorry_server_lvs_method": d.forwarding(&vs.SorryServerForwarding),
		"connect_timeout":         d.duration(&vs.ConnectTimeout),
		"retry":                   d.integer(&vs.Retry, 0, math.MaxInt32),
		"delay_before_retry":      d.duration(&vs.DelayBeforeRetry),
		"warmup":                  d.duration(&vs.Warmup),
		"inhibit_on_failure":      d.flag(&vs.InhibitOnFailure),
		"weight":                  d.integer(&vs.Weight, 0, math.MaxInt32),
		"real_server": func(c *node) {
			if rs, ok := d.realServer(c); ok {
				vs.RealServers = append(vs.RealServers, rs)
			}
		},
	}
	d.decodeBlock("virtual_server", n, t, virtualServerIgnored)
	d.cfg.VirtualServers = append(d.cfg.VirtualServers, vs)
}

func maskBits(a netip.Addr) (int, bool) {
	b := a.As4()
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	bits := 0
	for v&(1<<31) != 0 {
		bits++
		v <<= 1
	}
	return bits, v == 0
}

func (d *decoder) realServer(n *node) (RealServer, bool) {
	if !d.blockOnly(n, 1, 2) {
		return RealServer{}, false
	}
	a, ok := d.parseAddr("real_server", n.args[0])
	if !ok {
		return RealServer{}, false
	}
	rs := RealServer{Pos: n.pos, Addr: a}
	if len(n.args) == 2 {
		if rs.Port, ok = d.parsePort("real_server port", n.args[1]); !ok {
			return RealServer{}, false
		}
	}
	t := table{
		"weight":             d.integer(&rs.Weight, 0, math.MaxInt32),
		"lb_kind":            d.forwarding(&rs.Forwarding),
		"lvs_method":         d.forwarding(&rs.Forwarding),
		"notify_up":          d.script(&rs.NotifyUp),
		"notify_down":        d.script(&rs.NotifyDown),
		"uthreshold":         d.integer(&rs.UThreshold, 0, math.MaxInt32),
		"lthreshold":         d.integer(&rs.LThreshold, 0, math.MaxInt32),
		"smtp_alert":         d.flag(&rs.SMTPAlert),
		"virtualhost":        d.str(&rs.Virtualhost),
		"alpha":              d.flag(&rs.Alpha),
		"connect_timeout":    d.duration(&rs.ConnectTimeout),
		"retry":              d.integer(&rs.Retry, 0, math.MaxInt32),
		"delay_before_retry": d.duration(&rs.DelayBeforeRetry),
		"warmup":             d.duration(&rs.Warmup),
		"delay_loop":         d.duration(&rs.DelayLoop),
		"inhibit_on_failure": d.flag(&rs.InhibitOnFailure),
	}
	for _, typ := range []CheckerType{HTTPGet, SSLGet, TCPCheck, UDPCheck, DNSCheck, SMTPCheck, PingCheck, MiscCheck, FileCheck} {
		t[string(typ)] = func(c *node) {
			if ck, ok := d.checker(typ, c); ok {
				rs.Checkers = append(rs.Checkers, ck)
			}
		}
	}
	d.decodeBlock("real_server", n, t, set("snmp_name", "BFD_CHECK"))
	return rs, true
}

// commonChecker adds the options every checker (but FILE_CHECK) has; with
// conn, also the connection options, connect_timeout among them (not
// MISC_CHECK, which has misc_timeout instead).
func (d *decoder) commonChecker(t table, ck *Checker, conn bool) {
	t["alpha"] = d.flag(&ck.Alpha)
	t["retry"] = d.integer(&ck.Retry, 0, math.MaxInt32)
	t["delay_before_retry"] = d.duration(&ck.DelayBeforeRetry)
	t["warmup"] = d.duration(&ck.Warmup)
	t["delay_loop"] = d.duration(&ck.DelayLoop)
	t["log_all_failures"] = d.flag(&ck.LogAllFailures)
	if conn {
		d.connOptions(t, &ck.ConnOptions)
	}
}

func (d *decoder) connOptions(t table, c *ConnOptions) {
	t["connect_ip"] = d.addr(&c.ConnectIP)
	t["connect_port"] = d.port(&c.ConnectPort)
	t["bindto"] = d.addr(&c.BindTo)
	t["bind_if"] = d.str(&c.BindIf)
	t["bind_port"] = d.port(&c.BindPort)
	t["fwmark"] = d.uint32v(&c.FwMark)
	t["connect_timeout"] = d.duration(&c.ConnectTimeout)
}

func (d *decoder) checker(typ CheckerType, n *node) (Checker, bool) {
	if !d.blockOnly(n, 0, 0) {
		return Checker{}, false
	}
	ck := Checker{Pos: n.pos, Type: typ}
	t := table{}
	var ignored map[string]bool
	switch typ {
	case HTTPGet, SSLGet:
		d.commonChecker(t, &ck, true)
		// keepalived 2.2.7 knows nb_get_retry (deprecated) only here.
		retry := d.integer(&ck.Retry, 0, math.MaxInt32)
		t["nb_get_retry"] = func(c *node) {
			d.warnf(c.pos, c.name, "nb_get_retry is deprecated in keepalived 2.2.7 (it says: please use 'retry'); read as retry, as keepalived does")
			retry(c)
		}
		h := &HTTPChecker{}
		ck.HTTP = h
		t["http_protocol"] = func(c *node) {
			if !d.plain(c, 1, 1) {
				return
			}
			switch v := c.args[0].Text; v {
			case "1.0", "1.0C", "1.0c", "1.1":
				h.HTTPProtocol = Value[string]{V: strings.ToUpper(v), Pos: c.pos}
			default:
				d.ignoredf(c.args[0].Pos, "http_protocol", "http_protocol: unknown version %q (want 1.0, 1.0C or 1.1)", v)
			}
		}
		t["fast_recovery"] = d.flag(&h.FastRecovery)
		t["enable_sni"] = d.flag(&h.EnableSNI)
		t["virtualhost"] = d.str(&h.Virtualhost)
		t["url"] = func(c *node) {
			if u, ok := d.url(c); ok {
				h.URLs = append(h.URLs, u)
			}
		}
	case TCPCheck, PingCheck:
		d.commonChecker(t, &ck, true)
	case UDPCheck:
		d.commonChecker(t, &ck, true)
		u := &UDPChecker{}
		ck.UDP = u
		t["payload"] = func(c *node) {
			if !d.plain(c, 1, -1) {
				return
			}
			p, ok := d.hexString(c, false)
			if ok {
				u.Payload = Value[[]byte]{V: p.Data, Pos: c.pos}
			}
		}
		t["require_reply"] = func(c *node) {
			if !d.plain(c, 0, -1) {
				return
			}
			var p HexPattern
			if len(c.args) > 0 {
				var ok bool
				if p, ok = d.hexString(c, true); !ok {
					return
				}
			}
			u.RequireReply = Value[HexPattern]{V: p, Pos: c.pos}
		}
		t["min_reply_length"] = d.integer(&u.MinReplyLength, 0, 65535)
		t["max_reply_length"] = d.integer(&u.MaxReplyLength, 0, 65535)
	case DNSCheck:
		d.commonChecker(t, &ck, true)
		dc := &DNSChecker{}
		ck.DNS = dc
		t["type"] = func(c *node) {
			if !d.plain(c, 1, 1) {
				return
			}
			switch v := strings.ToUpper(c.args[0].Text); v {
			case "A", "NS", "CNAME", "SOA", "MX", "TXT", "AAAA":
				dc.Type = Value[string]{V: v, Pos: c.pos}
			default:
				d.ignoredf(c.args[0].Pos, "type", "type: unknown DNS query type %q", c.args[0].Text)
			}
		}
		t["name"] = d.str(&dc.Name)
	case SMTPCheck:
		d.commonChecker(t, &ck, true)
		s := &SMTPChecker{}
		ck.SMTP = s
		t["helo_name"] = d.str(&s.HeloName)
		t["host"] = func(c *node) {
			if !d.blockOnly(c, 0, 0) {
				return
			}
			h := SMTPHost{Pos: c.pos}
			ht := table{}
			d.connOptions(ht, &h.ConnOptions)
			d.decodeBlock("SMTP_CHECK host", c, ht, nil)
			s.Hosts = append(s.Hosts, h)
		}
	case MiscCheck:
		d.commonChecker(t, &ck, false)
		m := &MiscChecker{}
		ck.Misc = m
		t["misc_path"] = d.script(&m.Path)
		t["misc_timeout"] = d.duration(&m.Timeout)
		t["misc_dynamic"] = d.fixed(&m.Dynamic, true)
		t["user"] = d.user(&m.User)
	case FileCheck:
		f := &FileChecker{}
		ck.File = f
		t["track_file"] = d.str(&f.TrackFile)
		t["file"] = d.str(&f.TrackFile)
		t["dynamic"] = d.fixed(&f.Dynamic, true)
		t["weight"] = d.weight(&f.Weight, &f.Reverse, -2147483647, 2147483647)
	}
	d.decodeBlock(string(typ), n, t, ignored)
	switch {
	case typ == MiscCheck && !ck.Misc.Path.Set():
		d.warnf(n.pos, string(typ), "MISC_CHECK: no misc_path: this checker is removed, as keepalived does")
		return ck, false
	case (typ == HTTPGet || typ == SSLGet) && len(ck.HTTP.URLs) == 0:
		d.warnf(n.pos, string(typ), "%s: no url with a path: this checker is removed, as keepalived does", typ)
		return ck, false
	case typ == FileCheck && !ck.File.TrackFile.Set():
		// keepalived 2.2.7 crashes (SIGSEGV) on this one.
		d.errorf(n.pos, "FILE_CHECK: missing track_file (keepalived 2.2.7 crashes on this)")
	}
	return ck, true
}

var urlIgnored = set("regex", "regex_no_match", "regex_options", "regex_stack", "regex_min_offset", "regex_max_offset")

func (d *decoder) url(n *node) (URL, bool) {
	if !d.blockOnly(n, 0, 0) {
		return URL{}, false
	}
	u := URL{Pos: n.pos}
	t := table{
		"path": d.str(&u.Path),
		"digest": func(c *node) {
			if !d.plain(c, 1, 1) {
				return
			}
			s := strings.ToLower(c.args[0].Text)
			if b, err := hex.DecodeString(s); err != nil || len(b) != 16 {
				d.ignoredf(c.args[0].Pos, "digest", "digest: %q is not an MD5 digest (32 hex digits)", c.args[0].Text)
				return
			}
			u.Digest = Value[string]{V: s, Pos: c.pos}
		},
		"status_code": func(c *node) {
			if !d.plain(c, 1, -1) {
				return
			}
			var rs []StatusRange
			for _, a := range c.args {
				lo, hi, found := strings.Cut(a.Text, "-")
				if !found {
					hi = lo
				}
				l, err1 := strconv.Atoi(lo)
				h, err2 := strconv.Atoi(hi)
				if err1 != nil || err2 != nil || l < 100 || h > 599 || l > h {
					d.ignoredf(a.Pos, "status_code", "status_code: invalid status code or range %q", a.Text)
					return
				}
				rs = append(rs, StatusRange{Min: l, Max: h})
			}
			u.StatusCodes = Value[[]StatusRange]{V: rs, Pos: c.pos}
		},
		"virtualhost": d.str(&u.Virtualhost),
	}
	d.decodeBlock("url", n, t, urlIgnored)
	if !u.Path.Set() {
		d.warnf(n.pos, "url", "url: no path: this url is ignored, as keepalived does")
		return u, false
	}
	return u, true
}

// hexString reads UDP_CHECK's free-format hex: blank-separated groups, an
// odd group gets a leading 0 nibble ("Ab12f 3" = AB 12 0F 03). With
// wildcards, X/x nibbles are masked out.
func (d *decoder) hexString(n *node, wildcards bool) (HexPattern, bool) {
	var p HexPattern
	for _, a := range n.args {
		s := a.Text
		if len(s)%2 == 1 {
			s = s[:len(s)-1] + "0" + s[len(s)-1:]
		}
		for i := 0; i < len(s); i += 2 {
			var b, m byte
			for k := 0; k < 2; k++ {
				c := s[i+k]
				b <<= 4
				m <<= 4
				switch {
				case c >= '0' && c <= '9':
					b |= c - '0'
					m |= 0xf
				case c >= 'a' && c <= 'f':
					b |= c - 'a' + 10
					m |= 0xf
				case c >= 'A' && c <= 'F':
					b |= c - 'A' + 10
					m |= 0xf
				case wildcards && (c == 'x' || c == 'X'):
				default:
					d.ignoredf(a.Pos, n.name, "%s: invalid hex string %q", n.name, a.Text)
					return p, false
				}
			}
			p.Data = append(p.Data, b)
			p.Mask = append(p.Mask, m)
		}
	}
	return p, true
}
