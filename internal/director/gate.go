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
type quorumGate struct {
	mu    sync.Mutex
	pools map[ipvs.ServiceKey]*healthcheck.Pool
	kickC chan struct{}
}

func (g *quorumGate) init() {
	if g.pools == nil {
		g.pools = map[ipvs.ServiceKey]*healthcheck.Pool{}
		g.kickC = make(chan struct{}, 1)
	}
}

// add makes p the running pool of service k.
func (g *quorumGate) add(k ipvs.ServiceKey, p *healthcheck.Pool) {
	g.mu.Lock()
	g.init()
	g.pools[k] = p
	g.mu.Unlock()
	g.kick()
}

// remove forgets service k, if p still is its pool.
func (g *quorumGate) remove(k ipvs.ServiceKey, p *healthcheck.Pool) {
	g.mu.Lock()
	g.init()
	if g.pools[k] == p {
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

// up reports whether any of the services runs with its quorum.
func (g *quorumGate) up(keys []ipvs.ServiceKey) bool {
	g.mu.Lock()
	pools := make([]*healthcheck.Pool, 0, len(keys))
	for _, k := range keys {
		if p := g.pools[k]; p != nil {
			pools = append(pools, p)
		}
	}
	g.mu.Unlock()
	for _, p := range pools {
		if p.QuorumUp() {
			return true
		}
	}
	return false
}
