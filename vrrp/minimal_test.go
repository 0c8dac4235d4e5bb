package vrrp

import (
	"net/netip"
	"testing"
	"time"
)

// This file tests the smallest configurations keepalived runs.

// An instance without VIPs is valid, as in keepalived ("No VIP
// specified"): it runs for its notifications. Its family comes from its
// source or first unicast peer, and its adverts carry no address.
func TestNoVIPs(t *testing.T) {
	tests := []struct {
		name        string
		cfg         Config
		wantVersion int
		wantIPv6    bool
	}{
		{"multicast IPv4", Config{Interface: "eth0", VRID: 1}, 2, false},
		{"IPv6 source", Config{Interface: "eth0", VRID: 1, Source: netip.MustParseAddr("fe80::1")}, 3, true},
		{"IPv6 peer", Config{Interface: "eth0", VRID: 1, UnicastPeers: []netip.Addr{netip.MustParseAddr("2001:db8::2")}}, 3, true},
		{"IPv4 peer", Config{Interface: "eth0", VRID: 1, UnicastPeers: []netip.Addr{netip.MustParseAddr("10.0.0.2")}}, 2, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.cfg.Validate(); err != nil {
				t.Fatalf("Validate: %v", err)
			}
			r, err := tt.cfg.settle()
			if err != nil {
				t.Fatal(err)
			}
			if r.Version != tt.wantVersion || r.ipv6 != tt.wantIPv6 || len(r.addrs) != 0 {
				t.Errorf("version %d ipv6 %v addrs %v, want %d %v none", r.Version, r.ipv6, r.addrs, tt.wantVersion, tt.wantIPv6)
			}
		})
	}
	a := Advert{Version: 2, VRID: 1, Priority: 100, Interval: time.Second}
	src, dst := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("224.0.0.18")
	b, err := a.Marshal(src, dst)
	if err != nil {
		t.Fatalf("Marshal: %v", err)
	}
	got, err := Decode(b, false)
	if err != nil || len(got.Addrs) != 0 || got.Priority != 100 {
		t.Errorf("Decode = %+v, %v; want priority 100 and no addresses", got, err)
	}
}

// A sync group of one instance is valid, as in keepalived ("has only 1
// virtual router(s) - this probably isn't what you want"); of none it is
// not.
func TestSyncGroupOfOne(t *testing.T) {
	inst, err := New(Config{Interface: "eth0", VRID: 1, VIPs: []VIP{{Prefix: simVIP}}, Network: newFakeNet(), Transport: NewMemNet().Transport(simVIP.Addr())})
	if err != nil {
		t.Fatal(err)
	}
	g, err := NewSyncGroup("G", Notify{}, nil, inst)
	if err != nil {
		t.Fatalf("NewSyncGroup of one: %v", err)
	}
	g.Close()
	if _, err := NewSyncGroup("G", Notify{}, nil); err == nil {
		t.Errorf("NewSyncGroup of none: no error")
	}
}
