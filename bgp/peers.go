package bgp

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"

	api "github.com/osrg/gobgp/v4/api"
)

// The peer set: changed while running, one session at a time, so that a
// director reloading its configuration does not flap the sessions whose
// peers stay as they were.

// peerList returns a copy of the configured peers.
func (s *Speaker) peerList() []Peer {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Peer(nil), s.cfg.peers...)
}

// SetPeers makes peers the speaker's neighbors, with the checks and
// defaults of Config.Peers. While running, only the difference is
// applied: a new peer gets a session, the session with a peer no longer
// given is closed with a Cease NOTIFICATION (peer de-configured), a peer
// whose settings changed (any field, BFD timers too) is closed and
// started again, and the sessions with the other peers are not touched.
// A bad list is rejected whole and changes nothing. Routes of a family
// left without peers stay in the table, sent to no one, until withdrawn.
func (s *Speaker) SetPeers(ctx context.Context, peers []Peer) error {
	c := s.cfg.Config // the fixed fields: ASN, RouterID, ...
	c.Peers = peers
	r, err := c.resolve()
	if err != nil {
		return fmt.Errorf("set peers: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.phase == phaseStopped {
		return ErrStopped
	}
	add, remove := peerDiff(s.cfg.peers, r.peers)
	var errs []error
	if s.phase == phaseRunning {
		for _, p := range remove {
			if err := s.srv.DeletePeer(ctx, &api.DeletePeerRequest{Address: p.Address.String()}); err != nil {
				errs = append(errs, fmt.Errorf("remove peer %v: %w", p.Address, err))
			}
		}
		for _, p := range add {
			if err := s.srv.AddPeer(ctx, &api.AddPeerRequest{Peer: apiPeer(p, s.cfg.ASN)}); err != nil {
				errs = append(errs, fmt.Errorf("add peer %v: %w", p.Address, err))
			}
		}
	}
	now := s.cfg.Clock.Now()
	for _, p := range remove {
		t := s.peers[p.Address]
		if t == nil {
			continue
		}
		if t.state == Established {
			t.flaps++
			t.lastErr = "peer de-configured"
		}
		t.state, t.since = Idle, now
	}
	for _, p := range r.peers {
		if s.peers[p.Address] == nil {
			s.peers[p.Address] = &peerTrack{}
		}
	}
	for a := range s.peers {
		if !slices.ContainsFunc(r.peers, func(p Peer) bool { return p.Address == a }) {
			delete(s.peers, a)
		}
	}
	s.cfg.peers, s.cfg.v4, s.cfg.v6 = r.peers, r.v4, r.v6
	if len(add)+len(remove) > 0 {
		s.log.Info("bgp peers changed", "added", len(add), "removed", len(remove), "peers", len(r.peers))
	}
	return errors.Join(errs...)
}

// peerDiff returns the peers to start (new or changed, in the order of
// want) and those to stop (gone or changed, in the order of have).
func peerDiff(have, want []Peer) (add, remove []Peer) {
	old := make(map[netip.Addr]Peer, len(have))
	for _, p := range have {
		old[p.Address] = p
	}
	next := make(map[netip.Addr]Peer, len(want))
	for _, p := range want {
		next[p.Address] = p
		if o, ok := old[p.Address]; !ok || o != p {
			add = append(add, p)
		}
	}
	for _, p := range have {
		if n, ok := next[p.Address]; !ok || n != p {
			remove = append(remove, p)
		}
	}
	return add, remove
}
