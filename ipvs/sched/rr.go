package sched

import "sync"

// roundRobin is the kernel's rr: the next usable destination after the
// last one picked, circularly.
type roundRobin struct {
	mu    sync.Mutex
	dests []*Dest
	last  int // index of the last pick; -1 before the first
}

func (s *roundRobin) Update(dests []*Dest) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var lastDest *Dest
	if s.last >= 0 && s.last < len(s.dests) {
		lastDest = s.dests[s.last]
	}
	s.dests = append(s.dests[:0:0], dests...)
	s.last = -1
	for i, d := range s.dests {
		if d == lastDest {
			s.last = i
		}
	}
}

func (s *roundRobin) Pick(Flow) *Dest {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := len(s.dests)
	for i := 1; i <= n; i++ {
		j := (s.last + i) % n
		if d := s.dests[j]; d.usable() {
			s.last = j
			return d
		}
	}
	return nil
}

// weightedRoundRobin is the kernel's wrr: passes over the list with a
// current weight cw that starts at the maximum weight and steps down by
// the gcd of the weights; a destination is picked when its weight >= cw.
type weightedRoundRobin struct {
	mu    sync.Mutex
	dests []*Dest
	cl    int   // current position, -1 = list head
	cw    int32 // current weight
	mw    int32 // maximum weight - (di - 1)
	di    int32 // decreasing interval: gcd of the weights
}

func (s *weightedRoundRobin) Update(dests []*Dest) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dests = append(s.dests[:0:0], dests...)
	var g, maxW int32
	for _, d := range s.dests {
		w := d.weight.Load()
		if w > 0 {
			if g > 0 {
				g = gcd(w, g)
			} else {
				g = w
			}
		}
		if w > maxW {
			maxW = w
		}
	}
	if g == 0 {
		g = 1
	}
	s.cl = -1
	s.di = g
	s.mw = maxW - (g - 1)
	if s.cw > s.mw || s.cw == 0 {
		s.cw = s.mw
	} else if s.di > 1 {
		s.cw = (s.cw/s.di)*s.di + 1
	}
}

func (s *weightedRoundRobin) Pick(Flow) *Dest {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mw == 0 {
		return nil
	}
	n := len(s.dests)
	last := s.cl
	stop := -2 // none
	lastPass, restarted := false, false
	i := s.cl
	for {
		for i++; i < n; i++ {
			d := s.dests[i]
			if !d.overloaded.Load() && d.weight.Load() >= s.cw {
				s.cl = i
				return d
			}
			if i == stop {
				s.cl = i
				return nil
			}
		}
		i = -1 // back at the head
		s.cw -= s.di
		if s.cw <= 0 {
			s.cw = s.mw
			// A whole pass with cw >= 1 found nothing: give up.
			if lastPass || last == -1 {
				s.cl = -1
				return nil
			}
			restarted = true
		}
		lastPass = s.cw <= s.di
		if lastPass && restarted && last != -1 {
			// The first pass for weight >= 1 covered only the
			// destinations after last; finish at last this time.
			stop = last
		}
	}
}
