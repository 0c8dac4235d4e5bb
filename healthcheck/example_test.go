package healthcheck_test

import (
	"context"
	"fmt"
	"log"
	"net/netip"
	"time"

	"github.com/lvskit/lvskit/healthcheck"
	"github.com/lvskit/lvskit/ipvs"
)

// The digest of an HTTP_GET url is what keepalived's genhash prints for
// the body: 32 lowercase hex digits.
func ExampleDigest() {
	fmt.Println(healthcheck.Digest([]byte("hello\n")))
	// Output: b1946ac92492d2347c6235b4d2611184
}

func ExampleParseStatusCodes() {
	codes, err := healthcheck.ParseStatusCodes("200 201-204")
	fmt.Println(codes, err)
	// Output: [200 201-204] <nil>
}

// A virtual service of two web servers in DR mode, checked over HTTP every
// 3 s, with a sorry server, written to an IPVS backend (here the in-memory
// one; a director passes the netlink or userspace backend).
func ExampleNewPool() {
	web1, web2 := netip.MustParseAddr("192.168.0.1"), netip.MustParseAddr("192.168.0.2")
	check := func(a netip.Addr) []healthcheck.Check {
		return []healthcheck.Check{{
			Checker: &healthcheck.HTTPChecker{
				Conn: healthcheck.Conn{Addr: netip.AddrPortFrom(a, 80)},
				URLs: []healthcheck.URL{{Path: "/health", StatusCodes: []healthcheck.StatusRange{{200, 299}}}},
			},
			Policy: healthcheck.Policy{DelayLoop: 3 * time.Second, ConnectTimeout: 2 * time.Second, Retry: 2},
		}}
	}
	pool, err := healthcheck.NewPool(healthcheck.PoolConfig{
		Service: ipvs.Service{Protocol: ipvs.TCP, Addr: netip.MustParseAddr("192.168.0.253"), Port: 80, Scheduler: "wrr"},
		RealServers: []healthcheck.RealServer{
			{Destination: ipvs.Destination{Addr: web1, Port: 80, Weight: 3, Forward: ipvs.DirectRoute}, Checks: check(web1)},
			{Destination: ipvs.Destination{Addr: web2, Port: 80, Weight: 1, Forward: ipvs.DirectRoute}, InhibitOnFailure: true, Checks: check(web2)},
		},
		SorryServer: &healthcheck.SorryServer{Addr: netip.MustParseAddr("192.168.0.254"), Port: 8080},
		Syncer:      healthcheck.NewTable(ipvs.NewMemory()),
		OnQuorum: func(e healthcheck.QuorumEvent) {
			log.Printf("%s quorum up=%v (alive weight %d)", e.Service, e.Up, e.WeightSum)
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	go pool.Run(ctx)
}
