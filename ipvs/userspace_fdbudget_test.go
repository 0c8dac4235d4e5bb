package ipvs

import (
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// TestUserspaceFDBudgetMetrics: the userspace backend reports the proxy's
// descriptor budget and refusals, and NewCollector exports them: with a
// budget of 30 descriptors, the clients past MaxConnections are reset and
// counted under their service.
func TestUserspaceFDBudgetMetrics(t *testing.T) {
	verifyNoLeaks(t)
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		t.Fatal(err)
	}
	limit := int(rl.Cur)
	u, err := NewUserspace(UserspaceConfig{FDReserve: limit - 30})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { u.Close() })

	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		var open []net.Conn
		defer func() {
			for _, c := range open {
				c.Close()
			}
		}()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Write([]byte("hi"))
			open = append(open, c)
		}
	}()
	t.Cleanup(func() { ln.Close(); <-done })
	rs := ln.Addr().(*net.TCPAddr).AddrPort()
	lo := netip.MustParseAddr("127.0.0.1")
	svc := Service{Protocol: TCP, Addr: lo, Port: freeLoopbackPort(t), Scheduler: "rr",
		Destinations: []Destination{{Addr: rs.Addr(), Port: rs.Port(), Weight: 1, Forward: Masquerade}}}
	if _, err := Sync(context.Background(), u, []Service{svc}); err != nil {
		t.Fatal(err)
	}
	b := u.FDBudget()
	if b.Limit != limit || b.Reserve != limit-30 || b.MaxConnections < 1 || b.Refused != 0 {
		t.Fatalf("budget %+v: want limit %d, reserve %d, room for connections, nothing refused", b, limit, limit-30)
	}
	vip := netip.AddrPortFrom(lo, svc.Port).String()
	read := func() error {
		c, err := net.DialTimeout("tcp", vip, 10*time.Second)
		if err != nil {
			return err
		}
		t.Cleanup(func() { c.Close() })
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, err = io.ReadFull(c, make([]byte, 2))
		return err
	}
	for i := range b.MaxConnections {
		if err := read(); err != nil {
			t.Fatalf("connection %d of %d: %v", i, b.MaxConnections, err)
		}
	}
	const refused = 3
	for i := range refused {
		if err := read(); !errors.Is(err, syscall.ECONNRESET) && !errors.Is(err, io.EOF) {
			t.Fatalf("client %d past the budget: %v, want a reset", i, err)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for u.FDBudget().Refused != refused && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	b = u.FDBudget()
	if b.Refused != refused || b.RefusedByService[svc.Key()] != refused {
		t.Fatalf("budget %+v: want %d refused, all of %s", b, refused, svc.Key())
	}

	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(NewCollector(wrapped{u}, CollectorConfig{})) // found through Unwrap
	got := gatherValues(t, reg)
	for k, v := range map[string]float64{
		"lvskit_ipvs_proxy_fd_limit":                                    float64(limit),
		"lvskit_ipvs_proxy_fd_reserve":                                  float64(limit - 30),
		"lvskit_ipvs_proxy_fds":                                         float64(b.InUse),
		"lvskit_ipvs_proxy_refused_total service=" + svc.Key().String(): refused,
	} {
		if g, ok := got[k]; !ok || g != v {
			t.Errorf("%s = %v (present %v), want %v", k, g, ok, v)
		}
	}
}

// wrapped is a Backend that wraps another, as a director's counting
// wrapper does, and says so.
type wrapped struct{ Backend }

func (w wrapped) Unwrap() Backend { return w.Backend }
