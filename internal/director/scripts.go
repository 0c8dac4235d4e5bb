package director

import (
	"context"
	"sync/atomic"

	"github.com/lvskit/lvskit/vrrp"
)

// This file keeps the last result of each vrrp_script tracker, which
// keepalived shows in its data dump (Status = GOOD or BAD) and
// keepalived-exporter exports as keepalived_script_status.

// scriptResult is a vrrp_script's last result: 0 before the first, then
// scriptGood or scriptBad.
type scriptResult struct{ v atomic.Int32 }

const (
	scriptGood = 1
	scriptBad  = 2
)

// recordScript wraps a vrrp_script tracker so that its results are kept
// under its name (instances tracking the same script share the entry).
func (d *Director) recordScript(name string, t vrrp.Tracker) vrrp.Tracker {
	r, _ := d.scripts.LoadOrStore(name, &scriptResult{})
	return recordingTracker{Tracker: t, res: r.(*scriptResult)}
}

type recordingTracker struct {
	vrrp.Tracker
	res *scriptResult
}

func (t recordingTracker) Track(ctx context.Context, report func(up bool)) error {
	return t.Tracker.Track(ctx, func(up bool) {
		if up {
			t.res.v.Store(scriptGood)
		} else {
			t.res.v.Store(scriptBad)
		}
		report(up)
	})
}

// ScriptStatus is a vrrp_script's last result: INIT before its first,
// then GOOD or BAD (keepalived's words).
type ScriptStatus struct {
	Name   string `json:"name"`
	Status string `json:"status"`
}

// scriptStatus lists the vrrp_scripts the plan's instances track, each
// once, in the order first tracked.
func (d *Director) scriptStatus(plan *Plan) []ScriptStatus {
	out := []ScriptStatus{}
	seen := map[string]bool{}
	for i := range plan.Instances {
		for _, t := range plan.Instances[i].Tracks {
			if t.Kind != TrackScript || seen[t.Name] {
				continue
			}
			seen[t.Name] = true
			s := ScriptStatus{Name: t.Name, Status: "INIT"}
			if r, ok := d.scripts.Load(t.Name); ok {
				switch r.(*scriptResult).v.Load() {
				case scriptGood:
					s.Status = "GOOD"
				case scriptBad:
					s.Status = "BAD"
				}
			}
			out = append(out, s)
		}
	}
	return out
}
