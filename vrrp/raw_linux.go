package vrrp

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"time"

	"github.com/vishvananda/netns"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
	"golang.org/x/sys/unix"

	"github.com/lvskit/lvskit/clock"
)

// The raw transport in four files: its API and endpoints (this file), the
// sockets (raw_socket_linux.go), the epoll pump that reads them
// (raw_pump_linux.go) and the decoding of what it reads
// (raw_recv_linux.go).

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
	// readLog bounds the debug lines about failed and truncated reads.
	readLog *logLimit

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
	ah     bool // IP protocol 51 (AH), sending whole datagrams (IP_HDRINCL)
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
	return &RawTransport{cfg: cfg, log: l, batch: b, socks: map[sockKey]*rawSock{},
		readLog: newLogLimit(clock.Wall{}, debugLinesPerSecond)}
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
	if cfg.AH && cfg.IPv6 {
		return nil, errors.New("open vrrp endpoint: AH authentication is IPv4 only")
	}
	key := sockKey{cfg.Interface, cfg.IPv6, cfg.AH}
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
	group := cfg.group()
	s.mu.Lock()
	s.eps[ep] = true
	s.reindex()
	join := cfg.Multicast && !s.groups[group]
	if join {
		s.groups[group] = true
	}
	s.mu.Unlock()
	if join {
		if err := s.joinGroup(group); err != nil {
			s.mu.Lock()
			delete(s.groups, group)
			s.mu.Unlock()
			ep.once.Do(func() { t.detach(ep) })
			return nil, fmt.Errorf("join vrrp group %v on %s: %w", group, cfg.Interface, err)
		}
	}
	return ep, nil
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
