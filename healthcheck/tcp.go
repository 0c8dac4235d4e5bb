package healthcheck

import (
	"context"
	"fmt"
	"net"
)

// TCPChecker is keepalived's TCP_CHECK: the target is up when a TCP
// connection to it completes.
type TCPChecker struct {
	Conn
}

var _ Checker = (*TCPChecker)(nil)

func (c *TCPChecker) kind() kind     { return kindTCP }
func (c *TCPChecker) String() string { return "tcp " + c.Addr.String() }

// Check connects and closes with a reset (SO_LINGER 0), as HAProxy's TCP
// checks do: closing first, a checker would otherwise keep every probe's
// connection in TIME_WAIT for a minute (keepalived closes gracefully).
func (c *TCPChecker) Check(ctx context.Context) error {
	if err := c.validate("tcp"); err != nil {
		return err
	}
	conn, err := c.dial(ctx, "tcp")
	if err != nil {
		return fmt.Errorf("tcp check %s: connect: %w", c.Addr, ctxErr(ctx, err))
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	return conn.Close()
}
