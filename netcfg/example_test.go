package netcfg_test

import (
	"context"
	"fmt"
	"log"
	"net/netip"
	"time"

	"github.com/lvskit/lvskit/netcfg"
)

// A DR real server, as the book's web1: VIP on lo:0 and the ARP sysctls,
// undone when the service stops.
func Example_realServer() {
	h, err := netcfg.Open(netcfg.Config{NetNS: "web1"})
	if err != nil {
		log.Fatal(err)
	}
	defer h.Close()
	change, err := h.ConfigureRealServer(netip.MustParseAddr("192.168.0.253"), "eth0")
	if err != nil {
		log.Fatal(err)
	}
	defer change.Undo()
	fmt.Println(change)
}

// The book's software router: forwarding, masquerade of the inside
// network, and port 80 of the outside address forwarded to the VIP.
func Example_router() {
	h, err := netcfg.Open(netcfg.Config{NetNS: "router"})
	if err != nil {
		log.Fatal(err)
	}
	defer h.Close()
	_, err = h.ConfigureRouter(netcfg.Router{
		Masquerade: []netcfg.Masquerade{{Source: netip.MustParsePrefix("192.168.0.0/24"), OutLink: "eth1"}},
		DNAT: []netcfg.DNAT{{
			Dst: netip.MustParseAddrPort("203.0.113.1:80"),
			To:  netip.MustParseAddrPort("192.168.0.253:80"),
		}},
	})
	if err != nil {
		log.Fatal(err)
	}
}

// A new VRRP master takes the VIP and tells the LAN.
func Example_vrrpMaster() {
	h, err := netcfg.Open(netcfg.Config{})
	if err != nil {
		log.Fatal(err)
	}
	defer h.Close()
	vip := netip.MustParseAddr("192.168.0.253")
	if _, err := h.AddAddress(netcfg.Address{Link: "eth0", Prefix: netip.PrefixFrom(vip, 24), Label: "eth0:1"}); err != nil {
		log.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := h.Announce(ctx, netcfg.Announcement{Link: "eth0", Addrs: []netip.Addr{vip}, Count: 5, Interval: 100 * time.Millisecond}); err != nil {
		log.Fatal(err)
	}
}
