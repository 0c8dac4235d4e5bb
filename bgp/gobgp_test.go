package bgp

import (
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	api "github.com/osrg/gobgp/v4/api"
	gobgp "github.com/osrg/gobgp/v4/pkg/packet/bgp"
	"google.golang.org/protobuf/testing/protocmp"
)

func TestAPIPeer(t *testing.T) {
	p, err := Peer{
		Address: netip.MustParseAddr("fd00::fe"), ASN: 65000, Port: 1179,
		LocalAddress: netip.MustParseAddr("fd00::1"), Password: "s3cret", Passive: true,
		HoldTime: 9 * time.Second, ConnectRetry: 2 * time.Second, Description: "tor1",
		BFD: BFD{MinTx: 100 * time.Millisecond, MinRx: 200 * time.Millisecond, Multiplier: 5},
	}.resolve()
	if err != nil {
		t.Fatal(err)
	}
	want := &api.Peer{
		Conf: &api.PeerConf{NeighborAddress: "fd00::fe", PeerAsn: 65000, LocalAsn: 65001, AuthPassword: "s3cret", Description: "tor1"},
		Timers: &api.Timers{Config: &api.TimersConfig{
			ConnectRetry: 2, HoldTime: 9, KeepaliveInterval: 3, IdleHoldTimeAfterReset: 2,
		}},
		Transport: &api.Transport{LocalAddress: "fd00::1", PassiveMode: true, RemotePort: 1179},
		AfiSafis:  []*api.AfiSafi{{Config: &api.AfiSafiConfig{Family: &api.Family{Afi: api.Family_AFI_IP6, Safi: api.Family_SAFI_UNICAST}, Enabled: true}}},
		Bfd:       &api.BfdPeerConfig{Enabled: true, DesiredMinimumTxInterval: 100000, RequiredMinimumReceive: 200000, DetectionMultiplier: 5},
	}
	if diff := cmp.Diff(want, apiPeer(p, 65001), protocmp.Transform()); diff != "" {
		t.Errorf("apiPeer (-want +got):\n%s", diff)
	}

	mh, err := Peer{Address: netip.MustParseAddr("10.0.0.254"), ASN: 65000, Multihop: 4, BFD: BFD{Disable: true}}.resolve()
	if err != nil {
		t.Fatal(err)
	}
	got := apiPeer(mh, 65001)
	if diff := cmp.Diff(&api.EbgpMultihop{Enabled: true, MultihopTtl: 4}, got.EbgpMultihop, protocmp.Transform()); diff != "" {
		t.Errorf("multihop (-want +got):\n%s", diff)
	}
	if got.Bfd != nil {
		t.Errorf("BFD disabled but configured: %v", got.Bfd)
	}
	if got.AfiSafis[0].Config.Family.Afi != api.Family_AFI_IP {
		t.Errorf("IPv4 peer gets family %v", got.AfiSafis[0].Config.Family)
	}
}

func TestAPIGlobal(t *testing.T) {
	for _, tt := range []struct {
		port int
		want int32
	}{{0, 179}, {-1, -1}, {-5, -1}, {1179, 1179}} {
		c := &resolved{Config: Config{ASN: 4200000000, RouterID: netip.MustParseAddr("10.0.0.1"), ListenPort: tt.port,
			ListenAddresses: []netip.Addr{netip.MustParseAddr("10.0.0.1")}}}
		g := apiGlobal(c)
		if g.ListenPort != tt.want || g.Asn != 4200000000 || g.RouterId != "10.0.0.1" || len(g.ListenAddresses) != 1 {
			t.Errorf("ListenPort %d: global %v", tt.port, g)
		}
	}
}

func TestAPIPath(t *testing.T) {
	attrTypes := func(attrs []gobgp.PathAttributeInterface) map[gobgp.BGPAttrType]gobgp.PathAttributeInterface {
		m := make(map[gobgp.BGPAttrType]gobgp.PathAttributeInterface)
		for _, a := range attrs {
			m[a.GetType()] = a
		}
		return m
	}

	v4, err := apiPath(Route{Prefix: netip.MustParsePrefix("192.0.2.10/32"), MED: 50, LocalPref: 200, Communities: []Community{65000<<16 | 100, NoExport}}, false)
	if err != nil {
		t.Fatal(err)
	}
	if v4.Family != gobgp.RF_IPv4_UC || v4.Withdrawal || v4.Nlri.String() != "192.0.2.10/32" {
		t.Errorf("IPv4 path: family %v withdrawal %v nlri %v", v4.Family, v4.Withdrawal, v4.Nlri)
	}
	a := attrTypes(v4.Attrs)
	if o, ok := a[gobgp.BGP_ATTR_TYPE_ORIGIN].(*gobgp.PathAttributeOrigin); !ok || o.Value != gobgp.BGP_ORIGIN_ATTR_TYPE_IGP {
		t.Errorf("origin %v, want IGP", a[gobgp.BGP_ATTR_TYPE_ORIGIN])
	}
	if nh, ok := a[gobgp.BGP_ATTR_TYPE_NEXT_HOP].(*gobgp.PathAttributeNextHop); !ok || !nh.Value.IsUnspecified() {
		t.Errorf("next hop %v, want 0.0.0.0 (next-hop self)", a[gobgp.BGP_ATTR_TYPE_NEXT_HOP])
	}
	if m, ok := a[gobgp.BGP_ATTR_TYPE_MULTI_EXIT_DISC].(*gobgp.PathAttributeMultiExitDisc); !ok || m.Value != 50 {
		t.Errorf("MED %v, want 50", a[gobgp.BGP_ATTR_TYPE_MULTI_EXIT_DISC])
	}
	if lp, ok := a[gobgp.BGP_ATTR_TYPE_LOCAL_PREF].(*gobgp.PathAttributeLocalPref); !ok || lp.Value != 200 {
		t.Errorf("LOCAL_PREF %v, want 200", a[gobgp.BGP_ATTR_TYPE_LOCAL_PREF])
	}
	if c, ok := a[gobgp.BGP_ATTR_TYPE_COMMUNITIES].(*gobgp.PathAttributeCommunities); !ok || !cmp.Equal(c.Value, []uint32{65000<<16 | 100, uint32(NoExport)}) {
		t.Errorf("communities %v", a[gobgp.BGP_ATTR_TYPE_COMMUNITIES])
	}

	v6, err := apiPath(Route{Prefix: netip.MustParsePrefix("2001:db8::10/128")}, false)
	if err != nil {
		t.Fatal(err)
	}
	a = attrTypes(v6.Attrs)
	mp, ok := a[gobgp.BGP_ATTR_TYPE_MP_REACH_NLRI].(*gobgp.PathAttributeMpReachNLRI)
	if v6.Family != gobgp.RF_IPv6_UC || !ok || !mp.Nexthop.IsUnspecified() || !mp.Nexthop.Is6() {
		t.Errorf("IPv6 path: family %v mp_reach %v, want ipv6-unicast with next hop ::", v6.Family, a[gobgp.BGP_ATTR_TYPE_MP_REACH_NLRI])
	}
	for _, t2 := range []gobgp.BGPAttrType{gobgp.BGP_ATTR_TYPE_NEXT_HOP, gobgp.BGP_ATTR_TYPE_MULTI_EXIT_DISC, gobgp.BGP_ATTR_TYPE_LOCAL_PREF, gobgp.BGP_ATTR_TYPE_COMMUNITIES} {
		if _, ok := a[t2]; ok {
			t.Errorf("IPv6 route without attributes carries %v", t2)
		}
	}

	wd, err := apiPath(Route{Prefix: netip.MustParsePrefix("192.0.2.10/32")}, true)
	if err != nil || !wd.Withdrawal {
		t.Errorf("withdrawal path: %v, %v", wd, err)
	}
}

func TestStateMapping(t *testing.T) {
	for fsm, want := range map[gobgp.FSMState]SessionState{
		gobgp.BGP_FSM_IDLE: Idle, gobgp.BGP_FSM_CONNECT: Connect, gobgp.BGP_FSM_ACTIVE: Active,
		gobgp.BGP_FSM_OPENSENT: OpenSent, gobgp.BGP_FSM_OPENCONFIRM: OpenConfirm, gobgp.BGP_FSM_ESTABLISHED: Established,
	} {
		if got := fsmState(fsm); got != want {
			t.Errorf("fsmState(%v) = %v, want %v", fsm, got, want)
		}
	}
	for b, want := range map[api.BfdSessionState]BFDState{
		api.BfdSessionState_BFD_SESSION_STATE_UNSPECIFIED: BFDDown,
		api.BfdSessionState_BFD_SESSION_STATE_ADMIN_DOWN:  BFDAdminDown,
		api.BfdSessionState_BFD_SESSION_STATE_DOWN:        BFDDown,
		api.BfdSessionState_BFD_SESSION_STATE_INIT:        BFDInit,
		api.BfdSessionState_BFD_SESSION_STATE_UP:          BFDUp,
	} {
		if got := bfdState(b); got != want {
			t.Errorf("bfdState(%v) = %v, want %v", b, got, want)
		}
	}
	if Established.String() != "established" || BFDUp.String() != "up" || RouteWithdrawn.String() != "withdrawn" || SessionState(9).String() != "unknown" {
		t.Error("state names")
	}
}
