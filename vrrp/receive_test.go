package vrrp

import (
	"context"
	"net/netip"
	"testing"
	"time"
)

// backupForDeliver starts an instance (system clock, version 2, advert_int
// 10s) on a MemNet where nobody else speaks, waits for BACKUP, and returns
// it with an advert from a higher-priority master for it. The long
// interval (a master-down interval of 30 s) keeps it BACKUP until the
// first advert is delivered however long the machine stalls before
// (at 1 s, a stall of 3.6 s would make it MASTER, and its step down
// allocates).
func backupForDeliver(t testing.TB) (*Instance, *Metrics, Packet) {
	const interval = 10 * time.Second
	m := NewMetrics()
	inst, err := New(Config{Name: "a", Interface: "lan", VRID: 7, Version: 2, AdvertInterval: interval, Priority: 100,
		VIPs: []VIP{{Prefix: simVIP}}, Network: newFakeNet(), Transport: NewMemNet().Transport(netip.MustParseAddr("10.0.0.1")), Metrics: m})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- inst.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	end := time.Now().Add(30 * time.Second)
	for inst.State() != StateBackup {
		if time.Now().After(end) {
			t.Fatal("instance did not reach BACKUP")
		}
		time.Sleep(time.Millisecond)
	}
	src := netip.MustParseAddr("10.0.0.9")
	a := Advert{Version: 2, VRID: 7, Priority: 200, Interval: interval, Addrs: []netip.Addr{simVIP.Addr()}}
	b, err := a.Marshal(src, GroupIPv4)
	if err != nil {
		t.Fatal(err)
	}
	return inst, m, Packet{Src: src, Dst: GroupIPv4, HopLimit: 255, Data: b}
}

// TestBackupDeliverAllocs: a backup taking an advert straight from the
// transport (every receive check, the state machine, its timer, the
// counters) allocates nothing, and handles it on the caller's goroutine.
func TestBackupDeliverAllocs(t *testing.T) {
	inst, m, p := backupForDeliver(t)
	before := value(m.received.WithLabelValues("a"))
	const runs = 200
	allocs := testing.AllocsPerRun(runs, func() {
		p.Received = time.Now()
		inst.deliver(p)
	})
	if allocs != 0 {
		t.Errorf("deliver allocates %v times per advert, want 0", allocs)
	}
	// AllocsPerRun calls once more to warm up.
	if got := value(m.received.WithLabelValues("a")) - before; got != runs+1 {
		t.Errorf("%v adverts counted as received, want %d", got, runs+1)
	}
	if s := inst.Status(); s.State != StateBackup || s.Master != p.Src {
		t.Errorf("status %+v, want BACKUP under %v", s, p.Src)
	}
}

// BenchmarkBackupDeliver is the CPU cost of one advert to a backup once
// the transport has read it.
func BenchmarkBackupDeliver(b *testing.B) {
	inst, _, p := backupForDeliver(b)
	b.ReportAllocs()
	for b.Loop() {
		p.Received = time.Now()
		inst.deliver(p)
	}
}
