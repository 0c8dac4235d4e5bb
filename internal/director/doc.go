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
//	                             unit_global.go, unit_static.go
//	  -> vrrp / healthcheck / ipvs / netcfg
//	  -> the IPVS backend        backend.go: ipvs.Open and its Capabilities
//
// Translate (translate.go) is a pure function of the parsed file: it
// resolves keepalived's defaults and inheritance once (weight 1, priority
// 100, delay_loop from the virtual server into each checker, global_defs
// into instances, ...) and makes the libraries' own configurations:
// vrrp.Config per vrrp_instance (translate_vrrp.go) with its trackers and
// sync groups (translate_track.go) and virtual routes and rules
// (translate_iproute.go and translate_iprule.go, which also make
// Plan.Static of the static_* blocks), an ipvs.Service per virtual_server or
// group address with a healthcheck.RealServer per real_server
// (translate_lvs.go) and its checks (translate_check.go), and alert.Config
// from global_defs. Every script is given its user and checked as
// keepalived checks it at load (translate_script.go, with
// internal/script): what runs is the resolved path, as that user.
// validate.go asks the libraries whether they take what was made
// (vrrp.Config.Validate, healthcheck.PoolConfig.Validate,
// ipvs.Service.Validate), so that a refusal is reported at its position
// before anything runs. A value keepalived corrects, or a keyword that
// lvskit parses but does not implement, gives a Warning at its position;
// an error rejects the whole file with file:line:col diagnostics
// (errors.go: Report lists both with their Severity, VerdictOf says what
// they mean for running the file). Nothing changes a Plan once it is
// built. (The one thing Translate reads beyond the file is
// /etc/iproute2's name files, for a table, protocol or realm name that is
// not built in, as keepalived does.)
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
// READY and watchdog), dump.go, dump_format.go and dump_json.go (keepalived's
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
//   - an instance's virtual_routes and virtual_rules, with the options of
//     keepalived's iproute grammar (src, via/gw, "or" as a multipath route,
//     nexthop groups, dev, onlink, table, metric, scope, protocol, the
//     route types blackhole, unreachable, prohibit, throw and local, tos,
//     realms, mtu, advmss and the other metrics; for rules not, from, to,
//     fwmark, iif, oif, tos, ipproto, sport, dport, uidrange, realms,
//     table, goto and the blackhole, unreachable, prohibit and nop
//     actions), set while MASTER and removed otherwise
//     (translate_iproute.go, vrrp.Config.MasterItems);
//   - static_ipaddress, static_routes and static_rules, set when the
//     director starts whatever the VRRP state and removed when it stops,
//     one unit per line (unit_static.go);
//   - net_namespace: everything above runs in that namespace (netns.go);
//   - one healthcheck.Pool per virtual service, all writing through one
//     healthcheck.Table into the IPVS backend: kernel IPVS over netlink
//     where the kernel has it, else the userspace proxy (Options.Backend);
//   - e-mail alerts (internal/alert) from global_defs, honouring
//     smtp_alert per instance, sync group, virtual and real server;
//   - the kernel's connection sync daemon following the VRRP instance
//     named by lvs_sync_daemon (master while MASTER, backup otherwise);
//     a backend without it logs that it is not supported;
//   - with a bgp block, a BGP speaker (package bgp, unit_bgp.go) announcing
//     each listed address while a virtual server on it has its quorum;
//   - /metrics (Prometheus) and /status (JSON) when Options.MetricsAddr is
//     set, and on the control socket when Options.ControlSocket is.
//
// The director owns the whole IPVS table of its namespace, as keepalived
// with lvs_flush does: services it was not configured with are removed at
// the first sync.
//
// # Active-active directors: the bgp block
//
// keepalived has no BGP; lvskit adds a top-level bgp block (parsed by
// internal/keepalived/bgp.go, translated by translate_bgp.go, run by
// unit_bgp.go). Several directors then run at once, each announcing the
// VIP to the routers with itself as next hop; the routers spread the
// flows over them by ECMP, and BFD takes a dead director out in well under
// a second. VRRP instances may stand in the same file: VRRP for an
// active-passive pair, BGP for active-active.
//
//	bgp {
//	    local_as 65001               # required
//	    router_id 192.168.0.200      # required, IPv4
//	    listen_port 179              # default 179; no_listen: connect out only
//	    drain_timeout 10             # seconds, default 10
//	    community 65001:100 no-export  # attributes of every route:
//	    med 10                       #   communities, MED,
//	    local_preference 200         #   LOCAL_PREF (iBGP peers only)
//	    neighbor 192.168.0.254 {
//	        remote_as 65000          # required; = local_as is iBGP
//	        port 179
//	        local_address 192.168.0.200  # the next hop announced
//	        password secret          # TCP MD5 (RFC 2385)
//	        ebgp_multihop 2          # needs no_bfd (BFD is single-hop)
//	        hold_time 9              # seconds, default 90
//	        keepalive 3              # seconds, default hold_time/3
//	        connect_retry 1          # seconds, default 5
//	        passive
//	        description "tor-a"
//	        bfd {                    # on by default, 300 ms x 3
//	            min_rx 100           # milliseconds, as keepalived's bfd_instance
//	            min_tx 100
//	            multiplier 3
//	        }
//	        # no_bfd                 # turns BFD off
//	    }
//	    announce 192.168.0.253       # a /32 (or /128) route
//	    announce 2001:db8::253 {     # with attributes of its own
//	        med 20
//	    }
//	}
//
// Each announce names an address that virtual servers listen on. The
// route is announced while the director runs and at least one virtual
// server on that address has its quorum (healthcheck.Pool, the quorum of
// keepalived's quorum / hysteresis), and withdrawn when none has: a
// director that loses all its real servers stops attracting traffic.
// A service counts once every checker of its pool has had its first probe
// (healthcheck.Pool.Probed), and from then on while it runs: a director
// that announced on its starting view (all alive, or with alpha all dead
// but the first to answer) would schedule the flows ECMP gives it by a
// Maglev table the other directors do not share, and break them.
// Any, not all: the real servers are usually shared by every director, so
// a service that loses its quorum loses it on all of them at once, and
// requiring every service would withdraw the address from every director
// and take the healthy services on it down too. As in keepalived, real
// servers start alive unless the virtual server says alpha: without alpha
// a real server that is down counts as alive until its checker has failed
// retry+1 times, with alpha only from its first good probe (use alpha
// behind BGP). A mistake that cannot work is an error at its line: an
// address without a virtual server (fwmark services cannot be announced),
// no neighbor of the address's family, a multihop neighbor with BFD, BGP
// timers the speaker refuses. So is an unknown keyword or a bad value
// anywhere in the block: it is lvskit's own, with no keepalived behaviour
// to follow, and a setting dropped (a mistyped BFD timer left at its
// default) would run the speaker other than written. Announcing a NAT
// service, or one scheduled without a hash, is a warning (see below).
//
// On a graceful stop (SIGTERM) the BGP unit stops first: it withdraws
// every route and waits until the withdrawals are sent; then it drains:
// it waits until the withdrawn services have no active connection, or
// until none of their packets has arrived for a second (the routers send
// the flows elsewhere; a DR flow table counts a connection as active
// until it times out), or drain_timeout; then it closes the sessions and
// the rest of the director stops. A reload applies a changed bgp block by
// difference: new announce lines and attributes change the announced set
// without touching the sessions; added, removed or changed neighbors are
// started or stopped one by one (bgp.Speaker.SetPeers), the sessions with
// the others untouched; only a changed local_as, router_id or listening
// setting restarts the speaker, and with it every session (its routes are
// withdrawn first, not drained, as it announces them again at once).
//
// The data plane must let any director forward any packet of a flow,
// since an ECMP change (a director added, removed or dead) moves flows
// between them mid-connection. DR (or TUN) with the mh scheduler does:
// every director computes the same Maglev table from the same real
// servers, so a moved flow reaches the real server it had, and the reply
// goes from the real server to the client without passing a director. On
// the nftables backend mh schedules every packet, not only a SYN; on
// kernel IPVS a packet of a connection the director has not seen is
// dropped unless net.ipv4.vs.sloppy_tcp is 1, which the director sets
// when it announces a DR service scheduled by mh. Kernel IPVS also needs
// the VIP as a local address of each director (on lo, say) to see its
// packets; the nftables backend takes them in prerouting and needs none.
//
// NAT cannot be active-active behind ECMP. A NAT director rewrites the
// destination and must see the reply to rewrite its source back, so the
// real servers send their replies to a director, their default gateway:
// one director, whichever the request came through, and the replies of
// the flows the others translated reach a director with no translation
// for them. And when ECMP moves a flow, the director it moves to has no
// translation for it either: that state (conntrack, or IPVS's connection
// table) lives on the director that had the flow. Full NAT, which also
// rewrites the source to the director's own address so that replies come
// back to the director that translated them, mends the reply path but not
// the moved flow, unless the directors share their connection state; IPVS
// has no full NAT. DR keeps no state that a moved flow needs.
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
// only what differs (a weight change is one UpdateDestination). Of the
// static_* lines, only those that changed are removed and added.
//
// When Run's context ends the director stops gracefully: the BGP routes
// are withdrawn and the services drained (above), VRRP masters send
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
//   - virtual_ipaddress_excluded, the LVS notify FIFOs and
//     net_namespace_ipvs are ignored with a warning;
//   - of the iproute lines, the route types broadcast, anycast, multicast
//     and nat, the route options pref, vrf, expires, encap, ttl-propagate
//     and append, a lock on a metric other than mtu, the rule options
//     suppress_prefixlength, suppress_ifgroup, nat, tun_id and l3mdev, the
//     static address options peer and preferred_lft, and track_group are
//     ignored with a warning;
//   - addresses, routes and rules are not tracked: one that someone else
//     deletes is not put back, and does not take an instance out of
//     MASTER (as if every line had no_track, except that no_track keeps a
//     route's or rule's own protocol, as in keepalived); Load warns only
//     about a route without an interface, as keepalived does (it cannot
//     track that one either);
//   - a static line, when the director stops or a reload drops it, undoes
//     what it set: an address, route or rule that was there before the
//     director stays (keepalived deletes it; no warning);
//   - "via A or B dev X" is set as a multipath route over A and B on X,
//     with keepalived's warning that "or" is deprecated (keepalived 2.2.7
//     fails to set that line: the kernel answers EINVAL);
//   - with net_namespace, the metrics server and e-mail alerts stay in the
//     director's own namespace, and a bgp block is an error (GoBGP opens
//     its sockets from goroutines of its own: run the director inside the
//     namespace instead);
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
