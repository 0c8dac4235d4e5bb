package vrrpnet_test

import (
	"context"
	"log"
	"net/netip"
	"time"

	"github.com/lvskit/lvskit/netcfg"
	"github.com/lvskit/lvskit/netcfg/vrrpnet"
	"github.com/lvskit/lvskit/vrrp"
)

// A director's VRRP instance: the VIP on eth0 as eth0:1 while MASTER,
// announced by gratuitous ARP; priority 0 and the VIP removed on return.
func Example() {
	host, err := netcfg.Open(netcfg.Config{}) // this network namespace
	if err != nil {
		log.Fatal(err)
	}
	defer host.Close()
	inst, err := vrrp.New(vrrp.Config{
		Name: "VI_1", Interface: "eth0", VRID: 51, Priority: 100,
		AdvertInterval: time.Second, AuthPass: "secret",
		VIPs:      []vrrp.VIP{{Prefix: netip.MustParsePrefix("192.168.0.253/24"), Label: "eth0:1"}},
		Network:   vrrpnet.New(host),
		Transport: vrrp.NewRawTransport(vrrp.RawConfig{}),
		Notify: vrrp.Notify{Func: func(t vrrp.Transition) {
			log.Printf("%s: %s -> %s", t.Name, t.From, t.To)
		}},
	})
	if err != nil {
		log.Fatal(err)
	}
	ctx, stop := context.WithTimeout(context.Background(), time.Minute)
	defer stop()
	if err := inst.Run(ctx); err != nil {
		log.Fatal(err)
	}
}
