package bgp_test

import (
	"context"
	"fmt"
	"log"
	"net/netip"
	"time"

	"github.com/lvskit/lvskit/bgp"
)

// A director announces its VIP while its service has its quorum, and on a
// graceful stop withdraws it before it drains and stops. (Here the router
// is passive and BFD is off, so that the example sends nothing anywhere;
// a real director leaves both at their defaults.)
func Example() {
	sp, err := bgp.New(bgp.Config{
		ASN:        65001,
		RouterID:   netip.MustParseAddr("192.168.0.200"),
		ListenPort: -1, // connect out only
		Peers: []bgp.Peer{{
			Address: netip.MustParseAddr("192.168.0.254"), ASN: 65000,
			Passive: true, BFD: bgp.BFD{Disable: true},
		}},
	})
	if err != nil {
		log.Fatal(err)
	}
	vip := bgp.Route{Prefix: netip.MustParsePrefix("192.168.0.253/32"), Communities: []bgp.Community{bgp.NoExport}}
	// What a pool's quorum notification calls.
	quorum := func(up bool) error {
		if up {
			return sp.Announce(vip)
		}
		return sp.Withdraw(vip.Prefix)
	}
	if err := quorum(true); err != nil {
		log.Fatal(err)
	}
	fmt.Println(vip.Prefix, sp.Status().Routes[0].State) // announced once Run starts

	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- sp.Run(ctx) }()

	// Graceful stop: withdraw, let the routers move the traffic, drain,
	// then end Run (which closes the sessions).
	wctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	if err := sp.WithdrawAll(wctx); err != nil {
		log.Print(err)
	}
	cancel()
	stop()
	if err := <-done; err != nil {
		log.Fatal(err)
	}
	fmt.Println(vip.Prefix, sp.Status().Routes[0].State)
	// Output:
	// 192.168.0.253/32 pending
	// 192.168.0.253/32 withdrawn
}
