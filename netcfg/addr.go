package netcfg

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"syscall"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Scope is an address or route scope (rtnetlink's RT_SCOPE_*).
type Scope uint8

// Scopes as ip(8) names them.
const (
	ScopeUniverse Scope = unix.RT_SCOPE_UNIVERSE // "global"
	ScopeSite     Scope = unix.RT_SCOPE_SITE
	ScopeLink     Scope = unix.RT_SCOPE_LINK
	ScopeHost     Scope = unix.RT_SCOPE_HOST
	ScopeNowhere  Scope = unix.RT_SCOPE_NOWHERE
)

func (s Scope) String() string {
	switch s {
	case ScopeUniverse:
		return "global"
	case ScopeSite:
		return "site"
	case ScopeLink:
		return "link"
	case ScopeHost:
		return "host"
	case ScopeNowhere:
		return "nowhere"
	}
	return fmt.Sprintf("scope(%d)", uint8(s))
}

// Address is an IP address on an interface, as `ip addr add PREFIX dev
// LINK label LABEL scope SCOPE` sets it.
type Address struct {
	// Link is the interface name; required. "lo" is fine (a DR real
	// server's VIP lives there).
	Link string
	// Prefix is the address with its prefix length, for example
	// 192.168.0.253/32. The address part is kept as given (host bits are
	// the point of it).
	Prefix netip.Prefix
	// Label is the IPv4 alias label, like "eth0:1" or "lo:0"; it must
	// start with Link. Empty means none. IPv6 has no labels.
	Label string
	// Scope defaults to global (zero).
	Scope Scope
	// Broadcast is the IPv4 broadcast address (`brd`); zero for none, as
	// `ip addr add` without brd (and keepalived) set it.
	Broadcast netip.Addr
	// NoPrefixRoute keeps the kernel from adding the route of the
	// address's prefix; Home, MngTmpAddr and AutoJoin are the IPv6 and
	// multicast flags of ip-address(8) of the same names. They are flags
	// of the address as set, not part of its identity.
	NoPrefixRoute, Home, MngTmpAddr, AutoJoin bool
}

func (a Address) String() string {
	s := a.Prefix.String() + " dev " + a.Link
	if a.Label != "" {
		s += " label " + a.Label
	}
	if a.Scope != ScopeUniverse {
		s += " scope " + a.Scope.String()
	}
	if a.Broadcast.IsValid() {
		s += " brd " + a.Broadcast.String()
	}
	for _, f := range []struct {
		set  bool
		name string
	}{{a.NoPrefixRoute, "noprefixroute"}, {a.Home, "home"}, {a.MngTmpAddr, "mngtmpaddr"}, {a.AutoJoin, "autojoin"}} {
		if f.set {
			s += " " + f.name
		}
	}
	return s
}

// Validate reports what AddAddress would refuse in a without asking the
// kernel (the interface is not looked up).
func (a Address) Validate() error { return a.validate() }

func (a Address) validate() error {
	if !a.Prefix.IsValid() {
		return fmt.Errorf("address %v: bad prefix (want an address with a prefix length, like 192.168.0.253/32)", a.Prefix)
	}
	ip := a.Prefix.Addr()
	switch {
	case ip.Zone() != "":
		return fmt.Errorf("address %v: bad prefix: zones are not allowed", a.Prefix)
	case ip.Is4In6():
		return fmt.Errorf("address %v: bad prefix: IPv4-mapped IPv6 address; give the IPv4 form", a.Prefix)
	case ip.IsUnspecified(), ip.IsMulticast():
		return fmt.Errorf("address %v: bad prefix: not a unicast address", a.Prefix)
	}
	if err := validLinkName(a.Link); err != nil {
		return fmt.Errorf("address %v: %w", a.Prefix, err)
	}
	if a.Label != "" {
		if ip.Is6() {
			return fmt.Errorf("address %v: label %q: IPv6 addresses have no labels", a.Prefix, a.Label)
		}
		if !strings.HasPrefix(a.Label, a.Link) {
			return fmt.Errorf("address %v: label %q must start with the interface name %q", a.Prefix, a.Label, a.Link)
		}
		if len(a.Label) > 15 {
			return fmt.Errorf("address %v: label %q is longer than 15 bytes", a.Prefix, a.Label)
		}
	}
	if a.Broadcast.IsValid() && (ip.Is6() || !a.Broadcast.Is4()) {
		return fmt.Errorf("address %v: broadcast %v: only IPv4 addresses have one", a.Prefix, a.Broadcast)
	}
	if (a.Home || a.MngTmpAddr) && !ip.Is6() {
		return fmt.Errorf("address %v: home and mngtmpaddr are IPv6 flags", a.Prefix)
	}
	return nil
}

// AddressChange is an address added (Added) or removed.
type AddressChange struct {
	Address Address
	Added   bool
}

func (s AddressChange) String() string {
	if s.Added {
		return "add address " + s.Address.String()
	}
	return "remove address " + s.Address.String()
}

func (s AddressChange) undo(h *Host) error {
	if s.Added {
		_, err := h.RemoveAddress(s.Address)
		return err
	}
	_, err := h.AddAddress(s.Address)
	return err
}

// AddAddress puts a on its interface. An address that is already there
// (same address and prefix length on that interface) is left alone and
// gives an empty Change. IPv6 addresses skip duplicate address detection,
// as keepalived's VIPs do, so they are usable at once.
func (h *Host) AddAddress(a Address) (*Change, error) {
	if err := a.validate(); err != nil {
		return nil, fmt.Errorf("add address: %w", err)
	}
	link, err := h.link(a.Link)
	if err != nil {
		return nil, fmt.Errorf("add address %v: %w", a.Prefix, err)
	}
	c := h.newChange()
	if _, found, err := h.findAddress(link, a.Prefix); err != nil {
		return nil, fmt.Errorf("add address %v: %w", a, err)
	} else if found {
		return c, nil
	}
	na := toNetlinkAddr(a)
	if err := h.nl.AddrAdd(link, na); err != nil {
		if errors.Is(err, syscall.EEXIST) {
			return c, nil // raced with someone adding it: it is there
		}
		return nil, withPrivilegeHint(fmt.Errorf("add address %v: %w", a, err))
	}
	h.log.Debug("netcfg: added address", "address", a.String())
	c.add(AddressChange{Address: a, Added: true})
	if a.Prefix.Addr().Is6() {
		h.waitIPv6Ready(link, a.Prefix.Addr())
	}
	return c, nil
}

// waitIPv6Ready waits (briefly, bounded) until the kernel has finished
// bringing up a new IPv6 address: even without DAD it does that from a
// work queue, which puts the address's local route in and, if forwarding
// is on, joins the subnet-router anycast. Returning before that would
// leave the address not yet usable, and a forwarding change racing with
// the pending work makes the kernel join that anycast twice and leave it
// once (seen on 6.x: a stray "anycast PREFIX::" route after undo).
func (h *Host) waitIPv6Ready(link netlink.Link, ip netip.Addr) {
	if link.Attrs().Flags&net.FlagUp == 0 {
		return // the kernel finishes the address when the link comes up
	}
	filter := &netlink.Route{Table: unix.RT_TABLE_LOCAL, Dst: &net.IPNet{IP: ip.AsSlice(), Mask: net.CIDRMask(128, 128)}}
	deadline := time.Now().Add(time.Second)
	for {
		rs, err := h.nl.RouteListFiltered(netlink.FAMILY_V6, filter, netlink.RT_FILTER_TABLE|netlink.RT_FILTER_DST)
		if err != nil || len(rs) > 0 {
			return
		}
		if time.Now().After(deadline) {
			h.log.Debug("netcfg: IPv6 address not ready after 1s", "address", ip.String(), "link", link.Attrs().Name)
			return
		}
		time.Sleep(time.Millisecond)
	}
}

// RemoveAddress takes the address (matched by address and prefix length
// on a.Link; label and scope are not compared) off its interface. An
// absent address gives an empty Change. The Change records the address
// as it was (label and scope included) so Undo restores it exactly.
//
// As with ip(8), removing the primary IPv4 address of a subnet also
// removes its secondaries unless net.ipv4.conf.LINK.promote_secondaries
// is set.
func (h *Host) RemoveAddress(a Address) (*Change, error) {
	if !a.Prefix.IsValid() {
		return nil, fmt.Errorf("remove address: %v: bad prefix", a.Prefix)
	}
	link, err := h.link(a.Link)
	if err != nil {
		return nil, fmt.Errorf("remove address %v: %w", a.Prefix, err)
	}
	c := h.newChange()
	have, found, err := h.findAddress(link, a.Prefix)
	if err != nil {
		return nil, fmt.Errorf("remove address %v: %w", a, err)
	}
	if !found {
		return c, nil
	}
	if err := h.nl.AddrDel(link, toNetlinkAddr(have)); err != nil {
		if errors.Is(err, syscall.EADDRNOTAVAIL) || errors.Is(err, syscall.ENOENT) {
			return c, nil
		}
		return nil, withPrivilegeHint(fmt.Errorf("remove address %v: %w", have, err))
	}
	h.log.Debug("netcfg: removed address", "address", have.String())
	c.add(AddressChange{Address: have, Added: false})
	return c, nil
}

// Addresses lists the addresses on link, or on every interface when link
// is empty, both families, in the kernel's order.
func (h *Host) Addresses(link string) ([]Address, error) {
	var l netlink.Link
	if link != "" {
		var err error
		if l, err = h.link(link); err != nil {
			return nil, fmt.Errorf("list addresses: %w", err)
		}
	}
	list, err := h.nl.AddrList(l, netlink.FAMILY_ALL)
	if err != nil {
		return nil, withPrivilegeHint(fmt.Errorf("list addresses: %w", err))
	}
	names := map[int]string{}
	out := make([]Address, 0, len(list))
	for _, na := range list {
		name, ok := names[na.LinkIndex]
		if !ok {
			if ll, err := h.nl.LinkByIndex(na.LinkIndex); err == nil {
				name = ll.Attrs().Name
			}
			names[na.LinkIndex] = name
		}
		a, ok := fromNetlinkAddr(na, name)
		if ok {
			out = append(out, a)
		}
	}
	return out, nil
}

func (h *Host) findAddress(link netlink.Link, p netip.Prefix) (Address, bool, error) {
	fam := netlink.FAMILY_V4
	if p.Addr().Is6() {
		fam = netlink.FAMILY_V6
	}
	list, err := h.nl.AddrList(link, fam)
	if err != nil {
		return Address{}, false, withPrivilegeHint(fmt.Errorf("list addresses of %q: %w", link.Attrs().Name, err))
	}
	for _, na := range list {
		a, ok := fromNetlinkAddr(na, link.Attrs().Name)
		if ok && a.Prefix == p {
			return a, true, nil
		}
	}
	return Address{}, false, nil
}

func toNetlinkAddr(a Address) *netlink.Addr {
	ip := a.Prefix.Addr()
	na := &netlink.Addr{
		IPNet: &net.IPNet{IP: ip.AsSlice(), Mask: net.CIDRMask(a.Prefix.Bits(), ip.BitLen())},
		Label: a.Label,
		Scope: int(a.Scope),
	}
	if ip.Is6() {
		na.Flags = unix.IFA_F_NODAD
	}
	if a.Broadcast.IsValid() {
		na.Broadcast = a.Broadcast.AsSlice()
	} else if ip.Is4() {
		na.Broadcast = net.IPv4zero // none: the netlink library would make one up
	}
	for _, f := range []struct {
		set  bool
		flag int
	}{{a.NoPrefixRoute, unix.IFA_F_NOPREFIXROUTE}, {a.Home, unix.IFA_F_HOMEADDRESS}, {a.MngTmpAddr, unix.IFA_F_MANAGETEMPADDR}, {a.AutoJoin, unix.IFA_F_MCAUTOJOIN}} {
		if f.set {
			na.Flags |= f.flag
		}
	}
	return na
}

func fromNetlinkAddr(na netlink.Addr, linkName string) (Address, bool) {
	if na.IPNet == nil {
		return Address{}, false
	}
	ip, ok := netip.AddrFromSlice(na.IP)
	if !ok {
		return Address{}, false
	}
	ip = ip.Unmap()
	if na.IP.To4() == nil {
		ip = netip.AddrFrom16(ip.As16())
	}
	bits, _ := na.Mask.Size()
	label := na.Label
	if label == linkName {
		label = "" // the kernel reports the interface name when there is no label
	}
	a := Address{Link: linkName, Prefix: netip.PrefixFrom(ip, bits), Label: label, Scope: Scope(na.Scope),
		NoPrefixRoute: na.Flags&unix.IFA_F_NOPREFIXROUTE != 0, Home: na.Flags&unix.IFA_F_HOMEADDRESS != 0,
		MngTmpAddr: na.Flags&unix.IFA_F_MANAGETEMPADDR != 0, AutoJoin: na.Flags&unix.IFA_F_MCAUTOJOIN != 0}
	if b, ok := netip.AddrFromSlice(na.Broadcast); ok && b.Unmap().Is4() && !b.IsUnspecified() {
		a.Broadcast = b.Unmap()
	}
	return a, true
}
