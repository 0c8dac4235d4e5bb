package ipvs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/vishvananda/netns"

	"github.com/lvskit/lvskit/clock"
	"github.com/lvskit/lvskit/ipvs/internal/proxy"
	"github.com/lvskit/lvskit/ipvs/sched"
)

// UserspaceConfig configures the userspace backend. The zero value is
// usable; every zero field means the default it documents.
type UserspaceConfig struct {
	// Logger receives the proxy's messages; nil discards them.
	Logger *slog.Logger
	// DrainTimeout bounds how long the connections of a removed
	// destination or TCP service keep running. Zero means 60 s.
	DrainTimeout time.Duration
	// DialTimeout bounds the connection to a real server. Zero means 5 s.
	DialTimeout time.Duration
	// UDPTimeout is the idle timeout of a UDP flow. Zero means 300 s, the
	// kernel's default.
	UDPTimeout time.Duration
	// TCPTimeout is how long an established TCP connection may carry no
	// payload either way before the proxy resets both sides. Zero means
	// 900 s, the kernel's default.
	TCPTimeout time.Duration
	// FinTimeout bounds a half-closed TCP connection. Zero means 120 s.
	FinTimeout time.Duration
	// ProxyProtocol sends a PROXY protocol v2 header to the real server at
	// the start of every TCP connection, so it sees the client's address
	// (which NAT through a proxy would otherwise hide).
	ProxyProtocol bool
	// ExpireQuiescentTemplate is the kernel's expire_quiescent_template:
	// a persistent client whose server has weight 0 is scheduled anew.
	ExpireQuiescentTemplate bool
	// Clock is the time of persistence templates, connection timeouts,
	// drains and rate estimates; nil means the wall clock. Tests pass a
	// fake one (clock/clocktest) and advance it to make connections time
	// out.
	Clock clock.Clock
	// FDReserve is how many of the process's file descriptors
	// (RLIMIT_NOFILE, whose soft limit NewUserspace raises to the hard
	// limit) the proxy leaves to the rest of the process: health checks,
	// netlink, VRRP sockets, the metrics server. The proxy counts the
	// descriptors it holds (two per TCP connection, one per UDP flow,
	// listeners, pipes) against the rest, and refuses a new client at
	// once, with a reset, when its sockets would not fit: so at most
	// (limit − reserve) / 2 TCP connections are open. Zero means 1024,
	// or half the limit if that is less; negative means none.
	FDReserve int
	// Sched tunes the schedulers: the mh table size (default 4093, the
	// kernel's) and the lblc/lblcr expiry (default 24 h). Zero values are
	// the kernel's defaults.
	Sched sched.Options
	// BusyWait is how long one of the proxy's event loops, having just
	// had work, waits in the kernel for more before it parks in Go's
	// poller. While it waits it keeps its P (one of GOMAXPROCS), so other
	// goroutines of the process may wait that long for it; in return a
	// proxy under load is woken straight by the kernel, which removed
	// rare stalls of tens to hundreds of milliseconds (BENCHMARKS.md).
	// Zero means 100 µs; negative never waits in the kernel.
	BusyWait time.Duration
	// Netns is the network namespace the proxy listens in and dials real
	// servers from; zero or negative means the process's. ipvs.Open
	// defaults it to Netlink.Netns. The backend does not close it. (Each
	// connection to a real server then costs an OS thread that enters
	// the namespace to make its socket.)
	Netns netns.NsHandle
}

// Userspace is a Backend served by a layer-4 proxy in this process, for
// hosts without IPVS. It listens on each service's address and port (also
// before the address is configured, with IP_FREEBIND) and forwards TCP
// connections and UDP flows to the real servers with the kernel's
// schedulers, connection counters, persistence and thresholds.
//
// It forwards like NAT only: DR and TUN destinations, firewall-mark and
// SCTP services, port-zero (all ports) services, the one-packet flag,
// the third scheduler flag, persistence engines and the twos scheduler are
// refused with errors wrapping ErrNotSupported.
//
// Dump reports connections, bytes (payload bytes for TCP), for UDP
// packets, and rates estimated every 2 s as the kernel does.
//
// The proxy keeps to a share of the process's file descriptors
// (UserspaceConfig.FDReserve) and resets clients past it at once, so
// idle clients cannot starve the process's health checks of sockets;
// FDBudget reports it, and NewCollector exports it.
type Userspace struct {
	p             *proxy.Proxy
	proxyProtocol bool

	mu       sync.Mutex
	services []Service // normalized as Memory keeps them, in insertion order
	closed   bool
}

var _ Backend = (*Userspace)(nil)

// NewUserspace returns an empty userspace backend.
func NewUserspace(cfg UserspaceConfig) (*Userspace, error) {
	p := proxy.New(proxy.Config{
		Logger:                  cfg.Logger,
		DrainTimeout:            cfg.DrainTimeout,
		DialTimeout:             cfg.DialTimeout,
		UDPTimeout:              cfg.UDPTimeout,
		TCPTimeout:              cfg.TCPTimeout,
		FinTimeout:              cfg.FinTimeout,
		ExpireQuiescentTemplate: cfg.ExpireQuiescentTemplate,
		Clock:                   cfg.Clock,
		FDReserve:               cfg.FDReserve,
		Sched:                   cfg.Sched,
		BusyWait:                cfg.BusyWait,
		Netns:                   cfg.Netns,
	})
	return &Userspace{p: p, proxyProtocol: cfg.ProxyProtocol}, nil
}

// FDBudget is the userspace proxy's share of the process's file
// descriptors and what it refused for want of them
// (Userspace.FDBudget); UserspaceConfig.FDReserve explains it.
type FDBudget struct {
	// Limit is the process's RLIMIT_NOFILE (the soft limit, raised to the
	// hard one); Reserve is what the proxy leaves to the rest of the
	// process.
	Limit, Reserve int
	// InUse is the descriptors the proxy holds now: connection, flow and
	// listening sockets, event loops, and Pipes pipes (two each).
	InUse, Pipes int
	// MaxConnections is the most TCP connections that fit while no pipe
	// is held.
	MaxConnections int
	// Refused counts the TCP clients reset and UDP flows dropped because
	// the budget was full, since the backend started; RefusedByService
	// splits it by the services there are now.
	Refused          uint64
	RefusedByService map[ServiceKey]uint64
}

// FDBudget reports the proxy's share of the process's file descriptors.
func (u *Userspace) FDBudget() FDBudget {
	b := u.p.Budget()
	out := FDBudget{
		Limit: b.Limit, Reserve: b.Reserve, InUse: b.InUse, Pipes: b.Pipes,
		MaxConnections: b.MaxConns, Refused: b.Refused,
		RefusedByService: map[ServiceKey]uint64{},
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	refused := map[proxy.ServiceKey]uint64{}
	for _, st := range u.p.Services() {
		refused[st.Config.Key()] = st.Refused
	}
	for i := range u.services {
		s := &u.services[i]
		out.RefusedByService[s.Key()] = refused[proxy.ServiceKey{Protocol: proxy.Protocol(s.Protocol), Addr: netip.AddrPortFrom(s.Addr, s.Port)}]
	}
	return out
}

// Timeouts returns the connection timeouts in use, as Netlink.Timeouts
// does for the kernel.
func (u *Userspace) Timeouts(ctx context.Context) (Timeouts, error) {
	tcp, fin, udp := u.p.Timeouts()
	return Timeouts{TCP: tcp, TCPFin: fin, UDP: udp}, nil
}

// SetTimeouts changes the connection timeouts as ipvsadm --set does: a
// zero field is left as it is, the others must be whole seconds. Open
// connections take the new timeouts, counted from their last payload.
func (u *Userspace) SetTimeouts(ctx context.Context, t Timeouts) error {
	if err := t.check(); err != nil {
		return err
	}
	u.p.SetTimeouts(t.TCP, t.TCPFin, t.UDP)
	return nil
}

// userspaceCapabilities is what the proxy can carry: NAT-like forwarding
// of TCP and UDP with the schedulers of package sched, persistence and
// thresholds.
func userspaceCapabilities() Capabilities {
	return Capabilities{
		Forwards:    []Forward{Masquerade},
		Protocols:   []Protocol{TCP, UDP},
		Schedulers:  sched.Names(),
		Persistence: true,
		Thresholds:  true,
	}
}

// Capabilities says what the userspace backend can carry.
func (u *Userspace) Capabilities() Capabilities { return userspaceCapabilities() }

// userspaceSupports reports whether the proxy can do what op asks.
func userspaceSupports(op *Op) error {
	s := &op.Service
	caps := userspaceCapabilities()
	var err error
	switch op.Kind {
	case AddService, UpdateService:
		if r := caps.serviceRefusals(s); len(r) > 0 {
			err = r[0].Err
		}
	case AddDestination, UpdateDestination:
		err = caps.CheckDestination(&op.Destination)
	}
	if err != nil {
		return fmt.Errorf("%s %s: %w", op.Kind, s.Key(), err)
	}
	return nil
}

func (u *Userspace) proxyService(s *Service) proxy.ServiceConfig {
	c := proxy.ServiceConfig{
		Protocol:           proxy.Protocol(s.Protocol),
		Addr:               netip.AddrPortFrom(s.Addr.Unmap(), s.Port),
		Scheduler:          s.SchedulerName(),
		PersistenceTimeout: s.PersistenceTimeout,
		ProxyProtocol:      u.proxyProtocol && s.Protocol == TCP,
	}
	if s.Flags&SHFallback != 0 {
		c.Flags |= sched.FlagFallback
	}
	if s.Flags&SHPort != 0 {
		c.Flags |= sched.FlagPort
	}
	if s.PersistenceTimeout > 0 {
		c.PersistenceBits = s.PersistenceMask()
	}
	return c
}

func proxyDest(d *Destination) proxy.DestConfig {
	return proxy.DestConfig{
		Addr:           netip.AddrPortFrom(d.Addr, d.Port),
		Weight:         int(d.Weight),
		UpperThreshold: d.UpperThreshold,
		LowerThreshold: d.LowerThreshold,
	}
}

// translate makes the proxy's sentinels the model's.
func translate(err error) error {
	switch {
	case errors.Is(err, proxy.ErrExists):
		return fmt.Errorf("%w: %w", ErrExists, err)
	case errors.Is(err, proxy.ErrNotFound):
		return fmt.Errorf("%w: %w", ErrNotFound, err)
	case errors.Is(err, proxy.ErrClosed):
		return fmt.Errorf("%w: %w", errClosed, err)
	}
	return err
}

// Apply performs ops in order. Every operation is validated and checked
// for support before the first is applied, so malformed or unsupported
// input changes nothing; after that Apply stops at the first failure (an
// existing or missing service, a port already in use) with an
// *ApplyError, and the operations before it stay applied.
func (u *Userspace) Apply(ctx context.Context, ops []Op) error {
	for i := range ops {
		if err := validateOp(&ops[i]); err != nil {
			return &ApplyError{Index: i, Op: ops[i], Err: err}
		}
		if err := userspaceSupports(&ops[i]); err != nil {
			return &ApplyError{Index: i, Op: ops[i], Err: err}
		}
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.closed {
		return fmt.Errorf("apply: %w", errClosed)
	}
	for i := range ops {
		if err := ctx.Err(); err != nil {
			return &ApplyError{Index: i, Op: ops[i], Err: err}
		}
		if err := u.apply(&ops[i]); err != nil {
			return &ApplyError{Index: i, Op: ops[i], Err: err}
		}
	}
	return nil
}

func (u *Userspace) find(k ServiceKey) int {
	return slices.IndexFunc(u.services, func(s Service) bool { return s.Key() == k })
}

func (u *Userspace) apply(op *Op) error {
	k := op.Service.Key()
	i := u.find(k)
	pk := proxy.ServiceKey{Protocol: proxy.Protocol(k.Protocol), Addr: netip.AddrPortFrom(k.Addr, k.Port)}
	switch op.Kind {
	case AddService, UpdateService:
		if i >= 0 && op.Kind == AddService {
			return fmt.Errorf("add service %s: %w", k, ErrExists)
		}
		if i < 0 && op.Kind == UpdateService {
			return fmt.Errorf("update service %s: %w", k, ErrNotFound)
		}
		s := serviceOnly(&op.Service)
		s.Family = k.Family
		s.Addr = k.Addr
		s.Scheduler = s.SchedulerName()
		s.PersistenceBits = s.PersistenceMask()
		pc := u.proxyService(&s)
		if i < 0 {
			if err := u.p.AddService(pc); err != nil {
				return translate(err)
			}
			u.services = append(u.services, s)
			return nil
		}
		if err := u.p.UpdateService(pc); err != nil {
			return translate(err)
		}
		s.Destinations = u.services[i].Destinations
		u.services[i] = s
		return nil
	case DeleteService:
		if i < 0 {
			return fmt.Errorf("delete service %s: %w", k, ErrNotFound)
		}
		if err := u.p.RemoveService(pk); err != nil {
			return translate(err)
		}
		u.services = slices.Delete(u.services, i, i+1)
		return nil
	}
	if i < 0 {
		return fmt.Errorf("%s %s: service: %w", op.Kind, k, ErrNotFound)
	}
	s := &u.services[i]
	d := normalDest(s, &op.Destination)
	dk := d.Key()
	j := slices.IndexFunc(s.Destinations, func(x Destination) bool { return x.Key() == dk })
	switch op.Kind {
	case AddDestination:
		if j >= 0 {
			return fmt.Errorf("add destination %s to %s: %w", dk, k, ErrExists)
		}
		if err := u.p.AddDest(pk, proxyDest(&d)); err != nil {
			return translate(err)
		}
		s.Destinations = append(s.Destinations, d)
	case UpdateDestination:
		if j < 0 {
			return fmt.Errorf("update destination %s of %s: %w", dk, k, ErrNotFound)
		}
		if err := u.p.UpdateDest(pk, proxyDest(&d)); err != nil {
			return translate(err)
		}
		s.Destinations[j] = d
	case DeleteDestination:
		if j < 0 {
			return fmt.Errorf("delete destination %s of %s: %w", dk, k, ErrNotFound)
		}
		if err := u.p.RemoveDest(pk, netip.AddrPortFrom(dk.Addr, dk.Port)); err != nil {
			return translate(err)
		}
		s.Destinations = slices.Delete(s.Destinations, j, j+1)
	}
	return nil
}

// Dump returns every service with its destinations, their connection
// counters and statistics.
func (u *Userspace) Dump(ctx context.Context) ([]Service, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("dump services: %w", err)
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.closed {
		return nil, fmt.Errorf("dump services: %w", errClosed)
	}
	live := map[proxy.ServiceKey]proxy.ServiceStatus{}
	for _, st := range u.p.Services() {
		live[st.Config.Key()] = st
	}
	out := make([]Service, len(u.services))
	for i, s := range u.services {
		out[i] = s
		out[i].Destinations = slices.Clone(s.Destinations)
		st, ok := live[proxy.ServiceKey{Protocol: proxy.Protocol(s.Protocol), Addr: netip.AddrPortFrom(s.Addr, s.Port)}]
		if !ok {
			continue
		}
		out[i].Stats = modelStats(st.Stats)
		for j := range out[i].Destinations {
			d := &out[i].Destinations[j]
			for _, ds := range st.Dests {
				if ds.Config.Addr != netip.AddrPortFrom(d.Addr, d.Port) {
					continue
				}
				d.ActiveConns = uint32(ds.ActiveConns)
				d.InactiveConns = uint32(ds.InactiveConns)
				d.PersistConns = uint32(ds.PersistConns)
				d.Stats = modelStats(ds.Stats)
			}
		}
	}
	return out, nil
}

func modelStats(s proxy.Stats) Stats {
	return Stats{
		Connections: s.Conns,
		PacketsIn:   s.PacketsIn,
		PacketsOut:  s.PacketsOut,
		BytesIn:     s.BytesIn,
		BytesOut:    s.BytesOut,
		CPS:         s.CPS,
		PPSIn:       s.PPSIn,
		PPSOut:      s.PPSOut,
		BPSIn:       s.BPSIn,
		BPSOut:      s.BPSOut,
	}
}

// Close stops every listener, closes every proxied connection and waits
// for the proxy's goroutines. It is idempotent.
func (u *Userspace) Close() error {
	u.mu.Lock()
	u.closed = true
	u.mu.Unlock()
	return u.p.Close()
}
