package healthcheck_test

import (
	"context"
	"errors"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/lvskit/lvskit/clock/clocktest"
	"github.com/lvskit/lvskit/healthcheck"
	"github.com/lvskit/lvskit/ipvs"
)

// flakySyncer fails its first n syncs.
type flakySyncer struct {
	mu    sync.Mutex
	fails int
	calls []time.Duration
	clock *clocktest.Clock
	got   chan ipvs.Service
}

func (f *flakySyncer) SyncService(_ context.Context, svc ipvs.Service) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, f.clock.Now().Sub(t0))
	if f.fails > 0 {
		f.fails--
		return errors.New("netlink: device or resource busy")
	}
	f.got <- svc
	return nil
}

// TestPoolRetriesFailedSync: a failed sync is retried every RetryInterval
// until it succeeds.
func TestPoolRetriesFailedSync(t *testing.T) {
	clock := clocktest.New(t0)
	syncer := &flakySyncer{fails: 2, clock: clock, got: make(chan ipvs.Service, 1)}
	pool, err := healthcheck.NewPool(healthcheck.PoolConfig{
		Service:       vip(),
		RealServers:   []healthcheck.RealServer{{Destination: ipvs.Destination{Addr: netip.MustParseAddr("192.168.0.1"), Port: 80, Weight: 1}}},
		Syncer:        syncer,
		RetryInterval: 2 * time.Second,
		Clock:         clock,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error)
	go func() { done <- pool.Run(ctx) }()
	for range 2 {
		clock.BlockUntil(1)
		clock.AdvanceToNext()
	}
	svc := <-syncer.got
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]time.Duration{0, 2 * time.Second, 4 * time.Second}, syncer.calls); diff != "" {
		t.Errorf("sync times (-want +got):\n%s", diff)
	}
	if len(svc.Destinations) != 1 || svc.Destinations[0].Weight != 1 {
		t.Errorf("synced %+v, want the one real server at weight 1", svc.Destinations)
	}
}

func vip() ipvs.Service {
	return ipvs.Service{Protocol: ipvs.TCP, Addr: netip.MustParseAddr("192.168.0.253"), Port: 80, Scheduler: "wrr"}
}

type nopSyncer struct{}

func (nopSyncer) SyncService(context.Context, ipvs.Service) error { return nil }

// TestPoolOmega: with omega, stopping the pool sends the down
// notifications of the alive real servers and of the quorum.
func TestPoolOmega(t *testing.T) {
	for _, omega := range []bool{false, true} {
		var mu sync.Mutex
		var got []string
		pool, err := healthcheck.NewPool(healthcheck.PoolConfig{
			Service: vip(),
			RealServers: []healthcheck.RealServer{
				{Destination: ipvs.Destination{Addr: netip.MustParseAddr("192.168.0.1"), Weight: 1}},
				{Destination: ipvs.Destination{Addr: netip.MustParseAddr("192.168.0.2"), Weight: 1}},
			},
			Omega:  omega,
			Syncer: nopSyncer{},
			OnRealServer: func(e healthcheck.RealServerEvent) {
				mu.Lock()
				defer mu.Unlock()
				got = append(got, "rs "+e.RealServer.String()+" down")
			},
			OnQuorum: func(e healthcheck.QuorumEvent) {
				mu.Lock()
				defer mu.Unlock()
				got = append(got, "quorum down")
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		if err := pool.Run(ctx); err != nil {
			t.Fatal(err)
		}
		var want []string
		if omega {
			want = []string{"rs 192.168.0.1:80 down", "rs 192.168.0.2:80 down", "quorum down"}
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("omega=%v notifications (-want +got):\n%s", omega, diff)
		}
	}
}

func TestNewPoolRejects(t *testing.T) {
	good := healthcheck.RealServer{Destination: ipvs.Destination{Addr: netip.MustParseAddr("192.168.0.1")}}
	tests := []struct {
		name string
		cfg  healthcheck.PoolConfig
	}{
		{"no syncer", healthcheck.PoolConfig{Service: vip(), RealServers: []healthcheck.RealServer{good}}},
		{"real server twice", healthcheck.PoolConfig{Service: vip(), Syncer: nopSyncer{}, RealServers: []healthcheck.RealServer{good, good}}},
		{"no address", healthcheck.PoolConfig{Service: vip(), Syncer: nopSyncer{}, RealServers: []healthcheck.RealServer{{Destination: ipvs.Destination{Port: 80}}}}},
		{"check without checker", healthcheck.PoolConfig{Service: vip(), Syncer: nopSyncer{}, RealServers: []healthcheck.RealServer{{Destination: good.Destination, Checks: []healthcheck.Check{{}}}}}},
		{"negative hysteresis", healthcheck.PoolConfig{Service: vip(), Syncer: nopSyncer{}, Hysteresis: -1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := healthcheck.NewPool(tt.cfg); err == nil {
				t.Error("no error")
			}
		})
	}
}
