package bgp

import (
	"maps"
	"net/netip"
	"slices"
	"time"
)

// routeTable is the pure bookkeeping of a speaker's routes: the wanted set,
// what is in GoBGP's table, and each route's status. The speaker holds it
// under its lock; it does no I/O.
type routeTable struct {
	want   map[netip.Prefix]Route
	have   map[netip.Prefix]Route
	status map[netip.Prefix]RouteStatus
}

func newRouteTable() *routeTable {
	return &routeTable{
		want:   make(map[netip.Prefix]Route),
		have:   make(map[netip.Prefix]Route),
		status: make(map[netip.Prefix]RouteStatus),
	}
}

// setWant replaces the wanted set. Routes must have been checked.
func (t *routeTable) setWant(want map[netip.Prefix]Route) { t.want = want }

// wantCopy returns a copy of the wanted set, for changing it.
func (t *routeTable) wantCopy() map[netip.Prefix]Route { return maps.Clone(t.want) }

// diff is what to change in GoBGP's table to make it the wanted set.
func (t *routeTable) diff() (announce []Route, withdraw []netip.Prefix) {
	return routeDiff(t.have, t.want)
}

// announced records that r is in GoBGP's table.
func (t *routeTable) announced(r Route, now time.Time) {
	t.have[r.Prefix] = r
	t.mark(r, RouteAnnounced, now)
}

// withdrawn records that p is out of GoBGP's table (or was never in it).
func (t *routeTable) withdrawn(p netip.Prefix, now time.Time) {
	r, ok := t.have[p]
	if !ok {
		r = t.status[p].Route
	}
	delete(t.have, p)
	t.mark(r, RouteWithdrawn, now)
}

// idle records, while the speaker is not running, the wanted routes as
// pending and the others as withdrawn.
func (t *routeTable) idle(now time.Time) {
	for _, r := range t.want {
		t.mark(r, RoutePending, now)
	}
	for p, st := range t.status {
		if _, ok := t.want[p]; !ok && st.State != RouteWithdrawn {
			t.mark(st.Route, RouteWithdrawn, now)
		}
	}
}

// stopped records that GoBGP's table is gone: every route is withdrawn.
func (t *routeTable) stopped(now time.Time) {
	for p := range t.have {
		t.withdrawn(p, now)
	}
	for p, st := range t.status {
		if st.State == RoutePending {
			t.mark(t.status[p].Route, RouteWithdrawn, now)
		}
	}
}

// mark sets r's status, keeping Since while the state stays the same.
func (t *routeTable) mark(r Route, s RouteState, now time.Time) {
	st, ok := t.status[r.Prefix]
	if !ok || st.State != s {
		st.Since = now
	}
	st.Route, st.State = r, s
	t.status[r.Prefix] = st
}

// list returns the statuses sorted by prefix.
func (t *routeTable) list() []RouteStatus {
	out := make([]RouteStatus, 0, len(t.status))
	for _, st := range t.status {
		out = append(out, st)
	}
	slices.SortFunc(out, func(a, b RouteStatus) int { return comparePrefix(a.Route.Prefix, b.Route.Prefix) })
	return out
}
