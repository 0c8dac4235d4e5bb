package vrrp

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/lvskit/lvskit/internal/netnstest"
	"github.com/lvskit/lvskit/internal/nslab"
	"github.com/lvskit/lvskit/internal/peer"
	"github.com/lvskit/lvskit/netcfg"
)

// The two VIPs of the sync group: one on each LAN.
var (
	syncNetVIP1 = netip.MustParsePrefix("10.91.0.100/32")
	syncNetVIP2 = netip.MustParsePrefix("10.92.0.100/32")
)

// syncAdvertInterval is every router's advert interval in these tests:
// a master-down interval near 1.5s, a margin a busy machine does not eat
// (at 200ms, 0.6s, a starved backup took over once in twenty runs).
const syncAdvertInterval = 500 * time.Millisecond

func keepalivedSyncConf(prio int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "global_defs {\n  router_id ksync%d\n}\n", prio)
	b.WriteString("vrrp_sync_group G {\n  group {\n    VI_1\n    VI_2\n  }\n}\n")
	for i, vip := range []netip.Prefix{syncNetVIP1, syncNetVIP2} {
		n := i + 1
		fmt.Fprintf(&b, "vrrp_instance VI_%d {\n  state BACKUP\n  interface eth%d\n  virtual_router_id %d\n  priority %d\n", n, n, 50+n, prio)
		fmt.Fprintf(&b, "  advert_int 0.5\n  version 3\n  virtual_ipaddress {\n    %s dev eth%d\n  }\n}\n", vip, n)
	}
	return b.String()
}

// startLvskitSync runs a sync group of two lvskit instances (eth1, eth2)
// in h, each tracking its own interface as keepalived does by default. The
// returned func counts the adverts lvskit's instance on LAN 2 has sent and
// received: the clock of the tests' "stays put" windows.
func startLvskitSync(t *testing.T, h *netnstest.Host, prio int) (*SyncGroup, [2]*Instance, func() float64) {
	t.Helper()
	ns := h.NsHandle()
	host, err := netcfg.Open(netcfg.Config{NetNSHandle: ns})
	if err != nil {
		t.Fatal(err)
	}
	tr := NewRawTransport(RawConfig{Netns: &ns})
	logs := new(nslab.Buffer)
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	m := NewMetrics()
	var insts [2]*Instance
	for i, vip := range []netip.Prefix{syncNetVIP1, syncNetVIP2} {
		ifname := fmt.Sprintf("eth%d", i+1)
		inst, err := New(Config{Name: fmt.Sprintf("VI_%d", i+1), Interface: ifname, VRID: uint8(51 + i),
			Version: 3, AdvertInterval: syncAdvertInterval, Priority: prio,
			VIPs:     []VIP{{Prefix: vip}},
			Trackers: []Track{{Name: ifname, Tracker: TrackInterface(ifname, &ns)}},
			Network:  netcfgNetwork{host}, Transport: tr, Logger: logger, Metrics: m})
		if err != nil {
			t.Fatal(err)
		}
		insts[i] = inst
	}
	g, err := NewSyncGroup("G", Notify{}, logger, insts[0], insts[1])
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 2)
	for _, in := range insts {
		go func() { done <- in.Run(ctx) }()
	}
	t.Cleanup(func() {
		cancel()
		for range insts {
			if err := <-done; err != nil {
				t.Errorf("lvskit instance: %v", err)
			}
		}
		g.Close()
		tr.Close()
		host.Close()
		if t.Failed() {
			t.Logf("lvskit in %s logged:\n%s", h.Name(), logs.String())
		}
	})
	lan2 := func() float64 {
		return value(m.sent.WithLabelValues("VI_2")) + value(m.received.WithLabelValues("VI_2"))
	}
	return g, insts, lan2
}

// TestIntegrationSyncGroupKeepalived: a vrrp_sync_group of two instances
// on two LANs, keepalived on one router and lvskit on the other, in both
// directions. Taking the master's link on LAN 1 down moves BOTH VIPs to
// the other router (FAULT on one member syncs the group to FAULT; the
// backup's members become master only together); bringing it back
// returns both. No VIP is ever on both routers, and at each settled point
// each VIP is on exactly one.
func TestIntegrationSyncGroupKeepalived(t *testing.T) {
	netnstest.RequireRoot(t)
	t.Parallel()
	bothMasters(t, syncInterop)
}

// bothMasters runs f in parallel subtests, with keepalived's group as the
// master and with lvskit's.
func bothMasters(t *testing.T, f func(t *testing.T, lvskitMaster bool)) {
	for _, lvskitMaster := range []bool{true, false} {
		name := "keepalived_master"
		if lvskitMaster {
			name = "lvskit_master"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f(t, lvskitMaster)
		})
	}
}

func syncInterop(t *testing.T, lvskitMaster bool) {
	lab := netnstest.New(t)
	lan1, lan2 := lab.LAN("lan1"), lab.LAN("lan2")
	kh, gh := lab.Host("k"), lab.Host("g")
	lan1.Connect(kh, "eth1", "10.91.0.1/24")
	lan2.Connect(kh, "eth2", "10.92.0.1/24")
	lan1.Connect(gh, "eth1", "10.91.0.2/24")
	lan2.Connect(gh, "eth2", "10.92.0.2/24")

	gPrio, kPrio := 100, 200
	master, backup := kh, gh
	if lvskitMaster {
		gPrio, kPrio = 200, 100
		master, backup = gh, kh
	}
	ka := peer.StartKeepalived(t, kh, keepalivedSyncConf(kPrio))
	g, insts, adverts := startLvskitSync(t, gh, gPrio)

	has := func(h *netnstest.Host, p netip.Prefix) bool { return hasAddr(t, h, p) }
	// settledLoose: both VIPs on router on and none on the other.
	settledLoose := func(on *netnstest.Host) func() bool {
		return func() bool {
			other := kh
			if on == kh {
				other = gh
			}
			return has(on, syncNetVIP1) && has(on, syncNetVIP2) && !has(other, syncNetVIP1) && !has(other, syncNetVIP2)
		}
	}
	// check fails the test when a VIP is on both routers.
	check := func() {
		t.Helper()
		for _, v := range []netip.Prefix{syncNetVIP1, syncNetVIP2} {
			if has(kh, v) && has(gh, v) {
				t.Fatalf("%v is on both routers", v)
			}
		}
	}
	// settled is settledLoose, checking at every poll that no VIP is on
	// both routers.
	settled := func(on *netnstest.Host) func() bool {
		return func() bool {
			check()
			return settledLoose(on)()
		}
	}
	// followsKeepalived: with keepalived as the master, lvskit's two
	// instances are BACKUP and have taken an advert from it on their LAN.
	// Until then the election is not over: started together, both may
	// time out in the same moment (keepalived's VIPs are there, lvskit
	// still BACKUP) and lvskit go MASTER before keepalived's first advert
	// reaches it. With lvskit as the master, keepalived gives its VIPs up
	// only on lvskit's advert, so VIPs on lvskit alone is settled.
	followsKeepalived := func() bool {
		if lvskitMaster {
			return true
		}
		for i, in := range insts {
			s := in.Status()
			if s.State != StateBackup || s.Master != netip.MustParseAddr(fmt.Sprintf("10.9%d.0.1", i+1)) {
				return false
			}
		}
		return true
	}
	// At startup the backup may become master first (keepalived starts
	// in FAULT until its links report up) and then be preempted, which
	// may leave a VIP on both for a moment, as below: not checked until
	// settled.
	waitUntil(t, "both VIPs on the master "+master.Name()+", the backup following it", 30*time.Second, func() bool {
		return settledLoose(master)() && followsKeepalived()
	})
	// Steady: stays so for a while (8 adverts on LAN 2, several
	// master-down intervals of 3 adverts and a skew).
	staysPut(t, "VIPs on the master "+master.Name()+" while nothing changes", adverts, 8, settled(master))

	// Prefer BACKUP: the master's adverts on LAN 1 are dropped (nftables
	// on its way out) while its link stays up. The backup's instance on
	// LAN 1 times out and wants MASTER, but its partner still hears the
	// master on LAN 2 and wants BACKUP, so the backup group stays BACKUP
	// and no VIP moves.
	master.Run("nft", "add", "table", "inet", "vrrptest")
	master.Run("nft", "add", "chain", "inet", "vrrptest", "out", "{ type filter hook output priority 0 ; }")
	master.Run("nft", "add", "rule", "inet", "vrrptest", "out", "oifname", "eth1", "meta", "l4proto", "112", "drop")
	staysPut(t, "VIPs on the master "+master.Name()+" while only its LAN 1 adverts are lost", adverts, 10, settled(master))
	master.Run("nft", "delete", "table", "inet", "vrrptest")

	// Kill the master's link on LAN 1 (its port on the bridge: the
	// backup keeps its carrier). The master's group goes to FAULT: it
	// sends priority 0 on LAN 2 and then removes its VIPs (keepalived's
	// order too), and the backup takes over a skew time (0.6 s) after
	// that advert. A master stalled longer than the skew between the two
	// holds a VIP the backup holds too, as RFC 5798 allows during a
	// change: not checked until settled.
	master.Run("ip", "link", "set", "eth1", "down")
	waitUntil(t, "both VIPs on the backup "+backup.Name()+" after the master lost LAN 1", 30*time.Second, settledLoose(backup))
	if lvskitMaster {
		if got := g.State(); got != StateFault {
			t.Errorf("lvskit group state %v, want FAULT", got)
		}
	} else if !ka.WaitLog("VRRP_Group(G) Syncing instances to FAULT state", 10*time.Second) {
		t.Errorf("keepalived did not log its group going to FAULT")
	}
	staysPut(t, "VIPs on "+backup.Name()+" while the master's LAN 1 link is down", adverts, 8, settled(backup))

	// The link comes back: the master's group leaves FAULT and preempts
	// on both LANs. A preempting master adds its VIPs right after its
	// first advert, and the old master removes them when that advert
	// arrives, so both may hold a VIP for that moment (keepalived against
	// keepalived too): not checked during the change, only once settled.
	master.Run("ip", "link", "set", "eth1", "up")
	waitUntil(t, "both VIPs back on "+master.Name()+", the backup following it", 30*time.Second, func() bool {
		return settledLoose(master)() && followsKeepalived()
	})
	staysPut(t, "VIPs on the master "+master.Name()+" after it preempted", adverts, 8, settled(master))
	if !lvskitMaster {
		if got := g.State(); got != StateBackup {
			t.Errorf("lvskit group state %v, want BACKUP", got)
		}
	} else if got := g.State(); got != StateMaster {
		t.Errorf("lvskit group state %v, want MASTER", got)
	}
}

// TestIntegrationSyncGroupKeepalivedStepDown: a third router with a higher
// priority appears on LAN 2 only. The master group's instance there steps
// down and pulls its partner on LAN 1 to BACKUP (vrrp_sync_backup), and
// then no one takes VIP 1: on both routers the LAN 1 instance times out
// wanting MASTER, but its partner hears the third router and wants BACKUP
// (vrrp_sync_can_goto_master prefers BACKUP). Checked with keepalived as
// the master group and as the backup group.
func TestIntegrationSyncGroupKeepalivedStepDown(t *testing.T) {
	netnstest.RequireRoot(t)
	t.Parallel()
	bothMasters(t, syncStepDown)
}

func syncStepDown(t *testing.T, lvskitMaster bool) {
	lab := netnstest.New(t)
	lan1, lan2 := lab.LAN("lan1"), lab.LAN("lan2")
	kh, gh, xh := lab.Host("k"), lab.Host("g"), lab.Host("x")
	lan1.Connect(kh, "eth1", "10.91.0.1/24")
	lan2.Connect(kh, "eth2", "10.92.0.1/24")
	lan1.Connect(gh, "eth1", "10.91.0.2/24")
	lan2.Connect(gh, "eth2", "10.92.0.2/24")
	lan2.Connect(xh, "eth2", "10.92.0.3/24")
	gPrio, kPrio := 100, 200
	master := kh
	if lvskitMaster {
		gPrio, kPrio, master = 200, 100, gh
	}
	peer.StartKeepalived(t, kh, keepalivedSyncConf(kPrio))
	g, insts, adverts := startLvskitSync(t, gh, gPrio)
	has := func(h *netnstest.Host, p netip.Prefix) bool { return hasAddr(t, h, p) }
	waitUntil(t, "both VIPs on the master "+master.Name(), 30*time.Second, func() bool {
		return has(master, syncNetVIP1) && has(master, syncNetVIP2)
	})

	// The third router: priority 250 on LAN 2 only.
	ns := xh.NsHandle()
	xhost, err := netcfg.Open(netcfg.Config{NetNSHandle: ns})
	if err != nil {
		t.Fatal(err)
	}
	defer xhost.Close()
	xtr := NewRawTransport(RawConfig{Netns: &ns})
	defer xtr.Close()
	x, err := New(Config{Name: "X", Interface: "eth2", VRID: 52, Version: 3, AdvertInterval: syncAdvertInterval,
		Priority: 250, VIPs: []VIP{{Prefix: syncNetVIP2}}, Network: netcfgNetwork{xhost}, Transport: xtr})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	xdone := make(chan error, 1)
	go func() { xdone <- x.Run(ctx) }()
	defer func() { cancel(); <-xdone }()

	nowhere1 := func() bool {
		return !has(kh, syncNetVIP1) && !has(gh, syncNetVIP1) && has(xh, syncNetVIP2) && !has(kh, syncNetVIP2) && !has(gh, syncNetVIP2)
	}
	waitUntil(t, "VIP 2 on the third router, VIP 1 on no one", 30*time.Second, nowhere1)
	// Fifteen adverts of the third router, many master-down intervals
	// (3 adverts and a skew): it stays so.
	staysPut(t, "VIP 1 on no one while the third router holds VIP 2", adverts, 15, func() bool {
		if !nowhere1() {
			t.Errorf("VIP 1 on k: %v, on g: %v; VIP 2 on x: %v (want VIP 1 on no one)", has(kh, syncNetVIP1), has(gh, syncNetVIP1), has(xh, syncNetVIP2))
			return false
		}
		return true
	})
	for _, in := range insts {
		if s := in.State(); s != StateBackup {
			t.Errorf("lvskit %s is %v, want BACKUP", in.Name(), s)
		}
	}
	if s := g.State(); s != StateBackup {
		t.Errorf("lvskit group is %v, want BACKUP", s)
	}
}
