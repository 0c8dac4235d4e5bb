// Package director is the LVS director role of lvskit: it runs an existing
// keepalived.conf with lvskit's packages, the way keepalived runs it.
//
// # What it composes
//
// Load parses the file (internal/keepalived) and translates it into a Plan:
// vrrp.Config for each vrrp_instance (with global_defs defaults such as
// vrrp_version and vrrp_garp_*), sync groups, and for each virtual_server
// an ipvs.Service with its real servers and checkers, every setting
// inherited as keepalived inherits it (delay_loop, connect_timeout,
// retry, delay_before_retry, warmup, alpha, inhibit_on_failure, lb_kind
// from the virtual server into real servers and checkers). A keyword that
// lvskit parses but does not implement gives a Warning at its position;
// semantic errors (an unknown track_script, a missing
// virtual_server_group, lb_kind DR on the userspace backend, ...) reject
// the whole file with file:line:col diagnostics.
//
// A Director runs a Plan:
//
//   - VRRP instances on raw sockets (vrrp.NewRawTransport), their addresses
//     configured through netcfg.Host, with trackers, notify scripts and
//     FIFOs, and sync groups;
//   - one healthcheck.Pool per virtual service, all writing through one
//     healthcheck.Table into the IPVS backend: kernel IPVS over netlink
//     where the kernel has it, else the userspace proxy (Options.Backend);
//   - e-mail alerts (internal/alert) from global_defs, honouring
//     smtp_alert per instance, sync group, virtual and real server;
//   - the kernel's connection sync daemon following the VRRP instance
//     named by lvs_sync_daemon (master while MASTER, backup otherwise);
//     the userspace backend has none, which is logged;
//   - /metrics (Prometheus) and /status (JSON) when Options.MetricsAddr is set.
//
// The director owns the whole IPVS table of its namespace, as keepalived
// with lvs_flush does: services it was not configured with are removed at
// the first sync.
//
// # Reload and stop
//
// Reload reads the file again. A file with any error changes nothing.
// Otherwise only the difference is applied: VRRP instances (or sync
// groups) whose translated configuration is unchanged keep running without
// a flap; changed ones are restarted and removed ones stopped (a master
// sends priority 0). Pools of unchanged virtual servers keep running;
// changed ones are rebuilt, and real servers whose checks did not change
// start in the health state they had, so the IPVS Sync that follows writes
// only what differs (a weight change is one UpdateDestination).
//
// When Run's context ends the director stops gracefully: VRRP masters send
// priority 0 and remove their addresses, the IPVS services are removed, the
// sync daemon is stopped, and Run returns once every goroutine has.
//
// # Differences from keepalived
//
// Every one of these is reported by Load as a warning or an error at its
// position, never silently:
//
//   - auth_type AH is refused (only PASS);
//   - track_file works with weight 0 only (a non-zero value means FAULT),
//     read every second instead of through inotify;
//   - static_ipaddress, static_routes, static_rules, virtual_rules,
//     virtual_ipaddress_excluded, route types other than unicast, vrrp_strict,
//     custom multicast groups, script users and the LVS notify FIFOs are
//     ignored with a warning;
//   - the userspace backend cannot do DR, TUN, fwmark, SCTP or ops: with it
//     those settings are errors (Plan.CheckBackend), and lvs_sync_daemon is
//     logged as not supported.
//
// # Privileges
//
// Running needs root (CAP_NET_ADMIN for addresses and IPVS, CAP_NET_RAW
// for VRRP and gratuitous ARP). Load needs none.
//
//	d, err := director.New(director.Options{ConfigPath: "/etc/keepalived/keepalived.conf", MetricsAddr: ":9100"})
//	if err != nil { ... }
//	go func() { for range hup { d.Reload() } }()
//	err = d.Run(ctx)
package director
