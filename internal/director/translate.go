package director

import (
	"fmt"
	"net/mail"
	"net/netip"
	"slices"
	"strconv"

	"github.com/lvskit/lvskit/internal/alert"
	"github.com/lvskit/lvskit/internal/keepalived"
	"github.com/lvskit/lvskit/ipvs"
)

// Load reads a keepalived.conf and translates it. hostname is the
// config-id compared with @host conditionals (empty: none kept) and the
// router_id when global_defs has none. The warnings list every keyword
// that has no effect in lvskit, with its position. A configuration with
// any error is rejected whole: the error lists every problem as
// file:line:col (see Diagnostics).
func Load(path, hostname string) (*Plan, []Warning, error) {
	cfg, warns, err := keepalived.ParseFile(path, keepalived.Options{Host: hostname})
	if err != nil {
		return nil, warns, fmt.Errorf("load %s: %w", path, err)
	}
	p, w2, err := Translate(cfg, path, hostname)
	warns = append(warns, w2...)
	if err != nil {
		return nil, warns, fmt.Errorf("load %s: %w", path, err)
	}
	return p, warns, nil
}

// Translate turns a parsed configuration into a Plan, as Load does: a
// function of the parsed file, the name of its source and the host name,
// of the host's users and script files, which it checks as keepalived
// does when it loads a file (translate_script.go), and of /etc/iproute2's
// name files for a routing table, protocol or realm name that is not
// built in, as keepalived reads them (translate_iproute.go). It applies
// keepalived's defaults and inheritance, and checks every configuration
// it makes with the libraries' own Validate (validate.go), so that what
// they would refuse is reported at its position now.
func Translate(cfg *keepalived.Config, source, hostname string) (*Plan, []Warning, error) {
	t := &translator{cfg: cfg, plan: &Plan{Source: source}, hostname: hostname,
		scripts: byName(cfg.Scripts, func(s *keepalived.VRRPScript) string { return s.Name }),
		files:   byName(cfg.TrackFiles, func(f *keepalived.TrackFile) string { return f.Name }),
		procs:   byName(cfg.TrackProcesses, func(p *keepalived.TrackProcess) string { return p.Name })}
	t.global()
	t.instances(t.syncGroups())
	t.syncDaemon()
	t.virtualServers()
	t.bgp() // after the virtual servers, whose quorum gates its routes
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

// translator builds one Plan. The translate_*.go files hold its parts:
// VRRP instances, trackers and sync groups, virtual servers, checkers.
type translator struct {
	cfg      *keepalived.Config
	hostname string
	// scripts and files are the vrrp_script and track_file blocks by name.
	scripts map[string]*keepalived.VRRPScript
	files   map[string]*keepalived.TrackFile
	procs   map[string]*keepalived.TrackProcess

	plan  *Plan
	warns []Warning
	errs  []Diagnostic
	// names resolves the table, protocol and realm names of route and
	// rule lines (translate_iproute.go).
	names iproute2Names
	// scr is what was found about scripts (translate_script.go).
	scr scriptState
}

// byName indexes blocks by their name.
func byName[T any](blocks []T, name func(*T) string) map[string]*T {
	m := make(map[string]*T, len(blocks))
	for i := range blocks {
		m[name(&blocks[i])] = &blocks[i]
	}
	return m
}

func (t *translator) errorf(p keepalived.Pos, format string, args ...any) {
	t.errs = append(t.errs, Diagnostic{Pos: p, Msg: fmt.Sprintf(format, args...)})
}

// warnf records a warning about keyword at p.
func (t *translator) warnf(p keepalived.Pos, keyword, format string, args ...any) {
	t.warns = append(t.warns, Warning{Pos: p, Keyword: keyword, Msg: fmt.Sprintf(format, args...)})
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
	t.warnf(p, keyword, "%s", msg)
}

func posOf[T any](v keepalived.Value[T]) keepalived.Pos { return v.Pos }

func (t *translator) global() {
	g := &t.cfg.Global
	t.plan.RouterID = g.RouterID.Or(t.hostname)
	t.plan.NetNamespace, t.plan.NetNamespacePos = t.cfg.NetNamespace.V, t.cfg.NetNamespace.Pos
	t.plan.NoEmailFaults = g.NoEmailFaults.V
	// keepalived hands the addresses to the SMTP server as written; the
	// director's mailer needs addresses it can parse, and drops the rest.
	var to []string
	for _, e := range g.NotificationEmail {
		if _, err := mail.ParseAddress(e.V); err != nil {
			t.warnf(e.Pos, "notification_email", "notification_email %q is not an e-mail address (%v): keepalived passes it to the SMTP server as written; the director leaves it out", e.V, err)
			continue
		}
		to = append(to, e.V)
	}
	from := g.NotificationEmailFrom
	if from.Set() {
		if _, err := mail.ParseAddress(from.V); err != nil {
			t.warnf(from.Pos, "notification_email_from", "notification_email_from %q is not an e-mail address (%v): keepalived sends it as written; the director uses its default sender", from.V, err)
			from = keepalived.Value[string]{}
		}
	}
	if g.SMTPServer.Set() && len(to) > 0 {
		a := &alert.Config{
			RouterID:       t.plan.RouterID,
			From:           from.V,
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
		a.To = to
		if err := a.Validate(); err != nil {
			t.errorf(g.SMTPServer.Pos, "smtp_server: the alert settings are refused: %v", err)
		}
		t.plan.Alert = a
	} else {
		if g.SMTPServer.Set() {
			t.unimplemented(g.SMTPServer.Pos, "smtp_server", "no usable notification_email: no alerts are sent")
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
	t.unimplemented(posOf(g.VRRPMinGarp), "vrrp_min_garp", "")
	t.unimplemented(posOf(g.VRRPHigherPrioSendAdvert), "vrrp_higher_prio_send_advert", "")
	t.unimplemented(posOf(g.VRRPDownTimerAdverts), "vrrp_down_timer_adverts", "the master-down interval is 3 adverts")
	t.unimplemented(posOf(g.VRRPStartupDelay), "vrrp_startup_delay", "")
	t.unimplemented(posOf(g.VRRPNotifyPriorityChanges), "vrrp_notify_priority_changes", "")
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

func firstSet[T any](vs ...keepalived.Value[T]) keepalived.Value[T] {
	for _, v := range vs {
		if v.Set() {
			return v
		}
	}
	return keepalived.Value[T]{}
}
