package vrrp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

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
	// BatchInterval: while packets keep arriving on a socket, the
	// transport reads it at most this often, taking every packet waiting,
	// instead of waking up for each packet — with many instances those
	// wake-ups are most of the cost of being a backup. A packet after a
	// quiet spell is read at once; every packet carries its kernel receive
	// time, from which timers run; and a backup reads its socket before it
	// takes over, so batching never delays nor causes a takeover. It only
	// delays, by up to this interval on a busy socket, how soon an instance
	// reacts to a priority 0 or a preempting advert. 0 means 5ms; a
	// negative value reads each packet as it arrives.
	BatchInterval time.Duration
}

// RawTransport sends and receives VRRP over raw IP sockets (protocol 112):
// one socket per interface and family, bound to the interface, shared by
// every instance there and demultiplexed by VRID. It needs CAP_NET_RAW.
//
// One goroutine (the pump) reads every socket of the transport. The
// sockets are not in the Go runtime's poller but in an epoll instance of
// their own, armed one-shot: a socket wakes the pump once, is then read
// every BatchInterval while packets keep coming, and is armed again when
// a read finds it empty.
type RawTransport struct {
	cfg   RawConfig
	log   *slog.Logger
	batch time.Duration

	mu    sync.Mutex
	socks map[sockKey]*rawSock
	pump  *pump // running while socks is not empty
	wg    sync.WaitGroup

	// rx is held while a socket is read and its packets dispatched (by the
	// pump, or by Flush), and to close a socket's descriptor.
	rx sync.Mutex
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
	b := cfg.BatchInterval
	if b == 0 {
		b = 5 * time.Millisecond
	}
	return &RawTransport{cfg: cfg, log: l, batch: b, socks: map[sockKey]*rawSock{}}
}

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
	oob     []byte // control message for sending: source and interface
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
		if err := t.addSock(s); err != nil {
			unix.Close(s.fd)
			if len(t.socks) == 0 {
				t.pump.close()
				t.pump = nil
			}
			return nil, err
		}
		t.socks[key] = s
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
					t.closeSock(s)
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
		if len(s.eps) == 0 {
			t.closeSock(s)
		}
		return nil, fmt.Errorf("open vrrp endpoint: no source address on %s", cfg.Interface)
	}
	if cfg.IPv6 {
		ep.oob = (&ipv6.ControlMessage{HopLimit: 255, IfIndex: s.ifindex, Src: ep.local.AsSlice()}).Marshal()
	} else {
		ep.oob = (&ipv4.ControlMessage{IfIndex: s.ifindex, Src: ep.local.AsSlice()}).Marshal()
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
		s.fdMu.RLock()
		if cfg.IPv6 {
			mr := &unix.IPv6Mreq{Multiaddr: GroupIPv6.As16(), Interface: uint32(s.ifindex)}
			err = unix.SetsockoptIPv6Mreq(s.fd, unix.IPPROTO_IPV6, unix.IPV6_JOIN_GROUP, mr)
		} else {
			mr := &unix.IPMreqn{Multiaddr: GroupIPv4.As4(), Ifindex: int32(s.ifindex)}
			err = unix.SetsockoptIPMreqn(s.fd, unix.IPPROTO_IP, unix.IP_ADD_MEMBERSHIP, mr)
		}
		s.fdMu.RUnlock()
		if err != nil {
			ep.once.Do(func() { t.detach(ep) })
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
	s := &rawSock{t: t, key: key, ifindex: ifi.Index, eps: map[*rawEndpoint]bool{}}
	if s.addr4, s.ll6, err = ifaceAddrs(ifi); err != nil {
		return nil, err
	}
	family := unix.AF_INET
	if key.ipv6 {
		family = unix.AF_INET6
	}
	// Not a net.PacketConn: the runtime's poller would wake up for every
	// packet. The pump waits on the socket through its own epoll instance.
	fd, err := unix.Socket(family, unix.SOCK_RAW|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, IPProtocol)
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

// addSock hands s to the pump, starting one if none runs (under t.mu).
func (t *RawTransport) addSock(s *rawSock) error {
	if t.pump == nil {
		p, err := newPump(t)
		if err != nil {
			return err
		}
		t.pump = p
		t.wg.Add(1)
		go p.run()
	}
	p := t.pump
	s.pump = p
	t.rx.Lock()
	defer t.rx.Unlock()
	if err := p.ctl(unix.EPOLL_CTL_ADD, s); err != nil {
		return fmt.Errorf("watch vrrp socket on %s: %w", s.key.ifname, err)
	}
	p.socks = append(p.socks, s)
	return nil
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

// readBatch is how many packets one system call (recvmmsg) takes.
const readBatch = 32

// readBufLen holds the largest VRRP message (255 IPv6 addresses) with its
// IPv4 header; a longer one is truncated and dropped.
const readBufLen = 8192

// oobLen holds the control messages: receive time, TTL or hop limit, and
// for IPv6 the destination.
const oobLen = 128

// pump reads the sockets of a transport: see RawTransport.
type pump struct {
	t    *RawTransport
	epfd *os.File // the epoll instance, waited on through the runtime's poller
	rc   syscall.RawConn
	// tfd is a timerfd in the epoll set that ends the wait between two
	// rounds while busy. (A Go timer would also wake an idle thread of the
	// scheduler each time; a readiness event from the poller does not.)
	tfd int

	// Under t.rx.
	socks []*rawSock
	rb    *recvBufs
	evs   [16]unix.EpollEvent
}

// idleRounds is how many rounds in a row a busy socket must be found empty
// before it is armed again.
const idleRounds = 2

// recvBufs are the reused buffers of recvmmsg.
type recvBufs struct {
	hs    [readBatch]unix.Mmsghdr
	iovs  [readBatch]unix.Iovec
	names [readBatch]unix.RawSockaddrInet6
	data  [readBatch * readBufLen]byte
	oob   [readBatch * oobLen]byte
}

func newPump(t *RawTransport) (_ *pump, err error) {
	fail := func(err error) (*pump, error) { return nil, fmt.Errorf("create epoll instance: %w", err) }
	fd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return fail(err)
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return fail(err)
	}
	tfd, err := unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC)
	if err != nil {
		unix.Close(fd)
		return fail(err)
	}
	if err := unix.EpollCtl(fd, unix.EPOLL_CTL_ADD, tfd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(tfd)}); err != nil {
		unix.Close(fd)
		unix.Close(tfd)
		return fail(err)
	}
	f := os.NewFile(uintptr(fd), "vrrp-epoll")
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		unix.Close(tfd)
		return fail(err)
	}
	rb := new(recvBufs)
	for k := range rb.hs {
		h := &rb.hs[k].Hdr
		rb.iovs[k].Base = &rb.data[k*readBufLen]
		rb.iovs[k].SetLen(readBufLen)
		h.Iov = &rb.iovs[k]
		h.SetIovlen(1)
		h.Name = (*byte)(unsafe.Pointer(&rb.names[k]))
		h.Control = &rb.oob[k*oobLen]
	}
	return &pump{t: t, epfd: f, rc: rc, tfd: tfd, rb: rb}, nil
}

// ctl adds s to the epoll set, or arms it again (one-shot; under t.rx).
func (p *pump) ctl(op int, s *rawSock) error {
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLONESHOT, Fd: int32(s.fd)}
	var err error
	cerr := p.rc.Control(func(fd uintptr) { err = unix.EpollCtl(int(fd), op, s.fd, &ev) })
	return errors.Join(cerr, err)
}

// close ends the pump (under t.mu); its sockets are closed already.
func (p *pump) close() {
	p.epfd.Close() // wakes the pump, which closes tfd
}

func (p *pump) run() {
	defer p.t.wg.Done()
	defer unix.Close(p.tfd)
	t := p.t
	for {
		// Wait until a socket fires or the round timer expires: the epoll
		// instance becomes readable.
		err := p.rc.Read(func(fd uintptr) bool {
			t.rx.Lock()
			fired := p.collect(int(fd))
			t.rx.Unlock()
			return fired
		})
		if err != nil {
			return // closed
		}
		t.rx.Lock()
		busy := false
		for _, s := range p.socks {
			if !s.active {
				continue
			}
			if p.read(s) > 0 {
				s.idle = 0
			} else {
				s.idle++
			}
			if s.idle >= idleRounds || t.batch < 0 {
				// Empty: arm it again. A packet that came in since the
				// read makes it fire at once.
				s.active = false
				if err := p.ctl(unix.EPOLL_CTL_MOD, s); err != nil {
					t.log.Debug("arm vrrp socket", "interface", s.key.ifname, "err", err)
				}
			}
			busy = busy || s.active
		}
		t.rx.Unlock()
		if busy {
			// Packets keep coming: let them gather for a while. Sockets
			// that fire meanwhile (they are armed) end the wait early.
			its := unix.ItimerSpec{Value: unix.NsecToTimespec(int64(t.batch))}
			if err := unix.TimerfdSettime(p.tfd, 0, &its, nil); err != nil {
				t.log.Debug("arm vrrp read timer", "err", err)
			}
		}
	}
}

// collect takes the fired sockets and the expired timer from the epoll
// instance epfd, marking the sockets active (under t.rx). It reports
// whether anything fired.
func (p *pump) collect(epfd int) bool {
	n, err := unix.EpollWait(epfd, p.evs[:], 0)
	if err != nil || n <= 0 {
		return false
	}
	for _, ev := range p.evs[:n] {
		if int(ev.Fd) == p.tfd {
			var b [8]byte
			_, _ = unix.Read(p.tfd, b[:])
			continue
		}
		for _, s := range p.socks {
			if s.fd == int(ev.Fd) {
				s.active = true
				s.idle = 0
			}
		}
	}
	return true
}

// read takes every packet waiting on s and dispatches them (under t.rx).
// It returns how many it took.
func (p *pump) read(s *rawSock) int {
	if s.closed {
		return 0
	}
	total := 0
	for {
		n := p.recv(s)
		total += n
		if n < readBatch {
			return total
		}
	}
}

// recv is one recvmmsg on s; it dispatches what it got and returns the count.
func (p *pump) recv(s *rawSock) int {
	rb := p.rb
	for k := range rb.hs {
		h := &rb.hs[k].Hdr
		h.Namelen = unix.SizeofSockaddrInet6
		h.SetControllen(oobLen)
		h.Flags = 0
		rb.hs[k].Len = 0
	}
	var r uintptr
	var errno syscall.Errno
	for {
		// MSG_DONTWAIT: the call never blocks, so it may bypass the
		// scheduler's system call bookkeeping.
		r, _, errno = unix.RawSyscall6(unix.SYS_RECVMMSG, uintptr(s.fd), uintptr(unsafe.Pointer(&rb.hs[0])),
			readBatch, unix.MSG_DONTWAIT, 0, 0)
		if errno != unix.EINTR {
			break
		}
	}
	if errno != 0 {
		if errno != unix.EAGAIN {
			p.t.log.Debug("vrrp socket read", "interface", s.key.ifname, "err", errno)
		}
		return 0
	}
	n := int(r)
	now := time.Now()
	wall := now.UnixNano()
	for k := range n {
		m := &rb.hs[k]
		if m.Hdr.Flags&unix.MSG_TRUNC != 0 {
			p.t.log.Debug("vrrp socket read: message truncated", "interface", s.key.ifname)
			continue
		}
		b := rb.data[k*readBufLen : k*readBufLen+int(m.Len)]
		pkt := Packet{HopLimit: -1, Received: now}
		oob := rb.oob[k*oobLen : k*oobLen+int(m.Hdr.Controllen)]
		for len(oob) >= unix.SizeofCmsghdr {
			l, level, typ := cmsgHeader(oob)
			if l < unix.SizeofCmsghdr || l > len(oob) {
				break
			}
			d := oob[unix.SizeofCmsghdr:l]
			switch {
			case level == unix.SOL_SOCKET && typ == unix.SCM_TIMESTAMPNS:
				var ts int64
				switch len(d) {
				case 16:
					ts = int64(binary.NativeEndian.Uint64(d[0:8]))*1e9 + int64(binary.NativeEndian.Uint64(d[8:16]))
				case 8: // a 32-bit system's timespec
					ts = int64(int32(binary.NativeEndian.Uint32(d[0:4])))*1e9 + int64(int32(binary.NativeEndian.Uint32(d[4:8])))
				}
				if age := wall - ts; ts != 0 && age > 0 && age < int64(time.Minute) {
					pkt.Received = now.Add(-time.Duration(age))
				}
			case level == unix.IPPROTO_IP && typ == unix.IP_TTL && len(d) >= 4:
				pkt.HopLimit = int(int32(binary.NativeEndian.Uint32(d[0:4])))
			case level == unix.IPPROTO_IPV6 && typ == unix.IPV6_HOPLIMIT && len(d) >= 4:
				pkt.HopLimit = int(int32(binary.NativeEndian.Uint32(d[0:4])))
			case level == unix.IPPROTO_IPV6 && typ == unix.IPV6_PKTINFO && len(d) >= 20:
				if a := netip.AddrFrom16([16]byte(d[0:16])); !a.IsUnspecified() {
					pkt.Dst = a
				}
			}
			next := (l + cmsgAlign - 1) &^ (cmsgAlign - 1)
			if next >= len(oob) {
				break
			}
			oob = oob[next:]
		}
		if s.key.ipv6 {
			sa := &rb.names[k]
			if sa.Family == unix.AF_INET6 {
				pkt.Src = netip.AddrFrom16(sa.Addr)
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
			pkt.Dst = netip.AddrFrom4([4]byte(b[16:20]))
			b = b[hl:]
		}
		pkt.Data = b
		s.dispatch(pkt)
	}
	return n
}

// cmsgAlign is the alignment of control messages (CMSG_ALIGN).
const cmsgAlign = int(unsafe.Sizeof(uintptr(0)))

// cmsgHeader reads a control message header (struct cmsghdr, whose length
// field is a size_t) from b, which holds at least unix.SizeofCmsghdr bytes.
func cmsgHeader(b []byte) (length int, level, typ int32) {
	var h unix.Cmsghdr
	if unsafe.Sizeof(h.Len) == 8 {
		length = int(binary.NativeEndian.Uint64(b))
	} else {
		length = int(binary.NativeEndian.Uint32(b))
	}
	level = int32(binary.NativeEndian.Uint32(b[unsafe.Offsetof(h.Level):]))
	typ = int32(binary.NativeEndian.Uint32(b[unsafe.Offsetof(h.Type):]))
	return length, level, typ
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
		ep.deliver(p)
	}
}

func (e *rawEndpoint) LocalAddr() netip.Addr { return e.local }

func (e *rawEndpoint) Send(msg []byte, dst netip.Addr) error {
	s := e.s
	var to unix.Sockaddr
	if s.key.ipv6 {
		to = &unix.SockaddrInet6{Addr: dst.As16(), ZoneId: uint32(s.ifindex)}
	} else {
		to = &unix.SockaddrInet4{Addr: dst.As4()}
	}
	s.fdMu.RLock()
	var err error
	if s.closed {
		err = ErrClosed
	} else {
		for {
			_, err = unix.SendmsgN(s.fd, msg, e.oob, to, unix.MSG_DONTWAIT)
			if err != unix.EINTR {
				break
			}
		}
	}
	s.fdMu.RUnlock()
	if err != nil {
		return fmt.Errorf("send vrrp to %v on %s: %w", dst, s.key.ifname, err)
	}
	return nil
}

// Flush reads the endpoint's socket and delivers every packet waiting
// there before it returns: a backup calls it before it takes over.
func (e *rawEndpoint) Flush() {
	s := e.s
	t := s.t
	t.rx.Lock()
	s.pump.read(s)
	t.rx.Unlock()
}

// Close detaches the endpoint; the last one on a socket closes it.
func (e *rawEndpoint) Close() error {
	e.once.Do(func() {
		t := e.s.t
		t.mu.Lock()
		defer t.mu.Unlock()
		t.detach(e)
	})
	return nil
}

// detach removes e from its socket, closing it after the last (under t.mu).
func (t *RawTransport) detach(e *rawEndpoint) {
	s := e.s
	s.mu.Lock()
	delete(s.eps, e)
	s.reindex()
	last := len(s.eps) == 0
	s.mu.Unlock()
	if last {
		t.closeSock(s)
	}
}

// Close closes every socket and waits for the pump.
func (t *RawTransport) Close() error {
	t.mu.Lock()
	for _, s := range t.socks {
		t.closeSock(s)
	}
	if t.pump != nil {
		t.pump.close()
		t.pump = nil
	}
	t.mu.Unlock()
	t.wg.Wait()
	return nil
}
