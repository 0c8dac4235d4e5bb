package healthcheck_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/lvskit/lvskit/clock/clocktest"
	"github.com/lvskit/lvskit/healthcheck"
	"github.com/lvskit/lvskit/ipvs"
)

// restartableServer is an HTTP server on a fixed loopback port that can be
// stopped and started again.
type restartableServer struct {
	t    *testing.T
	addr netip.AddrPort
	srv  *httptest.Server
}

func newRestartable(t *testing.T) *restartableServer {
	r := &restartableServer{t: t}
	r.start("127.0.0.1:0")
	r.addr = addrOf(t, r.srv.Listener.Addr().String())
	t.Cleanup(r.stop)
	return r
}

func (r *restartableServer) start(addr string) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		r.t.Fatalf("listen %s: %v", addr, err)
	}
	r.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok\n") }))
	r.srv.Listener = ln
	r.srv.Start()
}

func (r *restartableServer) stop() {
	if r.srv != nil {
		r.srv.Close()
		r.srv = nil
	}
}

func (r *restartableServer) restart() { r.start(r.addr.String()) }

func destsOf(t *testing.T, m *ipvs.Memory) []string {
	t.Helper()
	svcs, err := m.Dump(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, s := range svcs {
		for _, d := range s.Destinations {
			out = append(out, fmt.Sprintf("%s=%d", d.Key(), d.Weight))
		}
	}
	slices.Sort(out)
	return out
}

// eventually polls cond until it holds or 10 s pass. It asserts an
// outcome, not a duration: the deadline only keeps a broken test bounded.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestPoolWithRealServers runs a pool of three real HTTP servers on
// loopback into the in-memory IPVS backend: stopping servers takes them
// out, losing the quorum puts the sorry server in, and restarting a server
// brings the real servers back.
func TestPoolWithRealServers(t *testing.T) {
	servers := []*restartableServer{newRestartable(t), newRestartable(t), newRestartable(t)}
	policy := healthcheck.Policy{DelayLoop: 100 * time.Millisecond, DelayBeforeRetry: 50 * time.Millisecond,
		ConnectTimeout: 5 * time.Second, Warmup: -1, Bootstrap: -1}
	var rss []healthcheck.RealServer
	for _, s := range servers {
		rss = append(rss, healthcheck.RealServer{
			Destination: ipvs.Destination{Addr: s.addr.Addr(), Port: s.addr.Port(), Weight: 1, Forward: ipvs.Masquerade},
			Checks: []healthcheck.Check{{
				Checker: &healthcheck.HTTPChecker{Conn: healthcheck.Conn{Addr: s.addr}, URLs: []healthcheck.URL{{Path: "/", Digest: healthcheck.Digest([]byte("ok\n"))}}},
				Policy:  policy,
			}},
		})
	}
	mem := ipvs.NewMemory()
	reg := prometheus.NewRegistry()
	metrics, err := healthcheck.NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var quorumEvents []bool
	var rsEvents []string
	pool, err := healthcheck.NewPool(healthcheck.PoolConfig{
		Service:     ipvs.Service{Protocol: ipvs.TCP, Addr: netip.MustParseAddr("127.0.0.100"), Port: 80, Scheduler: "rr"},
		RealServers: rss,
		Quorum:      2,
		SorryServer: &healthcheck.SorryServer{Addr: netip.MustParseAddr("127.0.0.9"), Port: 8080},
		Syncer:      healthcheck.NewTable(mem),
		Metrics:     metrics,
		OnQuorum: func(e healthcheck.QuorumEvent) {
			mu.Lock()
			defer mu.Unlock()
			quorumEvents = append(quorumEvents, e.Up)
		},
		OnRealServer: func(e healthcheck.RealServerEvent) {
			mu.Lock()
			defer mu.Unlock()
			s := fmt.Sprintf("%s alive=%v", e.RealServer, e.Alive)
			if !e.Alive && e.Err == nil {
				s += " without a reason"
			}
			rsEvents = append(rsEvents, s)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error)
	go func() { done <- pool.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("pool Run: %v", err)
		}
	})

	all := []string{servers[0].addr.String() + "=1", servers[1].addr.String() + "=1", servers[2].addr.String() + "=1"}
	slices.Sort(all)
	eventually(t, "all real servers in the table", func() bool { return cmp.Equal(all, destsOf(t, mem)) })

	servers[0].stop()
	want := []string{servers[1].addr.String() + "=1", servers[2].addr.String() + "=1"}
	slices.Sort(want)
	eventually(t, "the stopped server out of the table", func() bool { return cmp.Equal(want, destsOf(t, mem)) })
	if !pool.QuorumUp() {
		t.Error("quorum lost with two of three servers alive and quorum 2")
	}

	servers[1].stop()
	eventually(t, "the sorry server alone in the table", func() bool {
		return cmp.Equal([]string{"127.0.0.9:8080=1"}, destsOf(t, mem))
	})

	servers[1].restart()
	eventually(t, "the real servers back after quorum is regained", func() bool { return cmp.Equal(want, destsOf(t, mem)) })

	// The pool kicks its sync before it calls OnQuorum and OnRealServer
	// (on the checker's goroutine): the table can show a change before
	// its events are in. Wait for as many events as expected, then
	// compare them.
	eventually(t, "two quorum events and three real server events", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(quorumEvents) >= 2 && len(rsEvents) >= 3
	})
	mu.Lock()
	if diff := cmp.Diff([]bool{false, true}, quorumEvents); diff != "" {
		t.Errorf("quorum events (-want +got):\n%s", diff)
	}
	wantRS := []string{
		servers[0].addr.String() + " alive=false",
		servers[1].addr.String() + " alive=false",
		servers[1].addr.String() + " alive=true",
	}
	if diff := cmp.Diff(wantRS, rsEvents); diff != "" {
		t.Errorf("real server events (-want +got):\n%s", diff)
	}
	mu.Unlock()

	if got := gaugeValue(t, reg, "lvskit_healthcheck_quorum_up"); got != 1 {
		t.Errorf("quorum_up gauge = %v, want 1", got)
	}
	for _, name := range []string{"lvskit_healthcheck_probes_total", "lvskit_healthcheck_probe_duration_seconds", "lvskit_healthcheck_real_server_up", "lvskit_healthcheck_target_up"} {
		if seriesCount(t, reg, name) == 0 {
			t.Errorf("metric %s has no series", name)
		}
	}
}

func gather(t *testing.T, reg *prometheus.Registry, name string) []*dto.Metric {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.Metric
		}
	}
	return nil
}

func seriesCount(t *testing.T, reg *prometheus.Registry, name string) int {
	return len(gather(t, reg, name))
}

func gaugeValue(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	ms := gather(t, reg, name)
	if len(ms) != 1 {
		t.Fatalf("metric %s: %d series, want 1", name, len(ms))
	}
	return ms[0].GetGauge().GetValue()
}

// TestDetectionOfKilledServer: a real HTTP server is killed between two
// probes; the monitor, on a fake clock, reports it down at the retry of the
// next probe: half a delay_loop after the kill plus delay_before_retry (the
// probe and its retry fail at once on a refused connection), within the
// policy's worst case of delay_loop + delay_before_retry. The probes are
// real; only the time between them is fake, so a busy machine cannot move
// the result. (It replaces TestDetectionRealClock, which measured the same
// on the wall clock and failed when the machine was busy.)
func TestDetectionOfKilledServer(t *testing.T) {
	served := make(chan struct{}, 100)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		select {
		case served <- struct{}{}:
		default:
		}
		io.WriteString(w, "ok\n")
	}))
	defer srv.Close()
	policy := healthcheck.Policy{DelayLoop: 500 * time.Millisecond, DelayBeforeRetry: 200 * time.Millisecond,
		ConnectTimeout: 5 * time.Second, Warmup: -1, Bootstrap: -1}
	clk := clocktest.New(t0)
	downAt := make(chan time.Time, 1)
	var reason error
	m, err := healthcheck.NewMonitor(healthcheck.MonitorConfig{
		Checker: &healthcheck.HTTPChecker{Conn: healthcheck.Conn{Addr: addrOf(t, srv.URL)}, URLs: []healthcheck.URL{{Path: "/"}}},
		Policy:  policy,
		Clock:   clk,
		OnEvent: func(e healthcheck.Event) {
			if !e.Up {
				reason = e.Err
				downAt <- e.Time
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error)
	go func() { done <- m.Run(ctx) }()
	defer func() { cancel(); <-done }()
	// A pending timer means the monitor waits for its next probe: no probe
	// is in flight (probes take no time on the fake clock).
	<-served // the first probe runs at once (no bootstrap, no warmup)
	clk.BlockUntil(1)
	clk.AdvanceToNext()
	<-served // two probes passed: the monitor is in its steady loop
	clk.BlockUntil(1)
	// Kill between two probes.
	clk.Advance(policy.DelayLoop / 2)
	killed := clk.Now()
	srv.Close()
	var at time.Time
	for probes := 0; at.IsZero(); probes++ {
		clk.BlockUntil(1)
		select {
		case at = <-downAt:
			continue
		default:
		}
		if probes == 10 {
			t.Fatalf("no down transition in %d probes after the kill", probes)
		}
		clk.AdvanceToNext()
	}
	took := at.Sub(killed)
	t.Logf("detected %v after the kill (fake clock); reason: %v", took, reason)
	if want := policy.DelayLoop/2 + policy.DelayBeforeRetry; took != want {
		t.Errorf("down reported %v after the kill, want %v (the next probe and its retry)", took, want)
	}
	if took > policy.DelayLoop+policy.DelayBeforeRetry {
		t.Errorf("down reported %v after the kill, beyond the worst case %v", took, policy.DelayLoop+policy.DelayBeforeRetry)
	}
}
