package healthcheck

import (
	"context"
	"fmt"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// TCPChecker is keepalived's TCP_CHECK: the target is up when a TCP
// connection to it completes.
type TCPChecker struct {
	Conn

	// name is the socket's name in errors ("tcp <addr>"), a *string kept
	// between probes; not an atomic.Pointer so a checker may be copied.
	name unsafe.Pointer
}

var _ Checker = (*TCPChecker)(nil)

func (c *TCPChecker) kind() kind     { return kindTCP }
func (c *TCPChecker) String() string { return "tcp " + c.Addr.String() }

// Check connects and closes with a reset (SO_LINGER 0), as HAProxy's TCP
// checks do: closing first, a checker would otherwise keep every probe's
// connection in TIME_WAIT for a minute (keepalived closes gracefully). The
// socket is opened as HTTP_GET's is (see Conn.openTCP): no net.Dialer.
func (c *TCPChecker) Check(ctx context.Context) error {
	if err := c.validate("tcp"); err != nil {
		return err
	}
	name := (*string)(atomic.LoadPointer(&c.name))
	if name == nil || *name != "tcp "+c.Addr.String() {
		n := "tcp " + c.Addr.String()
		name = &n
		atomic.StorePointer(&c.name, unsafe.Pointer(name))
	}
	f, err := c.openTCP(*name)
	if err != nil {
		return fmt.Errorf("tcp check %s: connect: %w", c.Addr, err)
	}
	defer f.Close()
	if dl, ok := ctx.Deadline(); ok {
		f.SetDeadline(dl)
	}
	stop := watch(ctx, f)
	defer stop()
	rc, err := f.SyscallConn()
	if err != nil {
		return fmt.Errorf("tcp check %s: %w", c.Addr, err)
	}
	// The handshake has ended when the socket has a peer, or failed when
	// SO_ERROR says so; otherwise wait for the socket to turn writable,
	// which it does when the handshake ends either way. (Waiting first
	// would lose the edge that came before: the poller forgets readiness
	// when a wait begins.)
	var soErr error
	err = rc.Write(func(fd uintptr) bool {
		v, err := unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_ERROR)
		switch {
		case err != nil:
			soErr = err
			return true
		case v != 0 && v != int(unix.EINPROGRESS) && v != int(unix.EALREADY) && v != int(unix.EINTR):
			soErr = unix.Errno(v)
			return true
		}
		if _, err := unix.Getpeername(int(fd)); err == unix.ENOTCONN {
			return false // not yet
		} else if err != nil {
			soErr = err
		}
		return true
	})
	if err == nil {
		err = soErr
	}
	if err != nil {
		return fmt.Errorf("tcp check %s: connect: %w", c.Addr, ctxErr(ctx, err))
	}
	return nil
}
