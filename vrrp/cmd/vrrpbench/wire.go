package main

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
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
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW, int(htons(unix.ETH_P_ALL)))
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
	// A receive timeout lets the reader notice close.
	tv := unix.Timeval{Usec: 200000}
	unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	return &sniffer{fd: fd, done: make(chan struct{}), exited: make(chan struct{})}, nil
}

func (s *sniffer) run() {
	defer close(s.exited)
	defer unix.Close(s.fd)
	buf := make([]byte, 2048)
	oob := make([]byte, 128)
	for {
		select {
		case <-s.done:
			return
		default:
		}
		n, oobn, _, _, err := unix.Recvmsg(s.fd, buf, oob, 0)
		if err != nil {
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
	<-s.exited
}
