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

// Rule is a policy routing rule of the "look up table T" kind, as `ip rule
// add from FROM to TO fwmark MARK/MASK iif IIF oif OIF priority PRIO table
// T` sets it (keepalived's virtual_rules / static_rules).
type Rule struct {
	// Priority orders rules; zero lets the kernel pick one when adding,
	// and matches any priority when removing.
	Priority int
	// From and To are source and destination prefixes; zero means any.
	From, To netip.Prefix
	// Table is the table to look up; required.
	Table int
	// FwMark and FwMask match the packet mark; FwMask zero with a non-zero
	// FwMark means all bits.
	FwMark, FwMask uint32
	// IIF and OIF match the input and output interface names.
	IIF, OIF string
	// Invert is `ip rule add not ...`.
	Invert bool
	// IPv6 selects the family when neither From nor To is given.
	IPv6 bool
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
	if r.FwMark != 0 || r.FwMask != 0 {
		s += fmt.Sprintf("fwmark %#x/%#x ", r.FwMark, r.FwMask)
	}
	if r.IIF != "" {
		s += "iif " + r.IIF + " "
	}
	if r.OIF != "" {
		s += "oif " + r.OIF + " "
	}
	if r.IPv6 {
		s += "(ipv6) "
	}
	return s + fmt.Sprintf("lookup %d", r.Table)
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
	if r.Table <= 0 {
		return r, fmt.Errorf("rule %v: needs a table", r)
	}
	if r.Priority < 0 {
		return r, fmt.Errorf("rule %v: bad priority", r)
	}
	if r.FwMark != 0 && r.FwMask == 0 {
		r.FwMask = 0xffffffff
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

// Rules lists the "look up a table" rules of one family, in priority order.
func (h *Host) Rules(ipv6 bool) ([]Rule, error) {
	fam := netlink.FAMILY_V4
	if ipv6 {
		fam = netlink.FAMILY_V6
	}
	list, err := h.nl.RuleList(fam)
	if err != nil {
		return nil, withPrivilegeHint(fmt.Errorf("list rules: %w", err))
	}
	out := make([]Rule, 0, len(list))
	for _, nr := range list {
		if nr.Type != 0 && nr.Type != unix.FR_ACT_TO_TBL {
			continue
		}
		r := Rule{
			Priority: nr.Priority,
			Table:    nr.Table,
			FwMark:   nr.Mark,
			IIF:      nr.IifName,
			OIF:      nr.OifName,
			Invert:   nr.Invert,
			IPv6:     ipv6,
		}
		if nr.Mask != nil {
			r.FwMask = *nr.Mask
		}
		if r.FwMark == 0 && r.FwMask == 0xffffffff {
			r.FwMask = 0
		}
		if nr.Src != nil {
			r.From = prefixFromIPNet(nr.Src)
		}
		if nr.Dst != nil {
			r.To = prefixFromIPNet(nr.Dst)
		}
		out = append(out, r)
	}
	return out, nil
}

func (h *Host) findRule(want Rule) (Rule, bool, error) {
	have, err := h.Rules(want.IPv6)
	if err != nil {
		return Rule{}, false, err
	}
	for _, r := range have {
		p := r.Priority
		if want.Priority == 0 {
			r.Priority = 0
		}
		if r == want {
			r.Priority = p
			return r, true, nil
		}
	}
	return Rule{}, false, nil
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
	return nr
}

func ipNetFromPrefix(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

func prefixFromIPNet(n *net.IPNet) netip.Prefix {
	a, ok := ipFromSlice(n.IP)
	if !ok {
		return netip.Prefix{}
	}
	bits, _ := n.Mask.Size()
	return netip.PrefixFrom(a, bits)
}
