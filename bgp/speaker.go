package bgp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"time"

	api "github.com/osrg/gobgp/v4/api"
	"github.com/osrg/gobgp/v4/pkg/apiutil"
	"github.com/osrg/gobgp/v4/pkg/server"
)

// ErrStopped is returned by route changes after Run has returned.
var ErrStopped = errors.New("bgp speaker stopped")

type phase int

const (
	phaseIdle phase = iota
	phaseRunning
	phaseStopped
)

// Speaker announces routes to BGP peers. Create it with New, start it with
// Run; Announce, Withdraw, SetRoutes, WithdrawAll and Status are safe to
// call from any goroutine at any time, before Run too (the routes are then
// announced as soon as it starts).
type Speaker struct {
	cfg *resolved
	log *slog.Logger

	mu     sync.Mutex
	phase  phase
	srv    *server.BgpServer // set while running
	routes *routeTable
	peers  map[netip.Addr]*peerTrack
}

// peerTrack is what the session events tell about a peer.
type peerTrack struct {
	state   SessionState
	since   time.Time
	flaps   int
	lastErr string
}

// New checks c and returns a speaker that is not running yet.
func New(c Config) (*Speaker, error) {
	r, err := c.resolve()
	if err != nil {
		return nil, err
	}
	s := &Speaker{
		cfg:    r,
		log:    r.Logger,
		routes: newRouteTable(),
		peers:  make(map[netip.Addr]*peerTrack, len(r.peers)),
	}
	for _, p := range r.peers {
		s.peers[p.Address] = &peerTrack{}
	}
	if r.Metrics != nil {
		r.Metrics.add(s)
	}
	return s, nil
}

// checkRoute validates r and that some peer carries its family.
func (s *Speaker) checkRoute(r Route) (Route, error) {
	r, err := r.check()
	if err != nil {
		return r, err
	}
	if r.Prefix.Addr().Is4() && !s.cfg.v4 {
		return r, fmt.Errorf("route %v: no IPv4 peer to announce it to", r.Prefix)
	}
	if r.Prefix.Addr().Is6() && !s.cfg.v6 {
		return r, fmt.Errorf("route %v: no IPv6 peer to announce it to", r.Prefix)
	}
	return r, nil
}

// Announce adds r to the announced routes, or changes the attributes of
// the route with its prefix.
func (s *Speaker) Announce(r Route) error {
	r, err := s.checkRoute(r)
	if err != nil {
		return fmt.Errorf("announce: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	want := s.routes.wantCopy()
	want[r.Prefix] = r
	return s.setLocked(want)
}

// Withdraw stops announcing the route to p; withdrawing a prefix that is
// not announced does nothing.
func (s *Speaker) Withdraw(p netip.Prefix) error {
	r, err := Route{Prefix: p}.check()
	if err != nil {
		return fmt.Errorf("withdraw: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	want := s.routes.wantCopy()
	delete(want, r.Prefix)
	return s.setLocked(want)
}

// SetRoutes makes routes the whole announced set: new ones are announced,
// changed ones re-announced, missing ones withdrawn, the rest left alone.
// A bad route rejects the whole set and changes nothing. This is the call
// for code that recomputes what it wants (say, the VIPs of the services
// that have their quorum) whenever anything changes.
func (s *Speaker) SetRoutes(routes []Route) error {
	want := make(map[netip.Prefix]Route, len(routes))
	for _, r := range routes {
		r, err := s.checkRoute(r)
		if err != nil {
			return fmt.Errorf("set routes: %w", err)
		}
		if _, dup := want[r.Prefix]; dup {
			return fmt.Errorf("set routes: %v given twice", r.Prefix)
		}
		want[r.Prefix] = r
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.setLocked(want)
}

func (s *Speaker) setLocked(want map[netip.Prefix]Route) error {
	switch s.phase {
	case phaseStopped:
		return ErrStopped
	case phaseIdle:
		s.routes.setWant(want)
		s.routes.idle(s.cfg.Clock.Now())
		return nil
	}
	s.routes.setWant(want)
	return s.syncLocked()
}

// syncLocked makes GoBGP's table the wanted set. On error what failed
// stays as it was and is retried by the next change.
func (s *Speaker) syncLocked() error {
	announce, withdraw := s.routes.diff()
	var errs []error
	if len(withdraw) > 0 {
		paths := make([]*apiutil.Path, 0, len(withdraw))
		for _, p := range withdraw {
			path, err := apiPath(Route{Prefix: p}, true)
			if err != nil {
				return fmt.Errorf("withdraw %v: %w", p, err) // a checked prefix: cannot happen
			}
			paths = append(paths, path)
		}
		if err := s.srv.DeletePath(apiutil.DeletePathRequest{Paths: paths}); err != nil {
			errs = append(errs, fmt.Errorf("withdraw %v: %w", withdraw, err))
		} else {
			now := s.cfg.Clock.Now()
			for _, p := range withdraw {
				s.routes.withdrawn(p, now)
				s.log.Info("bgp route withdrawn", "prefix", p)
			}
		}
	}
	// One route per call: GoBGP reports a failed batch without saying
	// which of its paths went in.
	for _, r := range announce {
		path, err := apiPath(r, false)
		if err == nil {
			_, err = s.srv.AddPath(apiutil.AddPathRequest{Paths: []*apiutil.Path{path}})
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("announce %v: %w", r.Prefix, err))
			continue
		}
		s.routes.announced(r, s.cfg.Clock.Now())
		s.log.Info("bgp route announced", "prefix", r.Prefix)
	}
	return errors.Join(errs...)
}

// WithdrawAll withdraws every route and waits until each established peer
// that had been sent any of them has been sent the withdrawal (its UPDATE
// handed to the kernel), or ctx ends. It does not wait for the routers to
// act on it. This is the first step of a graceful stop: withdraw, let the
// routers move the traffic, drain, then end Run's context. Routes
// announced while it waits are announced.
func (s *Speaker) WithdrawAll(ctx context.Context) error {
	s.mu.Lock()
	if s.phase != phaseRunning {
		err := s.setLocked(map[netip.Prefix]Route{})
		s.mu.Unlock()
		if errors.Is(err, ErrStopped) {
			return nil // nothing is announced any more
		}
		return err
	}
	srv := s.srv
	before := sentUpdates(ctx, srv)
	err := s.setLocked(map[netip.Prefix]Route{})
	s.mu.Unlock()
	if err != nil {
		return fmt.Errorf("withdraw all: %w", err)
	}
	return s.waitSent(ctx, srv, before)
}

// sentUpdates returns, for each established peer that has been sent any
// route, how many UPDATE messages it has been sent.
func sentUpdates(ctx context.Context, srv *server.BgpServer) map[string]uint64 {
	out := make(map[string]uint64)
	_ = srv.ListPeer(ctx, &api.ListPeerRequest{EnableAdvertised: true}, func(p *api.Peer) {
		if !isEstablished(p) {
			return
		}
		advertised := uint64(0)
		for _, a := range p.AfiSafis {
			if a.State != nil {
				advertised += a.State.Advertised
			}
		}
		if advertised == 0 {
			return
		}
		out[p.Conf.NeighborAddress] = updatesSent(p)
	})
	return out
}

func updatesSent(p *api.Peer) uint64 {
	if p.State.Messages == nil || p.State.Messages.Sent == nil {
		return 0
	}
	return p.State.Messages.Sent.Update
}

// waitSent waits until every peer in before has been sent another UPDATE
// or is no longer established.
func (s *Speaker) waitSent(ctx context.Context, srv *server.BgpServer, before map[string]uint64) error {
	return s.waitPeers(ctx, srv, "withdrawals", func(p *api.Peer) bool {
		n, ok := before[p.Conf.NeighborAddress]
		return ok && isEstablished(p) && updatesSent(p) <= n
	})
}

// waitClosed waits until no session is established.
func (s *Speaker) waitClosed(ctx context.Context, srv *server.BgpServer) error {
	return s.waitPeers(ctx, srv, "sessions to close", isEstablished)
}

func isEstablished(p *api.Peer) bool {
	return p.State != nil && p.State.SessionState == api.PeerState_SESSION_STATE_ESTABLISHED
}

// waitPeers lists the peers every 10ms until pending holds for none of
// them, or ctx ends.
func (s *Speaker) waitPeers(ctx context.Context, srv *server.BgpServer, what string, pending func(*api.Peer) bool) error {
	const poll = 10 * time.Millisecond
	for {
		waiting := 0
		err := srv.ListPeer(ctx, &api.ListPeerRequest{}, func(p *api.Peer) {
			if p.Conf != nil && pending(p) {
				waiting++
			}
		})
		if err != nil {
			return fmt.Errorf("wait for %s: %w", what, err)
		}
		if waiting == 0 {
			return nil
		}
		t := s.cfg.Clock.NewTimer(poll)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("wait for %s (%d peers): %w", what, waiting, ctx.Err())
		case <-t.C():
		}
	}
}

// Run starts the BGP speaker, connects to the peers (and accepts their
// connections) and announces the wanted routes until ctx ends. Then it
// withdraws every route, waits up to Config.StopTimeout for the
// withdrawals to be sent, closes the sessions (a Cease NOTIFICATION) and
// returns nil. It returns an error if the speaker cannot start (the BGP
// port taken, say). Run may be called once.
func (s *Speaker) Run(ctx context.Context) error {
	s.mu.Lock()
	if s.phase != phaseIdle {
		s.mu.Unlock()
		return errors.New("run bgp speaker: Run called twice")
	}
	srv := server.NewBgpServer(server.LoggerOption(s.log.With("component", "gobgp"), nil))
	go srv.Serve()
	s.mu.Unlock()

	watchCtx, stopWatch := context.WithCancel(context.Background())
	defer stopWatch()
	if err := s.start(ctx, watchCtx, srv); err != nil {
		srv.Stop()
		s.finish()
		return err
	}
	s.log.Info("bgp speaker running", "asn", s.cfg.ASN, "router_id", s.cfg.RouterID, "peers", len(s.cfg.peers))
	<-ctx.Done()

	stopCtx, cancel := context.WithTimeout(context.Background(), s.cfg.StopTimeout)
	defer cancel()
	if err := s.WithdrawAll(stopCtx); err != nil {
		s.log.Warn("bgp stop: withdrawals not confirmed sent; closing sessions anyway", "err", err)
	}
	s.mu.Lock()
	s.phase = phaseStopped // no route change reaches GoBGP from now on
	s.mu.Unlock()
	// Each session ends with a Cease (administrative shutdown)
	// NOTIFICATION, sent before the connection closes; GoBGP's own Stop
	// does not always get its NOTIFICATION out before it closes.
	for _, p := range s.cfg.peers {
		if err := srv.DisablePeer(stopCtx, &api.DisablePeerRequest{Address: p.Address.String(), Communication: "lvskit speaker stopping"}); err != nil {
			s.log.Warn("bgp stop: shut down session", "peer", p.Address, "err", err)
		}
	}
	if err := s.waitClosed(stopCtx, srv); err != nil {
		s.log.Warn("bgp stop: closing anyway", "err", err)
	}
	srv.Stop()
	s.finish()
	s.log.Info("bgp speaker stopped")
	return nil
}

func (s *Speaker) start(ctx, watchCtx context.Context, srv *server.BgpServer) error {
	// These calls are local and quick; a Run cancelled meanwhile starts
	// and then stops, rather than failing half way.
	ctx = context.WithoutCancel(ctx)
	if err := srv.StartBgp(ctx, &api.StartBgpRequest{Global: apiGlobal(s.cfg)}); err != nil {
		return fmt.Errorf("start bgp: %w", err)
	}
	// A speaker only announces: whatever the routers send is dropped
	// (counted as received, not accepted), so a full table costs little.
	set, policy, assign := announceOnly()
	if err := srv.AddDefinedSet(ctx, &api.AddDefinedSetRequest{DefinedSet: set}); err != nil {
		return fmt.Errorf("add neighbor set: %w", err)
	}
	if err := srv.AddPolicy(ctx, &api.AddPolicyRequest{Policy: policy}); err != nil {
		return fmt.Errorf("add import policy: %w", err)
	}
	if err := srv.SetPolicyAssignment(ctx, &api.SetPolicyAssignmentRequest{Assignment: assign}); err != nil {
		return fmt.Errorf("set import policy: %w", err)
	}
	if err := srv.WatchEvent(watchCtx, server.WatchEventMessageCallbacks{OnPeerUpdate: s.onPeerEvent}, server.WatchPeer()); err != nil {
		return fmt.Errorf("watch peers: %w", err)
	}
	for _, p := range s.cfg.peers {
		if err := srv.AddPeer(ctx, &api.AddPeerRequest{Peer: apiPeer(p, s.cfg.ASN)}); err != nil {
			return fmt.Errorf("add peer %v: %w", p.Address, err)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.srv = srv
	s.phase = phaseRunning
	if err := s.syncLocked(); err != nil {
		return fmt.Errorf("announce initial routes: %w", err)
	}
	return nil
}

// finish records that GoBGP is gone.
func (s *Speaker) finish() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.phase = phaseStopped
	s.srv = nil
	now := s.cfg.Clock.Now()
	s.routes.stopped(now)
	for _, t := range s.peers {
		if t.state != Idle {
			if t.state == Established {
				t.flaps++
				t.lastErr = "speaker stopped"
			}
			t.state, t.since = Idle, now
		}
	}
}

func (s *Speaker) onPeerEvent(ev *apiutil.WatchEventMessage_PeerEvent, _ time.Time) {
	if ev.Type != apiutil.PEER_EVENT_STATE {
		return
	}
	addr := ev.Peer.State.NeighborAddress
	if !addr.IsValid() {
		addr = ev.Peer.Conf.NeighborAddress
	}
	to := fsmState(ev.Peer.State.SessionState)
	s.mu.Lock()
	t, ok := s.peers[addr.Unmap()]
	if !ok || t.state == to {
		s.mu.Unlock()
		return
	}
	from := t.state
	reason := ""
	if from == Established {
		t.flaps++
		reason = disconnectReason(ev.Peer.State)
		t.lastErr = reason
	}
	t.state, t.since = to, s.cfg.Clock.Now()
	s.mu.Unlock()
	switch {
	case from == Established:
		s.log.Warn("bgp session down", "peer", addr, "to", to, "reason", reason)
	case to == Established:
		s.log.Info("bgp session established", "peer", addr)
	default:
		s.log.Debug("bgp session", "peer", addr, "from", from, "to", to)
	}
}

func disconnectReason(st apiutil.PeerState) string {
	r := st.DisconnectReason.String()
	if st.DisconnectMessage != "" {
		r += ": " + st.DisconnectMessage
	}
	return r
}

// Status returns a snapshot of the peers and routes. While running it asks
// GoBGP for each peer's BFD state and prefix counts.
func (s *Speaker) Status() Status {
	s.mu.Lock()
	st := Status{Running: s.phase == phaseRunning, Routes: s.routes.list()}
	srv := s.srv
	tracks := make(map[netip.Addr]peerTrack, len(s.peers))
	for a, t := range s.peers {
		tracks[a] = *t
	}
	s.mu.Unlock()

	var live map[string]*api.Peer
	if srv != nil {
		live = make(map[string]*api.Peer)
		_ = srv.ListPeer(context.Background(), &api.ListPeerRequest{EnableAdvertised: true}, func(p *api.Peer) {
			if p.Conf != nil {
				live[p.Conf.NeighborAddress] = p
			}
		})
	}
	for _, p := range s.cfg.peers {
		t := tracks[p.Address]
		ps := PeerStatus{
			Address: p.Address, ASN: p.ASN, Internal: p.ibgp(s.cfg.ASN),
			State: t.state, Since: t.since, Flaps: t.flaps, LastError: t.lastErr,
		}
		if !p.BFD.Disable {
			ps.BFD = BFDDown
		}
		if lp := live[p.Address.String()]; lp != nil {
			fillLive(&ps, lp, !p.BFD.Disable)
		}
		st.Peers = append(st.Peers, ps)
	}
	return st
}

// fillLive copies what GoBGP reports about a peer into ps.
func fillLive(ps *PeerStatus, p *api.Peer, bfd bool) {
	if p.State != nil && bfd && p.State.BfdState != nil {
		ps.BFD = bfdState(p.State.BfdState.SessionState)
	}
	if ps.State == Established && p.Transport != nil {
		if a, err := netip.ParseAddr(p.Transport.LocalAddress); err == nil {
			ps.LocalAddress = a.Unmap()
		}
	}
	for _, a := range p.AfiSafis {
		if a.State == nil {
			continue
		}
		ps.Sent += int(a.State.Advertised)
		ps.Received += int(a.State.Received)
		ps.Accepted += int(a.State.Accepted)
	}
}
