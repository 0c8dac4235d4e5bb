package proxy

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lvskit/lvskit/clock/clocktest"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// backendMode says what a test real server does with a connection.
type backendMode int

const (
	// modeEcho writes "name\n", echoes until EOF, then closes.
	modeEcho backendMode = iota
	// modeCollect writes "name\n", reads until EOF, then writes
	// "got N" and closes: a response after the client's half-close.
	modeCollect
	// modeHold writes "name\n", reads until EOF, then holds the
	// connection open until the test ends.
	modeHold
	// modeProxyHeader reads a PROXY v2 header, writes what it decoded as
	// "src dst\n", then echoes.
	modeProxyHeader
)

type backend struct {
	name string
	addr netip.AddrPort
	ln   net.Listener
	wg   sync.WaitGroup
	mu   sync.Mutex
	open map[net.Conn]struct{}
	stop chan struct{}
}

// startBackend runs a TCP real server on a free loopback port.
func startBackend(t testing.TB, name string, mode backendMode) *backend {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &backend{name: name, ln: ln, addr: ln.Addr().(*net.TCPAddr).AddrPort(), open: map[net.Conn]struct{}{}, stop: make(chan struct{})}
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			b.mu.Lock()
			b.open[c] = struct{}{}
			b.mu.Unlock()
			b.wg.Add(1)
			go func() {
				defer b.wg.Done()
				defer func() {
					b.mu.Lock()
					delete(b.open, c)
					b.mu.Unlock()
					c.Close()
				}()
				b.serve(c, mode)
			}()
		}
	}()
	t.Cleanup(b.close)
	return b
}

func (b *backend) serve(c net.Conn, mode backendMode) {
	switch mode {
	case modeEcho:
		fmt.Fprintf(c, "%s\n", b.name)
		io.Copy(c, c)
	case modeCollect:
		fmt.Fprintf(c, "%s\n", b.name)
		n, _ := io.Copy(io.Discard, c)
		fmt.Fprintf(c, "got %d", n)
	case modeHold:
		fmt.Fprintf(c, "%s\n", b.name)
		io.Copy(io.Discard, c)
		<-b.stop
	case modeProxyHeader:
		src, dst, err := decodeProxyV2(c)
		if err != nil {
			fmt.Fprintf(c, "error %v\n", err)
			return
		}
		fmt.Fprintf(c, "%s %s\n", src, dst)
		io.Copy(c, c)
	}
}

func (b *backend) close() {
	b.ln.Close()
	select {
	case <-b.stop:
	default:
		close(b.stop)
	}
	b.mu.Lock()
	for c := range b.open {
		c.Close()
	}
	b.mu.Unlock()
	b.wg.Wait()
}

// newProxy returns a proxy closed at the end of the test.
func newProxy(t testing.TB, cfg Config) *Proxy {
	t.Helper()
	if *copyGoroutines {
		cfg.CopyGoroutines = true
	}
	p := New(cfg)
	t.Cleanup(func() { p.Close() })
	return p
}

// freePort returns a loopback TCP (or UDP) port that was free a moment ago.
func freePort(t testing.TB, udp bool) netip.AddrPort {
	t.Helper()
	if udp {
		c, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.LocalAddr().(*net.UDPAddr).AddrPort()
	}
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).AddrPort()
}

// addService adds a TCP service on a free loopback port with the backends.
func addService(t testing.TB, p *Proxy, c ServiceConfig, weights map[*backend]int, order ...*backend) ServiceKey {
	t.Helper()
	if c.Protocol == 0 {
		c.Protocol = TCP
	}
	if !c.Addr.IsValid() {
		c.Addr = freePort(t, c.Protocol == UDP)
	}
	if err := p.AddService(c); err != nil {
		t.Fatal(err)
	}
	for _, b := range order {
		if err := p.AddDest(c.Key(), DestConfig{Addr: b.addr, Weight: weights[b]}); err != nil {
			t.Fatal(err)
		}
	}
	return c.Key()
}

// conn is a client connection through the proxy.
type conn struct {
	*net.TCPConn
	r    *bufio.Reader
	name string // the backend's first line
}

func dialVia(t testing.TB, k ServiceKey, from string) *conn {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second}
	if from != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(from)}
	}
	c, err := d.Dial("tcp", k.Addr.String())
	if err != nil {
		t.Fatal(err)
	}
	tc := &conn{TCPConn: c.(*net.TCPConn), r: bufio.NewReader(c)}
	t.Cleanup(func() { tc.Close() })
	tc.SetDeadline(time.Now().Add(10 * time.Second))
	line, err := tc.r.ReadString('\n')
	if err != nil {
		t.Fatalf("read backend name through proxy: %v", err)
	}
	tc.name = strings.TrimSpace(line)
	return tc
}

// echo sends msg and reads it back.
func (c *conn) echo(t testing.TB, msg string) {
	t.Helper()
	if _, err := c.Write([]byte(msg)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, len(msg))
	if _, err := io.ReadFull(c.r, buf); err != nil {
		t.Fatalf("echo: %v", err)
	}
	if string(buf) != msg {
		t.Fatalf("echo: got %q, want %q", buf, msg)
	}
}

// eventually polls cond until it holds or 10 s pass (a bound on waiting,
// not a timing assertion).
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// fakeClock returns a manual clock for a proxy's timeouts: nothing times
// out until the test advances it.
func fakeClock() *clocktest.Clock { return clocktest.New(time.Unix(1_000_000, 0)) }

// advanceUntil advances clk by step until cond holds, for at most 10 s of
// the wall clock (a bound on waiting, not a timing assertion). The proxy
// arms a timer when a connection reaches a state, which the test may see
// a moment before: advancing again reaches a timer armed after an
// earlier step.
func advanceUntil(t testing.TB, clk *clocktest.Clock, step time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out advancing the clock until %s", what)
		}
		clk.Advance(step)
		time.Sleep(5 * time.Millisecond)
	}
}

// advanceUntilRecv advances clk by step until ch yields a value, as
// advanceUntil does, and returns the value.
func advanceUntilRecv[T any](t testing.TB, clk *clocktest.Clock, step time.Duration, what string, ch <-chan T) T {
	t.Helper()
	var v T
	advanceUntil(t, clk, step, what, func() bool {
		select {
		case v = <-ch:
			return true
		default:
			return false
		}
	})
	return v
}

func destStatus(t testing.TB, p *Proxy, k ServiceKey, addr netip.AddrPort) DestStatus {
	t.Helper()
	for _, s := range p.Services() {
		if s.Config.Key() != k {
			continue
		}
		for _, d := range s.Dests {
			if d.Config.Addr == addr {
				return d
			}
		}
	}
	t.Fatalf("destination %s of %s not found", addr, k)
	return DestStatus{}
}

func serviceStatus(t testing.TB, p *Proxy, k ServiceKey) ServiceStatus {
	t.Helper()
	for _, s := range p.Services() {
		if s.Config.Key() == k {
			return s
		}
	}
	t.Fatalf("service %s not found", k)
	return ServiceStatus{}
}

func countFDs(t testing.TB) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// decodeProxyV2 is a PROXY protocol v2 decoder written from the spec
// (haproxy's doc/proxy-protocol.txt, section 2.2), independent of the
// encoder: it checks the signature, version, command, family and length.
func decodeProxyV2(r io.Reader) (src, dst netip.AddrPort, err error) {
	var hdr [16]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return src, dst, err
	}
	if string(hdr[:12]) != "\r\n\r\n\x00\r\nQUIT\n" {
		return src, dst, errors.New("bad signature")
	}
	if hdr[12]>>4 != 2 {
		return src, dst, fmt.Errorf("version %d", hdr[12]>>4)
	}
	cmd := hdr[12] & 0xf
	n := int(hdr[14])<<8 | int(hdr[15])
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		return src, dst, err
	}
	if cmd == 0 {
		return src, dst, nil // LOCAL
	}
	if cmd != 1 {
		return src, dst, fmt.Errorf("command %d", cmd)
	}
	port := func(b []byte) uint16 { return uint16(b[0])<<8 | uint16(b[1]) }
	switch hdr[13] {
	case 0x11, 0x12: // TCP or UDP over IPv4
		if n < 12 {
			return src, dst, fmt.Errorf("length %d for IPv4", n)
		}
		src = netip.AddrPortFrom(netip.AddrFrom4([4]byte(body[0:4])), port(body[8:10]))
		dst = netip.AddrPortFrom(netip.AddrFrom4([4]byte(body[4:8])), port(body[10:12]))
	case 0x21, 0x22:
		if n < 36 {
			return src, dst, fmt.Errorf("length %d for IPv6", n)
		}
		src = netip.AddrPortFrom(netip.AddrFrom16([16]byte(body[0:16])), port(body[32:34]))
		dst = netip.AddrPortFrom(netip.AddrFrom16([16]byte(body[16:32])), port(body[34:36]))
	default:
		return src, dst, fmt.Errorf("family/transport %#x", hdr[13])
	}
	return src, dst, nil
}

var _ = context.Background
