package ipvs

import (
	"fmt"
	"github.com/google/go-cmp/cmp"
	"math/rand/v2"
	"net/netip"
	"slices"
	"time"
)

// randomTable returns a valid table drawn from a small pool of keys, so
// that two random tables share services and destinations often.
func randomTable(r *rand.Rand) []Service {
	var out []Service
	seen := map[ServiceKey]bool{}
	n := r.IntN(6)
	for range n {
		s := randomService(r)
		if seen[s.Key()] {
			continue
		}
		seen[s.Key()] = true
		out = append(out, s)
	}
	return out
}

var (
	testV4 = []string{"10.0.0.1", "10.0.0.2", "192.0.2.10"}
	testV6 = []string{"fd00::1", "2001:db8::10"}
	testR4 = []string{"10.1.0.1", "10.1.0.2", "10.1.0.3", "10.1.0.4"}
	testR6 = []string{"fd00:1::1", "fd00:1::2", "fd00:1::3"}
)

func pick[T any](r *rand.Rand, xs []T) T { return xs[r.IntN(len(xs))] }

func randomService(r *rand.Rand) Service {
	var s Service
	v6 := r.IntN(3) == 0
	if r.IntN(5) == 0 {
		s.FWMark = uint32(1 + r.IntN(3))
		s.Family = Inet
		if v6 {
			s.Family = Inet6
		}
	} else {
		s.Protocol = pick(r, []Protocol{TCP, UDP, SCTP})
		if v6 {
			s.Addr = netip.MustParseAddr(pick(r, testV6))
		} else {
			s.Addr = netip.MustParseAddr(pick(r, testV4))
		}
		s.Port = pick(r, []uint16{80, 443})
	}
	s.Scheduler = pick(r, append([]string{""}, KernelSchedulers()[:13]...))
	if r.IntN(3) == 0 {
		s.Flags = ServiceFlags(r.IntN(int(userFlags)+1)) & userFlags
		if s.Protocol != UDP {
			s.Flags &^= OnePacket
		}
	}
	if r.IntN(2) == 0 {
		s.PersistenceTimeout = time.Duration(1+r.IntN(2)*299) * time.Second
		if r.IntN(2) == 0 {
			if v6 {
				s.PersistenceBits = pick(r, []int{64, 128})
			} else {
				s.PersistenceBits = pick(r, []int{24, 32})
			}
		}
		if r.IntN(4) == 0 {
			s.PEName = "sip"
		}
	}
	for range r.IntN(5) {
		s.Destinations = append(s.Destinations, randomDest(r, v6))
	}
	// Drop duplicate destinations, keeping the first.
	seen := map[DestinationKey]bool{}
	var ds []Destination
	for _, d := range s.Destinations {
		k := s.destKey(&d)
		if !seen[k] {
			seen[k] = true
			ds = append(ds, d)
		}
	}
	s.Destinations = ds
	return s
}

func randomDest(r *rand.Rand, v6 bool) Destination {
	var d Destination
	d.Forward = pick(r, []Forward{Masquerade, DirectRoute, Tunnel})
	other := d.Forward == Tunnel && r.IntN(4) == 0
	if v6 != other {
		d.Addr = netip.MustParseAddr(pick(r, testR6))
	} else {
		d.Addr = netip.MustParseAddr(pick(r, testR4))
	}
	d.Port = pick(r, []uint16{0, 8080})
	d.Weight = int32(r.IntN(4))
	if d.Forward == Tunnel {
		d.TunnelType = pick(r, []TunnelType{TunnelIPIP, TunnelGUE, TunnelGRE})
		switch d.TunnelType {
		case TunnelGUE:
			d.TunnelPort = pick(r, []uint16{5555, 6080})
			d.TunnelFlags = pick(r, []TunnelFlags{0, TunnelCsum, TunnelRemoteCsum})
		case TunnelGRE:
			d.TunnelFlags = pick(r, []TunnelFlags{0, TunnelCsum})
		}
	}
	if r.IntN(3) == 0 {
		d.UpperThreshold = uint32(10 + r.IntN(2)*90)
		d.LowerThreshold = uint32(r.IntN(2) * 5)
	}
	return d
}

// describe prints a table for failure messages.
func describe(t []Service) string {
	s := ""
	for _, v := range t {
		s += fmt.Sprintf("%s sched=%s flags=%#x p=%v/%d pe=%q\n", v.Key(), v.SchedulerName(), uint32(v.Flags), v.PersistenceTimeout, v.PersistenceBits, v.PEName)
		for _, d := range v.Destinations {
			s += fmt.Sprintf("  -> %s w=%d %s %s/%d/%d th=%d/%d\n", d.Key(), d.Weight, d.Forward, d.TunnelType, d.TunnelPort, d.TunnelFlags, d.UpperThreshold, d.LowerThreshold)
		}
	}
	return s
}

// addrCmp lets cmp compare netip.Addr values.
var addrCmp = cmp.Comparer(func(a, b netip.Addr) bool { return a == b })

func newRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, seed)) }

// fitCapabilities rewrites a random table into what a backend with
// capabilities c carries: services it cannot carry are dropped, a
// scheduler it lacks is replaced by one it has, flags, persistence
// engines, thresholds and tunnel options it lacks are cleared, a
// forwarding method it lacks becomes its first, destinations of another
// family (tunnels) are dropped, and without MixedForwards all of a
// service's destinations forward like its first.
func fitCapabilities(c Capabilities, in []Service) []Service {
	var out []Service
	for _, s := range in {
		if s.FWMark != 0 && !c.FWMark || s.FWMark == 0 && !slices.Contains(c.Protocols, s.Protocol) {
			continue
		}
		if s.FWMark == 0 && s.Port == 0 && !c.PortZero {
			continue
		}
		if name := s.SchedulerName(); !slices.Contains(c.Schedulers, name) {
			s.Scheduler = c.Schedulers[len(name)%len(c.Schedulers)]
		}
		if !c.OnePacket {
			s.Flags &^= OnePacket
		}
		if !slices.Contains(c.PersistenceEngines, s.PEName) {
			s.PEName = ""
		}
		if !c.Persistence {
			s.PersistenceTimeout, s.PersistenceBits = 0, 0
		}
		var ds []Destination
		seen := map[DestinationKey]bool{}
		for _, d := range s.Destinations {
			if FamilyOf(d.Addr) != s.Key().Family {
				continue
			}
			if !slices.Contains(c.Forwards, d.Forward) {
				d.Forward = c.Forwards[0]
			}
			if !c.MixedForwards && len(ds) > 0 {
				d.Forward = ds[0].Forward
			}
			if d.Forward != Tunnel {
				d.TunnelType, d.TunnelPort, d.TunnelFlags = 0, 0, 0
			}
			if !c.Thresholds {
				d.UpperThreshold, d.LowerThreshold = 0, 0
			}
			if k := s.destKey(&d); !seen[k] {
				seen[k] = true
				ds = append(ds, d)
			}
		}
		s.Destinations = ds
		out = append(out, s)
	}
	return out
}
