package proxy

import (
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// copyChunk bounds one splice run, so byte counters move during long
// transfers.
const copyChunk = 256 << 10

type tcpSession struct {
	mu      sync.Mutex
	client  *net.TCPConn
	backend *net.TCPConn
	closed  bool
	idle    *time.Timer // checks the TCP timeout; nil before established
	d       *dest
	halves  atomic.Int32 // directions that ended cleanly
	active  atomic.Bool
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

// watchIdle resets the session once neither socket has received payload
// for the TCP timeout, as the event loops do. The kernel keeps the time of
// each socket's last received data (TCP_INFO), so the copying goroutines
// keep no bookkeeping: a timer asks the kernel once per timeout.
func (s *service) watchIdle(x *tcpSession) {
	check := func() {
		if x.halves.Load() > 0 {
			return // half-closed: FinTimeout applies, by read deadlines
		}
		x.mu.Lock()
		defer x.mu.Unlock()
		if x.closed {
			return
		}
		idle := min(sinceLastData(x.client), sinceLastData(x.backend))
		if limit := s.p.tcpTimeout(); idle < limit {
			x.idle.Reset(limit - idle)
			return
		}
		s.p.log.Debug("idle connection timed out", "service", s.key, "dest", x.d.addr, "client", x.client.RemoteAddr())
		x.client.SetLinger(0)
		x.backend.SetLinger(0)
		x.closeLocked()
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	x.idle = time.AfterFunc(s.p.tcpTimeout(), check)
}

// recheckIdle makes the session compare its idle time with the TCP
// timeout now (after SetTimeouts).
func (x *tcpSession) recheckIdle() {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.idle != nil {
		x.idle.Reset(0)
	}
}

func (x *tcpSession) stopIdle() {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.idle != nil {
		x.idle.Stop()
	}
}

// sinceLastData is how long ago c last received payload, by the kernel's
// count (milliseconds); 0 if it cannot tell.
func sinceLastData(c *net.TCPConn) time.Duration {
	rc, err := c.SyscallConn()
	if err != nil {
		return 0
	}
	var ms uint32
	rc.Control(func(fd uintptr) {
		if info, err := unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO); err == nil {
			ms = info.Last_data_recv
		}
	})
	return time.Duration(ms) * time.Millisecond
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
	d := net.Dialer{Timeout: s.p.cfg.DialTimeout, KeepAlive: -1}
	bc, err := d.DialContext(s.p.ctx, "tcp", x.d.addr.String())
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
	x.d.sd.SetActive(true)
	x.active.Store(true)
	s.watchIdle(x)
	defer x.stopIdle()

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
		if !isClosedErr(err) && !errors.Is(err, os.ErrDeadlineExceeded) {
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
	dst.SetReadDeadline(time.Now().Add(s.p.finTimeout()))
}

// copyCounted splices src to dst in chunks, counting bytes after each.
// Once the session is half-closed, each chunk renews src's idle deadline.
func (s *service) copyCounted(x *tcpSession, dst, src *net.TCPConn, ctr1, ctr2 *atomic.Uint64) error {
	lr := io.LimitedReader{R: src}
	for {
		if x.halves.Load() > 0 {
			src.SetReadDeadline(time.Now().Add(s.p.finTimeout()))
		}
		lr.N = copyChunk
		n, err := dst.ReadFrom(&lr)
		if n > 0 {
			ctr1.Add(uint64(n))
			ctr2.Add(uint64(n))
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		if lr.N > 0 { // ReadFrom stopped before the limit: EOF
			return nil
		}
	}
}
