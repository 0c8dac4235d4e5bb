package bgp

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"time"

	api "github.com/osrg/gobgp/v4/api"
)

// Status is a snapshot of a speaker: its peers and every route it has been
// asked to announce.
type Status struct {
	// Running is true between Run's start and its return.
	Running bool `json:"running"`
	// Peers are in the order of Config.Peers (or of the last SetPeers).
	Peers []PeerStatus `json:"peers"`
	// Routes are sorted by prefix; withdrawn routes stay listed.
	Routes []RouteStatus `json:"routes"`
}

// PeerStatus is one peer's session.
type PeerStatus struct {
	Address  netip.Addr   `json:"address"`
	ASN      uint32       `json:"asn"`
	Internal bool         `json:"internal"`
	State    SessionState `json:"state"`
	// Since is when the session entered State (zero before the first
	// change); while Established, now minus Since is the uptime.
	Since time.Time `json:"since,omitzero"`
	// Flaps counts the times the session left Established.
	Flaps int `json:"flaps"`
	// LastError says why the session last went down, when it did.
	LastError string `json:"last_error,omitempty"`
	// BFD is the local BFD session state; BFDDisabled without BFD.
	BFD BFDState `json:"bfd"`
	// LocalAddress is the session's source address, the routes' next hop.
	LocalAddress netip.Addr `json:"local_address,omitzero"`
	// Sent counts the prefixes advertised to the peer; Received those it
	// sent us, Accepted those we kept (none: a speaker only announces).
	Sent     int `json:"sent"`
	Received int `json:"received"`
	Accepted int `json:"accepted"`
}

// RouteStatus is one route and whether it is announced.
type RouteStatus struct {
	Route Route      `json:"route"`
	State RouteState `json:"state"`
	// Since is when the route entered State.
	Since time.Time `json:"since"`
}

// SessionState is a BGP session's finite state machine state (RFC 4271 8).
type SessionState int

const (
	Idle SessionState = iota
	Connect
	Active
	OpenSent
	OpenConfirm
	Established
)

var sessionStateNames = [...]string{"idle", "connect", "active", "opensent", "openconfirm", "established"}

func (s SessionState) String() string { return enumName(sessionStateNames[:], int(s)) }

func (s SessionState) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

func (s *SessionState) UnmarshalText(b []byte) error {
	return unmarshalEnum(sessionStateNames[:], "session state", b, (*int)(s))
}

// BFDState is a BFD session's state (RFC 5880 6.2), or BFDDisabled.
type BFDState int

const (
	BFDDisabled BFDState = iota
	BFDAdminDown
	BFDDown
	BFDInit
	BFDUp
)

var bfdStateNames = [...]string{"disabled", "admindown", "down", "init", "up"}

func (s BFDState) String() string { return enumName(bfdStateNames[:], int(s)) }

func (s BFDState) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

func (s *BFDState) UnmarshalText(b []byte) error {
	return unmarshalEnum(bfdStateNames[:], "BFD state", b, (*int)(s))
}

// RouteState says where a route is.
type RouteState int

const (
	// RoutePending: wanted, but the speaker is not running, so nothing
	// is announced yet.
	RoutePending RouteState = iota
	// RouteAnnounced: in the speaker's table, sent to every established
	// peer of its family and to each peer that comes up later.
	RouteAnnounced
	// RouteWithdrawn: withdrawn from every peer.
	RouteWithdrawn
)

var routeStateNames = [...]string{"pending", "announced", "withdrawn"}

func (s RouteState) String() string { return enumName(routeStateNames[:], int(s)) }

func (s RouteState) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

func (s *RouteState) UnmarshalText(b []byte) error {
	return unmarshalEnum(routeStateNames[:], "route state", b, (*int)(s))
}

// unmarshalEnum reads a name of names into i, so that a Status read back
// from its JSON equals what was written.
func unmarshalEnum(names []string, what string, b []byte, i *int) error {
	for n, name := range names {
		if name == string(b) {
			*i = n
			return nil
		}
	}
	return fmt.Errorf("unmarshal %s: unknown %q", what, b)
}

func enumName(names []string, i int) string {
	if i >= 0 && i < len(names) {
		return names[i]
	}
	return "unknown"
}

// MarshalJSON writes the route with its prefix and communities as text.
func (r Route) MarshalJSON() ([]byte, error) {
	cs := make([]string, len(r.Communities))
	for i, c := range r.Communities {
		cs[i] = c.String()
	}
	return json.Marshal(struct {
		Prefix      netip.Prefix `json:"prefix"`
		Communities []string     `json:"communities,omitempty"`
		MED         uint32       `json:"med,omitempty"`
		LocalPref   uint32       `json:"local_pref,omitempty"`
	}{r.Prefix, cs, r.MED, r.LocalPref})
}

// UnmarshalJSON reads what MarshalJSON writes.
func (r *Route) UnmarshalJSON(b []byte) error {
	var v struct {
		Prefix      netip.Prefix `json:"prefix"`
		Communities []string     `json:"communities"`
		MED         uint32       `json:"med"`
		LocalPref   uint32       `json:"local_pref"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	out := Route{Prefix: v.Prefix, MED: v.MED, LocalPref: v.LocalPref}
	for _, s := range v.Communities {
		c, err := ParseCommunity(s)
		if err != nil {
			return fmt.Errorf("unmarshal route: %w", err)
		}
		out.Communities = append(out.Communities, c)
	}
	*r = out
	return nil
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
	peers := append([]Peer(nil), s.cfg.peers...)
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
	for _, p := range peers {
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
