package vrrp

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vishvananda/netns"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
	"golang.org/x/sys/unix"
)

// RawConfig configures NewRawTransport.
type RawConfig struct {
	// Netns is the network namespace the sockets live in; nil means the
	// namespace of the calling thread.
	Netns *netns.NsHandle
	// Logger receives debug logs of socket errors; nil discards.
	Logger *slog.Logger
	// ReadBuffer is the receive buffer of each socket in bytes; 0 means
	// 4 MiB. Many instances on one interface advertise in bursts (their
	// timers start together), which overflow the kernel's default.
	ReadBuffer int
}

// RawTransport sends and receives VRRP over raw IP sockets (protocol 112):
// one socket per interface and family, bound to the interface, shared by
// every instance there and demultiplexed by VRID. It needs CAP_NET_RAW.
type RawTransport struct {
	cfg RawConfig
	log *slog.Logger

	mu    sync.Mutex
	socks map[sockKey]*rawSock
	wg    sync.WaitGroup
}

type sockKey struct {
	ifname string
	ipv6   bool
}

var _ Transport = (*RawTransport)(nil)

// NewRawTransport returns a transport over raw sockets. Sockets are opened
// when the first instance on an interface opens its endpoint.
func NewRawTransport(cfg RawConfig) *RawTransport {
	l := cfg.Logger
	if l == nil {
		l = slog.New(slog.DiscardHandler)
	}
	return &RawTransport{cfg: cfg, log: l, socks: map[sockKey]*rawSock{}}
}

type rawSock struct {
	t     *RawTransport
	key   sockKey
	ifi   *net.Interface
	c     net.PacketConn
	p4    *ipv4.PacketConn
	p6    *ipv6.PacketConn
	addr4 netip.Addr // first IPv4 address at open
	ll6   netip.Addr // link-local address at open

	mu     sync.Mutex
	eps    map[*rawEndpoint]bool
	groups bool // joined the multicast group
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

type rawEndpoint struct {
	s       *rawSock
	cfg     EndpointConfig
	local   netip.Addr
	deliver func(Packet)
	once    sync.Once
}

// inNetns runs f on a locked thread inside the configured namespace, so the
// sockets and interface lookups f makes belong to it.
func (t *RawTransport) inNetns(f func() error) error {
	if t.cfg.Netns == nil {
		return f()
	}
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("get current netns: %w", err)
	}
	defer orig.Close()
	if err := netns.Set(*t.cfg.Netns); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("enter netns: %w", err)
	}
	ferr := f()
	if err := netns.Set(orig); err != nil {
		// Leave the thread locked: the runtime ends it with the goroutine.
		return errors.Join(ferr, fmt.Errorf("leave netns: %w", err))
	}
	runtime.UnlockOSThread()
	return ferr
}

func (t *RawTransport) Open(cfg EndpointConfig, deliver func(Packet)) (Endpoint, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	key := sockKey{cfg.Interface, cfg.IPv6}
	if cfg.Device != "" {
		key.ifname = cfg.Device
	}
	s := t.socks[key]
	if s == nil {
		var err error
		if err = t.inNetns(func() error { s, err = t.openSock(key); return err }); err != nil {
			return nil, err
		}
		t.socks[key] = s
		t.wg.Add(1)
		go s.readLoop()
	}
	ep := &rawEndpoint{s: s, cfg: cfg, deliver: deliver, local: cfg.Source}
	if !ep.local.IsValid() {
		a4, ll6 := s.addr4, s.ll6
		if cfg.Interface != key.ifname {
			// The device (a VMAC) has no address of its own: use the
			// parent's, as keepalived does.
			var err error
			if err = t.inNetns(func() error {
				ifi, err := net.InterfaceByName(cfg.Interface)
				if err != nil {
					return fmt.Errorf("find interface %s: %w", cfg.Interface, err)
				}
				a4, ll6, err = ifaceAddrs(ifi)
				return err
			}); err != nil {
				if len(s.eps) == 0 {
					delete(t.socks, key)
					s.c.Close()
				}
				return nil, fmt.Errorf("open vrrp endpoint: %w", err)
			}
		}
		ep.local = a4
		if cfg.IPv6 {
			ep.local = ll6
		}
	}
	if !ep.local.IsValid() {
		return nil, fmt.Errorf("open vrrp endpoint: no source address on %s", cfg.Interface)
	}
	s.mu.Lock()
	s.eps[ep] = true
	s.reindex()
	join := cfg.Multicast && !s.groups
	if join {
		s.groups = true
	}
	s.mu.Unlock()
	if join {
		var err error
		if cfg.IPv6 {
			err = s.p6.JoinGroup(s.ifi, &net.IPAddr{IP: GroupIPv6.AsSlice()})
		} else {
			err = s.p4.JoinGroup(s.ifi, &net.IPAddr{IP: GroupIPv4.AsSlice()})
		}
		if err != nil {
			ep.Close()
			return nil, fmt.Errorf("join vrrp group on %s: %w", cfg.Interface, err)
		}
	}
	return ep, nil
}

func (t *RawTransport) openSock(key sockKey) (*rawSock, error) {
	ifi, err := net.InterfaceByName(key.ifname)
	if err != nil {
		return nil, fmt.Errorf("find interface %s: %w", key.ifname, err)
	}
	s := &rawSock{t: t, key: key, ifi: ifi, eps: map[*rawEndpoint]bool{}}
	if s.addr4, s.ll6, err = ifaceAddrs(ifi); err != nil {
		return nil, err
	}
	network, laddr := "ip4:112", "0.0.0.0"
	if key.ipv6 {
		network, laddr = "ip6:112", "::"
	}
	c, err := net.ListenPacket(network, laddr)
	if err != nil {
		return nil, fmt.Errorf("open raw vrrp socket: %w", err)
	}
	s.c = c
	fail := func(what string, err error) (*rawSock, error) {
		c.Close()
		return nil, fmt.Errorf("%s on %s: %w", what, key.ifname, err)
	}
	rc, err := c.(*net.IPConn).SyscallConn()
	if err != nil {
		return fail("get raw conn", err)
	}
	rbuf := t.cfg.ReadBuffer
	if rbuf <= 0 {
		rbuf = 4 << 20
	}
	var serr error
	err = rc.Control(func(fd uintptr) {
		// SO_RCVBUFFORCE passes net.core.rmem_max with CAP_NET_ADMIN;
		// without it, SO_RCVBUF gives what the limit allows.
		if unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, rbuf) != nil {
			_ = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, rbuf)
		}
		serr = unix.SetsockoptString(int(fd), unix.SOL_SOCKET, unix.SO_BINDTODEVICE, key.ifname)
		if serr == nil && !key.ipv6 {
			serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_MULTICAST_ALL, 0)
		}
	})
	if err = errors.Join(err, serr); err != nil {
		return fail("bind socket to device", err)
	}
	if key.ipv6 {
		p := ipv6.NewPacketConn(c)
		s.p6 = p
		err = errors.Join(
			p.SetControlMessage(ipv6.FlagHopLimit|ipv6.FlagDst|ipv6.FlagInterface, true),
			p.SetMulticastInterface(ifi),
			p.SetMulticastHopLimit(255),
			p.SetHopLimit(255),
			p.SetMulticastLoopback(false),
		)
	} else {
		p := ipv4.NewPacketConn(c)
		s.p4 = p
		err = errors.Join(
			p.SetControlMessage(ipv4.FlagTTL|ipv4.FlagDst|ipv4.FlagInterface, true),
			p.SetMulticastInterface(ifi),
			p.SetMulticastTTL(255),
			p.SetTTL(255),
			p.SetMulticastLoopback(false),
		)
	}
	if err != nil {
		return fail("set socket options", err)
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

// readBatch is how many packets the reader takes per system call
// (recvmmsg): instances on an interface advertise in bursts.
const readBatch = 32

// readBufLen holds the largest VRRP message (255 IPv6 addresses) with its
// IPv4 header; a longer one is truncated and dropped.
const readBufLen = 8192

func (s *rawSock) readLoop() {
	defer s.t.wg.Done()
	ms := make([]ipv4.Message, readBatch) // ipv6.Message is the same type
	bufs := make([]byte, readBatch*readBufLen)
	var oobLen int
	if s.key.ipv6 {
		oobLen = len(ipv6.NewControlMessage(ipv6.FlagHopLimit | ipv6.FlagDst | ipv6.FlagInterface))
	} else {
		oobLen = len(ipv4.NewControlMessage(ipv4.FlagTTL | ipv4.FlagDst | ipv4.FlagInterface))
	}
	oobs := make([]byte, readBatch*oobLen)
	for k := range ms {
		ms[k].Buffers = [][]byte{bufs[k*readBufLen : (k+1)*readBufLen]}
	}
	var (
		cm4 ipv4.ControlMessage
		cm6 ipv6.ControlMessage
	)
	for {
		for k := range ms {
			ms[k].OOB = oobs[k*oobLen : (k+1)*oobLen]
			ms[k].Addr = nil
		}
		var (
			n   int
			err error
		)
		if s.key.ipv6 {
			n, err = s.p6.ReadBatch(ms, 0)
		} else {
			n, err = s.p4.ReadBatch(ms, 0)
		}
		now := time.Now()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			s.t.log.Debug("vrrp socket read", "interface", s.key.ifname, "err", err)
			continue
		}
		for k := range ms[:n] {
			m := &ms[k]
			if m.Flags&unix.MSG_TRUNC != 0 {
				s.t.log.Debug("vrrp socket read: message truncated", "interface", s.key.ifname)
				continue
			}
			b := m.Buffers[0][:m.N]
			pkt := Packet{HopLimit: -1, Received: now}
			if s.key.ipv6 {
				cm6.HopLimit = -1
				clear(cm6.Dst) // reused, so that a message without it reads as unset
				if m.NN > 0 && cm6.Parse(m.OOB[:m.NN]) == nil {
					pkt.HopLimit = cm6.HopLimit
					if d, ok := netip.AddrFromSlice(cm6.Dst); ok && !d.IsUnspecified() {
						pkt.Dst = d
					}
				}
				if ia, ok := m.Addr.(*net.IPAddr); ok {
					pkt.Src, _ = netip.AddrFromSlice(ia.IP)
					pkt.Src = pkt.Src.Unmap()
				}
			} else {
				// A raw IPv4 socket reads the IP header too.
				if len(b) < ipv4.HeaderLen || b[0]>>4 != 4 {
					continue
				}
				hl := int(b[0]&0x0f) * 4
				if hl < ipv4.HeaderLen || hl > len(b) {
					continue
				}
				pkt.Src = netip.AddrFrom4([4]byte(b[12:16]))
				b = b[hl:]
				cm4.TTL = -1
				clear(cm4.Dst) // reused, so that a message without it reads as unset
				if m.NN > 0 && cm4.Parse(m.OOB[:m.NN]) == nil {
					pkt.HopLimit = cm4.TTL
					if d, ok := netip.AddrFromSlice(cm4.Dst); ok && !d.Unmap().IsUnspecified() {
						pkt.Dst = d.Unmap()
					}
				}
			}
			pkt.Data = append([]byte(nil), b...)
			s.dispatch(pkt)
		}
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
	for i, ep := range targets {
		q := p
		if i > 0 {
			q.Data = append([]byte(nil), p.Data...)
		}
		ep.deliver(q)
	}
}

func (e *rawEndpoint) LocalAddr() netip.Addr { return e.local }

func (e *rawEndpoint) Send(msg []byte, dst netip.Addr) error {
	s := e.s
	var err error
	if s.key.ipv6 {
		cm := &ipv6.ControlMessage{HopLimit: 255, IfIndex: s.ifi.Index, Src: e.local.AsSlice()}
		// The zone by index: a name would be looked up in the namespace
		// of the calling thread, not necessarily the socket's (RawConfig.Netns),
		// and the kernel refuses a scope that is not the bound device.
		_, err = s.p6.WriteTo(msg, cm, &net.IPAddr{IP: dst.AsSlice(), Zone: strconv.Itoa(s.ifi.Index)})
	} else {
		cm := &ipv4.ControlMessage{IfIndex: s.ifi.Index, Src: e.local.AsSlice()}
		_, err = s.p4.WriteTo(msg, cm, &net.IPAddr{IP: dst.AsSlice()})
	}
	if err != nil {
		return fmt.Errorf("send vrrp to %v on %s: %w", dst, s.key.ifname, err)
	}
	return nil
}

// Close detaches the endpoint; the last one on a socket closes it.
func (e *rawEndpoint) Close() error {
	e.once.Do(func() {
		t := e.s.t
		t.mu.Lock()
		defer t.mu.Unlock()
		s := e.s
		s.mu.Lock()
		delete(s.eps, e)
		s.reindex()
		last := len(s.eps) == 0
		s.mu.Unlock()
		if last {
			delete(t.socks, s.key)
			s.c.Close()
		}
	})
	return nil
}

// Close closes every socket and waits for the readers.
func (t *RawTransport) Close() error {
	t.mu.Lock()
	for k, s := range t.socks {
		s.c.Close()
		delete(t.socks, k)
	}
	t.mu.Unlock()
	t.wg.Wait()
	return nil
}
