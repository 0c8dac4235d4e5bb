package bgp

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func validConfig() Config {
	return Config{
		ASN:      65001,
		RouterID: netip.MustParseAddr("10.0.0.1"),
		Peers:    []Peer{{Address: netip.MustParseAddr("10.0.0.254"), ASN: 65000}},
	}
}

func TestConfigErrors(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Config)
		want   string
	}{
		{"no ASN", func(c *Config) { c.ASN = 0 }, "ASN is required"},
		{"no router ID", func(c *Config) { c.RouterID = netip.Addr{} }, "RouterID invalid IP"},
		{"IPv6 router ID", func(c *Config) { c.RouterID = netip.MustParseAddr("::1") }, "want a non-zero IPv4 address"},
		{"zero router ID", func(c *Config) { c.RouterID = netip.IPv4Unspecified() }, "want a non-zero IPv4 address"},
		{"listen port", func(c *Config) { c.ListenPort = 70000 }, "ListenPort 70000 out of range"},
		{"listen address", func(c *Config) { c.ListenAddresses = []netip.Addr{{}} }, "invalid address"},
		{"no peers", func(c *Config) { c.Peers = nil }, "at least one peer"},
		{"negative stop timeout", func(c *Config) { c.StopTimeout = -time.Second }, "StopTimeout -1s is negative"},
		{"peer without address", func(c *Config) { c.Peers[0].Address = netip.Addr{} }, "peer 0: address invalid IP"},
		{"peer without ASN", func(c *Config) { c.Peers[0].ASN = 0 }, "peer 10.0.0.254: ASN is required"},
		{"repeated peer", func(c *Config) { c.Peers = append(c.Peers, c.Peers[0]) }, "peer 1: address 10.0.0.254 repeated"},
		{"zoned peer", func(c *Config) { c.Peers[0].Address = netip.MustParseAddr("fe80::1%eth0") }, "link-local peers with a zone"},
		{"local address family", func(c *Config) { c.Peers[0].LocalAddress = netip.MustParseAddr("fd00::1") }, "LocalAddress fd00::1 is of the other family"},
		{"long password", func(c *Config) { c.Peers[0].Password = strings.Repeat("x", 81) }, "password longer than 80 bytes"},
		{"short hold time", func(c *Config) { c.Peers[0].HoldTime = 2 * time.Second }, "HoldTime 2s: want 0 (90s) or 3s..65535s"},
		{"fractional hold time", func(c *Config) { c.Peers[0].HoldTime = 3500 * time.Millisecond }, "want whole seconds"},
		{"keepalive over hold", func(c *Config) { c.Peers[0].HoldTime, c.Peers[0].KeepaliveInterval = 9*time.Second, 10*time.Second }, "KeepaliveInterval 10s"},
		{"connect retry", func(c *Config) { c.Peers[0].ConnectRetry = 500 * time.Millisecond }, "ConnectRetry 500ms"},
		{"multihop with BFD", func(c *Config) { c.Peers[0].Multihop = 2 }, "BFD is single-hop (RFC 5881) and the peer is multihop"},
		{"BFD too fast", func(c *Config) { c.Peers[0].BFD.MinTx = time.Millisecond }, "BFD MinTx 1ms: want 10ms..1m"},
		{"BFD nanoseconds", func(c *Config) { c.Peers[0].BFD.MinRx = 100*time.Millisecond + 1 }, "BFD MinRx 100.000001ms: want whole microseconds"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := validConfig()
			tt.change(&c)
			_, err := New(c)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("New: %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestConfigDefaults(t *testing.T) {
	c := validConfig()
	c.Peers = append(c.Peers, Peer{
		Address: netip.MustParseAddr("::ffff:10.0.0.253"), ASN: 65001, HoldTime: 9 * time.Second,
		Multihop: 3, BFD: BFD{Disable: true},
	})
	r, err := c.resolve()
	if err != nil {
		t.Fatal(err)
	}
	want := []Peer{
		{
			Address: netip.MustParseAddr("10.0.0.254"), ASN: 65000,
			HoldTime: 90 * time.Second, KeepaliveInterval: 30 * time.Second, ConnectRetry: 5 * time.Second,
			BFD: BFD{MinTx: 300 * time.Millisecond, MinRx: 300 * time.Millisecond, Multiplier: 3},
		},
		{
			// A mapped address is the IPv4 address; BFD off leaves its
			// timers alone.
			Address: netip.MustParseAddr("10.0.0.253"), ASN: 65001, Multihop: 3,
			HoldTime: 9 * time.Second, KeepaliveInterval: 3 * time.Second, ConnectRetry: 5 * time.Second,
			BFD: BFD{Disable: true},
		},
	}
	if diff := cmp.Diff(want, r.peers, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
		t.Errorf("resolved peers (-want +got):\n%s", diff)
	}
	if r.StopTimeout != 5*time.Second || !r.v4 || r.v6 || r.Logger == nil || r.Clock == nil {
		t.Errorf("resolved: StopTimeout %v v4 %v v6 %v logger %v clock %v", r.StopTimeout, r.v4, r.v6, r.Logger, r.Clock)
	}
	if !r.peers[1].ibgp(r.ASN) || r.peers[0].ibgp(r.ASN) {
		t.Error("iBGP is a peer in the local AS, eBGP any other")
	}
}
