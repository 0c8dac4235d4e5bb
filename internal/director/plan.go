package director

import (
	"cmp"
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/lvskit/lvskit/healthcheck"
	"github.com/lvskit/lvskit/internal/alert"
	"github.com/lvskit/lvskit/internal/keepalived"
	"github.com/lvskit/lvskit/ipvs"
	"github.com/lvskit/lvskit/vrrp"
)

// Warning is a keyword of the configuration that lvskit understands but
// does not implement; it has no effect.
type Warning = keepalived.Warning

// Diagnostic is one positioned problem in a configuration.
type Diagnostic = keepalived.Diagnostic

// ConfigError lists every semantic error of a configuration, in file
// order. The configuration is rejected as a whole.
type ConfigError struct {
	Diagnostics []Diagnostic
}

func (e *ConfigError) Error() string {
	lines := make([]string, len(e.Diagnostics))
	for i, d := range e.Diagnostics {
		lines[i] = d.String()
	}
	return strings.Join(lines, "\n")
}

// Diagnostics returns the positioned errors inside err: the parser's and
// the director's. An error of another kind gives one diagnostic without a
// position.
func Diagnostics(err error) []Diagnostic {
	switch e := err.(type) {
	case nil:
		return nil
	case *ConfigError:
		return e.Diagnostics
	case *keepalived.ParseError:
		return e.Diagnostics
	}
	if pe, ok := unwrapAs[*keepalived.ParseError](err); ok {
		return pe.Diagnostics
	}
	if ce, ok := unwrapAs[*ConfigError](err); ok {
		return ce.Diagnostics
	}
	return []Diagnostic{{Msg: err.Error()}}
}

// Plan is a keepalived.conf translated into lvskit configurations, with
// keepalived's defaults and inheritance resolved. Nothing in it runs; a
// Director turns it into running instances and pools, and on reload
// compares two plans to apply only what changed.
type Plan struct {
	// Source is the file the plan was loaded from.
	Source   string
	RouterID string

	Instances      []InstancePlan
	SyncGroups     []SyncGroupPlan
	VirtualServers []VirtualServerPlan

	// Alert is the e-mail configuration; nil when global_defs has no
	// smtp_server or no notification_email.
	Alert *AlertPlan
	// NoEmailFaults suppresses alerts of transitions to FAULT.
	NoEmailFaults bool

	// SyncDaemon is lvs_sync_daemon (or an instance's
	// lvs_sync_daemon_interface); nil when not configured.
	SyncDaemon *SyncDaemonPlan

	// LVSTimeouts are global_defs lvs_timeouts; zero fields are unchanged.
	LVSTimeouts ipvs.Timeouts

	// KernelOnly lists the settings that need kernel IPVS (DR, TUN,
	// fwmark, SCTP, ...): with the userspace backend each is an error.
	KernelOnly []Diagnostic
}

// InstancePlan is one vrrp_instance.
type InstancePlan struct {
	Pos keepalived.Pos
	// VRRP is the instance's configuration without the run-time parts
	// (Network, Transport, Clock, Logger, Metrics, Notify.Func, Trackers).
	VRRP vrrp.Config
	// Tracks become VRRP.Trackers when the instance starts.
	Tracks []TrackPlan
	// Priority is the configured priority (VRRP.Priority, defaulted).
	Priority int
	// SMTPAlert says whether transitions are mailed.
	SMTPAlert bool
	// SyncGroup is the vrrp_sync_group the instance belongs to, if any.
	SyncGroup string
}

// TrackPlan is one tracker of an instance.
type TrackPlan struct {
	Kind   string // "interface" or "script"
	Name   string
	Weight int
	// Interface is the link of an interface tracker.
	Interface string
	// Script is the program of a script tracker.
	Script vrrp.ScriptConfig
	// File and Reverse are a file tracker's (track_file with weight 0):
	// down while the file holds a non-zero number (zero with Reverse).
	File    string
	Reverse bool
}

// SyncGroupPlan is one vrrp_sync_group.
type SyncGroupPlan struct {
	Pos       keepalived.Pos
	Name      string
	Members   []string
	Notify    vrrp.Notify
	SMTPAlert bool
}

// VirtualServerPlan is one IPVS service with its real servers: a
// virtual_server block, or one address of a virtual_server_group.
type VirtualServerPlan struct {
	Pos         keepalived.Pos
	Service     ipvs.Service
	RealServers []RealServerPlan
	Quorum      int64
	Hysteresis  int64
	SorryServer *healthcheck.SorryServer
	Omega       bool
	SMTPAlert   bool
	// QuorumUp and QuorumDown are quorum_up / quorum_down: programs run
	// (without a shell) when the quorum is gained or lost.
	QuorumUp, QuorumDown []string
}

// RealServerPlan is one real_server block with its checkers resolved.
type RealServerPlan struct {
	Pos              keepalived.Pos
	Addr             netip.Addr
	Port             uint16
	Weight           int32
	Forward          ipvs.Forward
	TunnelType       ipvs.TunnelType
	TunnelPort       uint16
	TunnelFlags      ipvs.TunnelFlags
	UpperThreshold   uint32
	LowerThreshold   uint32
	InhibitOnFailure bool
	SMTPAlert        bool
	// NotifyUp and NotifyDown are notify_up / notify_down: programs run
	// (without a shell) when the server becomes alive or dead.
	NotifyUp, NotifyDown []string
	Checks               []CheckPlan
}

// CheckPlan is one checker of a real server with its inherited policy.
type CheckPlan struct {
	Pos     keepalived.Pos
	Kind    keepalived.CheckerType
	Policy  healthcheck.Policy
	Checker healthcheck.Checker
}

// AlertPlan is the e-mail configuration of global_defs.
type AlertPlan struct {
	RouterID       string
	From           string
	To             []string
	Server         string
	HeloName       string
	ConnectTimeout time.Duration
}

// SyncDaemonPlan is the connection sync daemon configuration.
type SyncDaemonPlan struct {
	// Instance is the VRRP instance the daemon follows; empty runs both a
	// master and a backup daemon.
	Instance string
	Daemon   ipvs.SyncDaemon
}

// alertConfig turns the plan into the notifier's configuration.
func (a *AlertPlan) config() alert.Config {
	return alert.Config{
		RouterID:       a.RouterID,
		From:           a.From,
		To:             a.To,
		Server:         a.Server,
		HeloName:       a.HeloName,
		ConnectTimeout: a.ConnectTimeout,
	}
}

// Key is the service's identity.
func (v *VirtualServerPlan) Key() ipvs.ServiceKey { return v.Service.Key() }

// DestinationKey is the real server's identity within its service.
func (r *RealServerPlan) DestinationKey(svcPort uint16) ipvs.DestinationKey {
	p := r.Port
	if p == 0 {
		p = svcPort
	}
	return ipvs.DestinationKey{Addr: r.Addr, Port: p}
}

// fingerprint is a text form of everything that makes an instance behave
// differently; positions are left out so that moving a block in the file
// is not a change.
func (p *InstancePlan) fingerprint() string {
	c := p.VRRP
	return fmt.Sprintf("%+v|%+v|%d|%v|%s", c, p.Tracks, p.Priority, p.SMTPAlert, p.SyncGroup)
}

func (g *SyncGroupPlan) fingerprint() string {
	return fmt.Sprintf("%s|%q|%+v|%v", g.Name, g.Members, g.Notify, g.SMTPAlert)
}

// checksFingerprint describes a real server's checks.
func (r *RealServerPlan) checksFingerprint() string {
	var b strings.Builder
	for _, c := range r.Checks {
		js, err := json.Marshal(c.Checker)
		if err != nil {
			js = []byte(fmt.Sprintf("%#v", c.Checker))
		}
		fmt.Fprintf(&b, "%s %T %s %+v;", c.Kind, c.Checker, js, c.Policy)
	}
	return b.String()
}

func (r *RealServerPlan) fingerprint() string {
	return fmt.Sprintf("%s|%d|%d|%d|%d|%d|%v|%v|%q|%q|%s", r.Addr, r.Port, r.Weight, r.Forward,
		r.UpperThreshold, r.LowerThreshold, r.InhibitOnFailure, r.SMTPAlert, r.NotifyUp, r.NotifyDown, r.checksFingerprint())
}

func (v *VirtualServerPlan) fingerprint() string {
	var b strings.Builder
	s := v.Service
	s.Destinations = nil
	fmt.Fprintf(&b, "%+v|%d|%d|%+v|%v|%v|%q|%q;", s, v.Quorum, v.Hysteresis, v.SorryServer, v.Omega, v.SMTPAlert, v.QuorumUp, v.QuorumDown)
	for i := range v.RealServers {
		b.WriteString(v.RealServers[i].fingerprint())
		b.WriteByte(';')
	}
	return b.String()
}

// Load reads a keepalived.conf and translates it. hostname is the
// config-id compared with @host conditionals (empty: none kept). The
// warnings list every keyword that has no effect in lvskit, with its
// position. A configuration with any error is rejected whole: the error
// lists every problem as file:line:col (see Diagnostics).
func Load(path, hostname string) (*Plan, []Warning, error) {
	cfg, warns, err := keepalived.ParseFile(path, keepalived.Options{Host: hostname})
	if err != nil {
		return nil, warns, fmt.Errorf("load %s: %w", path, err)
	}
	p, w2, err := Translate(cfg, path)
	warns = append(warns, w2...)
	if err != nil {
		return nil, warns, fmt.Errorf("load %s: %w", path, err)
	}
	return p, warns, nil
}

// Translate turns a parsed configuration into a Plan, as Load does.
func Translate(cfg *keepalived.Config, source string) (*Plan, []Warning, error) {
	t := &translator{cfg: cfg, plan: &Plan{Source: source}}
	t.global()
	t.instances()
	t.syncGroups()
	t.syncDaemon()
	t.virtualServers()
	t.statics()
	if len(t.errs) == 0 {
		t.validate()
	}
	sortByPos(t.warns, func(w Warning) keepalived.Pos { return w.Pos })
	t.warns = slices.Compact(t.warns) // a block used twice warns once
	sortByPos(t.errs, func(d Diagnostic) keepalived.Pos { return d.Pos })
	if len(t.errs) > 0 {
		return nil, t.warns, &ConfigError{Diagnostics: t.errs}
	}
	return t.plan, t.warns, nil
}

// sortByPos orders items by file, line and column, keeping the order of
// items at the same place.
func sortByPos[T any](items []T, pos func(T) keepalived.Pos) {
	slices.SortStableFunc(items, func(a, b T) int {
		pa, pb := pos(a), pos(b)
		if c := cmp.Compare(pa.File, pb.File); c != 0 {
			return c
		}
		if c := cmp.Compare(pa.Line, pb.Line); c != 0 {
			return c
		}
		return cmp.Compare(pa.Col, pb.Col)
	})
}

type translator struct {
	cfg   *keepalived.Config
	plan  *Plan
	warns []Warning
	errs  []Diagnostic
}

func (t *translator) errorf(p keepalived.Pos, format string, args ...any) {
	t.errs = append(t.errs, Diagnostic{Pos: p, Msg: fmt.Sprintf(format, args...)})
}

// unimplemented warns about keyword at p (when p is a position in a file).
func (t *translator) unimplemented(p keepalived.Pos, keyword, why string) {
	if !p.IsValid() {
		return
	}
	msg := fmt.Sprintf("keyword %q is not implemented by the lvskit director and is ignored", keyword)
	if why != "" {
		msg += " (" + why + ")"
	}
	t.warns = append(t.warns, Warning{Pos: p, Keyword: keyword, Msg: msg})
}

func posOf[T any](v keepalived.Value[T]) keepalived.Pos { return v.Pos }

func (t *translator) global() {
	g := &t.cfg.Global
	t.plan.RouterID = g.RouterID.Or("")
	t.plan.NoEmailFaults = g.NoEmailFaults.V
	if g.SMTPServer.Set() && len(g.NotificationEmail) > 0 {
		a := &AlertPlan{
			RouterID:       g.RouterID.V,
			From:           g.NotificationEmailFrom.V,
			HeloName:       g.SMTPHeloName.V,
			ConnectTimeout: g.SMTPConnectTimeout.Or(alert.DefaultConnectTimeout),
		}
		port := g.SMTPServer.V.Port
		if port == 0 {
			port = alert.DefaultPort
		}
		host := g.SMTPServer.V.Host
		if ip, err := netip.ParseAddr(host); err == nil {
			a.Server = netip.AddrPortFrom(ip, port).String()
		} else {
			a.Server = host + ":" + strconv.Itoa(int(port))
		}
		for _, to := range g.NotificationEmail {
			a.To = append(a.To, to.V)
		}
		t.plan.Alert = a
	} else {
		if g.SMTPServer.Set() {
			t.unimplemented(g.SMTPServer.Pos, "smtp_server", "no notification_email: no alerts are sent")
		}
		for _, e := range g.NotificationEmail {
			t.unimplemented(e.Pos, "notification_email", "no smtp_server: no alerts are sent")
			break
		}
	}
	if lt := g.LVSTimeouts; lt.Set() {
		t.plan.LVSTimeouts = ipvs.Timeouts{TCP: lt.V.TCP, TCPFin: lt.V.TCPFin, UDP: lt.V.UDP}
	}
	t.unimplemented(posOf(g.CheckerLogAllFailures), "checker_log_all_failures", "")
	t.unimplemented(posOf(g.RSInitNotifies), "rs_init_notifies", "")
	t.unimplemented(posOf(g.LVSFlushOnStop), "lvs_flush_onstop", "the director always removes its services on stop")
	t.unimplemented(posOf(g.VRRPMcastGroup4), "vrrp_mcast_group4", "adverts go to 224.0.0.18")
	t.unimplemented(posOf(g.VRRPMcastGroup6), "vrrp_mcast_group6", "adverts go to ff02::12")
	t.unimplemented(posOf(g.VRRPMinGarp), "vrrp_min_garp", "")
	t.unimplemented(posOf(g.VRRPHigherPrioSendAdvert), "vrrp_higher_prio_send_advert", "")
	t.unimplemented(posOf(g.VRRPStrict), "vrrp_strict", "")
	t.unimplemented(posOf(g.VRRPDownTimerAdverts), "vrrp_down_timer_adverts", "the master-down interval is 3 adverts")
	t.unimplemented(posOf(g.VRRPStartupDelay), "vrrp_startup_delay", "")
	t.unimplemented(posOf(g.VRRPNotifyPriorityChanges), "vrrp_notify_priority_changes", "")
	t.unimplemented(posOf(g.EnableScriptSecurity), "enable_script_security", "scripts run as the director's user")
	t.unimplemented(posOf(g.ScriptUser), "script_user", "scripts run as the director's user")
	t.unimplemented(posOf(g.NotifyFIFOScript), "notify_fifo_script", "")
	t.unimplemented(posOf(g.VRRPNotifyFIFOScript), "vrrp_notify_fifo_script", "")
	t.unimplemented(posOf(g.LVSNotifyFIFO), "lvs_notify_fifo", "")
	t.unimplemented(posOf(g.LVSNotifyFIFOScript), "lvs_notify_fifo_script", "")
	if f := g.NotifyFIFO; f.Set() && (f.V.User != "" || f.V.Group != "") {
		t.unimplemented(f.Pos, "notify_fifo", "the FIFO's user and group are not changed")
	}
	if f := g.VRRPNotifyFIFO; f.Set() && (f.V.User != "" || f.V.Group != "") {
		t.unimplemented(f.Pos, "vrrp_notify_fifo", "the FIFO's user and group are not changed")
	}
}

// smtpDefault is keepalived's choice of an object's smtp_alert: its own
// setting, else the global one for its kind, else smtp_alert, else off.
func smtpDefault(own keepalived.Value[bool], kind, all keepalived.Value[bool]) bool {
	switch {
	case own.Set():
		return own.V
	case kind.Set():
		return kind.V
	case all.Set():
		return all.V
	}
	return false
}

func scriptArgv(s keepalived.Value[keepalived.Script]) []string {
	if !s.Set() || len(s.V.Argv) == 0 {
		return nil
	}
	return append([]string(nil), s.V.Argv...)
}

func (t *translator) instances() {
	g := &t.cfg.Global
	scripts := map[string]*keepalived.VRRPScript{}
	for i := range t.cfg.Scripts {
		scripts[t.cfg.Scripts[i].Name] = &t.cfg.Scripts[i]
	}
	for i := range t.cfg.Instances {
		in := &t.cfg.Instances[i]
		c := vrrp.Config{
			Name:           in.Name,
			Interface:      in.Interface.V,
			Version:        in.Version.Or(g.VRRPVersion.Or(0)),
			Priority:       in.Priority.Or(100),
			AdvertInterval: in.AdvertInt.Or(time.Second),
			NoPreempt:      in.NoPreempt.V,
			PreemptDelay:   in.PreemptDelay.V,
		}
		if v := in.VirtualRouterID; v.V < 1 || v.V > 255 {
			t.errorf(v.Pos, "virtual_router_id: %d is out of range 1..255", v.V)
		} else {
			c.VRID = uint8(v.V)
		}
		if c.Priority < 1 || c.Priority > 255 {
			t.errorf(in.Priority.Pos, "priority: %d is out of range 1..255", c.Priority)
		}
		if a := in.Authentication; a.Set() {
			switch strings.ToUpper(a.V.Type) {
			case "PASS":
				c.AuthPass = a.V.Pass
				if c.Version == 3 {
					t.unimplemented(a.Pos, "authentication", "VRRP version 3 has no authentication")
					c.AuthPass = ""
				}
			default:
				t.errorf(a.Pos, "authentication: auth_type %s is not supported by lvskit (only PASS)", a.V.Type)
			}
		}
		for _, a := range in.VirtualIPAddresses {
			c.VIPs = append(c.VIPs, vrrp.VIP{Prefix: a.Prefix, Link: a.Dev, Label: a.Label})
			t.vipOptions(a)
		}
		if len(in.VirtualIPAddresses) == 0 {
			t.errorf(in.Pos, "vrrp_instance %q: no virtual_ipaddress", in.Name)
		}
		for _, a := range in.VirtualIPAddressesExcl {
			t.unimplemented(a.Pos, "virtual_ipaddress_excluded", "")
		}
		for _, r := range in.VirtualRoutes {
			if vr, ok := t.route(r); ok {
				c.Routes = append(c.Routes, vr)
			}
		}
		for _, r := range in.VirtualRules {
			t.unimplemented(r.Pos, "virtual_rules", "")
		}
		if in.UnicastSrcIP.Set() {
			c.Source = in.UnicastSrcIP.V
		} else if in.McastSrcIP.Set() {
			c.Source = in.McastSrcIP.V
		}
		t.unimplemented(posOf(in.McastDstIP), "mcast_dst_ip", "adverts go to the VRRP group")
		if in.UnicastPeerBlock.IsValid() {
			c.Unicast = true
			for _, p := range in.UnicastPeers {
				c.UnicastPeers = append(c.UnicastPeers, p.Addr)
				t.unimplemented(p.MinTTL.Pos, "min_ttl", "")
				t.unimplemented(p.MaxTTL.Pos, "max_ttl", "")
			}
			if len(in.UnicastPeers) == 0 {
				t.errorf(in.UnicastPeerBlock, "unicast_peer: the list is empty")
			}
		}
		t.unimplemented(posOf(in.UnicastTTL), "unicast_ttl", "")
		c.CheckUnicastSource = in.CheckUnicastSrc.Or(g.VRRPCheckUnicastSrc.V)
		if in.Accept.Set() && !in.Accept.V {
			t.unimplemented(in.Accept.Pos, "no_accept", "the director runs in accept mode")
		}
		c.LowerPrioNoAdvert = in.LowerPrioNoAdvert.Or(g.VRRPLowerPrioNoAdvert.V)
		c.SkipCheckAdvAddr = in.SkipCheckAdvAddr.Or(g.VRRPSkipCheckAdvAddr.V)
		c.GARPMasterDelay = garpDelay(in.GarpMasterDelay, g.VRRPGarpMasterDelay)
		c.GARPMasterRepeat = in.GarpMasterRepeat.Or(g.VRRPGarpMasterRepeat.V)
		c.GARPMasterRefresh = in.GarpMasterRefresh.Or(g.VRRPGarpMasterRefresh.V)
		c.GARPMasterRefreshRepeat = in.GarpMasterRefreshRepeat.Or(g.VRRPGarpMasterRefreshRepeat.V)
		c.GARPLowerPrioDelay = garpDelay(in.GarpLowerPrioDelay, g.VRRPGarpLowerPrioDelay)
		c.GARPLowerPrioRepeat = in.GarpLowerPrioRepeat.Or(g.VRRPGarpLowerPrioRepeat.V)
		c.GARPInterval = g.VRRPGarpInterval.V
		c.GNAInterval = g.VRRPGnaInterval.V
		if v := in.UseVMAC; v.Set() {
			c.UseVMAC = true
			c.VMACName = v.V.Name
			if v.V.MAC != "" {
				t.unimplemented(v.Pos, "use_vmac", "a custom MAC is not supported; the VRRP virtual MAC is used")
			}
		}
		c.VMACXmitBase = in.VMACXmitBase.V
		t.unimplemented(posOf(in.NativeIPv6), "native_ipv6", "")
		t.unimplemented(posOf(in.DownTimerAdverts), "down_timer_adverts", "")
		t.unimplemented(posOf(in.HigherPrioSendAdvert), "higher_prio_send_advert", "")
		t.unimplemented(posOf(in.StrictMode), "strict_mode", "")
		t.unimplemented(posOf(in.PromoteSecondaries), "promote_secondaries", "")
		t.unimplemented(posOf(in.TrackSrcIP), "track_src_ip", "")
		t.unimplemented(posOf(in.NotifyDeleted), "notify_deleted", "")
		t.unimplemented(posOf(in.NotifyMasterRxLowerPri), "notify_master_rx_lower_pri", "")
		t.unimplemented(posOf(in.NotifyPriorityChanges), "notify_priority_changes", "")
		t.unimplemented(posOf(in.UnicastFaultNoPeer), "unicast_fault_no_peer", "an empty unicast_peer list is an error")
		// "state" as keepalived 2.2.7 treats it (vrrp_complete_instance,
		// vrrp_init_state): only an address owner starts as MASTER; state
		// MASTER makes an unset priority 255 and clears nopreempt and
		// preempt_delay (with keepalived's warnings); a non-owner starts as
		// BACKUP either way. vrrp.Config.InitialState does that.
		if in.State.Set() {
			switch in.State.V {
			case keepalived.StateMaster:
				c.InitialState = vrrp.StateMaster
				if !in.Priority.Set() {
					c.Priority = vrrp.PriorityOwner
				}
				if c.NoPreempt {
					t.warns = append(t.warns, Warning{Pos: in.NoPreempt.Pos, Keyword: "nopreempt",
						Msg: "nopreempt will not work with initial state MASTER - clearing (as keepalived does)"})
				}
				if c.PreemptDelay > 0 {
					t.warns = append(t.warns, Warning{Pos: in.PreemptDelay.Pos, Keyword: "preempt_delay",
						Msg: "preempt delay will not work with initial state MASTER - clearing (as keepalived does)"})
				}
			case keepalived.StateBackup:
				c.InitialState = vrrp.StateBackup
			}
		}
		c.Notify = vrrp.Notify{
			Script: scriptArgv(in.Notify),
			Master: scriptArgv(in.NotifyMaster),
			Backup: scriptArgv(in.NotifyBackup),
			Fault:  scriptArgv(in.NotifyFault),
			Stop:   scriptArgv(in.NotifyStop),
		}
		if f := g.VRRPNotifyFIFO; f.Set() {
			c.Notify.FIFO = f.V.Path
		} else if f := g.NotifyFIFO; f.Set() {
			c.Notify.FIFO = f.V.Path
		}

		ip := InstancePlan{Pos: in.Pos, Priority: c.Priority,
			SMTPAlert: smtpDefault(in.SMTPAlert, g.SMTPAlertVRRP, g.SMTPAlert)}
		if !in.DontTrackPrimary.V && c.Interface != "" {
			ip.Tracks = append(ip.Tracks, TrackPlan{Kind: "interface", Name: c.Interface, Interface: c.Interface})
		}
		for _, r := range in.TrackInterfaces {
			ip.Tracks = append(ip.Tracks, TrackPlan{Kind: "interface", Name: r.Name, Interface: r.Name, Weight: r.Weight.V})
			if r.Reverse {
				t.unimplemented(r.Pos, "reverse", "track_interface weight reverse")
			}
		}
		ip.Tracks = append(ip.Tracks, t.trackScripts(in.TrackScripts, scripts, true)...)
		ip.Tracks = append(ip.Tracks, t.trackFiles(in.TrackFiles, true)...)
		ip.VRRP = c
		t.plan.Instances = append(t.plan.Instances, ip)
	}
}

// garpDelay maps keepalived's delay (0 = none) onto vrrp's (0 = default,
// negative = none).
func garpDelay(own, global keepalived.Value[time.Duration]) time.Duration {
	v := own
	if !v.Set() {
		v = global
	}
	if !v.Set() {
		return 0
	}
	if v.V == 0 {
		return -1
	}
	return v.V
}

// trackScripts resolves track_script entries; without weights (a sync
// group's tracking without sync_group_tracking_weight) every failure is a
// FAULT, as in keepalived.
func (t *translator) trackScripts(refs []keepalived.TrackRef, scripts map[string]*keepalived.VRRPScript, weights bool) []TrackPlan {
	var out []TrackPlan
	for _, r := range refs {
		s := scripts[r.Name]
		if s == nil {
			t.errorf(r.Pos, "track_script: no vrrp_script named %q", r.Name)
			continue
		}
		if tp, ok := t.script(s, r); ok {
			if !weights {
				tp.Weight = 0
			}
			out = append(out, tp)
		}
	}
	return out
}

// trackFiles resolves track_file entries. keepalived adds the file's value
// times the weight to the priority; lvskit's trackers are up or down, so
// only weight 0 (a non-zero value means FAULT) is implemented.
func (t *translator) trackFiles(refs []keepalived.TrackRef, weights bool) []TrackPlan {
	files := map[string]*keepalived.TrackFile{}
	for i := range t.cfg.TrackFiles {
		files[t.cfg.TrackFiles[i].Name] = &t.cfg.TrackFiles[i]
	}
	var out []TrackPlan
	for _, r := range refs {
		f := files[r.Name]
		if f == nil {
			t.errorf(r.Pos, "track_file: no track_file named %q", r.Name)
			continue
		}
		w := f.Weight.Or(1)
		if r.Weight.Set() {
			w = r.Weight.V
		}
		if !weights {
			w = 0
		}
		if w != 0 {
			t.warns = append(t.warns, Warning{Pos: r.Pos, Keyword: "track_file",
				Msg: fmt.Sprintf("track_file %q: weight %d is not implemented by the lvskit director (only weight 0: a non-zero value means FAULT); the tracker is ignored", r.Name, w)})
			continue
		}
		if !f.File.Set() {
			t.errorf(f.Pos, "track_file %q: missing file", f.Name)
			continue
		}
		t.unimplemented(posOf(f.InitFile), "init_file", "")
		out = append(out, TrackPlan{Kind: "file", Name: r.Name, File: f.File.V, Reverse: f.Reverse.V != r.Reverse})
	}
	return out
}

func (t *translator) script(s *keepalived.VRRPScript, r keepalived.TrackRef) (TrackPlan, bool) {
	if !s.Script.Set() || len(s.Script.V.Argv) == 0 {
		t.errorf(s.Pos, "vrrp_script %q: missing script", s.Name)
		return TrackPlan{}, false
	}
	w := s.Weight.V
	if r.Weight.Set() {
		w = r.Weight.V
	}
	if s.Reverse.V || r.Reverse {
		w = -w
	}
	t.unimplemented(posOf(s.User), "user", "scripts run as the director's user")
	return TrackPlan{Kind: "script", Name: s.Name, Weight: w, Script: vrrp.ScriptConfig{
		Path:     s.Script.V.Argv[0],
		Args:     append([]string(nil), s.Script.V.Argv[1:]...),
		Interval: s.Interval.Or(time.Second),
		Timeout:  s.Timeout.V,
		Rise:     s.Rise.V,
		Fall:     s.Fall.V,
		InitFail: s.InitFail.V,
	}}, true
}

func (t *translator) vipOptions(a keepalived.IPAddress) {
	opt := func(set bool, name string) {
		if set {
			t.warns = append(t.warns, Warning{Pos: a.Pos, Keyword: "virtual_ipaddress",
				Msg: fmt.Sprintf("virtual_ipaddress: option %q is not implemented by the lvskit director and is ignored", name)})
		}
	}
	opt(a.Broadcast != "", "brd")
	opt(a.Scope != "" && a.Scope != "global", "scope")
	opt(a.Peer.IsValid(), "peer")
	opt(a.Home, "home")
	opt(a.NoDAD, "nodad")
	opt(a.MngTmpAddr, "mngtmpaddr")
	opt(a.NoPrefixRoute, "noprefixroute")
	opt(a.AutoJoin, "autojoin")
	opt(a.NoTrack, "no_track")
	opt(a.UseVMAC, "use_vmac")
	opt(a.PreferredLft != "", "preferred_lft")
	opt(a.TrackGroup != "", "track_group")
}

func (t *translator) route(r keepalived.Route) (vrrp.Route, bool) {
	out := vrrp.Route{Dst: r.Dst, Gateway: r.Via, Link: r.Dev, Metric: r.Metric.V}
	switch r.Table {
	case "", "main":
	default:
		n, err := strconv.Atoi(r.Table)
		if err != nil || n < 0 {
			t.errorf(r.Pos, "virtual_routes: table %q: only numeric tables and main are supported", r.Table)
			return out, false
		}
		out.Table = n
	}
	if r.Type != "" {
		t.warns = append(t.warns, Warning{Pos: r.Pos, Keyword: "virtual_routes",
			Msg: fmt.Sprintf("virtual_routes: route type %q is not implemented by the lvskit director; the route is ignored", r.Type)})
		return out, false
	}
	opt := func(set bool, name string) {
		if set {
			t.warns = append(t.warns, Warning{Pos: r.Pos, Keyword: "virtual_routes",
				Msg: fmt.Sprintf("virtual_routes: option %q is not implemented by the lvskit director and is ignored", name)})
		}
	}
	opt(r.Src.IsValid(), "src")
	opt(r.Or.IsValid(), "or")
	opt(r.Scope != "", "scope")
	opt(r.Protocol != "", "protocol")
	opt(r.OnLink, "onlink")
	opt(r.NoTrack, "no_track")
	opt(r.TrackGroup != "", "track_group")
	return out, true
}

func (t *translator) syncGroups() {
	g := &t.cfg.Global
	scripts := map[string]*keepalived.VRRPScript{}
	for i := range t.cfg.Scripts {
		scripts[t.cfg.Scripts[i].Name] = &t.cfg.Scripts[i]
	}
	member := map[string]string{}
	for _, sg := range t.cfg.SyncGroups {
		p := SyncGroupPlan{Pos: sg.Pos, Name: sg.Name,
			SMTPAlert: smtpDefault(sg.SMTPAlert, g.SMTPAlertVRRP, g.SMTPAlert),
			Notify: vrrp.Notify{
				Script: scriptArgv(sg.Notify),
				Master: scriptArgv(sg.NotifyMaster),
				Backup: scriptArgv(sg.NotifyBackup),
				Fault:  scriptArgv(sg.NotifyFault),
				Stop:   scriptArgv(sg.NotifyStop),
			}}
		for _, m := range sg.Group {
			p.Members = append(p.Members, m.V)
			member[m.V] = sg.Name
		}
		// A sync group's trackers apply to every member; their weights
		// count only with sync_group_tracking_weight.
		weights := sg.SyncGroupTrackingWeight.V
		var tracks []TrackPlan
		for _, r := range sg.TrackInterfaces {
			w := r.Weight.V
			if !weights {
				w = 0
			}
			tracks = append(tracks, TrackPlan{Kind: "interface", Name: r.Name, Interface: r.Name, Weight: w})
		}
		tracks = append(tracks, t.trackScripts(sg.TrackScripts, scripts, weights)...)
		tracks = append(tracks, t.trackFiles(sg.TrackFiles, weights)...)
		for _, m := range p.Members {
			for i := range t.plan.Instances {
				if t.plan.Instances[i].VRRP.Name == m {
					t.plan.Instances[i].Tracks = append(t.plan.Instances[i].Tracks, tracks...)
				}
			}
		}
		t.unimplemented(posOf(sg.NotifyPriorityChanges), "notify_priority_changes", "")
		t.unimplemented(posOf(sg.GlobalTracking), "global_tracking", "")
		t.plan.SyncGroups = append(t.plan.SyncGroups, p)
	}
	for i := range t.plan.Instances {
		t.plan.Instances[i].SyncGroup = member[t.plan.Instances[i].VRRP.Name]
	}
}

func (t *translator) syncDaemon() {
	g := &t.cfg.Global
	if s := g.LVSSyncDaemon; s.Set() {
		d := &SyncDaemonPlan{Instance: s.V.Instance, Daemon: ipvs.SyncDaemon{
			Interface:  s.V.Interface,
			MaxLen:     uint16(s.V.MaxLen),
			McastGroup: s.V.Group,
			McastPort:  s.V.Port,
			McastTTL:   uint8(s.V.TTL),
		}}
		switch {
		case s.V.SyncID >= 0:
			d.Daemon.SyncID = uint8(s.V.SyncID)
		case s.V.Instance != "":
			for _, in := range t.plan.Instances {
				if in.VRRP.Name == s.V.Instance {
					d.Daemon.SyncID = in.VRRP.VRID
				}
			}
		}
		t.plan.SyncDaemon = d
		return
	}
	for i := range t.cfg.Instances {
		in := &t.cfg.Instances[i]
		if !in.LVSSyncDaemonInterface.Set() {
			continue
		}
		if t.plan.SyncDaemon != nil {
			t.errorf(in.LVSSyncDaemonInterface.Pos, "lvs_sync_daemon_interface: already set by vrrp_instance %q", t.plan.SyncDaemon.Instance)
			continue
		}
		vrid := 0
		if in.VirtualRouterID.V >= 1 && in.VirtualRouterID.V <= 255 {
			vrid = in.VirtualRouterID.V
		}
		t.plan.SyncDaemon = &SyncDaemonPlan{Instance: in.Name, Daemon: ipvs.SyncDaemon{
			Interface: in.LVSSyncDaemonInterface.V, SyncID: uint8(vrid)}}
	}
}

func (t *translator) statics() {
	for _, a := range t.cfg.StaticIPAddresses {
		t.unimplemented(a.Pos, "static_ipaddress", "")
	}
	for _, r := range t.cfg.StaticRoutes {
		t.unimplemented(r.Pos, "static_routes", "")
	}
	for _, r := range t.cfg.StaticRules {
		t.unimplemented(r.Pos, "static_rules", "")
	}
}

// forward maps lb_kind onto IPVS.
func (t *translator) forward(f keepalived.Value[keepalived.Forwarding], what string) (ipvs.Forward, ipvs.TunnelType, uint16, ipvs.TunnelFlags) {
	switch f.V.Method {
	case "", "NAT":
		return ipvs.Masquerade, 0, 0, 0
	case "DR":
		t.plan.KernelOnly = append(t.plan.KernelOnly, Diagnostic{Pos: f.Pos, Msg: what + " DR needs kernel IPVS (the userspace backend forwards like NAT only)"})
		return ipvs.DirectRoute, 0, 0, 0
	case "TUN":
		t.plan.KernelOnly = append(t.plan.KernelOnly, Diagnostic{Pos: f.Pos, Msg: what + " TUN needs kernel IPVS (the userspace backend forwards like NAT only)"})
		var tt ipvs.TunnelType
		switch f.V.TunnelType {
		case "gue":
			tt = ipvs.TunnelGUE
		case "gre":
			tt = ipvs.TunnelGRE
		}
		var fl ipvs.TunnelFlags
		switch f.V.Checksum {
		case "csum":
			fl = ipvs.TunnelCsum
		case "remcsum":
			fl = ipvs.TunnelRemoteCsum
		}
		return ipvs.Tunnel, tt, f.V.TunnelPort, fl
	}
	t.errorf(f.Pos, "%s: unknown forwarding method %q", what, f.V.Method)
	return ipvs.Masquerade, 0, 0, 0
}

func (t *translator) virtualServers() {
	groups := map[string]*keepalived.VirtualServerGroup{}
	for i := range t.cfg.VirtualServerGroups {
		groups[t.cfg.VirtualServerGroups[i].Name] = &t.cfg.VirtualServerGroups[i]
	}
	seen := map[ipvs.ServiceKey]keepalived.Pos{}
	for i := range t.cfg.VirtualServers {
		vs := &t.cfg.VirtualServers[i]
		base, ok := t.virtualServer(vs)
		if !ok {
			continue
		}
		var keys []ipvs.Service
		switch {
		case vs.Group != "":
			g := groups[vs.Group]
			if g == nil {
				t.errorf(vs.Pos, "virtual_server: no virtual_server_group named %q", vs.Group)
				continue
			}
			for _, e := range g.Entries {
				keys = append(keys, t.groupEntry(base.Service, e)...)
			}
		default:
			keys = append(keys, base.Service)
		}
		for _, svc := range keys {
			p := base
			p.Service = svc
			if err := svc.Validate(); err != nil {
				t.errorf(vs.Pos, "virtual_server %s: %v", svc.String(), err)
				continue
			}
			if old, dup := seen[svc.Key()]; dup {
				t.errorf(vs.Pos, "virtual_server %s: already defined at %s", svc.String(), old)
				continue
			}
			seen[svc.Key()] = vs.Pos
			// Every service gets checkers of its own.
			if len(keys) > 1 {
				p.RealServers = t.realServers(vs, svc)
			}
			t.plan.VirtualServers = append(t.plan.VirtualServers, p)
		}
	}
}

const maxGroupRange = 256

func (t *translator) groupEntry(base ipvs.Service, e keepalived.VSGEntry) []ipvs.Service {
	if e.FwMark.Set() {
		s := base
		s.Protocol, s.Addr, s.Port = 0, netip.Addr{}, 0
		s.FWMark = e.FwMark.V
		s.Family = ipvs.Inet
		if e.Family == "inet6" {
			s.Family = ipvs.Inet6
		}
		t.plan.KernelOnly = append(t.plan.KernelOnly, Diagnostic{Pos: e.Pos, Msg: "fwmark services need kernel IPVS"})
		return []ipvs.Service{s}
	}
	var out []ipvs.Service
	port := e.Port
	if port == 0 {
		port = base.Port
	}
	for a, n := e.First, 0; a.IsValid() && a.Compare(e.Last) <= 0; a, n = a.Next(), n+1 {
		if n >= maxGroupRange {
			t.errorf(e.Pos, "virtual_server_group: range %s-%s has more than %d addresses", e.First, e.Last, maxGroupRange)
			return nil
		}
		s := base
		s.FWMark = 0
		s.Family = 0
		s.Addr, s.Port = a, port
		out = append(out, s)
	}
	return out
}

func (t *translator) virtualServer(vs *keepalived.VirtualServer) (VirtualServerPlan, bool) {
	g := &t.cfg.Global
	svc := ipvs.Service{
		Addr:               vs.Addr,
		Port:               vs.Port,
		Scheduler:          vs.Scheduler.Or("wlc"),
		PersistenceTimeout: vs.PersistenceTimeout.V,
		PersistenceBits:    vs.PersistenceGranularity.V,
	}
	switch strings.ToUpper(vs.Protocol.Or("TCP")) {
	case "TCP":
		svc.Protocol = ipvs.TCP
	case "UDP":
		svc.Protocol = ipvs.UDP
	case "SCTP":
		svc.Protocol = ipvs.SCTP
		t.plan.KernelOnly = append(t.plan.KernelOnly, Diagnostic{Pos: vs.Protocol.Pos, Msg: "protocol SCTP needs kernel IPVS"})
	default:
		t.errorf(vs.Protocol.Pos, "protocol: unknown protocol %q", vs.Protocol.V)
		return VirtualServerPlan{}, false
	}
	if vs.FwMark.Set() {
		svc.Protocol, svc.Addr, svc.Port = 0, netip.Addr{}, 0
		svc.FWMark = vs.FwMark.V
		svc.Family = ipvs.Inet
		if vs.IPFamily.V == "inet6" {
			svc.Family = ipvs.Inet6
		} else if !vs.IPFamily.Set() && len(vs.RealServers) > 0 && vs.RealServers[0].Addr.Is6() {
			svc.Family = ipvs.Inet6
		}
		t.plan.KernelOnly = append(t.plan.KernelOnly, Diagnostic{Pos: vs.FwMark.Pos, Msg: "fwmark services need kernel IPVS"})
	}
	flag := func(v keepalived.Value[bool], f ipvs.ServiceFlags) {
		if v.V {
			svc.Flags |= f
		}
	}
	flag(vs.Flag1, ipvs.SHFallback)
	flag(vs.Flag2, ipvs.SHPort)
	flag(vs.Flag3, ipvs.Sched3)
	flag(vs.SHFallback, ipvs.SHFallback)
	flag(vs.SHPort, ipvs.SHPort)
	flag(vs.MHFallback, ipvs.MHFallback)
	flag(vs.MHPort, ipvs.MHPort)
	flag(vs.OPS, ipvs.OnePacket)
	if vs.OPS.V {
		t.plan.KernelOnly = append(t.plan.KernelOnly, Diagnostic{Pos: vs.OPS.Pos, Msg: "ops needs kernel IPVS"})
	}
	if vs.Flag3.V {
		t.plan.KernelOnly = append(t.plan.KernelOnly, Diagnostic{Pos: vs.Flag3.Pos, Msg: "flag-3 needs kernel IPVS"})
	}
	t.unimplemented(posOf(vs.HASuspend), "ha_suspend", "")

	p := VirtualServerPlan{
		Pos:        vs.Pos,
		Service:    svc,
		Quorum:     int64(vs.Quorum.Or(1)),
		Hysteresis: int64(vs.Hysteresis.V),
		Omega:      vs.Omega.V,
		SMTPAlert:  smtpDefault(vs.SMTPAlert, g.SMTPAlertChecker, g.SMTPAlert),
		QuorumUp:   scriptArgv(vs.QuorumUp),
		QuorumDown: scriptArgv(vs.QuorumDown),
	}
	if s := vs.SorryServer; s.Set() {
		fw, _, _, _ := t.forward(vs.SorryServerForwarding, "sorry_server_lvs_method")
		if !vs.SorryServerForwarding.Set() {
			fw, _, _, _ = t.forward(vs.Forwarding, "lb_kind")
		}
		p.SorryServer = &healthcheck.SorryServer{Addr: s.V.Addr, Port: s.V.Port, Forward: fw, Inhibit: vs.SorryServerInhibit.V}
	}
	p.RealServers = t.realServers(vs, svc)
	return p, true
}

func (t *translator) realServers(vs *keepalived.VirtualServer, svc ipvs.Service) []RealServerPlan {
	g := &t.cfg.Global
	files := map[string]*keepalived.TrackFile{}
	for i := range t.cfg.TrackFiles {
		files[t.cfg.TrackFiles[i].Name] = &t.cfg.TrackFiles[i]
	}
	var out []RealServerPlan
	for i := range vs.RealServers {
		rs := &vs.RealServers[i]
		fwv := rs.Forwarding
		if !fwv.Set() {
			fwv = vs.Forwarding
		}
		fw, tt, tport, tf := t.forward(fwv, "lb_kind")
		w := rs.Weight.Or(1)
		if w < 0 || w > 65535 {
			t.errorf(rs.Weight.Pos, "weight: %d is out of range [0, 65535]", w)
		}
		port := rs.Port
		if port == 0 {
			port = svc.Port
		}
		rp := RealServerPlan{
			Pos:              rs.Pos,
			Addr:             rs.Addr,
			Port:             rs.Port,
			Weight:           int32(w),
			Forward:          fw,
			TunnelType:       tt,
			TunnelPort:       tport,
			TunnelFlags:      tf,
			UpperThreshold:   uint32(rs.UThreshold.V),
			LowerThreshold:   uint32(rs.LThreshold.V),
			InhibitOnFailure: rs.InhibitOnFailure.Or(vs.InhibitOnFailure.V),
			SMTPAlert:        smtpDefault(rs.SMTPAlert, vs.SMTPAlert, smtpDefaultVal(g)),
		}
		rp.NotifyUp, rp.NotifyDown = scriptArgv(rs.NotifyUp), scriptArgv(rs.NotifyDown)
		for ci := range rs.Checkers {
			ck := &rs.Checkers[ci]
			rp.Checks = append(rp.Checks, t.checker(vs, rs, ck, port, files)...)
		}
		out = append(out, rp)
	}
	return out
}

// smtpDefaultVal is the global default of a checker's smtp_alert.
func smtpDefaultVal(g *keepalived.GlobalDefs) keepalived.Value[bool] {
	if g.SMTPAlertChecker.Set() {
		return g.SMTPAlertChecker
	}
	return g.SMTPAlert
}

func firstSet[T any](vs ...keepalived.Value[T]) keepalived.Value[T] {
	for _, v := range vs {
		if v.Set() {
			return v
		}
	}
	return keepalived.Value[T]{}
}

func (t *translator) checker(vs *keepalived.VirtualServer, rs *keepalived.RealServer, ck *keepalived.Checker, port uint16, files map[string]*keepalived.TrackFile) []CheckPlan {
	pol := healthcheck.Policy{
		DelayLoop:      firstSet(ck.DelayLoop, rs.DelayLoop, vs.DelayLoop).Or(healthcheck.DefaultDelayLoop),
		ConnectTimeout: firstSet(ck.ConnectTimeout, rs.ConnectTimeout, vs.ConnectTimeout).Or(healthcheck.DefaultConnectTimeout),
		Alpha:          firstSet(ck.Alpha, rs.Alpha, vs.Alpha).V,
	}
	if r := firstSet(ck.Retry, rs.Retry, vs.Retry); r.Set() {
		pol.Retry = r.V
		if r.V == 0 {
			pol.Retry = healthcheck.NoRetry
		}
	}
	pol.DelayBeforeRetry = firstSet(ck.DelayBeforeRetry, rs.DelayBeforeRetry, vs.DelayBeforeRetry).V
	if w := firstSet(ck.Warmup, rs.Warmup, vs.Warmup); w.Set() {
		pol.Warmup = w.V
		if w.V == 0 {
			pol.Warmup = -1
		}
	}
	t.unimplemented(posOf(ck.LogAllFailures), "log_all_failures", "")

	conn := func(o keepalived.ConnOptions) healthcheck.Conn {
		addr := o.ConnectIP.Or(rs.Addr)
		p := o.ConnectPort.Or(port)
		c := healthcheck.Conn{
			Addr:          netip.AddrPortFrom(addr, p),
			BindAddr:      o.BindTo.V,
			BindPort:      o.BindPort.V,
			BindInterface: o.BindIf.V,
			FWMark:        o.FwMark.V,
		}
		return c
	}
	base := conn(ck.ConnOptions)
	one := func(c healthcheck.Checker) []CheckPlan {
		return []CheckPlan{{Pos: ck.Pos, Kind: ck.Type, Policy: pol, Checker: c}}
	}
	vhost := firstSet(rs.Virtualhost, vs.Virtualhost).V
	switch ck.Type {
	case keepalived.HTTPGet, keepalived.SSLGet:
		h := &healthcheck.HTTPChecker{Conn: base, VirtualHost: vhost}
		if ck.HTTP != nil {
			switch ck.HTTP.HTTPProtocol.V {
			case "1.0C":
				h.Protocol = healthcheck.HTTP10Close
			case "1.1":
				h.Protocol = healthcheck.HTTP11
			}
			t.unimplemented(posOf(ck.HTTP.FastRecovery), "fast_recovery", "")
			for _, u := range ck.HTTP.URLs {
				hu := healthcheck.URL{Path: u.Path.Or("/"), Digest: u.Digest.V, VirtualHost: u.Virtualhost.V}
				for _, r := range u.StatusCodes.V {
					hu.StatusCodes = append(hu.StatusCodes, healthcheck.StatusRange{Min: r.Min, Max: r.Max})
				}
				h.URLs = append(h.URLs, hu)
			}
			if ck.Type == keepalived.SSLGet {
				h.TLS = &healthcheck.TLSOptions{}
				if ck.HTTP.EnableSNI.V {
					h.TLS.ServerName = vhost
				}
			}
		}
		if ck.Type == keepalived.SSLGet && h.TLS == nil {
			h.TLS = &healthcheck.TLSOptions{}
		}
		if len(h.URLs) == 0 {
			t.errorf(ck.Pos, "%s: no url block", ck.Type)
			return nil
		}
		return one(h)
	case keepalived.TCPCheck:
		return one(&healthcheck.TCPChecker{Conn: base})
	case keepalived.UDPCheck:
		u := &healthcheck.UDPChecker{Conn: base}
		if ck.UDP != nil {
			u.Payload = ck.UDP.Payload.V
			if rr := ck.UDP.RequireReply; rr.Set() {
				u.RequireReply = true
				if len(rr.V.Data) > 0 {
					t.unimplemented(rr.Pos, "require_reply", "the reply pattern is not compared; any reply of the right length is accepted")
				}
			}
			u.MinReplyLength = ck.UDP.MinReplyLength.V
			u.MaxReplyLength = ck.UDP.MaxReplyLength.Or(255)
		}
		return one(u)
	case keepalived.DNSCheck:
		d := &healthcheck.DNSChecker{Conn: base}
		if ck.DNS != nil {
			d.Type, d.Name = ck.DNS.Type.V, ck.DNS.Name.V
		}
		return one(d)
	case keepalived.SMTPCheck:
		helo := ""
		if ck.SMTP != nil {
			helo = ck.SMTP.HeloName.V
		}
		if ck.SMTP == nil || len(ck.SMTP.Hosts) == 0 {
			return one(&healthcheck.SMTPChecker{Conn: base, HELOName: helo})
		}
		var out []CheckPlan
		for _, h := range ck.SMTP.Hosts {
			o := h.ConnOptions
			// A host block inherits what it does not set from the checker.
			if !o.ConnectIP.Set() {
				o.ConnectIP = ck.ConnectIP
			}
			if !o.ConnectPort.Set() {
				o.ConnectPort = ck.ConnectPort
			}
			hp := pol
			if o.ConnectTimeout.Set() {
				hp.ConnectTimeout = o.ConnectTimeout.V
			}
			out = append(out, CheckPlan{Pos: h.Pos, Kind: ck.Type, Policy: hp, Checker: &healthcheck.SMTPChecker{Conn: conn(o), HELOName: helo}})
		}
		return out
	case keepalived.PingCheck:
		return one(&healthcheck.PingChecker{Conn: base})
	case keepalived.MiscCheck:
		if ck.Misc == nil || !ck.Misc.Path.Set() || len(ck.Misc.Path.V.Argv) == 0 {
			t.errorf(ck.Pos, "MISC_CHECK: missing misc_path")
			return nil
		}
		argv := ck.Misc.Path.V.Argv
		t.unimplemented(posOf(ck.Misc.User), "user", "scripts run as the director's user")
		return one(&healthcheck.MiscChecker{Path: argv[0], Args: append([]string(nil), argv[1:]...),
			Timeout: ck.Misc.Timeout.V, Dynamic: ck.Misc.Dynamic.V})
	case keepalived.FileCheck:
		if ck.File == nil || !ck.File.TrackFile.Set() {
			t.errorf(ck.Pos, "FILE_CHECK: missing track_file")
			return nil
		}
		tf := files[ck.File.TrackFile.V]
		if tf == nil {
			t.errorf(ck.File.TrackFile.Pos, "FILE_CHECK: no track_file named %q", ck.File.TrackFile.V)
			return nil
		}
		t.unimplemented(posOf(tf.InitFile), "init_file", "")
		t.unimplemented(posOf(ck.File.Dynamic), "dynamic", "")
		return one(&healthcheck.FileChecker{Path: tf.File.V,
			Weight:  ck.File.Weight.Or(tf.Weight.Or(1)),
			Reverse: ck.File.Reverse.Or(tf.Reverse.V)})
	}
	t.errorf(ck.Pos, "unknown checker %s", ck.Type)
	return nil
}

// CheckBackend reports the settings the backend cannot provide, each at
// its position; nil when the plan runs on it.
func (p *Plan) CheckBackend(backend string) error {
	if backend != BackendUserspace || len(p.KernelOnly) == 0 {
		return nil
	}
	ds := make([]Diagnostic, len(p.KernelOnly))
	for i, d := range p.KernelOnly {
		ds[i] = Diagnostic{Pos: d.Pos, Msg: d.Msg + "; the backend is userspace"}
	}
	return &ConfigError{Diagnostics: ds}
}

// unwrapAs finds an error of type T in err's chain.
func unwrapAs[T error](err error) (T, bool) {
	var zero T
	for err != nil {
		if e, ok := err.(T); ok {
			return e, true
		}
		u, ok := err.(interface{ Unwrap() error })
		if !ok {
			return zero, false
		}
		err = u.Unwrap()
	}
	return zero, false
}
