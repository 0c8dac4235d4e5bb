package healthcheck

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"sync/atomic"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
	"golang.org/x/sys/unix"
)

// PingChecker is keepalived's PING_CHECK: the target is up when it answers
// an ICMP (or ICMPv6) echo request. It uses an unprivileged ping socket
// where net.ipv4.ping_group_range lets this process's group open one, and
// a raw socket (CAP_NET_RAW) otherwise.
type PingChecker struct {
	Conn // Addr's port is ignored; BindPort is not supported

	id  uint16
	seq atomic.Uint32
}

var _ Checker = (*PingChecker)(nil)

func (c *PingChecker) kind() kind     { return kindPing }
func (c *PingChecker) String() string { return "ping " + c.Addr.Addr().String() }

// Check sends one echo request and waits for its reply.
func (c *PingChecker) Check(ctx context.Context) error {
	dst := c.Addr.Addr().Unmap()
	if !dst.IsValid() {
		return errors.New("ping check: no target address")
	}
	if c.BindAddr.IsValid() && c.BindAddr.Unmap().Is4() != dst.Is4() {
		return fmt.Errorf("ping check %s: bindto %s is of another address family", dst, c.BindAddr)
	}
	if c.id == 0 {
		c.id = uint16(rand.N(0xfffe)) + 1
	}
	conn, dgram, err := c.open(dst.Is4())
	if err != nil {
		return fmt.Errorf("ping check %s: %w", dst, err)
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()

	seq := uint16(c.seq.Add(1))
	var typ icmp.Type = ipv4.ICMPTypeEcho
	proto := 1
	if !dst.Is4() {
		typ, proto = ipv6.ICMPTypeEchoRequest, 58
	}
	payload := []byte("lvskit-ping")
	msg := icmp.Message{Type: typ, Body: &icmp.Echo{ID: int(c.id), Seq: int(seq), Data: payload}}
	wb, err := msg.Marshal(nil)
	if err != nil {
		return fmt.Errorf("ping check %s: %w", dst, err)
	}
	var to net.Addr = &net.IPAddr{IP: dst.AsSlice(), Zone: dst.Zone()}
	if dgram {
		to = &net.UDPAddr{IP: dst.AsSlice(), Zone: dst.Zone()}
	}
	if _, err := conn.WriteTo(wb, to); err != nil {
		// sendto on an ICMP socket answers from the routing table:
		// no route from here is a local failure.
		return fmt.Errorf("ping check %s: send: %w", dst, noRoute(ctxErr(ctx, err)))
	}
	buf := make([]byte, 1500)
	for {
		n, from, err := conn.ReadFrom(buf)
		if err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("ping check %s: no echo reply: timeout: %w", dst, context.DeadlineExceeded)
			}
			return fmt.Errorf("ping check %s: no echo reply: %w", dst, ctxErr(ctx, err))
		}
		rm, err := icmp.ParseMessage(proto, buf[:n])
		if err != nil {
			continue // not ours or malformed: keep waiting
		}
		echo, ok := rm.Body.(*icmp.Echo)
		if !ok || (rm.Type != ipv4.ICMPTypeEchoReply && rm.Type != ipv6.ICMPTypeEchoReply) {
			continue
		}
		if echo.Seq != int(seq) || (!dgram && echo.ID != int(c.id)) {
			continue
		}
		if !dgram && !sameIP(from, dst.AsSlice()) {
			continue
		}
		return nil
	}
}

func sameIP(a net.Addr, ip net.IP) bool {
	switch a := a.(type) {
	case *net.IPAddr:
		return a.IP.Equal(ip)
	case *net.UDPAddr:
		return a.IP.Equal(ip)
	}
	return false
}

// open returns an ICMP socket: a ping (datagram) socket when allowed, else
// a raw one.
func (c *PingChecker) open(v4 bool) (net.PacketConn, bool, error) {
	family, proto := unix.AF_INET, unix.IPPROTO_ICMP
	if !v4 {
		family, proto = unix.AF_INET6, unix.IPPROTO_ICMPV6
	}
	fd, err := unix.Socket(family, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, proto)
	dgram := err == nil
	if err != nil {
		fd, err = unix.Socket(family, unix.SOCK_RAW|unix.SOCK_CLOEXEC, proto)
		if err != nil {
			return nil, false, fmt.Errorf("open icmp socket (neither ping socket nor raw socket allowed): %w", err)
		}
	}
	if err := c.setSockopts(fd); err != nil {
		unix.Close(fd)
		return nil, false, err
	}
	if c.BindAddr.IsValid() {
		var sa unix.Sockaddr
		if v4 {
			sa = &unix.SockaddrInet4{Addr: c.BindAddr.Unmap().As4()}
		} else {
			sa = &unix.SockaddrInet6{Addr: c.BindAddr.As16()}
		}
		if err := unix.Bind(fd, sa); err != nil {
			unix.Close(fd)
			return nil, false, fmt.Errorf("bind %s: %w", c.BindAddr, err)
		}
	}
	f := os.NewFile(uintptr(fd), "icmp")
	pc, err := net.FilePacketConn(f)
	f.Close()
	if err != nil {
		return nil, false, fmt.Errorf("open icmp socket: %w", err)
	}
	return pc, dgram, nil
}
