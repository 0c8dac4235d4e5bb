package proxy

import (
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lvskit/lvskit/clock"
	"github.com/lvskit/lvskit/ipvs/sched"
	"golang.org/x/sys/unix"
)

// session is one proxied TCP connection or UDP flow.
type session interface {
	destination() *dest
	close()
}

type dest struct {
	addr    netip.AddrPort // immutable: readable without the lock
	sd      *sched.Dest
	cfg     DestConfig // under service.mu
	stats   counters
	persist atomic.Int32 // templates pointing here
	removed bool         // under service.mu
	drain   clock.Timer  // under service.mu
}

// template is a persistence template: the client network's server.
type template struct {
	d          *dest
	lastUsed   time.Time
	controlled int // connections scheduled through it and still open
	dead       bool
}

type service struct {
	p   *Proxy
	key ServiceKey

	mu        sync.Mutex
	cfg       ServiceConfig
	sched     sched.Scheduler
	dests     []*dest // the kernel's list order: newest first
	byDest    map[*sched.Dest]*dest
	templates map[netip.Addr]*template
	lastSweep time.Time
	sessions  map[session]struct{}
	flows     map[netip.AddrPort]*udpFlow // UDP only
	removed   bool
	drain     clock.Timer
	timers    []clock.Timer // drains of removed destinations

	stats   counters
	refused atomic.Uint64 // clients refused for the descriptor budget

	ln      *net.TCPListener // goroutine data path
	rl      *rawListener     // event-loop data path
	uc      *net.UDPConn
	lnOnce  sync.Once // closes whichever of the three it is
	counted bool      // the listening socket is in the budget
}

func (p *Proxy) newService(c ServiceConfig) (*service, error) {
	sc, err := sched.New(c.schedName(), c.Flags, p.cfg.Sched)
	if err != nil {
		return nil, err
	}
	sc.Update(nil)
	return &service{
		p: p, key: c.Key(), cfg: c, sched: sc,
		byDest:    make(map[*sched.Dest]*dest),
		templates: make(map[netip.Addr]*template),
		sessions:  make(map[session]struct{}),
		flows:     make(map[netip.AddrPort]*udpFlow),
	}, nil
}

func (s *service) listen() error {
	if s.key.Protocol == UDP {
		var uc *net.UDPConn
		err := s.p.inNetns(func() (err error) { uc, err = listenUDP(s.p.ctx, s.key.Addr); return err })
		if err != nil {
			return err
		}
		s.uc = uc
	} else {
		var ln *net.TCPListener
		err := s.p.inNetns(func() (err error) { ln, err = listenTCP(s.p.ctx, s.key.Addr); return err })
		if err != nil {
			return err
		}
		if s.p.eventLoops() == nil {
			s.ln = ln
		} else {
			fd, err := takeListener(ln)
			if err != nil {
				return err
			}
			s.rl = &rawListener{fd: fd, s: s, unspecified: s.key.Addr.Addr().IsUnspecified()}
		}
	}
	s.p.budget.addFixed(1)
	s.counted = true
	return nil
}

func (s *service) start() {
	if s.rl != nil {
		s.p.loops.addListener(s.rl)
		return
	}
	s.p.wg.Add(1)
	if s.ln != nil {
		go s.acceptLoop()
	} else {
		go s.udpLoop()
	}
}

func (s *service) update(c ServiceConfig) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c.schedName() != s.cfg.schedName() || c.Flags != s.cfg.Flags {
		sc, err := sched.New(c.schedName(), c.Flags, s.p.cfg.Sched)
		if err != nil {
			return err
		}
		sc.Update(s.schedDests())
		s.sched = sc
	}
	if c.PersistenceTimeout != s.cfg.PersistenceTimeout || c.PersistenceBits != s.cfg.PersistenceBits {
		for k, t := range s.templates {
			s.dropTemplate(k, t)
		}
	}
	s.cfg = c
	return nil
}

func (s *service) schedDests() []*sched.Dest {
	out := make([]*sched.Dest, len(s.dests))
	for i, d := range s.dests {
		out[i] = d.sd
	}
	return out
}

func (s *service) findDest(a netip.AddrPort) int {
	a = netip.AddrPortFrom(a.Addr().Unmap(), a.Port())
	return slices.IndexFunc(s.dests, func(d *dest) bool { return d.addr == a })
}

func (s *service) addDest(c DestConfig) error {
	c.Addr = netip.AddrPortFrom(c.Addr.Addr().Unmap(), c.Addr.Port())
	if !c.Addr.IsValid() || c.Addr.Port() == 0 {
		return fmt.Errorf("address %s: need an address and a port", c.Addr)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.findDest(c.Addr) >= 0 {
		return ErrExists
	}
	d := &dest{addr: c.Addr, sd: sched.NewDest(c.Addr, c.Weight), cfg: c}
	d.sd.SetThresholds(c.UpperThreshold, c.LowerThreshold)
	s.dests = slices.Insert(s.dests, 0, d) // the kernel prepends
	s.byDest[d.sd] = d
	s.sched.Update(s.schedDests())
	return nil
}

func (s *service) updateDest(c DestConfig) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := s.findDest(c.Addr)
	if i < 0 {
		return ErrNotFound
	}
	d := s.dests[i]
	c.Addr = d.cfg.Addr
	d.cfg = c
	d.sd.SetWeight(c.Weight)
	d.sd.SetThresholds(c.UpperThreshold, c.LowerThreshold)
	s.sched.Update(s.schedDests())
	return nil
}

func (s *service) removeDest(a netip.AddrPort) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := s.findDest(a)
	if i < 0 {
		return ErrNotFound
	}
	d := s.dests[i]
	s.dests = slices.Delete(s.dests, i, i+1)
	delete(s.byDest, d.sd)
	d.removed = true
	s.sched.Update(s.schedDests())
	for k, t := range s.templates {
		if t.d == d {
			s.dropTemplate(k, t)
		}
	}
	if s.hasSessions(d) {
		d.drain = s.p.clk.AfterFunc(s.p.cfg.DrainTimeout, func() { s.closeSessions(d) })
		s.timers = append(s.timers, d.drain)
	}
	return nil
}

func (s *service) hasSessions(d *dest) bool {
	for x := range s.sessions {
		if x.destination() == d {
			return true
		}
	}
	return false
}

// closeSessions closes the sessions of d, or all of them when d is nil.
func (s *service) closeSessions(d *dest) {
	s.mu.Lock()
	var victims []session
	for x := range s.sessions {
		if d == nil || x.destination() == d {
			victims = append(victims, x)
		}
	}
	s.mu.Unlock()
	for _, x := range victims {
		x.close()
	}
}

func (s *service) dropTemplate(k netip.Addr, t *template) {
	delete(s.templates, k)
	if !t.dead {
		t.dead = true
		t.d.persist.Add(-1)
	}
}

func (s *service) templateUsable(t *template, now time.Time) bool {
	if t.d.removed {
		return false
	}
	if s.p.cfg.ExpireQuiescentTemplate && t.d.sd.Weight() == 0 {
		return false
	}
	return t.controlled > 0 || now.Sub(t.lastUsed) <= s.cfg.PersistenceTimeout
}

// sweepTemplates drops expired templates, at most once a second.
func (s *service) sweepTemplates(now time.Time) {
	if now.Sub(s.lastSweep) < time.Second && now.After(s.lastSweep) {
		return
	}
	s.lastSweep = now
	for k, t := range s.templates {
		if !s.templateUsable(t, now) && t.controlled == 0 {
			s.dropTemplate(k, t)
		}
	}
}

// schedule picks the destination of a new connection or flow from client
// to local (the service address it reached), applies persistence, binds
// the connection (inactive) and registers x. It returns nil when no
// destination is available or the service is gone.
func (s *service) schedule(client, local netip.AddrPort, x session, bindTo **dest, tmpl **template) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.removed {
		return false
	}
	flow := sched.Flow{Src: client, Dst: local}
	var d *dest
	var t *template
	if s.cfg.PersistenceTimeout > 0 {
		now := s.p.clk.Now()
		s.sweepTemplates(now)
		key := maskAddr(client.Addr(), s.cfg.PersistenceBits)
		if old := s.templates[key]; old != nil {
			if s.templateUsable(old, now) {
				t = old
			} else {
				s.dropTemplate(key, old)
			}
		}
		if t == nil {
			sd := s.sched.Pick(flow)
			if sd == nil {
				return false
			}
			t = &template{d: s.byDest[sd]}
			t.d.persist.Add(1)
			s.templates[key] = t
		}
		t.controlled++
		t.lastUsed = now
		d = t.d
	} else {
		sd := s.sched.Pick(flow)
		if sd == nil {
			return false
		}
		d = s.byDest[sd]
	}
	d.sd.Bind(false)
	d.stats.conns.Add(1)
	s.stats.conns.Add(1)
	*bindTo, *tmpl = d, t
	s.sessions[x] = struct{}{}
	return true
}

// release undoes schedule when x ends.
func (s *service) release(x session, d *dest, t *template, active bool) {
	d.sd.Unbind(active)
	s.mu.Lock()
	delete(s.sessions, x)
	if t != nil {
		t.controlled--
		t.lastUsed = s.p.clk.Now()
	}
	if d.removed && d.drain != nil && !s.hasSessions(d) {
		d.drain.Stop()
		s.timers = slices.DeleteFunc(s.timers, func(x clock.Timer) bool { return x == d.drain })
		d.drain = nil
	}
	gone := s.removed && len(s.sessions) == 0
	if gone && s.drain != nil {
		s.drain.Stop()
	}
	s.mu.Unlock()
	if gone {
		s.p.forget(s)
	}
}

func maskAddr(a netip.Addr, bits int) netip.Addr {
	a = a.Unmap()
	if bits <= 0 || bits >= a.BitLen() {
		return a
	}
	p, err := a.Prefix(bits)
	if err != nil {
		return a
	}
	return p.Addr()
}

// remove stops accepting and lets TCP connections drain; UDP flows end
// at once.
func (s *service) remove() {
	s.closeListener()
	s.mu.Lock()
	s.removed = true
	if s.key.Protocol == TCP && len(s.sessions) > 0 {
		s.drain = s.p.clk.AfterFunc(s.p.cfg.DrainTimeout, func() { s.closeSessions(nil) })
		s.mu.Unlock()
		return
	}
	s.mu.Unlock()
	s.closeSessions(nil)
	s.mu.Lock()
	gone := len(s.sessions) == 0
	s.mu.Unlock()
	if gone {
		s.p.forget(s)
	}
}

// shutdown closes everything at once (Proxy.Close).
func (s *service) shutdown() {
	s.mu.Lock()
	s.removed = true
	if s.drain != nil {
		s.drain.Stop()
	}
	for _, t := range s.timers {
		t.Stop()
	}
	s.mu.Unlock()
	s.closeListener()
	s.closeSessions(nil)
}

// closeListener closes the service's listening socket; idempotent.
func (s *service) closeListener() {
	s.lnOnce.Do(func() {
		switch {
		case s.ln != nil:
			s.ln.Close()
		case s.rl != nil:
			s.p.loops.removeListener(s.rl)
			unix.Close(s.rl.fd)
		case s.uc != nil:
			s.uc.Close()
		}
		if s.counted {
			s.p.budget.addFixed(-1)
		}
	})
}

func (s *service) status() ServiceStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := ServiceStatus{Config: s.cfg, Stats: s.stats.snapshot(), Refused: s.refused.Load()}
	for i := len(s.dests) - 1; i >= 0; i-- { // oldest first
		d := s.dests[i]
		st.Dests = append(st.Dests, DestStatus{
			Config:        d.cfg,
			ActiveConns:   d.sd.ActiveConns(),
			InactiveConns: d.sd.InactiveConns(),
			PersistConns:  int(d.persist.Load()),
			Stats:         d.stats.snapshot(),
		})
	}
	return st
}
