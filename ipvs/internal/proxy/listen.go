package proxy

import (
	"context"
	"net"
	"net/netip"
	"syscall"

	"golang.org/x/sys/unix"
)

// listenControl sets IP_FREEBIND (and IPV6_FREEBIND), so the socket can
// bind an address that is not (yet) configured on the host, and
// SO_REUSEADDR, so a restarted service binds at once.
func listenControl(network, address string, c syscall.RawConn) error {
	var serr error
	err := c.Control(func(fd uintptr) {
		if e := unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); e != nil {
			serr = e
			return
		}
		// IP_FREEBIND works on IPv6 sockets too (it sets the same flag);
		// IPV6_FREEBIND is only known to Linux 4.15 and later.
		if e := unix.SetsockoptInt(int(fd), unix.SOL_IP, unix.IP_FREEBIND, 1); e != nil {
			serr = e
			return
		}
		if network == "tcp6" || network == "udp6" {
			_ = unix.SetsockoptInt(int(fd), unix.SOL_IPV6, unix.IPV6_FREEBIND, 1)
		}
	})
	if err != nil {
		return err
	}
	return serr
}

func network(proto Protocol, a netip.Addr) string {
	n := "tcp"
	if proto == UDP {
		n = "udp"
	}
	if a.Unmap().Is4() {
		return n + "4"
	}
	return n + "6"
}

func listenTCP(ctx context.Context, addr netip.AddrPort) (*net.TCPListener, error) {
	// No TCP keepalive on accepted connections: IPVS adds none, and the
	// four setsockopt calls per connection cost throughput.
	lc := net.ListenConfig{Control: listenControl, KeepAlive: -1}
	l, err := lc.Listen(ctx, network(TCP, addr.Addr()), addr.String())
	if err != nil {
		return nil, err
	}
	return l.(*net.TCPListener), nil
}

func listenUDP(ctx context.Context, addr netip.AddrPort) (*net.UDPConn, error) {
	lc := net.ListenConfig{Control: listenControl}
	c, err := lc.ListenPacket(ctx, network(UDP, addr.Addr()), addr.String())
	if err != nil {
		return nil, err
	}
	return c.(*net.UDPConn), nil
}
