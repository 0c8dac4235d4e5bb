package healthcheck

import (
	"errors"
	"fmt"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/lvskit/lvskit/ipvs"
)

// step sets one checker's state; want* are what follows.
type poolStep struct {
	rs, chk   int
	up        bool
	weight    Weight
	wantDests []string // "addr:port=weight"
	wantNotes []string
	wantQuor  bool
}

func dests(s ipvs.Service) []string {
	var out []string
	for _, d := range s.Destinations {
		out = append(out, fmt.Sprintf("%s=%d", d.Key(), d.Weight))
	}
	return out
}

func notes(ns []any) []string {
	var out []string
	for _, n := range ns {
		switch n := n.(type) {
		case RealServerEvent:
			out = append(out, fmt.Sprintf("rs %s alive=%v", n.RealServer, n.Alive))
		case QuorumEvent:
			out = append(out, fmt.Sprintf("quorum up=%v sum=%d threshold=%d", n.Up, n.WeightSum, n.Threshold))
		}
	}
	return out
}

func rsAt(last byte, weight int32, inhibit bool, alpha ...bool) RealServer {
	a := len(alpha) > 0 && alpha[0]
	return RealServer{
		Destination:      ipvs.Destination{Addr: netip.AddrFrom4([4]byte{192, 168, 0, last}), Port: 80, Weight: weight, Forward: ipvs.DirectRoute},
		InhibitOnFailure: inhibit, Checks: []Check{{Checker: &TCPChecker{}, Policy: Policy{Alpha: a}}},
	}
}

var vip = ipvs.Service{Protocol: ipvs.TCP, Addr: netip.MustParseAddr("192.168.0.253"), Port: 80, Scheduler: "wrr"}

func TestPoolState(t *testing.T) {
	errDown := errors.New("refused")
	tests := []struct {
		name      string
		cfg       PoolConfig
		initDests []string
		initQuor  bool
		steps     []poolStep
	}{
		{
			name:      "removal and return",
			cfg:       PoolConfig{Service: vip, Quorum: 1, RealServers: []RealServer{rsAt(1, 3, false), rsAt(2, 1, false)}},
			initDests: []string{"192.168.0.1:80=3", "192.168.0.2:80=1"}, initQuor: true,
			steps: []poolStep{
				{rs: 0, up: false, wantDests: []string{"192.168.0.2:80=1"}, wantNotes: []string{"rs 192.168.0.1:80 alive=false"}, wantQuor: true},
				{rs: 0, up: true, wantDests: []string{"192.168.0.1:80=3", "192.168.0.2:80=1"}, wantNotes: []string{"rs 192.168.0.1:80 alive=true"}, wantQuor: true},
			},
		},
		{
			name:      "inhibit_on_failure sets weight 0",
			cfg:       PoolConfig{Service: vip, Quorum: 1, RealServers: []RealServer{rsAt(1, 3, true), rsAt(2, 1, false)}},
			initDests: []string{"192.168.0.1:80=3", "192.168.0.2:80=1"}, initQuor: true,
			steps: []poolStep{
				{rs: 0, up: false, wantDests: []string{"192.168.0.1:80=0", "192.168.0.2:80=1"}, wantNotes: []string{"rs 192.168.0.1:80 alive=false"}, wantQuor: true},
			},
		},
		{
			name:      "alpha: inhibited servers start at weight 0, others absent; quorum down at start",
			cfg:       PoolConfig{Service: vip, Quorum: 1, RealServers: []RealServer{rsAt(1, 2, true, true), rsAt(2, 1, false, true)}},
			initDests: []string{"192.168.0.1:80=0"}, initQuor: false,
			steps: []poolStep{
				{rs: 1, up: true, wantDests: []string{"192.168.0.1:80=0", "192.168.0.2:80=1"},
					wantNotes: []string{"rs 192.168.0.2:80 alive=true", "quorum up=true sum=1 threshold=1"}, wantQuor: true},
			},
		},
		{
			name: "quorum with hysteresis and a sorry server",
			cfg: PoolConfig{Service: vip, Quorum: 3, Hysteresis: 1,
				RealServers: []RealServer{rsAt(1, 2, false), rsAt(2, 2, false), rsAt(3, 1, true)},
				SorryServer: &SorryServer{Addr: netip.MustParseAddr("192.168.0.9"), Port: 8080, Forward: ipvs.Masquerade}},
			// Sum 5 >= 3+1: quorum up at start.
			initDests: []string{"192.168.0.1:80=2", "192.168.0.2:80=2", "192.168.0.3:80=1"}, initQuor: true,
			steps: []poolStep{
				// Sum 3: not below 3-1=2, quorum stays.
				{rs: 0, up: false, wantDests: []string{"192.168.0.2:80=2", "192.168.0.3:80=1"},
					wantNotes: []string{"rs 192.168.0.1:80 alive=false"}, wantQuor: true},
				// Sum 1 < 2: lost. Sorry server replaces all; inhibited stays at 0.
				{rs: 1, up: false, wantDests: []string{"192.168.0.3:80=0", "192.168.0.9:8080=1"},
					wantNotes: []string{"rs 192.168.0.2:80 alive=false", "quorum up=false sum=1 threshold=2"}, wantQuor: false},
				// Sum 3 < 3+1: still lost, real servers stay out.
				{rs: 0, up: true, wantDests: []string{"192.168.0.3:80=0", "192.168.0.9:8080=1"},
					wantNotes: []string{"rs 192.168.0.1:80 alive=true"}, wantQuor: false},
				// Sum 5 >= 4: gained; sorry server removed, alive servers back.
				{rs: 1, up: true, wantDests: []string{"192.168.0.1:80=2", "192.168.0.2:80=2", "192.168.0.3:80=1"},
					wantNotes: []string{"rs 192.168.0.2:80 alive=true", "quorum up=true sum=5 threshold=4"}, wantQuor: true},
			},
		},
		{
			name: "sorry_server_inhibit keeps the sorry server at weight 0",
			cfg: PoolConfig{Service: vip, Quorum: 1, RealServers: []RealServer{rsAt(1, 1, false)},
				SorryServer: &SorryServer{Addr: netip.MustParseAddr("192.168.0.9"), Port: 80, Weight: 5, Inhibit: true}},
			initDests: []string{"192.168.0.1:80=1", "192.168.0.9:80=0"}, initQuor: true,
			steps: []poolStep{
				{rs: 0, up: false, wantDests: []string{"192.168.0.9:80=5"},
					wantNotes: []string{"rs 192.168.0.1:80 alive=false", "quorum up=false sum=0 threshold=1"}},
			},
		},
		{
			name: "quorum 0 is still lost when no weight is alive",
			cfg:  PoolConfig{Service: vip, Quorum: 1, Hysteresis: 1, RealServers: []RealServer{rsAt(1, 1, false)}},
			// 1 < 1+1: starts without quorum; without a sorry server the
			// server is in the table anyway.
			initDests: []string{"192.168.0.1:80=1"}, initQuor: false,
			steps: []poolStep{
				{rs: 0, up: false, wantDests: nil, wantNotes: []string{"rs 192.168.0.1:80 alive=false"}},
			},
		},
		{
			name:      "weight 0: in the table at weight 0, no quorum",
			cfg:       PoolConfig{Service: vip, Quorum: 1, RealServers: []RealServer{rsAt(1, 0, false), rsAt(2, 1, false)}},
			initDests: []string{"192.168.0.1:80=0", "192.168.0.2:80=1"}, initQuor: true,
			steps: []poolStep{
				{rs: 1, up: false, wantDests: []string{"192.168.0.1:80=0"},
					wantNotes: []string{"rs 192.168.0.2:80 alive=false", "quorum up=false sum=0 threshold=1"}},
			},
		},
		{
			name:      "misc_dynamic weights count for the quorum",
			cfg:       PoolConfig{Service: vip, Quorum: 4, RealServers: []RealServer{rsAt(1, 5, false)}},
			initDests: []string{"192.168.0.1:80=5"}, initQuor: true,
			steps: []poolStep{
				{rs: 0, up: true, weight: Weight{Kind: WeightAbsolute, Value: 2}, wantDests: []string{"192.168.0.1:80=2"},
					wantNotes: []string{"quorum up=false sum=2 threshold=4"}},
				{rs: 0, up: true, weight: Weight{Kind: WeightConfigured}, wantDests: []string{"192.168.0.1:80=5"},
					wantNotes: []string{"quorum up=true sum=5 threshold=4"}, wantQuor: true},
				{rs: 0, up: true, weight: Weight{Kind: WeightOffset, Value: -10}, wantDests: []string{"192.168.0.1:80=0"},
					wantNotes: []string{"quorum up=false sum=0 threshold=4"}},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tt.cfg
			s := newPoolState(&cfg)
			s.init()
			if diff := cmp.Diff(tt.initDests, dests(s.want())); diff != "" {
				t.Errorf("initial destinations (-want +got):\n%s", diff)
			}
			if s.quorumUp != tt.initQuor {
				t.Errorf("initial quorum up = %v, want %v", s.quorumUp, tt.initQuor)
			}
			for i, st := range tt.steps {
				var err error
				if !st.up {
					err = errDown
				}
				got := notes(s.update(st.rs, st.chk, Event{Up: st.up, Weight: st.weight, Err: err}))
				if diff := cmp.Diff(st.wantNotes, got); diff != "" {
					t.Errorf("step %d notifications (-want +got):\n%s", i, diff)
				}
				if diff := cmp.Diff(st.wantDests, dests(s.want())); diff != "" {
					t.Errorf("step %d destinations (-want +got):\n%s", i, diff)
				}
				if s.quorumUp != st.wantQuor {
					t.Errorf("step %d quorum up = %v, want %v", i, s.quorumUp, st.wantQuor)
				}
			}
		})
	}
}

func TestStrtol(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"0", 0, true}, {"42\n", 42, true}, {" -7x", -7, true}, {"0x1f", 31, true}, {"017", 15, true},
		{"", 0, true}, {"abc", 0, true}, {"2147483648", 2147483648, true}, {"2147483649", 0, false},
		{"-2147483648", -2147483648, true}, {"-2147483649", 0, false}, {"0x", 0, true}, {"+5", 5, true},
	}
	for _, tt := range tests {
		got, ok := strtol(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("strtol(%q) = %d, %v; want %d, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func FuzzStrtol(f *testing.F) {
	for _, s := range []string{"0", "-1", "0x10", "077", " 12abc", "99999999999999999999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, ok := strtol(s)
		if ok && (v < -2147483648 || v > 2147483648) {
			t.Errorf("strtol(%q) = %d outside keepalived's range", s, v)
		}
	})
}
