package keepalived

import "time"

// keepalived.conf(5): "Where an option can be configured for a virtual
// server, real server, and possibly checker, the virtual server setting is
// the default for real servers, and the real server setting is the default
// for checkers." The functions here apply that rule; they keep Values (so
// the position of whichever level set an option survives, and an option
// no level set stays unset for the consumer's own default).

// first returns the first set Value.
func first[T any](vs ...Value[T]) Value[T] {
	for _, v := range vs {
		if v.Set() {
			return v
		}
	}
	return Value[T]{}
}

// CheckerTiming is a checker's timing after inheritance.
type CheckerTiming struct {
	DelayLoop        Value[time.Duration]
	ConnectTimeout   Value[time.Duration]
	Retry            Value[int]
	DelayBeforeRetry Value[time.Duration]
	Warmup           Value[time.Duration]
	Alpha            Value[bool]
}

// CheckerTiming resolves ck's timing: the checker's own setting, else the
// real server's, else the virtual server's.
func (vs *VirtualServer) CheckerTiming(rs *RealServer, ck *Checker) CheckerTiming {
	return CheckerTiming{
		DelayLoop:        first(ck.DelayLoop, rs.DelayLoop, vs.DelayLoop),
		ConnectTimeout:   first(ck.ConnectTimeout, rs.ConnectTimeout, vs.ConnectTimeout),
		Retry:            first(ck.Retry, rs.Retry, vs.Retry),
		DelayBeforeRetry: first(ck.DelayBeforeRetry, rs.DelayBeforeRetry, vs.DelayBeforeRetry),
		Warmup:           first(ck.Warmup, rs.Warmup, vs.Warmup),
		Alpha:            first(ck.Alpha, rs.Alpha, vs.Alpha),
	}
}

// RealServerForwarding is rs's forwarding method: its own lvs_method, else
// the virtual server's, else NAT.
func (vs *VirtualServer) RealServerForwarding(rs *RealServer) Forwarding {
	return first(rs.Forwarding, vs.Forwarding).Or(Forwarding{Method: "NAT"})
}

// RealServerWeight is rs's configured weight: its own, else the virtual
// server's weight, else 1.
func (vs *VirtualServer) RealServerWeight(rs *RealServer) int {
	return first(rs.Weight, vs.Weight).Or(1)
}

// RealServerInhibit reports whether a failed rs gets weight 0 instead of
// being removed: its own setting, else the virtual server's.
func (vs *VirtualServer) RealServerInhibit(rs *RealServer) bool {
	return first(rs.InhibitOnFailure, vs.InhibitOnFailure).Or(false)
}

// URLVirtualhost is the Host header of an HTTP check of u: the url's
// virtualhost, else the checker's, else the real server's, else the
// virtual server's; "" means none (the address is used).
func (vs *VirtualServer) URLVirtualhost(rs *RealServer, ck *Checker, u *URL) string {
	var cv Value[string]
	if ck.HTTP != nil {
		cv = ck.HTTP.Virtualhost
	}
	return first(u.Virtualhost, cv, rs.Virtualhost, vs.Virtualhost).V
}

// GARP is an instance's gratuitous ARP / unsolicited NA timing after
// inheritance from global_defs, with keepalived's defaults filled in.
type GARP struct {
	MasterDelay         time.Duration // second burst after becoming MASTER; 0 = none
	MasterRepeat        int
	LowerPrioDelay      time.Duration
	LowerPrioRepeat     int
	MasterRefresh       time.Duration // 0 = no periodic refresh
	MasterRefreshRepeat int
	Interval            time.Duration // between messages (vrrp_garp_interval)
	NAInterval          time.Duration // between NAs (vrrp_gna_interval)
}

// GARP resolves in's GARP settings: the instance's garp_*, else the
// global vrrp_garp_*, else keepalived's defaults (5 s / 5, refresh off,
// refresh repeat 1; lower-priority values default to the master ones).
// vrrp_min_garp sets one message and no second burst as the default.
func (c *Config) GARP(in *VRRPInstance) GARP {
	g := &c.Global
	delay, repeat := 5*time.Second, 5
	if g.VRRPMinGarp.V {
		delay, repeat = 0, 1
	}
	md := first(in.GarpMasterDelay, g.VRRPGarpMasterDelay).Or(delay)
	mr := first(in.GarpMasterRepeat, g.VRRPGarpMasterRepeat).Or(repeat)
	return GARP{
		MasterDelay:         md,
		MasterRepeat:        mr,
		LowerPrioDelay:      first(in.GarpLowerPrioDelay, g.VRRPGarpLowerPrioDelay).Or(md),
		LowerPrioRepeat:     first(in.GarpLowerPrioRepeat, g.VRRPGarpLowerPrioRepeat).Or(mr),
		MasterRefresh:       first(in.GarpMasterRefresh, g.VRRPGarpMasterRefresh).Or(0),
		MasterRefreshRepeat: first(in.GarpMasterRefreshRepeat, g.VRRPGarpMasterRefreshRepeat).Or(1),
		Interval:            g.VRRPGarpInterval.Or(0),
		NAInterval:          g.VRRPGnaInterval.Or(0),
	}
}

// VRRPVersion is the protocol version in runs: its version, else the
// global vrrp_version, else 2 — but 3 for an instance whose first virtual
// address is IPv6 (VRRPv2 has no IPv6).
func (c *Config) VRRPVersion(in *VRRPInstance) int {
	if len(in.VirtualIPAddresses) > 0 && in.VirtualIPAddresses[0].Prefix.Addr().Is6() {
		return 3
	}
	return first(in.Version, c.Global.VRRPVersion).Or(2)
}

// SMTPAlert reports whether state changes of in send e-mail: the
// instance's smtp_alert, else global smtp_alert_vrrp, else smtp_alert,
// else no.
func (c *Config) SMTPAlert(in *VRRPInstance) bool {
	return first(in.SMTPAlert, c.Global.SMTPAlertVRRP, c.Global.SMTPAlert).Or(false)
}

// RealServerSMTPAlert reports whether up/down changes of rs send e-mail:
// the real server's smtp_alert, else global smtp_alert_checker, else
// smtp_alert, else yes (keepalived.conf(5): "default yes, unless global
// smtp_alert/smtp_alert_checker set"); no_checker_emails turns it off.
func (c *Config) RealServerSMTPAlert(rs *RealServer) bool {
	if c.Global.NoCheckerEmails.V {
		return false
	}
	return first(rs.SMTPAlert, c.Global.SMTPAlertChecker, c.Global.SMTPAlert).Or(true)
}

// QuorumSMTPAlert reports whether quorum changes of vs send e-mail: the
// virtual server's smtp_alert, else smtp_alert_checker, else smtp_alert,
// else no.
func (c *Config) QuorumSMTPAlert(vs *VirtualServer) bool {
	return first(vs.SMTPAlert, c.Global.SMTPAlertChecker, c.Global.SMTPAlert).Or(false)
}
