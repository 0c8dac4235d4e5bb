package vrrp

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// A raw VRRP socket: one per interface and family, shared by the
// endpoints there, set up for VRRP (TTL 255, control messages, kernel
// receive times) and demultiplexing what it receives by VRID.

type rawSock struct {
	t       *RawTransport
	key     sockKey
	ifindex int
	addr4   netip.Addr // first IPv4 address at open
	ll6     netip.Addr // link-local address at open
	pump    *pump

	// fdMu is held for reading while the descriptor is used to send or
	// set options, and for writing to close it.
	fdMu   sync.RWMutex
	fd     int
	closed bool // under fdMu and t.rx

	active bool // under t.rx: fired and not armed again; read every round
	idle   int  // under t.rx: rounds in a row it was found empty

	mu     sync.Mutex
	eps    map[*rawEndpoint]bool
	groups map[netip.Addr]bool // multicast groups joined
	// index is rebuilt (under mu) whenever eps changes, and read without
	// a lock by the reader: by VRID, and everyone.
	index atomic.Pointer[epIndex]
}

type epIndex struct {
	byVRID [256][]*rawEndpoint
	all    []*rawEndpoint
}

func (s *rawSock) reindex() {
	ix := &epIndex{}
	for ep := range s.eps {
		ix.byVRID[ep.cfg.VRID] = append(ix.byVRID[ep.cfg.VRID], ep)
		ix.all = append(ix.all, ep)
	}
	s.index.Store(ix)
}

func (t *RawTransport) openSock(key sockKey) (*rawSock, error) {
	ifi, err := net.InterfaceByName(key.ifname)
	if err != nil {
		return nil, fmt.Errorf("find interface %s: %w", key.ifname, err)
	}
	s := &rawSock{t: t, key: key, ifindex: ifi.Index, eps: map[*rawEndpoint]bool{}, groups: map[netip.Addr]bool{}}
	if s.addr4, s.ll6, err = ifaceAddrs(ifi); err != nil {
		return nil, err
	}
	family := unix.AF_INET
	if key.ipv6 {
		family = unix.AF_INET6
	}
	// Not a net.PacketConn: the runtime's poller would wake up for every
	// packet. The pump waits on the socket through its own epoll instance.
	proto := IPProtocol
	if key.ah {
		// keepalived's AH: its own raw socket for protocol 51, on which
		// VRRP travels behind the AH header.
		proto = IPProtocolAH
	}
	fd, err := unix.Socket(family, unix.SOCK_RAW|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, proto)
	if err != nil {
		return nil, fmt.Errorf("open raw vrrp socket: %w", err)
	}
	s.fd = fd
	rbuf := t.cfg.ReadBuffer
	if rbuf <= 0 {
		rbuf = 4 << 20
	}
	// SO_RCVBUFFORCE passes net.core.rmem_max with CAP_NET_ADMIN; without
	// it, SO_RCVBUF gives what the limit allows.
	if unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, rbuf) != nil {
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, rbuf)
	}
	opt := func(level, name, v int) error { return unix.SetsockoptInt(fd, level, name, v) }
	if err := unix.SetsockoptString(fd, unix.SOL_SOCKET, unix.SO_BINDTODEVICE, key.ifname); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("bind socket to device %s: %w", key.ifname, err)
	}
	if key.ipv6 {
		err = errors.Join(
			opt(unix.IPPROTO_IPV6, unix.IPV6_RECVHOPLIMIT, 1),
			opt(unix.IPPROTO_IPV6, unix.IPV6_RECVPKTINFO, 1),
			opt(unix.IPPROTO_IPV6, unix.IPV6_MULTICAST_IF, ifi.Index),
			opt(unix.IPPROTO_IPV6, unix.IPV6_MULTICAST_HOPS, 255),
			opt(unix.IPPROTO_IPV6, unix.IPV6_UNICAST_HOPS, 255),
			opt(unix.IPPROTO_IPV6, unix.IPV6_MULTICAST_LOOP, 0),
		)
	} else {
		// The addresses are read from the IP header, which a raw IPv4
		// socket receives; the TTL from its control message.
		err = errors.Join(
			opt(unix.IPPROTO_IP, unix.IP_RECVTTL, 1),
			opt(unix.IPPROTO_IP, unix.IP_MULTICAST_ALL, 0),
			unix.SetsockoptIPMreqn(fd, unix.IPPROTO_IP, unix.IP_MULTICAST_IF, &unix.IPMreqn{Ifindex: int32(ifi.Index)}),
			opt(unix.IPPROTO_IP, unix.IP_MULTICAST_TTL, 255),
			opt(unix.IPPROTO_IP, unix.IP_TTL, 255),
			opt(unix.IPPROTO_IP, unix.IP_MULTICAST_LOOP, 0),
		)
		if key.ah {
			// The AH ICV covers the IP header, identification included,
			// so the sender writes it: the datagram goes out whole.
			err = errors.Join(err, opt(unix.IPPROTO_IP, unix.IP_HDRINCL, 1))
		}
	}
	// The kernel's receive time of each packet: timers run from it even
	// when the packet is read later (batching).
	err = errors.Join(err, opt(unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1))
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("set socket options on %s: %w", key.ifname, err)
	}
	return s, nil
}

// ifaceAddrs returns the first IPv4 address and the first IPv6 link-local
// address of ifi (each zero when absent).
func ifaceAddrs(ifi *net.Interface) (addr4, ll6 netip.Addr, err error) {
	addrs, err := ifi.Addrs()
	if err != nil {
		return addr4, ll6, fmt.Errorf("list addresses of %s: %w", ifi.Name, err)
	}
	for _, a := range addrs {
		ipn, ok := a.(*net.IPNet)
		if !ok {
			continue
		}
		ip, _ := netip.AddrFromSlice(ipn.IP)
		ip = ip.Unmap()
		switch {
		case ip.Is4() && !addr4.IsValid():
			addr4 = ip
		case ip.Is6() && ip.IsLinkLocalUnicast() && !ll6.IsValid():
			ll6 = ip.WithZone(ifi.Name)
		}
	}
	return addr4, ll6, nil
}

// joinGroup joins a VRRP multicast group (224.0.0.18, ff02::12, or the
// instance's own) on the socket's interface.
func (s *rawSock) joinGroup(group netip.Addr) error {
	s.fdMu.RLock()
	defer s.fdMu.RUnlock()
	if s.key.ipv6 {
		mr := &unix.IPv6Mreq{Multiaddr: group.As16(), Interface: uint32(s.ifindex)}
		return unix.SetsockoptIPv6Mreq(s.fd, unix.IPPROTO_IPV6, unix.IPV6_JOIN_GROUP, mr)
	}
	mr := &unix.IPMreqn{Multiaddr: group.As4(), Ifindex: int32(s.ifindex)}
	return unix.SetsockoptIPMreqn(s.fd, unix.IPPROTO_IP, unix.IP_ADD_MEMBERSHIP, mr)
}

// closeSock closes s and forgets it; the last one stops the pump (under t.mu).
func (t *RawTransport) closeSock(s *rawSock) {
	s.fdMu.Lock()
	t.rx.Lock()
	if !s.closed {
		s.closed = true
		p := s.pump
		for k, o := range p.socks {
			if o == s {
				p.socks = append(p.socks[:k], p.socks[k+1:]...)
				break
			}
		}
		unix.Close(s.fd) // also leaves the epoll set
	}
	t.rx.Unlock()
	s.fdMu.Unlock()
	if t.socks[s.key] == s {
		delete(t.socks, s.key)
	}
	if len(t.socks) == 0 && t.pump != nil {
		t.pump.close()
		t.pump = nil
	}
}

// dispatch hands the packet to the endpoints of its VRID, or to all when
// none claims it so that each counts the foreign VRID.
func (s *rawSock) dispatch(p Packet) {
	ix := s.index.Load()
	if ix == nil {
		return
	}
	var targets []*rawEndpoint
	if len(p.Data) > 1 {
		targets = ix.byVRID[p.Data[1]]
	}
	if len(targets) == 0 {
		targets = ix.all
	}
	for _, ep := range targets {
		if p.Dst.IsMulticast() && (!ep.cfg.Multicast || ep.cfg.group() != p.Dst) {
			// Another instance's group (keepalived binds its socket to
			// the group, and never sees these).
			continue
		}
		ep.deliver(p)
	}
}
