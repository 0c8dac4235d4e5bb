package healthcheck_test

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lvskit/lvskit/healthcheck"
	"github.com/lvskit/lvskit/ipvs"
)

// Validate refuses what NewPool refuses about the configuration, the
// service and its real servers as IPVS would take them, and accepts a
// configuration without its run-time parts (no Syncer).
func TestPoolConfigValidate(t *testing.T) {
	web := func(last byte, w int32) healthcheck.RealServer {
		return healthcheck.RealServer{Destination: ipvs.Destination{Addr: netip.AddrFrom4([4]byte{192, 168, 0, last}), Weight: w}}
	}
	good := healthcheck.PoolConfig{Service: vip(), RealServers: []healthcheck.RealServer{web(1, 1), web(2, 0)}}
	if err := good.Validate(); err != nil {
		t.Fatalf("Validate without a Syncer: %v", err)
	}
	for _, tc := range []struct {
		name    string
		edit    func(*healthcheck.PoolConfig)
		want    string
		invalid bool // wraps ipvs.ErrInvalid
	}{
		{"scheduler name too long", func(c *healthcheck.PoolConfig) { c.Service.Scheduler = "a name longer than fifteen" }, "Scheduler", true},
		{"no service address", func(c *healthcheck.PoolConfig) { c.Service.Addr = netip.Addr{} }, "Addr", true},
		{"weight over the kernel's", func(c *healthcheck.PoolConfig) { c.RealServers[1].Weight = 70000 }, "Weight 70000", true},
		{"DR with a tunnel type", func(c *healthcheck.PoolConfig) {
			c.RealServers[0].Forward, c.RealServers[0].TunnelType = ipvs.DirectRoute, ipvs.TunnelGRE
		}, "tunnel options", true},
		{"the same server on the service port", func(c *healthcheck.PoolConfig) {
			c.RealServers[1].Addr, c.RealServers[1].Port = c.RealServers[0].Addr, 80
		},
			"real server 192.168.0.1:80 listed twice", false},
		{"negative quorum", func(c *healthcheck.PoolConfig) { c.Quorum = -1 }, "negative quorum", false},
		// What names a checker reaches logs and metric labels: text only,
		// an error rather than a panic in prometheus.
		{"a program that is not UTF-8", func(c *healthcheck.PoolConfig) {
			c.RealServers[0].Checks = []healthcheck.Check{{Checker: &healthcheck.MiscChecker{Path: "/bin/chk\xff"}}}
		}, `check "misc /bin/chk\xff": not valid UTF-8`, false},
		{"a file with a newline", func(c *healthcheck.PoolConfig) {
			c.RealServers[0].Checks = []healthcheck.Check{{Checker: &healthcheck.FileChecker{Path: "/run/a\nb"}}}
		}, `check "file /run/a\nb": control character U+000A`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := good
			c.RealServers = append([]healthcheck.RealServer(nil), good.RealServers...)
			tc.edit(&c)
			err := c.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) || errors.Is(err, ipvs.ErrInvalid) != tc.invalid {
				t.Fatalf("Validate = %v, want %q (wrapping ipvs.ErrInvalid: %v)", err, tc.want, tc.invalid)
			}
			c.Syncer = nopSyncer{}
			if _, nerr := healthcheck.NewPool(c); nerr == nil || !strings.HasSuffix(nerr.Error(), err.Error()) {
				t.Errorf("NewPool = %v, want it to wrap %v", nerr, err)
			}
		})
	}
}

// Alive is keyed by each real server's key in the service: a real server
// without a port has the service's.
func TestPoolAliveByKey(t *testing.T) {
	up := healthcheck.Check{Checker: &healthcheck.TCPChecker{}}
	down := healthcheck.Check{Checker: &healthcheck.TCPChecker{}, Policy: healthcheck.Policy{Alpha: true}}
	pool, err := healthcheck.NewPool(healthcheck.PoolConfig{Service: vip(), Syncer: nopSyncer{},
		RealServers: []healthcheck.RealServer{
			{Destination: ipvs.Destination{Addr: netip.MustParseAddr("192.168.0.1"), Weight: 1}, Checks: []healthcheck.Check{up}},
			{Destination: ipvs.Destination{Addr: netip.MustParseAddr("192.168.0.2"), Port: 8080, Weight: 1}, Checks: []healthcheck.Check{down}},
		}})
	if err != nil {
		t.Fatal(err)
	}
	want := map[ipvs.DestinationKey]bool{
		{Addr: netip.MustParseAddr("192.168.0.1"), Port: 80}:   true,
		{Addr: netip.MustParseAddr("192.168.0.2"), Port: 8080}: false,
	}
	got := pool.Alive()
	if len(got) != len(want) {
		t.Fatalf("Alive = %v, want %v", got, want)
	}
	for k, a := range want {
		if v, ok := got[k]; !ok || v != a {
			t.Errorf("Alive[%s] = %v, %v; want %v", k, v, ok, a)
		}
	}
}

// Building has no side effects: a pool built and never run (a rejected
// reload) sets no gauge; running it does. A monitor whose name could not
// be a label is an error from NewMonitor, not a panic.
func TestNewPoolLeavesNoMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	met, err := healthcheck.NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	cfg := healthcheck.PoolConfig{Service: vip(), Syncer: nopSyncer{}, Metrics: met,
		RealServers: []healthcheck.RealServer{{Destination: ipvs.Destination{Addr: netip.MustParseAddr("192.168.0.1"), Weight: 1},
			Checks: []healthcheck.Check{{Checker: &healthcheck.TCPChecker{Conn: healthcheck.Conn{Addr: netip.MustParseAddrPort("127.0.0.1:9")}}}}}}}
	p, err := healthcheck.NewPool(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if mfs, err := reg.Gather(); err != nil || len(mfs) != 0 {
		t.Errorf("after NewPool: %d metric families (%v), want none", len(mfs), err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error)
	go func() { done <- p.Run(ctx) }()
	defer func() { cancel(); <-done }()
	for _, name := range []string{"lvskit_healthcheck_quorum_up", "lvskit_healthcheck_real_server_up", "lvskit_healthcheck_target_up"} {
		waitSeries(t, reg, name)
	}

	_, err = healthcheck.NewMonitor(healthcheck.MonitorConfig{Name: "V\xff1", Checker: &healthcheck.TCPChecker{}, Metrics: met})
	if want := `new monitor "V\xff1": not valid UTF-8`; err == nil || err.Error() != want {
		t.Errorf("NewMonitor = %v, want %q", err, want)
	}
}

// waitSeries waits until the metric name has a series: Run sets the
// gauges as it starts, on its own goroutine.
func waitSeries(t *testing.T, reg *prometheus.Registry, name string) {
	t.Helper()
	for range 500 {
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() == name && len(mf.GetMetric()) > 0 {
				return
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("metric %s has no series after Run started", name)
}
