package proxy

import (
	"errors"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

const maxDatagram = 64 << 10

// udpFlow is one client's traffic to a UDP service: a socket connected to
// the chosen real server, and a goroutine relaying its replies.
type udpFlow struct {
	client netip.AddrPort
	d      *dest
	t      *template
	up     *net.UDPConn
	last   atomic.Int64 // unix nanoseconds of the last datagram

	mu     sync.Mutex
	closed bool
}

func (f *udpFlow) destination() *dest { return f.d }

func (f *udpFlow) close() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.closed && f.up != nil {
		f.up.Close()
	}
	f.closed = true
}

func (f *udpFlow) setUp(up *net.UDPConn) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return false
	}
	f.up = up
	return true
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
		f.last.Store(time.Now().UnixNano())
		if _, err := f.up.Write(buf[:n]); err != nil {
			continue
		}
		f.d.stats.pktsIn.Add(1)
		f.d.stats.bytesIn.Add(uint64(n))
		s.stats.pktsIn.Add(1)
		s.stats.bytesIn.Add(uint64(n))
	}
}

// flow returns the client's flow, scheduling a new one if needed.
func (s *service) flow(client, local netip.AddrPort) *udpFlow {
	s.mu.Lock()
	f := s.flows[client]
	s.mu.Unlock()
	if f != nil {
		return f
	}
	f = &udpFlow{client: client}
	if !s.schedule(client, local, f, &f.d, &f.t) {
		return nil
	}
	up, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(f.d.addr))
	if err != nil {
		s.p.log.Debug("udp socket to real server failed", "service", s.key, "dest", f.d.addr, "err", err)
		s.release(f, f.d, f.t, false)
		return nil
	}
	if !f.setUp(up) {
		up.Close()
		s.release(f, f.d, f.t, false)
		return nil
	}
	f.last.Store(time.Now().UnixNano())
	s.mu.Lock()
	s.flows[client] = f
	s.mu.Unlock()
	s.p.wg.Add(1)
	go s.relayReplies(f)
	return f
}

// relayReplies sends the real server's datagrams back to the client from
// the service address, until the flow is idle for Config.UDPTimeout or
// closed.
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
	}()
	buf := make([]byte, maxDatagram)
	for {
		idle := s.p.udpTimeout()
		f.up.SetReadDeadline(time.Unix(0, f.last.Load()).Add(idle))
		n, err := f.up.Read(buf)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				if time.Since(time.Unix(0, f.last.Load())) < idle {
					continue
				}
				return
			}
			if errors.Is(err, syscall.ECONNREFUSED) {
				continue // ICMP port unreachable from the server; keep the flow
			}
			return
		}
		f.last.Store(time.Now().UnixNano())
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
