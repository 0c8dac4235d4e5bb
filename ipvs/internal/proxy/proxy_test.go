package proxy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestTCPForwardRoundRobinAndStats(t *testing.T) {
	a, b := startBackend(t, "a", modeEcho), startBackend(t, "b", modeEcho)
	p := newProxy(t, Config{})
	k := addService(t, p, ServiceConfig{Scheduler: "rr"}, map[*backend]int{a: 1, b: 1}, a, b)
	var names []string
	for i := range 6 {
		c := dialVia(t, k, "")
		c.echo(t, fmt.Sprintf("hello %d", i))
		c.CloseWrite()
		if rest, err := io.ReadAll(c.r); err != nil || len(rest) != 0 {
			t.Fatalf("after half-close: %q, %v", rest, err)
		}
		c.Close()
		names = append(names, c.name)
	}
	// The kernel prepends new destinations: b (added last) comes first.
	if diff := cmp.Diff([]string{"b", "a", "b", "a", "b", "a"}, names); diff != "" {
		t.Errorf("rr order (-want +got):\n%s", diff)
	}
	eventually(t, "connections released", func() bool {
		s := serviceStatus(t, p, k)
		return s.Dests[0].ActiveConns+s.Dests[0].InactiveConns+s.Dests[1].ActiveConns+s.Dests[1].InactiveConns == 0
	})
	s := serviceStatus(t, p, k)
	// Each connection: 7 bytes in; "x\n" + 7 bytes out.
	want := Stats{Conns: 6, BytesIn: 6 * 7, BytesOut: 6 * 9}
	if diff := cmp.Diff(want, totals(s.Stats)); diff != "" {
		t.Errorf("service stats (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(Stats{Conns: 3, BytesIn: 21, BytesOut: 27}, totals(s.Dests[0].Stats)); diff != "" {
		t.Errorf("dest a stats (-want +got):\n%s", diff)
	}
}

func TestHalfCloseResponseAfterFIN(t *testing.T) {
	a := startBackend(t, "a", modeCollect)
	p := newProxy(t, Config{})
	k := addService(t, p, ServiceConfig{}, map[*backend]int{a: 1}, a)
	c := dialVia(t, k, "")
	payload := bytes.Repeat([]byte("x"), 1<<20) // more than one splice chunk
	if _, err := c.Write(payload); err != nil {
		t.Fatal(err)
	}
	if err := c.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(c.r)
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("got %d", len(payload)); string(got) != want {
		t.Errorf("response after half-close = %q, want %q", got, want)
	}
}

func TestActiveInactiveCounts(t *testing.T) {
	a := startBackend(t, "a", modeHold)
	p := newProxy(t, Config{})
	k := addService(t, p, ServiceConfig{}, map[*backend]int{a: 1}, a)
	c := dialVia(t, k, "")
	counts := func() [2]int {
		d := destStatus(t, p, k, a.addr)
		return [2]int{d.ActiveConns, d.InactiveConns}
	}
	if got := counts(); got != [2]int{1, 0} {
		t.Fatalf("established: active/inactive = %v, want [1 0]", got)
	}
	c.CloseWrite() // FIN from the client: the kernel's FIN_WAIT, inactive
	eventually(t, "inactive after FIN", func() bool { return counts() == [2]int{0, 1} })
	c.Close()
	a.close() // the server closes too
	eventually(t, "gone after close", func() bool { return counts() == [2]int{0, 0} })
}

func TestWeightZeroQuiesces(t *testing.T) {
	a, b := startBackend(t, "a", modeEcho), startBackend(t, "b", modeEcho)
	p := newProxy(t, Config{})
	k := addService(t, p, ServiceConfig{Scheduler: "wlc"}, map[*backend]int{a: 1}, a)
	old := dialVia(t, k, "")
	if old.name != "a" {
		t.Fatalf("first connection went to %s", old.name)
	}
	if err := p.AddDest(k, DestConfig{Addr: b.addr, Weight: 1}); err != nil {
		t.Fatal(err)
	}
	if err := p.UpdateDest(k, DestConfig{Addr: a.addr, Weight: 0}); err != nil {
		t.Fatal(err)
	}
	for range 5 {
		if c := dialVia(t, k, ""); c.name != "b" {
			t.Fatalf("new connection went to quiesced %s", c.name)
		}
	}
	old.echo(t, "still here") // existing connection keeps working
}

func TestRemoveDestDrains(t *testing.T) {
	a, b := startBackend(t, "a", modeEcho), startBackend(t, "b", modeEcho)
	clk := fakeClock()
	p := newProxy(t, Config{Clock: clk, DrainTimeout: time.Minute})
	k := addService(t, p, ServiceConfig{Scheduler: "rr"}, map[*backend]int{a: 1, b: 1}, b, a)
	old := dialVia(t, k, "") // a: added last, first in the list
	if old.name != "a" {
		t.Fatalf("first connection went to %s", old.name)
	}
	if err := p.RemoveDest(k, a.addr); err != nil {
		t.Fatal(err)
	}
	if err := p.RemoveDest(k, a.addr); !errors.Is(err, ErrNotFound) {
		t.Errorf("second removal: %v, want ErrNotFound", err)
	}
	old.echo(t, "draining") // still forwarded after removal
	for range 4 {
		if c := dialVia(t, k, ""); c.name != "b" {
			t.Fatalf("new connection went to removed %s", c.name)
		}
	}
	clk.Advance(time.Minute - time.Nanosecond)
	old.echo(t, "still draining") // the drain timeout has not passed
	// After the drain timeout the proxy closes it.
	clk.Advance(time.Nanosecond)
	old.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadAll(old.r); err != nil && !isReset(err) {
		t.Fatalf("drained connection: %v", err)
	}
	// A write may still be accepted by the kernel until the proxy's
	// reset to the first one comes back.
	eventually(t, "writes to the drained connection fail", func() bool {
		_, err := old.Write([]byte("x"))
		return err != nil
	})
}

func isReset(err error) bool {
	return err != nil && (strings.Contains(err.Error(), "reset") || strings.Contains(err.Error(), "broken pipe"))
}

func TestRemoveServiceClosesListenerAndDrains(t *testing.T) {
	a := startBackend(t, "a", modeEcho)
	p := newProxy(t, Config{DrainTimeout: time.Hour})
	k := addService(t, p, ServiceConfig{}, map[*backend]int{a: 1}, a)
	old := dialVia(t, k, "")
	if err := p.RemoveService(k); err != nil {
		t.Fatal(err)
	}
	if _, err := net.DialTimeout("tcp", k.Addr.String(), time.Second); err == nil {
		t.Error("listener still accepts after RemoveService")
	}
	old.echo(t, "draining") // existing connection survives
	if len(p.Services()) != 0 {
		t.Errorf("Services() after removal = %v", p.Services())
	}
	if err := p.RemoveService(k); !errors.Is(err, ErrNotFound) {
		t.Errorf("second removal: %v, want ErrNotFound", err)
	}
	// Re-adding the service binds again at once.
	if err := p.AddService(ServiceConfig{Protocol: TCP, Addr: k.Addr}); err != nil {
		t.Fatalf("re-add: %v", err)
	}
}

func TestPersistence(t *testing.T) {
	a, b := startBackend(t, "a", modeEcho), startBackend(t, "b", modeEcho)
	clk := fakeClock()
	p := newProxy(t, Config{Clock: clk})
	k := addService(t, p, ServiceConfig{Scheduler: "rr", PersistenceTimeout: 300 * time.Second, PersistenceBits: 24},
		map[*backend]int{a: 1, b: 1}, a, b)
	first := dialVia(t, k, "127.0.0.1")
	first.Close()
	for _, from := range []string{"127.0.0.1", "127.0.0.2", "127.0.0.200", "127.0.0.1"} {
		if c := dialVia(t, k, from); c.name != first.name {
			t.Fatalf("client %s went to %s, want %s (same /24)", from, c.name, first.name)
		} else {
			c.Close()
		}
	}
	eventually(t, "template without connections", func() bool {
		d := destStatus(t, p, k, map[string]*backend{"a": a, "b": b}[first.name].addr)
		return d.ActiveConns+d.InactiveConns == 0 && d.PersistConns == 1
	})
	clk.Advance(301 * time.Second) // template expires
	if c := dialVia(t, k, "127.0.0.1"); c.name == first.name {
		t.Errorf("after expiry rr should pick the other server, got %s again", c.name)
	}
}

func TestUpperThreshold(t *testing.T) {
	a, b := startBackend(t, "a", modeEcho), startBackend(t, "b", modeEcho)
	p := newProxy(t, Config{})
	k := addService(t, p, ServiceConfig{Scheduler: "wlc"}, nil)
	// a: heavy weight but at most 1 connection.
	if err := p.AddDest(k, DestConfig{Addr: b.addr, Weight: 1}); err != nil {
		t.Fatal(err)
	}
	if err := p.AddDest(k, DestConfig{Addr: a.addr, Weight: 100, UpperThreshold: 1}); err != nil {
		t.Fatal(err)
	}
	c1 := dialVia(t, k, "")
	if c1.name != "a" {
		t.Fatalf("first connection to %s, want a", c1.name)
	}
	for range 3 {
		if c := dialVia(t, k, ""); c.name != "b" {
			t.Fatalf("connection beyond a's upper threshold went to %s", c.name)
		}
	}
	c1.Close()
	eventually(t, "a released", func() bool {
		d := destStatus(t, p, k, a.addr)
		return d.ActiveConns+d.InactiveConns == 0
	})
	if c := dialVia(t, k, ""); c.name != "a" {
		t.Errorf("after a fell below its threshold: %s, want a", c.name)
	}
}

// TestThresholdsKernelSemantics: a destination is overloaded once its
// connections (active and inactive) reach the upper threshold, and takes
// new ones again only when they fall below the lower threshold, or below
// 3/4 of the upper one when there is none, as the kernel's
// ip_vs_bind_dest and ip_vs_unbind_dest decide. fo sends every connection
// to the heavier server a unless it is overloaded.
func TestThresholdsKernelSemantics(t *testing.T) {
	tests := []struct {
		name         string
		upper, lower uint32
		stillOver    []int // a's connection counts, on the way down, that keep it overloaded
		clearsAt     int
	}{
		{"lower 2", 4, 2, []int{3, 2}, 1},
		{"no lower: 3/4 of 4", 4, 0, []int{3}, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, b := startBackend(t, "a", modeEcho), startBackend(t, "b", modeEcho)
			p := newProxy(t, Config{})
			k := addService(t, p, ServiceConfig{Scheduler: "fo"}, nil)
			if err := p.AddDest(k, DestConfig{Addr: b.addr, Weight: 1}); err != nil {
				t.Fatal(err)
			}
			if err := p.AddDest(k, DestConfig{Addr: a.addr, Weight: 100, UpperThreshold: tc.upper, LowerThreshold: tc.lower}); err != nil {
				t.Fatal(err)
			}
			var onA []*conn
			for i := range int(tc.upper) {
				c := dialVia(t, k, "")
				if c.name != "a" {
					t.Fatalf("connection %d went to %s below a's upper threshold", i, c.name)
				}
				onA = append(onA, c)
			}
			if c := dialVia(t, k, ""); c.name != "b" {
				t.Fatalf("connection at a's upper threshold went to %s", c.name)
			}
			total := func() int {
				d := destStatus(t, p, k, a.addr)
				return d.ActiveConns + d.InactiveConns
			}
			closeOne := func() {
				onA[len(onA)-1].Close()
				onA = onA[:len(onA)-1]
				eventually(t, fmt.Sprintf("a down to %d connections", len(onA)), func() bool { return total() == len(onA) })
			}
			for _, n := range tc.stillOver {
				closeOne()
				if len(onA) != n {
					t.Fatalf("test table: a has %d connections, want %d", len(onA), n)
				}
				if c := dialVia(t, k, ""); c.name != "b" {
					t.Errorf("with %d connections on a (upper %d, lower %d): new one went to %s, want b (still overloaded)", n, tc.upper, tc.lower, c.name)
				}
			}
			closeOne()
			if len(onA) != tc.clearsAt {
				t.Fatalf("test table: a has %d connections, want %d", len(onA), tc.clearsAt)
			}
			if c := dialVia(t, k, ""); c.name != "a" {
				t.Errorf("with %d connections on a (upper %d, lower %d): new one went to %s, want a (no longer overloaded)", tc.clearsAt, tc.upper, tc.lower, c.name)
			}
		})
	}
}

func TestNoDestinationResets(t *testing.T) {
	p := newProxy(t, Config{})
	k := addService(t, p, ServiceConfig{}, nil)
	c, err := net.Dial("tcp", k.Addr.String())
	if err == nil { // else the reset came before connect returned
		defer c.Close()
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if n, err := c.Read(make([]byte, 1)); err == nil {
			t.Errorf("read %d bytes from a service without destinations", n)
		}
	}
	if got := serviceStatus(t, p, k).Stats.Conns; got != 0 {
		t.Errorf("conns = %d, want 0", got)
	}
}

func TestProxyProtocolV2(t *testing.T) {
	a := startBackend(t, "a", modeProxyHeader)
	p := newProxy(t, Config{})
	k := addService(t, p, ServiceConfig{ProxyProtocol: true}, map[*backend]int{a: 1}, a)
	c := dialVia(t, k, "127.0.0.7")
	want := fmt.Sprintf("%s %s", c.LocalAddr(), k.Addr)
	if c.name != want {
		t.Errorf("server decoded %q, want %q", c.name, want)
	}
	c.echo(t, "payload after the header")
}

func TestProxyV2Bytes(t *testing.T) {
	// Laid out by hand from doc/proxy-protocol.txt section 2.2.
	sig := []byte{0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A}
	v4 := append(append([]byte{}, sig...),
		0x21, 0x11, 0x00, 0x0C, // v2 PROXY, TCP over IPv4, 12 bytes
		192, 0, 2, 1, // source address
		198, 51, 100, 2, // destination address
		0x30, 0x39, // source port 12345
		0x00, 0x50) // destination port 80
	v6 := append(append([]byte{}, sig...), 0x21, 0x22, 0x00, 0x24)
	v6 = append(v6, netip.MustParseAddr("2001:db8::1").AsSlice()...)
	v6 = append(v6, netip.MustParseAddr("2001:db8::2").AsSlice()...)
	v6 = append(v6, 0x01, 0xbb, 0x00, 0x35)
	local := append(append([]byte{}, sig...), 0x20, 0x00, 0x00, 0x00)
	tests := []struct {
		name     string
		udp      bool
		src, dst string
		want     []byte
	}{
		{"tcp4", false, "192.0.2.1:12345", "198.51.100.2:80", v4},
		{"udp6", true, "[2001:db8::1]:443", "[2001:db8::2]:53", v6},
		{"mapped v4 is v4", false, "[::ffff:192.0.2.1]:12345", "198.51.100.2:80", v4},
		{"mixed families: LOCAL", false, "192.0.2.1:1", "[2001:db8::2]:2", local},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := appendProxyV2(nil, tc.udp, netip.MustParseAddrPort(tc.src), netip.MustParseAddrPort(tc.dst))
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("header (-want +got):\n%s", diff)
			}
			if len(got) > maxProxyHeader {
				t.Errorf("header of %d bytes exceeds maxProxyHeader", len(got))
			}
		})
	}
}

func TestFreebindNonLocalAddress(t *testing.T) {
	p := newProxy(t, Config{})
	// 192.0.2.0/24 is TEST-NET-1: not on this host. Nothing is sent there.
	vip := netip.AddrPortFrom(netip.MustParseAddr("192.0.2.123"), freePort(t, false).Port())
	// Control: without IP_FREEBIND the same bind fails (unless the host
	// allows non-local binds for everyone).
	if l, err := net.Listen("tcp4", vip.String()); err == nil {
		l.Close()
		t.Log("plain bind of a non-local address works here (ip_nonlocal_bind=1?): the test proves less")
	}
	for _, proto := range []Protocol{TCP, UDP} {
		c := ServiceConfig{Protocol: proto, Addr: vip}
		if err := p.AddService(c); err != nil {
			t.Errorf("%s: bind a non-local VIP: %v", proto, err)
		}
	}
	if err := p.AddService(ServiceConfig{Protocol: TCP, Addr: vip}); !errors.Is(err, ErrExists) {
		t.Errorf("duplicate service: %v, want ErrExists", err)
	}
}

func TestCloseIdempotentAndRefuses(t *testing.T) {
	a := startBackend(t, "a", modeHold)
	p := New(Config{})
	k := addService(t, p, ServiceConfig{}, map[*backend]int{a: 1}, a)
	c := dialVia(t, k, "")
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Error("connection still open after Close")
	}
	if err := p.AddService(ServiceConfig{Protocol: TCP, Addr: freePort(t, false)}); !errors.Is(err, ErrClosed) {
		t.Errorf("AddService after Close: %v, want ErrClosed", err)
	}
}

func TestBadInput(t *testing.T) {
	p := newProxy(t, Config{})
	for _, c := range []ServiceConfig{
		{Protocol: 132, Addr: freePort(t, false)},
		{Protocol: TCP},
		{Protocol: TCP, Addr: netip.MustParseAddrPort("127.0.0.1:0")},
		{Protocol: UDP, Addr: freePort(t, true), ProxyProtocol: true},
		{Protocol: TCP, Addr: freePort(t, false), Scheduler: "nope"},
		{Protocol: TCP, Addr: freePort(t, false), PersistenceBits: 33},
	} {
		if err := p.AddService(c); err == nil {
			t.Errorf("AddService(%+v) succeeded", c)
		}
	}
	k := addService(t, p, ServiceConfig{}, nil)
	if err := p.AddDest(k, DestConfig{Addr: netip.MustParseAddrPort("127.0.0.1:0")}); err == nil {
		t.Error("AddDest with port 0 succeeded")
	}
	if err := p.UpdateDest(k, DestConfig{Addr: netip.MustParseAddrPort("127.0.0.1:9")}); !errors.Is(err, ErrNotFound) {
		t.Errorf("UpdateDest of a missing dest: %v", err)
	}
}

func TestIPv6AndProxyHeader(t *testing.T) {
	ln, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	b := &backend{name: "v6", ln: ln, addr: ln.Addr().(*net.TCPAddr).AddrPort(), open: map[net.Conn]struct{}{}, stop: make(chan struct{})}
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			b.serve(c, modeProxyHeader)
			c.Close()
		}
	}()
	t.Cleanup(b.close)
	p := newProxy(t, Config{})
	l6, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l6.Addr().(*net.TCPAddr).AddrPort()
	l6.Close()
	k := addService(t, p, ServiceConfig{Addr: addr, ProxyProtocol: true, Scheduler: "sh"}, map[*backend]int{b: 1}, b)
	c := dialVia(t, k, "")
	if want := fmt.Sprintf("%s %s", c.LocalAddr(), k.Addr); c.name != want {
		t.Errorf("server decoded %q, want %q", c.name, want)
	}
	c.echo(t, "over IPv6")
}

// totals drops the rate estimates, which depend on when the estimator ran.
func totals(s Stats) Stats {
	s.CPS, s.PPSIn, s.PPSOut, s.BPSIn, s.BPSOut = 0, 0, 0, 0, 0
	return s
}

func TestRateEstimator(t *testing.T) {
	var c counters
	c.conns.Add(100)
	c.bytesIn.Add(8000)
	c.estimate(2 * time.Second) // 50 conn/s folded in with weight 1/4
	got := c.snapshot()
	if got.CPS != 13 || got.BPSIn != 1000 {
		t.Errorf("after one period: cps %d bps in %d, want 13 and 1000", got.CPS, got.BPSIn)
	}
	c.estimate(2 * time.Second) // idle period: 12.5 * 3/4
	if got := c.snapshot(); got.CPS != 9 || got.BPSIn != 750 {
		t.Errorf("after an idle period: cps %d bps in %d, want 9 and 750", got.CPS, got.BPSIn)
	}
}

// TestFinTimeout: after the client's FIN, a server that never answers nor
// closes is cut off after FinTimeout of idleness (on the proxy's clock).
func TestFinTimeout(t *testing.T) {
	forEachPath(t, func(t *testing.T, cfg Config) {
		a := startBackend(t, "a", modeHold)
		clk := fakeClock()
		cfg.Clock = clk
		p := newProxy(t, cfg)
		k := addService(t, p, ServiceConfig{}, map[*backend]int{a: 1}, a)
		c := dialVia(t, k, "")
		c.CloseWrite()
		eventually(t, "inactive after the client's FIN", func() bool {
			d := destStatus(t, p, k, a.addr)
			return d.ActiveConns == 0 && d.InactiveConns == 1
		})
		clk.Advance(120*time.Second - time.Nanosecond)
		c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		if n, err := c.Read(make([]byte, 1)); !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("half-closed connection before the FIN timeout: read %d, %v; want it open", n, err)
		}
		clk.Advance(time.Nanosecond)
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.ReadAll(c.r); err != nil && !isReset(err) {
			t.Fatalf("half-closed connection: %v", err)
		}
		eventually(t, "released", func() bool {
			d := destStatus(t, p, k, a.addr)
			return d.ActiveConns+d.InactiveConns == 0
		})
	})
}

// TestLeastConnectionUsesLiveCounts: lc sees the proxy's own counters.
func TestLeastConnectionUsesLiveCounts(t *testing.T) {
	a, b := startBackend(t, "a", modeEcho), startBackend(t, "b", modeEcho)
	p := newProxy(t, Config{})
	k := addService(t, p, ServiceConfig{Scheduler: "lc"}, map[*backend]int{a: 1, b: 1}, a, b)
	held := dialVia(t, k, "") // b: first in the list, both idle
	if held.name != "b" {
		t.Fatalf("first connection went to %s", held.name)
	}
	for i := range 3 {
		c := dialVia(t, k, "") // b has one active: a every time
		if c.name != "a" {
			t.Fatalf("connection %d went to %s while b holds one", i, c.name)
		}
		c.Close()
		eventually(t, "a released", func() bool {
			d := destStatus(t, p, k, a.addr)
			return d.ActiveConns+d.InactiveConns == 0
		})
	}
	held.echo(t, "ok")
}
