package proxy

import (
	"bufio"
	"context"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/lvskit/lvskit/internal/netnstest"
)

// With Config.Netns the proxy listens and connects to real servers in that
// namespace, on the event loops and on the goroutine path alike: the real
// server, in a namespace of its own, sees the proxy's namespace's address.
func TestIntegrationNetns(t *testing.T) {
	for _, goroutines := range []bool{false, true} {
		name := "event loops"
		if goroutines {
			name = "goroutines"
		}
		t.Run(name, func(t *testing.T) {
			lab := netnstest.New(t)
			x, rs := lab.Host("x"), lab.Host("rs")
			lab.Link(x, "eth0", "10.66.0.1/24", rs, "eth0", "10.66.0.2/24")
			x.AddAddr("lo", "10.66.0.100/32")
			ln, err := rs.Listen("tcp", "10.66.0.2:8080")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { ln.Close() })
			go func() {
				for {
					c, err := ln.Accept()
					if err != nil {
						return
					}
					c.Write([]byte(c.RemoteAddr().(*net.TCPAddr).IP.String() + "\n"))
					c.Close()
				}
			}()
			p := New(Config{Netns: x.NsHandle(), CopyGoroutines: goroutines})
			t.Cleanup(func() { p.Close() })
			k := ServiceKey{Protocol: TCP, Addr: netip.MustParseAddrPort("10.66.0.100:80")}
			if err := p.AddService(ServiceConfig{Protocol: TCP, Addr: k.Addr, Scheduler: "rr"}); err != nil {
				t.Fatal(err)
			}
			if err := p.AddDest(k, DestConfig{Addr: netip.MustParseAddrPort("10.66.0.2:8080"), Weight: 1}); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			for i := range 3 {
				c, err := x.Dial(ctx, "tcp", k.Addr.String())
				if err != nil {
					t.Fatal(err)
				}
				line, err := bufio.NewReader(c).ReadString('\n')
				c.Close()
				if err != nil || line != "10.66.0.1\n" {
					t.Fatalf("connection %d: %q, %v; want the real server to see 10.66.0.1", i, line, err)
				}
			}
		})
	}
}
