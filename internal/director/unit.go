package director

import (
	"cmp"
	"context"
	"slices"
)

// A unit is one part of a running configuration that starts and stops as
// a whole: the alert notifier, the global settings, the connection sync
// daemon, the pool of one virtual server, one VRRP instance or one sync
// group with its members. A Plan describes its units (Plan.units); apply
// (apply.go) compares two plans unit by unit (changes) and builds, starts
// and stops units through these two small interfaces.

// unitSpec is a unit as a plan describes it: plain values in exported
// fields, compared with sameConfig, and built into a unit.
type unitSpec interface {
	key() unitKey
	// build makes the unit without side effects: no socket, no goroutine,
	// no write to the host or the IPVS table, no metric (vrrp.New and
	// healthcheck.NewPool leave theirs to Run). The one exception is a
	// sync group's notifier goroutine (vrrp.NewSyncGroup), which discard
	// stops. prev is the running unit of the same key that the new one
	// will replace, or nil.
	build(d *Director, prev unit) (unit, error)
}

// unit is a built unit.
type unit interface {
	// start begins the unit's side effects; ctx lasts as long as the
	// director runs.
	start(ctx context.Context)
	// stop ends the side effects and waits for them to end. replaced says
	// a unit of the same key starts next: a pool then keeps its service
	// in the IPVS table and its omega notifications quiet, the notifier
	// keeps sending until its successor takes over.
	stop(replaced bool)
	// discard releases a unit that was built and never started.
	discard()
}

// unitKind orders units: apply starts them in this order and stops them in
// the reverse one. Alerts come first, so that what the others do is
// mailed; the sync daemon before the VRRP instance it follows; pools
// before VRRP, so that a VIP arrives with its services, and VRRP stops
// first, so that a backup takes over at once. BGP comes last: it announces
// what the pools run, and on a graceful stop it withdraws and drains
// before anything else stops.
type unitKind int

const (
	kindAlerts unitKind = iota
	kindGlobals
	kindSyncDaemon
	kindPool
	kindVRRP
	kindBGP
	numKinds
)

func (k unitKind) String() string {
	return [...]string{"alerts", "globals", "sync_daemon", "pool", "vrrp", "bgp"}[k]
}

// unitKey names a unit across plans: a unit of the old plan and one of the
// new with the same key are the same unit, kept or restarted.
type unitKey struct {
	kind unitKind
	name string // "instance VI_1", "group G", a service; empty for the singletons
}

func (k unitKey) String() string {
	if k.name == "" {
		return k.kind.String()
	}
	return k.kind.String() + " " + k.name
}

// units lists the units p describes; a nil plan has none.
func (p *Plan) units() []unitSpec {
	if p == nil {
		return nil
	}
	var out []unitSpec
	if p.Alert != nil {
		out = append(out, alertSpec{Config: *p.Alert})
	}
	out = append(out, globalSpec{NoEmailFaults: p.NoEmailFaults, LVSTimeouts: p.LVSTimeouts})
	if p.SyncDaemon != nil {
		out = append(out, syncDaemonSpec{Plan: *p.SyncDaemon})
	}
	for i := range p.VirtualServers {
		out = append(out, poolSpec{VirtualServer: p.VirtualServers[i]})
	}
	out = append(out, p.vrrpUnits()...)
	if p.BGP != nil {
		out = append(out, bgpSpec{BGP: *p.BGP})
	}
	return out
}

// changeKind is what applying a plan does to one unit.
type changeKind int

const (
	kept      changeKind = iota // the same configuration: it keeps running
	restarted                   // changed: a new unit replaces the running one
	started                     // new in the plan
	stopped                     // gone from the plan
)

func (c changeKind) String() string {
	return [...]string{"kept", "restarted", "started", "stopped"}[c]
}

// change is what happens to the unit key: old is its spec in the running
// plan, new in the plan applied (nil when absent).
type change struct {
	what     changeKind
	key      unitKey
	old, new unitSpec
}

// changes says, for every unit of the running plan old and the plan new,
// what applying new over old does to it: kept when its configuration is
// the same (sameConfig), restarted when it differs, started when only new
// has it, stopped when only old has it. It is the one place that decides;
// the result is ordered by kind, then key.
func changes(old, new []unitSpec) []change {
	byKey := map[unitKey]unitSpec{}
	for _, s := range old {
		byKey[s.key()] = s
	}
	var out []change
	for _, n := range new {
		k := n.key()
		o, ok := byKey[k]
		delete(byKey, k)
		switch {
		case !ok:
			out = append(out, change{what: started, key: k, new: n})
		case sameConfig(o, n):
			out = append(out, change{what: kept, key: k, old: o, new: n})
		default:
			out = append(out, change{what: restarted, key: k, old: o, new: n})
		}
	}
	for k, o := range byKey {
		out = append(out, change{what: stopped, key: k, old: o})
	}
	slices.SortFunc(out, func(a, b change) int {
		if c := cmp.Compare(a.key.kind, b.key.kind); c != 0 {
			return c
		}
		return cmp.Compare(a.key.name, b.key.name)
	})
	return out
}
