package vrrpnet_test

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/lvskit/lvskit/internal/netnstest"
	"github.com/lvskit/lvskit/netcfg"
	"github.com/lvskit/lvskit/netcfg/vrrpnet"
	"github.com/lvskit/lvskit/vrrp"
)

// A lone VRRP router on a netcfg.Host becomes master, puts the VIP with its
// label on the link and announces it; when it stops the VIP goes away.
func TestIntegrationInstanceOnHost(t *testing.T) {
	lab := netnstest.New(t)
	a, b := lab.Host("a"), lab.Host("b")
	lan := lab.LAN("lan")
	lan.Connect(a, "eth0", "10.99.0.1/24")
	lan.Connect(b, "eth0", "10.99.0.2/24")
	b.SetSysctl("net.ipv4.conf.eth0.arp_accept", "1") // learn from gratuitous ARP
	host, err := netcfg.Open(netcfg.Config{NetNS: a.Name()})
	if err != nil {
		t.Fatal(err)
	}
	defer host.Close()

	masters := make(chan struct{}, 1)
	inst, err := vrrp.New(vrrp.Config{
		Interface: "eth0", VRID: 7, Version: 3, AdvertInterval: 100 * time.Millisecond,
		VIPs:            []vrrp.VIP{{Prefix: netip.MustParsePrefix("10.99.0.100/24"), Label: "eth0:1"}},
		Network:         vrrpnet.New(host),
		Transport:       vrrp.NewMemNet().Transport(netip.MustParseAddr("10.99.0.1")),
		GARPMasterDelay: -1,
		Notify: vrrp.Notify{Func: func(tr vrrp.Transition) {
			if tr.To == vrrp.StateMaster {
				masters <- struct{}{}
			}
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- inst.Run(ctx) }()
	// Bounds for "eventually", not timings: each poll starts an ip
	// process, seconds on a busy machine.
	const bound = 30 * time.Second
	select {
	case <-masters:
	case <-time.After(bound):
		t.Fatalf("no MASTER within %v", bound)
	}
	var out string
	for end := time.Now().Add(bound); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		if out = a.Run("ip", "-4", "addr", "show", "dev", "eth0"); strings.Contains(out, "10.99.0.100/24") {
			break
		}
	}
	if !strings.Contains(out, "10.99.0.100/24") || !strings.Contains(out, "eth0:1") {
		t.Fatalf("VIP with label eth0:1 not on eth0 of the master:\n%s", out)
	}
	// The announcement reached the LAN: b learned the VIP's MAC unasked.
	mac := a.HardwareAddr("eth0").String()
	var neigh string
	for end := time.Now().Add(bound); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		if neigh = b.Run("ip", "neigh", "show", "10.99.0.100"); strings.Contains(neigh, mac) {
			break
		}
	}
	if !strings.Contains(neigh, mac) {
		t.Errorf("b's neighbour table has no entry 10.99.0.100 -> %s after the GARP: %q", mac, neigh)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if out := a.Run("ip", "-4", "addr", "show", "dev", "eth0"); strings.Contains(out, "10.99.0.100") {
		t.Errorf("VIP still on eth0 after the instance stopped:\n%s", out)
	}
}
