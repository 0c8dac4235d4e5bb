package director

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/lvskit/lvskit/clock"
	"github.com/lvskit/lvskit/healthcheck"
	"github.com/lvskit/lvskit/ipvs"
)

// poolSpec is the pool of one virtual server.
type poolSpec struct {
	VirtualServer VirtualServerPlan
}

func (s poolSpec) key() unitKey { return unitKey{kindPool, s.VirtualServer.Key().String()} }

// poolConfig is the pool configuration of the virtual server, without the
// run-time parts (Syncer, callbacks, Clock, Logger, Metrics).
func (v *VirtualServerPlan) poolConfig() healthcheck.PoolConfig {
	svc := v.Service
	svc.Destinations = nil
	cfg := healthcheck.PoolConfig{
		Service:     svc,
		Quorum:      v.Quorum,
		Hysteresis:  v.Hysteresis,
		SorryServer: v.SorryServer,
		Omega:       v.Omega,
	}
	for i := range v.RealServers {
		cfg.RealServers = append(cfg.RealServers, v.RealServers[i].RealServer)
	}
	return cfg
}

// build makes the pool. When it replaces a running pool (prev), a real
// server whose checks did not change starts in the health state it has
// there, so that the IPVS sync that follows writes only what differs.
func (s poolSpec) build(d *Director, prev unit) (unit, error) {
	vs := &s.VirtualServer
	cfg := vs.poolConfig()
	if p, ok := prev.(*poolUnit); ok {
		alive := p.pool.Alive()
		was := map[ipvs.DestinationKey]*RealServerPlan{}
		for i := range p.vs.RealServers {
			rs := &p.vs.RealServers[i]
			was[p.vs.Service.DestinationKey(&rs.Destination)] = rs
		}
		for i := range cfg.RealServers {
			rs := &cfg.RealServers[i]
			k := vs.Service.DestinationKey(&rs.Destination)
			a, known := alive[k]
			if old := was[k]; !known || old == nil || !sameConfig(old.Checks, rs.Checks) {
				continue
			}
			rs.Checks = append([]healthcheck.Check(nil), rs.Checks...)
			for j := range rs.Checks {
				rs.Checks[j].Policy.Alpha = !a
			}
		}
	}
	u := &poolUnit{d: d, vs: vs}
	cfg.Syncer = d.table
	cfg.Clock = d.clock
	cfg.Logger = d.log.With("component", "healthcheck")
	cfg.Metrics = d.hcMetrics
	cfg.OnRealServer = d.onRealServer(vs, u.quiet.Load)
	onQuorum := d.onQuorum(vs, u.quiet.Load)
	cfg.OnQuorum = func(ev healthcheck.QuorumEvent) {
		onQuorum(ev)
		d.gate.kick() // the BGP unit asks the pool itself
	}
	pool, err := healthcheck.NewPool(cfg)
	if err != nil {
		return nil, errorAt(vs.Pos, "virtual_server %s: %v", vs.Service.String(), err)
	}
	u.pool = pool
	return u, nil
}

// poolUnit runs one healthcheck.Pool, writing through the director's
// table.
type poolUnit struct {
	d    *Director
	vs   *VirtualServerPlan
	pool *healthcheck.Pool

	cancel context.CancelFunc
	done   chan struct{}
	// quiet silences the pool's notifications while a reload replaces it.
	quiet atomic.Bool
}

// syncTimeout bounds one write of the IPVS table outside a pool's own
// retries.
const syncTimeout = 10 * time.Second

// start runs the pool and syncs its service at once, so that the table
// holds the new configuration when a reload returns (the pool's own first
// sync is then a no-op).
func (u *poolUnit) start(ctx context.Context) {
	rctx, cancel := context.WithCancel(ctx)
	u.cancel = cancel
	u.done = make(chan struct{})
	u.d.bg.Go(func() {
		defer close(u.done)
		if err := u.d.guard("pool "+u.vs.Service.String(), func() error { return u.pool.Run(rctx) }); err != nil {
			u.d.log.Error("pool stopped", "service", u.vs.Service.String(), "err", err)
		}
	})
	sctx, scancel := clock.WithTimeout(ctx, u.d.clock, syncTimeout)
	defer scancel()
	if err := u.d.table.SyncService(sctx, u.pool.Want()); err != nil {
		u.d.log.Error("sync IPVS service", "service", u.vs.Service.String(), "err", err)
	}
	u.d.gate.add(u.vs.Key(), u.pool)
}

// stop ends the pool; unless a new pool replaces it, its service leaves
// the IPVS table.
func (u *poolUnit) stop(replaced bool) {
	if u.cancel == nil { // never started: nothing to stop or remove
		return
	}
	u.quiet.Store(replaced)
	u.cancel()
	<-u.done
	if replaced {
		return // the gate keeps the pool until its successor starts
	}
	u.d.gate.remove(u.vs.Key(), u.pool)
	ctx, cancel := clock.WithTimeout(context.Background(), u.d.clock, syncTimeout)
	defer cancel()
	if err := u.d.table.RemoveService(ctx, u.vs.Key()); err != nil {
		u.d.log.Error("remove IPVS service", "service", u.vs.Service.String(), "err", err)
	}
}

func (u *poolUnit) discard() {}
