package bgp

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/lvskit/lvskit/clock/clocktest"
	api "github.com/osrg/gobgp/v4/api"
	"go.uber.org/goleak"
)

func TestPeerDiff(t *testing.T) {
	a := Peer{Address: netip.MustParseAddr("10.0.0.1"), ASN: 65000}
	b := Peer{Address: netip.MustParseAddr("10.0.0.2"), ASN: 65000}
	b2 := b
	b2.BFD.MinTx = 100 * time.Millisecond
	c := Peer{Address: netip.MustParseAddr("10.0.0.3"), ASN: 65000}
	addrs := func(ps []Peer) []string {
		var out []string
		for _, p := range ps {
			out = append(out, p.Address.String())
		}
		return out
	}
	for _, tc := range []struct {
		name        string
		have, want  []Peer
		add, remove []string
	}{
		{"same", []Peer{a, b}, []Peer{b, a}, nil, nil},
		{"added", []Peer{a}, []Peer{a, c}, []string{"10.0.0.3"}, nil},
		{"removed", []Peer{a, b}, []Peer{a}, nil, []string{"10.0.0.2"}},
		{"changed", []Peer{a, b}, []Peer{a, b2}, []string{"10.0.0.2"}, []string{"10.0.0.2"}},
		{"all", []Peer{a, b}, []Peer{b2, c}, []string{"10.0.0.2", "10.0.0.3"}, []string{"10.0.0.1", "10.0.0.2"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			add, remove := peerDiff(tc.have, tc.want)
			if diff := cmp.Diff(tc.add, addrs(add)); diff != "" {
				t.Errorf("add (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.remove, addrs(remove)); diff != "" {
				t.Errorf("remove (-want +got):\n%s", diff)
			}
		})
	}
}

// gobgpPeers lists the neighbors configured in GoBGP, with their hold
// times.
func gobgpPeers(t *testing.T, sp *Speaker) map[string]uint64 {
	t.Helper()
	sp.mu.Lock()
	srv := sp.srv
	sp.mu.Unlock()
	out := map[string]uint64{}
	err := srv.ListPeer(context.Background(), &api.ListPeerRequest{}, func(p *api.Peer) {
		out[p.Conf.NeighborAddress] = p.Timers.Config.HoldTime
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// SetPeers before Run replaces the configuration; while running it adds,
// removes and replaces neighbors in GoBGP; a bad list changes nothing;
// after Run it is ErrStopped.
func TestSetPeers(t *testing.T) {
	defer goleak.VerifyNone(t)
	sp, err := New(offlineConfig(clocktest.New(time.Unix(0, 0)), nil))
	if err != nil {
		t.Fatal(err)
	}
	passive := func(addr string, hold time.Duration) Peer {
		return Peer{Address: netip.MustParseAddr(addr), ASN: 65000, Passive: true, HoldTime: hold, BFD: BFD{Disable: true}}
	}
	ctx := context.Background()
	if err := sp.SetPeers(ctx, []Peer{passive("10.0.0.254", 0), passive("2001:db8::fe", 0)}); err != nil {
		t.Fatal(err)
	}
	// The IPv6 peer makes IPv6 routes welcome.
	if err := sp.Announce(Route{Prefix: netip.MustParsePrefix("2001:db8::10/128")}); err != nil {
		t.Errorf("IPv6 route with an IPv6 peer: %v", err)
	}

	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- sp.Run(runCtx) }()
	waitRunning(t, sp)
	if diff := cmp.Diff(map[string]uint64{"10.0.0.254": 90, "2001:db8::fe": 90}, gobgpPeers(t, sp)); diff != "" {
		t.Errorf("GoBGP's peers after Run (-want +got):\n%s", diff)
	}

	// (10.0.0.254's hold time changes, 2001:db8::fe goes, 10.0.0.253
	// comes.)
	if err := sp.SetPeers(ctx, []Peer{passive("10.0.0.254", 30*time.Second), passive("10.0.0.253", 9*time.Second)}); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]uint64{"10.0.0.254": 30, "10.0.0.253": 9}, gobgpPeers(t, sp)); diff != "" {
		t.Errorf("GoBGP's peers after a change (-want +got):\n%s", diff)
	}
	var got []string
	for _, p := range sp.Status().Peers {
		got = append(got, p.Address.String())
	}
	if !slices.Equal(got, []string{"10.0.0.254", "10.0.0.253"}) {
		t.Errorf("status peers %v", got)
	}
	if err := sp.Announce(Route{Prefix: netip.MustParsePrefix("2001:db8::11/128")}); err == nil || !strings.Contains(err.Error(), "no IPv6 peer") {
		t.Errorf("IPv6 route once the IPv6 peer is gone: %v", err)
	}

	// A bad list (a repeated address) changes nothing.
	if err := sp.SetPeers(ctx, []Peer{passive("10.0.0.252", 0), passive("10.0.0.252", 0)}); err == nil || !strings.Contains(err.Error(), "repeated") {
		t.Errorf("SetPeers with a repeated peer: %v", err)
	}
	if diff := cmp.Diff(map[string]uint64{"10.0.0.254": 30, "10.0.0.253": 9}, gobgpPeers(t, sp)); diff != "" {
		t.Errorf("GoBGP's peers after a rejected list (-want +got):\n%s", diff)
	}

	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := sp.SetPeers(ctx, []Peer{passive("10.0.0.252", 0)}); !errors.Is(err, ErrStopped) {
		t.Errorf("SetPeers after Run: %v, want ErrStopped", err)
	}
}
