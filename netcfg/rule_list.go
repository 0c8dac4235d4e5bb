package netcfg

import (
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink/nl"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Rules lists the rules of one family, in the kernel's (priority) order.
//
// It reads the kernel's dump itself: vishvananda/netlink's listing leaves
// out a rule's action, and a blackhole rule must not be taken for an
// unreachable one when it is found, removed or put back.
func (h *Host) Rules(ipv6 bool) ([]Rule, error) {
	fam := unix.AF_INET
	if ipv6 {
		fam = unix.AF_INET6
	}
	var sock *nl.NetlinkSocket
	open := func() error {
		var err error
		sock, err = nl.GetNetlinkSocketAt(netns.None(), netns.None(), unix.NETLINK_ROUTE)
		return err
	}
	if err := h.do(open); err != nil {
		return nil, withPrivilegeHint(fmt.Errorf("list rules: %w", err))
	}
	defer sock.Close()
	req := nl.NewNetlinkRequest(unix.RTM_GETRULE, unix.NLM_F_DUMP)
	req.Sockets = map[int]*nl.SocketHandle{unix.NETLINK_ROUTE: {Socket: sock}}
	req.AddData(nl.NewRtMsg())
	req.Data[0].(*nl.RtMsg).Family = uint8(fam)
	msgs, err := req.Execute(unix.NETLINK_ROUTE, unix.RTM_NEWRULE)
	if err != nil && !errors.Is(err, nl.ErrDumpInterrupted) {
		return nil, withPrivilegeHint(fmt.Errorf("list rules: %w", err))
	}
	out := make([]Rule, 0, len(msgs))
	for _, m := range msgs {
		if r, ok := parseRule(m, ipv6); ok {
			out = append(out, r)
		}
	}
	return out, nil
}

// parseRule reads one RTM_NEWRULE message: a struct fib_rule_hdr (laid out
// as struct rtmsg: family, dst_len, src_len, tos, table, two reserved
// bytes, action, flags) and its attributes. Rules of an action lvskit does
// not know are left out.
func parseRule(m []byte, ipv6 bool) (Rule, bool) {
	if len(m) < unix.SizeofRtMsg {
		return Rule{}, false
	}
	hdr := nl.DeserializeRtMsg(m)
	action, ok := ruleActionOf(hdr.Type)
	if !ok {
		return Rule{}, false
	}
	attrs, err := nl.ParseRouteAttr(m[hdr.Len():])
	if err != nil {
		return Rule{}, false
	}
	r := Rule{
		Action: action,
		Table:  int(hdr.Table),
		TOS:    hdr.Tos,
		Invert: hdr.Flags&unix.FIB_RULE_INVERT != 0,
		IPv6:   ipv6,
	}
	u32 := func(b []byte) uint32 {
		if len(b) < 4 {
			return 0
		}
		return nl.NativeEndian().Uint32(b)
	}
	u16pair := func(b []byte) (uint16, uint16) {
		if len(b) < 4 {
			return 0, 0
		}
		return nl.NativeEndian().Uint16(b), nl.NativeEndian().Uint16(b[2:])
	}
	for _, a := range attrs {
		v := a.Value
		switch a.Attr.Type {
		case nl.FRA_TABLE:
			r.Table = int(u32(v))
		case nl.FRA_PRIORITY:
			r.Priority = int(u32(v))
		case nl.FRA_SRC:
			r.From = rulePrefix(v, hdr.Src_len)
		case nl.FRA_DST:
			r.To = rulePrefix(v, hdr.Dst_len)
		case nl.FRA_FWMARK:
			r.FwMark = u32(v)
		case nl.FRA_FWMASK:
			r.FwMask = u32(v)
		case nl.FRA_IIFNAME:
			r.IIF = cString(v)
		case nl.FRA_OIFNAME:
			r.OIF = cString(v)
		case nl.FRA_GOTO:
			r.Goto = int(u32(v))
		case nl.FRA_FLOW:
			r.Realm = u32(v)
		case nl.FRA_IP_PROTO:
			if len(v) > 0 {
				r.IPProto = v[0]
			}
		case nl.FRA_SPORT_RANGE:
			r.SrcPorts.Start, r.SrcPorts.End = u16pair(v)
		case nl.FRA_DPORT_RANGE:
			r.DstPorts.Start, r.DstPorts.End = u16pair(v)
		case nl.FRA_UID_RANGE:
			if len(v) >= 8 {
				r.UIDs = UIDRange{Start: u32(v), End: u32(v[4:])}
			}
		case nl.FRA_PROTOCOL:
			if len(v) > 0 {
				r.Protocol = v[0]
			}
		}
	}
	if r.FwMark == 0 && r.FwMask == 0xffffffff {
		r.FwMask = 0
	}
	// The kernel reports "any user" as the full range.
	if r.UIDs == (UIDRange{Start: 0, End: 0xffffffff}) {
		r.UIDs = UIDRange{}
	}
	return r, true
}

func rulePrefix(b []byte, bits uint8) netip.Prefix {
	a, ok := ipFromSlice(net.IP(b))
	if !ok {
		return netip.Prefix{}
	}
	return netip.PrefixFrom(a, int(bits))
}

func cString(b []byte) string {
	for i, c := range b {
		if c == 0 {
			return string(b[:i])
		}
	}
	return string(b)
}
