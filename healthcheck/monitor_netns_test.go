package healthcheck_test

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/lvskit/lvskit/healthcheck"
	"github.com/lvskit/lvskit/internal/netnstest"
)

// With MonitorConfig.Netns a probe runs inside the namespace: a TCP check
// reaches a server only that namespace can reach, and a MISC_CHECK program
// sees that namespace's interfaces. Both start down (alpha) and come up.
func TestIntegrationMonitorNetns(t *testing.T) {
	lab := netnstest.New(t)
	x, rs := lab.Host("x"), lab.Host("rs")
	lab.Link(x, "eth0", "10.71.0.1/24", rs, "eth0", "10.71.0.2/24")
	ln, err := rs.Listen("tcp", "10.71.0.2:80")
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
			c.Close()
		}
	}()
	for name, c := range map[string]healthcheck.Checker{
		"tcp": &healthcheck.TCPChecker{Conn: healthcheck.Conn{Addr: netip.MustParseAddrPort("10.71.0.2:80")}},
		// misc_timeout given: the default, delay_loop (200 ms), is short
		// for sh, ip and grep to start on a loaded machine.
		"misc": &healthcheck.MiscChecker{Path: "/bin/sh", Args: []string{"-c", "ip -o addr show dev eth0 | grep -q 10.71.0.1/24"}, Timeout: 10 * time.Second},
	} {
		t.Run(name, func(t *testing.T) {
			up := make(chan struct{}, 1)
			m, err := healthcheck.NewMonitor(healthcheck.MonitorConfig{
				Checker: c, Netns: x.NsHandle(),
				Policy: healthcheck.Policy{DelayLoop: 200 * time.Millisecond, ConnectTimeout: 10 * time.Second, Alpha: true},
				OnEvent: func(e healthcheck.Event) {
					if e.Up {
						select {
						case up <- struct{}{}:
						default:
						}
					}
				},
			})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- m.Run(ctx) }()
			defer func() { cancel(); <-done }()
			select {
			case <-up:
			case <-time.After(20 * time.Second):
				t.Fatalf("the %s check never came up from inside the namespace: %+v", name, m.State())
			}
		})
	}
}
