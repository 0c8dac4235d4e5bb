package director

import (
	"time"

	"github.com/lvskit/lvskit/internal/keepalived"
	"github.com/lvskit/lvskit/ipvs"
	"github.com/lvskit/lvskit/vrrp"
)

// This file translates what goes with the VRRP instances: their trackers
// (track_interface, track_script, track_file, track_process),
// vrrp_sync_group blocks and the connection sync daemon.

// named returns the block r refers to, or records that there is none
// (the parser checks references; this keeps a bad one from going on).
func named[T any](t *translator, blocks map[string]*T, r keepalived.TrackRef, keyword, block string) *T {
	b := blocks[r.Name]
	if b == nil {
		t.errorf(r.Pos, "%s: no %s named %q", keyword, block, r.Name)
	}
	return b
}

// trackScripts resolves track_script entries; without weights (a sync
// group's tracking without sync_group_tracking_weight) every failure is a
// FAULT, as in keepalived.
func (t *translator) trackScripts(refs []keepalived.TrackRef, weights bool) []TrackPlan {
	var out []TrackPlan
	for _, r := range refs {
		if tp, ok := t.script(named(t, t.scripts, r, "track_script", "vrrp_script"), r); ok {
			if !weights {
				tp.Weight = 0
			}
			out = append(out, tp)
		}
	}
	return out
}

// trackFiles resolves track_file entries as keepalived's
// vrrp_alloc_track_file: the block's weight (default 1) and reverse,
// which a reference's "weight W [reverse]" overrides; without weights (a
// sync group's tracking without sync_group_tracking_weight) weight 0.
// The priority changes by the file's number times the weight.
func (t *translator) trackFiles(refs []keepalived.TrackRef, weights bool) []TrackPlan {
	var out []TrackPlan
	for _, r := range refs {
		f := named(t, t.files, r, "track_file", "track_file")
		if f == nil {
			continue
		}
		w := f.Weight.Or(1)
		reverse := f.Reverse.V
		if r.Weight.Set() {
			w = r.Weight.V
			reverse = reverse || r.Reverse
		}
		if !weights {
			w = 0
		}
		if !f.File.Set() {
			t.errorf(f.Pos, "track_file %q: missing file", f.Name)
			continue
		}
		fc := vrrp.FileConfig{Path: f.File.V, Weight: w, Reverse: reverse}
		if in := f.InitFile; in.Set() {
			v := in.V.Value
			fc.Init, fc.InitOverwrite = &v, in.V.Overwrite
		}
		out = append(out, TrackPlan{Kind: TrackFile, Name: r.Name, File: fc})
	}
	return out
}

// trackProcesses resolves track_process entries as keepalived's
// alloc_track_process: the block's weight and reverse, which a
// reference's "weight W [reverse]" overrides; without weights (a sync
// group's tracking without sync_group_tracking_weight) weight 0.
func (t *translator) trackProcesses(refs []keepalived.TrackRef, weights bool) []TrackPlan {
	var out []TrackPlan
	for _, r := range refs {
		p := named(t, t.procs, r, "track_process", "vrrp_track_process")
		if p == nil || !p.Process.Set() || len(p.Process.V) == 0 {
			continue
		}
		c := vrrp.ProcessConfig{
			Name:           p.Process.V[0],
			Params:         append([]string(nil), p.Process.V[1:]...),
			FullCommand:    p.FullCommand.V,
			Weight:         p.Weight.V,
			Reverse:        p.Reverse.V,
			Quorum:         p.Quorum.Or(1),
			ForkDelay:      p.ForkDelay.Or(p.Delay.V),
			TerminateDelay: p.TerminateDelay.Or(p.Delay.V),
		}
		switch p.ParamMatch.V {
		case "exact":
			c.ParamMatch = vrrp.ParamMatchExact
		case "partial":
			c.ParamMatch = vrrp.ParamMatchPartial
		case "initial":
			c.ParamMatch = vrrp.ParamMatchInitial
		}
		if q := p.QuorumMax; q.Set() {
			// quorum_max 0: up while no such process runs.
			c.QuorumMax, c.Absent = q.V, q.V == 0
		}
		if r.Weight.Set() {
			c.Weight = r.Weight.V
			c.Reverse = c.Reverse || r.Reverse
		}
		if !weights {
			c.Weight = 0
		}
		out = append(out, TrackPlan{Kind: TrackProcess, Name: r.Name, Process: c})
	}
	return out
}

func (t *translator) script(s *keepalived.VRRPScript, r keepalived.TrackRef) (TrackPlan, bool) {
	if s == nil {
		return TrackPlan{}, false
	}
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
	argv, cred, ok := t.program(s.Script, "script", s.User)
	if !ok {
		return TrackPlan{}, false
	}
	return TrackPlan{Kind: TrackScript, Name: s.Name, Weight: w, Script: vrrp.ScriptConfig{
		Path:       argv[0],
		Args:       argv[1:],
		Credential: cred,
		Interval:   s.Interval.Or(time.Second),
		Timeout:    s.Timeout.V,
		Rise:       s.Rise.V,
		Fall:       s.Fall.V,
		InitFail:   s.InitFail.V,
	}}, true
}

// groupMembership is what a vrrp_instance takes from its sync group.
type groupMembership struct {
	group  string
	tracks []TrackPlan
}

// syncGroups translates every vrrp_sync_group and returns, by instance
// name, the group each instance is in with the group's trackers, which
// apply to every member.
func (t *translator) syncGroups() map[string]groupMembership {
	g := &t.cfg.Global
	member := map[string]groupMembership{}
	for _, sg := range t.cfg.SyncGroups {
		p := SyncGroupPlan{Pos: sg.Pos, Name: sg.Name,
			SMTPAlert: smtpDefault(sg.SMTPAlert, g.SMTPAlertVRRP, g.SMTPAlert),
			Notify:    t.notify(sg.Notify, sg.NotifyMaster, sg.NotifyBackup, sg.NotifyFault, sg.NotifyStop)}
		for _, m := range sg.Group {
			p.Members = append(p.Members, m.V)
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
			tracks = append(tracks, TrackPlan{Kind: TrackInterface, Name: r.Name, Interface: r.Name, Weight: w})
		}
		tracks = append(tracks, t.trackScripts(sg.TrackScripts, weights)...)
		tracks = append(tracks, t.trackFiles(sg.TrackFiles, weights)...)
		tracks = append(tracks, t.trackProcesses(sg.TrackProcesses, weights)...)
		for _, m := range p.Members {
			member[m] = groupMembership{group: sg.Name, tracks: tracks}
		}
		t.unimplemented(posOf(sg.NotifyPriorityChanges), "notify_priority_changes", "")
		t.unimplemented(posOf(sg.GlobalTracking), "global_tracking", "")
		t.plan.SyncGroups = append(t.plan.SyncGroups, p)
	}
	return member
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
