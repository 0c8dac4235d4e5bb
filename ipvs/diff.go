package ipvs

import (
	"cmp"
	"net/netip"
	"slices"
)

// Diff returns the operations that turn the table have into want, fewest
// first: what can be edited in place is edited (a service's scheduler,
// flags, persistence and persistence engine; a destination's weight,
// forwarding method, thresholds and tunnel options), never deleted and
// added again, so established connections and counters survive. A service
// or destination whose identity changed is a different one: the old is
// deleted and the new added.
//
// The order is safe to apply one operation after the other:
//
//  1. services that are no longer wanted are deleted (with them, the
//     kernel drops their destinations);
//  2. for each kept service, in want's order: unwanted destinations are
//     deleted, then the service is updated, then destinations are
//     updated, then new destinations are added;
//  3. new services are added, each followed by its destinations.
//
// Statistics and connection counts are ignored. Defaults are compared as
// their effective values (an empty scheduler is "wlc", zero persistence
// bits are a full mask, a zero destination port is the service's port), so
// a table read back from a backend equals the table it was written from.
// Diff does not validate: Sync does, before it writes anything.
func Diff(have, want []Service) []Op {
	haveIdx := make(map[ServiceKey]int, len(have))
	for i := range have {
		haveIdx[have[i].Key()] = i
	}
	wantIdx := make(map[ServiceKey]int, len(want))
	for i := range want {
		wantIdx[want[i].Key()] = i
	}

	var ops []Op
	for i := range have {
		h := &have[i]
		if _, ok := wantIdx[h.Key()]; !ok {
			ops = append(ops, Op{Kind: DeleteService, Service: serviceOnly(h)})
		}
	}
	var adds []Op
	for i := range want {
		w := &want[i]
		if j, dup := wantIdx[w.Key()]; dup && j != i {
			continue // a later entry with the same key wins, as in a map
		}
		hi, ok := haveIdx[w.Key()]
		if !ok {
			adds = append(adds, Op{Kind: AddService, Service: serviceOnly(w)})
			for _, d := range dedupDests(w) {
				adds = append(adds, Op{Kind: AddDestination, Service: serviceOnly(w), Destination: normalDest(w, d)})
			}
			continue
		}
		ops = append(ops, diffService(&have[hi], w)...)
	}
	return append(ops, adds...)
}

// diffService compares two services with the same key.
func diffService(h, w *Service) []Op {
	var ops []Op
	id := serviceOnly(w)
	hd := make(map[DestinationKey]*Destination, len(h.Destinations))
	for i := range h.Destinations {
		hd[h.destKey(&h.Destinations[i])] = &h.Destinations[i]
	}
	wd := dedupDests(w)
	wk := make(map[DestinationKey]bool, len(wd))
	for _, d := range wd {
		wk[w.destKey(d)] = true
	}
	for i := range h.Destinations {
		d := &h.Destinations[i]
		if !wk[h.destKey(d)] {
			ops = append(ops, Op{Kind: DeleteDestination, Service: id, Destination: normalDest(h, d)})
		}
	}
	if !sameServiceAttrs(h, w) {
		ops = append(ops, Op{Kind: UpdateService, Service: id})
	}
	var adds []Op
	for _, d := range wd {
		old, ok := hd[w.destKey(d)]
		switch {
		case !ok:
			adds = append(adds, Op{Kind: AddDestination, Service: id, Destination: normalDest(w, d)})
		case !sameDestAttrs(old, d):
			ops = append(ops, Op{Kind: UpdateDestination, Service: id, Destination: normalDest(w, d)})
		}
	}
	return append(ops, adds...)
}

// dedupDests returns w's destinations, the last of each key winning.
func dedupDests(w *Service) []*Destination {
	last := make(map[DestinationKey]int, len(w.Destinations))
	for i := range w.Destinations {
		last[w.destKey(&w.Destinations[i])] = i
	}
	out := make([]*Destination, 0, len(last))
	for i := range w.Destinations {
		if last[w.destKey(&w.Destinations[i])] == i {
			out = append(out, &w.Destinations[i])
		}
	}
	return out
}

// serviceOnly copies s without destinations and stats: what an Op carries.
func serviceOnly(s *Service) Service {
	c := *s
	c.Destinations = nil
	c.Stats = Stats{}
	return c
}

// normalDest copies d with its effective port and without counters.
func normalDest(s *Service, d *Destination) Destination {
	c := *d
	c.Addr = c.Addr.Unmap()
	c.Port = s.destKey(d).Port
	c.ActiveConns, c.InactiveConns, c.PersistConns = 0, 0, 0
	c.Stats = Stats{}
	return c
}

func sameServiceAttrs(a, b *Service) bool {
	return a.SchedulerName() == b.SchedulerName() &&
		a.Flags&userFlags == b.Flags&userFlags &&
		a.PersistenceTimeout == b.PersistenceTimeout &&
		a.PersistenceMask() == b.PersistenceMask() &&
		a.PEName == b.PEName
}

func sameDestAttrs(a, b *Destination) bool {
	return a.Weight == b.Weight &&
		a.Forward == b.Forward &&
		a.TunnelType == b.TunnelType &&
		a.TunnelPort == b.TunnelPort &&
		a.TunnelFlags == b.TunnelFlags &&
		a.UpperThreshold == b.UpperThreshold &&
		a.LowerThreshold == b.LowerThreshold
}

// Canonical returns a copy of a table in a normal form: services and
// destinations sorted by key, defaults filled in (scheduler, persistence
// bits, destination port, family), flags limited to the user-settable
// bits, and statistics and connection counts cleared. Two tables that
// Diff finds equal have equal canonical forms, so tests compare them with
// cmp.Diff.
func Canonical(services []Service) []Service {
	out := make([]Service, 0, len(services))
	for i := range services {
		s := serviceOnly(&services[i])
		k := s.Key()
		s.Family = k.Family
		s.Addr = k.Addr
		if s.FWMark != 0 {
			s.Protocol, s.Addr, s.Port = 0, netip.Addr{}, 0
		}
		s.Scheduler = s.SchedulerName()
		s.PersistenceBits = s.PersistenceMask()
		s.Flags &= userFlags
		for _, d := range dedupDests(&services[i]) {
			s.Destinations = append(s.Destinations, normalDest(&services[i], d))
		}
		slices.SortFunc(s.Destinations, func(a, b Destination) int { return compareDestKey(a.Key(), b.Key()) })
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b Service) int { return compareServiceKey(a.Key(), b.Key()) })
	return out
}

func compareServiceKey(a, b ServiceKey) int {
	return cmp.Or(
		cmp.Compare(a.FWMark, b.FWMark),
		cmp.Compare(a.Family, b.Family),
		cmp.Compare(a.Protocol, b.Protocol),
		a.Addr.Compare(b.Addr),
		cmp.Compare(a.Port, b.Port),
	)
}

func compareDestKey(a, b DestinationKey) int {
	return cmp.Or(a.Addr.Compare(b.Addr), cmp.Compare(a.Port, b.Port))
}
