package director

import (
	"sync"

	"github.com/lvskit/lvskit/healthcheck"
	"github.com/lvskit/lvskit/ipvs"
)

// quorumGate knows the running pools by service, so that the BGP unit can
// announce an address while a service on it has its quorum. Pools join it
// when they start and leave when they stop for good (a pool replaced by a
// reload stays until its successor takes its place); every change, and
// every quorum change a pool reports, wakes the one reader (changed). The
// reader asks the pools themselves (Pool.QuorumUp), so a late or
// reordered notification cannot leave it with a stale answer.
//
// A service counts only once every checker of its pool has had a probe
// counted (Pool.Probed), and from then on for as long as the service
// runs, across reloads: before that, the pool's view is its starting
// state, and a director that announced with it would schedule flows by a
// Maglev table that the other directors, which have seen the real
// servers, do not share.
type quorumGate struct {
	mu    sync.Mutex
	pools map[ipvs.ServiceKey]*gateEntry
	kickC chan struct{}
}

type gateEntry struct {
	pool   *healthcheck.Pool
	probed bool // latched
}

func (g *quorumGate) init() {
	if g.pools == nil {
		g.pools = map[ipvs.ServiceKey]*gateEntry{}
		g.kickC = make(chan struct{}, 1)
	}
}

// add makes p the running pool of service k.
func (g *quorumGate) add(k ipvs.ServiceKey, p *healthcheck.Pool) {
	g.mu.Lock()
	g.init()
	if e := g.pools[k]; e != nil {
		e.pool = p
	} else {
		g.pools[k] = &gateEntry{pool: p}
	}
	g.mu.Unlock()
	g.kick()
}

// remove forgets service k, if p still is its pool.
func (g *quorumGate) remove(k ipvs.ServiceKey, p *healthcheck.Pool) {
	g.mu.Lock()
	g.init()
	if e := g.pools[k]; e != nil && e.pool == p {
		delete(g.pools, k)
	}
	g.mu.Unlock()
	g.kick()
}

// kick wakes the reader; a wake-up already pending is enough.
func (g *quorumGate) kick() {
	g.mu.Lock()
	g.init()
	c := g.kickC
	g.mu.Unlock()
	select {
	case c <- struct{}{}:
	default:
	}
}

// changed is the reader's wake-up channel.
func (g *quorumGate) changed() <-chan struct{} {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.init()
	return g.kickC
}

// up reports whether any of the services runs with its quorum, its pool
// probed; pending, whether one has its quorum but is not probed yet (a
// first probe sends no notification when it changes nothing: ask again).
func (g *quorumGate) up(keys []ipvs.ServiceKey) (up, pending bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, k := range keys {
		e := g.pools[k]
		if e == nil || !e.pool.QuorumUp() {
			continue
		}
		if !e.probed {
			e.probed = e.pool.Probed()
		}
		if e.probed {
			return true, false
		}
		pending = true
	}
	return false, pending
}

// pool is service k's running pool, or nil.
func (g *quorumGate) pool(k ipvs.ServiceKey) *healthcheck.Pool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if e := g.pools[k]; e != nil {
		return e.pool
	}
	return nil
}
