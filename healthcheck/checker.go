package healthcheck

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Checker is one probe of one target. Check returns nil when the target is
// healthy and an error saying what failed otherwise. The context carries the
// probe's deadline (keepalived's connect_timeout); a checker must return
// soon after it is done.
type Checker interface {
	Check(ctx context.Context) error
}

// WeightChecker is a Checker that can also set the real server's weight:
// MISC_CHECK with misc_dynamic and FILE_CHECK. A Monitor calls CheckWeight
// instead of Check when a checker has it.
type WeightChecker interface {
	Checker
	CheckWeight(ctx context.Context) (Weight, error)
}

// WeightKind says how a Weight applies to a real server's configured weight.
type WeightKind uint8

// Weight kinds.
const (
	// WeightConfigured: use the configured weight (MISC_CHECK exit 0, and
	// every checker that does not set weights).
	WeightConfigured WeightKind = iota
	// WeightAbsolute: replace the configured weight with Value
	// (MISC_CHECK with misc_dynamic, exit status 2..255 → status-2).
	WeightAbsolute
	// WeightOffset: add Value to the weight (FILE_CHECK: file value ×
	// weight). keepalived adds offsets of all a server's FILE_CHECKs.
	WeightOffset
)

// Weight is what a WeightChecker reports for the real server's weight.
type Weight struct {
	Kind  WeightKind
	Value int
}

// Conn holds the connection options every network checker shares, under
// keepalived's names: connect_ip + connect_port (Addr), bindto (BindAddr),
// bind_port, bind_if and fwmark.
type Conn struct {
	// Addr is where the probe goes. Required.
	Addr netip.AddrPort
	// BindAddr is the source address (bindto); zero lets the kernel choose.
	BindAddr netip.Addr
	// BindPort is the source port (bind_port); zero lets the kernel choose.
	BindPort uint16
	// BindInterface binds the socket to a device (bind_if,
	// SO_BINDTODEVICE); needed for IPv6 link-local targets.
	BindInterface string
	// FWMark marks the probe's packets (fwmark, SO_MARK), so policy routing
	// can send a DR check through the VIP. Needs CAP_NET_ADMIN.
	FWMark uint32
}

func (c Conn) validate(kind string) error {
	if !c.Addr.IsValid() {
		return fmt.Errorf("%s check: no target address", kind)
	}
	if c.BindAddr.IsValid() && c.BindAddr.Unmap().Is4() != c.Addr.Addr().Unmap().Is4() {
		return fmt.Errorf("%s check %s: bindto %s is of another address family", kind, c.Addr, c.BindAddr)
	}
	return nil
}

// local returns the source address for network ("tcp" or "udp"), or nil.
func (c Conn) local(network string) net.Addr {
	if !c.BindAddr.IsValid() && c.BindPort == 0 {
		return nil
	}
	ip := net.IP(nil)
	if c.BindAddr.IsValid() {
		ip = c.BindAddr.AsSlice()
	}
	if network == "udp" {
		return &net.UDPAddr{IP: ip, Port: int(c.BindPort), Zone: c.BindAddr.Zone()}
	}
	return &net.TCPAddr{IP: ip, Port: int(c.BindPort), Zone: c.BindAddr.Zone()}
}

// control sets SO_BINDTODEVICE and SO_MARK on a socket before it connects.
func (c Conn) control(_, _ string, rc syscall.RawConn) error {
	if c.BindInterface == "" && c.FWMark == 0 && c.BindPort == 0 {
		return nil
	}
	var serr error
	err := rc.Control(func(fd uintptr) { serr = c.setSockopts(int(fd)) })
	if err != nil {
		return err
	}
	return serr
}

func (c Conn) setSockopts(fd int) error {
	if c.BindPort != 0 {
		// A fixed source port is reused by every probe; let the next
		// probe bind while the last one is in TIME_WAIT.
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
			return fmt.Errorf("set SO_REUSEADDR: %w", err)
		}
	}
	if c.BindInterface != "" {
		if err := unix.BindToDevice(fd, c.BindInterface); err != nil {
			return fmt.Errorf("bind to device %s: %w", c.BindInterface, err)
		}
	}
	if c.FWMark != 0 {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_MARK, int(c.FWMark)); err != nil {
			return fmt.Errorf("set fwmark %d: %w", c.FWMark, err)
		}
	}
	return nil
}

// dialer returns a net.Dialer applying c's options for network ("tcp", "udp").
func (c Conn) dialer(network string) *net.Dialer {
	// A probe lives for one exchange: no TCP keepalive (Go enables it by
	// default, at the cost of four setsockopt calls per connection).
	return &net.Dialer{LocalAddr: c.local(network), Control: c.control, KeepAlive: -1}
}

// dial connects to c.Addr over network ("tcp" or "udp") under ctx's
// deadline. (Dialer.DialTCP would skip parsing the address, but it binds
// even when no source is wanted, taking an ephemeral port for every probe
// without regard to the destination.)
func (c Conn) dial(ctx context.Context, network string) (net.Conn, error) {
	conn, err := c.dialer(network).DialContext(ctx, network, c.Addr.String())
	if err != nil {
		return nil, err
	}
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	return conn, nil
}

// watch cuts conn's deadline short when ctx ends before stop is called, so
// blocked reads and writes return. It returns the stop function.
func watch(ctx context.Context, conn interface{ SetDeadline(time.Time) error }) (stop func() bool) {
	return context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
}

// openTCP opens a non-blocking TCP socket with c's options, starts
// connecting it to c.Addr and returns it as a pollable *os.File named name:
// the first Write waits for the connection and fails with its error. This
// is the lean path of HTTP_GET: against net.Dialer it saves the
// getsockopt, getsockname, getpeername and TCP_NODELAY calls of every
// connection and one wake-up (the request goes out as soon as the
// handshake is done).
//
// The socket has SO_LINGER 0, so closing it sends a reset instead of a
// FIN, as HAProxy does with its health checks: neither end keeps the
// connection in TIME_WAIT. A checker opening 10,000 connections a second
// would otherwise leave up to 600,000 of them in TIME_WAIT (60 s each)
// whenever it closes first, filling the kernel's table of them
// (tcp_max_tw_buckets) and, towards one target, its ephemeral ports.
// keepalived lingers 5 s for a graceful close instead.
func (c Conn) openTCP(name string) (*os.File, error) {
	sa, err := sockaddr(c.Addr.Addr(), c.Addr.Port())
	if err != nil {
		return nil, err
	}
	family := unix.AF_INET
	if _, v6 := sa.(*unix.SockaddrInet6); v6 {
		family = unix.AF_INET6
	}
	fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open socket: %w", err)
	}
	if err := c.prepare(fd, family); err != nil {
		unix.Close(fd)
		return nil, err
	}
	if err := unix.Connect(fd, sa); err != nil && err != unix.EINPROGRESS {
		unix.Close(fd)
		// Answered at once, so it is this host's own verdict: no route
		// from here is a local failure (IsLocal).
		return nil, noRoute(err)
	}
	return os.NewFile(uintptr(fd), name), nil
}

// prepare sets a probe socket's options and source address.
func (c Conn) prepare(fd, family int) error {
	if err := unix.SetsockoptLinger(fd, unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1, Linger: 0}); err != nil {
		return fmt.Errorf("set SO_LINGER: %w", err)
	}
	if err := c.setSockopts(fd); err != nil {
		return err
	}
	if !c.BindAddr.IsValid() && c.BindPort == 0 {
		return nil
	}
	a := c.BindAddr
	if !a.IsValid() { // a port only: any address of the socket's family
		a = netip.IPv4Unspecified()
		if family == unix.AF_INET6 {
			a = netip.IPv6Unspecified()
		}
	}
	sa, err := sockaddr(a, c.BindPort)
	if err != nil {
		return err
	}
	if err := unix.Bind(fd, sa); err != nil {
		return fmt.Errorf("bind %s: %w", c.local("tcp"), err)
	}
	return nil
}

// sockaddr is a (with port) as a socket address; an IPv6 zone names the
// interface, whose index it becomes.
func sockaddr(a netip.Addr, port uint16) (unix.Sockaddr, error) {
	if a.Unmap().Is4() {
		return &unix.SockaddrInet4{Port: int(port), Addr: a.Unmap().As4()}, nil
	}
	sa := &unix.SockaddrInet6{Port: int(port), Addr: a.As16()}
	if z := a.Zone(); z != "" {
		ifi, err := net.InterfaceByName(z)
		if err != nil {
			return nil, fmt.Errorf("zone %s: %w", z, err)
		}
		sa.ZoneId = uint32(ifi.Index)
	}
	return sa, nil
}

// ctxErr marks a deadline error as a timeout, so messages read
// "connect: timeout: dial tcp ...: i/o timeout".
func ctxErr(_ context.Context, err error) error {
	if err == nil {
		return nil
	}
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		return fmt.Errorf("timeout: %w", err)
	}
	return err
}

func timeUntil(t time.Time) time.Duration {
	d := time.Until(t)
	if d <= 0 {
		return time.Nanosecond
	}
	return d
}
