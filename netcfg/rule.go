package netcfg

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// RuleAction is what a rule does with a packet it matches (the fib
// rule's action, FR_ACT_*); the zero value looks up Rule.Table.
type RuleAction uint8

// Rule actions, as ip-rule(8) names them.
const (
	RuleLookup RuleAction = iota
	RuleGoto
	RuleNop
	RuleBlackhole
	RuleUnreachable
	RuleProhibit
)

var ruleActions = kernelNames[RuleAction]{
	{RuleLookup, unix.FR_ACT_TO_TBL, "lookup"},
	{RuleGoto, unix.FR_ACT_GOTO, "goto"},
	{RuleNop, unix.FR_ACT_NOP, "nop"},
	{RuleBlackhole, unix.FR_ACT_BLACKHOLE, "blackhole"},
	{RuleUnreachable, unix.FR_ACT_UNREACHABLE, "unreachable"},
	{RuleProhibit, unix.FR_ACT_PROHIBIT, "prohibit"},
}

func (a RuleAction) String() string {
	if n, ok := ruleActions.name(a); ok {
		return n
	}
	return fmt.Sprintf("action(%d)", uint8(a))
}

func (a RuleAction) fr() uint8 { return uint8(ruleActions.kernelOf(a)) }

func ruleActionOf(fr uint8) (RuleAction, bool) { return ruleActions.of(int(fr)) }

// PortRange is a range of ports, Start..End; the zero value matches any.
type PortRange struct{ Start, End uint16 }

// UIDRange is a range of user ids, Start..End; the zero value matches any.
type UIDRange struct{ Start, End uint32 }

// Rule is a policy routing rule, as `ip rule add [not] from FROM to TO
// tos TOS fwmark MARK/MASK iif IIF oif OIF ipproto P sport S dport D
// uidrange U priority PRIO protocol PROTO realms R ACTION` sets it
// (keepalived's virtual_rules / static_rules), the action being `table
// T` (the default), `goto PRIO`, `nop`, `blackhole`, `unreachable` or
// `prohibit`.
type Rule struct {
	// Priority orders rules; zero lets the kernel pick one when adding,
	// and matches any priority when removing.
	Priority int
	// From and To are source and destination prefixes; zero means any.
	From, To netip.Prefix
	// Action is what the rule does; the zero value looks up Table.
	Action RuleAction
	// Table is the table to look up; required for RuleLookup, unset for
	// the other actions.
	Table int
	// Goto is the priority a RuleGoto rule jumps to.
	Goto int
	// FwMark and FwMask match the packet mark; FwMask zero with a non-zero
	// FwMark means all bits.
	FwMark, FwMask uint32
	// IIF and OIF match the input and output interface names.
	IIF, OIF string
	// Invert is `ip rule add not ...`.
	Invert bool
	// IPv6 selects the family when neither From nor To is given.
	IPv6 bool
	// TOS matches the type of service; zero matches any.
	TOS uint8
	// IPProto matches the IP protocol (6 tcp, 17 udp); zero matches any.
	IPProto uint8
	// SrcPorts and DstPorts match transport ports (sport, dport).
	SrcPorts, DstPorts PortRange
	// UIDs matches the user of a locally generated packet (uidrange).
	UIDs UIDRange
	// Realm is the rule's realms (FRA_FLOW: FROM<<16|TO); zero is none.
	Realm uint32
	// Protocol is who installed the rule (RTPROT_*, 18 for keepalived);
	// zero sends none (the kernel records boot) and matches any.
	Protocol uint8
}

func (r Rule) String() string {
	s := ""
	if r.Priority != 0 {
		s = fmt.Sprintf("%d: ", r.Priority)
	}
	if r.Invert {
		s += "not "
	}
	if r.From.IsValid() {
		s += "from " + r.From.String() + " "
	} else {
		s += "from all "
	}
	if r.To.IsValid() {
		s += "to " + r.To.String() + " "
	}
	if r.TOS != 0 {
		s += fmt.Sprintf("tos %#x ", r.TOS)
	}
	if r.FwMark != 0 || r.FwMask != 0 {
		s += fmt.Sprintf("fwmark %#x/%#x ", r.FwMark, r.FwMask)
	}
	if r.IIF != "" {
		s += "iif " + r.IIF + " "
	}
	if r.OIF != "" {
		s += "oif " + r.OIF + " "
	}
	if r.IPProto != 0 {
		s += fmt.Sprintf("ipproto %d ", r.IPProto)
	}
	if r.SrcPorts != (PortRange{}) {
		s += fmt.Sprintf("sport %d-%d ", r.SrcPorts.Start, r.SrcPorts.End)
	}
	if r.DstPorts != (PortRange{}) {
		s += fmt.Sprintf("dport %d-%d ", r.DstPorts.Start, r.DstPorts.End)
	}
	if r.UIDs != (UIDRange{}) {
		s += fmt.Sprintf("uidrange %d-%d ", r.UIDs.Start, r.UIDs.End)
	}
	if r.Realm != 0 {
		s += fmt.Sprintf("realms %d/%d ", r.Realm>>16, r.Realm&0xffff)
	}
	if r.Protocol != 0 {
		s += fmt.Sprintf("proto %d ", r.Protocol)
	}
	if r.IPv6 {
		s += "(ipv6) "
	}
	switch r.Action {
	case RuleLookup:
		return s + fmt.Sprintf("lookup %d", r.Table)
	case RuleGoto:
		return s + fmt.Sprintf("goto %d", r.Goto)
	}
	return s + r.Action.String()
}

// Validate reports what AddRule would refuse in r without asking the
// kernel (interfaces are not looked up).
func (r Rule) Validate() error {
	_, err := r.normalize()
	return err
}

func (r Rule) normalize() (Rule, error) {
	if r.From.IsValid() && r.To.IsValid() && r.From.Addr().Is6() != r.To.Addr().Is6() {
		return r, fmt.Errorf("rule %v: from and to are of different address families", r)
	}
	for _, p := range []netip.Prefix{r.From, r.To} {
		if p.IsValid() {
			if p.Masked() != p {
				return r, fmt.Errorf("rule %v: bad prefix %v: host bits set (did you mean %v?)", r, p, p.Masked())
			}
			r.IPv6 = p.Addr().Is6()
		}
	}
	switch r.Action {
	case RuleLookup:
		if r.Table <= 0 {
			return r, fmt.Errorf("rule %v: needs a table", r)
		}
	case RuleGoto:
		if r.Goto <= 0 {
			return r, fmt.Errorf("rule %v: needs a priority to go to", r)
		}
		if r.Table != 0 {
			return r, fmt.Errorf("rule %v: a goto rule takes no table", r)
		}
	case RuleNop, RuleBlackhole, RuleUnreachable, RuleProhibit:
		if r.Table != 0 || r.Goto != 0 {
			return r, fmt.Errorf("rule %v: a %s rule takes no table", r, r.Action)
		}
	default:
		return r, fmt.Errorf("rule %v: unknown action", r)
	}
	if r.Action != RuleGoto && r.Goto != 0 {
		return r, fmt.Errorf("rule %v: goto without the goto action", r)
	}
	if r.Priority < 0 {
		return r, fmt.Errorf("rule %v: bad priority", r)
	}
	if r.FwMark != 0 && r.FwMask == 0 {
		r.FwMask = 0xffffffff
	}
	for _, pr := range []PortRange{r.SrcPorts, r.DstPorts} {
		if pr != (PortRange{}) && (pr.Start == 0 || pr.End < pr.Start) {
			return r, fmt.Errorf("rule %v: bad port range %d-%d", r, pr.Start, pr.End)
		}
	}
	if r.UIDs.End < r.UIDs.Start {
		return r, fmt.Errorf("rule %v: bad uid range %d-%d", r, r.UIDs.Start, r.UIDs.End)
	}
	for _, n := range []string{r.IIF, r.OIF} {
		if n != "" {
			if err := validLinkName(n); err != nil {
				return r, fmt.Errorf("rule %v: %w", r, err)
			}
		}
	}
	return r, nil
}

// RuleChange is a rule added or removed.
type RuleChange struct {
	Rule  Rule
	Added bool
}

func (s RuleChange) String() string {
	if s.Added {
		return "add rule " + s.Rule.String()
	}
	return "remove rule " + s.Rule.String()
}

func (s RuleChange) undo(h *Host) error {
	if s.Added {
		_, err := h.RemoveRule(s.Rule)
		return err
	}
	_, err := h.AddRule(s.Rule)
	return err
}

// AddRule adds r unless an equal rule is there already. The Change
// records the rule with the priority the kernel gave it.
func (h *Host) AddRule(r Rule) (*Change, error) {
	r, err := r.normalize()
	if err != nil {
		return nil, fmt.Errorf("add rule: %w", err)
	}
	c := h.newChange()
	if _, found, err := h.findRule(r); err != nil {
		return nil, fmt.Errorf("add rule %v: %w", r, err)
	} else if found {
		return c, nil
	}
	if err := h.nl.RuleAdd(toNetlinkRule(r)); err != nil && !errors.Is(err, syscall.EEXIST) {
		return nil, withPrivilegeHint(fmt.Errorf("add rule %v: %w", r, err))
	}
	have, found, err := h.findRule(r)
	if err != nil || !found {
		// Added but not found again: record what was asked, so Undo
		// still removes it (matching any priority if none was given).
		have = r
	}
	h.log.Debug("netcfg: added rule", "rule", have.String())
	c.add(RuleChange{Rule: have, Added: true})
	return c, nil
}

// RemoveRule removes the first rule equal to r (any priority if r's is
// zero). An absent rule gives an empty Change.
func (h *Host) RemoveRule(r Rule) (*Change, error) {
	r, err := r.normalize()
	if err != nil {
		return nil, fmt.Errorf("remove rule: %w", err)
	}
	c := h.newChange()
	have, found, err := h.findRule(r)
	if err != nil {
		return nil, fmt.Errorf("remove rule %v: %w", r, err)
	}
	if !found {
		return c, nil
	}
	if err := h.nl.RuleDel(toNetlinkRule(have)); err != nil {
		if errors.Is(err, syscall.ENOENT) {
			return c, nil
		}
		return nil, withPrivilegeHint(fmt.Errorf("remove rule %v: %w", have, err))
	}
	h.log.Debug("netcfg: removed rule", "rule", have.String())
	c.add(RuleChange{Rule: have, Added: false})
	return c, nil
}

func (h *Host) findRule(want Rule) (Rule, bool, error) {
	have, err := h.Rules(want.IPv6)
	if err != nil {
		return Rule{}, false, err
	}
	for _, r := range have {
		if ruleMatches(want, r) {
			return r, true, nil
		}
	}
	return Rule{}, false, nil
}

// ruleMatches says whether have is the rule want asks for: equal in
// everything but the priority and protocol, which want may leave open.
func ruleMatches(want, have Rule) bool {
	if want.Priority == 0 {
		have.Priority = 0
	}
	if want.Protocol == 0 {
		have.Protocol = 0
	}
	return want == have
}

func toNetlinkRule(r Rule) *netlink.Rule {
	nr := netlink.NewRule()
	nr.Family = netlink.FAMILY_V4
	if r.IPv6 {
		nr.Family = netlink.FAMILY_V6
	}
	if r.Priority != 0 {
		nr.Priority = r.Priority
	}
	nr.Table = r.Table
	if r.From.IsValid() {
		nr.Src = ipNetFromPrefix(r.From)
	}
	if r.To.IsValid() {
		nr.Dst = ipNetFromPrefix(r.To)
	}
	if r.FwMark != 0 || r.FwMask != 0 {
		nr.Mark = r.FwMark
		m := r.FwMask
		nr.Mask = &m
	}
	nr.IifName = r.IIF
	nr.OifName = r.OIF
	nr.Invert = r.Invert
	nr.Tos = uint(r.TOS)
	nr.IPProto = int(r.IPProto)
	if r.SrcPorts != (PortRange{}) {
		nr.Sport = netlink.NewRulePortRange(r.SrcPorts.Start, r.SrcPorts.End)
	}
	if r.DstPorts != (PortRange{}) {
		nr.Dport = netlink.NewRulePortRange(r.DstPorts.Start, r.DstPorts.End)
	}
	if r.UIDs != (UIDRange{}) {
		nr.UIDRange = netlink.NewRuleUIDRange(r.UIDs.Start, r.UIDs.End)
	}
	if r.Realm != 0 {
		nr.Flow = int(r.Realm)
	}
	nr.Protocol = r.Protocol
	switch r.Action {
	case RuleLookup:
	case RuleGoto:
		nr.Goto = r.Goto
	default:
		nr.Type = r.Action.fr()
	}
	return nr
}

func ipNetFromPrefix(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}
