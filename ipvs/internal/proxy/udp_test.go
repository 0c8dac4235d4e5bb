package proxy

import (
	"fmt"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"
)

// startUDPBackend runs a UDP real server that answers "name:payload".
func startUDPBackend(t testing.TB, name string) netip.AddrPort {
	t.Helper()
	c, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		buf := make([]byte, 2048)
		for {
			n, from, err := c.ReadFrom(buf)
			if err != nil {
				return
			}
			c.WriteTo(append([]byte(name+":"), buf[:n]...), from)
		}
	}()
	t.Cleanup(func() { c.Close(); wg.Wait() })
	return c.LocalAddr().(*net.UDPAddr).AddrPort()
}

func udpAsk(t testing.TB, c *net.UDPConn, msg string) (reply string, from netip.AddrPort) {
	t.Helper()
	if _, err := c.Write([]byte(msg)); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 2048)
	n, addr, err := c.ReadFromUDPAddrPort(buf)
	if err != nil {
		t.Fatalf("udp reply to %q: %v", msg, err)
	}
	return string(buf[:n]), addr
}

func TestUDPFlows(t *testing.T) {
	a, b := startUDPBackend(t, "a"), startUDPBackend(t, "b")
	clk := fakeClock()
	p := newProxy(t, Config{Clock: clk})
	svc := ServiceConfig{Protocol: UDP, Addr: freePort(t, true), Scheduler: "rr"}
	if err := p.AddService(svc); err != nil {
		t.Fatal(err)
	}
	k := svc.Key()
	for _, d := range []netip.AddrPort{a, b} {
		if err := p.AddDest(k, DestConfig{Addr: d, Weight: 1}); err != nil {
			t.Fatal(err)
		}
	}
	var clients []*net.UDPConn
	seen := map[string]int{}
	for i := range 4 {
		c, err := net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(k.Addr))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		clients = append(clients, c)
		var first string
		for j := range 5 { // one flow: every datagram to the same server
			reply, from := udpAsk(t, c, fmt.Sprintf("q%d", j))
			if from != k.Addr {
				t.Fatalf("reply from %s, want the service address %s", from, k.Addr)
			}
			server := reply[:1]
			if j == 0 {
				first = server
			} else if server != first {
				t.Fatalf("client %d: datagram %d went to %s, flow was on %s", i, j, server, first)
			}
			if want := fmt.Sprintf("%s:q%d", server, j); reply != want {
				t.Fatalf("reply %q, want %q", reply, want)
			}
		}
		seen[first]++
	}
	if seen["a"] != 2 || seen["b"] != 2 {
		t.Errorf("rr over 4 clients: %v, want 2 each", seen)
	}
	// The proxy counts a reply after sending it, so the client can read
	// the last one a moment before it is counted: wait (bounded) for it.
	want := func(s ServiceStatus) bool {
		return s.Stats.Conns == 4 && s.Stats.PacketsIn == 20 && s.Stats.PacketsOut == 20 && s.Stats.BytesIn == 40 && s.Stats.BytesOut == 80
	}
	s := serviceStatus(t, p, k)
	for end := time.Now().Add(10 * time.Second); !want(s) && time.Now().Before(end); s = serviceStatus(t, p, k) {
		time.Sleep(5 * time.Millisecond)
	}
	if !want(s) {
		t.Errorf("stats = %+v", s.Stats)
	}
	// UDP flows count as inactive, as in the kernel.
	if d := s.Dests[0]; d.ActiveConns != 0 || d.InactiveConns != 2 {
		t.Errorf("dest counts active=%d inactive=%d, want 0 and 2", d.ActiveConns, d.InactiveConns)
	}
	// Idle flows expire after the UDP timeout (the kernel's 300 s) of
	// the proxy's clock, not before.
	clk.Advance(300*time.Second - time.Nanosecond)
	if s := serviceStatus(t, p, k); s.Dests[0].InactiveConns+s.Dests[1].InactiveConns != 4 {
		t.Errorf("flows before the UDP timeout: %d, want 4", s.Dests[0].InactiveConns+s.Dests[1].InactiveConns)
	}
	clk.Advance(time.Nanosecond)
	eventually(t, "idle flows expire", func() bool {
		s := serviceStatus(t, p, k)
		return s.Dests[0].InactiveConns+s.Dests[1].InactiveConns == 0
	})
	// A client coming back after expiry gets a new flow.
	if reply, _ := udpAsk(t, clients[0], "again"); len(reply) < 2 {
		t.Errorf("reply after expiry: %q", reply)
	}
	if got := serviceStatus(t, p, k).Stats.Conns; got != 5 {
		t.Errorf("conns after a new flow = %d, want 5", got)
	}
}

func TestUDPRemoveService(t *testing.T) {
	a := startUDPBackend(t, "a")
	p := newProxy(t, Config{})
	svc := ServiceConfig{Protocol: UDP, Addr: freePort(t, true)}
	if err := p.AddService(svc); err != nil {
		t.Fatal(err)
	}
	if err := p.AddDest(svc.Key(), DestConfig{Addr: a, Weight: 1}); err != nil {
		t.Fatal(err)
	}
	c, err := net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(svc.Addr))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	udpAsk(t, c, "x")
	if err := p.RemoveService(svc.Key()); err != nil {
		t.Fatal(err)
	}
	// The port is free again.
	if err := p.AddService(svc); err != nil {
		t.Fatalf("re-add: %v", err)
	}
}

func TestUDPPersistenceAcrossFlows(t *testing.T) {
	a, b := startUDPBackend(t, "a"), startUDPBackend(t, "b")
	p := newProxy(t, Config{Clock: fakeClock()})
	svc := ServiceConfig{Protocol: UDP, Addr: freePort(t, true), Scheduler: "rr", PersistenceTimeout: time.Hour}
	if err := p.AddService(svc); err != nil {
		t.Fatal(err)
	}
	for _, d := range []netip.AddrPort{a, b} {
		if err := p.AddDest(svc.Key(), DestConfig{Addr: d, Weight: 1}); err != nil {
			t.Fatal(err)
		}
	}
	var first string
	for i := range 4 { // new source ports, new flows: one server for the client address
		c, err := net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(svc.Addr))
		if err != nil {
			t.Fatal(err)
		}
		reply, _ := udpAsk(t, c, "x")
		c.Close()
		if i == 0 {
			first = reply
		} else if reply != first {
			t.Fatalf("flow %d answered %q, the client's template says %q", i, reply, first)
		}
	}
	st := serviceStatus(t, p, svc.Key())
	persist := st.Dests[0].PersistConns + st.Dests[1].PersistConns
	if persist != 1 || st.Stats.Conns != 4 {
		t.Errorf("templates %d, conns %d; want 1 template and 4 flows", persist, st.Stats.Conns)
	}
}
