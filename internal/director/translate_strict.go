package director

import (
	"github.com/lvskit/lvskit/internal/keepalived"
	"github.com/lvskit/lvskit/vrrp"
)

// This file translates accept mode and strict mode (global_defs'
// vrrp_strict, an instance's strict_mode) as keepalived 2.2.7's
// vrrp_complete_instance does: strict mode refuses unicast peers, ignores
// authentication, sets version 3 for IPv6, turns accept mode off (unless
// the instance owns its addresses), sends no lower-priority adverts or
// gratuitous ARPs, and resets what contradicts it, each with keepalived's
// warning. Without accept mode the addresses are filtered in nftables as
// keepalived filters them (netcfg.Block: tables ip/ip6 keepalived).

// strictMode is whether in runs in strict mode.
func (t *translator) strictMode(in *keepalived.VRRPInstance) bool {
	return in.StrictMode.Or(t.cfg.Global.VRRPStrict.V)
}

// acceptStrict sets c's accept mode and applies strict mode to c, which
// holds the rest of the instance's translation.
func (t *translator) acceptStrict(in *keepalived.VRRPInstance, c *vrrp.Config) {
	strict := t.strictMode(in)
	owner := c.Priority == vrrp.PriorityOwner
	warn := func(p keepalived.Pos, keyword, msg string) {
		t.warnf(p, keyword, "%s (as keepalived does in strict mode)", msg)
	}
	// Accept mode: the owner always accepts; otherwise the default is
	// accept out of strict mode, no accept in it.
	accept := owner || !strict
	if in.Accept.Set() && !owner {
		accept = in.Accept.V
		if accept && strict && c.Version != 3 {
			warn(in.Accept.Pos, "accept", "accept mode for VRRP version 2 does not comply with RFC3768 - resetting")
			accept = false
		}
	}
	c.NoAccept = !accept
	if !strict {
		return
	}
	if in.UnicastPeerBlock.IsValid() {
		t.errorf(in.UnicastPeerBlock, "unicast_peer: unicast peers are not supported in strict mode (keepalived refuses the instance)")
	}
	ipv6 := len(c.VIPs) > 0 && c.VIPs[0].Prefix.Addr().Is6()
	if ipv6 && c.Version == 2 {
		warn(posOf(in.Version), "version", "cannot use IPv6 with VRRP version 2; setting version 3")
		c.Version = 3
	}
	if ipv6 && !in.UnicastPeerBlock.IsValid() && !c.VIPs[0].Prefix.Addr().IsLinkLocalUnicast() {
		warn(in.VirtualIPAddresses[0].Pos, "virtual_ipaddress", "the first IPv6 VIP address must be link local")
	}
	if s := in.State; s.Set() && (s.V == keepalived.StateMaster) != owner {
		warn(s.Pos, "state", "State MASTER must match being address owner")
		c.InitialState = vrrp.StateBackup
		if owner {
			c.InitialState = vrrp.StateMaster
		}
	}
	if c.PreemptDelay > 0 {
		warn(in.PreemptDelay.Pos, "preempt_delay", "preempt_delay is incompatible with strict mode - resetting")
		c.PreemptDelay = 0
	}
	if c.VMACXmitBase {
		warn(in.VMACXmitBase.Pos, "vmac_xmit_base", "xmit_base is incompatible with strict mode - resetting")
		c.VMACXmitBase = false
	}
	if v := in.GarpLowerPrioRepeat; v.Set() && v.V != 0 {
		warn(v.Pos, "garp_lower_prio_repeat", "Strict mode requires no repeat garps. resetting")
	}
	if v := in.GarpLowerPrioDelay; v.Set() && v.V != 0 {
		warn(v.Pos, "garp_lower_prio_delay", "Strict mode requires no repeat garp delay. resetting")
	}
	c.GARPLowerPrioRepeat, c.GARPLowerPrioDelay = -1, -1 // none
	if v := in.LowerPrioNoAdvert; v.Set() && !v.V {
		warn(v.Pos, "lower_prio_no_advert", "Strict mode requires no lower priority advert. resetting")
	}
	c.LowerPrioNoAdvert = true
}
