package bgp

import (
	"fmt"
	"net/netip"
	"time"

	api "github.com/osrg/gobgp/v4/api"
	"github.com/osrg/gobgp/v4/pkg/apiutil"
	gobgp "github.com/osrg/gobgp/v4/pkg/packet/bgp"
)

// This file translates our configuration and routes into GoBGP's API
// types: pure functions, table-tested.

func seconds(d time.Duration) uint64 { return uint64(d / time.Second) }

func micros(d time.Duration) uint32 { return uint32(d / time.Microsecond) }

func apiFamily(v4 bool) *api.Family {
	if v4 {
		return &api.Family{Afi: api.Family_AFI_IP, Safi: api.Family_SAFI_UNICAST}
	}
	return &api.Family{Afi: api.Family_AFI_IP6, Safi: api.Family_SAFI_UNICAST}
}

// apiGlobal is the speaker's global configuration.
func apiGlobal(c *resolved) *api.Global {
	g := &api.Global{
		Asn:        c.ASN,
		RouterId:   c.RouterID.String(),
		ListenPort: int32(c.ListenPort),
	}
	switch {
	case c.ListenPort == 0:
		g.ListenPort = 179
	case c.ListenPort < 0:
		g.ListenPort = -1
	}
	for _, a := range c.ListenAddresses {
		g.ListenAddresses = append(g.ListenAddresses, a.String())
	}
	return g
}

// apiPeer is one neighbor's configuration: the family of its address only,
// our timers, and BFD unless disabled.
func apiPeer(p Peer, localASN uint32) *api.Peer {
	ap := &api.Peer{
		Conf: &api.PeerConf{
			NeighborAddress: p.Address.String(),
			PeerAsn:         p.ASN,
			LocalAsn:        localASN,
			AuthPassword:    p.Password,
			Description:     p.Description,
		},
		Timers: &api.Timers{Config: &api.TimersConfig{
			ConnectRetry:      seconds(p.ConnectRetry),
			HoldTime:          seconds(p.HoldTime),
			KeepaliveInterval: seconds(p.KeepaliveInterval),
			// GoBGP waits 30s by default before reconnecting after a
			// reset (BFD down, say); a director wants its routes back as
			// soon as the router is.
			IdleHoldTimeAfterReset: seconds(p.ConnectRetry),
		}},
		Transport: &api.Transport{
			PassiveMode: p.Passive,
			RemotePort:  uint32(p.Port),
		},
		AfiSafis: []*api.AfiSafi{{Config: &api.AfiSafiConfig{Family: apiFamily(p.Address.Is4()), Enabled: true}}},
	}
	if p.LocalAddress.IsValid() {
		ap.Transport.LocalAddress = p.LocalAddress.String()
	}
	if p.Multihop > 1 {
		ap.EbgpMultihop = &api.EbgpMultihop{Enabled: true, MultihopTtl: uint32(p.Multihop)}
	}
	if !p.BFD.Disable {
		ap.Bfd = &api.BfdPeerConfig{
			Enabled:                  true,
			DesiredMinimumTxInterval: micros(p.BFD.MinTx),
			RequiredMinimumReceive:   micros(p.BFD.MinRx),
			DetectionMultiplier:      uint32(p.BFD.Multiplier),
		}
	}
	return ap
}

// apiPath is the path GoBGP originates for r: ORIGIN IGP, an unspecified
// next hop (which GoBGP replaces by each session's local address), and
// r's attributes. With withdraw it is the withdrawal of r.Prefix.
func apiPath(r Route, withdraw bool) (*apiutil.Path, error) {
	nlri, err := gobgp.NewIPAddrPrefix(r.Prefix)
	if err != nil {
		return nil, fmt.Errorf("build nlri %v: %w", r.Prefix, err)
	}
	v4 := r.Prefix.Addr().Is4()
	family := gobgp.RF_IPv6_UC
	if v4 {
		family = gobgp.RF_IPv4_UC
	}
	attrs := []gobgp.PathAttributeInterface{gobgp.NewPathAttributeOrigin(gobgp.BGP_ORIGIN_ATTR_TYPE_IGP)}
	if v4 {
		nh, err := gobgp.NewPathAttributeNextHop(netip.IPv4Unspecified())
		if err != nil {
			return nil, fmt.Errorf("build next hop: %w", err)
		}
		attrs = append(attrs, nh)
	} else {
		mp, err := gobgp.NewPathAttributeMpReachNLRI(family, []gobgp.PathNLRI{{NLRI: nlri}}, netip.IPv6Unspecified())
		if err != nil {
			return nil, fmt.Errorf("build mp_reach %v: %w", r.Prefix, err)
		}
		attrs = append(attrs, mp)
	}
	if r.MED != 0 {
		attrs = append(attrs, gobgp.NewPathAttributeMultiExitDisc(r.MED))
	}
	if r.LocalPref != 0 {
		attrs = append(attrs, gobgp.NewPathAttributeLocalPref(r.LocalPref))
	}
	if len(r.Communities) > 0 {
		cs := make([]uint32, len(r.Communities))
		for i, c := range r.Communities {
			cs[i] = uint32(c)
		}
		attrs = append(attrs, gobgp.NewPathAttributeCommunities(cs))
	}
	return &apiutil.Path{Family: family, Nlri: nlri, Attrs: attrs, Withdrawal: withdraw}, nil
}

// fsmState maps GoBGP's FSM state.
func fsmState(s gobgp.FSMState) SessionState {
	switch s {
	case gobgp.BGP_FSM_CONNECT:
		return Connect
	case gobgp.BGP_FSM_ACTIVE:
		return Active
	case gobgp.BGP_FSM_OPENSENT:
		return OpenSent
	case gobgp.BGP_FSM_OPENCONFIRM:
		return OpenConfirm
	case gobgp.BGP_FSM_ESTABLISHED:
		return Established
	}
	return Idle
}

func bfdState(s api.BfdSessionState) BFDState {
	switch s {
	case api.BfdSessionState_BFD_SESSION_STATE_ADMIN_DOWN:
		return BFDAdminDown
	case api.BfdSessionState_BFD_SESSION_STATE_DOWN:
		return BFDDown
	case api.BfdSessionState_BFD_SESSION_STATE_INIT:
		return BFDInit
	case api.BfdSessionState_BFD_SESSION_STATE_UP:
		return BFDUp
	}
	return BFDDown
}

// Names of the import policy that drops every route a peer sends.
const (
	allPeersSet      = "lvskit-all-peers"
	announceOnlyName = "lvskit-announce-only"
)

// announceOnly is that policy: reject what comes from any neighbor.
// GoBGP's global import policy also judges the routes this speaker
// originates, which have no neighbor and so do not match it: a plain
// default-reject would drop them too.
func announceOnly() (*api.DefinedSet, *api.Policy, *api.PolicyAssignment) {
	set := &api.DefinedSet{
		DefinedType: api.DefinedType_DEFINED_TYPE_NEIGHBOR,
		Name:        allPeersSet,
		List:        []string{"0.0.0.0/0", "::/0"},
	}
	policy := &api.Policy{Name: announceOnlyName, Statements: []*api.Statement{{
		Name:       announceOnlyName + "-reject",
		Conditions: &api.Conditions{NeighborSet: &api.MatchSet{Type: api.MatchSet_TYPE_ANY, Name: allPeersSet}},
		Actions:    &api.Actions{RouteAction: api.RouteAction_ROUTE_ACTION_REJECT},
	}}}
	assign := &api.PolicyAssignment{
		Name:          "global",
		Direction:     api.PolicyDirection_POLICY_DIRECTION_IMPORT,
		Policies:      []*api.Policy{{Name: announceOnlyName}},
		DefaultAction: api.RouteAction_ROUTE_ACTION_ACCEPT,
	}
	return set, policy, assign
}
