// Package ipvs programs an IP Virtual Server table — the director's data
// plane of an LVS cluster — from a description of the table you want.
//
// # The model
//
// A Service is a virtual service: TCP, UDP or SCTP on an address and port,
// or a firewall mark with an address family; its scheduler (rr, wrr, lc,
// wlc, lblc, lblcr, dh, sh, sed, nq, fo, ovf, mh) with the sh/mh flags and
// one-packet scheduling; persistence (timeout, client netmask, engine).
// Its Destinations are the real servers: address, port, weight,
// forwarding method (NAT, DR, or TUN with ipip, gue or gre encapsulation),
// connection thresholds. Validate checks them the way the kernel and
// ipvsadm do; errors wrap ErrInvalid and name the field.
//
// # Backends
//
// A Backend dumps its table (with 64-bit statistics) and applies
// operations. Four exist:
//
//   - Netlink, the kernel's IPVS over generic netlink, in any network
//     namespace, with the sync daemon (DaemonController), timeouts, info,
//     flush and zeroing of counters besides the table;
//   - NFTables, the kernel's data plane without IPVS: nftables rules and
//     maps (google/nftables' expressions, lvskit's own batch encoding) in
//     tables of its own, "lvskit_ipvs" of family ip and ip6, in any
//     network namespace;
//   - Userspace, a layer-4 proxy in this process for hosts without IPVS
//     or nf_tables (NAT-like forwarding only), which keeps to a share of
//     the process's open files and resets clients past it
//     (UserspaceConfig.FDReserve);
//   - Memory, a table in memory that fails like the kernel, for tests.
//
// What each can carry (Backend.Capabilities, CapabilitiesOf):
//
//	                      netlink          nftables               userspace      memory
//	forwarding            NAT DR TUN       NAT DR (one per svc)   NAT (proxy)    as netlink
//	protocols             TCP UDP SCTP     TCP UDP SCTP           TCP UDP        as netlink
//	IPv6, fwmark, port 0  yes              yes                    IPv6 only      as netlink
//	schedulers            all 13 (+twos)   rr wrr sh dh fo mh     all 13         as netlink
//	persistence           yes, +sip        yes (no engine)        yes            as netlink
//	one-packet            yes              no                     no             as netlink
//	thresholds            yes              no                     yes            as netlink
//	sync daemon           yes              no                     no             no
//	atomic Apply          no               yes                    no             no
//	counters              kernel's         per destination (*)    per conn       zero
//
// (*) DR: packets and bytes in, connections, active and inactive; NAT:
// packets and bytes in and out, connections, active and inactive
// (conntrack); firewall-mark and port-zero NAT services: no packet or
// byte counters.
//
// Open picks one: the kernel's IPVS where it has it, else nftables, else
// the userspace proxy; it logs which and why, and returns that Choice with
// the backend. It goes on to the next only when the kernel answers
// ErrNotSupported, never on another error (a missing CAP_NET_ADMIN is
// returned, not hidden).
//
// Each backend answers for what it can carry (Backend.Capabilities):
// forwarding methods, protocols, schedulers, firewall marks, one-packet
// scheduling, persistence, thresholds, the sync daemon. Capabilities.Check
// tells a caller before it applies anything, and Capabilities.Refusals
// lists every refused part with its Feature (so that a configuration can
// be rejected at each offending line); CapabilitiesOf answers for a kind
// without opening one. A feature a backend lacks is an error wrapping
// ErrNotSupported, never a silent downgrade.
//
// # The nftables backend
//
// NAT is DNAT in a nat chain at priority dstnat: conntrack shows it only
// the first packet of a connection and keeps the rest on the same real
// server, so a server set to weight 0 or deleted keeps its established
// connections, as with IPVS. DR, in a prerouting chain at priority raw,
// duplicates each packet to the real server's address (so to its MAC; the
// VIP stays the destination) and drops the original, as lvskit's own
// connection table remembers a flow's server: a dynamic map (flows) with
// IPVS's timeouts (TCP 900 s, 120 s after a FIN or RST, UDP 300 s),
// refreshed by every packet. Conntrack cannot do that in DR: the director
// sees one direction only, and a dropped packet's conntrack entry is never
// confirmed. So in DR a quiesced server (weight 0) gets no new flow and
// keeps every flow it has for as long as the flow keeps sending; a deleted
// server's flows are scheduled anew on their next packet (drain with
// weight 0 first, as inhibit_on_failure does). A TCP FIN or RST marks a
// flow closing: from then on its packets keep it 120 s only, and Dump
// counts it inactive. A new connection (a SYN) from the same client
// address and port as a closing flow forgets that flow and is scheduled
// anew, as IPVS does with conn_reuse_mode 1.
//
// A client on the director itself reaches a DR service through the output
// hook (output_dr), as clients elsewhere do, when the VIP is not one of
// the director's own addresses (routed to it, as behind ECMP routers). When
// the director holds the VIP, its own packets to the VIP stay on the
// director (its stack answers, or refuses), in both hooks: a real server's
// answer from the VIP would arrive at a host that holds the VIP as a
// martian and be dropped. dup's copies pass the output hook untracked and
// are let through.
//
// Schedulers: rr and wrr are a packet counter (numgen) modulo the weight
// sum, looked up in an interval map of one range per server, weights as
// the ranges' widths: wrr 3:1 is exactly 3:1 over every 4 connections. sh
// (source) and dh (destination) hash the address (sh-port: and the source
// port) with jhash into 256 buckets that hold the servers weight buckets at
// a time; a weight-0 server's buckets go to the next server, so
// sh-fallback always holds. mh looks the same kind of hash (fixed seed
// 0x4c56534b) up in lvskit's Maglev table of 65,537 slots (ipvs/sched)
// over the servers with a non-zero weight, sorted by address: every
// director given the same real servers makes the same choice, without
// state (a flow that ECMP moves to another director reaches the same
// server). When a server is removed, its flows move; a flow of another
// server that a director already carries stays, pinned by that director's
// flow table (DR) or conntrack (NAT). A new flow, or one that reaches a
// director that had not seen it, follows the new table, in which Maglev
// also moves a few slots of the servers that stay: removing one of three
// equal servers moves its 21,845 slots and 4 to 6 of the others' 43,692
// (about one flow in 10,000 of theirs). mh needs mh-port (the source
// port hashed too) to spread one client's flows. fo sends to the
// heaviest server (the first by address among equals). In DR, rr, wrr and
// fo schedule only a connection's first TCP segment (SYN); the hashes
// schedule any packet, so a flow that reaches another director (ECMP)
// still finds its server. lc, wlc, sed, nq, lblc, lblcr, ovf and twos need
// live connection counts the rules cannot see: ErrNotSupported.
//
// Persistence is a dynamic map from service and masked client address to
// the server, refreshed by each new connection. Persistence engines,
// one-packet scheduling, thresholds, TUN (nftables cannot encapsulate) and
// a service whose destinations mix NAT and DR are ErrNotSupported.
//
// One Apply is one nftables transaction: it takes effect whole or not at
// all, and a refused one leaves the previous table serving. Kernel IPVS
// cannot promise that: the netlink backend applies operations one by one.
// A Sync of an unchanged table writes nothing. The transaction is one
// nfnetlink batch sent with one sendmsg, acknowledged once (at its last
// message), each map's element additions merged into as few messages as
// 64 KiB attributes allow and placed after the rules that bind the map.
// Apply plans from the table as the last Dump or Apply left it and makes
// the batch conditional on that ruleset generation: if anything else
// committed in between (another director process, nft), the kernel
// refuses it and Apply reads the table and plans again. Dump reads the table back
// from the kernel: the services from the dispatch maps' elements and their
// comments, the destinations from the dests map, their counters from its
// per-element counters (DR: packets and bytes in and new flows; NAT:
// connections, counted at their first packet). Active and inactive
// connections: in DR from the flow table (a TCP flow is inactive once a
// FIN or RST marked it closing, a UDP flow always, as IPVS counts them);
// in NAT from conntrack over ctnetlink (github.com/ti-mo/conntrack): the
// connections conntrack DNATed to the destination, active while
// established. NAT packets and bytes: the nat chain sees only a
// connection's first packet, and conntrack forgets a connection's
// counters when it ends, so filter chains after DNAT (count_forward,
// count_input, count_output) count every packet of a DNATed connection
// into a set element of its destination, keyed by protocol, service
// address and port (conntrack's original tuple) and real server address
// and port: nat_in for the client's packets, nat_out for the answers.
// They survive the connections, as IPVS's do; firewall-mark and port-zero
// services are not counted (the original tuple does not name them).
// Deletion of a destination never resets another's counters.
//
// # Desired state
//
// Diff(have, want) computes the fewest operations from one table to the
// other, editing in place whatever can be edited so that connections and
// counters survive; Sync dumps, diffs and applies, and a Sync of an
// unchanged table writes nothing. Errors from the kernel come back wrapped
// with what was being done: ErrExists, ErrNotFound, ErrNotSupported (a
// scheduler or persistence engine module the kernel lacks), ErrInvalid.
//
// # What the kernel backends need
//
// CAP_NET_ADMIN in the network namespace it programs, the ip_vs module
// loaded (OpenNetlink fails with ErrNotSupported otherwise; the module
// creates the "IPVS" generic netlink family), and ip_vs_<scheduler> for
// each scheduler used (the kernel loads it on demand when modprobe can
// find it). Nothing runs ipvsadm: everything goes through one netlink
// socket. The nftables backend needs CAP_NET_ADMIN and nf_tables with
// nft_numgen, nft_hash, nft_dup_ipv4/6, nft_nat and conntrack, and Linux
// 5.18 or later (dynset deletion); nothing runs nft.
//
// # The shortest real use
//
//	b, _, err := ipvs.Open(ctx, ipvs.OpenConfig{Logger: logger})
//	if err != nil {
//		return err
//	}
//	defer b.Close()
//	_, err = ipvs.Sync(ctx, b, []ipvs.Service{{
//		Protocol: ipvs.TCP, Addr: netip.MustParseAddr("192.168.0.253"), Port: 80,
//		Scheduler: "wrr",
//		Destinations: []ipvs.Destination{
//			{Addr: netip.MustParseAddr("192.168.0.1"), Weight: 1, Forward: ipvs.DirectRoute},
//			{Addr: netip.MustParseAddr("192.168.0.2"), Weight: 2, Forward: ipvs.DirectRoute},
//		},
//	}})
//
// NewCollector exports the table's counters to Prometheus, labelled by
// service and destination.
package ipvs
