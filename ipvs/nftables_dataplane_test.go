package ipvs

// The nftables data plane between namespaces: a client, a director
// programmed by lvskit and two real servers; connections must reach the
// real servers in the wrr ratio exactly, in NAT and in DR mode; a
// quiesced server keeps its established connections; persistence sticks;
// a refused transaction leaves the previous rules serving.

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mdlayher/netlink"
	"github.com/ti-mo/conntrack"

	"github.com/lvskit/lvskit/internal/netnstest"
)

// dialName connects from h to addr and returns the connection and the
// name of the server that answered.
func dialName(t *testing.T, h *netnstest.Host, addr string) (net.Conn, *bufio.Reader, string) {
	t.Helper()
	// Bounds for a broken path, not timings: on a loaded machine a lost
	// SYN is resent after 1, 3 and 7 s.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := h.Dial(ctx, "tcp", addr)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	c.SetDeadline(time.Now().Add(20 * time.Second))
	r := bufio.NewReader(c)
	name, err := r.ReadString('\n')
	if err != nil {
		c.Close()
		t.Fatalf("read from %s: %v", addr, err)
	}
	return c, r, name[:len(name)-1]
}

// count makes n sequential connections and counts who answered.
func count(t *testing.T, h *netnstest.Host, addr string, n int) map[string]int {
	t.Helper()
	got := map[string]int{}
	for range n {
		c, _, name := dialName(t, h, addr)
		c.Close()
		got[name]++
	}
	return got
}

type nftLab struct {
	client, dir *netnstest.Host
	n           *NFTables
	svc         Service
	addr        string
}

// natLab: the director is the real servers' gateway.
func natLab(t *testing.T) *nftLab {
	lab := netnstest.New(t)
	client, dir := lab.Host("cli"), lab.Host("dir")
	lan := lab.LAN("lan")
	rs := []*netnstest.Host{lab.Host("rs1"), lab.Host("rs2")}
	lab.Link(client, "eth0", "10.0.1.2/24", dir, "eth0", "10.0.1.1/24")
	client.AddRoute("default", "10.0.1.1")
	lan.Connect(dir, "eth1", "10.0.2.1/24")
	dir.SetSysctl("net.ipv4.ip_forward", "1")
	for i, h := range rs {
		lan.Connect(h, "eth0", fmt.Sprintf("10.0.2.1%d/24", i+1))
		h.AddRoute("default", "10.0.2.1")
		ln, err := h.Listen("tcp", ":8080")
		if err != nil {
			t.Fatal(err)
		}
		serveName(t, ln, fmt.Sprintf("rs%d", i+1))
	}
	svc := Service{Protocol: TCP, Addr: netip.MustParseAddr("10.0.1.1"), Port: 80, Scheduler: "wrr", Destinations: []Destination{
		{Addr: netip.MustParseAddr("10.0.2.11"), Port: 8080, Weight: 3, Forward: Masquerade},
		{Addr: netip.MustParseAddr("10.0.2.12"), Port: 8080, Weight: 1, Forward: Masquerade},
	}}
	return &nftLab{client: client, dir: dir, n: newNFT(t, dir, NFTablesConfig{}), svc: svc, addr: "10.0.1.1:80"}
}

// drServer adds real server rs<i+1> at 10.0.0.1<i+1> to lan, as DR wants
// it: vip on lo, no ARP for it, serveName on vip:80. It returns the host
// and its address.
func drServer(t *testing.T, lab *netnstest.Lab, lan *netnstest.LAN, i int, vip netip.Addr) (*netnstest.Host, netip.Addr) {
	t.Helper()
	name := fmt.Sprintf("rs%d", i+1)
	h := lab.Host(name)
	h.SetSysctl("net.ipv4.conf.all.arp_ignore", "1")
	h.SetSysctl("net.ipv4.conf.all.arp_announce", "2")
	addr := netip.AddrFrom4([4]byte{10, 0, 0, byte(11 + i)})
	lan.Connect(h, "eth0", addr.String()+"/24")
	h.AddAddr("lo", vip.String()+"/32")
	ln, err := h.Listen("tcp", vip.String()+":80")
	if err != nil {
		t.Fatal(err)
	}
	serveName(t, ln, name)
	return h, addr
}

// drLab: client, director and real servers on one LAN; the real servers
// hold the VIP on lo, do not answer ARP for it, and reply directly.
func drLab(t *testing.T) *nftLab {
	lab := netnstest.New(t)
	lan := lab.LAN("lan")
	client, dir := lab.Host("cli"), lab.Host("dir")
	lan.Connect(client, "eth0", "10.0.0.2/24")
	lan.Connect(dir, "eth0", "10.0.0.1/24", "10.0.0.100/32")
	for i := range 2 {
		drServer(t, lab, lan, i, netip.MustParseAddr("10.0.0.100"))
	}
	svc := Service{Protocol: TCP, Addr: netip.MustParseAddr("10.0.0.100"), Port: 80, Scheduler: "wrr", Destinations: []Destination{
		{Addr: netip.MustParseAddr("10.0.0.11"), Weight: 3, Forward: DirectRoute},
		{Addr: netip.MustParseAddr("10.0.0.12"), Weight: 1, Forward: DirectRoute},
	}}
	return &nftLab{client: client, dir: dir, n: newNFT(t, dir, NFTablesConfig{}), svc: svc, addr: "10.0.0.100:80"}
}

func TestIntegrationNFTablesDataPlaneNAT(t *testing.T) { checkNFTDataPlane(t, natLab(t)) }

// The DR lab starts with the service in NAT: the first Sync of the check
// turns it into DR, destinations kept, so that the swap's conns elements
// are what the DR path then counts with.
func TestIntegrationNFTablesDataPlaneDR(t *testing.T) {
	l := drLab(t)
	nat := l.svc
	nat.Destinations = slices.Clone(l.svc.Destinations)
	for i := range nat.Destinations {
		nat.Destinations[i].Forward = Masquerade
	}
	if _, err := Sync(context.Background(), l.n, []Service{nat}); err != nil {
		t.Fatal(err)
	}
	checkNFTDataPlane(t, l)
}

// checkNFTDataPlane: wrr 3:1 exactly over 400 connections; counters read
// back; a connection established to rs2 survives rs2's weight going to 0
// while every new connection goes to rs1; a refused transaction leaves
// the rules serving; persistence keeps a client on one server.
func checkNFTDataPlane(t *testing.T, l *nftLab) {
	ctx := context.Background()
	if _, err := Sync(ctx, l.n, []Service{l.svc}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	got := count(t, l.client, l.addr, 400)
	t.Logf("400 connections in %v: %v", time.Since(start), got)
	if got["rs1"] != 300 || got["rs2"] != 100 {
		t.Errorf("wrr 3:1 over 400 connections went %v, want rs1:300 rs2:100", got)
	}
	tab, err := l.n.Dump(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range tab[0].Destinations {
		want := map[string]uint64{"10.0.2.11": 300, "10.0.0.11": 300, "10.0.2.12": 100, "10.0.0.12": 100}[d.Addr.String()]
		if d.Stats.Connections != want {
			t.Errorf("%s: %d connections counted, want %d", d.Addr, d.Stats.Connections, want)
		}
		if d.Forward == DirectRoute && (d.Stats.PacketsIn < 3*want || d.ActiveConns+d.InactiveConns == 0) {
			t.Errorf("%s: DR counters %+v, %d/%d flows; want at least 3 packets per connection and live flows", d.Addr, d.Stats, d.ActiveConns, d.InactiveConns)
		}
	}

	// Quiesce rs2 with a connection to it established.
	var held net.Conn
	var heldR *bufio.Reader
	for i := 0; held == nil && i < 8; i++ {
		c, r, name := dialName(t, l.client, l.addr)
		if name == "rs2" {
			held, heldR = c, r
		} else {
			c.Close()
		}
	}
	if held == nil {
		t.Fatal("no connection reached rs2 in 8 tries")
	}
	defer held.Close()
	l.svc.Destinations[1].Weight = 0
	if ops, err := Sync(ctx, l.n, []Service{l.svc}); err != nil || len(ops) != 1 {
		t.Fatalf("quiesce: %v, %v", ops, err)
	}
	if got := count(t, l.client, l.addr, 20); got["rs1"] != 20 {
		t.Errorf("after weight 0 on rs2, 20 connections went %v, want all to rs1", got)
	}
	// The held connection is rs2's one active connection (NAT: from
	// conntrack; DR: from the flow table); rs1's closed ones are inactive.
	var conns [2][2]uint32
	for deadline := time.Now().Add(10 * time.Second); ; {
		tab, err := l.n.Dump(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for i, d := range tab[0].Destinations {
			conns[i] = [2]uint32{d.ActiveConns, d.InactiveConns}
		}
		if conns[0][0] == 0 && conns[1][0] == 1 && conns[0][1] >= 20 || time.Now().After(deadline) {
			held.SetDeadline(time.Now().Add(10 * time.Second))
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if conns[0][0] != 0 || conns[1][0] != 1 || conns[0][1] < 20 {
		t.Errorf("active/inactive connections rs1 %d/%d, rs2 %d/%d; want rs1 0/at least 20 (closed), rs2 1 (held)/any",
			conns[0][0], conns[0][1], conns[1][0], conns[1][1])
	}
	for i := range 3 {
		msg := fmt.Sprintf("still here %d\n", i)
		if _, err := io.WriteString(held, msg); err != nil {
			t.Fatalf("established connection to the quiesced server: write: %v", err)
		}
		if echo, err := heldR.ReadString('\n'); err != nil || echo != msg {
			t.Fatalf("established connection to the quiesced server: read %q, %v", echo, err)
		}
	}

	// A transaction the kernel refuses changes nothing that serves.
	bad, err := OpenNFTables(NFTablesConfig{Netns: l.dir.NsHandle(), inject: injectBrokenRule})
	if err != nil {
		t.Fatal(err)
	}
	defer bad.Close()
	broken := l.svc
	broken.Destinations = []Destination{l.svc.Destinations[0], l.svc.Destinations[1]}
	broken.Destinations[1].Weight = 1
	if _, err := Sync(ctx, bad, []Service{broken}); err == nil {
		t.Fatal("Sync with a broken rule succeeded")
	}
	if got := count(t, l.client, l.addr, 20); got["rs1"] != 20 {
		t.Errorf("after a refused transaction, 20 connections went %v, want all to rs1 as before", got)
	}

	// Persistence: rr between both, one client sticks to one server.
	l.svc.Destinations[1].Weight = 1
	l.svc.Scheduler = "rr"
	l.svc.PersistenceTimeout = time.Minute
	if _, err := Sync(ctx, l.n, []Service{l.svc}); err != nil {
		t.Fatal(err)
	}
	got = count(t, l.client, l.addr, 20)
	if len(got) != 1 {
		t.Errorf("with persistence, 20 connections from one client went %v, want one server", got)
	}
	l.svc.PersistenceTimeout = 0
	if _, err := Sync(ctx, l.n, []Service{l.svc}); err != nil {
		t.Fatal(err)
	}
	if got := count(t, l.client, l.addr, 20); got["rs1"] != 10 || got["rs2"] != 10 {
		t.Errorf("rr without persistence: 20 connections went %v, want 10 each", got)
	}
}

// TestIntegrationNFTablesDRLocalClient: a client on the director itself
// reaches a DR service through output_dr (wrr 3:1 over 8 connections),
// with its route to the VIP pointing at a gateway that does not exist, so
// only the duplicated packets can arrive. Once the VIP is one of the
// director's own addresses, a local client's packets to it stay on the
// director (the answer from a real server would be a martian there): the
// director's own stack refuses the connection.
func TestIntegrationNFTablesDRLocalClient(t *testing.T) {
	lab := netnstest.New(t)
	lan := lab.LAN("lan")
	dir := lab.Host("dir")
	lan.Connect(dir, "eth0", "10.0.0.1/24")
	dir.AddRoute("10.0.9.0/24", "10.0.0.254")
	vip := netip.MustParseAddr("10.0.9.100")
	var dests []Destination
	for i := range 2 {
		_, addr := drServer(t, lab, lan, i, vip)
		dests = append(dests, Destination{Addr: addr, Weight: int32(3 - 2*i), Forward: DirectRoute})
	}
	n := newNFT(t, dir, NFTablesConfig{})
	ctx := context.Background()
	svc := Service{Protocol: TCP, Addr: vip, Port: 80, Scheduler: "wrr", Destinations: dests}
	if _, err := Sync(ctx, n, []Service{svc}); err != nil {
		t.Fatal(err)
	}
	if got := count(t, dir, vip.String()+":80", 8); got["rs1"] != 6 || got["rs2"] != 2 {
		t.Errorf("8 connections from the director itself went %v, want rs1:6 rs2:2", got)
	}
	tab, err := n.Dump(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if c := [2]uint64{tab[0].Destinations[0].Stats.Connections, tab[0].Destinations[1].Stats.Connections}; c != [2]uint64{6, 2} {
		t.Errorf("connections counted %v, want [6 2]", c)
	}

	dir.AddAddr("lo", vip.String()+"/32")
	dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	c, err := dir.Dial(dctx, "tcp", vip.String()+":80")
	if err == nil {
		c.Close()
		t.Fatal("with the VIP local, a connection from the director reached a real server")
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("with the VIP local, the director's own connection: %v, want connection refused by its own stack", err)
	}
}

// TestIntegrationNFTablesDRPortReuse: a connection reset by the client
// marks its DR flow closing; a new connection from the same address and
// port is scheduled anew (rr: the other server) and counted, as IPVS
// does with conn_reuse_mode 1, instead of sticking to the old flow.
func TestIntegrationNFTablesDRPortReuse(t *testing.T) {
	l := drLab(t)
	l.svc.Scheduler = "rr"
	ctx := context.Background()
	if _, err := Sync(ctx, l.n, []Service{l.svc}); err != nil {
		t.Fatal(err)
	}
	dial := func() string {
		var c net.Conn
		err := l.client.Do(func() error {
			d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.IPv4(10, 0, 0, 2), Port: 40999},
				Control: func(_, _ string, rc syscall.RawConn) error {
					var serr error
					rc.Control(func(fd uintptr) { serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1) })
					return serr
				}}
			var err error
			c, err = d.DialContext(ctx, "tcp", l.addr)
			return err
		})
		if err != nil {
			t.Fatalf("dial from port 40999: %v", err)
		}
		defer func() {
			c.(*net.TCPConn).SetLinger(0) // RST: no TIME_WAIT on the client
			c.Close()
		}()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		name, err := bufio.NewReader(c).ReadString('\n')
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		return name[:len(name)-1]
	}
	first, second := dial(), dial()
	if first == second {
		t.Errorf("two connections from one port went to %s and %s; rr schedules the second anew, so to the other", first, second)
	}
	tab, err := l.n.Dump(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if c := tab[0].Stats.Connections; c != 2 {
		t.Errorf("%d connections counted, want 2", c)
	}
}

// TestIntegrationNFTablesNATCounters: a NAT destination's packet and byte
// counters count both directions of its connections (a known payload
// each way, within the headers' bounds), add up to the service's, and
// survive the connection's end: conntrack's entries flushed, the
// counters stay.
func TestIntegrationNFTablesNATCounters(t *testing.T) {
	l := natLab(t)
	ctx := context.Background()
	if _, err := Sync(ctx, l.n, []Service{l.svc}); err != nil {
		t.Fatal(err)
	}
	c, r, name := dialName(t, l.client, l.addr)
	payload := strings.Repeat("x", 4999) + "\n"
	if _, err := io.WriteString(c, payload); err != nil {
		t.Fatal(err)
	}
	if echo, err := r.ReadString('\n'); err != nil || echo != payload {
		c.Close()
		t.Fatalf("echo: %d bytes, %v", len(echo), err)
	}
	c.Close()
	used := map[string]int{"rs1": 0, "rs2": 1}[name]
	wantIn, wantOut := uint64(len(payload)), uint64(len(name)+1+len(payload))

	// dest reads the destinations' counters once the connection has
	// closed (the server's FIN answered).
	dest := func() ([]Destination, Stats) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			tab, err := l.n.Dump(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(tab) != 1 || len(tab[0].Destinations) != 2 {
				t.Fatalf("dump: %+v", tab)
			}
			if tab[0].Destinations[used].ActiveConns == 0 || time.Now().After(deadline) {
				return tab[0].Destinations, tab[0].Stats
			}
		}
	}
	check := func(when string, ds []Destination, total Stats) {
		t.Helper()
		st := ds[used].Stats
		// Each packet carries an IPv4 header and a TCP header, 40 to 80
		// bytes together, besides the payload.
		for _, c := range []struct {
			dir            string
			packets, bytes uint64
			payload        uint64
		}{{"in", st.PacketsIn, st.BytesIn, wantIn}, {"out", st.PacketsOut, st.BytesOut, wantOut}} {
			if c.packets < 3 || c.bytes < c.payload+40*c.packets || c.bytes > c.payload+80*c.packets {
				t.Errorf("%s: %s %s: %d packets, %d bytes; want at least 3 packets carrying %d bytes of payload",
					when, ds[used].Addr, c.dir, c.packets, c.bytes, c.payload)
			}
		}
		if o := ds[1-used].Stats; o.PacketsIn != 0 || o.BytesOut != 0 {
			t.Errorf("%s: %s, which had no connection, counted %+v", when, ds[1-used].Addr, o)
		}
		if total.PacketsIn != st.PacketsIn || total.BytesIn != st.BytesIn || total.PacketsOut != st.PacketsOut || total.BytesOut != st.BytesOut {
			t.Errorf("%s: service counters %+v, want its destinations' sum %+v", when, total, st)
		}
	}
	before, total := dest()
	t.Logf("%s: %+v", before[used].Addr, before[used].Stats)
	check("after the connection", before, total)

	// Conntrack forgets the connection; the counters stay.
	ct, err := conntrack.Dial(&netlink.Config{NetNS: int(l.dir.NsHandle())})
	if err != nil {
		t.Fatal(err)
	}
	defer ct.Close()
	if err := ct.Flush(); err != nil {
		t.Fatal(err)
	}
	after, total := dest()
	if n := after[used].ActiveConns + after[used].InactiveConns; n != 0 {
		t.Errorf("conntrack flushed: %s still has %d connections", after[used].Addr, n)
	}
	if a, b := after[used].Stats, before[used].Stats; a.PacketsIn < b.PacketsIn || a.BytesIn < b.BytesIn || a.PacketsOut < b.PacketsOut || a.BytesOut < b.BytesOut {
		t.Errorf("counters went back after conntrack forgot the connection: %+v, were %+v", a, b)
	}
	check("after conntrack forgot the connection", after, total)
}
