package proxy

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

var copyGoroutines = flag.Bool("proxy.goroutines", false, "run every test on the goroutine data path instead of the event loops")

// dataPaths are the TCP data paths the edge-case tests run on: the event
// loops as configured by default, the event loops that always park in
// Go's poller (as on kernels without epoll_pwait2), and goroutines.
var dataPaths = []struct {
	name string
	cfg  Config
}{
	{"event-loops", Config{}},
	{"event-loops-poller-only", Config{BusyWait: -1}},
	{"goroutines", Config{CopyGoroutines: true}},
}

// forEachPath runs f once per TCP data path.
func forEachPath(t *testing.T, f func(t *testing.T, cfg Config)) {
	for _, dp := range dataPaths {
		t.Run(dp.name, func(t *testing.T) { f(t, dp.cfg) })
	}
}

// TestEventLoopsAreDefault checks the proxy really runs its TCP services
// on the event loops unless told otherwise (on this kernel splice works).
func TestEventLoopsAreDefault(t *testing.T) {
	if *copyGoroutines {
		t.Skip("-proxy.goroutines")
	}
	a := startBackend(t, "a", modeEcho)
	p := newProxy(t, Config{})
	k := addService(t, p, ServiceConfig{}, map[*backend]int{a: 1}, a)
	dialVia(t, k, "").echo(t, "x")
	s, err := p.service(k)
	if err != nil {
		t.Fatal(err)
	}
	if s.rl == nil || s.ln != nil || p.loops == nil || len(p.loops.loops) != p.cfg.Workers {
		t.Errorf("service not on the event loops: rl=%v ln=%v loops=%v", s.rl, s.ln, p.loops)
	}
}

// rawServer is a one-shot real server whose handler the test writes.
func rawServer(t *testing.T, handle func(c *net.TCPConn)) netip.AddrPort {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				c.SetDeadline(time.Now().Add(20 * time.Second))
				handle(c.(*net.TCPConn))
			}()
		}
	}()
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	return ln.Addr().(*net.TCPAddr).AddrPort()
}

func singleService(t *testing.T, p *Proxy, dest netip.AddrPort) ServiceKey {
	t.Helper()
	k := addService(t, p, ServiceConfig{}, nil)
	if err := p.AddDest(k, DestConfig{Addr: dest, Weight: 1}); err != nil {
		t.Fatal(err)
	}
	return k
}

func dialRaw(t *testing.T, k ServiceKey) *net.TCPConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", k.Addr.String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(20 * time.Second))
	return c.(*net.TCPConn)
}

func waitReleased(t *testing.T, p *Proxy, k ServiceKey) {
	t.Helper()
	eventually(t, "connections released", func() bool {
		for _, d := range serviceStatus(t, p, k).Dests {
			if d.ActiveConns+d.InactiveConns != 0 {
				return false
			}
		}
		return true
	})
}

// TestServerHalfClosesFirst: the server sends its answer and FIN, then
// keeps reading what the client still sends; the client sees EOF and can
// go on writing; the server gets every byte and the client's FIN.
func TestServerHalfClosesFirst(t *testing.T) {
	forEachPath(t, func(t *testing.T, cfg Config) {
		got := make(chan string, 1)
		srv := rawServer(t, func(c *net.TCPConn) {
			c.Write([]byte("answer"))
			c.CloseWrite()
			b, err := io.ReadAll(c)
			if err != nil {
				got <- "error: " + err.Error()
				return
			}
			got <- string(b)
		})
		p := newProxy(t, cfg)
		k := singleService(t, p, srv)
		c := dialRaw(t, k)
		b, err := io.ReadAll(c) // the server's FIN arrives as EOF
		if err != nil || string(b) != "answer" {
			t.Fatalf("client read %q, %v; want \"answer\", EOF", b, err)
		}
		eventually(t, "inactive after the server's FIN", func() bool {
			d := serviceStatus(t, p, k).Dests[0]
			return d.ActiveConns == 0 && d.InactiveConns == 1
		})
		msg := bytes.Repeat([]byte("late words "), 50000) // more than a pipe
		if _, err := c.Write(msg); err != nil {
			t.Fatalf("write after the server's FIN: %v", err)
		}
		c.CloseWrite()
		if s := <-got; s != string(msg) {
			t.Errorf("server got %d bytes (%.40q), want %d", len(s), s, len(msg))
		}
		waitReleased(t, p, k)
		st := serviceStatus(t, p, k).Stats
		if st.BytesIn != uint64(len(msg)) || st.BytesOut != 6 {
			t.Errorf("bytes in/out = %d/%d, want %d/6", st.BytesIn, st.BytesOut, len(msg))
		}
	})
}

// TestBackpressureSlowReaderIntegrity: 16 MiB of random bytes through an
// echo server to a client that starts reading late and then reads in small
// pieces; both pipes fill, the proxy must stop reading and resume, and
// the bytes that come back must hash the same.
func TestBackpressureSlowReaderIntegrity(t *testing.T) {
	forEachPath(t, func(t *testing.T, cfg Config) {
		a := startBackend(t, "a", modeEcho)
		p := newProxy(t, cfg)
		k := addService(t, p, ServiceConfig{}, map[*backend]int{a: 1}, a)
		c := dialVia(t, k, "")
		c.SetDeadline(time.Now().Add(60 * time.Second))
		data := make([]byte, 16<<20)
		rand.Read(data)
		werr := make(chan error, 1)
		go func() {
			_, err := c.Write(data)
			if err == nil {
				err = c.CloseWrite()
			}
			werr <- err
		}()
		time.Sleep(300 * time.Millisecond) // let every buffer on the way fill
		h := sha256.New()
		buf := make([]byte, 1500)
		var n int64
		for i := 0; ; i++ {
			m, err := c.r.Read(buf)
			h.Write(buf[:m])
			n += int64(m)
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("read after %d bytes: %v", n, err)
			}
			if i%2000 == 0 {
				time.Sleep(time.Millisecond) // a slow reader, now and then
			}
		}
		if err := <-werr; err != nil {
			t.Fatal(err)
		}
		if n != int64(len(data)) || !bytes.Equal(h.Sum(nil), sha256Of(data)) {
			t.Fatalf("echoed %d bytes, hash match %v; want %d", n, bytes.Equal(h.Sum(nil), sha256Of(data)), len(data))
		}
		waitReleased(t, p, k)
		st := serviceStatus(t, p, k).Stats
		if st.BytesIn != uint64(len(data)) || st.BytesOut != uint64(len(data))+2 {
			t.Errorf("bytes in/out = %d/%d, want %d/%d", st.BytesIn, st.BytesOut, len(data), len(data)+2)
		}
	})
}

func sha256Of(b []byte) []byte { s := sha256.Sum256(b); return s[:] }

// TestLargeTransferChecksum: 64 MiB each way at full speed, checked by
// SHA-256 at the server and at the client.
func TestLargeTransferChecksum(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	forEachPath(t, func(t *testing.T, cfg Config) {
		const size = 64 << 20
		serverSum := make(chan []byte, 1)
		srv := rawServer(t, func(c *net.TCPConn) {
			// Send our own stream while hashing the client's.
			done := make(chan struct{})
			go func() {
				defer close(done)
				io.Copy(c, io.LimitReader(newPattern(2), size))
				c.CloseWrite()
			}()
			h := sha256.New()
			io.Copy(h, c)
			<-done
			serverSum <- h.Sum(nil)
		})
		p := newProxy(t, cfg)
		k := singleService(t, p, srv)
		c := dialRaw(t, k)
		c.SetDeadline(time.Now().Add(60 * time.Second))
		go func() {
			io.Copy(c, io.LimitReader(newPattern(1), size))
			c.CloseWrite()
		}()
		h := sha256.New()
		n, err := io.Copy(h, c)
		if err != nil || n != size {
			t.Fatalf("client received %d bytes, %v; want %d", n, err, size)
		}
		want1, want2 := patternSum(1, size), patternSum(2, size)
		if !bytes.Equal(h.Sum(nil), want2) {
			t.Error("server-to-client stream corrupted")
		}
		if got := <-serverSum; !bytes.Equal(got, want1) {
			t.Error("client-to-server stream corrupted")
		}
		waitReleased(t, p, k)
	})
}

// pattern is a deterministic pseudo-random stream (xorshift), so both
// ends can hash it without keeping 64 MiB around.
type pattern struct{ s uint64 }

func newPattern(seed uint64) *pattern { return &pattern{s: seed*0x9e3779b97f4a7c15 | 1} }

func (p *pattern) Read(b []byte) (int, error) {
	for i := range b {
		p.s ^= p.s << 13
		p.s ^= p.s >> 7
		p.s ^= p.s << 17
		b[i] = byte(p.s >> 32)
	}
	return len(b), nil
}

func patternSum(seed uint64, n int64) []byte {
	h := sha256.New()
	io.Copy(h, io.LimitReader(newPattern(seed), n))
	return h.Sum(nil)
}

// TestBackendResetReachesClient: a server that resets the connection makes
// the proxy reset the client's too, as IPVS passes the RST on, rather than
// a FIN the client would take for a complete answer.
func TestBackendResetReachesClient(t *testing.T) {
	forEachPath(t, func(t *testing.T, cfg Config) {
		srv := rawServer(t, func(c *net.TCPConn) {
			c.Write([]byte("partial"))
			buf := make([]byte, 1)
			c.Read(buf) // wait for the client's go-ahead
			c.SetLinger(0)
			c.Close()
		})
		p := newProxy(t, cfg)
		k := singleService(t, p, srv)
		c := dialRaw(t, k)
		buf := make([]byte, 7)
		if _, err := io.ReadFull(c, buf); err != nil {
			t.Fatal(err)
		}
		c.Write([]byte("g"))
		_, err := io.ReadAll(c)
		if !errors.Is(err, syscall.ECONNRESET) {
			t.Errorf("client read after the server's reset: %v, want ECONNRESET", err)
		}
		waitReleased(t, p, k)
	})
}

// TestClientResetReachesServer: the other way round.
func TestClientResetReachesServer(t *testing.T) {
	forEachPath(t, func(t *testing.T, cfg Config) {
		got := make(chan error, 1)
		srv := rawServer(t, func(c *net.TCPConn) {
			c.Write([]byte("hi"))
			_, err := io.ReadAll(c)
			got <- err
		})
		p := newProxy(t, cfg)
		k := singleService(t, p, srv)
		c := dialRaw(t, k)
		buf := make([]byte, 2)
		if _, err := io.ReadFull(c, buf); err != nil {
			t.Fatal(err)
		}
		c.SetLinger(0)
		c.Close()
		if err := <-got; !errors.Is(err, syscall.ECONNRESET) {
			t.Errorf("server read after the client's reset: %v, want ECONNRESET", err)
		}
		waitReleased(t, p, k)
	})
}

// TestManyConcurrentConnections: 400 connections open at once, each
// echoing its own message, all counted active, then all released.
func TestManyConcurrentConnections(t *testing.T) {
	forEachPath(t, func(t *testing.T, cfg Config) {
		const n = 400
		a, b := startBackend(t, "a", modeEcho), startBackend(t, "b", modeEcho)
		p := newProxy(t, cfg)
		k := addService(t, p, ServiceConfig{Scheduler: "rr"}, map[*backend]int{a: 1, b: 1}, a, b)
		conns := make([]*conn, n)
		for i := range conns {
			conns[i] = dialVia(t, k, "")
		}
		st := serviceStatus(t, p, k)
		if got := st.Dests[0].ActiveConns + st.Dests[1].ActiveConns; got != n {
			t.Errorf("active connections = %d, want %d", got, n)
		}
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for i, c := range conns {
			wg.Add(1)
			go func() {
				defer wg.Done()
				msg := fmt.Sprintf("message %d ", i)
				c.Write([]byte(msg))
				buf := make([]byte, len(msg))
				if _, err := io.ReadFull(c.r, buf); err != nil || string(buf) != msg {
					errs <- fmt.Errorf("connection %d: %q, %v", i, buf, err)
				}
				c.Close()
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		waitReleased(t, p, k)
	})
}

// TestDialTimeout: a real server whose accept queue is full drops the
// proxy's SYNs; after DialTimeout the client is reset and the connection
// released.
func TestDialTimeout(t *testing.T) {
	forEachPath(t, func(t *testing.T, cfg Config) {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { unix.Close(fd) })
		if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
			t.Fatal(err)
		}
		if err := unix.Listen(fd, 0); err != nil {
			t.Fatal(err)
		}
		sa, _ := unix.Getsockname(fd)
		full := netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), uint16(sa.(*unix.SockaddrInet4).Port))
		// Fill the accept queue (backlog 0 holds one) and then some.
		for range 2 {
			d := net.Dialer{Timeout: 300 * time.Millisecond}
			if c, err := d.Dial("tcp4", full.String()); err == nil {
				t.Cleanup(func() { c.Close() })
			}
		}
		clk := fakeClock()
		cfg.Clock = clk
		p := newProxy(t, cfg)
		k := singleService(t, p, full)
		c := dialRaw(t, k)
		readEnd := make(chan error, 1)
		go func() {
			_, err := io.ReadAll(c)
			readEnd <- err
		}()
		err = advanceUntilRecv(t, clk, time.Second, "the client is reset", readEnd)
		if !errors.Is(err, syscall.ECONNRESET) {
			t.Errorf("client read while the server never answers: %v, want ECONNRESET after the dial timeout", err)
		}
		waitReleased(t, p, k)
	})
}

// TestCloseWithOpenConnections: Proxy.Close ends connections in every
// state (connecting, established, half-closed) and leaves no goroutine
// (goleak in TestMain) or descriptor behind.
func TestCloseWithOpenConnections(t *testing.T) {
	forEachPath(t, func(t *testing.T, cfg Config) {
		before := countFDs(t)
		func() {
			a := startBackend(t, "a", modeHold)
			cfg.FinTimeout = time.Hour
			p := New(cfg)
			defer p.Close()
			k := addService(t, p, ServiceConfig{}, map[*backend]int{a: 1}, a)
			var cs []*conn
			for i := range 10 {
				c := dialVia(t, k, "")
				if i%2 == 0 {
					c.CloseWrite()
				}
				cs = append(cs, c)
			}
			p.Close()
			for _, c := range cs {
				c.SetReadDeadline(time.Now().Add(10 * time.Second))
				if _, err := io.ReadAll(c.r); err != nil && !isReset(err) {
					t.Errorf("after Close: %v", err)
				}
				c.Close()
			}
			a.close()
		}()
		if after := countFDs(t); after > before {
			t.Errorf("file descriptors: %d before, %d after", before, after)
		}
	})
}

// TestUnspecifiedServiceAddress: a service bound to 0.0.0.0 learns the
// address each client reached (here 127.0.0.9) and puts it in the PROXY
// header as the destination.
func TestUnspecifiedServiceAddress(t *testing.T) {
	forEachPath(t, func(t *testing.T, cfg Config) {
		a := startBackend(t, "a", modeProxyHeader)
		p := newProxy(t, cfg)
		// A wildcard bind conflicts with any connection that has the
		// port as its source port (earlier tests leave thousands in
		// TIME_WAIT), so try ports below the ephemeral range.
		var port uint16
		var err error
		for i := range 50 {
			port = uint16(20000 + (os.Getpid()*7919+i*104729)%12000)
			c := ServiceConfig{Protocol: TCP, Addr: netip.AddrPortFrom(netip.IPv4Unspecified(), port), ProxyProtocol: true}
			if err = p.AddService(c); err == nil {
				err = p.AddDest(c.Key(), DestConfig{Addr: a.addr, Weight: 1})
				break
			}
		}
		if err != nil {
			t.Fatal(err)
		}
		reached := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.9"), port)
		c := dialVia(t, ServiceKey{Protocol: TCP, Addr: reached}, "127.0.0.3")
		if want := fmt.Sprintf("%s %s", c.LocalAddr(), reached); c.name != want {
			t.Errorf("server decoded %q, want %q", c.name, want)
		}
		c.echo(t, "x")
	})
}

// idleTimeoutServer answers a connection by its first byte: 'i' sends
// nothing and reports how the read ended; 't' sends a '.' each time the
// test ticks, in one direction only, then "done" and its FIN when ticks
// is closed.
func idleTimeoutServer(t *testing.T, idleEnd chan<- error, ticks <-chan struct{}) netip.AddrPort {
	return rawServer(t, func(c *net.TCPConn) {
		var b [1]byte
		if _, err := io.ReadFull(c, b[:]); err != nil {
			return
		}
		switch b[0] {
		case 'i':
			_, err := c.Read(b[:])
			idleEnd <- err
		case 't':
			for range ticks {
				if _, err := c.Write([]byte{'.'}); err != nil {
					return
				}
			}
			c.Write([]byte("done"))
		}
	})
}

// TestTCPIdleTimeout: an established connection with no payload either
// way for TCPTimeout (on the proxy's clock) is reset on both sides, as the
// kernel forgets it; one that carries payload in one direction only lives
// on.
func TestTCPIdleTimeout(t *testing.T) {
	forEachPath(t, func(t *testing.T, cfg Config) {
		const timeout = 900 * time.Second
		idleEnd := make(chan error, 1)
		ticks := make(chan struct{})
		srv := idleTimeoutServer(t, idleEnd, ticks)
		clk := fakeClock()
		cfg.Clock = clk
		p := newProxy(t, cfg)
		k := singleService(t, p, srv)

		busy := dialRaw(t, k)
		busy.Write([]byte("t"))
		idle := dialRaw(t, k)
		idle.Write([]byte("i"))
		eventually(t, "both connections active", func() bool { return serviceStatus(t, p, k).Dests[0].ActiveConns == 2 })

		clientEnd := make(chan error, 1)
		go func() {
			var b [1]byte
			_, err := idle.Read(b[:])
			clientEnd <- err
		}()
		// Half the timeout at a time, with a byte from the server to
		// the client in between: the busy connection is never idle for
		// longer than half of it, the idle one soon is for all of it.
		var got []byte
		var err error
		advanceUntil(t, clk, timeout/2, "the idle connection is reset", func() bool {
			select {
			case err = <-clientEnd:
				return true
			default:
			}
			select {
			case ticks <- struct{}{}:
			case <-time.After(10 * time.Second):
				t.Fatal("the trickling server is gone")
			}
			var b [1]byte
			if _, err := io.ReadFull(busy, b[:]); err != nil {
				t.Fatalf("one-way busy connection: %v after %q", err, got)
			}
			got = append(got, b[0])
			return false
		})
		if !errors.Is(err, syscall.ECONNRESET) {
			t.Errorf("idle connection: client read ended with %v, want a reset", err)
		}
		if err := <-idleEnd; !errors.Is(err, syscall.ECONNRESET) {
			t.Errorf("idle connection: server read ended with %v, want a reset", err)
		}
		// The busy connection lived on past the timeout.
		close(ticks)
		rest, err := io.ReadAll(busy)
		got = append(got, rest...)
		if want := strings.Repeat(".", len(got)-4) + "done"; err != nil || string(got) != want || len(got) < 6 {
			t.Errorf("one-way busy connection: read %q, %v; want two or more dots, \"done\" and EOF", got, err)
		}
		busy.Close()
		waitReleased(t, p, k)
	})
}

// TestSetTimeouts: a shorter TCP timeout applies to the connections that
// are open, counted from their last payload: one idle for longer than it
// ends at once.
func TestSetTimeouts(t *testing.T) {
	forEachPath(t, func(t *testing.T, cfg Config) {
		idleEnd := make(chan error, 1)
		srv := idleTimeoutServer(t, idleEnd, nil)
		clk := fakeClock()
		cfg.Clock = clk
		p := newProxy(t, cfg)
		if tcp, fin, udp := p.Timeouts(); tcp != 900*time.Second || fin != 120*time.Second || udp != 300*time.Second {
			t.Errorf("default timeouts %v %v %v, want the kernel's 900s 120s 300s", tcp, fin, udp)
		}
		k := singleService(t, p, srv)
		idle := dialRaw(t, k)
		idle.Write([]byte("i"))
		// The byte passed on is the connection's last activity.
		eventually(t, "connection active, its byte passed on", func() bool {
			s := serviceStatus(t, p, k)
			return s.Dests[0].ActiveConns == 1 && s.Stats.BytesIn == 1
		})
		clk.Advance(time.Second)

		p.SetTimeouts(500*time.Millisecond, 0, 0)
		if tcp, fin, udp := p.Timeouts(); tcp != 500*time.Millisecond || fin != 120*time.Second || udp != 300*time.Second {
			t.Errorf("after SetTimeouts(500ms, 0, 0): %v %v %v", tcp, fin, udp)
		}
		var b [1]byte
		if _, err := idle.Read(b[:]); !errors.Is(err, syscall.ECONNRESET) {
			t.Errorf("client read ended with %v, want a reset", err)
		}
		if err := <-idleEnd; !errors.Is(err, syscall.ECONNRESET) {
			t.Errorf("server read ended with %v, want a reset", err)
		}
		waitReleased(t, p, k)
	})
}
