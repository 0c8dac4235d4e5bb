// Package bgp announces VIPs to routers by BGP, with BFD, so that several
// active directors can share one VIP behind the routers' ECMP.
//
// # What it does
//
// A Speaker holds BGP sessions with the configured peers — eBGP or iBGP,
// with a TCP MD5 password, eBGP multihop, any hold time — and announces
// routes to them: a VIP as a /32 or /128, with the local address of each
// session as next hop ("next-hop self"), ORIGIN IGP, and the route's
// communities, MED and (to iBGP peers) LOCAL_PREF. IPv4 routes go to the
// peers with IPv4 addresses, IPv6 routes to IPv6 peers. Routes the routers
// send are dropped: a speaker only announces.
//
// Each peer also gets a BFD session (RFC 5880, single hop as in RFC 5881)
// unless Peer.BFD.Disable is set: a router running BFD takes a dead
// director's next hop out after its detection time (3 × 100ms, say),
// where the BGP hold timer alone takes seconds. When BFD says a router is
// gone, the BGP session with it is torn down at once.
//
// What is announced is a set, changed by Announce and Withdraw or replaced
// whole by SetRoutes (which changes only the difference). A director
// announces a VIP while its service has its quorum, withdraws it when it
// loses it, and on a graceful stop calls WithdrawAll — which returns once
// the withdrawals are sent — before it drains connections and ends Run.
// Run, on its own, also withdraws everything before it closes the
// sessions.
//
// # How it is built
//
// The BGP and BFD protocols are GoBGP's (github.com/osrg/gobgp/v4,
// pkg/server) used as a library; this package is its configuration, the
// route set with its status, the session events, graceful stop and
// metrics. GoBGP's BFD covers asynchronous single-hop BFD: no
// authentication, echo, demand mode or multihop (RFC 5883), so a
// multihop peer needs BFD disabled. It sends at Peer.BFD.MinTx whatever
// the router asks, without the jitter RFC 5880 6.8.7 asks for, and does
// not check the TTL of what it receives; routers (FRR's bfdd here) work
// with it. The README says more about this choice.
//
// # Needs
//
// Listening on port 179 and BFD's UDP port 3784 needs root (or
// CAP_NET_BIND_SERVICE); MD5 signatures need CAP_NET_ADMIN. GoBGP opens
// its sockets from goroutines of its own, which may run on any OS thread,
// so a speaker uses the network namespace of its process: to speak from
// another namespace, run the process in it (ip netns exec, or
// nslab.Host.Start). For the same reason, and because both ports are
// fixed, run one Speaker per network namespace.
//
// # Use
//
//	sp, err := bgp.New(bgp.Config{
//		ASN:      65001,
//		RouterID: netip.MustParseAddr("192.168.0.200"),
//		Peers: []bgp.Peer{{
//			Address: netip.MustParseAddr("192.168.0.254"),
//			ASN:     65000,
//			BFD:     bgp.BFD{MinTx: 100 * time.Millisecond, MinRx: 100 * time.Millisecond},
//		}},
//	})
//	if err != nil { ... }
//	go sp.Run(ctx) // until ctx ends; then withdraws everything and closes the sessions
//	err = sp.Announce(bgp.Route{Prefix: netip.MustParsePrefix("192.168.0.253/32")}) // quorum up
//	err = sp.Withdraw(netip.MustParsePrefix("192.168.0.253/32"))                   // quorum lost
//
// Status reports each peer's session state and since when, flaps, BFD
// state and prefix counts, and each route's state and since when;
// NewMetrics exports the same to Prometheus.
package bgp
