package proxy

import (
	"math"
	"time"
)

// estimatorInterval is the kernel's IPVS rate estimation period.
const estimatorInterval = 2 * time.Second

// rates is the rate estimate of one counters set, as the kernel's
// ip_vs_est keeps it: every 2 s the rate over the period is folded into
// an average with weight 1/4.
type rates struct {
	last                              Stats
	cps, ppsIn, ppsOut, bpsIn, bpsOut float64
}

func ewma(avg *float64, delta uint64, period time.Duration) {
	*avg += (float64(delta)/period.Seconds() - *avg) / 4
}

// estimate folds the counters' growth since the last call into the
// averages and publishes them.
func (c *counters) estimate(period time.Duration) {
	now := c.snapshot()
	r := &c.est
	ewma(&r.cps, now.Conns-r.last.Conns, period)
	ewma(&r.ppsIn, now.PacketsIn-r.last.PacketsIn, period)
	ewma(&r.ppsOut, now.PacketsOut-r.last.PacketsOut, period)
	ewma(&r.bpsIn, now.BytesIn-r.last.BytesIn, period)
	ewma(&r.bpsOut, now.BytesOut-r.last.BytesOut, period)
	r.last = now
	c.cps.Store(uint64(math.Round(r.cps)))
	c.ppsIn.Store(uint64(math.Round(r.ppsIn)))
	c.ppsOut.Store(uint64(math.Round(r.ppsOut)))
	c.bpsIn.Store(uint64(math.Round(r.bpsIn)))
	c.bpsOut.Store(uint64(math.Round(r.bpsOut)))
}

// estimateAll updates the rates of every service and destination.
func (p *Proxy) estimateAll(period time.Duration) {
	p.mu.Lock()
	ss := make([]*service, 0, len(p.services))
	for _, s := range p.services {
		ss = append(ss, s)
	}
	p.mu.Unlock()
	for _, s := range ss {
		s.mu.Lock()
		s.stats.estimate(period)
		for _, d := range s.dests {
			d.stats.estimate(period)
		}
		s.mu.Unlock()
	}
}

// runEstimator updates the rates every estimatorInterval of the proxy's
// clock, and logs refusals that are not logged yet.
func (p *Proxy) runEstimator() {
	defer p.wg.Done()
	t := p.clk.NewTimer(estimatorInterval)
	defer t.Stop()
	for {
		select {
		case <-p.ctx.Done():
			return
		case <-t.C():
			p.estimateAll(estimatorInterval)
			p.flushRefusals()
			t.Reset(estimatorInterval)
		}
	}
}
