package ipvs

import (
	"bufio"
	"context"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/lvskit/lvskit/internal/netnstest"
)

// The userspace backend given a namespace (UserspaceConfig.Netns, which
// the director sets from net_namespace) listens and dials real servers
// there: a client in the namespace is served through the service, the
// real server sees the namespace's address as the client, ss(8) shows the
// listener in the namespace, and UDP works the same way.
func TestIntegrationUserspaceNetns(t *testing.T) {
	verifyNoLeaks(t)
	lab := netnstest.New(t)
	x, rs := lab.Host("x"), lab.Host("rs")
	lab.Link(x, "eth0", "10.65.0.1/24", rs, "eth0", "10.65.0.2/24")
	x.AddAddr("lo", "10.65.0.100/32") // the VIP, local to x

	ln, err := rs.Listen("tcp", "10.65.0.2:8080")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Write([]byte("from " + c.RemoteAddr().(*net.TCPAddr).IP.String() + "\n"))
			c.Close()
		}
	}()
	pc, err := rs.ListenPacket("udp", "10.65.0.2:5353")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	go func() {
		b := make([]byte, 100)
		for {
			n, from, err := pc.ReadFrom(b)
			if err != nil {
				return
			}
			pc.WriteTo(append([]byte("echo "), b[:n]...), from)
		}
	}()

	u, err := NewUserspace(UserspaceConfig{Netns: x.NsHandle()})
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	vip := netip.MustParseAddr("10.65.0.100")
	dst := func(port uint16) []Destination {
		return []Destination{{Addr: netip.MustParseAddr("10.65.0.2"), Port: port, Weight: 1, Forward: Masquerade}}
	}
	if _, err := Sync(ctx, u, []Service{
		{Protocol: TCP, Addr: vip, Port: 80, Scheduler: "rr", Destinations: dst(8080)},
		{Protocol: UDP, Addr: vip, Port: 53, Scheduler: "rr", Destinations: dst(5353)},
	}); err != nil {
		t.Fatal(err)
	}

	c, err := x.Dial(ctx, "tcp", "10.65.0.100:80")
	if err != nil {
		t.Fatalf("connect to the service from the namespace: %v", err)
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	c.Close()
	if err != nil || line != "from 10.65.0.1\n" {
		t.Errorf("through the service: %q, %v; want the real server to see the namespace's 10.65.0.1", line, err)
	}
	if out := x.Run("ss", "-Hltn", "src", "10.65.0.100"); !strings.Contains(out, "10.65.0.100:80") {
		t.Errorf("ss in the namespace shows no listener on the VIP:\n%s", out)
	}

	uc, err := x.Dial(ctx, "udp", "10.65.0.100:53")
	if err != nil {
		t.Fatal(err)
	}
	defer uc.Close()
	uc.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := uc.Write([]byte("hi")); err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 100)
	n, err := uc.Read(b)
	if err != nil || string(b[:n]) != "echo hi" {
		t.Errorf("UDP through the service: %q, %v", b[:n], err)
	}
}
