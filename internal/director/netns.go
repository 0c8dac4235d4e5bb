package director

import (
	"context"
	"fmt"
	"strings"

	"github.com/vishvananda/netns"

	"github.com/lvskit/lvskit/internal/nsthread"
	"github.com/lvskit/lvskit/vrrp"
)

// This file holds net_namespace. keepalived moves itself into that network
// namespace; a Go process cannot move all its threads, so the director puts
// there everything it makes that belongs to a namespace. What it opens
// takes the namespace handle: the host network (netcfg.Open), the raw VRRP
// sockets and interface trackers (vrrp), the IPVS backend (ipvs.Open: the
// kernel's table, or the userspace proxy's listeners and connections).
// What makes sockets or starts programs as it runs does so on an OS thread
// that entered the namespace (internal/nsthread): health checks
// (healthcheck.PoolConfig.Netns), vrrp_script trackers (netnsTracker),
// VRRP notify scripts (vrrp.Notify.Netns) and the checkers' notify
// scripts (runScript). The metrics server and e-mail alerts stay in the
// director's own namespace.

// openNetns opens the namespace named by net_namespace as keepalived does:
// a name under /run/netns (or a path). A missing one is an error, as it
// is for keepalived, which exits.
func openNetns(name string) (netns.NsHandle, error) {
	path := name
	if !strings.HasPrefix(path, "/") {
		path = "/run/netns/" + name
	}
	ns, err := netns.GetFromPath(path)
	if err != nil {
		return netns.None(), fmt.Errorf("open network namespace %q: %w", name, err)
	}
	return ns, nil
}

// netnsPtr is the namespace as vrrp's options take it: nil for none.
func (d *Director) netnsPtr() *netns.NsHandle {
	if d.ns <= 0 {
		return nil
	}
	return &d.ns
}

// scriptTracker is the tracker of a vrrp_script: in the director's
// namespace when it has one, always on the director's clock.
func (d *Director) scriptTracker(sc vrrp.ScriptConfig) vrrp.Tracker {
	if d.ns <= 0 {
		return vrrp.TrackScript(sc) // the instance puts it on its clock
	}
	// The wrapper hides the tracker from the instance, which would put it
	// on the instance's clock: give it that clock here.
	sc.Clock = d.clock
	return netnsTracker{Tracker: vrrp.TrackScript(sc), ns: d.ns}
}

// netnsTracker runs a tracker (a vrrp_script) inside the director's
// namespace: its whole Track loop stays on one thread there, so each run
// of the script is forked inside.
type netnsTracker struct {
	vrrp.Tracker
	ns netns.NsHandle
}

func (t netnsTracker) Track(ctx context.Context, report func(up bool)) error {
	return nsthread.Run(t.ns, func() error { return t.Tracker.Track(ctx, report) })
}
