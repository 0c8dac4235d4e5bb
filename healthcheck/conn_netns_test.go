package healthcheck_test

import (
	"io"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/lvskit/lvskit/healthcheck"
	"github.com/lvskit/lvskit/internal/netnstest"
)

// TestIntegrationConnOptions shows bind_if and fwmark reach the kernel, in
// a namespace of its own: a policy rule sends packets marked 0x42 to a
// table where 127.0.0.1 is unreachable (what a DR director does to send a
// check through the VIP), so the marked check fails while the unmarked one
// passes; binding to lo passes and to a missing device fails.
func TestIntegrationConnOptions(t *testing.T) {
	netnstest.RequireRoot(t)
	ns := enterFreshNetns(t)
	defer ns.leave()

	lo, err := netlink.LinkByName("lo")
	if err != nil {
		t.Fatal(err)
	}
	if err := netlink.LinkSetUp(lo); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
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
			// An answer for the HTTP checks; TCP checks close first.
			c.SetDeadline(time.Now().Add(10 * time.Second))
			c.Read(make([]byte, 512))
			io.WriteString(c, "HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n")
			c.Close()
		}
	}()
	addr := netip.MustParseAddrPort(ln.Addr().String())

	// Policy routing: marked packets look up table 100 before the local
	// table, and table 100 has 127.0.0.1 unreachable.
	rules, err := netlink.RuleList(unix.AF_INET)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rules {
		if r.Table == unix.RT_TABLE_LOCAL && r.Priority == 0 {
			if err := netlink.RuleDel(&r); err != nil {
				t.Fatal(err)
			}
		}
	}
	local := netlink.NewRule()
	local.Priority, local.Table, local.Family = 200, unix.RT_TABLE_LOCAL, unix.AF_INET
	marked := netlink.NewRule()
	marked.Priority, marked.Table, marked.Mark, marked.Family = 100, 100, 0x42, unix.AF_INET
	for _, r := range []*netlink.Rule{marked, local} {
		if err := netlink.RuleAdd(r); err != nil {
			t.Fatalf("add rule %v: %v", r, err)
		}
	}
	if err := netlink.RouteAdd(&netlink.Route{
		Dst: &net.IPNet{IP: net.IPv4(127, 0, 0, 1), Mask: net.CIDRMask(32, 32)}, Table: 100, Type: unix.RTN_UNREACHABLE,
	}); err != nil {
		t.Fatal(err)
	}

	// No t.Run here: the checks must run on this locked thread. Every
	// check ends at once, passing or failing; the bound is for a loaded
	// machine that does not run the server's goroutine.
	check := func(conn healthcheck.Conn, wantErr string) {
		t.Helper()
		checkErr(t, probe(t, &healthcheck.TCPChecker{Conn: conn}, 10*time.Second), wantErr)
	}
	check(healthcheck.Conn{Addr: addr}, "")
	check(healthcheck.Conn{Addr: addr, FWMark: 0x42}, "no route to host")
	check(healthcheck.Conn{Addr: addr, FWMark: 0x43}, "")
	check(healthcheck.Conn{Addr: addr, BindInterface: "lo"}, "")
	check(healthcheck.Conn{Addr: addr, BindInterface: "nosuchdev0"}, "bind to device nosuchdev0")

	// HTTP_GET opens its sockets itself (see Conn.openTCP): the same
	// options, and a source address and port.
	checkHTTP := func(conn healthcheck.Conn, wantErr string) {
		t.Helper()
		c := &healthcheck.HTTPChecker{Conn: conn, URLs: []healthcheck.URL{{Path: "/"}}}
		checkErr(t, probe(t, c, 10*time.Second), wantErr)
	}
	checkHTTP(healthcheck.Conn{Addr: addr}, "")
	checkHTTP(healthcheck.Conn{Addr: addr, FWMark: 0x42}, "connect: no route to host")
	checkHTTP(healthcheck.Conn{Addr: addr, FWMark: 0x43}, "")
	checkHTTP(healthcheck.Conn{Addr: addr, BindInterface: "lo"}, "")
	checkHTTP(healthcheck.Conn{Addr: addr, BindInterface: "nosuchdev0"}, "bind to device nosuchdev0")
	checkHTTP(healthcheck.Conn{Addr: addr, BindAddr: netip.MustParseAddr("127.0.0.2"), BindPort: 40001}, "")
	checkHTTP(healthcheck.Conn{Addr: addr, BindAddr: netip.MustParseAddr("127.0.0.2"), BindPort: 40001}, "") // the port again: no TIME_WAIT in the way
	checkHTTP(healthcheck.Conn{Addr: addr, BindAddr: netip.MustParseAddr("192.0.2.1")}, "bind 192.0.2.1:0: cannot assign requested address")
}
