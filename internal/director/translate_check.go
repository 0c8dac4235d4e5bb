package director

import (
	"net/netip"

	"github.com/lvskit/lvskit/healthcheck"
	"github.com/lvskit/lvskit/internal/keepalived"
)

// checker translates one checker block of a real server (HTTP_GET,
// SSL_GET, TCP_CHECK, UDP_CHECK, DNS_CHECK, SMTP_CHECK, PING_CHECK,
// MISC_CHECK, FILE_CHECK) into healthcheck checks, with the policy each
// inherits from the real and virtual server. An SMTP_CHECK with host
// blocks gives one check per host.
func (t *translator) checker(vs *keepalived.VirtualServer, rs *keepalived.RealServer, ck *keepalived.Checker, port uint16) []healthcheck.Check {
	pol := healthcheck.Policy{
		DelayLoop:      firstSet(ck.DelayLoop, rs.DelayLoop, vs.DelayLoop).Or(healthcheck.DefaultDelayLoop),
		ConnectTimeout: firstSet(ck.ConnectTimeout, rs.ConnectTimeout, vs.ConnectTimeout).Or(healthcheck.DefaultConnectTimeout),
		Alpha:          firstSet(ck.Alpha, rs.Alpha, vs.Alpha).V,
	}
	if r := firstSet(ck.Retry, rs.Retry, vs.Retry); r.Set() {
		pol.Retry = r.V
		if r.V == 0 {
			pol.Retry = healthcheck.NoRetry
		}
	}
	pol.DelayBeforeRetry = firstSet(ck.DelayBeforeRetry, rs.DelayBeforeRetry, vs.DelayBeforeRetry).V
	if w := firstSet(ck.Warmup, rs.Warmup, vs.Warmup); w.Set() {
		pol.Warmup = w.V
		if w.V == 0 {
			pol.Warmup = -1
		}
	}
	t.unimplemented(posOf(ck.LogAllFailures), "log_all_failures", "")

	conn := func(o keepalived.ConnOptions) healthcheck.Conn {
		addr := o.ConnectIP.Or(rs.Addr)
		p := o.ConnectPort.Or(port)
		c := healthcheck.Conn{
			Addr:          netip.AddrPortFrom(addr, p),
			BindAddr:      o.BindTo.V,
			BindPort:      o.BindPort.V,
			BindInterface: o.BindIf.V,
			FWMark:        o.FwMark.V,
		}
		return c
	}
	base := conn(ck.ConnOptions)
	one := func(c healthcheck.Checker) []healthcheck.Check {
		return []healthcheck.Check{{Policy: pol, Checker: c}}
	}
	vhost := firstSet(rs.Virtualhost, vs.Virtualhost).V
	switch ck.Type {
	case keepalived.HTTPGet, keepalived.SSLGet:
		h := &healthcheck.HTTPChecker{Conn: base, VirtualHost: vhost}
		if ck.HTTP != nil {
			switch ck.HTTP.HTTPProtocol.V {
			case "1.0C":
				h.Protocol = healthcheck.HTTP10Close
			case "1.1":
				h.Protocol = healthcheck.HTTP11
			}
			t.unimplemented(posOf(ck.HTTP.FastRecovery), "fast_recovery", "")
			for _, u := range ck.HTTP.URLs {
				hu := healthcheck.URL{Path: u.Path.Or("/"), Digest: u.Digest.V, VirtualHost: u.Virtualhost.V}
				for _, r := range u.StatusCodes.V {
					hu.StatusCodes = append(hu.StatusCodes, healthcheck.StatusRange{Min: r.Min, Max: r.Max})
				}
				h.URLs = append(h.URLs, hu)
			}
			if ck.Type == keepalived.SSLGet {
				h.TLS = &healthcheck.TLSOptions{}
				if ck.HTTP.EnableSNI.V {
					h.TLS.ServerName = vhost
				}
			}
		}
		if ck.Type == keepalived.SSLGet && h.TLS == nil {
			h.TLS = &healthcheck.TLSOptions{}
		}
		if len(h.URLs) == 0 {
			t.errorf(ck.Pos, "%s: no url block", ck.Type)
			return nil
		}
		return one(h)
	case keepalived.TCPCheck:
		return one(&healthcheck.TCPChecker{Conn: base})
	case keepalived.UDPCheck:
		u := &healthcheck.UDPChecker{Conn: base}
		if ck.UDP != nil {
			u.Payload = ck.UDP.Payload.V
			if rr := ck.UDP.RequireReply; rr.Set() {
				u.RequireReply = true
				if len(rr.V.Data) > 0 {
					t.unimplemented(rr.Pos, "require_reply", "the reply pattern is not compared; any reply of the right length is accepted")
				}
			}
			u.MinReplyLength = ck.UDP.MinReplyLength.V
			u.MaxReplyLength = ck.UDP.MaxReplyLength.Or(255)
		}
		return one(u)
	case keepalived.DNSCheck:
		d := &healthcheck.DNSChecker{Conn: base}
		if ck.DNS != nil {
			d.Type, d.Name = ck.DNS.Type.V, ck.DNS.Name.V
		}
		return one(d)
	case keepalived.SMTPCheck:
		helo := ""
		if ck.SMTP != nil {
			helo = ck.SMTP.HeloName.V
		}
		if ck.SMTP == nil || len(ck.SMTP.Hosts) == 0 {
			return one(&healthcheck.SMTPChecker{Conn: base, HELOName: helo})
		}
		var out []healthcheck.Check
		for _, h := range ck.SMTP.Hosts {
			o := h.ConnOptions
			// A host block inherits what it does not set from the checker.
			if !o.ConnectIP.Set() {
				o.ConnectIP = ck.ConnectIP
			}
			if !o.ConnectPort.Set() {
				o.ConnectPort = ck.ConnectPort
			}
			hp := pol
			if o.ConnectTimeout.Set() {
				hp.ConnectTimeout = o.ConnectTimeout.V
			}
			out = append(out, healthcheck.Check{Policy: hp, Checker: &healthcheck.SMTPChecker{Conn: conn(o), HELOName: helo}})
		}
		return out
	case keepalived.PingCheck:
		return one(&healthcheck.PingChecker{Conn: base})
	case keepalived.MiscCheck:
		if ck.Misc == nil || !ck.Misc.Path.Set() || len(ck.Misc.Path.V.Argv) == 0 {
			t.errorf(ck.Pos, "MISC_CHECK: missing misc_path")
			return nil
		}
		argv, cred, ok := t.program(ck.Misc.Path, "misc_path", ck.Misc.User)
		if !ok {
			return nil
		}
		return one(&healthcheck.MiscChecker{Path: argv[0], Args: argv[1:], Credential: cred,
			Timeout: ck.Misc.Timeout.V, Dynamic: ck.Misc.Dynamic.V})
	case keepalived.FileCheck:
		if ck.File == nil || !ck.File.TrackFile.Set() {
			t.errorf(ck.Pos, "FILE_CHECK: missing track_file")
			return nil
		}
		tf := t.files[ck.File.TrackFile.V]
		if tf == nil {
			t.errorf(ck.File.TrackFile.Pos, "FILE_CHECK: no track_file named %q", ck.File.TrackFile.V)
			return nil
		}
		t.unimplemented(posOf(tf.InitFile), "init_file", "")
		t.unimplemented(posOf(ck.File.Dynamic), "dynamic", "")
		return one(&healthcheck.FileChecker{Path: tf.File.V,
			Weight:  ck.File.Weight.Or(tf.Weight.Or(1)),
			Reverse: ck.File.Reverse.Or(tf.Reverse.V)})
	}
	t.errorf(ck.Pos, "unknown checker %s", ck.Type)
	return nil
}
