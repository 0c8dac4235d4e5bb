package director

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/lvskit/lvskit/healthcheck"
	"github.com/lvskit/lvskit/internal/alert"
	"github.com/lvskit/lvskit/internal/script"
	"github.com/lvskit/lvskit/ipvs"
	"github.com/lvskit/lvskit/vrrp"
)

// This file holds what the director does on a transition: logs, the sync
// daemon's role, e-mail alerts, and the notify scripts of real and
// virtual servers.

// onVRRP is an instance's transition callback.
func (d *Director) onVRRP(smtpAlert bool) func(vrrp.Transition) {
	return func(tr vrrp.Transition) {
		d.log.Debug("vrrp transition", "instance", tr.Name, "from", tr.From.String(), "to", tr.To.String(), "priority", tr.Priority)
		d.lastTransitions.Store(tr.Name, tr.Time)
		if f := d.follower.Load(); f != nil && f.cfg.Instance == tr.Name {
			f.set(tr.To)
		}
		if !smtpAlert || (tr.To == vrrp.StateFault && d.noEmailFaults.Load()) {
			return
		}
		d.notifier.Load().Notify(alert.Event{Kind: alert.VRRPInstance, Name: tr.Name, From: alertFrom(tr.From), To: alertState(tr.To),
			Time: tr.Time, Reason: fmt.Sprintf("effective priority %d", tr.Priority)})
	}
}

// onGroup is a sync group's transition callback.
func (d *Director) onGroup(smtpAlert bool) func(vrrp.Transition) {
	return func(tr vrrp.Transition) {
		d.log.Info("vrrp sync group transition", "group", tr.Name, "from", tr.From.String(), "to", tr.To.String())
		if !smtpAlert || (tr.To == vrrp.StateFault && d.noEmailFaults.Load()) {
			return
		}
		d.notifier.Load().Notify(alert.Event{Kind: alert.VRRPSyncGroup, Name: tr.Name, From: alertFrom(tr.From), To: alertState(tr.To), Time: tr.Time})
	}
}

func alertState(s vrrp.State) string {
	if s == vrrp.StateInit {
		return "STOP"
	}
	return s.String()
}

// alertFrom is the state an alert says a transition came from: none from
// INIT.
func alertFrom(s vrrp.State) string {
	if s == vrrp.StateInit {
		return ""
	}
	return alertState(s)
}

// onRealServer is a pool's real-server callback; quiet silences it while
// a reload replaces the pool (omega would otherwise report every alive
// server down).
func (d *Director) onRealServer(vs *VirtualServerPlan, quiet func() bool) func(healthcheck.RealServerEvent) {
	plans := map[ipvs.DestinationKey]*RealServerPlan{}
	for i := range vs.RealServers {
		rs := &vs.RealServers[i]
		plans[vs.Service.DestinationKey(&rs.Destination)] = rs
	}
	return func(ev healthcheck.RealServerEvent) {
		reason := ""
		if ev.Err != nil {
			reason = ev.Err.Error()
		}
		rp := plans[ev.RealServer]
		if rp == nil {
			rp = &RealServerPlan{} // not configured: logged only
		}
		what, prog := "notify_down", rp.NotifyDown
		if ev.Alive {
			what, prog = "notify_up", rp.NotifyUp
		}
		d.poolChange(quiet, rp.SMTPAlert, what, prog, alert.Event{Kind: alert.RealServer,
			Name: fmt.Sprintf("virtual_server %s -> real_server %s", serviceName(ev.Service), ev.RealServer),
			From: upDown(!ev.Alive), To: upDown(ev.Alive), Reason: reason},
			"real server "+strings.ToLower(upDown(ev.Alive)), "service", ev.Service.String(), "real_server", ev.RealServer.String(), "reason", reason)
	}
}

// onQuorum is a pool's quorum callback.
func (d *Director) onQuorum(vs *VirtualServerPlan, quiet func() bool) func(healthcheck.QuorumEvent) {
	return func(ev healthcheck.QuorumEvent) {
		what, prog := "quorum_down", vs.QuorumDown
		if ev.Up {
			what, prog = "quorum_up", vs.QuorumUp
		}
		d.poolChange(quiet, vs.SMTPAlert, what, prog, alert.Event{Kind: alert.Quorum,
			Name: "virtual_server " + serviceName(ev.Service),
			From: upDown(!ev.Up), To: upDown(ev.Up),
			Reason: fmt.Sprintf("alive weight %d, threshold %d", ev.WeightSum, ev.Threshold)},
			"quorum "+strings.ToLower(upDown(ev.Up)), "service", ev.Service.String(), "weight_sum", ev.WeightSum, "threshold", ev.Threshold)
	}
}

// poolChange is what the director does when a pool reports a change,
// unless quiet: log msg with args, run the configured program, and mail ev
// when mail is set.
func (d *Director) poolChange(quiet func() bool, mail bool, what string, prog Program, ev alert.Event, msg string, args ...any) {
	if quiet() {
		return
	}
	d.log.Info(msg, args...)
	d.runScript(what, prog)
	if mail {
		d.notifier.Load().Notify(ev)
	}
}

// serviceName is how alerts name a virtual server.
func serviceName(k ipvs.ServiceKey) string {
	if k.FWMark != 0 {
		return fmt.Sprintf("fwmark %d", k.FWMark)
	}
	return netip.AddrPortFrom(k.Addr, k.Port).String()
}

func upDown(b bool) string {
	if b {
		return "UP"
	}
	return "DOWN"
}

// scriptTimeout bounds a notify_up/notify_down/quorum_up/quorum_down run.
const scriptTimeout = 10 * time.Second

// runScript runs a checker notify program in the background, without a
// shell, as its user, in a process group of its own that is ended as a
// whole after scriptTimeout on the director's clock; failures are logged.
func (d *Director) runScript(what string, prog Program) {
	if len(prog.Argv) == 0 {
		return
	}
	d.bg.Go(func() {
		res, err := script.Run(context.Background(), script.Cmd{Argv: prog.Argv, Credential: prog.Credential,
			Timeout: scriptTimeout, Clock: d.clock, Output: true})
		if err != nil {
			d.log.Warn(what+" script failed", "script", prog.Argv, "err", err, "output", string(res.Output))
			return
		}
		d.log.Debug(what+" script ran", "script", prog.Argv)
	})
}
