package director

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lvskit/lvskit/bgp"
	"github.com/lvskit/lvskit/clock"
	"github.com/lvskit/lvskit/ipvs"
)

// The BGP unit: one speaker (package bgp) announcing each address of the
// bgp block while a virtual server on it runs with its quorum. It is the
// last unit kind, so it starts once the pools run and stops first: on a
// graceful stop it withdraws the routes, drains, and only then do VRRP and
// the pools stop.

// bgpSpec is the bgp block.
type bgpSpec struct {
	BGP BGPPlan
}

func (s bgpSpec) key() unitKey { return unitKey{kind: kindBGP} }

// build checks the speaker's configuration. A reload whose speaker
// settings (AS, router ID, listening) are those of the running speaker
// takes that speaker over: its peers change by difference (SetPeers, which
// leaves the sessions of unchanged peers alone) and its routes follow the
// new announce lines. Anything else needs a new speaker.
func (s bgpSpec) build(d *Director, prev unit) (unit, error) {
	if err := s.BGP.Speaker.Validate(); err != nil {
		return nil, fmt.Errorf("%s: bgp: %w", s.BGP.Pos, err)
	}
	u := &bgpUnit{d: d, plan: s.BGP}
	if p, ok := prev.(*bgpUnit); ok && p.run != nil && sameSpeaker(p.plan.Speaker, s.BGP.Speaker) {
		u.adopt = p.run
	}
	return u, nil
}

// sameSpeaker reports whether a and b differ at most in their peers.
func sameSpeaker(a, b bgp.Config) bool {
	a.Peers, b.Peers = nil, nil
	return sameConfig(a, b)
}

// bgpRun is a running speaker; it outlives a unit replaced by a reload
// that keeps its settings.
type bgpRun struct {
	sp      *bgp.Speaker
	metrics *bgp.Metrics
	cancel  context.CancelFunc
	done    chan struct{}
}

// bgpUnit feeds the speaker the routes of the services that are up.
type bgpUnit struct {
	d     *Director
	plan  BGPPlan
	adopt *bgpRun // the running speaker this unit takes over, if any

	run    *bgpRun
	cancel context.CancelFunc // of the gate loop
	done   chan struct{}
}

const (
	// withdrawTimeout bounds the wait for the withdrawals to be sent.
	withdrawTimeout = 5 * time.Second
	// drainPoll is how often a drain reads the IPVS table; drainQuiet is
	// how long the withdrawn services must see no packet for the drain
	// to end before its timeout.
	drainPoll  = 100 * time.Millisecond
	drainQuiet = time.Second
	// gatePoll is how often the gate asks again while a service waits
	// for its first probes.
	gatePoll = 50 * time.Millisecond
)

func (u *bgpUnit) start(ctx context.Context) {
	d := u.d
	if old := d.bgpRun.Load(); u.adopt != nil && old == u.adopt {
		u.run = u.adopt
		if err := u.run.sp.SetPeers(ctx, u.plan.Speaker.Peers); err != nil {
			d.log.Error("bgp: change peers", "err", err)
		}
	} else {
		if old != nil {
			// One speaker per namespace (port 179): the old one goes
			// first. Its routes are withdrawn, not drained: the new
			// speaker announces them again at once.
			d.log.Info("bgp: speaker settings changed; restarting the speaker (every session)")
			d.bgpRun.CompareAndSwap(old, nil)
			u.shutdown(old, false)
		}
		run, err := u.newRun(ctx)
		if err != nil {
			d.log.Error("bgp: start speaker", "err", err)
			return
		}
		u.run = run
	}
	d.bgpRun.Store(u.run)
	if u.plan.SloppyTCP {
		d.sloppyTCP()
	}
	gctx, cancel := context.WithCancel(ctx)
	u.cancel, u.done = cancel, make(chan struct{})
	d.bg.Go(func() {
		defer close(u.done)
		u.gateLoop(gctx)
	})
}

// newRun starts a speaker for the plan; its Run lasts until shutdown.
func (u *bgpUnit) newRun(ctx context.Context) (*bgpRun, error) {
	d := u.d
	cfg := u.plan.Speaker
	cfg.Clock = d.clock
	cfg.Logger = d.log.With("component", "bgp")
	cfg.Metrics = bgp.NewMetrics()
	sp, err := bgp.New(cfg)
	if err != nil {
		return nil, err
	}
	rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	r := &bgpRun{sp: sp, metrics: cfg.Metrics, cancel: cancel, done: make(chan struct{})}
	d.bg.Go(func() {
		defer close(r.done)
		if err := sp.Run(rctx); err != nil {
			d.log.Error("bgp speaker failed", "err", err)
		}
	})
	return r, nil
}

// gateLoop announces what is up, again whenever a pool starts, stops or
// reports a quorum change, and every gatePoll while a service waits for
// its first probes, until ctx ends.
func (u *bgpUnit) gateLoop(ctx context.Context) {
	changed := u.d.gate.changed()
	announced := map[netip.Prefix]bool{}
	for {
		routes, pending := u.wanted()
		now := map[netip.Prefix]bool{}
		for _, r := range routes {
			now[r.Prefix] = true
			if !announced[r.Prefix] {
				u.syncFirst(ctx, r.Prefix)
			}
		}
		announced = now
		if err := u.run.sp.SetRoutes(routes); err != nil && !errors.Is(err, bgp.ErrStopped) {
			u.d.log.Error("bgp: set routes", "err", err)
		}
		var poll <-chan time.Time
		var t clock.Timer
		if pending {
			t = u.d.clock.NewTimer(gatePoll)
			poll = t.C()
		}
		select {
		case <-ctx.Done():
		case <-changed:
		case <-poll:
		}
		if t != nil {
			t.Stop()
		}
		if ctx.Err() != nil {
			return
		}
	}
}

// syncFirst writes the services of the address p into the IPVS table
// before p is announced: a pool syncs on its own goroutine after its
// checks report, and the flows the routers send once the route is out
// must find every real server the pool has seen alive (a Maglev table
// over fewer would send some to the wrong one).
func (u *bgpUnit) syncFirst(ctx context.Context, p netip.Prefix) {
	for _, a := range u.plan.Announce {
		if a.Route.Prefix != p {
			continue
		}
		for _, k := range a.Services {
			pool := u.d.gate.pool(k)
			if pool == nil {
				continue
			}
			sctx, cancel := clock.WithTimeout(ctx, u.d.clock, syncTimeout)
			err := u.d.table.SyncService(sctx, pool.Want())
			cancel()
			if err != nil {
				u.d.log.Error("bgp: sync the IPVS service before announcing", "service", k, "err", err)
			}
		}
	}
}

// wanted is the routes whose services are up; pending says a service
// waits for its first probes.
func (u *bgpUnit) wanted() (routes []bgp.Route, pending bool) {
	for _, a := range u.plan.Announce {
		up, p := u.d.gate.up(a.Services)
		if up {
			routes = append(routes, a.Route)
		}
		pending = pending || p
	}
	return routes, pending
}

// stop ends the gate loop. Replaced, it leaves the speaker to its
// successor (which takes it over or stops it); for good, it withdraws
// every route, drains and stops the speaker.
func (u *bgpUnit) stop(replaced bool) {
	if u.run == nil {
		return
	}
	u.cancel()
	<-u.done
	if replaced {
		return
	}
	u.d.bgpRun.CompareAndSwap(u.run, nil)
	u.shutdown(u.run, true)
}

func (u *bgpUnit) discard() {}

// shutdown withdraws the routes of r, drains when asked to, and stops r.
func (u *bgpUnit) shutdown(r *bgpRun, drain bool) {
	d := u.d
	wctx, cancel := clock.WithTimeout(context.Background(), d.clock, withdrawTimeout)
	err := r.sp.WithdrawAll(wctx)
	cancel()
	if err != nil {
		d.log.Warn("bgp: withdrawals not confirmed sent", "err", err)
	}
	if drain {
		var keys []ipvs.ServiceKey
		for _, a := range u.plan.Announce {
			keys = append(keys, a.Services...)
		}
		start := d.clock.Now()
		d.log.Info("bgp: routes withdrawn; draining", "timeout", u.plan.DrainTimeout)
		why := d.drain(keys, u.plan.DrainTimeout)
		d.log.Info("bgp: drained", "after", d.clock.Now().Sub(start), "because", why)
	}
	r.cancel()
	<-r.done
}

// drain waits, after a withdrawal, until the services have no active
// connection, or none of their packets has arrived for drainQuiet (the
// routers send the flows elsewhere: a DR flow table still counts the
// connections as active until they time out), or timeout passes. It
// returns which.
func (d *Director) drain(keys []ipvs.ServiceKey, timeout time.Duration) string {
	want := make(map[ipvs.ServiceKey]bool, len(keys))
	for _, k := range keys {
		want[k] = true
	}
	deadline := d.clock.Now().Add(timeout)
	var lastPackets uint64
	var quietSince time.Time
	for {
		ctx, cancel := clock.WithTimeout(context.Background(), d.clock, drainPoll*10)
		table, err := d.backend.Dump(ctx)
		cancel()
		now := d.clock.Now()
		if err == nil {
			var active, packets uint64
			for i := range table {
				s := &table[i]
				if !want[s.Key()] {
					continue
				}
				packets += s.Stats.PacketsIn
				for j := range s.Destinations {
					active += uint64(s.Destinations[j].ActiveConns)
				}
			}
			switch {
			case active == 0:
				return "no active connection"
			case packets != lastPackets || quietSince.IsZero():
				lastPackets, quietSince = packets, now
			case packets > 0 && now.Sub(quietSince) >= drainQuiet:
				return fmt.Sprintf("%d connections active, but no packet for %v", active, drainQuiet)
			}
		} else {
			d.log.Warn("bgp: drain: read the IPVS table", "err", err)
		}
		if !now.Before(deadline) {
			return "drain_timeout"
		}
		clock.Sleep(d.clock, min(drainPoll, deadline.Sub(now)), nil)
	}
}

// sloppyTCP sets net.ipv4.vs.sloppy_tcp on kernel IPVS, so that a TCP
// packet of a connection IPVS has not seen (ECMP moved the flow here from
// another director) creates a connection entry instead of being dropped;
// with mh it reaches the same real server the other director chose. It is
// left set when the director stops.
func (d *Director) sloppyTCP() {
	if d.backendName != ipvs.KindNetlink || d.host == nil {
		return
	}
	const key = "net/ipv4/vs/sloppy_tcp"
	if _, err := d.host.SetSysctl(key, "1"); err != nil {
		d.log.Error("bgp: set sloppy_tcp for DR with mh behind ECMP", "err", err)
		return
	}
	d.log.Info("bgp: set net.ipv4.vs.sloppy_tcp=1: ECMP may move a connection here mid-way")
}

// bgpCollector exports the running speaker's metrics (the speaker changes
// when a reload changes its settings). It is an unchecked collector.
type bgpCollector struct{ d *Director }

func (bgpCollector) Describe(chan<- *prometheus.Desc) {}

func (c bgpCollector) Collect(ch chan<- prometheus.Metric) {
	if r := c.d.bgpRun.Load(); r != nil {
		r.metrics.Collect(ch)
	}
}

// BGPStatus is the bgp section of the status: the speaker's peers and
// routes, and for each announced address whether a service on it is up.
type BGPStatus struct {
	bgp.Status
	Announce []AnnounceStatus `json:"announce"`
}

// AnnounceStatus is one announced address.
type AnnounceStatus struct {
	Address netip.Addr `json:"address"`
	// QuorumUp says a virtual server on the address runs with its
	// quorum, every real server probed, so the route is wanted.
	QuorumUp bool     `json:"quorum_up"`
	Services []string `json:"services"`
}

// bgpStatus is the bgp section for plan p; nil without a bgp block.
func (d *Director) bgpStatus(p *Plan) *BGPStatus {
	if p == nil || p.BGP == nil {
		return nil
	}
	st := &BGPStatus{Announce: []AnnounceStatus{}}
	if r := d.bgpRun.Load(); r != nil {
		st.Status = r.sp.Status()
	}
	for _, a := range p.BGP.Announce {
		up, _ := d.gate.up(a.Services)
		as := AnnounceStatus{Address: a.Route.Prefix.Addr(), QuorumUp: up}
		for _, k := range a.Services {
			as.Services = append(as.Services, k.String())
		}
		st.Announce = append(st.Announce, as)
	}
	return st
}
