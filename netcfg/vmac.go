package netcfg

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"net"
	"net/netip"
	"strconv"
	"syscall"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// VirtualMAC is the VRRP virtual router MAC of RFC 5798 section 7.3:
// 00:00:5e:00:01:VRID for IPv4, 00:00:5e:00:02:VRID for IPv6.
func VirtualMAC(vrid uint8, ipv6 bool) net.HardwareAddr {
	if ipv6 {
		return net.HardwareAddr{0x00, 0x00, 0x5e, 0x00, 0x02, vrid}
	}
	return net.HardwareAddr{0x00, 0x00, 0x5e, 0x00, 0x01, vrid}
}

// VMAC is a macvlan interface carrying a VRRP virtual MAC, as keepalived's
// use_vmac makes it (mode private, on top of the VRRP interface).
type VMAC struct {
	// Name of the macvlan interface, for example "vrrp.51"; required.
	Name string
	// Parent is the interface it sits on; required.
	Parent string
	// VRID is the virtual router id, 1..255; used when MAC is nil.
	VRID uint8
	// IPv6 picks the IPv6 virtual MAC; used when MAC is nil.
	IPv6 bool
	// MAC overrides the address; nil means VirtualMAC(VRID, IPv6).
	MAC net.HardwareAddr
	// IPv6 VMACs only. LinkLocal is the link-local address IPv6 adverts
	// are sent from on the macvlan (keepalived's set_link_local_address):
	// zero means the parent's link-local address, or when it has none one
	// made from the parent's MAC (EUI-64). XmitBase gives the macvlan no
	// link-local address at all, for instances whose adverts leave from
	// the parent (keepalived's vmac_xmit_base, which it forces for
	// unicast peers).
	LinkLocal netip.Addr
	XmitBase  bool
}

func (v VMAC) mac() net.HardwareAddr {
	if v.MAC != nil {
		return v.MAC
	}
	return VirtualMAC(v.VRID, v.IPv6)
}

func (v VMAC) String() string {
	return fmt.Sprintf("macvlan %s on %s address %v", v.Name, v.Parent, v.mac())
}

// LinkChange is a macvlan link created (Added) or deleted.
type LinkChange struct {
	VMAC  VMAC
	Added bool
}

func (s LinkChange) String() string {
	if s.Added {
		return "create " + s.VMAC.String()
	}
	return "delete " + s.VMAC.String()
}

func (s LinkChange) undo(h *Host) error {
	if s.Added {
		_, err := h.RemoveVMAC(s.VMAC.Name)
		return err
	}
	_, err := h.AddVMAC(s.VMAC)
	return err
}

// AddVMAC creates the macvlan and sets it up, configured as keepalived
// 2.2 configures its VMACs (vrrp_vmac.c, vrrp_if_config.c):
//
//   - IPv4: on the macvlan arp_ignore=1, accept_local=1, rp_filter=0,
//     promote_secondaries=1 and IPv6 disabled; on the parent arp_ignore=1
//     and arp_filter=1 (so that only the macvlan answers ARP for the
//     VIPs), and net.ipv4.conf.all.rp_filter=0 with every interface's own
//     rp_filter raised to the old "all" value first, so that the
//     macvlan's rp_filter=0 counts while the others filter as before. The
//     parent's and "all" settings are restored when the last VMAC on the
//     parent is removed (RemoveVMAC).
//   - IPv6: no address generated from the MAC (addr_gen_mode none, as RFC
//     5798 7.4 wants the link-local not derived from the virtual MAC); the
//     link-local of VMAC.LinkLocal, the parent's, or one made from the
//     parent's MAC, added without DAD and deprecated (so that the kernel
//     does not pick it for other traffic); none with XmitBase.
//
// If an interface of that name exists already as the same macvlan (same
// parent and MAC) it is configured and set up, and the Change holds only
// what that changed; an interface of that name that is something else is
// an error.
func (h *Host) AddVMAC(v VMAC) (*Change, error) {
	if err := validLinkName(v.Name); err != nil {
		return nil, fmt.Errorf("add vmac: %w", err)
	}
	if v.MAC == nil && v.VRID == 0 {
		return nil, fmt.Errorf("add vmac %q: VRID must be 1..255", v.Name)
	}
	if v.MAC != nil && (len(v.MAC) != 6 || v.MAC[0]&1 != 0) {
		return nil, fmt.Errorf("add vmac %q: MAC %v: want a 6-byte unicast Ethernet address", v.Name, v.MAC)
	}
	parent, err := h.link(v.Parent)
	if err != nil {
		return nil, fmt.Errorf("add vmac %q: parent: %w", v.Name, err)
	}
	if v.LinkLocal.IsValid() && (!v.LinkLocal.Is6() || !v.LinkLocal.IsLinkLocalUnicast() || v.LinkLocal.Zone() != "") {
		return nil, fmt.Errorf("add vmac %q: link-local %v: want an IPv6 link-local address without zone", v.Name, v.LinkLocal)
	}
	mac := v.mac()
	ipv6 := v.IPv6
	c := h.newChange()
	var l netlink.Link
	if old, err := h.nl.LinkByName(v.Name); err == nil {
		mv, ok := old.(*netlink.Macvlan)
		if !ok || mv.Attrs().ParentIndex != parent.Attrs().Index || !bytes.Equal(mv.Attrs().HardwareAddr, mac) {
			return nil, fmt.Errorf("add vmac %q: an interface of that name exists and is not %v", v.Name, v)
		}
		l = old
	} else {
		ml := &netlink.Macvlan{
			LinkAttrs: netlink.LinkAttrs{Name: v.Name, ParentIndex: parent.Attrs().Index, HardwareAddr: mac},
			Mode:      netlink.MACVLAN_MODE_PRIVATE,
		}
		if err := h.nl.LinkAdd(ml); err != nil {
			return nil, withPrivilegeHint(fmt.Errorf("add vmac %v: %w", v, err))
		}
		c.add(LinkChange{VMAC: v, Added: true})
		if l, err = h.nl.LinkByName(v.Name); err != nil {
			return nil, c.rollback(fmt.Errorf("add vmac %q: find it: %w", v.Name, err))
		}
	}
	if err := h.configureVMAC(c, v, l, parent, ipv6); err != nil {
		return nil, c.rollback(fmt.Errorf("add vmac %q: %w", v.Name, err))
	}
	if err := h.nl.LinkSetUp(l); err != nil {
		return nil, c.rollback(withPrivilegeHint(fmt.Errorf("add vmac %q: set up: %w", v.Name, err)))
	}
	if ipv6 && !v.XmitBase {
		ll, err := h.vmacLinkLocal(v, parent)
		if err != nil {
			return nil, c.rollback(fmt.Errorf("add vmac %q: %w", v.Name, err))
		}
		a := &netlink.Addr{IPNet: &net.IPNet{IP: ll.AsSlice(), Mask: net.CIDRMask(64, 128)},
			Flags: unix.IFA_F_NODAD, PreferedLft: 0, ValidLft: math.MaxUint32}
		if err := h.nl.AddrAdd(l, a); err != nil && !errors.Is(err, syscall.EEXIST) {
			return nil, c.rollback(withPrivilegeHint(fmt.Errorf("add vmac %q: add link-local %v: %w", v.Name, ll, err)))
		}
	}
	h.log.Debug("netcfg: vmac ready", "vmac", v.String())
	return c, nil
}

// vmacParent counts the VMACs on a parent and holds what to restore on it
// when the last one goes.
type vmacParent struct {
	vmacs   int
	v4      bool // the parent's IPv4 settings are made
	restore *Change
}

// configureVMAC sets the sysctls of a VMAC (and its parent), before it is
// set up; the parent's share is recorded for RemoveVMAC to restore.
func (h *Host) configureVMAC(c *Change, v VMAC, l, parent netlink.Link, ipv6 bool) (err error) {
	set := func(ch *Change, key, val string, force bool) error {
		sc, err := h.setSysctl(key, val, force)
		if err != nil {
			return err
		}
		ch.merge(sc)
		return nil
	}
	name := v.Name
	h.vmacMu.Lock()
	defer h.vmacMu.Unlock()
	if h.vmacParents == nil {
		h.vmacParents, h.vmacOf = map[string]*vmacParent{}, map[string]string{}
	}
	pname := parent.Attrs().Name
	_, known := h.vmacOf[name]
	p := h.vmacParents[pname]
	if p == nil {
		p = &vmacParent{restore: h.newChange()}
		h.vmacParents[pname] = p
		defer func() {
			if err != nil && p.vmacs == 0 {
				delete(h.vmacParents, pname)
				p.restore.Undo()
			}
		}()
	}
	if !ipv6 && !p.v4 {
		// The parent must not answer ARP for the VIPs on the VMAC.
		for _, kv := range [][2]string{{"arp_ignore", "1"}, {"arp_filter", "1"}} {
			if err := set(p.restore, ConfKey(pname, kv[0]), kv[1], false); err != nil {
				return err
			}
		}
		if err := h.clearAllRPFilter(p.restore, name); err != nil {
			return err
		}
		p.v4 = true
	}
	// The VMAC's own settings, written explicitly (after any change to
	// "default" above, which reaches the interfaces that have not had
	// their own value written).
	if ipv6 {
		if err := set(c, ConfKey6(name, "disable_ipv6"), "0", true); err != nil {
			return err
		}
		if err := h.nl.LinkSetIP6AddrGenMode(l, 1 /* IN6_ADDR_GEN_MODE_NONE */); err != nil {
			return withPrivilegeHint(fmt.Errorf("set addr_gen_mode none: %w", err))
		}
	} else {
		for _, kv := range [][2]string{{"arp_ignore", "1"}, {"accept_local", "1"}, {"rp_filter", "0"}, {"promote_secondaries", "1"}} {
			if err := set(c, ConfKey(name, kv[0]), kv[1], true); err != nil {
				return err
			}
		}
		if err := set(c, ConfKey6(name, "disable_ipv6"), "1", true); err != nil {
			return err
		}
	}
	if !known {
		p.vmacs++
		h.vmacOf[name] = pname
	}
	return nil
}

// clearAllRPFilter is keepalived's clear_rp_filter: the effective
// rp_filter of an interface is the larger of its own and "all", so a
// VMAC's rp_filter=0 needs all=0; every interface but the VMACs first gets
// the old "all" value if its own is lower, so nothing else filters less.
// Called with vmacMu held; vmac is the VMAC being added.
func (h *Host) clearAllRPFilter(ch *Change, vmac string) error {
	all, err := h.SysctlInt(ConfKey("all", "rp_filter"))
	if err != nil || all == 0 {
		return err
	}
	links, err := h.nl.LinkList()
	if err != nil {
		return fmt.Errorf("list links: %w", err)
	}
	for _, l := range links {
		n := l.Attrs().Name
		if _, ours := h.vmacOf[n]; ours || n == vmac {
			continue
		}
		own, err := h.SysctlInt(ConfKey(n, "rp_filter"))
		if err != nil {
			continue // a link without IPv4 configuration
		}
		if own < all {
			sc, err := h.SetSysctl(ConfKey(n, "rp_filter"), strconv.Itoa(all))
			if err != nil {
				return err
			}
			ch.merge(sc)
		}
	}
	for _, k := range []string{ConfKey("default", "rp_filter"), ConfKey("all", "rp_filter")} {
		v := "0"
		if k == ConfKey("default", "rp_filter") {
			// New interfaces keep filtering as "all" made them.
			d, err := h.SysctlInt(k)
			if err != nil {
				return err
			}
			v = strconv.Itoa(max(d, all))
		}
		sc, err := h.SetSysctl(k, v)
		if err != nil {
			return err
		}
		ch.merge(sc)
	}
	return nil
}

// vmacLinkLocal picks the VMAC's IPv6 link-local address.
func (h *Host) vmacLinkLocal(v VMAC, parent netlink.Link) (netip.Addr, error) {
	if v.LinkLocal.IsValid() {
		return v.LinkLocal, nil
	}
	addrs, err := h.nl.AddrList(parent, netlink.FAMILY_V6)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("list addresses of %s: %w", parent.Attrs().Name, err)
	}
	for _, a := range addrs {
		if ip, ok := netip.AddrFromSlice(a.IP); ok && ip.IsLinkLocalUnicast() {
			return ip, nil
		}
	}
	m := parent.Attrs().HardwareAddr
	if len(m) != 6 {
		return netip.Addr{}, fmt.Errorf("parent %s has no link-local address and no MAC to make one from", parent.Attrs().Name)
	}
	return netip.AddrFrom16([16]byte{0: 0xfe, 1: 0x80, 8: m[0] ^ 2, 9: m[1], 10: m[2], 11: 0xff, 12: 0xfe, 13: m[3], 14: m[4], 15: m[5]}), nil
}

// RemoveVMAC deletes the macvlan called name. An absent one gives an
// empty Change; deleting an interface that is not a macvlan is refused.
func (h *Host) RemoveVMAC(name string) (*Change, error) {
	if err := validLinkName(name); err != nil {
		return nil, fmt.Errorf("remove vmac: %w", err)
	}
	c := h.newChange()
	l, err := h.link(name)
	if errors.Is(err, ErrLinkNotFound) {
		return c, nil
	}
	if err != nil {
		return nil, fmt.Errorf("remove vmac: %w", err)
	}
	mv, ok := l.(*netlink.Macvlan)
	if !ok {
		return nil, fmt.Errorf("remove vmac %q: it is a %s, not a macvlan", name, l.Type())
	}
	v := VMAC{Name: name}
	if p, err := h.nl.LinkByIndex(mv.Attrs().ParentIndex); err == nil {
		v.Parent = p.Attrs().Name
	}
	v.MAC = mv.Attrs().HardwareAddr
	if err := h.nl.LinkDel(l); err != nil {
		if errors.Is(err, syscall.ENODEV) {
			return c, h.releaseVMAC(name)
		}
		return nil, withPrivilegeHint(fmt.Errorf("remove vmac %q: %w", name, err))
	}
	h.log.Debug("netcfg: deleted vmac", "vmac", v.String())
	c.add(LinkChange{VMAC: v, Added: false})
	if err := h.releaseVMAC(name); err != nil {
		return c, fmt.Errorf("remove vmac %q: restore the parent's settings: %w", name, err)
	}
	return c, nil
}

// releaseVMAC forgets a VMAC; the last one on a parent restores the
// settings AddVMAC changed for it.
func (h *Host) releaseVMAC(name string) error {
	h.vmacMu.Lock()
	defer h.vmacMu.Unlock()
	pname, ok := h.vmacOf[name]
	if !ok {
		return nil
	}
	delete(h.vmacOf, name)
	p := h.vmacParents[pname]
	if p.vmacs--; p.vmacs > 0 {
		return nil
	}
	delete(h.vmacParents, pname)
	return p.restore.Undo()
}
