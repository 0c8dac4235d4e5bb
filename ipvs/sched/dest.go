package sched

import (
	"net/netip"
	"sync/atomic"
)

// Dest is one real server as the schedulers see it: its address, weight,
// thresholds and live connection counters. All methods are safe for
// concurrent use. The owner creates it with NewDest, reports connections
// with Bind, Unbind and SetActive, and calls Scheduler.Update after
// SetWeight.
type Dest struct {
	// Addr is the real server's address and port. It does not change.
	Addr netip.AddrPort

	weight     atomic.Int32
	lastWeight atomic.Int32 // latest non-zero weight, as the kernel keeps for mh
	active     atomic.Int32
	inactive   atomic.Int32
	upper      atomic.Uint32
	lower      atomic.Uint32
	overloaded atomic.Bool
}

// NewDest returns a destination with the given weight (negative is taken
// as 0) and no thresholds.
func NewDest(addr netip.AddrPort, weight int) *Dest {
	d := &Dest{Addr: addr}
	w := clampWeight(weight)
	d.weight.Store(w)
	d.lastWeight.Store(w)
	return d
}

func clampWeight(w int) int32 {
	if w < 0 {
		return 0
	}
	if w > 1<<30 {
		return 1 << 30
	}
	return int32(w)
}

// Weight returns the current weight.
func (d *Dest) Weight() int { return int(d.weight.Load()) }

// SetWeight changes the weight. Call Scheduler.Update afterwards so that
// schedulers with precomputed tables (wrr, dh, sh, mh) see it.
func (d *Dest) SetWeight(w int) {
	v := clampWeight(w)
	if v != 0 {
		d.lastWeight.Store(v)
	}
	d.weight.Store(v)
}

// SetThresholds sets the upper and lower connection thresholds (0 = none).
// Like the kernel, raising or removing the upper threshold clears the
// overloaded state at once.
func (d *Dest) SetThresholds(upper, lower uint32) {
	old := d.upper.Load()
	if upper == 0 || upper > old {
		d.overloaded.Store(false)
	}
	d.upper.Store(upper)
	d.lower.Store(lower)
}

// Thresholds returns the upper and lower thresholds.
func (d *Dest) Thresholds() (upper, lower uint32) { return d.upper.Load(), d.lower.Load() }

// ActiveConns returns the number of active connections (established TCP).
func (d *Dest) ActiveConns() int { return int(d.active.Load()) }

// InactiveConns returns the number of inactive connections (TCP not
// established yet or closing, and UDP flows, as the kernel counts them).
func (d *Dest) InactiveConns() int { return int(d.inactive.Load()) }

// Overloaded reports whether the upper threshold was reached and the count
// has not yet fallen below the lower threshold.
func (d *Dest) Overloaded() bool { return d.overloaded.Load() }

// Bind counts a new connection to d, as active or inactive, and marks d
// overloaded when its total (active + inactive, as the kernel's
// ip_vs_dest_totalconns; templates do not count) reaches the upper
// threshold.
func (d *Dest) Bind(active bool) {
	if active {
		d.active.Add(1)
	} else {
		d.inactive.Add(1)
	}
	if u := d.upper.Load(); u != 0 && d.total() >= int64(u) {
		d.overloaded.Store(true)
	}
}

// Unbind removes a connection counted by Bind (with its current activity),
// and clears the overloaded state by the kernel's rule
// (ip_vs_unbind_dest): once the total falls below the lower threshold,
// or below 3/4 of the upper one when there is no lower threshold
// (total*4 < upper*3).
func (d *Dest) Unbind(active bool) {
	if active {
		d.active.Add(-1)
	} else {
		d.inactive.Add(-1)
	}
	if !d.overloaded.Load() {
		return
	}
	total := d.total()
	l, u := d.lower.Load(), d.upper.Load()
	switch {
	case l != 0:
		if total < int64(l) {
			d.overloaded.Store(false)
		}
	case u != 0:
		if total*4 < int64(u)*3 {
			d.overloaded.Store(false)
		}
	default:
		d.overloaded.Store(false)
	}
}

// SetActive moves one connection between the inactive and active counts
// (a TCP connection becoming established, or starting to close).
func (d *Dest) SetActive(active bool) {
	if active {
		d.inactive.Add(-1)
		d.active.Add(1)
	} else {
		d.active.Add(-1)
		d.inactive.Add(1)
	}
}

func (d *Dest) total() int64 { return int64(d.active.Load()) + int64(d.inactive.Load()) }

// connOverhead is the kernel's ip_vs_dest_conn_overhead: active
// connections weigh 256 times an inactive one.
func (d *Dest) connOverhead() int64 {
	return int64(d.active.Load())<<8 + int64(d.inactive.Load())
}

// usable reports whether d may take a new connection at all.
func (d *Dest) usable() bool { return d.weight.Load() > 0 && !d.overloaded.Load() }
