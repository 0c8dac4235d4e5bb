package main

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// wireEvent is one frame of interest seen on the backup's interface, with
// the kernel's receive timestamp.
type wireEvent struct {
	at   time.Time
	kind string // "vrrp" or "garp"
	src  netip.Addr
	mac  net.HardwareAddr
	prio uint8
}

// sniffer records VRRP adverts and ARPs on one interface through an
// AF_PACKET socket with kernel timestamps (SO_TIMESTAMPNS).
type sniffer struct {
	fd     int
	f      *os.File // the socket in Go's netpoller: a blocking read would hold a P
	mu     sync.Mutex
	events []wireEvent
	done   chan struct{}
	exited chan struct{}
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// newSniffer must run inside the namespace (the socket stays there).
func newSniffer(ifname string) (*sniffer, error) {
	ifi, err := net.InterfaceByName(ifname)
	if err != nil {
		return nil, err
	}
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, int(htons(unix.ETH_P_ALL)))
	if err != nil {
		return nil, fmt.Errorf("open packet socket: %w", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifi.Index}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("bind packet socket: %w", err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("enable timestamps: %w", err)
	}
	return &sniffer{fd: fd, f: os.NewFile(uintptr(fd), "packet"), done: make(chan struct{}), exited: make(chan struct{})}, nil
}

func (s *sniffer) run() {
	defer close(s.exited)
	rc, err := s.f.SyscallConn()
	if err != nil {
		return
	}
	buf := make([]byte, 2048)
	oob := make([]byte, 128)
	for {
		var n, oobn int
		var rerr error
		err := rc.Read(func(fd uintptr) bool {
			n, oobn, _, _, rerr = unix.Recvmsg(int(fd), buf, oob, 0)
			return rerr != unix.EAGAIN
		})
		if err != nil {
			return // closed
		}
		if rerr != nil {
			continue
		}
		at := time.Now()
		if msgs, err := unix.ParseSocketControlMessage(oob[:oobn]); err == nil {
			for _, m := range msgs {
				if m.Header.Level == unix.SOL_SOCKET && m.Header.Type == unix.SO_TIMESTAMPNS && len(m.Data) >= 16 {
					sec := int64(binary.NativeEndian.Uint64(m.Data[0:8]))
					nsec := int64(binary.NativeEndian.Uint64(m.Data[8:16]))
					at = time.Unix(sec, nsec)
				}
			}
		}
		s.parse(buf[:n], at)
	}
}

func (s *sniffer) parse(f []byte, at time.Time) {
	if len(f) < 14 {
		return
	}
	mac := net.HardwareAddr(append([]byte(nil), f[6:12]...))
	switch binary.BigEndian.Uint16(f[12:14]) {
	case 0x0800:
		ip := f[14:]
		if len(ip) < 20 || ip[9] != 112 {
			return
		}
		hl := int(ip[0]&0x0f) * 4
		if len(ip) < hl+4 {
			return
		}
		src := netip.AddrFrom4([4]byte(ip[12:16]))
		s.add(wireEvent{at: at, kind: "vrrp", src: src, mac: mac, prio: ip[hl+2]})
	case 0x0806:
		a := f[14:]
		if len(a) < 28 {
			return
		}
		sip, tip := netip.AddrFrom4([4]byte(a[14:18])), netip.AddrFrom4([4]byte(a[24:28]))
		if sip == tip { // gratuitous
			s.add(wireEvent{at: at, kind: "garp", src: sip, mac: mac})
		}
	}
}

func (s *sniffer) add(e wireEvent) {
	s.mu.Lock()
	s.events = append(s.events, e)
	s.mu.Unlock()
}

func (s *sniffer) snapshot() []wireEvent {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]wireEvent(nil), s.events...)
}

func (s *sniffer) reset() {
	s.mu.Lock()
	s.events = nil
	s.mu.Unlock()
}

func (s *sniffer) close() {
	close(s.done)
	s.f.Close()
	<-s.exited
}

// addrWatcher reports when an IPv4 address appears in the namespace, from
// an RTM_NEWADDR notification read through the netpoller.
type addrWatcher struct {
	f     *os.File
	added chan addrEvent
}

type addrEvent struct {
	at   time.Time
	addr netip.Addr
}

// newAddrWatcher must run inside the namespace.
func newAddrWatcher() (*addrWatcher, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("open netlink socket: %w", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK, Groups: unix.RTMGRP_IPV4_IFADDR}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("bind netlink socket: %w", err)
	}
	w := &addrWatcher{f: os.NewFile(uintptr(fd), "netlink"), added: make(chan addrEvent, 256)}
	go w.run()
	return w, nil
}

func (w *addrWatcher) run() {
	defer close(w.added)
	rc, err := w.f.SyscallConn()
	if err != nil {
		return
	}
	buf := make([]byte, 65536)
	for {
		var n int
		var rerr error
		if err := rc.Read(func(fd uintptr) bool {
			n, _, rerr = unix.Recvfrom(int(fd), buf, 0)
			return rerr != unix.EAGAIN
		}); err != nil {
			return
		}
		if rerr != nil {
			continue
		}
		at := time.Now()
		msgs, err := syscallParseNetlink(buf[:n])
		if err != nil {
			continue
		}
		for _, m := range msgs {
			if m.typ != unix.RTM_NEWADDR || len(m.data) < unix.SizeofIfAddrmsg {
				continue
			}
			attrs := m.data[unix.SizeofIfAddrmsg:]
			for len(attrs) >= 4 {
				l := int(binary.NativeEndian.Uint16(attrs[0:2]))
				t := binary.NativeEndian.Uint16(attrs[2:4])
				if l < 4 || l > len(attrs) {
					break
				}
				if (t == unix.IFA_LOCAL || t == unix.IFA_ADDRESS) && l == 8 {
					select {
					case w.added <- addrEvent{at: at, addr: netip.AddrFrom4([4]byte(attrs[4:8]))}:
					default:
					}
					break
				}
				attrs = attrs[(l+3)&^3:]
			}
		}
	}
}

func (w *addrWatcher) close() { w.f.Close() }

type nlmsg struct {
	typ  uint16
	data []byte
}

func syscallParseNetlink(b []byte) ([]nlmsg, error) {
	var out []nlmsg
	for len(b) >= unix.SizeofNlMsghdr {
		l := int(binary.NativeEndian.Uint32(b[0:4]))
		if l < unix.SizeofNlMsghdr || l > len(b) {
			return out, fmt.Errorf("bad netlink message length %d", l)
		}
		out = append(out, nlmsg{typ: binary.NativeEndian.Uint16(b[4:6]), data: b[unix.SizeofNlMsghdr:l]})
		b = b[(l+3)&^3:]
	}
	return out, nil
}
