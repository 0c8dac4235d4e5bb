package netcfg

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"syscall"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/userdata"
	"golang.org/x/sys/unix"
)

// NATTable is the nftables table (family inet) that holds every NAT rule
// netcfg adds. netcfg creates it on first use and deletes it when the
// last of its rules is removed; it never touches other tables.
const NATTable = "lvskit"

const (
	natPrerouting  = "prerouting"
	natPostrouting = "postrouting"
	commentPrefix  = "lvskit: "
)

// Masquerade rewrites the source of packets from Source leaving through
// OutLink to OutLink's address (`masquerade` in nft, `-j MASQUERADE` in
// iptables): the router role's outbound NAT.
type Masquerade struct {
	// Source is the inside prefix, for example 192.168.0.0/24.
	Source netip.Prefix
	// OutLink is the outside interface; it must exist.
	OutLink string
}

func (m Masquerade) String() string {
	return fmt.Sprintf("masquerade %v out %s", m.Source, m.OutLink)
}

// DNAT sends connections for a public address and port to an inner one
// (the router role's port forwarding).
type DNAT struct {
	// Protocol is "tcp" or "udp"; empty means tcp.
	Protocol string
	// Dst is the public address and port matched; both required.
	Dst netip.AddrPort
	// To is the inner address and port; port zero means Dst's port.
	To netip.AddrPort
	// InLink optionally limits the rule to packets arriving there.
	InLink string
}

func (d DNAT) String() string {
	s := fmt.Sprintf("dnat %s %v to %v", d.proto(), d.Dst, d.To)
	if d.InLink != "" {
		s += " in " + d.InLink
	}
	return s
}

func (d DNAT) proto() string {
	if d.Protocol == "" {
		return "tcp"
	}
	return d.Protocol
}

// NATRule is one rule in lvskit's table as listed: the chain, the kernel's
// handle and the rule's comment (the String of the Masquerade or DNAT that
// made it).
type NATRule struct {
	Chain   string
	Handle  uint64
	Comment string
}

// NATChange is a NAT rule added or removed.
type NATChange struct {
	Rule  NATRule
	Added bool

	spec natSpec // to re-add on undo of a removal
}

func (s NATChange) String() string {
	if s.Added {
		return fmt.Sprintf("add nft rule %s (handle %d)", s.Rule.Comment, s.Rule.Handle)
	}
	return fmt.Sprintf("remove nft rule %s", s.Rule.Comment)
}

func (s NATChange) undo(h *Host) error {
	if s.Added {
		return h.removeNATRule(s.Rule)
	}
	_, err := h.addNAT(s.spec)
	return err
}

// natSpec is a rule ready to add: chain, expressions and comment.
type natSpec struct {
	chain   string
	exprs   []expr.Any
	comment string
}

func (m Masquerade) spec() (natSpec, error) {
	if !m.Source.IsValid() {
		return natSpec{}, fmt.Errorf("%v: bad prefix", m)
	}
	if m.Source.Masked() != m.Source {
		return natSpec{}, fmt.Errorf("%v: bad prefix: host bits set (did you mean %v?)", m, m.Source.Masked())
	}
	if err := validLinkName(m.OutLink); err != nil {
		return natSpec{}, fmt.Errorf("%v: %w", m, err)
	}
	src := m.Source.Addr()
	var e []expr.Any
	off := uint32(12) // IPv4 source address
	fam := byte(unix.NFPROTO_IPV4)
	if src.Is6() {
		off, fam = 8, unix.NFPROTO_IPV6
	}
	e = append(e, matchNFProto(fam)...)
	e = append(e,
		&expr.Meta{Key: expr.MetaKeyOIFNAME, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: ifname(m.OutLink)},
	)
	e = append(e, matchPrefix(off, m.Source)...)
	e = append(e, &expr.Counter{}, &expr.Masq{})
	return natSpec{chain: natPostrouting, exprs: e, comment: m.String()}, nil
}

func (d DNAT) spec() (natSpec, error) {
	var l4 byte
	switch d.proto() {
	case "tcp":
		l4 = unix.IPPROTO_TCP
	case "udp":
		l4 = unix.IPPROTO_UDP
	default:
		return natSpec{}, fmt.Errorf("%v: protocol %q: want tcp or udp", d, d.Protocol)
	}
	if !d.Dst.IsValid() || d.Dst.Port() == 0 || d.Dst.Addr().Zone() != "" || d.Dst.Addr().Is4In6() {
		return natSpec{}, fmt.Errorf("%v: bad public address %v (want address:port)", d, d.Dst)
	}
	if !d.To.IsValid() || d.To.Addr().Zone() != "" || d.To.Addr().Is4In6() {
		return natSpec{}, fmt.Errorf("%v: bad inner address %v (want address:port)", d, d.To)
	}
	if d.Dst.Addr().Is6() != d.To.Addr().Is6() {
		return natSpec{}, fmt.Errorf("%v: public and inner addresses are of different families", d)
	}
	to := d.To
	if to.Port() == 0 {
		to = netip.AddrPortFrom(to.Addr(), d.Dst.Port())
		d.To = to
	}
	off := uint32(16) // IPv4 destination address
	fam := byte(unix.NFPROTO_IPV4)
	if d.Dst.Addr().Is6() {
		off, fam = 24, unix.NFPROTO_IPV6
	}
	var e []expr.Any
	e = append(e, matchNFProto(fam)...)
	if d.InLink != "" {
		if err := validLinkName(d.InLink); err != nil {
			return natSpec{}, fmt.Errorf("%v: %w", d, err)
		}
		e = append(e,
			&expr.Meta{Key: expr.MetaKeyIIFNAME, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: ifname(d.InLink)},
		)
	}
	e = append(e, matchPrefix(off, netip.PrefixFrom(d.Dst.Addr(), d.Dst.Addr().BitLen()))...)
	port := func(p uint16) []byte { return binary.BigEndian.AppendUint16(nil, p) }
	e = append(e,
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{l4}},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: port(d.Dst.Port())},
		&expr.Counter{},
		&expr.Immediate{Register: 1, Data: to.Addr().AsSlice()},
		&expr.Immediate{Register: 2, Data: port(to.Port())},
		&expr.NAT{Type: expr.NATTypeDestNAT, Family: uint32(fam), RegAddrMin: 1, RegProtoMin: 2},
	)
	return natSpec{chain: natPrerouting, exprs: e, comment: d.String()}, nil
}

func matchNFProto(fam byte) []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{fam}},
	}
}

// matchPrefix compares the network header field at off with p.
func matchPrefix(off uint32, p netip.Prefix) []expr.Any {
	if p.Bits() == 0 {
		return nil // any address
	}
	n := uint32(p.Addr().BitLen() / 8)
	e := []expr.Any{&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: off, Len: n}}
	if p.Bits() < p.Addr().BitLen() {
		mask := make([]byte, n)
		for i := 0; i < p.Bits(); i++ {
			mask[i/8] |= 0x80 >> (i % 8)
		}
		e = append(e, &expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: n, Mask: mask, Xor: make([]byte, n)})
	}
	return append(e, &expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: p.Masked().Addr().AsSlice()})
}

func ifname(n string) []byte {
	b := make([]byte, 16)
	copy(b, n)
	return b
}

// AddMasquerade adds m unless lvskit's table already has it.
func (h *Host) AddMasquerade(m Masquerade) (*Change, error) {
	s, err := m.spec()
	if err != nil {
		return nil, fmt.Errorf("add nat: %w", err)
	}
	if _, err := h.link(m.OutLink); err != nil {
		return nil, fmt.Errorf("add nat %v: %w", m, err)
	}
	return h.addNAT(s)
}

// RemoveMasquerade removes the rule AddMasquerade(m) made, if present.
func (h *Host) RemoveMasquerade(m Masquerade) (*Change, error) {
	s, err := m.spec()
	if err != nil {
		return nil, fmt.Errorf("remove nat: %w", err)
	}
	return h.removeNAT(s)
}

// AddDNAT adds d unless lvskit's table already has it.
func (h *Host) AddDNAT(d DNAT) (*Change, error) {
	s, err := d.spec()
	if err != nil {
		return nil, fmt.Errorf("add nat: %w", err)
	}
	if d.InLink != "" {
		if _, err := h.link(d.InLink); err != nil {
			return nil, fmt.Errorf("add nat %v: %w", d, err)
		}
	}
	return h.addNAT(s)
}

// RemoveDNAT removes the rule AddDNAT(d) made, if present.
func (h *Host) RemoveDNAT(d DNAT) (*Change, error) {
	s, err := d.spec()
	if err != nil {
		return nil, fmt.Errorf("remove nat: %w", err)
	}
	return h.removeNAT(s)
}

// NATRules lists the rules in lvskit's table; none if it does not exist.
func (h *Host) NATRules() ([]NATRule, error) {
	h.natMu.Lock()
	defer h.natMu.Unlock()
	conn, err := h.nft()
	if err != nil {
		return nil, fmt.Errorf("list nat rules: %w", err)
	}
	defer conn.CloseLasting()
	rules, err := listNATRules(conn)
	if err != nil {
		return nil, withPrivilegeHint(fmt.Errorf("list nat rules: %w", err))
	}
	return rules, nil
}

func (h *Host) nft() (*nftables.Conn, error) {
	opts := []nftables.ConnOption{nftables.AsLasting()}
	if !h.current {
		opts = append(opts, nftables.WithNetNSFd(int(h.ns)))
	}
	conn, err := nftables.New(opts...)
	if err != nil {
		return nil, withPrivilegeHint(fmt.Errorf("open nftables: %w", err))
	}
	return conn, nil
}

var natTable = &nftables.Table{Name: NATTable, Family: nftables.TableFamilyINet}

func natChains() []*nftables.Chain {
	return []*nftables.Chain{
		{Name: natPrerouting, Table: natTable, Type: nftables.ChainTypeNAT, Hooknum: nftables.ChainHookPrerouting, Priority: nftables.ChainPriorityNATDest},
		{Name: natPostrouting, Table: natTable, Type: nftables.ChainTypeNAT, Hooknum: nftables.ChainHookPostrouting, Priority: nftables.ChainPriorityNATSource},
	}
}

// listNATRules returns the rules of lvskit's table, or none if the table
// does not exist.
func listNATRules(conn *nftables.Conn) ([]NATRule, error) {
	tables, err := conn.ListTablesOfFamily(nftables.TableFamilyINet)
	if err != nil {
		return nil, err
	}
	found := false
	for _, t := range tables {
		if t.Name == NATTable {
			found = true
		}
	}
	if !found {
		return nil, nil
	}
	var out []NATRule
	for _, ch := range natChains() {
		rules, err := conn.GetRules(natTable, ch)
		if err != nil {
			if errors.Is(err, syscall.ENOENT) {
				continue
			}
			return nil, fmt.Errorf("list chain %s: %w", ch.Name, err)
		}
		for _, r := range rules {
			c, _ := userdata.GetString(r.UserData, userdata.TypeComment)
			out = append(out, NATRule{Chain: ch.Name, Handle: r.Handle, Comment: strings.TrimPrefix(c, commentPrefix)})
		}
	}
	return out, nil
}

func (h *Host) addNAT(s natSpec) (*Change, error) {
	h.natMu.Lock()
	defer h.natMu.Unlock()
	c := h.newChange()
	conn, err := h.nft()
	if err != nil {
		return nil, fmt.Errorf("add nat %s: %w", s.comment, err)
	}
	defer conn.CloseLasting()
	have, err := listNATRules(conn)
	if err != nil {
		return nil, withPrivilegeHint(fmt.Errorf("add nat %s: list: %w", s.comment, err))
	}
	for _, r := range have {
		if r.Chain == s.chain && r.Comment == s.comment {
			return c, nil
		}
	}
	// One batch, one transaction: table, chain and rule all appear or
	// none does. Only the chain the rule needs is made.
	conn.AddTable(natTable)
	var chain *nftables.Chain
	for _, ch := range natChains() {
		if ch.Name == s.chain {
			chain = ch
			conn.AddChain(ch)
		}
	}
	conn.AddRule(&nftables.Rule{
		Table:    natTable,
		Chain:    chain,
		Exprs:    s.exprs,
		UserData: userdata.AppendString(nil, userdata.TypeComment, commentPrefix+s.comment),
	})
	if err := conn.Flush(); err != nil {
		return nil, withPrivilegeHint(fmt.Errorf("add nat %s to table inet %s: %w", s.comment, NATTable, err))
	}
	after, err := listNATRules(conn)
	if err != nil {
		return nil, withPrivilegeHint(fmt.Errorf("add nat %s: list: %w", s.comment, err))
	}
	for _, r := range after {
		if r.Chain == s.chain && r.Comment == s.comment {
			h.log.Debug("netcfg: added nft rule", "rule", s.comment, "handle", r.Handle)
			c.add(NATChange{Rule: r, Added: true, spec: s})
			return c, nil
		}
	}
	return nil, fmt.Errorf("add nat %s: rule not found after adding it", s.comment)
}

func (h *Host) removeNAT(s natSpec) (*Change, error) {
	h.natMu.Lock()
	have, err := h.natRulesLocked()
	h.natMu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("remove nat %s: %w", s.comment, err)
	}
	c := h.newChange()
	for _, r := range have {
		if r.Chain == s.chain && r.Comment == s.comment {
			if err := h.removeNATRule(r); err != nil {
				return nil, err
			}
			c.add(NATChange{Rule: r, Added: false, spec: s})
			return c, nil
		}
	}
	return c, nil
}

func (h *Host) natRulesLocked() ([]NATRule, error) {
	conn, err := h.nft()
	if err != nil {
		return nil, err
	}
	defer conn.CloseLasting()
	rules, err := listNATRules(conn)
	return rules, withPrivilegeHint(err)
}

// removeNATRule deletes the rule r describes: the one with r's chain and
// comment (the comment names the rule, and netcfg never adds two with the
// same one), normally still under r's handle; if it was removed and added
// again since, under its new one. It then deletes lvskit's table if no
// rule is left in it.
func (h *Host) removeNATRule(r NATRule) error {
	h.natMu.Lock()
	defer h.natMu.Unlock()
	conn, err := h.nft()
	if err != nil {
		return fmt.Errorf("remove nat %s: %w", r.Comment, err)
	}
	defer conn.CloseLasting()
	have, err := listNATRules(conn)
	if err != nil {
		return withPrivilegeHint(fmt.Errorf("remove nat %s: list: %w", r.Comment, err))
	}
	left := 0
	var victim *NATRule
	for i, x := range have {
		if x.Chain == r.Chain && x.Comment == r.Comment && (victim == nil || x.Handle == r.Handle) {
			victim = &have[i]
		}
	}
	for _, x := range have {
		if victim == nil || x != *victim {
			left++
		}
	}
	del := victim != nil
	if del {
		if err := conn.DelRule(&nftables.Rule{Table: natTable, Chain: &nftables.Chain{Name: victim.Chain, Table: natTable}, Handle: victim.Handle}); err != nil {
			return fmt.Errorf("remove nat %s: %w", r.Comment, err)
		}
	}
	if left == 0 && (del || len(have) == 0) && tableExists(conn) {
		conn.DelTable(natTable)
	}
	if err := conn.Flush(); err != nil {
		return withPrivilegeHint(fmt.Errorf("remove nat %s: %w", r.Comment, err))
	}
	if del {
		h.log.Debug("netcfg: removed nft rule", "rule", r.Comment, "handle", victim.Handle)
	}
	return nil
}

func tableExists(conn *nftables.Conn) bool {
	tables, err := conn.ListTablesOfFamily(nftables.TableFamilyINet)
	if err != nil {
		return false
	}
	for _, t := range tables {
		if t.Name == NATTable {
			return true
		}
	}
	return false
}
