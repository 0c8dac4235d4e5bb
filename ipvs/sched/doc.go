// Package sched implements the Linux IPVS connection schedulers in Go:
// rr, wrr, lc, wlc, sed, nq, lblc, lblcr, dh, sh, mh, fo and ovf, with the
// sh and mh flags (fallback, port).
//
// The algorithms are reimplementations of what the kernel's ip_vs_*.c
// modules and ipvsadm(8) document, down to the details that decide which
// server a connection lands on:
//
//   - A destination with weight 0 never receives new connections.
//   - A destination whose connection count (active + inactive) reached its
//     upper threshold is "overloaded" and skipped until the count falls
//     below its lower threshold (or below 3/4 of the upper one when no
//     lower threshold is set), as ip_vs_bind_dest and ip_vs_unbind_dest
//     decide; persistence templates do not count.
//   - lc and wlc measure load as active*256 + inactive connections; sed and
//     nq as active+1; ovf and the locality schedulers' overload test use
//     active connections only.
//   - wrr steps the current weight down by the gcd of all weights, so
//     weights 3 and 1 give the sequence A A A B.
//   - sh and dh use a 256-bucket table; sh places weight consecutive
//     replicas of each server; mh is Maglev hashing with the kernel's
//     table size (4093 by default) and hsiphash keys.
//   - The order of the slice passed to Update is the kernel's list order.
//     The kernel prepends a new destination to its list, so an owner that
//     wants the same choices as the kernel passes the newest first.
//
// # Use
//
// The owner of the destinations (a proxy, or a test) creates one *Dest per
// real server, keeps its connection counters current with Bind, Unbind and
// SetActive, and calls Update whenever the set or a weight changes:
//
//	s, err := sched.New("wrr", 0, sched.Options{})
//	a := sched.NewDest(netip.MustParseAddrPort("10.0.0.1:80"), 3)
//	b := sched.NewDest(netip.MustParseAddrPort("10.0.0.2:80"), 1)
//	s.Update([]*sched.Dest{a, b})
//	d := s.Pick(sched.Flow{Src: client, Dst: vip})
//
// Every Scheduler is safe for concurrent use: Pick runs concurrently with
// other Picks and with Update. Picks do not allocate (lblc and lblcr
// allocate only when they learn a new destination address). The kernel's
// complexity is kept: rr and wrr are O(1) amortized, dh, sh and mh O(1),
// the least-connection family, fo, ovf and the locality schedulers' fallback
// O(n) over the destinations.
//
// # What the key is
//
// sh and mh hash the client (Flow.Src); dh, lblc and lblcr the connection's
// destination address (Flow.Dst), exactly as the kernel does. In a proxy the
// destination is the service address, so dh, lblc and lblcr send every
// client of one service to one server, which is what they do in the kernel
// too for a service that is not a transparent cache cluster.
package sched
