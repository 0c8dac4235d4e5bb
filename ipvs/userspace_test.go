package ipvs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"
)

// verifyNoLeaks checks, after every cleanup of t (registered later, so
// run earlier), that t left no goroutines behind.
func verifyNoLeaks(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, ignore) })
}

func newUserspace(t *testing.T) *Userspace {
	t.Helper()
	u, err := NewUserspace(UserspaceConfig{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { u.Close() })
	return u
}

// freeLoopbackPort returns a loopback port that was free a moment ago.
func freeLoopbackPort(t *testing.T) uint16 {
	t.Helper()
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).AddrPort().Port()
}

func TestUserspaceRejectsUnsupported(t *testing.T) {
	verifyNoLeaks(t)
	lo := netip.MustParseAddr("127.0.0.1")
	port := freeLoopbackPort(t)
	tcp := Service{Protocol: TCP, Addr: lo, Port: port}
	dest := func(f Forward) Destination {
		return Destination{Addr: netip.MustParseAddr("127.0.0.2"), Port: 80, Weight: 1, Forward: f}
	}
	with := func(f func(*Service)) Service { s := tcp; f(&s); return s }
	tests := []struct {
		name string
		ops  []Op
	}{
		{"fwmark", []Op{{Kind: AddService, Service: Service{FWMark: 7, Family: Inet}}}},
		{"sctp", []Op{{Kind: AddService, Service: with(func(s *Service) { s.Protocol = SCTP })}}},
		{"port zero", []Op{{Kind: AddService, Service: with(func(s *Service) { s.Port = 0; s.PersistenceTimeout = time.Minute })}}},
		{"one-packet", []Op{{Kind: AddService, Service: with(func(s *Service) { s.Protocol = UDP; s.Flags = OnePacket })}}},
		{"flag-3", []Op{{Kind: AddService, Service: with(func(s *Service) { s.Flags = Sched3 })}}},
		{"sip pe", []Op{{Kind: AddService, Service: with(func(s *Service) { s.Protocol = UDP; s.PersistenceTimeout = time.Minute; s.PEName = "sip" })}}},
		{"twos", []Op{{Kind: AddService, Service: with(func(s *Service) { s.Scheduler = "twos" })}}},
		{"DR", []Op{{Kind: AddService, Service: tcp}, {Kind: AddDestination, Service: tcp, Destination: dest(DirectRoute)}}},
		{"TUN", []Op{{Kind: AddService, Service: tcp}, {Kind: AddDestination, Service: tcp, Destination: dest(Tunnel)}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			u := newUserspace(t)
			err := u.Apply(context.Background(), tc.ops)
			if !errors.Is(err, ErrNotSupported) {
				t.Fatalf("Apply = %v, want ErrNotSupported", err)
			}
			var ae *ApplyError
			if !errors.As(err, &ae) || ae.Index != len(tc.ops)-1 {
				t.Errorf("error %v does not name op %d", err, len(tc.ops)-1)
			}
			// Nothing was applied, not even the supported ops before it.
			if got, _ := u.Dump(context.Background()); len(got) != 0 {
				t.Errorf("table after a refused Apply: %v", got)
			}
		})
	}
}

func TestUserspaceErrors(t *testing.T) {
	verifyNoLeaks(t)
	u := newUserspace(t)
	ctx := context.Background()
	s := Service{Protocol: TCP, Addr: netip.MustParseAddr("127.0.0.1"), Port: freeLoopbackPort(t)}
	d := Destination{Addr: netip.MustParseAddr("127.0.0.1"), Port: 9, Weight: 1}
	if err := u.Apply(ctx, []Op{{Kind: AddService, Service: s}, {Kind: AddService, Service: s}}); !errors.Is(err, ErrExists) {
		t.Errorf("adding a service twice: %v, want ErrExists", err)
	}
	for _, op := range []Op{
		{Kind: DeleteDestination, Service: s, Destination: d},
		{Kind: UpdateDestination, Service: s, Destination: d},
		{Kind: DeleteService, Service: Service{Protocol: UDP, Addr: s.Addr, Port: s.Port}},
	} {
		if err := u.Apply(ctx, []Op{op}); !errors.Is(err, ErrNotFound) {
			t.Errorf("%s: %v, want ErrNotFound", op, err)
		}
	}
	if err := u.Apply(ctx, []Op{{Kind: AddDestination, Service: s, Destination: Destination{Addr: d.Addr, Weight: -1}}}); !errors.Is(err, ErrInvalid) {
		t.Errorf("negative weight: %v, want ErrInvalid", err)
	}
	// A port taken by someone else: the listen error comes back, the
	// table is unchanged.
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	busy := Service{Protocol: TCP, Addr: s.Addr, Port: l.Addr().(*net.TCPAddr).AddrPort().Port()}
	if err := u.Apply(ctx, []Op{{Kind: AddService, Service: busy}}); err == nil {
		t.Error("adding a service on a busy port succeeded")
	}
	if got, _ := u.Dump(ctx); len(got) != 1 {
		t.Errorf("table has %d services, want 1", len(got))
	}
	if err := u.Close(); err != nil {
		t.Fatal(err)
	}
	if err := u.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := u.Dump(ctx); err == nil {
		t.Error("Dump after Close succeeded")
	}
}

// TestUserspaceSyncAndTraffic programs the same table into the memory and
// userspace backends, checks that both report the same table, sends HTTP
// requests through the proxy to two real HTTP servers and reads the
// counters back through Dump.
func TestUserspaceSyncAndTraffic(t *testing.T) {
	verifyNoLeaks(t)
	var hits [2]atomic.Int64
	var servers [2]*httptest.Server
	for i := range servers {
		servers[i] = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			hits[i].Add(1)
			fmt.Fprintf(w, "server %d", i)
		}))
		defer servers[i].Close()
	}
	hostPort := func(s *httptest.Server) netip.AddrPort {
		return netip.MustParseAddrPort(s.Listener.Addr().String())
	}
	a, b := hostPort(servers[0]), hostPort(servers[1])
	want := []Service{{
		Protocol: TCP, Addr: netip.MustParseAddr("127.0.0.1"), Port: freeLoopbackPort(t), Scheduler: "wrr",
		Destinations: []Destination{
			{Addr: a.Addr(), Port: a.Port(), Weight: 3, UpperThreshold: 1000, LowerThreshold: 10},
			{Addr: b.Addr(), Port: b.Port(), Weight: 1},
		},
	}, {
		Protocol: UDP, Addr: netip.MustParseAddr("127.0.0.1"), Port: freeLoopbackPort(t), Scheduler: "sh",
		Flags: SHFallback | SHPort, PersistenceTimeout: 5 * time.Minute, PersistenceBits: 24,
	}}
	ctx := context.Background()
	u := newUserspace(t)
	m := NewMemory()
	for _, be := range []Backend{u, m} {
		if _, err := Sync(ctx, be, want); err != nil {
			t.Fatalf("%T: %v", be, err)
		}
	}
	ud, _ := u.Dump(ctx)
	md, _ := m.Dump(ctx)
	if diff := cmp.Diff(Canonical(md), Canonical(ud), addrCmp); diff != "" {
		t.Fatalf("userspace table differs from memory (-memory +userspace):\n%s", diff)
	}
	if ops, err := Sync(ctx, u, want); err != nil || len(ops) != 0 {
		t.Fatalf("second Sync: ops %v, err %v; want none", ops, err)
	}

	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	defer client.CloseIdleConnections()
	url := fmt.Sprintf("http://127.0.0.1:%d/", want[0].Port)
	var bodyBytes int64
	for range 40 {
		resp, err := client.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		n, _ := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		bodyBytes += n
	}
	if hits[0].Load() != 30 || hits[1].Load() != 10 {
		t.Errorf("wrr 3:1 over 40 requests: %d:%d, want 30:10", hits[0].Load(), hits[1].Load())
	}
	var got []Service
	deadline := time.Now().Add(10 * time.Second)
	for {
		got, _ = u.Dump(ctx)
		d := got[0].Destinations
		if d[0].ActiveConns+d[0].InactiveConns+d[1].ActiveConns+d[1].InactiveConns == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	s := got[0]
	if s.Stats.Connections != 40 || s.Destinations[0].Stats.Connections != 30 || s.Destinations[1].Stats.Connections != 10 {
		t.Errorf("connections: service %d, dests %d and %d; want 40, 30, 10",
			s.Stats.Connections, s.Destinations[0].Stats.Connections, s.Destinations[1].Stats.Connections)
	}
	if s.Stats.BytesOut < uint64(bodyBytes) || s.Stats.BytesIn == 0 {
		t.Errorf("bytes in %d out %d; the bodies alone were %d bytes", s.Stats.BytesIn, s.Stats.BytesOut, bodyBytes)
	}
	if d := s.Destinations[0]; d.ActiveConns != 0 || d.InactiveConns != 0 {
		t.Errorf("counters after all connections closed: %d active, %d inactive", d.ActiveConns, d.InactiveConns)
	}

	// Weight 0 through Sync: new requests all go to the other server.
	want[0].Destinations[0].Weight = 0
	if _, err := Sync(ctx, u, want); err != nil {
		t.Fatal(err)
	}
	for range 5 {
		resp, err := client.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	if hits[0].Load() != 30 || hits[1].Load() != 15 {
		t.Errorf("after weight 0: %d:%d, want 30:15", hits[0].Load(), hits[1].Load())
	}
	// Removing everything closes the listeners.
	if _, err := Sync(ctx, u, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := client.Get(url); err == nil {
		t.Error("request succeeded after the service was removed")
	}
}

// loopbackTables rewrites random tables (from table_test.go) into what the
// userspace backend supports, on loopback addresses and free ports: no
// fwmark or SCTP services, NAT destinations of the service's family, no
// one-packet, flag-3 or persistence engine. The mapping of service keys to
// ports is kept across calls, so consecutive tables share services.
type loopbackTables struct {
	t     *testing.T
	ports map[ServiceKey]netip.AddrPort
}

func (l *loopbackTables) addr(k ServiceKey) netip.AddrPort {
	if a, ok := l.ports[k]; ok {
		return a
	}
	network, host := "tcp", "127.0.0.1:0"
	if k.Family == Inet6 {
		host = "[::1]:0"
	}
	var a netip.AddrPort
	if k.Protocol == UDP {
		network = "udp"
		c, err := net.ListenPacket(network, host)
		if err != nil {
			l.t.Fatal(err)
		}
		a = c.LocalAddr().(*net.UDPAddr).AddrPort()
		c.Close()
	} else {
		c, err := net.Listen(network, host)
		if err != nil {
			l.t.Fatal(err)
		}
		a = c.Addr().(*net.TCPAddr).AddrPort()
		c.Close()
	}
	l.ports[k] = a
	return a
}

func (l *loopbackTables) convert(in []Service) []Service {
	out := fitCapabilities(userspaceCapabilities(), in)
	for i := range out {
		a := l.addr(out[i].Key())
		out[i].Addr, out[i].Port = a.Addr(), a.Port()
		out[i].Flags &^= Sched3 // the proxy refuses the unused third flag
	}
	return out
}

// TestUserspaceMatchesMemory syncs a sequence of random tables into the
// memory and the userspace backends and checks that both report the same
// table after every step, and that syncing again writes nothing.
func TestUserspaceMatchesMemory(t *testing.T) {
	verifyNoLeaks(t)
	ctx := context.Background()
	u := newUserspace(t)
	m := NewMemory()
	l := &loopbackTables{t: t, ports: map[ServiceKey]netip.AddrPort{}}
	r := newRand(6)
	var services, dests int
	defer func() {
		t.Logf("%d services, %d destinations synced over 40 steps", services, dests)
		if services < 20 || dests < 20 {
			t.Errorf("random tables too thin to show anything: %d services, %d destinations", services, dests)
		}
	}()
	for step := range 40 {
		want := l.convert(randomTable(r))
		for _, s := range want {
			services++
			dests += len(s.Destinations)
		}
		for _, be := range []Backend{m, u} {
			if _, err := Sync(ctx, be, want); err != nil {
				t.Fatalf("step %d: %T: %v\n%s", step, be, err, describe(want))
			}
		}
		ud, err := u.Dump(ctx)
		if err != nil {
			t.Fatal(err)
		}
		md, _ := m.Dump(ctx)
		if diff := cmp.Diff(Canonical(md), Canonical(ud), addrCmp); diff != "" {
			t.Fatalf("step %d: tables differ (-memory +userspace):\n%s", step, diff)
		}
		if ops, err := Sync(ctx, u, want); err != nil || len(ops) != 0 {
			t.Fatalf("step %d: repeated Sync: %v, %v", step, ops, err)
		}
	}
}

// The userspace backend serves NAT-style services from this process; what
// only the kernel can do is refused before anything changes.
func ExampleNewUserspace() {
	u, err := NewUserspace(UserspaceConfig{})
	if err != nil {
		panic(err)
	}
	defer u.Close()
	vip := Service{Protocol: TCP, Addr: netip.MustParseAddr("192.0.2.80"), Port: 80, Scheduler: "wrr"}
	err = u.Apply(context.Background(), []Op{
		{Kind: AddService, Service: vip},
		{Kind: AddDestination, Service: vip, Destination: Destination{
			Addr: netip.MustParseAddr("192.168.0.1"), Weight: 1, Forward: DirectRoute,
		}},
	})
	fmt.Println(errors.Is(err, ErrNotSupported))
	table, _ := u.Dump(context.Background())
	fmt.Println(len(table), "services")
	// Output:
	// true
	// 0 services
}

// TestUserspaceTimeouts: the userspace backend keeps ipvsadm --set's
// timeouts as the kernel does: the kernel's defaults, whole seconds, zero
// fields unchanged, and a bad value changes nothing.
func TestUserspaceTimeouts(t *testing.T) {
	u := newUserspace(t)
	ctx := context.Background()
	get := func() Timeouts {
		t.Helper()
		to, err := u.Timeouts(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return to
	}
	if to := get(); to != (Timeouts{TCP: 900 * time.Second, TCPFin: 120 * time.Second, UDP: 300 * time.Second}) {
		t.Errorf("defaults %+v, want the kernel's 900 120 300", to)
	}
	if err := u.SetTimeouts(ctx, Timeouts{TCP: 901 * time.Second, TCPFin: 121 * time.Second, UDP: 301 * time.Second}); err != nil {
		t.Fatal(err)
	}
	if err := u.SetTimeouts(ctx, Timeouts{UDP: 200 * time.Second}); err != nil {
		t.Fatal(err)
	}
	want := Timeouts{TCP: 901 * time.Second, TCPFin: 121 * time.Second, UDP: 200 * time.Second}
	if to := get(); to != want {
		t.Errorf("after two sets %+v, want %+v", to, want)
	}
	for _, bad := range []Timeouts{{TCP: 1500 * time.Millisecond}, {TCPFin: -time.Second}, {UDP: 10 * time.Second, TCP: time.Millisecond}} {
		if err := u.SetTimeouts(ctx, bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("SetTimeouts(%+v) = %v, want ErrInvalid", bad, err)
		}
	}
	if to := get(); to != want {
		t.Errorf("after refused sets %+v, want %+v unchanged", to, want)
	}
}
