package keepalived

import (
	"net/netip"
	"time"
)

// Keywords of global_defs that lvskit recognises but does not implement.
var globalIgnored = set(
	"tmp_config_directory", "config_save_dir", "process_names", "process_name",
	"vrrp_process_name", "checker_process_name", "bfd_process_name",
	"startup_script", "startup_script_timeout", "shutdown_script", "shutdown_script_timeout",
	"nftables", "nftables_priority", "nftables_counters", "nftables_ifindex",
	"nftables_ipvs", "nftables_ipvs_priority", "nftables_ipvs_start_fwmark",
	"vrrp_iptables", "vrrp_ipsets", "disable_local_igmp",
	"max_auto_priority", "min_auto_priority_delay",
	"vrrp_priority", "checker_priority", "bfd_priority",
	"vrrp_no_swap", "checker_no_swap", "bfd_no_swap",
	"vrrp_cpu_affinity", "checker_cpu_affinity", "bfd_cpu_affinity",
	"vrrp_rt_priority", "checker_rt_priority", "bfd_rt_priority",
	"vrrp_rlimit_rttime", "checker_rlimit_rttime", "bfd_rlimit_rttime",
	"snmp_socket", "enable_snmp_vrrp", "enable_snmp_checker", "enable_snmp_rfc",
	"enable_snmp_rfcv2", "enable_snmp_rfcv3", "enable_snmp_keepalived", "enable_traps",
	"enable_dbus", "dbus_service_name", "fifo_write_vrrp_states_on_reload",
	"dynamic_interfaces", "vrrp_netlink_cmd_rcv_bufs", "vrrp_netlink_cmd_rcv_bufs_force",
	"vrrp_netlink_monitor_rcv_bufs", "vrrp_netlink_monitor_rcv_bufs_force",
	"lvs_netlink_cmd_rcv_bufs", "lvs_netlink_cmd_rcv_bufs_force",
	"lvs_netlink_monitor_rcv_bufs", "lvs_netlink_monitor_rcv_bufs_force",
	"process_monitor_rcv_bufs", "process_monitor_rcv_bufs_force",
	"vrrp_rx_bufs_policy", "vrrp_rx_bufs_multiplier", "umask", "log_unknown_vrids",
	"vmac_prefix", "vmac_addr_prefix", "random_seed", "reload_check_config",
	"include_check", "reload_time_file", "reload_repeat", "reload_file",
	"data_use_instance", "vrrp_garp_extra_if", "net_namespace", "net_namespace_ipvs",
	"namespace_with_ipsets", "instance", "use_pid_dir", "linkbeat_use_polling",
	"child_wait_time", "lvs_process_name", "vrrp_vmac_garp_intvl",
	"vrrp_rlimit_rtime", "checker_rlimit_rtime", "bfd_rlimit_rtime",
)

func (d *decoder) globalDefs(n *node) {
	if !d.blockOnly(n, 0, 0) {
		return
	}
	g := &d.cfg.Global
	if !g.Pos.IsValid() {
		g.Pos = n.pos
	}
	t := table{
		"router_id":                       d.str(&g.RouterID),
		"notification_email":              d.list(&g.NotificationEmail),
		"notification_email_from":         d.str(&g.NotificationEmailFrom),
		"smtp_server":                     d.smtpServer(&g.SMTPServer),
		"smtp_helo_name":                  d.str(&g.SMTPHeloName),
		"smtp_connect_timeout":            d.duration(&g.SMTPConnectTimeout),
		"smtp_alert":                      d.flag(&g.SMTPAlert),
		"smtp_alert_vrrp":                 d.flag(&g.SMTPAlertVRRP),
		"smtp_alert_checker":              d.flag(&g.SMTPAlertChecker),
		"no_email_faults":                 d.fixed(&g.NoEmailFaults, true),
		"checker_log_all_failures":        d.flag(&g.CheckerLogAllFailures),
		"no_checker_emails":               d.flag(&g.NoCheckerEmails),
		"rs_init_notifies":                d.flag(&g.RSInitNotifies),
		"default_interface":               d.str(&g.DefaultInterface),
		"lvs_sync_daemon":                 d.lvsSyncDaemon(&g.LVSSyncDaemon),
		"lvs_timeouts":                    d.lvsTimeouts(&g.LVSTimeouts),
		"lvs_flush":                       d.fixed(&g.LVSFlush, true),
		"lvs_flush_on_stop":               d.lvsFlushOnStop(&g.LVSFlushOnStop),
		"lvs_flush_onstop":                d.lvsFlushOnStop(&g.LVSFlushOnStop),
		"vrrp_mcast_group4":               d.mcastGroup(&g.VRRPMcastGroup4, false),
		"vrrp_mcast_group6":               d.mcastGroup(&g.VRRPMcastGroup6, true),
		"vrrp_garp_master_delay":          d.duration(&g.VRRPGarpMasterDelay),
		"vrrp_garp_master_repeat":         d.integer(&g.VRRPGarpMasterRepeat, 0, 255),
		"vrrp_garp_lower_prio_delay":      d.duration(&g.VRRPGarpLowerPrioDelay),
		"vrrp_garp_lower_prio_repeat":     d.integer(&g.VRRPGarpLowerPrioRepeat, 0, 255),
		"vrrp_garp_master_refresh":        d.duration(&g.VRRPGarpMasterRefresh),
		"vrrp_garp_master_refresh_repeat": d.integer(&g.VRRPGarpMasterRefreshRepeat, 0, 255),
		"vrrp_garp_interval":              d.positiveDuration(&g.VRRPGarpInterval),
		"vrrp_gna_interval":               d.positiveDuration(&g.VRRPGnaInterval),
		"vrrp_min_garp":                   d.flag(&g.VRRPMinGarp),
		"vrrp_lower_prio_no_advert":       d.flag(&g.VRRPLowerPrioNoAdvert),
		"vrrp_higher_prio_send_advert":    d.flag(&g.VRRPHigherPrioSendAdvert),
		"vrrp_version":                    d.integer(&g.VRRPVersion, 2, 3),
		"vrrp_strict":                     d.fixed(&g.VRRPStrict, true),
		"vrrp_check_unicast_src":          d.fixed(&g.VRRPCheckUnicastSrc, true),
		"vrrp_skip_check_adv_addr":        d.flag(&g.VRRPSkipCheckAdvAddr),
		"vrrp_down_timer_adverts":         d.integer(&g.VRRPDownTimerAdverts, 1, 100),
		"vrrp_startup_delay":              d.duration(&g.VRRPStartupDelay),
		"vrrp_notify_priority_changes":    d.flag(&g.VRRPNotifyPriorityChanges),
		"enable_script_security":          d.fixed(&g.EnableScriptSecurity, true),
		"script_user":                     d.user(&g.ScriptUser),
		"notify_fifo":                     d.fifo(&g.NotifyFIFO),
		"notify_fifo_script":              d.script(&g.NotifyFIFOScript),
		"vrrp_notify_fifo":                d.fifo(&g.VRRPNotifyFIFO),
		"vrrp_notify_fifo_script":         d.script(&g.VRRPNotifyFIFOScript),
		"lvs_notify_fifo":                 d.fifo(&g.LVSNotifyFIFO),
		"lvs_notify_fifo_script":          d.script(&g.LVSNotifyFIFOScript),
	}
	d.decodeBlock("global_defs", n, t, globalIgnored)
}

func (d *decoder) smtpServer(dst *Value[SMTPServer]) kwFunc {
	return func(n *node) {
		if !d.plain(n, 1, 2) {
			return
		}
		s := SMTPServer{Host: n.args[0].Text}
		if len(n.args) == 2 {
			p, ok := d.parseInt(n.name+" port", n.args[1], 1, 65535)
			if !ok {
				return
			}
			s.Port = uint16(p)
		}
		*dst = Value[SMTPServer]{V: s, Pos: n.pos}
	}
}

func (d *decoder) mcastGroup(dst *Value[netip.Addr], v6 bool) kwFunc {
	return func(n *node) {
		if !d.plain(n, 1, 1) {
			return
		}
		a, ok := d.parseAddr(n.name, n.args[0])
		if !ok {
			return
		}
		if !a.IsMulticast() || a.Is6() != v6 {
			d.ignoredf(n.args[0].Pos, n.name, "%s: %s is not an IPv%s multicast address", n.name, a, map[bool]string{false: "4", true: "6"}[v6])
			return
		}
		*dst = Value[netip.Addr]{V: a, Pos: n.pos}
	}
}

func (d *decoder) fifo(dst *Value[NotifyFIFO]) kwFunc {
	return func(n *node) {
		if !d.plain(n, 1, 3) {
			return
		}
		f := NotifyFIFO{Path: n.args[0].Text}
		if len(n.args) > 1 {
			f.User = n.args[1].Text
		}
		if len(n.args) > 2 {
			f.Group = n.args[2].Text
		}
		*dst = Value[NotifyFIFO]{V: f, Pos: n.pos}
	}
}

func (d *decoder) lvsFlushOnStop(dst *Value[bool]) kwFunc {
	return func(n *node) {
		if !d.plain(n, 0, 1) {
			return
		}
		if len(n.args) == 1 && n.args[0].Text != "VS" {
			d.ignoredf(n.args[0].Pos, n.name, "%s: unexpected argument %q (want VS or nothing)", n.name, n.args[0].Text)
			return
		}
		*dst = Value[bool]{V: true, Pos: n.pos}
	}
}

// lvsSyncDaemon: INTERFACE [[inst] INSTANCE] [id N] [maxlen N] [port N]
// [ttl N] [group ADDR].
func (d *decoder) lvsSyncDaemon(dst *Value[LVSSyncDaemon]) kwFunc {
	return func(n *node) {
		if !d.plain(n, 1, -1) {
			return
		}
		s := LVSSyncDaemon{Interface: n.args[0].Text, SyncID: -1}
		args := n.args[1:]
		for i := 0; i < len(args); i++ {
			a := args[i]
			val := func() (token, bool) {
				if i+1 >= len(args) {
					d.ignoredf(a.Pos, n.name, "%s: %s needs a value", n.name, a.Text)
					return token{}, false
				}
				i++
				return args[i], true
			}
			switch a.Text {
			case "inst":
				t, ok := val()
				if !ok {
					return
				}
				s.Instance = t.Text
			case "id":
				t, ok := val()
				if !ok {
					return
				}
				v, ok := d.parseInt(n.name+" id", t, 0, 255)
				if !ok {
					return
				}
				s.SyncID = int(v)
			case "maxlen":
				t, ok := val()
				if !ok {
					return
				}
				v, ok := d.parseInt(n.name+" maxlen", t, 1, 65507)
				if !ok {
					return
				}
				s.MaxLen = int(v)
			case "port":
				t, ok := val()
				if !ok {
					return
				}
				v, ok := d.parseInt(n.name+" port", t, 1, 65535)
				if !ok {
					return
				}
				s.Port = uint16(v)
			case "ttl":
				t, ok := val()
				if !ok {
					return
				}
				v, ok := d.parseInt(n.name+" ttl", t, 1, 255)
				if !ok {
					return
				}
				s.TTL = int(v)
			case "group":
				t, ok := val()
				if !ok {
					return
				}
				g, ok := d.parseAddr(n.name+" group", t)
				if !ok {
					return
				}
				s.Group = g
			default:
				if i == 0 && s.Instance == "" {
					// "inst" may be omitted for backward compatibility.
					s.Instance = a.Text
					continue
				}
				d.ignoredf(a.Pos, n.name, "%s: unexpected argument %q", n.name, a.Text)
				return
			}
		}
		*dst = Value[LVSSyncDaemon]{V: s, Pos: n.pos}
	}
}

// lvsTimeouts: [tcp SECS] [tcpfin SECS] [udp SECS], at least one.
func (d *decoder) lvsTimeouts(dst *Value[LVSTimeouts]) kwFunc {
	return func(n *node) {
		if !d.plain(n, 2, 6) {
			return
		}
		var lt LVSTimeouts
		for i := 0; i < len(n.args); i += 2 {
			a := n.args[i]
			var p *time.Duration
			switch a.Text {
			case "tcp":
				p = &lt.TCP
			case "tcpfin":
				p = &lt.TCPFin
			case "udp":
				p = &lt.UDP
			default:
				d.ignoredf(a.Pos, n.name, "%s: unexpected %q (want tcp, tcpfin or udp)", n.name, a.Text)
				return
			}
			if i+1 >= len(n.args) {
				d.ignoredf(a.Pos, n.name, "%s: %s needs a value", n.name, a.Text)
				return
			}
			v, ok := d.parseInt(n.name+" "+a.Text, n.args[i+1], 1, 86400*31)
			if !ok {
				return
			}
			*p = time.Duration(v) * time.Second
		}
		*dst = Value[LVSTimeouts]{V: lt, Pos: n.pos}
	}
}
