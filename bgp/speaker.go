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

// Run starts the BGP speaker, connects to the peers (and accepts their
// connections) and announces the wanted routes until ctx ends. Then it
// withdraws every route, waits for the withdrawals to be sent, shuts each
// session down with a Cease NOTIFICATION (administrative shutdown), waits
// for them to close — both waits within Config.StopTimeout — and returns
// nil. It returns an error if the speaker cannot start (the BGP
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
	s.log.Info("bgp speaker running", "asn", s.cfg.ASN, "router_id", s.cfg.RouterID, "peers", len(s.peerList()))
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
	for _, p := range s.peerList() {
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
	// The peers are added under the lock, so that a SetPeers meanwhile
	// either comes before (and these are its peers) or after (and changes
	// them on the running server). GoBGP hands its events to watchers
	// through a queue, so onPeerEvent waiting for the lock blocks nothing.
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range s.cfg.peers {
		if err := srv.AddPeer(ctx, &api.AddPeerRequest{Peer: apiPeer(p, s.cfg.ASN)}); err != nil {
			return fmt.Errorf("add peer %v: %w", p.Address, err)
		}
	}
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
