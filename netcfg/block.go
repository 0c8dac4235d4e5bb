package netcfg

import (
	"fmt"
	"net/netip"

	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// Block makes the Host drop packets addressed to addr that arrive for
// local delivery, in the input chain of lvskit's nft table. It is what a
// VRRP master without accept mode does with the addresses it holds but
// does not own (keepalived's no_accept). For IPv6, neighbour solicitations
// and advertisements still pass, so the address stays resolvable.
// Blocking a blocked address changes nothing.
func (h *Host) Block(addr netip.Addr) (*Change, error) {
	specs, err := blockSpecs(addr)
	if err != nil {
		return nil, fmt.Errorf("block: %w", err)
	}
	c := h.newChange()
	// The accept rule for neighbour discovery goes in first, so the drop
	// never applies alone.
	for _, s := range specs {
		sc, err := h.addNAT(s)
		if err != nil {
			return nil, c.rollback(fmt.Errorf("block %v: %w", addr, err))
		}
		c.merge(sc)
	}
	return c, nil
}

// Unblock removes what Block(addr) added, if present.
func (h *Host) Unblock(addr netip.Addr) (*Change, error) {
	specs, err := blockSpecs(addr)
	if err != nil {
		return nil, fmt.Errorf("unblock: %w", err)
	}
	c := h.newChange()
	for i := len(specs) - 1; i >= 0; i-- {
		sc, err := h.removeNAT(specs[i])
		if err != nil {
			return nil, c.rollback(fmt.Errorf("unblock %v: %w", addr, err))
		}
		c.merge(sc)
	}
	return c, nil
}

func blockSpecs(addr netip.Addr) ([]natSpec, error) {
	if !addr.IsValid() || addr.Zone() != "" || addr.Is4In6() || addr.IsUnspecified() || addr.IsMulticast() {
		return nil, fmt.Errorf("%v: not a unicast address", addr)
	}
	if addr.Is4() {
		e := append(matchNFProto(unix.NFPROTO_IPV4), matchPrefix(16, netip.PrefixFrom(addr, 32))...)
		e = append(e, &expr.Counter{}, &expr.Verdict{Kind: expr.VerdictDrop})
		return []natSpec{{chain: filterInput, exprs: e, comment: "block " + addr.String()}}, nil
	}
	dst := matchPrefix(24, netip.PrefixFrom(addr, 128))
	nd := append(matchNFProto(unix.NFPROTO_IPV6), dst...)
	nd = append(nd,
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.IPPROTO_ICMPV6}},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 0, Len: 1},
		&expr.Range{Op: expr.CmpOpEq, Register: 1, FromData: []byte{135}, ToData: []byte{136}},
		&expr.Verdict{Kind: expr.VerdictAccept},
	)
	drop := append(matchNFProto(unix.NFPROTO_IPV6), dst...)
	drop = append(drop, &expr.Counter{}, &expr.Verdict{Kind: expr.VerdictDrop})
	return []natSpec{
		{chain: filterInput, exprs: nd, comment: "block " + addr.String() + " (let neighbour discovery pass)"},
		{chain: filterInput, exprs: drop, comment: "block " + addr.String()},
	}, nil
}
