package ipvs_test

import (
	"context"
	"fmt"
	"net/netip"

	"github.com/lvskit/lvskit/ipvs"
)

// The book's director: one virtual service on the VIP, two real servers
// in DR mode weighted 1:2. Sync writes only what differs, so the second
// call, after one weight changed, is a single update.
func ExampleSync() {
	ctx := context.Background()
	b := ipvs.NewMemory() // ipvs.Open(ctx, ipvs.OpenConfig{}) on a director
	defer b.Close()
	want := []ipvs.Service{{
		Protocol: ipvs.TCP, Addr: netip.MustParseAddr("192.168.0.253"), Port: 80, Scheduler: "wrr",
		Destinations: []ipvs.Destination{
			{Addr: netip.MustParseAddr("192.168.0.1"), Weight: 1, Forward: ipvs.DirectRoute},
			{Addr: netip.MustParseAddr("192.168.0.2"), Weight: 2, Forward: ipvs.DirectRoute},
		},
	}}
	ops, _ := ipvs.Sync(ctx, b, want)
	fmt.Println(len(ops), "operations")
	want[0].Destinations[1].Weight = 0 // drain web2
	ops, _ = ipvs.Sync(ctx, b, want)
	fmt.Println(ops)
	// Output:
	// 3 operations
	// [update destination TCP 192.168.0.253:80 -> 192.168.0.2:80]
}

func ExampleDaemonControllerOf() {
	_, err := ipvs.DaemonControllerOf(ipvs.NewMemory())
	fmt.Println(err)
	// Output: connection sync daemon with a *ipvs.Memory backend: not supported
}
