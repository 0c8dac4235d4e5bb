package healthcheck

import (
	"bufio"
	"context"
	"fmt"
	"net/textproto"
)

// DefaultHELO is keepalived's default helo_name.
const DefaultHELO = "smtpchecker.keepalived.org"

// SMTPChecker is keepalived's SMTP_CHECK: it reads the 220 greeting, says
// HELO and expects 250, then says QUIT.
type SMTPChecker struct {
	Conn
	// HELOName is sent with HELO; empty means DefaultHELO.
	HELOName string
}

var _ Checker = (*SMTPChecker)(nil)

func (c *SMTPChecker) kind() kind     { return kindSMTP }
func (c *SMTPChecker) String() string { return "smtp " + c.Addr.String() }

// Check runs the dialogue.
func (c *SMTPChecker) Check(ctx context.Context) error {
	if err := c.validate("smtp"); err != nil {
		return err
	}
	conn, err := c.dial(ctx, "tcp")
	if err != nil {
		return fmt.Errorf("smtp check %s: connect: %w", c.Addr, ctxErr(ctx, err))
	}
	defer conn.Close()
	stop := watch(ctx, conn)
	defer stop()
	tp := textproto.NewConn(conn)
	tp.Reader = *textproto.NewReader(bufio.NewReaderSize(conn, 1024))
	if _, _, err := tp.ReadResponse(220); err != nil {
		return fmt.Errorf("smtp check %s: greeting: %w", c.Addr, ctxErr(ctx, err))
	}
	helo := c.HELOName
	if helo == "" {
		helo = DefaultHELO
	}
	if err := tp.PrintfLine("HELO %s", helo); err != nil {
		return fmt.Errorf("smtp check %s: send HELO: %w", c.Addr, ctxErr(ctx, err))
	}
	if _, _, err := tp.ReadResponse(250); err != nil {
		return fmt.Errorf("smtp check %s: HELO: %w", c.Addr, ctxErr(ctx, err))
	}
	// keepalived ends with QUIT and does not judge the answer.
	tp.PrintfLine("QUIT")
	return nil
}
