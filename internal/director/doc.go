// Package director is the LVS director role of lvskit: it runs an existing
// keepalived.conf with lvskit's packages, the way keepalived runs it.
//
// # Architecture
//
// One road leads from the file to what runs, and each step is a file or
// two of this package:
//
//	keepalived.conf
//	  -> internal/keepalived     parse: typed values with positions, warnings
//	  -> Translate               translate*.go: a Plan of plain values (plan.go)
//	  -> Plan.units              unit.go: the units the plan describes
//	  -> apply                   apply.go: build every unit, then stop and start
//	  -> units                   unit_vrrp.go, unit_pool.go, unit_syncd.go,
//	                             unit_global.go
//	  -> vrrp / healthcheck / ipvs
//	  -> the IPVS backend        backend.go: ipvs.Open and its Capabilities
//
// Translate (translate.go) is a pure function of the parsed file: it
// resolves keepalived's defaults and inheritance once (weight 1, priority
// 100, delay_loop from the virtual server into each checker, global_defs
// into instances, ...) and makes the libraries' own configurations:
// vrrp.Config per vrrp_instance (translate_vrrp.go) with its trackers and
// sync groups (translate_track.go), an ipvs.Service per virtual_server or
// group address with a healthcheck.RealServer per real_server
// (translate_lvs.go) and its checks (translate_check.go), and alert.Config
// from global_defs. Every script is given its user and checked as
// keepalived checks it at load (translate_script.go, with
// internal/script): what runs is the resolved path, as that user.
// validate.go asks the libraries whether they take what was made (vrrp.Config.Validate, healthcheck.PoolConfig.Validate,
// ipvs.Service.Validate), so that a refusal is reported at its position
// before anything runs. A value keepalived corrects, or a keyword that
// lvskit parses but does not implement, gives a Warning at its position;
// an error rejects the whole file with file:line:col diagnostics
// (errors.go: Report lists both with their Severity, VerdictOf says what
// they mean for running the file). Nothing changes a Plan once it is
// built.
//
// A plan describes units (unit.go), each a small spec that is compared and
// built: the alert notifier, the global settings (no_email_faults,
// lvs_timeouts), the connection sync daemon, one healthcheck.Pool per
// virtual service, and one VRRP instance or sync group with its members.
// apply (apply.go) is the one path that runs them: starting is applying
// the plan over nothing, a reload applies the new plan over the running
// one, and stopping applies nothing over the running plan. changes says
// per unit what that does — kept, restarted, started or stopped — with
// the one equality of equal.go (positions and a checker's probe state
// left out). Every unit that starts is built, without side effects, before
// anything running is touched; a failed build leaves everything as it was.
// A panic in a unit's build, start, stop or goroutines is recovered as an
// error (logged with its stack); a unit whose start fails makes apply go
// back to the units that ran before (a failed start stops what it
// started, VRRP masters with priority 0), so nothing is left half-running.
//
// Check (check.go), which `director -t` runs, is a start short of its side
// effects: the same Load, and the same build of every unit (buildUnits) on
// stand-ins that open nothing, then discarded. What it accepts, a start
// builds; what only the host can refuse (an interface that does not
// exist) is found when the director runs.
//
// The units run on what the Director opened (director.go): the IPVS
// backend that ipvs.Open chose for Options.Backend, checked against its
// Capabilities (capabilities.go: each refused setting at its line), the
// host network (netcfg.Host) and raw VRRP sockets, one healthcheck.Table
// owning the whole IPVS table, metrics, and Options.Clock, the one clock
// of VRRP, health checks, alerts and the director's own timeouts.
// events.go turns transitions into logs, alerts and notify scripts (run,
// like every script, by internal/script);
// status.go serves /status and /metrics.
//
// What an operator reads: status.go (the Status document: VRRP instances
// with their counters and time in state, virtual servers with each real
// server's health and table entry, the sync daemon), control.go (the
// same on a Unix socket only root can open, Options.ControlSocket, which
// `director status` reads; Started and Healthy, for a service manager's
// READY and watchdog), dump.go and dump_format.go (keepalived's
// keepalived.data, .stats and .json, written by DumpData, DumpStats and
// DumpJSON as keepalived 2.2.7 writes them), compat.go (keepalived-exporter's
// and node_exporter's metric names, Options.MetricsCompat) and scripts.go
// (each vrrp_script's last result).
//
// # What runs
//
//   - VRRP instances on raw sockets (vrrp.NewRawTransport), their addresses
//     configured through netcfg.Host, with trackers (track_interface,
//     track_script, track_file through inotify, track_process), notify
//     scripts and FIFOs, and sync groups; PASS and AH authentication,
//     custom multicast groups, no_accept and vrrp_strict (translate_strict.go:
//     keepalived's corrections, and the VIPs filtered in nftables as
//     keepalived filters them);
//   - one healthcheck.Pool per virtual service, all writing through one
//     healthcheck.Table into the IPVS backend: kernel IPVS over netlink
//     where the kernel has it, else the userspace proxy (Options.Backend);
//   - e-mail alerts (internal/alert) from global_defs, honouring
//     smtp_alert per instance, sync group, virtual and real server;
//   - the kernel's connection sync daemon following the VRRP instance
//     named by lvs_sync_daemon (master while MASTER, backup otherwise);
//     a backend without it logs that it is not supported;
//   - /metrics (Prometheus) and /status (JSON) when Options.MetricsAddr is
//     set, and on the control socket when Options.ControlSocket is.
//
// The director owns the whole IPVS table of its namespace, as keepalived
// with lvs_flush does: services it was not configured with are removed at
// the first sync.
//
// # Reload and stop
//
// Reload reads the file again. A file with any error changes nothing, and
// neither does a reload whose units fail to build or panic: the running
// configuration and the VIPs stay as they were, and the reload counts as
// an error (lvskit_director_config_reloads_total{result="error"}).
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
// The rule: the director runs every file keepalived 2.2.7 runs, with
// keepalived's effective values, and reports at file:line:col every value
// it corrects or ignores, in words that say what keepalived does
// ("auth_pass truncated to 8 characters, as keepalived does"), also where
// keepalived itself says nothing (a prefix after unicast_src_ip, an
// argument after nopreempt, words after a virtual_server's port). It
// refuses a file only where keepalived stops too (a vrrp_instance without
// virtual_router_id or interface; FILE_CHECK without track_file, on which
// keepalived 2.2.7 crashes) or where running would be unsafe, and then
// says why. Translate makes keepalived's corrections of virtual servers
// (translate_corrections.go): no protocol is UDP, a virtual server
// without real servers is dropped, quorum and hysteresis are bounded, a
// duplicated real server goes. internal/compat compares all this with
// keepalived itself (make compat).
//
// What still differs, each reported by Load as a warning or an error at
// its position, never silently:
//
//   - static_ipaddress, static_routes, static_rules, virtual_rules,
//     virtual_ipaddress_excluded, route types other than unicast, route
//     tracking and the LVS notify FIFOs are ignored with a warning;
//   - track_process scans /proc every second instead of following the
//     kernel's process events (which exist only in the initial network
//     namespace);
//   - an instance with more than 255 VIPs is refused (an advert carries
//     255; keepalived moves the rest to virtual_ipaddress_excluded);
//   - under enable_script_security a script that runs as root and that
//     another user could change is an error at its position (keepalived
//     disables it and logs); a script keepalived disables for another
//     reason (no user to run as, not found, not executable) is disabled,
//     with a warning where keepalived -t reports it and in the log
//     (Plan.Notices) where keepalived only logs it; a command only a shell
//     runs ("</dev/tcp/HOST/PORT") fails every time, as with keepalived
//     where /bin/sh is dash (translate_script.go);
//   - a notification_email that is not name@domain is left out (keepalived
//     hands it to the SMTP server as written);
//   - a vrrp_sync_group of fewer than two instances is an error;
//   - a word that is not UTF-8 text, a name over 255 bytes or an interface
//     name over 15 is an error, and so is an include of anything but a
//     regular file or past the parser's bounds (keepalived.Limits);
//   - a setting the backend cannot carry is an error at its line
//     (Plan.CheckCapabilities): with the userspace backend DR, TUN,
//     fwmark, SCTP, ops and flag-3; lvs_sync_daemon on a backend without
//     the sync daemon is logged as not supported.
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
