package sched

// scan is a scheduler without state of its own: it looks at every
// destination's counters on each pick (lc, wlc, sed, nq, fo, ovf).
type scan struct {
	list destList
	pick func([]*Dest) *Dest
}

func (s *scan) Update(dests []*Dest) { s.list.store(dests) }
func (s *scan) Pick(Flow) *Dest      { return s.pick(s.list.load()) }

// pickLC is lc: the smallest active*256+inactive, first one on ties.
func pickLC(dests []*Dest) *Dest {
	var least *Dest
	var loh int64
	for _, d := range dests {
		if !d.usable() {
			continue
		}
		if doh := d.connOverhead(); least == nil || doh < loh {
			least, loh = d, doh
		}
	}
	return least
}

// weightedLeast picks the smallest overhead/weight, comparing
// loh*dw > doh*lw to stay in integers as the kernel does. The first
// candidate must have weight > 0; after it, weight-0 destinations can never
// win the comparison.
func weightedLeast(dests []*Dest, overhead func(*Dest) int64) *Dest {
	var least *Dest
	var loh int64
	i := 0
	for ; i < len(dests); i++ {
		if d := dests[i]; d.usable() {
			least, loh = d, overhead(d)
			break
		}
	}
	if least == nil {
		return nil
	}
	for i++; i < len(dests); i++ {
		d := dests[i]
		if d.overloaded.Load() {
			continue
		}
		doh := overhead(d)
		if loh*int64(d.weight.Load()) > doh*int64(least.weight.Load()) {
			least, loh = d, doh
		}
	}
	return least
}

// pickWLC is wlc: least (active*256+inactive)/weight.
func pickWLC(dests []*Dest) *Dest { return weightedLeast(dests, (*Dest).connOverhead) }

// pickSED is sed, shortest expected delay: least (active+1)/weight.
func pickSED(dests []*Dest) *Dest { return weightedLeast(dests, sedOverhead) }

func sedOverhead(d *Dest) int64 { return int64(d.active.Load()) + 1 }

// pickNQ is nq, never queue: the first idle destination (no active
// connections) if there is one, else sed.
func pickNQ(dests []*Dest) *Dest {
	var least *Dest
	var loh int64
	for _, d := range dests {
		if !d.usable() {
			continue
		}
		if d.active.Load() == 0 {
			return d
		}
		doh := sedOverhead(d)
		if least == nil || loh*int64(d.weight.Load()) > doh*int64(least.weight.Load()) {
			least, loh = d, doh
		}
	}
	return least
}

// pickFO is fo, weighted failover: the usable destination with the highest
// weight, the first one on ties.
func pickFO(dests []*Dest) *Dest {
	var best *Dest
	var bw int32
	for _, d := range dests {
		if !d.usable() {
			continue
		}
		if w := d.weight.Load(); best == nil || w > bw {
			best, bw = d, w
		}
	}
	return best
}

// pickOVF is ovf, overflow-connection: the highest weight destination
// whose active connections do not exceed its weight.
func pickOVF(dests []*Dest) *Dest {
	var best *Dest
	var bw int32
	for _, d := range dests {
		w := d.weight.Load()
		if !d.usable() || d.active.Load() > w {
			continue
		}
		if best == nil || w > bw {
			best, bw = d, w
		}
	}
	return best
}
