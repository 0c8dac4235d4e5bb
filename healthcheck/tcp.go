package healthcheck

import (
	"context"
	"fmt"
)

// TCPChecker is keepalived's TCP_CHECK: the target is up when a TCP
// connection to it completes.
type TCPChecker struct {
	Conn
}

var _ Checker = (*TCPChecker)(nil)

func (c *TCPChecker) kind() kind     { return kindTCP }
func (c *TCPChecker) String() string { return "tcp " + c.Addr.String() }

// Check connects and closes.
func (c *TCPChecker) Check(ctx context.Context) error {
	if err := c.validate("tcp"); err != nil {
		return err
	}
	conn, err := c.dial(ctx, "tcp")
	if err != nil {
		return fmt.Errorf("tcp check %s: connect: %w", c.Addr, ctxErr(ctx, err))
	}
	return conn.Close()
}
