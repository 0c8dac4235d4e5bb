package proxy

import (
	"errors"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/lvskit/lvskit/clock"
)

const maxDatagram = 64 << 10

// udpFlow is one client's traffic to a UDP service: a socket connected to
// the chosen real server, a goroutine relaying its replies, and a timer
// of the proxy's clock that ends the flow once it has seen no datagram
// either way for the UDP timeout.
type udpFlow struct {
	client netip.AddrPort
	d      *dest
	t      *template
	up     *net.UDPConn
	last   atomic.Int64 // Proxy.since() of the last datagram

	mu     sync.Mutex
	closed bool
	expiry clock.Timer
}

func (f *udpFlow) destination() *dest { return f.d }

func (f *udpFlow) close() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closeLocked()
}

func (f *udpFlow) closeLocked() {
	if !f.closed && f.up != nil {
		f.up.Close() // ends relayReplies, which releases the flow
	}
	if f.expiry != nil {
		f.expiry.Stop()
	}
	f.closed = true
}

// recheck makes the flow compare its idle time with the UDP timeout now
// (after SetTimeouts).
func (f *udpFlow) recheck() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.expiry != nil && !f.closed {
		f.expiry.Reset(0)
	}
}

// startFlow gives f its socket to the server and arms its expiry, unless
// f was closed already.
func (s *service) startFlow(f *udpFlow, up *net.UDPConn) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return false
	}
	f.up = up
	f.last.Store(s.p.since())
	f.expiry = s.p.clk.AfterFunc(s.p.udpTimeout(), func() { s.expireFlow(f) })
	return true
}

// expireFlow ends f if it has been idle for the UDP timeout, and otherwise
// checks again when it would be.
func (s *service) expireFlow(f *udpFlow) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return
	}
	idle := time.Duration(s.p.since() - f.last.Load())
	if limit := s.p.udpTimeout(); idle < limit {
		f.expiry.Reset(limit - idle)
		return
	}
	f.closeLocked()
}

func (s *service) udpLoop() {
	defer s.p.wg.Done()
	buf := make([]byte, maxDatagram)
	local := s.key.Addr
	for {
		n, client, err := s.uc.ReadFromUDPAddrPort(buf)
		if err != nil {
			if isClosedErr(err) {
				return
			}
			continue
		}
		f := s.flow(client, local)
		if f == nil {
			continue
		}
		f.last.Store(s.p.since())
		if _, err := f.up.Write(buf[:n]); err != nil {
			continue
		}
		f.d.stats.pktsIn.Add(1)
		f.d.stats.bytesIn.Add(uint64(n))
		s.stats.pktsIn.Add(1)
		s.stats.bytesIn.Add(uint64(n))
	}
}

// flow returns the client's flow, scheduling a new one if needed; nil
// drops the datagram (no server, no descriptor to spare).
func (s *service) flow(client, local netip.AddrPort) *udpFlow {
	s.mu.Lock()
	f := s.flows[client]
	s.mu.Unlock()
	if f != nil {
		return f
	}
	if !s.p.admit(1) {
		s.p.refuse(s)
		return nil
	}
	f = &udpFlow{client: client}
	if !s.schedule(client, local, f, &f.d, &f.t) {
		s.p.budget.give(1)
		return nil
	}
	var up *net.UDPConn
	err := s.p.inNetns(func() (err error) { up, err = net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(f.d.addr)); return err })
	if err != nil {
		s.p.log.Debug("udp socket to real server failed", "service", s.key, "dest", f.d.addr, "err", err)
		s.release(f, f.d, f.t, false)
		s.p.budget.give(1)
		return nil
	}
	if !s.startFlow(f, up) {
		up.Close()
		s.release(f, f.d, f.t, false)
		s.p.budget.give(1)
		return nil
	}
	s.mu.Lock()
	s.flows[client] = f
	s.mu.Unlock()
	s.p.wg.Add(1)
	go s.relayReplies(f)
	return f
}

// relayReplies sends the real server's datagrams back to the client from
// the service address, until the flow is closed (by its expiry, a removal
// or Close).
func (s *service) relayReplies(f *udpFlow) {
	defer s.p.wg.Done()
	defer func() {
		f.close()
		s.mu.Lock()
		if s.flows[f.client] == f {
			delete(s.flows, f.client)
		}
		s.mu.Unlock()
		s.release(f, f.d, f.t, false)
		s.p.budget.give(1)
	}()
	buf := make([]byte, maxDatagram)
	for {
		n, err := f.up.Read(buf)
		if err != nil {
			if errors.Is(err, syscall.ECONNREFUSED) {
				continue // ICMP port unreachable from the server; keep the flow
			}
			return
		}
		f.last.Store(s.p.since())
		if _, err := s.uc.WriteToUDPAddrPort(buf[:n], f.client); err != nil {
			if isClosedErr(err) {
				return
			}
			continue
		}
		f.d.stats.pktsOut.Add(1)
		f.d.stats.bytesOut.Add(uint64(n))
		s.stats.pktsOut.Add(1)
		s.stats.bytesOut.Add(uint64(n))
	}
}
