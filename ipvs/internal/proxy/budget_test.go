package proxy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lvskit/lvskit/internal/logtest"
)

// refusalLines returns the "refused" count of each refusal line logged.
func refusalLines(rec *logtest.Recorder) []int64 {
	var out []int64
	for _, r := range rec.Records() {
		if v, ok := logtest.Attr(r, "refused"); ok && strings.HasPrefix(r.Message, "refused new clients") {
			out = append(out, int64(v.Uint64()))
		}
	}
	return out
}

func fdLimit(t testing.TB) int {
	t.Helper()
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		t.Fatal(err)
	}
	return int(rl.Cur)
}

// isRefused reports whether a client read ended as a refused client's
// does: reset, or closed, without a byte.
func isRefused(err error) bool {
	return errors.Is(err, syscall.ECONNRESET) || errors.Is(err, io.EOF)
}

// TestBudgetRefusesPastTheLimit: with a descriptor budget of 40 (the
// process's limit less a reserve of all but 40), the proxy serves as many
// connections as fit (MaxConns), resets the clients past that at once,
// counts them per service and in all, logs the first refusal at once and
// the rest in one line when its clock has moved on, and serves again once
// a connection has ended. The budget counts every descriptor it holds and
// is back to nothing after Close.
func TestBudgetRefusesPastTheLimit(t *testing.T) {
	forEachPath(t, func(t *testing.T, cfg Config) {
		a := startBackend(t, "a", modeEcho)
		logs := &logtest.Recorder{}
		clk := fakeClock()
		cfg.Clock, cfg.Logger = clk, slog.New(logs)
		cfg.FDReserve = fdLimit(t) - 40
		p := newProxy(t, cfg)
		k := addService(t, p, ServiceConfig{}, map[*backend]int{a: 1}, a)
		b := p.Budget()
		fixed := b.InUse // the listener, and the event loops' descriptors
		if b.Limit != fdLimit(t) || b.Reserve != cfg.FDReserve || b.MaxConns != (40-fixed)/2 || b.MaxConns < 2 {
			t.Fatalf("budget %+v: want the process's limit %d, the reserve %d, and (40 - %d) / 2 connections", b, fdLimit(t), cfg.FDReserve, fixed)
		}

		var served []*conn
		for range b.MaxConns {
			c := dialVia(t, k, "")
			c.echo(t, "served")
			served = append(served, c)
		}
		if got := p.Budget().InUse; got != fixed+2*b.MaxConns {
			t.Errorf("descriptors in use with %d connections: %d, want %d", b.MaxConns, got, fixed+2*b.MaxConns)
		}
		const refused = 5
		for i := range refused {
			// The kernel completes the handshake; the reset may come
			// before the dial has seen it did.
			c, err := net.DialTimeout("tcp", k.Addr.String(), 10*time.Second)
			if err == nil {
				c.SetReadDeadline(time.Now().Add(10 * time.Second))
				_, err = c.Read(make([]byte, 1))
				c.Close()
			}
			if !isRefused(err) {
				t.Fatalf("client %d past the budget: %v; want a reset at once", i, err)
			}
		}
		eventually(t, "refusals counted", func() bool { return p.Budget().Refused == refused })
		if got := serviceStatus(t, p, k).Refused; got != refused {
			t.Errorf("service refused %d, want %d", got, refused)
		}
		if got := serviceStatus(t, p, k).Stats.Conns; got != uint64(b.MaxConns) {
			t.Errorf("service scheduled %d connections, want %d (refused ones are not scheduled)", got, b.MaxConns)
		}
		// The clock has not moved: one line, for the first refusal.
		if got := refusalLines(logs); len(got) != 1 || got[0] != 1 {
			t.Errorf("refusal lines before the clock moves: %v, want [1]", got)
		}
		// Past a second, the estimator's next round logs the rest.
		clk.Advance(2 * time.Second)
		eventually(t, "the rest of the refusals logged", func() bool { return len(refusalLines(logs)) == 2 })
		if got := refusalLines(logs); got[1] != refused-1 {
			t.Errorf("refusal lines: %v, want [1 %d]", got, refused-1)
		}

		served[0].Close()
		waitFor := func() bool { return p.Budget().InUse == fixed+2*(b.MaxConns-1) }
		eventually(t, "a connection's descriptors given back", waitFor)
		c := dialVia(t, k, "")
		c.echo(t, "served again")
		c.Close()
		for _, c := range served[1:] {
			c.Close()
		}
		eventually(t, "every connection's descriptors given back", func() bool { return p.Budget().InUse == fixed })
		p.Close()
		if got := p.Budget().InUse; got != 0 {
			t.Errorf("descriptors counted after Close: %d, want 0", got)
		}
	})
}

// TestBudgetRefusesUDPFlows: a UDP flow takes a socket of the budget; past
// it, a new client's datagrams are dropped and counted, while the flows
// that fit go on.
func TestBudgetRefusesUDPFlows(t *testing.T) {
	a := startUDPBackend(t, "a")
	clk := fakeClock()
	p := newProxy(t, Config{Clock: clk, FDReserve: fdLimit(t) - 3})
	svc := ServiceConfig{Protocol: UDP, Addr: freePort(t, true)}
	if err := p.AddService(svc); err != nil {
		t.Fatal(err)
	}
	if err := p.AddDest(svc.Key(), DestConfig{Addr: a, Weight: 1}); err != nil {
		t.Fatal(err)
	}
	// 3 descriptors: the service's socket and two flows.
	var clients []*net.UDPConn
	for range 3 {
		c, err := net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(svc.Addr))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		clients = append(clients, c)
	}
	for _, c := range clients[:2] {
		if reply, _ := udpAsk(t, c, "x"); reply != "a:x" {
			t.Fatalf("reply %q", reply)
		}
	}
	if _, err := clients[2].Write([]byte("y")); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the third flow refused", func() bool { return serviceStatus(t, p, svc.Key()).Refused == 1 })
	if reply, _ := udpAsk(t, clients[0], "z"); reply != "a:z" {
		t.Errorf("a flow that fits after a refusal: reply %q", reply)
	}
	// A flow that expires makes room.
	clk.Advance(300 * time.Second)
	eventually(t, "flows expired", func() bool { return serviceStatus(t, p, svc.Key()).Dests[0].InactiveConns == 0 })
	if reply, _ := udpAsk(t, clients[2], "w"); reply != "a:w" {
		t.Errorf("the refused client after the flows expired: reply %q", reply)
	}
}

// pipeFDs counts this process's pipe descriptors.
func pipeFDs(t testing.TB) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range ents {
		if l, err := os.Readlink("/proc/self/fd/" + e.Name()); err == nil && strings.HasPrefix(l, "pipe:") {
			n++
		}
	}
	return n
}

// TestPipesOnlyWhileBytesWait: connections that carried bulk transfers
// (spliced through pipes) and went idle hold no pipe: on the event loops
// every pipe is back in a loop's pool, which a refusal or trim empties,
// and the budget counts exactly the pipes there are; on the goroutine path
// Go's pool holds them until the garbage collector closes them. Before the
// budget, each connection held two pipes from its start to its end.
func TestPipesOnlyWhileBytesWait(t *testing.T) {
	if os.Getenv("LVSKIT_TEST_PIPES_CHILD") == "" {
		// Each data path counts pipes in a process of its own: in one
		// that ran other tests, pipes they left in Go's pool may be
		// closed by the garbage collector at any moment.
		for _, dp := range dataPaths {
			t.Run(dp.name, func(t *testing.T) {
				args := []string{"-test.run=^TestPipesOnlyWhileBytesWait$/^" + dp.name + "$", "-test.count=1", "-test.v"}
				if *copyGoroutines {
					args = append(args, "-proxy.goroutines")
				}
				cmd := exec.Command(os.Args[0], args...)
				cmd.Env = append(os.Environ(), "LVSKIT_TEST_PIPES_CHILD=1")
				out, err := cmd.CombinedOutput()
				if err != nil {
					t.Fatalf("child: %v\n%s", err, out)
				}
				if !strings.Contains(string(out), "--- PASS: TestPipesOnlyWhileBytesWait/"+dp.name) {
					t.Fatalf("child ran no test:\n%s", out)
				}
				t.Logf("child:\n%s", out)
			})
		}
		return
	}
	forEachPath(t, func(t *testing.T, cfg Config) {
		// An echo server that copies through a buffer: Go's io.Copy
		// between sockets would splice, and hold pipes of its own in
		// this process while it waits.
		srv := rawServer(t, func(c *net.TCPConn) {
			buf := make([]byte, 32<<10)
			io.CopyBuffer(struct{ io.Writer }{c}, struct{ io.Reader }{c}, buf)
		})
		// Go's pool of splice pipes is emptied by the garbage collector,
		// whose finalizers close them a moment later: count once the
		// count holds still.
		settle := func() int {
			last := -1
			for range 100 {
				runtime.GC()
				n := pipeFDs(t)
				if n == last {
					return n
				}
				last = n
				time.Sleep(10 * time.Millisecond)
			}
			return last
		}
		before := settle()
		p := newProxy(t, cfg)
		k := singleService(t, p, srv)
		const n = 20
		payload := bytes.Repeat([]byte("0123456789abcdef"), 16<<10) // 256 KiB: bulk, spliced
		conns := make([]*net.TCPConn, n)
		echo := func(c *net.TCPConn) error {
			werr := make(chan error, 1)
			go func() { _, err := c.Write(payload); werr <- err }()
			got := make([]byte, len(payload))
			if _, err := io.ReadFull(c, got); err != nil {
				return err
			}
			if err := <-werr; err != nil {
				return err
			}
			if !bytes.Equal(got, payload) {
				return errors.New("echo differs")
			}
			return nil
		}
		errs := make(chan error, n)
		for i := range conns {
			conns[i] = dialRaw(t, k)
			go func() { errs <- echo(conns[i]) }()
		}
		for range n {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
		}
		// A copier counts what it wrote after the write returns, which
		// may be after the echo is back.
		eventually(t, fmt.Sprintf("%d bytes in counted", n*len(payload)), func() bool {
			return serviceStatus(t, p, k).Stats.BytesIn == n*uint64(len(payload))
		})
		// All n connections are open and idle now.
		if p.loops != nil {
			got := settle() - before
			for deadline := time.Now().Add(10 * time.Second); got != 2*p.Budget().Pipes; got = settle() - before {
				if time.Now().After(deadline) {
					t.Fatalf("%d pipe descriptors more than before, the budget counts %d pipes", got, p.Budget().Pipes)
				}
			}
			t.Logf("%d pipes after %d bulk transfers", got/2, n)
			p.loops.trimPipes()
			eventually(t, "every pipe given back", func() bool { return p.Budget().Pipes == 0 })
			if got, want := p.Budget().InUse, 1+2*len(p.loops.loops)+2*n; got != want {
				t.Errorf("descriptors in use: %d, want %d: the listener, %d event loops and %d connections", got, want, len(p.loops.loops), n)
			}
		}
		eventually(t, "no pipe held by idle connections", func() bool { return settle() == before })
		// They still carry bulk transfers, taking pipes again.
		if err := echo(conns[0]); err != nil {
			t.Fatal(err)
		}
	})
}

func TestRateLog(t *testing.T) {
	t0 := time.Unix(1000, 0)
	r := rateLog{every: time.Second}
	type step struct {
		at    time.Duration
		flush bool
		n     uint64
		due   bool
	}
	for i, s := range []step{
		{at: 0, n: 1, due: true},                   // the first at once
		{at: 10 * time.Millisecond},                // then counted
		{at: 999 * time.Millisecond},               // still within the second
		{at: 500 * time.Millisecond, flush: true},  // nothing due
		{at: time.Second, n: 3, due: true},         // a second after the line: this and the two before
		{at: 1500 * time.Millisecond, flush: true}, // nothing pending
		{at: 1600 * time.Millisecond},              // counted
		{at: 1999 * time.Millisecond, flush: true}, // not yet: a second after the last line
		{at: 2000 * time.Millisecond, flush: true, n: 1, due: true},
		{at: time.Hour, flush: true}, // nothing pending
		{at: time.Hour + time.Millisecond, n: 1, due: true},
	} {
		var n uint64
		var due bool
		if s.flush {
			n, due = r.flush(t0.Add(s.at))
		} else {
			n, due = r.note(t0.Add(s.at))
		}
		if n != s.n || due != s.due {
			t.Errorf("step %d (%v, flush %v): %d, %v; want %d, %v", i, s.at, s.flush, n, due, s.n, s.due)
		}
	}
}
