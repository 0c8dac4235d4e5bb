package sched

import (
	"net/netip"
	"slices"
	"sync"
	"time"
)

// Kernel constants of the locality schedulers' table housekeeping.
const (
	localityCheckInterval = time.Minute     // CHECK_EXPIRE_INTERVAL
	localityEntryTimeout  = 6 * time.Minute // ENTRY_TIMEOUT, when the table is over size
	localityMaxEntries    = 1024 * 16       // IP_VS_LBLC(R)_TAB_SIZE * 16
)

// localityOverloaded is the lblc/lblcr test of "this server is overloaded
// and a less loaded one exists": more active connections than its weight,
// while some destination has fewer than half its weight.
func localityOverloaded(d *Dest, dests []*Dest) bool {
	if d.active.Load() <= d.weight.Load() {
		return false
	}
	for _, o := range dests {
		if int64(o.active.Load())*2 < int64(o.weight.Load()) {
			return true
		}
	}
	return false
}

type lblcEntry struct {
	dest    *Dest
	lastUse time.Time
}

// lblc is locality-based least-connection: the connection's destination
// address maps to the server it was last sent to, unless that server is
// unavailable or overloaded, in which case wlc picks a new one and the map
// is updated.
type lblc struct {
	opts   Options
	mu     sync.Mutex
	dests  []*Dest
	table  map[netip.Addr]lblcEntry
	lastGC time.Time
}

func newLBLC(o Options) *lblc {
	return &lblc{opts: o, table: make(map[netip.Addr]lblcEntry)}
}

func (s *lblc) Update(dests []*Dest) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dests = append(s.dests[:0:0], dests...)
	for k, e := range s.table {
		if !slices.Contains(s.dests, e.dest) {
			delete(s.table, k)
		}
	}
}

func (s *lblc) Pick(f Flow) *Dest {
	now := s.opts.now()
	key := f.Dst.Addr().Unmap()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gc(now)
	if e, ok := s.table[key]; ok {
		// As in the kernel, a cached server is kept while its weight is
		// positive and it is not overloaded in lblc's own sense; the
		// threshold flag is not consulted here.
		if e.dest.weight.Load() > 0 && !localityOverloaded(e.dest, s.dests) {
			e.lastUse = now
			s.table[key] = e
			return e.dest
		}
	}
	d := pickWLC(s.dests)
	if d == nil {
		return nil
	}
	s.table[key] = lblcEntry{dest: d, lastUse: now}
	return d
}

func (s *lblc) gc(now time.Time) {
	if now.Sub(s.lastGC) < localityCheckInterval {
		return
	}
	s.lastGC = now
	exp := s.opts.expiration()
	over := len(s.table) > localityMaxEntries
	for k, e := range s.table {
		age := now.Sub(e.lastUse)
		if age >= exp || (over && age >= localityEntryTimeout) {
			delete(s.table, k)
		}
	}
}

type lblcrEntry struct {
	set     []*Dest // most recently inserted first, as the kernel's list
	lastMod time.Time
	lastUse time.Time
}

// lblcr is locality-based least-connection with replication: the
// destination address maps to a set of servers. The least loaded member of
// the set is used unless it is overloaded; then wlc over all servers picks
// one and adds it to the set. A set unchanged for the expiration time sheds
// its most loaded member.
type lblcr struct {
	opts   Options
	mu     sync.Mutex
	dests  []*Dest
	table  map[netip.Addr]*lblcrEntry
	lastGC time.Time
}

func newLBLCR(o Options) *lblcr {
	return &lblcr{opts: o, table: make(map[netip.Addr]*lblcrEntry)}
}

func (s *lblcr) Update(dests []*Dest) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dests = append(s.dests[:0:0], dests...)
	for k, e := range s.table {
		e.set = slices.DeleteFunc(e.set, func(d *Dest) bool { return !slices.Contains(s.dests, d) })
		if len(e.set) == 0 {
			delete(s.table, k)
		}
	}
}

// setMax is the member with the highest overhead/weight (weight > 0).
func setMax(set []*Dest) int {
	most := -1
	var moh int64
	for i, d := range set {
		w := int64(d.weight.Load())
		if w <= 0 {
			continue
		}
		doh := d.connOverhead()
		if most < 0 || moh*w < doh*int64(set[most].weight.Load()) {
			most, moh = i, doh
		}
	}
	return most
}

func (s *lblcr) Pick(f Flow) *Dest {
	now := s.opts.now()
	key := f.Dst.Addr().Unmap()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gc(now)
	e, ok := s.table[key]
	if ok {
		e.lastUse = now
		d := pickWLC(e.set)
		if len(e.set) > 1 && now.Sub(e.lastMod) > s.opts.expiration() {
			if m := setMax(e.set); m >= 0 {
				e.set = slices.Delete(e.set, m, m+1)
				e.lastMod = now
			}
		}
		if d != nil && !localityOverloaded(d, s.dests) {
			return d
		}
	}
	d := pickWLC(s.dests)
	if d == nil {
		return nil
	}
	if !ok {
		e = &lblcrEntry{lastUse: now}
		s.table[key] = e
	}
	if !slices.Contains(e.set, d) {
		e.set = slices.Insert(e.set, 0, d)
		e.lastMod = now
	}
	return d
}

func (s *lblcr) gc(now time.Time) {
	if now.Sub(s.lastGC) < localityCheckInterval {
		return
	}
	s.lastGC = now
	exp := s.opts.expiration()
	over := len(s.table) > localityMaxEntries
	for k, e := range s.table {
		age := now.Sub(e.lastUse)
		if age >= exp || (over && age >= localityEntryTimeout) {
			delete(s.table, k)
		}
	}
}
