package vrrp

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/lvskit/lvskit/internal/netnstest"
	"github.com/lvskit/lvskit/netcfg"
	"github.com/vishvananda/netlink"
	"golang.org/x/net/ipv4"
)

// TestIntegrationRawReceiveChecks sends hand-made adverts over a real
// socket and checks that the instance drops each by the right rule, with
// TTL read from the control message.
func TestIntegrationRawReceiveChecks(t *testing.T) {
	pc, src, host, tr := rawLAN(t, "10.99.0", RawConfig{})
	m := NewMetrics()
	vip := netip.MustParsePrefix("10.99.0.100/32")
	inst, err := New(Config{Name: "g", Interface: "eth0", VRID: 51, Priority: 100, AuthPass: "pw",
		VIPs: []VIP{{Prefix: vip}}, Network: netcfgNetwork{host}, Transport: tr, Metrics: m})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- inst.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()

	good := Advert{Version: 2, VRID: 51, Priority: 200, Interval: time.Second, AuthType: AuthSimple,
		AuthData: [8]byte{'p', 'w'}, Addrs: []netip.Addr{vip.Addr()}}
	send := func(a Advert, ttl int, mangle func([]byte)) {
		t.Helper()
		b, err := a.Marshal(src, GroupIPv4)
		if err != nil {
			t.Fatal(err)
		}
		if mangle != nil {
			mangle(b)
		}
		if err := pc.SetMulticastTTL(ttl); err != nil {
			t.Fatal(err)
		}
		if _, err := pc.WriteTo(b, nil, &net.IPAddr{IP: GroupIPv4.AsSlice()}); err != nil {
			t.Fatal(err)
		}
	}
	drops := func(r DropReason) float64 { return value(m.drops.WithLabelValues("g", string(r))) }
	with := func(f func(*Advert)) Advert { a := good; f(&a); return a }
	tests := []struct {
		name   string
		a      Advert
		ttl    int
		mangle func([]byte)
		reason DropReason
	}{
		{"ttl 64", good, 64, nil, ReasonTTL},
		{"bad checksum", good, 255, func(b []byte) { b[7] ^= 0xff }, ReasonChecksum},
		{"version 3", with(func(a *Advert) { a.Version = 3; a.AuthType = 0; a.AuthData = [8]byte{} }), 255, nil, ReasonVersion},
		{"other vrid", with(func(a *Advert) { a.VRID = 52 }), 255, nil, ReasonVRID},
		{"wrong password", with(func(a *Advert) { a.AuthData = [8]byte{'x'} }), 255, nil, ReasonAuth},
		{"interval 2s", with(func(a *Advert) { a.Interval = 2 * time.Second }), 255, nil, ReasonInterval},
		{"other addresses", with(func(a *Advert) { a.Addrs = []netip.Addr{netip.MustParseAddr("10.99.0.101")} }), 255, nil, ReasonAddrList},
		{"truncated", good, 255, func(b []byte) { b[3] = 9 }, ReasonAddrCount},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := drops(tt.reason)
			// Resend until counted: the first packet after the instance
			// starts may arrive before its socket has joined the group.
			last := time.Time{}
			waitUntil(t, "drop counted as "+string(tt.reason), 30*time.Second, func() bool {
				if time.Since(last) > 250*time.Millisecond {
					send(tt.a, tt.ttl, tt.mangle)
					last = time.Now()
				}
				return drops(tt.reason) > before
			})
		})
	}
	// A good advert from a higher priority is accepted and keeps us (or,
	// if the drops above took longer than the master-down interval, makes
	// us) backup. The instance counts an advert before it acts on it: the
	// status is waited for, not read the moment the counter moves; and the
	// master keeps advertising meanwhile, as a master does.
	before := value(m.received.WithLabelValues("g"))
	var s Status
	last := time.Time{}
	for end := time.Now().Add(30 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if time.Since(last) > 250*time.Millisecond {
			send(good, 255, nil)
			last = time.Now()
		}
		s = inst.Status()
		if value(m.received.WithLabelValues("g")) > before && s.State == StateBackup && s.Master == src {
			break
		}
		if time.Now().After(end) {
			t.Fatalf("status %+v, %v good adverts counted in 30s; want them accepted, BACKUP with master %v",
				s, value(m.received.WithLabelValues("g"))-before, src)
		}
	}
}

func TestIntegrationInterfaceTracker(t *testing.T) {
	lab := netnstest.New(t)
	a := lab.Host("a")
	b := lab.Host("b")
	lab.Link(a, "eth1", "10.1.0.1/24", b, "eth1", "10.1.0.2/24")
	ns := a.NsHandle()
	// The kernel sets a new veth's operational state up from a work queue
	// after both ends are up (linkwatch): wait for it, or the tracker's
	// first report can be a down that came before.
	var link netlink.Link
	waitUntil(t, "eth1 operationally up", 30*time.Second, func() bool {
		l, err := a.Netlink().LinkByName("eth1")
		if err != nil {
			t.Fatal(err)
		}
		link = l
		return linkUp(l)
	})
	got := collect(t, TrackInterface("eth1", &ns), func(got []bool) bool {
		return len(got) >= 3 && got[len(got)-1] && !got[len(got)-2]
	}, func(n int) {
		if n == 1 {
			if err := a.Netlink().LinkSetDown(link); err != nil {
				t.Error(err)
			}
		}
		if n >= 2 {
			if err := a.Netlink().LinkSetUp(link); err != nil {
				t.Error(err)
			}
		}
	})
	if !got[0] {
		t.Errorf("first report %v, want up", got)
	}
	got = collect(t, TrackInterface("nosuch0", &ns), func(got []bool) bool { return len(got) == 1 }, func(int) {})
	if got[0] {
		t.Errorf("missing link reported up")
	}
}

// TestIntegrationRawBatchedNoFalseTakeover: with a batch interval far
// longer than the master-down interval, a backup under a live master must
// still never take over — it reads its socket before it does, and the
// adverts found there count from their kernel receive time — and must take
// over once the master falls silent.
func TestIntegrationRawBatchedNoFalseTakeover(t *testing.T) {
	pc, src, host, tr := rawLAN(t, "10.99.1", RawConfig{BatchInterval: 2 * time.Second})
	m := NewMetrics()
	vip := netip.MustParsePrefix("10.99.1.100/32")
	const iv = 100 * time.Millisecond
	inst, err := New(Config{Name: "g", Interface: "eth0", VRID: 52, Version: 3, Priority: 100, AdvertInterval: iv,
		VIPs: []VIP{{Prefix: vip}}, Network: netcfgNetwork{host}, Transport: tr, Metrics: m})
	if err != nil {
		t.Fatal(err)
	}

	b, err := (&Advert{Version: 3, VRID: 52, Priority: 200, Interval: iv, Addrs: []netip.Addr{vip.Addr()}}).Marshal(src, GroupIPv4)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	sending := make(chan struct{})
	go func() {
		defer close(sending)
		for ctx.Err() == nil {
			pc.WriteTo(b, nil, &net.IPAddr{IP: GroupIPv4.AsSlice()})
			time.Sleep(iv)
		}
	}()
	stopSending := sync.OnceFunc(func() { cancel(); <-sending })
	defer stopSending()

	runCtx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- inst.Run(runCtx) }()
	defer func() {
		stop()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	waitUntil(t, "backup under the sender", 30*time.Second, func() bool {
		s := inst.Status()
		return s.State == StateBackup && s.Master == src
	})
	// Fifty adverts received, many master-down intervals (3.6 adverts)
	// and several batch intervals: it stays backup.
	staysPut(t, "backup under a live master", func() float64 { return value(m.received.WithLabelValues("g")) }, 50,
		func() bool { return inst.State() == StateBackup })
	stopSending()
	waitUntil(t, "takeover after the master fell silent", 30*time.Second, func() bool { return inst.State() == StateMaster })
}

// rawLAN puts a sender host and a host under test on one LAN (subnet.1
// and subnet.2 on eth0) and opens a netcfg.Host and a raw transport (rc, in
// that namespace) on the one under test. The sender gets a raw protocol
// 112 socket from src (subnet.1) sending multicast out of eth0 with TTL
// 255. All is closed with the test.
func rawLAN(t *testing.T, subnet string, rc RawConfig) (pc *ipv4.PacketConn, src netip.Addr, host *netcfg.Host, tr *RawTransport) {
	t.Helper()
	lab := netnstest.New(t)
	lan := lab.LAN("lan")
	sender := lab.Host("s")
	gh := lab.Host("g")
	lan.Connect(sender, "eth0", subnet+".1/24")
	lan.Connect(gh, "eth0", subnet+".2/24")
	src = netip.MustParseAddr(subnet + ".1")
	if err := sender.Do(func() error {
		c, err := net.ListenPacket("ip4:112", src.String())
		if err != nil {
			return err
		}
		pc = ipv4.NewPacketConn(c)
		ifi, err := net.InterfaceByName("eth0")
		if err != nil {
			return err
		}
		return errors.Join(pc.SetMulticastInterface(ifi), pc.SetMulticastTTL(255))
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	ns := gh.NsHandle()
	host, err := netcfg.Open(netcfg.Config{NetNSHandle: ns})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { host.Close() })
	rc.Netns = &ns
	tr = NewRawTransport(rc)
	t.Cleanup(func() { tr.Close() })
	return pc, src, host, tr
}
