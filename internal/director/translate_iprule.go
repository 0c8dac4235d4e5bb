package director

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/lvskit/lvskit/internal/keepalived"
	"github.com/lvskit/lvskit/netcfg"
)

var ruleActions = map[string]netcfg.RuleAction{
	"blackhole": netcfg.RuleBlackhole, "unreachable": netcfg.RuleUnreachable,
	"prohibit": netcfg.RuleProhibit, "nop": netcfg.RuleNop,
}

// ipRule translates a rule line of static_rules or virtual_rules.
func (t *translator) ipRule(kw string, r keepalived.Rule) (netcfg.Rule, bool) {
	out := netcfg.Rule{From: r.From, To: r.To, IIF: r.IIf, OIF: r.OIf, Invert: r.Not,
		IPv6: r.Family == "inet6", Protocol: netcfg.ProtocolKeepalived}
	skip := func(format string, args ...any) (netcfg.Rule, bool) {
		t.skipLine(r.Pos, kw, "rule", format, args...)
		return out, false
	}
	if r.Priority.Set() {
		out.Priority = r.Priority.V
	} else {
		out.Priority = rulePriorityDefault
		t.warnf(r.Pos, kw, "%s: rule has no preference: %d, as keepalived sets (probably not what you want)", kw, rulePriorityDefault)
	}
	switch {
	case r.Action.Set():
		out.Action = ruleActions[r.Action.V]
	case r.Goto.Set():
		out.Action, out.Goto = netcfg.RuleGoto, r.Goto.V
	case r.Table == "":
		return skip("no table and no action")
	default:
		n, ok := t.names.lookup("rt_tables", r.Table)
		if !ok {
			return skip("routing table %q not found", r.Table)
		}
		out.Table = n
	}
	if r.FwMark != "" {
		mark, mask, _ := strings.Cut(r.FwMark, "/")
		v, err := strconv.ParseUint(mark, 0, 32)
		if err != nil {
			return skip("bad fwmark %q", r.FwMark)
		}
		out.FwMark = uint32(v)
		if mask != "" {
			m, err := strconv.ParseUint(mask, 0, 32)
			if err != nil {
				return skip("bad fwmark %q", r.FwMark)
			}
			out.FwMask = uint32(m)
		}
	}
	if err := t.lineEnd(r.Pos, r.TrackGroup, r.Options, func(o keepalived.IPOption) error { return t.ruleOption(kw, r, &out, o) }, out); err != nil {
		return skip("%v", err)
	}
	return out, true
}

var ipProtocols = map[string]int{"icmp": 1, "igmp": 2, "tcp": 6, "udp": 17, "gre": 47, "esp": 50,
	"ah": 51, "ipv6-icmp": 58, "icmpv6": 58, "sctp": 132, "udplite": 136}

// ruleOption sets one valued option of a rule line.
func (t *translator) ruleOption(kw string, r keepalived.Rule, out *netcfg.Rule, o keepalived.IPOption) error {
	switch o.Name {
	case "tos", "dsfield":
		v, ok := t.names.lookup("rt_dsfield", o.Value)
		if !ok || v > 255 {
			return fmt.Errorf("not a TOS value")
		}
		out.TOS = uint8(v)
	case "realms":
		v, err := t.realms(o.Value)
		if err != nil {
			return err
		}
		out.Realm = v
	case "ipproto", "ip_proto":
		v, ok := ipProtocols[strings.ToLower(o.Value)]
		if !ok {
			n, err := strconv.ParseUint(o.Value, 0, 8)
			if err != nil {
				return fmt.Errorf("not an IP protocol")
			}
			v = int(n)
		}
		out.IPProto = uint8(v)
	case "sport", "dport":
		lo, hi, err := numRange(o.Value, 16)
		if err != nil {
			return err
		}
		pr := netcfg.PortRange{Start: uint16(lo), End: uint16(hi)}
		if o.Name == "sport" {
			out.SrcPorts = pr
		} else {
			out.DstPorts = pr
		}
	case "uidrange":
		lo, hi, err := numRange(o.Value, 32)
		if err != nil {
			return err
		}
		out.UIDs = netcfg.UIDRange{Start: uint32(lo), End: uint32(hi)}
	case "protocol":
		p, err := t.lineProtocol(kw, "rule", o.Pos, o.Value, r.NoTrack)
		if err != nil {
			return err
		}
		out.Protocol = p
	default:
		return fmt.Errorf("unknown option")
	}
	return nil
}
