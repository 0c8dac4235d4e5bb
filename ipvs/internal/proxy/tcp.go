package proxy

import (
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/lvskit/lvskit/clock"
	"golang.org/x/sys/unix"
)

// The goroutine data path: two goroutines per TCP connection, one per
// direction. A direction waits until its source is readable holding
// nothing but its goroutine (no buffer, no pipe), then moves what is
// there: less than copyBuffer through a pooled buffer, more with
// ReadFrom, which Go implements with splice(2) through a pipe from a pool
// of its own. A pipe is taken for a transfer and given back after it, so
// an idle connection holds its two sockets and no pipe. A splice counts
// a pipe against the descriptor budget while it runs; when none fits the
// direction copies instead. (The pipes Go keeps for reuse between
// transfers are not counted; its garbage collector closes them.)

// copyChunk bounds one transfer, so byte counters move during long ones.
const copyChunk = 256 << 10

type tcpSession struct {
	mu      sync.Mutex
	client  *net.TCPConn
	backend *net.TCPConn
	closed  bool
	timer   clock.Timer // the idle or FIN timeout; nil before established
	d       *dest
	halves  atomic.Int32 // directions that ended cleanly
	active  atomic.Bool
	last    atomic.Int64 // Proxy.since() of the last payload moved
}

func (t *tcpSession) destination() *dest { return t.d }

func (t *tcpSession) close() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.closeLocked()
}

// closeLocked closes both sockets once; t.mu is held.
func (t *tcpSession) closeLocked() {
	if t.closed {
		return
	}
	t.closed = true
	t.client.Close()
	if t.backend != nil {
		t.backend.Close()
	}
	if t.timer != nil {
		t.timer.Stop()
	}
}

func (t *tcpSession) setBackend(b *net.TCPConn) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return false
	}
	t.backend = b
	return true
}

// watchIdle starts the session's timeout on the proxy's clock: while both
// directions are open it resets the session once no payload has moved
// either way for the TCP timeout, as the event loops do; once one has
// ended, it closes the session after the FIN timeout without payload.
func (s *service) watchIdle(x *tcpSession) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.last.Store(s.p.since())
	if !x.closed {
		x.timer = s.p.clk.AfterFunc(s.p.tcpTimeout(), func() { s.checkIdle(x) })
	}
}

func (s *service) checkIdle(x *tcpSession) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.closed {
		return
	}
	fin := x.halves.Load() > 0
	limit := s.p.tcpTimeout()
	if fin {
		limit = s.p.finTimeout()
	}
	if idle := time.Duration(s.p.since() - x.last.Load()); idle < limit {
		x.timer.Reset(limit - idle)
		return
	}
	if !fin {
		// Idle for the TCP timeout: the kernel would forget the
		// connection; reset both sides, so neither keeps a dead one.
		s.p.log.Debug("idle connection timed out", "service", s.key, "dest", x.d.addr, "client", x.client.RemoteAddr())
		x.client.SetLinger(0)
		x.backend.SetLinger(0)
	}
	x.closeLocked()
}

// recheckIdle makes the session compare its idle time with its timeout
// now (after SetTimeouts, or when a direction ends).
func (x *tcpSession) recheckIdle() {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.timer != nil && !x.closed {
		x.timer.Reset(0)
	}
}

func (s *service) acceptLoop() {
	defer s.p.wg.Done()
	var backoff time.Duration
	for {
		c, err := s.ln.AcceptTCP()
		if err != nil {
			if isClosedErr(err) {
				return
			}
			// Out of file descriptors and the like: wait, as net/http does.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			s.p.log.Error("accept failed", "service", s.key, "err", err)
			time.Sleep(backoff)
			continue
		}
		backoff = 0
		if !s.p.admit(fdsPerConn) {
			// No descriptors to spare: reset the client at once rather
			// than let it wait.
			c.SetLinger(0)
			c.Close()
			s.p.refuse(s)
			continue
		}
		s.p.wg.Add(1)
		go s.serveTCP(c)
	}
}

func addrPort(a net.Addr) netip.AddrPort {
	if t, ok := a.(*net.TCPAddr); ok {
		return t.AddrPort()
	}
	if u, ok := a.(*net.UDPAddr); ok {
		return u.AddrPort()
	}
	return netip.AddrPort{}
}

func (s *service) serveTCP(c *net.TCPConn) {
	defer s.p.wg.Done()
	defer s.p.budget.give(fdsPerConn)
	client, local := addrPort(c.RemoteAddr()), addrPort(c.LocalAddr())
	x := &tcpSession{client: c}
	var t *template
	if !s.schedule(client, local, x, &x.d, &t) {
		// No server: the kernel drops the SYN; the client sees a reset.
		c.SetLinger(0)
		c.Close()
		return
	}
	defer func() { s.release(x, x.d, t, x.active.Load()) }()
	defer x.close()

	s.mu.Lock()
	pp := s.cfg.ProxyProtocol
	s.mu.Unlock()
	// The dial timeout runs on the proxy's clock.
	ctx, cancel := context.WithCancel(s.p.ctx)
	dt := s.p.clk.AfterFunc(s.p.cfg.DialTimeout, cancel)
	d := net.Dialer{KeepAlive: -1}
	var bc net.Conn
	err := s.p.inNetns(func() (err error) { bc, err = d.DialContext(ctx, "tcp", x.d.addr.String()); return err })
	dt.Stop()
	cancel()
	if err != nil {
		s.p.log.Debug("connect to real server failed", "service", s.key, "dest", x.d.addr, "err", err)
		c.SetLinger(0)
		return
	}
	b := bc.(*net.TCPConn)
	if !x.setBackend(b) {
		b.Close()
		return
	}
	if pp {
		var hdr [maxProxyHeader]byte
		if _, err := b.Write(appendProxyV2(hdr[:0], false, client, local)); err != nil {
			return
		}
	}
	s.watchIdle(x)
	x.d.sd.SetActive(true)
	x.active.Store(true)

	done := make(chan struct{})
	go func() {
		defer close(done)
		s.pipe(x, b, c, &x.d.stats.bytesIn, &s.stats.bytesIn)
	}()
	s.pipe(x, c, b, &x.d.stats.bytesOut, &s.stats.bytesOut)
	<-done
}

// pipe copies src to dst until EOF, then half-closes dst. An error in
// either direction ends the whole session.
func (s *service) pipe(x *tcpSession, dst, src *net.TCPConn, ctr1, ctr2 *atomic.Uint64) {
	err := s.copyCounted(x, dst, src, ctr1, ctr2)
	if err != nil {
		if !isClosedErr(err) {
			// A reset (or another error) on one side: reset the other
			// too, as IPVS passes the RST on.
			dst.SetLinger(0)
			src.SetLinger(0)
		}
		x.close()
		return
	}
	if x.halves.Add(1) == 2 {
		// Both directions are done: the session closes both sockets
		// now, which sends the FIN; a shutdown first would only cost a
		// system call.
		return
	}
	dst.CloseWrite()
	// First FIN: the kernel's connection leaves ESTABLISHED.
	if x.active.CompareAndSwap(true, false) {
		x.d.sd.SetActive(false)
	}
	// The other direction now has FinTimeout of idleness, as the kernel's
	// FIN_WAIT / CLOSE_WAIT timers allow.
	x.recheckIdle()
}

// copyBufs are the buffers of transfers that found no pipe in the budget.
var copyBufs = sync.Pool{New: func() any { return new([copyBuffer]byte) }}

// copyCounted moves src to dst until EOF, one transfer per readiness of
// src, counting bytes and activity after each.
func (s *service) copyCounted(x *tcpSession, dst, src *net.TCPConn, ctr1, ctr2 *atomic.Uint64) error {
	rc, err := src.SyscallConn()
	if err != nil {
		return err
	}
	lr := io.LimitedReader{R: src}
	for {
		avail, err := waitReadable(rc)
		if err != nil {
			return err
		}
		if avail == 0 {
			return nil // EOF
		}
		// Payload arrived: the connection is active from now, before
		// the payload can reach the other side.
		x.last.Store(s.p.since())
		var n int64
		if avail >= copyBuffer && s.p.budget.take(2) {
			// Bulk: splice, through a pipe that counts for the
			// transfer. A small read is copied, as on the event loops.
			lr.N = int64(min(avail, copyChunk))
			n, err = dst.ReadFrom(&lr)
			s.p.budget.give(2)
		} else {
			buf := copyBufs.Get().(*[copyBuffer]byte)
			var m int
			if m, err = src.Read(buf[:min(avail, copyBuffer)]); m > 0 {
				var w int
				w, err = dst.Write(buf[:m])
				n = int64(w)
			}
			copyBufs.Put(buf)
		}
		if n > 0 {
			// Delivered, maybe slowly: progress towards a slow
			// reader keeps a connection alive too.
			x.last.Store(s.p.since())
			ctr1.Add(uint64(n))
			ctr2.Add(uint64(n))
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
	}
}

// waitReadable waits until the socket has bytes to read, or has reached
// EOF (0 bytes) or an error, in Go's poller. It returns how many bytes
// are there.
func waitReadable(rc syscall.RawConn) (int, error) {
	var n int
	var rerr error
	err := rc.Read(func(fd uintptr) bool {
		v, err := unix.IoctlGetInt(int(fd), unix.SIOCINQ)
		if err != nil {
			rerr = err
			return true
		}
		if v > 0 {
			n = v
			return true
		}
		// Nothing queued: end of stream, an error, or nothing yet.
		var b [1]byte
		for {
			r, _, e := unix.RawSyscall6(unix.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(&b[0])), 1, unix.MSG_PEEK|unix.MSG_DONTWAIT, 0, 0)
			switch e {
			case unix.EINTR:
				continue
			case unix.EAGAIN:
				return false // wait for readiness
			case 0:
				n = int(r) // 0: EOF; 1: data came meanwhile
			default:
				rerr = e
			}
			return true
		}
	})
	if err != nil {
		return 0, err
	}
	return n, rerr
}
