// Package netcfg configures a Linux host's network the way the book's
// cluster needs it, one network namespace at a time: virtual addresses,
// ARP sysctls, routes and rules, gratuitous ARP and unsolicited neighbour
// advertisements, a macvlan with the VRRP virtual MAC, and NAT.
//
// It does by netlink and sockets what the chapter does with ip(8),
// sysctl(8), iptables(8) and arping(8), and runs none of them.
//
// # The Host
//
// A Host is bound to one namespace: the process's own by default, or one
// named by Config.NetNS ("ip netns" name or path) or Config.NetNSHandle.
// Links, addresses, routes and rules go through a vishvananda/netlink
// handle made in that namespace; NAT through a google/nftables connection
// bound to it; sysctls through /proc/sys opened from a thread inside it
// (procfs resolves /proc/sys/net against the opening task's namespace);
// announcements through a packet socket (mdlayher/packet) created inside
// it. Threads that enter a namespace are never given back to the Go
// scheduler, so no goroutine ever runs elsewhere by accident.
//
//	h, err := netcfg.Open(netcfg.Config{NetNS: "web1"})
//	if err != nil { ... }
//	defer h.Close()
//	change, err := h.ConfigureRealServer(netip.MustParseAddr("192.168.0.253"), "eth0")
//	if err != nil { ... }
//	defer change.Undo()
//
// # Changes, idempotence and undo
//
// Every call that changes something returns a *Change: the ordered list
// of what it actually changed (SysctlChange with the old value,
// AddressChange, RouteChange, RuleChange, LinkChange, NATChange). Asking
// for what is already there is not an error and returns an empty Change;
// removing what is absent likewise. Change.Undo reverts exactly the
// recorded steps in reverse order, so "apply twice, undo the first" puts
// the namespace back as it was. Calls with several steps
// (ConfigureRealServer, ConfigureRouter, Block, AddVMAC) undo what they
// did when a later step fails: nothing is left half-applied.
//
// # The roles
//
// ConfigureRealServer puts a VIP on lo (label lo:0, /32 or /128) and sets
// arp_ignore=1, arp_announce=2 on "all" and the given interfaces, which
// is what an LVS real server in direct-routing mode needs. ConfigureRouter
// turns on forwarding and adds masquerade and DNAT rules. A director's
// VRRP instance uses AddAddress/RemoveAddress, Announce, AddRoute and
// AddVMAC; Block/Unblock implement VRRP's non-accept mode (no_accept,
// vrrp_strict) in keepalived's own nftables tables, "ip keepalived" and
// "ip6 keepalived", laid out as keepalived 2.2.7 lays them out
// (BlockTable).
//
// # Routes and rules
//
// A Route carries what `ip route add` can say and keepalived's
// static_routes / virtual_routes use: type (unicast, blackhole,
// unreachable, prohibit, throw, local), gateway or next hops (a multipath
// route, Nexthops), interface, source, metric, table, scope, protocol,
// TOS, realms, onlink, and the metrics (mtu with its lock, advmss,
// hoplimit, initcwnd, ...). A Rule carries `ip rule add`'s selectors
// (from, to, tos, fwmark, iif, oif, ipproto, sport, dport, uidrange, not)
// and its actions (look up a table, goto, nop, blackhole, unreachable,
// prohibit), with priority, realms and protocol. Route.Validate and
// Rule.Validate check one without the kernel. Rules are listed from the
// kernel's own dump, so a rule's action is never taken for another's.
//
// # NAT
//
// Rules live in an nftables table of netcfg's own, "inet lvskit", each
// tagged with a comment naming it ("lvskit: masquerade 192.168.0.0/24 out
// eth1"). netcfg finds its rules by that comment, removes exactly those
// (never another program's), and deletes the table when its last rule
// goes. `nft list ruleset` shows them.
//
// # Requirements
//
// Linux. CAP_NET_ADMIN in the namespace for every change (errors from the
// kernel's EPERM say so), CAP_SYS_ADMIN to enter a namespace other than
// the process's own. NAT needs nf_tables with the nat expressions
// (nft_nat, nft_masq, inet family, kernel 5.2 or later); the virtual MAC
// needs macvlan. No cgo, no external programs.
package netcfg
