package netcfg

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"syscall"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// BlockTable is the name of the nftables tables, one of family ip and one
// of family ip6, where Block keeps the addresses it drops traffic for.
// They are keepalived 2.2.7's tables for vrrp_strict and no_accept with
// nftables, laid out as keepalived lays them out, so that
// `nft list table ip keepalived` reads the same under lvskit as under
// keepalived:
//
//	table ip keepalived {
//		set vips { type ipv4_addr; }
//		chain out { type filter hook output priority filter - 1; policy accept;
//			ip saddr @vips drop }
//		chain in { type filter hook input priority filter - 1; policy accept;
//			ip daddr @vips drop }
//	}
//
// and for IPv6 the same with neighbour solicitations and advertisements
// let through first (so the address stays resolvable), and link-local
// addresses matched with their interface (set vips_link_local, chains
// in_link_local and out_link_local). A table is made with the first
// address and deleted with the last.
const BlockTable = "keepalived"

// BlockChange is an address Block added to or Unblock removed from the
// drop sets.
type BlockChange struct {
	Addr  netip.Addr // with the link as zone for an IPv6 link-local address
	Added bool
}

func (b BlockChange) String() string {
	if b.Added {
		return fmt.Sprintf("block %v (nft table %s %s)", b.Addr, blockFamilyName(b.Addr), BlockTable)
	}
	return fmt.Sprintf("unblock %v (nft table %s %s)", b.Addr, blockFamilyName(b.Addr), BlockTable)
}

func (b BlockChange) undo(h *Host) error {
	var err error
	if b.Added {
		_, err = h.Unblock(b.Addr)
	} else {
		_, err = h.Block(b.Addr)
	}
	return err
}

func blockFamilyName(a netip.Addr) string {
	if a.Is4() {
		return "ip"
	}
	return "ip6"
}

// Block makes the Host drop packets addressed to addr that arrive for
// local delivery, and packets it would send from addr: what a VRRP master
// without accept mode does with the addresses it holds but does not own
// (keepalived's no_accept, and vrrp_strict), in keepalived's nftables
// tables (BlockTable). An IPv6 link-local address names its link as its
// zone (fe80::1%eth0). For IPv6, neighbour solicitations and
// advertisements still pass. Blocking a blocked address changes nothing.
func (h *Host) Block(addr netip.Addr) (*Change, error) {
	return h.block(addr, true)
}

// Unblock removes addr from the drop sets, if there; the last address
// out takes its table with it.
func (h *Host) Unblock(addr netip.Addr) (*Change, error) {
	return h.block(addr, false)
}

// BlockedAddresses lists the addresses in the drop sets, sorted
// (link-local ones with their link as zone).
func (h *Host) BlockedAddresses() ([]netip.Addr, error) {
	h.natMu.Lock()
	defer h.natMu.Unlock()
	conn, err := h.nft()
	if err != nil {
		return nil, fmt.Errorf("list blocked addresses: %w", err)
	}
	defer conn.CloseLasting()
	var out []netip.Addr
	for _, fam := range []blockFamily{newBlockFamily(false), newBlockFamily(true)} {
		els, err := fam.elements(conn, h)
		if err != nil {
			return nil, withPrivilegeHint(fmt.Errorf("list blocked addresses: %w", err))
		}
		out = append(out, els...)
	}
	slices.SortFunc(out, netip.Addr.Compare)
	return out, nil
}

func (h *Host) block(addr netip.Addr, add bool) (*Change, error) {
	verb := map[bool]string{true: "block", false: "unblock"}[add]
	fam, key, err := h.blockKey(addr)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", verb, err)
	}
	h.natMu.Lock()
	defer h.natMu.Unlock()
	conn, err := h.nft()
	if err != nil {
		return nil, fmt.Errorf("%s %v: %w", verb, addr, err)
	}
	defer conn.CloseLasting()
	have, err := fam.elements(conn, h)
	if err != nil {
		return nil, withPrivilegeHint(fmt.Errorf("%s %v: list: %w", verb, addr, err))
	}
	c := h.newChange()
	present := slices.Contains(have, addr)
	if present == add {
		return c, nil
	}
	set := fam.vips
	if addr.Is6() && addr.IsLinkLocalUnicast() {
		set = fam.linkLocal
	}
	if add {
		if len(have) == 0 {
			// One batch: the table with its sets, chains and rules, and
			// the address, appear together or not at all.
			fam.build(conn)
		}
		if err := conn.SetAddElements(set, []nftables.SetElement{{Key: key}}); err != nil {
			return nil, fmt.Errorf("%s %v: %w", verb, addr, err)
		}
	} else {
		if len(have) == 1 {
			conn.DelTable(fam.table)
		} else if err := conn.SetDeleteElements(set, []nftables.SetElement{{Key: key}}); err != nil {
			return nil, fmt.Errorf("%s %v: %w", verb, addr, err)
		}
	}
	if err := conn.Flush(); err != nil {
		return nil, withPrivilegeHint(fmt.Errorf("%s %v in nft table %s %s: %w", verb, addr, fam.name, BlockTable, err))
	}
	h.log.Debug("netcfg: "+verb, "addr", addr, "table", fam.name+" "+BlockTable)
	c.add(BlockChange{Addr: addr, Added: add})
	return c, nil
}

// blockKey checks addr and returns its family's tables and its set key:
// the address, and for an IPv6 link-local one the index of its link.
func (h *Host) blockKey(addr netip.Addr) (blockFamily, []byte, error) {
	if !addr.IsValid() || addr.Is4In6() || addr.IsUnspecified() || addr.IsMulticast() {
		return blockFamily{}, nil, fmt.Errorf("%v: not a unicast address", addr)
	}
	if addr.Is4() {
		if addr.Zone() != "" {
			return blockFamily{}, nil, fmt.Errorf("%v: an IPv4 address has no zone", addr)
		}
		return newBlockFamily(false), addr.AsSlice(), nil
	}
	if !addr.IsLinkLocalUnicast() {
		if addr.Zone() != "" {
			return blockFamily{}, nil, fmt.Errorf("%v: only a link-local address names its link", addr)
		}
		return newBlockFamily(true), addr.AsSlice(), nil
	}
	if addr.Zone() == "" {
		return blockFamily{}, nil, fmt.Errorf("%v: a link-local address needs its link as zone (%v%%eth0)", addr, addr)
	}
	l, err := h.link(addr.Zone())
	if err != nil {
		return blockFamily{}, nil, fmt.Errorf("%v: %w", addr, err)
	}
	a := addr.WithZone("").As16()
	return newBlockFamily(true), binary.NativeEndian.AppendUint32(a[:], uint32(l.Attrs().Index)), nil
}

// blockFamily is the table of one family and its sets.
type blockFamily struct {
	name      string
	table     *nftables.Table
	vips      *nftables.Set
	nd        *nftables.Set // IPv6: neighbour discovery, let through
	linkLocal *nftables.Set // IPv6: link-local address . interface
}

// newBlockFamily describes the table of one family, fresh for each use
// (the nftables connection numbers the sets it adds).
func newBlockFamily(ipv6 bool) blockFamily {
	if !ipv6 {
		t := &nftables.Table{Name: BlockTable, Family: nftables.TableFamilyIPv4}
		return blockFamily{name: "ip", table: t, vips: &nftables.Set{Table: t, Name: "vips", KeyType: nftables.TypeIPAddr}}
	}
	t := &nftables.Table{Name: BlockTable, Family: nftables.TableFamilyIPv6}
	return blockFamily{name: "ip6", table: t,
		vips: &nftables.Set{Table: t, Name: "vips", KeyType: nftables.TypeIP6Addr},
		nd:   &nftables.Set{Table: t, Name: "neighbor-discovery", KeyType: nftables.TypeICMP6Type, Constant: true},
		linkLocal: &nftables.Set{Table: t, Name: "vips_link_local", Concatenation: true,
			KeyType: nftables.MustConcatSetType(nftables.TypeIP6Addr, nftables.TypeIFIndex)}}
}

// elements lists the addresses in the family's sets; none when its table
// does not exist.
func (f blockFamily) elements(conn *nftables.Conn, h *Host) ([]netip.Addr, error) {
	if _, err := conn.ListTableOfFamily(BlockTable, f.table.Family); err != nil {
		if errors.Is(err, syscall.ENOENT) {
			return nil, nil
		}
		return nil, err
	}
	var out []netip.Addr
	for _, s := range []*nftables.Set{f.vips, f.linkLocal} {
		if s == nil {
			continue
		}
		els, err := conn.GetSetElements(s)
		if err != nil {
			if errors.Is(err, syscall.ENOENT) {
				continue // a table of the same name, not keepalived's layout
			}
			return nil, fmt.Errorf("list set %s: %w", s.Name, err)
		}
		for _, e := range els {
			switch {
			case len(e.Key) == 4 || len(e.Key) == 16:
				a, _ := netip.AddrFromSlice(e.Key)
				out = append(out, a)
			case len(e.Key) == 20:
				a := netip.AddrFrom16([16]byte(e.Key[:16]))
				idx := int(binary.NativeEndian.Uint32(e.Key[16:]))
				zone := fmt.Sprint(idx)
				if l, err := h.nl.LinkByIndex(idx); err == nil {
					zone = l.Attrs().Name
				}
				out = append(out, a.WithZone(zone))
			}
		}
	}
	return out, nil
}

// build queues keepalived's table of the family: its sets, its chains at
// priority filter - 1 and their rules (see BlockTable).
func (f blockFamily) build(conn *nftables.Conn) {
	t := f.table
	conn.AddTable(t)
	ipv6 := t.Family == nftables.TableFamilyIPv6
	_ = conn.AddSet(f.vips, nil)
	if ipv6 {
		_ = conn.AddSet(f.nd, []nftables.SetElement{{Key: []byte{135}}, {Key: []byte{136}}})
		_ = conn.AddSet(f.linkLocal, nil)
	}
	prio := nftables.ChainPriorityRef(*nftables.ChainPriorityFilter - 1)
	accept := nftables.ChainPolicyAccept
	out := conn.AddChain(&nftables.Chain{Name: "out", Table: t, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookOutput, Priority: prio, Policy: &accept})
	in := conn.AddChain(&nftables.Chain{Name: "in", Table: t, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookInput, Priority: prio, Policy: &accept})
	// Offsets of the source and destination address in the IP header.
	src, dst, alen := uint32(12), uint32(16), uint32(4)
	if ipv6 {
		src, dst, alen = 8, 24, 16
	}
	rule := func(c *nftables.Chain, e ...expr.Any) {
		conn.AddRule(&nftables.Rule{Table: t, Chain: c, Exprs: e})
	}
	load := func(off uint32) expr.Any {
		return &expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: off, Len: alen}
	}
	drop := &expr.Verdict{Kind: expr.VerdictDrop}
	var inLL, outLL *nftables.Chain
	if ipv6 {
		inLL = conn.AddChain(&nftables.Chain{Name: "in_link_local", Table: t})
		outLL = conn.AddChain(&nftables.Chain{Name: "out_link_local", Table: t})
	}
	for _, c := range []struct {
		chain, ll *nftables.Chain
		off       uint32
	}{{out, outLL, src}, {in, inLL, dst}} {
		if ipv6 {
			rule(c.chain,
				&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
				&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.IPPROTO_ICMPV6}},
				&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 0, Len: 1},
				&expr.Lookup{SourceRegister: 1, SetName: f.nd.Name, SetID: f.nd.ID},
				&expr.Verdict{Kind: expr.VerdictAccept})
			// fe80::/10
			rule(c.chain, append(matchPrefix(c.off, netip.MustParsePrefix("fe80::/10")),
				&expr.Verdict{Kind: expr.VerdictGoto, Chain: c.ll.Name})...)
		}
		rule(c.chain, load(c.off),
			&expr.Lookup{SourceRegister: 1, SetName: f.vips.Name, SetID: f.vips.ID}, drop)
	}
	if ipv6 {
		for _, c := range []struct {
			chain *nftables.Chain
			off   uint32
			iface expr.MetaKey
		}{{inLL, dst, expr.MetaKeyIIF}, {outLL, src, expr.MetaKeyOIF}} {
			rule(c.chain, load(c.off), &expr.Meta{Key: c.iface, Register: 2},
				&expr.Lookup{SourceRegister: 1, SetName: f.linkLocal.Name, SetID: f.linkLocal.ID}, drop)
		}
	}
}
