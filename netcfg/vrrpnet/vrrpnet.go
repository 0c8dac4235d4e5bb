// Package vrrpnet lets a netcfg.Host configure the network for a VRRP
// instance: it adapts the Host to the small interfaces the vrrp package
// declares (vrrp.Network, vrrp.RouteNetwork, vrrp.MasterItemNetwork,
// vrrp.VMACNetwork, vrrp.AcceptNetwork), so that neither vrrp nor netcfg
// imports the other. Master items are netcfg.Route and netcfg.Rule values:
// virtual routes and rules with every option netcfg carries.
//
//	host, err := netcfg.Open(netcfg.Config{})
//	...
//	inst, err := vrrp.New(vrrp.Config{..., Network: vrrpnet.New(host)})
package vrrpnet

import (
	"context"
	"errors"
	"fmt"
	"net/netip"

	"github.com/lvskit/lvskit/netcfg"
	"github.com/lvskit/lvskit/vrrp"
)

// Network is a netcfg.Host seen through vrrp's interfaces.
type Network struct {
	h *netcfg.Host
}

var (
	_ vrrp.Network           = Network{}
	_ vrrp.RouteNetwork      = Network{}
	_ vrrp.MasterItemNetwork = Network{}
	_ vrrp.VMACNetwork       = Network{}
	_ vrrp.AcceptNetwork     = Network{}
)

// New returns h as a VRRP instance's network.
func New(h *netcfg.Host) Network { return Network{h: h} }

// AddAddress adds a virtual address; an address already there is fine.
func (n Network) AddAddress(_ context.Context, a vrrp.Address) error {
	_, err := n.h.AddAddress(netcfg.Address{Link: a.Link, Prefix: a.Prefix, Label: a.Label})
	return err
}

// DeleteAddress removes a virtual address; an absent one is fine.
func (n Network) DeleteAddress(_ context.Context, a vrrp.Address) error {
	_, err := n.h.RemoveAddress(netcfg.Address{Link: a.Link, Prefix: a.Prefix, Label: a.Label})
	return err
}

// Announce sends gratuitous ARPs / unsolicited neighbour advertisements.
func (n Network) Announce(ctx context.Context, a vrrp.Announcement) error {
	return n.h.Announce(ctx, netcfg.Announcement{
		Link: a.Link, Addrs: a.Addrs, Count: a.Count, Interval: a.Interval, SourceMAC: a.SourceMAC,
	})
}

func route(r vrrp.Route) netcfg.Route {
	return netcfg.Route{Dst: r.Dst, Gateway: r.Gateway, Link: r.Link, Table: r.Table, Metric: r.Metric}
}

// AddRoute adds a virtual route.
func (n Network) AddRoute(_ context.Context, r vrrp.Route) error {
	_, err := n.h.AddRoute(route(r))
	return err
}

// DeleteRoute removes a virtual route.
func (n Network) DeleteRoute(_ context.Context, r vrrp.Route) error {
	_, err := n.h.RemoveRoute(route(r))
	return err
}

// AddMasterItem adds a netcfg.Route or netcfg.Rule (a virtual route or
// rule with all its options); one already there is fine.
func (n Network) AddMasterItem(_ context.Context, it vrrp.MasterItem) error {
	var err error
	switch v := it.(type) {
	case netcfg.Route:
		_, err = n.h.AddRoute(v)
	case netcfg.Rule:
		_, err = n.h.AddRule(v)
	default:
		err = fmt.Errorf("add %s: a %T is not a netcfg.Route or netcfg.Rule", it, it)
	}
	return err
}

// DeleteMasterItem removes it; an absent one is fine.
func (n Network) DeleteMasterItem(_ context.Context, it vrrp.MasterItem) error {
	var err error
	switch v := it.(type) {
	case netcfg.Route:
		_, err = n.h.RemoveRoute(v)
	case netcfg.Rule:
		_, err = n.h.RemoveRule(v)
	default:
		err = fmt.Errorf("delete %s: a %T is not a netcfg.Route or netcfg.Rule", it, it)
	}
	return err
}

// CreateVMAC creates the macvlan carrying the VRRP virtual MAC, with the
// sysctls and IPv6 link-local address keepalived gives it (see
// netcfg.Host.AddVMAC).
func (n Network) CreateVMAC(_ context.Context, v vrrp.VMAC) error {
	if len(v.MAC) != 6 {
		return fmt.Errorf("create vmac %s: bad virtual MAC %s", v.Name, v.MAC)
	}
	_, err := n.h.AddVMAC(netcfg.VMAC{Name: v.Name, Parent: v.Parent, VRID: v.MAC[5], IPv6: v.MAC[4] == 2, MAC: v.MAC,
		LinkLocal: v.LinkLocal, XmitBase: v.XmitBase})
	return err
}

// DeleteVMAC removes it.
func (n Network) DeleteVMAC(_ context.Context, name string) error {
	_, err := n.h.RemoveVMAC(name)
	return err
}

// BlockAddresses drops traffic to and from the addresses (no_accept, and
// vrrp_strict, while master).
func (n Network) BlockAddresses(addrs []netip.Addr) error {
	var errs []error
	for _, a := range addrs {
		if _, err := n.h.Block(a); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// UnblockAddresses lets traffic to the addresses in again.
func (n Network) UnblockAddresses(addrs []netip.Addr) error {
	var errs []error
	for _, a := range addrs {
		if _, err := n.h.Unblock(a); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
