package healthcheck_test

import (
	"errors"
	"net/netip"
	"strings"
	"testing"

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
