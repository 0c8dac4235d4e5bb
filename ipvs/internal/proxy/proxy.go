package proxy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vishvananda/netns"

	"github.com/lvskit/lvskit/clock"
	"github.com/lvskit/lvskit/ipvs/sched"
)

// Protocol is a service's transport protocol, as its IANA number.
type Protocol uint8

// The protocols the proxy serves.
const (
	TCP Protocol = 6
	UDP Protocol = 17
)

func (p Protocol) String() string {
	switch p {
	case TCP:
		return "TCP"
	case UDP:
		return "UDP"
	}
	return fmt.Sprintf("proto(%d)", uint8(p))
}

// Errors callers branch on.
var (
	ErrExists   = errors.New("already exists")
	ErrNotFound = errors.New("not found")
	ErrClosed   = errors.New("proxy closed")
)

// Config configures a Proxy. The zero value is usable.
type Config struct {
	// Logger receives debug and error messages; nil discards them.
	Logger *slog.Logger
	// DrainTimeout bounds how long connections of a removed destination
	// or TCP service keep running before they are closed. Zero means 60 s.
	DrainTimeout time.Duration
	// DialTimeout bounds the connection to a real server. Zero means 5 s.
	DialTimeout time.Duration
	// UDPTimeout is how long a UDP flow lives without datagrams in either
	// direction. Zero means 300 s, the kernel's IPVS UDP timeout.
	UDPTimeout time.Duration
	// TCPTimeout is how long an established TCP connection may go
	// without payload in either direction before the proxy resets both
	// sides. Zero means 900 s, the kernel's IPVS TCP timeout.
	TCPTimeout time.Duration
	// FinTimeout bounds how long a TCP connection stays half-closed
	// waiting for the other direction to finish. Zero means 120 s, the
	// kernel's IPVS FIN_WAIT timeout.
	FinTimeout time.Duration
	// ExpireQuiescentTemplate makes a persistence template whose server
	// has weight 0 invalid, as the kernel's expire_quiescent_template
	// sysctl does. False (the kernel's default) keeps sending a persistent
	// client to its quiesced server.
	ExpireQuiescentTemplate bool
	// Clock is the time of persistence templates, connection timeouts
	// (dial, idle, FIN, UDP), drains, rate estimates and the refusal log;
	// nil means the wall clock. With a fake clock (tests) nothing times
	// out until the clock is advanced. (The pause after an accept that
	// ran out of descriptors uses the wall clock.)
	Clock clock.Clock
	// FDReserve is how many of the process's file descriptors
	// (RLIMIT_NOFILE, whose soft limit New raises to the hard limit) the
	// proxy leaves to the rest of the process: health checks, netlink,
	// VRRP sockets, the metrics server. The proxy counts every
	// descriptor it holds against the rest and refuses new clients
	// when their sockets would not fit. Zero means DefaultFDReserve
	// (1024), or half the limit if that is less; negative means none.
	FDReserve int
	// Sched passes options to the schedulers (lblc expiry, mh table size).
	Sched sched.Options
	// Workers is the number of event loops that carry TCP connections.
	// Zero means GOMAXPROCS.
	Workers int
	// CopyGoroutines carries each TCP connection with two goroutines
	// that splice with io.Copy, instead of the event loops. False (the
	// default) uses the event loops, and falls back to goroutines by
	// itself when the kernel refuses epoll or splice.
	CopyGoroutines bool
	// BusyWait is how long an event loop that has just had work waits
	// for more in the kernel, keeping its P, before it parks in Go's
	// poller. Zero means 100 µs; negative never waits in the kernel.
	BusyWait time.Duration
	// Netns is the network namespace the proxy listens and dials in
	// (inNetns); zero or negative means the process's. The proxy does not
	// close it.
	Netns netns.NsHandle
}

func (c *Config) defaults() {
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.DrainTimeout <= 0 {
		c.DrainTimeout = 60 * time.Second
	}
	if c.DialTimeout <= 0 {
		c.DialTimeout = 5 * time.Second
	}
	if c.UDPTimeout <= 0 {
		c.UDPTimeout = 300 * time.Second
	}
	if c.TCPTimeout <= 0 {
		c.TCPTimeout = 900 * time.Second
	}
	if c.FinTimeout <= 0 {
		c.FinTimeout = 120 * time.Second
	}
	c.Clock = clock.Or(c.Clock)
	if c.Workers <= 0 {
		c.Workers = runtime.GOMAXPROCS(0)
	}
	if c.BusyWait == 0 {
		c.BusyWait = 100 * time.Microsecond
	}
}

// ServiceKey identifies a service.
type ServiceKey struct {
	Protocol Protocol
	Addr     netip.AddrPort
}

func (k ServiceKey) String() string { return fmt.Sprintf("%s %s", k.Protocol, k.Addr) }

// ServiceConfig is a virtual service.
type ServiceConfig struct {
	Protocol Protocol
	Addr     netip.AddrPort // the address and port to listen on
	// Scheduler is a sched name; empty means "wlc".
	Scheduler string
	Flags     sched.Flags
	// PersistenceTimeout > 0 makes the service persistent.
	PersistenceTimeout time.Duration
	// PersistenceBits is the client prefix length of a template; 0 means
	// the whole address.
	PersistenceBits int
	// ProxyProtocol sends a PROXY protocol v2 header to the real server at
	// the start of each connection (TCP only).
	ProxyProtocol bool
}

// Key returns the service's identity.
func (c ServiceConfig) Key() ServiceKey {
	return ServiceKey{Protocol: c.Protocol, Addr: netip.AddrPortFrom(c.Addr.Addr().Unmap(), c.Addr.Port())}
}

func (c ServiceConfig) schedName() string {
	if c.Scheduler == "" {
		return "wlc"
	}
	return c.Scheduler
}

// DestConfig is a real server of a service.
type DestConfig struct {
	Addr           netip.AddrPort
	Weight         int
	UpperThreshold uint32
	LowerThreshold uint32
}

// Stats are 64-bit counters. "In" is client to server, "Out" server to
// client. Packets are counted for UDP only.
type Stats struct {
	Conns      uint64
	PacketsIn  uint64
	PacketsOut uint64
	BytesIn    uint64
	BytesOut   uint64
	// Rates per second, estimated as the kernel does (every 2 s, an
	// average weighing the last period 1/4).
	CPS, PPSIn, PPSOut, BPSIn, BPSOut uint64
}

// ServiceStatus is a service as Services reports it.
type ServiceStatus struct {
	Config ServiceConfig
	Stats  Stats
	Dests  []DestStatus // in the order they were added
	// Refused counts the TCP connections and UDP flows refused because
	// the proxy's descriptor budget was full (see Budget).
	Refused uint64
}

// DestStatus is a destination as Services reports it.
type DestStatus struct {
	Config        DestConfig
	ActiveConns   int
	InactiveConns int
	PersistConns  int // live persistence templates pointing to it
	Stats         Stats
}

type counters struct {
	conns, pktsIn, pktsOut, bytesIn, bytesOut atomic.Uint64
	cps, ppsIn, ppsOut, bpsIn, bpsOut         atomic.Uint64 // published rates
	est                                       rates         // estimator goroutine only
}

func (c *counters) snapshot() Stats {
	return Stats{
		Conns: c.conns.Load(), PacketsIn: c.pktsIn.Load(), PacketsOut: c.pktsOut.Load(),
		BytesIn: c.bytesIn.Load(), BytesOut: c.bytesOut.Load(),
		CPS: c.cps.Load(), PPSIn: c.ppsIn.Load(), PPSOut: c.ppsOut.Load(),
		BPSIn: c.bpsIn.Load(), BPSOut: c.bpsOut.Load(),
	}
}

// Proxy is a set of virtual services. Its methods are safe for concurrent
// use.
type Proxy struct {
	cfg    Config
	log    *slog.Logger
	clk    clock.Clock
	epoch  time.Time       // clk's time at New: since() counts from it
	ctx    context.Context // canceled by Close; bounds dials
	cancel context.CancelFunc

	budget   *fdBudget
	refused  atomic.Uint64 // clients refused for the budget
	refusals rateLog       // of the refusal log line

	mu       sync.Mutex
	services map[ServiceKey]*service
	order    []ServiceKey
	draining map[*service]struct{} // removed TCP services with open connections
	closed   bool

	wg sync.WaitGroup // every goroutine the proxy started

	loops      *loopSet // under mu; nil until the first TCP service
	loopsTried bool

	// The connection timeouts, which SetTimeouts changes live.
	tcpTO, finTO, udpTO atomic.Int64
}

func (p *Proxy) tcpTimeout() time.Duration { return time.Duration(p.tcpTO.Load()) }
func (p *Proxy) finTimeout() time.Duration { return time.Duration(p.finTO.Load()) }
func (p *Proxy) udpTimeout() time.Duration { return time.Duration(p.udpTO.Load()) }

// Timeouts returns the established TCP, TCP FIN and UDP timeouts in use.
func (p *Proxy) Timeouts() (tcp, fin, udp time.Duration) {
	return p.tcpTimeout(), p.finTimeout(), p.udpTimeout()
}

// SetTimeouts changes the established TCP, TCP FIN and UDP timeouts, as
// ipvsadm --set does for the kernel; a zero or negative one is left as it
// is. As in the kernel, the new timeouts apply to the connections and
// flows that are open, counted from their last activity: one idle for
// longer than its new timeout ends at once.
func (p *Proxy) SetTimeouts(tcp, fin, udp time.Duration) {
	for _, t := range []struct {
		v *atomic.Int64
		d time.Duration
	}{{&p.tcpTO, tcp}, {&p.finTO, fin}, {&p.udpTO, udp}} {
		if t.d > 0 {
			t.v.Store(int64(t.d))
		}
	}
	p.mu.Lock()
	ls := p.loops
	svcs := make([]*service, 0, len(p.services)+len(p.draining))
	for _, s := range p.services {
		svcs = append(svcs, s)
	}
	for s := range p.draining {
		svcs = append(svcs, s)
	}
	p.mu.Unlock()
	if ls != nil {
		ls.timeoutsChanged()
	}
	for _, s := range svcs {
		s.mu.Lock()
		for x := range s.sessions {
			switch x := x.(type) {
			case *tcpSession:
				x.recheckIdle()
			case *udpFlow:
				x.recheck()
			}
		}
		s.mu.Unlock()
	}
}

// since is the proxy clock's time since New, for activity stamps.
func (p *Proxy) since() int64 { return int64(p.clk.Now().Sub(p.epoch)) }

// Budget reports the proxy's share of the process's file descriptors and
// how many clients it refused for want of them.
func (p *Proxy) Budget() Budget { return p.budget.status(p.refused.Load()) }

// admit counts the sockets of a new TCP connection (n = 2) or UDP flow
// (n = 1) against the budget and reports whether they fit.
func (p *Proxy) admit(n int) bool { return p.budget.take(n) }

// refuse counts a client of s refused for the budget and logs, at most
// once a second, how many were since the last line. With each line the
// event loops give back the pipes they keep for reuse.
func (p *Proxy) refuse(s *service) {
	s.refused.Add(1)
	p.refused.Add(1)
	if n, due := p.refusals.note(p.clk.Now()); due {
		p.logRefusals(n, s)
		p.mu.Lock()
		ls := p.loops
		p.mu.Unlock()
		if ls != nil {
			ls.trimPipes()
		}
	}
}

func (p *Proxy) logRefusals(n uint64, s *service) {
	b := p.Budget()
	args := []any{"refused", n, "total", b.Refused, "fds", b.InUse, "limit", b.Limit, "reserve", b.Reserve}
	if s != nil {
		args = append(args, "service", s.key)
	}
	p.log.Warn("refused new clients: the proxy's file descriptor budget is full", args...)
}

// flushRefusals logs the refusals not logged yet, when a line is due.
func (p *Proxy) flushRefusals() {
	if n, due := p.refusals.flush(p.clk.Now()); due {
		p.logRefusals(n, nil)
	}
}

// eventLoops returns the TCP event loops, starting them on first use, or
// nil for the goroutine data path. Called with p.mu held.
func (p *Proxy) eventLoops() *loopSet {
	if p.cfg.CopyGoroutines || p.loopsTried {
		return p.loops
	}
	p.loopsTried = true
	ls, err := newLoopSet(p, p.cfg.Workers)
	if err != nil {
		p.log.Info("TCP event loops unavailable, copying with goroutines", "err", err)
		return nil
	}
	p.loops = ls
	return ls
}

// New returns a proxy with no services.
func New(cfg Config) *Proxy {
	cfg.defaults()
	ctx, cancel := context.WithCancel(context.Background())
	p := &Proxy{
		cfg: cfg, log: cfg.Logger, clk: cfg.Clock, epoch: cfg.Clock.Now(), ctx: ctx, cancel: cancel,
		refusals: rateLog{every: time.Second},
		services: make(map[ServiceKey]*service),
		draining: make(map[*service]struct{}),
	}
	b, err := newFDBudget(cfg.FDReserve)
	if err != nil {
		p.log.Warn("no descriptor budget: connections are not limited", "err", err)
		b = &fdBudget{limit: -1, max: 1 << 62}
	}
	p.budget = b
	p.tcpTO.Store(int64(cfg.TCPTimeout))
	p.finTO.Store(int64(cfg.FinTimeout))
	p.udpTO.Store(int64(cfg.UDPTimeout))
	p.wg.Add(1)
	go p.runEstimator()
	return p
}

// AddService starts listening on the service's address. It fails with
// ErrExists if the service is there, or with the listen error.
func (p *Proxy) AddService(c ServiceConfig) error {
	k := c.Key()
	c.Addr = k.Addr
	if err := checkService(c); err != nil {
		return fmt.Errorf("add service %s: %w", k, err)
	}
	s, err := p.newService(c)
	if err != nil {
		return fmt.Errorf("add service %s: %w", k, err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return fmt.Errorf("add service %s: %w", k, ErrClosed)
	}
	if _, ok := p.services[k]; ok {
		return fmt.Errorf("add service %s: %w", k, ErrExists)
	}
	if err := s.listen(); err != nil {
		return fmt.Errorf("add service %s: listen: %w", k, err)
	}
	p.services[k] = s
	p.order = append(p.order, k)
	s.start()
	p.log.Debug("service added", "service", k, "scheduler", c.schedName())
	return nil
}

func checkService(c ServiceConfig) error {
	if c.Protocol != TCP && c.Protocol != UDP {
		return fmt.Errorf("protocol %s: only TCP and UDP", c.Protocol)
	}
	if !c.Addr.IsValid() || c.Addr.Port() == 0 {
		return fmt.Errorf("address %s: need an address and a port", c.Addr)
	}
	if c.ProxyProtocol && c.Protocol != TCP {
		return errors.New("PROXY protocol headers are sent on TCP only")
	}
	if c.PersistenceTimeout < 0 {
		return errors.New("negative persistence timeout")
	}
	bits := 32
	if !c.Addr.Addr().Is4() {
		bits = 128
	}
	if c.PersistenceBits < 0 || c.PersistenceBits > bits {
		return fmt.Errorf("persistence prefix length %d: not in 0..%d", c.PersistenceBits, bits)
	}
	return nil
}

// UpdateService changes the scheduler, flags, persistence or PROXY
// protocol of a service. Open connections are not affected.
func (p *Proxy) UpdateService(c ServiceConfig) error {
	k := c.Key()
	c.Addr = k.Addr
	if err := checkService(c); err != nil {
		return fmt.Errorf("update service %s: %w", k, err)
	}
	s, err := p.service(k)
	if err != nil {
		return fmt.Errorf("update service %s: %w", k, err)
	}
	if err := s.update(c); err != nil {
		return fmt.Errorf("update service %s: %w", k, err)
	}
	return nil
}

// RemoveService closes the service's listener. TCP connections drain
// (Config.DrainTimeout); UDP flows end at once.
func (p *Proxy) RemoveService(k ServiceKey) error {
	k = ServiceKey{Protocol: k.Protocol, Addr: netip.AddrPortFrom(k.Addr.Addr().Unmap(), k.Addr.Port())}
	p.mu.Lock()
	s, ok := p.services[k]
	if !ok || p.closed {
		p.mu.Unlock()
		if p.closed {
			return fmt.Errorf("remove service %s: %w", k, ErrClosed)
		}
		return fmt.Errorf("remove service %s: %w", k, ErrNotFound)
	}
	delete(p.services, k)
	p.order = slices.DeleteFunc(p.order, func(x ServiceKey) bool { return x == k })
	p.draining[s] = struct{}{}
	p.mu.Unlock()
	s.remove()
	p.log.Debug("service removed", "service", k)
	return nil
}

// forget drops a removed service whose last connection ended.
func (p *Proxy) forget(s *service) {
	p.mu.Lock()
	delete(p.draining, s)
	p.mu.Unlock()
}

func (p *Proxy) service(k ServiceKey) (*service, error) {
	k = ServiceKey{Protocol: k.Protocol, Addr: netip.AddrPortFrom(k.Addr.Addr().Unmap(), k.Addr.Port())}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, ErrClosed
	}
	s, ok := p.services[k]
	if !ok {
		return nil, ErrNotFound
	}
	return s, nil
}

// AddDest adds a real server to a service; it takes connections from the
// next one on.
func (p *Proxy) AddDest(k ServiceKey, d DestConfig) error {
	s, err := p.service(k)
	if err == nil {
		err = s.addDest(d)
	}
	if err != nil {
		return fmt.Errorf("add destination %s to %s: %w", d.Addr, k, err)
	}
	return nil
}

// UpdateDest changes a real server's weight and thresholds.
func (p *Proxy) UpdateDest(k ServiceKey, d DestConfig) error {
	s, err := p.service(k)
	if err == nil {
		err = s.updateDest(d)
	}
	if err != nil {
		return fmt.Errorf("update destination %s of %s: %w", d.Addr, k, err)
	}
	return nil
}

// RemoveDest removes a real server: no new connections, and its open ones
// are closed after Config.DrainTimeout unless they end before.
func (p *Proxy) RemoveDest(k ServiceKey, addr netip.AddrPort) error {
	s, err := p.service(k)
	if err == nil {
		err = s.removeDest(addr)
	}
	if err != nil {
		return fmt.Errorf("remove destination %s of %s: %w", addr, k, err)
	}
	return nil
}

// Services returns every service with its destinations, counters and
// statistics, in the order they were added.
func (p *Proxy) Services() []ServiceStatus {
	p.mu.Lock()
	ss := make([]*service, 0, len(p.order))
	for _, k := range p.order {
		ss = append(ss, p.services[k])
	}
	p.mu.Unlock()
	out := make([]ServiceStatus, 0, len(ss))
	for _, s := range ss {
		out = append(out, s.status())
	}
	return out
}

// Close stops every service and closes every connection at once, then
// waits for all goroutines. It is idempotent.
func (p *Proxy) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		p.wg.Wait()
		return nil
	}
	p.closed = true
	all := make([]*service, 0, len(p.services)+len(p.draining))
	for _, s := range p.services {
		all = append(all, s)
	}
	for s := range p.draining {
		all = append(all, s)
	}
	p.services = map[ServiceKey]*service{}
	p.draining = map[*service]struct{}{}
	p.order = nil
	p.mu.Unlock()
	p.cancel()
	for _, s := range all {
		s.shutdown()
	}
	p.mu.Lock()
	loops := p.loops
	p.mu.Unlock()
	if loops != nil {
		loops.stop()
	}
	p.wg.Wait()
	return nil
}

// isClosedErr reports whether err comes from a closed socket.
func isClosedErr(err error) bool { return errors.Is(err, net.ErrClosed) }
