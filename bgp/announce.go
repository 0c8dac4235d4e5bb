package bgp

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"

	api "github.com/osrg/gobgp/v4/api"
	"github.com/osrg/gobgp/v4/pkg/apiutil"
	"github.com/osrg/gobgp/v4/pkg/server"
)

// The route set: what to announce, kept equal to GoBGP's table, and the
// wait that makes a graceful stop withdraw first.

// checkRoute validates r and that some peer carries its family.
func (s *Speaker) checkRoute(r Route) (Route, error) {
	r, err := r.check()
	if err != nil {
		return r, err
	}
	s.mu.Lock()
	v4, v6 := s.cfg.v4, s.cfg.v6 // SetPeers changes them
	s.mu.Unlock()
	if r.Prefix.Addr().Is4() && !v4 {
		return r, fmt.Errorf("route %v: no IPv4 peer to announce it to", r.Prefix)
	}
	if r.Prefix.Addr().Is6() && !v6 {
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
