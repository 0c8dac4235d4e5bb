package vrrp

import (
	"context"
	"net"
	"net/netip"
	"time"
)

// Network is what an instance needs from the host to hold its virtual
// addresses. netcfg.Host provides it through the adapter package
// netcfg/vrrpnet (vrrpnet.New(host)); tests use a fake. Each method is
// idempotent: adding an address that is present, or deleting one that is
// absent, is not an error.
type Network interface {
	// AddAddress adds a virtual address to a link.
	AddAddress(ctx context.Context, a Address) error
	// DeleteAddress removes it.
	DeleteAddress(ctx context.Context, a Address) error
	// Announce sends gratuitous ARPs (IPv4) or unsolicited neighbour
	// advertisements (IPv6) for the addresses.
	Announce(ctx context.Context, a Announcement) error
}

// RouteNetwork is also needed when Config.Routes is set (keepalived's
// virtual_routes): the routes follow the addresses.
type RouteNetwork interface {
	AddRoute(ctx context.Context, r Route) error
	DeleteRoute(ctx context.Context, r Route) error
}

// MasterItem is a piece of host configuration that follows the MASTER
// state like the addresses (Config.MasterItems): a virtual route or rule
// with every option keepalived's virtual_routes and virtual_rules take,
// in the Network's own terms (netcfg/vrrpnet takes netcfg.Route and
// netcfg.Rule values). vrrp does not look inside it; String names it in
// the instance's logs.
type MasterItem interface {
	String() string
}

// MasterItemNetwork is also needed when Config.MasterItems is set: it sets
// and removes them. Both are idempotent, like the address methods.
type MasterItemNetwork interface {
	AddMasterItem(ctx context.Context, it MasterItem) error
	DeleteMasterItem(ctx context.Context, it MasterItem) error
}

// VMACNetwork is also needed with Config.UseVMAC: a macvlan (mode private
// in keepalived, "bridge" is fine) on the interface with the virtual MAC
// 00:00:5e:00:01:VRID (IPv4) or 00:00:5e:00:02:VRID (IPv6), which then
// carries the adverts and the addresses.
type VMACNetwork interface {
	CreateVMAC(ctx context.Context, v VMAC) error
	DeleteVMAC(ctx context.Context, name string) error
}

// Address is one virtual address on a link.
type Address struct {
	Link   string       // interface name
	Prefix netip.Prefix // a bare VIP is /32 or /128
	Label  string       // IPv4 label such as "eth0:1"; empty for none
}

// Announcement asks for Count gratuitous ARPs / unsolicited NAs for each
// address, Interval apart, sent from SourceMAC (the link's own MAC when nil).
type Announcement struct {
	Link      string
	Addrs     []netip.Addr
	SourceMAC net.HardwareAddr
	Count     int
	Interval  time.Duration // garp_interval (IPv4) or gna_interval (IPv6)
}

// Route is a virtual route (keepalived's virtual_routes): Dst via Gateway
// on Link, in Table (0 = main).
type Route struct {
	Dst     netip.Prefix
	Gateway netip.Addr // zero for a link route
	Link    string
	Table   int
	Metric  int
}

// VMAC describes the virtual MAC interface to create.
type VMAC struct {
	Name   string // e.g. "vrrp.51"
	Parent string // the instance's interface
	MAC    net.HardwareAddr
	// IPv6 VMACs: LinkLocal is the address IPv6 adverts are sent from on
	// the VMAC — zero means the parent's link-local (or one made from the
	// parent's MAC) — unless XmitBase: adverts leave from the parent
	// (unicast peers) and the VMAC needs no link-local address.
	LinkLocal netip.Addr
	XmitBase  bool
}
