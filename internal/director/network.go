package director

import (
	"context"
	"fmt"

	"github.com/lvskit/lvskit/netcfg"
	"github.com/lvskit/lvskit/vrrp"
)

// hostNetwork adapts a netcfg.Host to what a VRRP instance needs from the
// host: addresses, announcements, virtual routes and the virtual MAC.
type hostNetwork struct {
	h *netcfg.Host
}

var (
	_ vrrp.Network      = hostNetwork{}
	_ vrrp.RouteNetwork = hostNetwork{}
	_ vrrp.VMACNetwork  = hostNetwork{}
)

func (n hostNetwork) AddAddress(_ context.Context, a vrrp.Address) error {
	_, err := n.h.AddAddress(netcfg.Address{Link: a.Link, Prefix: a.Prefix, Label: a.Label})
	return err
}

func (n hostNetwork) DeleteAddress(_ context.Context, a vrrp.Address) error {
	_, err := n.h.RemoveAddress(netcfg.Address{Link: a.Link, Prefix: a.Prefix, Label: a.Label})
	return err
}

func (n hostNetwork) Announce(ctx context.Context, a vrrp.Announcement) error {
	return n.h.Announce(ctx, netcfg.Announcement{
		Link: a.Link, Addrs: a.Addrs, Count: a.Count, Interval: a.Interval, SourceMAC: a.SourceMAC,
	})
}

func (n hostNetwork) AddRoute(_ context.Context, r vrrp.Route) error {
	_, err := n.h.AddRoute(netcfg.Route{Dst: r.Dst, Gateway: r.Gateway, Link: r.Link, Table: r.Table, Metric: r.Metric})
	return err
}

func (n hostNetwork) DeleteRoute(_ context.Context, r vrrp.Route) error {
	_, err := n.h.RemoveRoute(netcfg.Route{Dst: r.Dst, Gateway: r.Gateway, Link: r.Link, Table: r.Table, Metric: r.Metric})
	return err
}

func (n hostNetwork) CreateVMAC(_ context.Context, v vrrp.VMAC) error {
	if len(v.MAC) != 6 {
		return fmt.Errorf("create vmac %s: bad virtual MAC %s", v.Name, v.MAC)
	}
	_, err := n.h.AddVMAC(netcfg.VMAC{Name: v.Name, Parent: v.Parent, VRID: v.MAC[5], IPv6: v.MAC[4] == 2})
	return err
}

func (n hostNetwork) DeleteVMAC(_ context.Context, name string) error {
	_, err := n.h.RemoveVMAC(name)
	return err
}
