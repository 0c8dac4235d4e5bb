package healthcheck

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"time"

	"github.com/lvskit/lvskit/clock"
	"github.com/lvskit/lvskit/internal/names"
	"github.com/lvskit/lvskit/ipvs"
)

// Syncer receives the wanted state of one virtual service whenever it
// changes. Table implements it over an ipvs.Backend; a director that owns
// the whole table may implement it itself.
type Syncer interface {
	SyncService(ctx context.Context, svc ipvs.Service) error
}

// Check is one checker of a real server with its policy.
type Check struct {
	Checker Checker
	Policy  Policy
}

// RealServer is one real_server block of a virtual service: the IPVS
// destination it is while alive, and the checks that decide whether it is.
type RealServer struct {
	// Destination is the real server as the IPVS table holds it while it
	// is alive: Addr, Port (zero: the service's port), Weight, Forward
	// (lb_kind: zero is NAT), the tunnel options of lb_kind TUN and the
	// thresholds (uthreshold, lthreshold). Weight is taken as IPVS takes
	// it, with no default: 0 keeps the server in the table without new
	// connections (keepalived's "weight 0"), so a program translating
	// keepalived.conf writes keepalived's default, 1, itself. The
	// counters are ignored.
	ipvs.Destination
	// InhibitOnFailure keeps the server in the table with weight 0 while it
	// is down, instead of removing it (inhibit_on_failure).
	InhibitOnFailure bool
	// Checks must all be up for the server to be alive. A server without
	// checks is always alive.
	Checks []Check
}

// SorryServer replaces all real servers while the quorum is lost
// (sorry_server).
type SorryServer struct {
	Addr    netip.Addr
	Port    uint16
	Weight  int32 // zero means 1
	Forward ipvs.Forward
	// Inhibit keeps it in the table with weight 0 while the quorum is up
	// (sorry_server_inhibit).
	Inhibit bool
}

// QuorumEvent reports that a virtual service gained or lost its quorum
// (notify_up / notify_down of the virtual server).
type QuorumEvent struct {
	Service   ipvs.ServiceKey
	Up        bool
	WeightSum int64 // sum of the alive real servers' weights
	Threshold int64 // quorum ± hysteresis that was crossed
}

// RealServerEvent reports that a real server became alive or not alive
// (notify_up / notify_down of the real server).
type RealServerEvent struct {
	Service    ipvs.ServiceKey
	RealServer ipvs.DestinationKey
	Alive      bool
	Err        error // the failing checker's last error
}

// PoolConfig configures a Pool: one virtual_server block.
type PoolConfig struct {
	// Service is the virtual service; its Destinations are ignored.
	Service     ipvs.Service
	RealServers []RealServer
	// Quorum is the minimum sum of alive weights; zero means 1.
	Quorum int64
	// Hysteresis: the quorum is gained at Quorum+Hysteresis and lost below
	// Quorum-Hysteresis (or when no weight is alive at all).
	Hysteresis  int64
	SorryServer *SorryServer
	// Omega sends the down notifications of alive real servers and of the
	// quorum when Run ends (omega).
	Omega bool
	// Syncer receives the wanted service. Required.
	Syncer Syncer
	// OnQuorum and OnRealServer, when set, are called on changes. They are
	// called with no lock held, from a monitor's goroutine.
	OnQuorum     func(QuorumEvent)
	OnRealServer func(RealServerEvent)
	// RetryInterval is the wait before retrying a failed sync; zero means
	// 1 s.
	RetryInterval time.Duration
	// Clock, Rand, Logger and Metrics are passed to the monitors; see
	// MonitorConfig.
	Clock   Clock
	Rand    func(n time.Duration) time.Duration
	Logger  *slog.Logger
	Metrics *Metrics
}

// Pool runs the checkers of a virtual service's real servers and keeps the
// wanted IPVS service up to date with keepalived's rules: dead servers are
// removed (or set to weight 0 with inhibit_on_failure), a sorry server
// replaces them all while the quorum is lost, and weights follow
// MISC_CHECK misc_dynamic and FILE_CHECK.
type Pool struct {
	cfg      PoolConfig
	key      ipvs.ServiceKey
	name     string
	monitors []*Monitor
	kick     chan struct{}

	mu    sync.Mutex
	state *poolState
}

// Validate reports whether cfg describes a valid pool, as NewPool checks
// it: the service and each real server as IPVS would take them
// (ipvs.Service.Validate, ValidateDestination), no real server twice,
// every check with a checker, no negative quorum or hysteresis. It does
// not look at the run-time parts (Syncer, callbacks, Clock, Logger,
// Metrics), which NewPool checks.
func (cfg *PoolConfig) Validate() error {
	if cfg.Hysteresis < 0 || cfg.Quorum < 0 {
		return errors.New("negative quorum or hysteresis")
	}
	svc := cfg.Service
	svc.Destinations = nil
	if err := svc.Validate(); err != nil {
		return err
	}
	seen := map[ipvs.DestinationKey]bool{}
	for i := range cfg.RealServers {
		rs := &cfg.RealServers[i]
		if !rs.Addr.IsValid() {
			return fmt.Errorf("real server %d has no address", i)
		}
		k := svc.DestinationKey(&rs.Destination)
		if seen[k] {
			return fmt.Errorf("real server %s listed twice", k)
		}
		seen[k] = true
		if err := svc.ValidateDestination(&rs.Destination); err != nil {
			return err
		}
		for j, c := range rs.Checks {
			if c.Checker == nil {
				return fmt.Errorf("real server %s check %d has no checker", k, j)
			}
			// What names the checker in logs and errors (its path,
			// program or URL) must be text.
			if s, ok := c.Checker.(fmt.Stringer); ok {
				if err := names.Text(s.String()); err != nil {
					return fmt.Errorf("real server %s check %q: %w", k, s.String(), err)
				}
			}
		}
	}
	return nil
}

// NewPool validates cfg (PoolConfig.Validate, and the run-time parts
// Validate leaves out) and builds the pool's monitors.
func NewPool(cfg PoolConfig) (*Pool, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("new pool %s: %w", cfg.Service.Key(), err)
	}
	if cfg.Syncer == nil {
		return nil, errors.New("new pool: no syncer")
	}
	if cfg.Quorum == 0 {
		cfg.Quorum = 1
	}
	if cfg.RetryInterval <= 0 {
		cfg.RetryInterval = time.Second
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.Wall{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	svc := cfg.Service
	p := &Pool{cfg: cfg, key: svc.Key(), name: svc.Key().String(), kick: make(chan struct{}, 1)}
	p.state = newPoolState(&p.cfg)
	for i := range cfg.RealServers {
		rs := &p.cfg.RealServers[i]
		k := p.destKey(i)
		for j, c := range rs.Checks {
			i, j := i, j
			m, err := NewMonitor(MonitorConfig{
				Name:    fmt.Sprintf("%s %s %s", p.name, k, KindOf(c.Checker)),
				Checker: c.Checker, Policy: c.Policy,
				Clock: cfg.Clock, Rand: cfg.Rand, Logger: cfg.Logger, Metrics: cfg.Metrics,
				OnEvent: func(e Event) { p.onEvent(i, j, e) },
			})
			if err != nil {
				return nil, fmt.Errorf("new pool %s: %w", p.name, err)
			}
			p.monitors = append(p.monitors, m)
			p.state.checkerUp[i][j] = m.Up()
		}
	}
	p.state.init()
	return p, nil
}

// Want returns the service as it should be in the IPVS table now.
func (p *Pool) Want() ipvs.Service {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.state.want()
}

// QuorumUp reports whether the service has its quorum.
func (p *Pool) QuorumUp() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.state.quorumUp
}

// Probed reports whether every checker of every real server has had a
// probe counted, so that the pool's view (Alive, QuorumUp) is what was
// seen rather than the starting state.
func (p *Pool) Probed() bool {
	for _, m := range p.monitors {
		if !m.Probed() {
			return false
		}
	}
	return true
}

// Alive reports whether each real server is alive, by its key in the
// service (Service.DestinationKey: a zero port is the service's).
func (p *Pool) Alive() map[ipvs.DestinationKey]bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	m := make(map[ipvs.DestinationKey]bool, len(p.state.alive))
	for i, a := range p.state.alive {
		m[p.destKey(i)] = a
	}
	return m
}

// destKey is the key of the i-th real server.
func (p *Pool) destKey(i int) ipvs.DestinationKey { return p.state.destKey(i) }

// Run syncs the service, runs every checker and re-syncs on each change,
// until ctx ends; then it returns nil. A failed sync is logged and retried
// every RetryInterval.
func (p *Pool) Run(ctx context.Context) error {
	if met := p.cfg.Metrics; met != nil {
		// Here, not in NewPool: building has no side effects, so a pool
		// built and dropped (a rejected reload) changes no gauge.
		p.mu.Lock()
		met.setQuorum(p.name, p.state.quorumUp)
		for i := range p.cfg.RealServers {
			met.setRealServer(p.name, p.destKey(i).String(), p.state.alive[i])
		}
		p.mu.Unlock()
	}
	for _, m := range p.monitors {
		if err := m.Start(ctx); err != nil {
			for _, m := range p.monitors {
				m.Stop()
			}
			return fmt.Errorf("run pool %s: %w", p.name, err)
		}
	}
	defer func() {
		for _, m := range p.monitors {
			m.Stop()
		}
		if p.cfg.Omega {
			p.omega()
		}
	}()
	var retry Timer
	var retryC <-chan time.Time
	sync := func() {
		if retry != nil {
			retry.Stop()
			retry, retryC = nil, nil
		}
		want := p.Want()
		if err := p.cfg.Syncer.SyncService(ctx, want); err != nil {
			if ctx.Err() != nil {
				return
			}
			p.cfg.Logger.Warn("sync virtual service failed; retrying", "service", p.name, "err", err)
			retry = p.cfg.Clock.NewTimer(p.cfg.RetryInterval)
			retryC = retry.C()
		}
	}
	sync()
	for {
		select {
		case <-ctx.Done():
			if retry != nil {
				retry.Stop()
			}
			return nil
		case <-p.kick:
			sync()
		case <-retryC:
			retry, retryC = nil, nil
			sync()
		}
	}
}

func (p *Pool) onEvent(rs, chk int, e Event) {
	p.mu.Lock()
	notes := p.state.update(rs, chk, e)
	quorumUp := p.state.quorumUp
	alive := append([]bool(nil), p.state.alive...)
	p.mu.Unlock()
	select {
	case p.kick <- struct{}{}:
	default:
	}
	p.notify(notes, quorumUp, alive)
}

func (p *Pool) notify(notes []any, quorumUp bool, alive []bool) {
	for _, n := range notes {
		switch n := n.(type) {
		case QuorumEvent:
			n.Service = p.key
			if n.Up {
				p.cfg.Logger.Info("gained quorum", "service", p.name, "weight_sum", n.WeightSum, "threshold", n.Threshold)
			} else {
				p.cfg.Logger.Info("lost quorum", "service", p.name, "weight_sum", n.WeightSum, "threshold", n.Threshold)
			}
			if p.cfg.Metrics != nil {
				p.cfg.Metrics.setQuorum(p.name, n.Up)
			}
			if p.cfg.OnQuorum != nil {
				p.cfg.OnQuorum(n)
			}
		case RealServerEvent:
			n.Service = p.key
			p.cfg.Logger.Info("real server state", "service", p.name, "real_server", n.RealServer, "alive", n.Alive, "reason", n.Err)
			if p.cfg.Metrics != nil {
				p.cfg.Metrics.setRealServer(p.name, n.RealServer.String(), n.Alive)
			}
			if p.cfg.OnRealServer != nil {
				p.cfg.OnRealServer(n)
			}
		}
	}
}

// omega sends the down notifications keepalived's omega sends on shutdown.
func (p *Pool) omega() {
	p.mu.Lock()
	var notes []any
	for i, a := range p.state.alive {
		if a {
			notes = append(notes, RealServerEvent{RealServer: p.destKey(i), Alive: false})
		}
	}
	if p.state.quorumUp {
		notes = append(notes, QuorumEvent{Up: false, WeightSum: p.state.weightSum(), Threshold: p.state.threshold()})
	}
	p.mu.Unlock()
	p.notify(notes, false, nil)
}

// poolState is the pure part of a Pool: checker states in, wanted service
// and notifications out.
type poolState struct {
	cfg       *PoolConfig
	checkerUp [][]bool
	weights   [][]Weight
	lastErr   [][]error
	alive     []bool
	quorumUp  bool
}

func newPoolState(cfg *PoolConfig) *poolState {
	s := &poolState{cfg: cfg}
	for _, rs := range cfg.RealServers {
		n := len(rs.Checks)
		up := make([]bool, n)
		for j := range up {
			up[j] = !rs.Checks[j].Policy.Alpha
		}
		s.checkerUp = append(s.checkerUp, up)
		s.weights = append(s.weights, make([]Weight, n))
		s.lastErr = append(s.lastErr, make([]error, n))
	}
	s.alive = make([]bool, len(cfg.RealServers))
	return s
}

// destKey is the key of the i-th real server in the service.
func (s *poolState) destKey(i int) ipvs.DestinationKey {
	return s.cfg.Service.DestinationKey(&s.cfg.RealServers[i].Destination)
}

// init computes the starting state as keepalived's set_quorum_states does.
func (s *poolState) init() {
	for i := range s.alive {
		s.alive[i] = allTrue(s.checkerUp[i])
	}
	s.quorumUp = s.weightSum() >= s.cfg.Quorum+s.cfg.Hysteresis
}

func allTrue(bs []bool) bool {
	for _, b := range bs {
		if !b {
			return false
		}
	}
	return true
}

// effectiveWeight is the configured weight changed by the weight checkers,
// clamped to what IPVS takes.
func (s *poolState) effectiveWeight(i int) int64 {
	w := int64(s.cfg.RealServers[i].Weight)
	var off int64
	for _, cw := range s.weights[i] {
		switch cw.Kind {
		case WeightAbsolute:
			w = int64(cw.Value)
		case WeightOffset:
			off += int64(cw.Value)
		}
	}
	return min(max(w+off, 0), 65535)
}

func (s *poolState) weightSum() int64 {
	var sum int64
	for i, a := range s.alive {
		if a {
			sum += s.effectiveWeight(i)
		}
	}
	return sum
}

func (s *poolState) threshold() int64 {
	if s.quorumUp {
		return s.cfg.Quorum - s.cfg.Hysteresis
	}
	return s.cfg.Quorum + s.cfg.Hysteresis
}

// update records one checker event and returns the notifications it causes
// (RealServerEvent, QuorumEvent), in keepalived's order.
func (s *poolState) update(i, j int, e Event) []any {
	s.checkerUp[i][j] = e.Up
	if e.Up {
		s.weights[i][j] = e.Weight
	}
	s.lastErr[i][j] = e.Err
	var notes []any
	alive := allTrue(s.checkerUp[i])
	if alive != s.alive[i] {
		s.alive[i] = alive
		ev := RealServerEvent{RealServer: s.destKey(i), Alive: alive}
		if !alive {
			ev.Err = e.Err
		}
		notes = append(notes, ev)
	}
	sum := s.weightSum()
	th := s.threshold()
	switch {
	case !s.quorumUp && sum >= th:
		s.quorumUp = true
		notes = append(notes, QuorumEvent{Up: true, WeightSum: sum, Threshold: th})
	case s.quorumUp && (sum == 0 || sum < th):
		s.quorumUp = false
		notes = append(notes, QuorumEvent{Up: false, WeightSum: sum, Threshold: th})
	}
	return notes
}

// want builds the service: with the quorum (or without a sorry server)
// the alive real servers at their weights and the dead inhibited ones at
// 0; without the quorum and with a sorry server, the sorry server and the
// inhibited real servers at 0.
func (s *poolState) want() ipvs.Service {
	svc := s.cfg.Service
	svc.Destinations = nil
	svc.Stats = ipvs.Stats{}
	sorry := s.cfg.SorryServer
	sorryActive := sorry != nil && !s.quorumUp
	for i := range s.cfg.RealServers {
		rs := &s.cfg.RealServers[i]
		d := rs.Destination
		d.ActiveConns, d.InactiveConns, d.PersistConns, d.Stats = 0, 0, 0, ipvs.Stats{}
		switch {
		case !sorryActive && s.alive[i]:
			d.Weight = int32(s.effectiveWeight(i))
		case rs.InhibitOnFailure:
			d.Weight = 0
		default:
			continue
		}
		svc.Destinations = append(svc.Destinations, d)
	}
	if sorry != nil && (sorryActive || sorry.Inhibit) {
		w := sorry.Weight
		if w == 0 {
			w = 1
		}
		if !sorryActive {
			w = 0
		}
		d := ipvs.Destination{Addr: sorry.Addr, Port: sorry.Port, Forward: sorry.Forward, Weight: w}
		// A sorry server that is also a real server replaces its entry.
		k := d.Key()
		for i := range svc.Destinations {
			if svc.Destinations[i].Key() == k {
				svc.Destinations = append(svc.Destinations[:i], svc.Destinations[i+1:]...)
				break
			}
		}
		svc.Destinations = append(svc.Destinations, d)
	}
	return svc
}
