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
// operations. Three exist:
//
//   - Netlink, the kernel's IPVS over generic netlink, in any network
//     namespace, with the sync daemon (DaemonController), timeouts, info,
//     flush and zeroing of counters besides the table;
//   - Userspace, a layer-4 proxy in this process for hosts without IPVS
//     (NAT-like forwarding only), which keeps to a share of the process's
//     open files and resets clients past it (UserspaceConfig.FDReserve);
//   - Memory, a table in memory that fails like the kernel, for tests.
//
// Open picks one: the kernel where it has IPVS, else the userspace proxy,
// logs which and why, and returns that Choice with the backend; it falls
// back only when the kernel answers ErrNotSupported, never on another
// error (a missing CAP_NET_ADMIN is returned, not hidden).
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
// # Desired state
//
// Diff(have, want) computes the fewest operations from one table to the
// other, editing in place whatever can be edited so that connections and
// counters survive; Sync dumps, diffs and applies, and a Sync of an
// unchanged table writes nothing. Errors from the kernel come back wrapped
// with what was being done: ErrExists, ErrNotFound, ErrNotSupported (a
// scheduler or persistence engine module the kernel lacks), ErrInvalid.
//
// # What the kernel backend needs
//
// CAP_NET_ADMIN in the network namespace it programs, the ip_vs module
// loaded (OpenNetlink fails with ErrNotSupported otherwise; the module
// creates the "IPVS" generic netlink family), and ip_vs_<scheduler> for
// each scheduler used (the kernel loads it on demand when modprobe can
// find it). Nothing runs ipvsadm: everything goes through one netlink
// socket.
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
