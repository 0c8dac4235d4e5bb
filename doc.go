// Package lvskit is a Go library for highly available Linux load balancers:
// what LVS and keepalived do, as packages other Go services import.
//
// # The roles
//
// A cluster built with lvskit has the roles of the classic LVS setup:
//
//   - Directors (two or more) share a virtual IP (VIP) through VRRP. The
//     MASTER holds the VIP and balances connections to the real servers
//     through IPVS, in NAT, direct-routing (DR) or tunnel mode; health
//     checks take failed real servers out of the table and put them back.
//   - A router forwards between the outside network and the cluster's and
//     NATs (masquerade out, DNAT of a public address:port in).
//   - Real servers serve the traffic. In DR mode they hold the VIP on lo
//     with arp_ignore=1 and arp_announce=2, so that only the director
//     answers ARP for it.
//
// # The packages
//
//   - [github.com/lvskit/lvskit/vrrp]: a VRRP v2 (RFC 3768) and v3
//     (RFC 5798) engine that interoperates with keepalived: a pure state
//     machine and a shell that owns the clock, the sockets and the network
//     configuration.
//   - [github.com/lvskit/lvskit/ipvs]: one model of virtual services and
//     real servers, a minimal-diff Sync, and backends: the kernel's IPVS
//     over generic netlink, a userspace L4 proxy where the kernel has no
//     IPVS, and an in-memory table for tests.
//   - [github.com/lvskit/lvskit/healthcheck]: keepalived's checkers (HTTP,
//     SSL, TCP, UDP, DNS, SMTP, ping, script, file), its retry timing, and
//     the pool logic (quorum, sorry server, inhibit_on_failure) that turns
//     check results into the wanted IPVS table.
//   - [github.com/lvskit/lvskit/netcfg]: host network configuration per
//     network namespace: VIPs, sysctls, routes and rules, gratuitous ARP and
//     unsolicited neighbour advertisements, the VRRP virtual MAC, NAT.
//
// The packages stand alone: vrrp does not import ipvs. Where one needs
// another, it declares a small interface and the other satisfies it (a
// netcfg.Host is what vrrp uses to add a VIP and announce it). The
// programs under examples/ wire them into the roles: a director that reads
// keepalived.conf, a router, a real server, and a demo that builds the
// whole cluster in network namespaces.
//
// # What it needs
//
// Linux. Changing the network (addresses, routes, sysctls, IPVS, nftables)
// needs CAP_NET_ADMIN; VRRP's raw sockets need CAP_NET_RAW. Kernel IPVS
// needs the ip_vs module and one module per scheduler (ip_vs_wrr, ...);
// without it, ipvs.Open falls back to the userspace proxy and says so.
// Everything talks to the kernel through netlink and sockets: no cgo and
// no external programs.
package lvskit
