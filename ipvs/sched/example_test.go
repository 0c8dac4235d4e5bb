package sched_test

import (
	"fmt"
	"net/netip"

	"github.com/lvskit/lvskit/ipvs/sched"
)

// Weighted round robin with weights 3 and 1, as the kernel's wrr steps
// through them. A destination added later goes first, as in the kernel's
// list, so the slice is newest first.
func Example() {
	s, err := sched.New("wrr", 0, sched.Options{})
	if err != nil {
		panic(err)
	}
	big := sched.NewDest(netip.MustParseAddrPort("10.0.0.1:80"), 3)
	small := sched.NewDest(netip.MustParseAddrPort("10.0.0.2:80"), 1)
	s.Update([]*sched.Dest{big, small})
	client := sched.Flow{Src: netip.MustParseAddrPort("198.51.100.7:40000"), Dst: netip.MustParseAddrPort("192.0.2.10:80")}
	for range 8 {
		d := s.Pick(client)
		d.Bind(true) // the owner counts the connection ...
		fmt.Print(d.Addr.Addr(), " ")
		d.Unbind(true) // ... and releases it when it ends
	}
	fmt.Println()
	// Output: 10.0.0.1 10.0.0.1 10.0.0.1 10.0.0.2 10.0.0.1 10.0.0.1 10.0.0.1 10.0.0.2
}
