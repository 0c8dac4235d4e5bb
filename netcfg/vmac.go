package netcfg

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"syscall"

	"github.com/vishvananda/netlink"
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

// AddVMAC creates the macvlan and sets it up. If an interface of that
// name exists already as the same macvlan (same parent and MAC) it is only
// set up and the Change is empty; an interface of that name that is
// something else is an error.
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
	mac := v.mac()
	c := h.newChange()
	if l, err := h.nl.LinkByName(v.Name); err == nil {
		mv, ok := l.(*netlink.Macvlan)
		if !ok || mv.Attrs().ParentIndex != parent.Attrs().Index || !bytes.Equal(mv.Attrs().HardwareAddr, mac) {
			return nil, fmt.Errorf("add vmac %q: an interface of that name exists and is not %v", v.Name, v)
		}
		if err := h.nl.LinkSetUp(l); err != nil {
			return nil, withPrivilegeHint(fmt.Errorf("add vmac %q: set up: %w", v.Name, err))
		}
		return c, nil
	}
	ml := &netlink.Macvlan{
		LinkAttrs: netlink.LinkAttrs{Name: v.Name, ParentIndex: parent.Attrs().Index, HardwareAddr: mac},
		Mode:      netlink.MACVLAN_MODE_PRIVATE,
	}
	if err := h.nl.LinkAdd(ml); err != nil {
		return nil, withPrivilegeHint(fmt.Errorf("add vmac %v: %w", v, err))
	}
	c.add(LinkChange{VMAC: v, Added: true})
	if err := h.nl.LinkSetUp(ml); err != nil {
		return nil, c.rollback(withPrivilegeHint(fmt.Errorf("add vmac %q: set up: %w", v.Name, err)))
	}
	h.log.Debug("netcfg: created vmac", "vmac", v.String())
	return c, nil
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
			return c, nil
		}
		return nil, withPrivilegeHint(fmt.Errorf("remove vmac %q: %w", name, err))
	}
	h.log.Debug("netcfg: deleted vmac", "vmac", v.String())
	c.add(LinkChange{VMAC: v, Added: false})
	return c, nil
}
