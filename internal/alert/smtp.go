package alert

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/smtp"
	"net/textproto"
	"time"

	"github.com/lvskit/lvskit/clock"
)

// rejection is a recipient the server refused while others were accepted.
type rejection struct {
	addr string
	err  error
}

// send runs one SMTP transaction for msg, bounded as a whole by the
// notifier's timeout and aborted when ctx ends. Recipients the server
// refuses are returned; the message counts as sent when at least one was
// accepted.
func (n *Notifier) send(ctx context.Context, msg []byte) ([]rejection, error) {
	ctx, cancel := clock.WithTimeout(ctx, n.clock, n.timeout)
	defer cancel()

	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", n.server)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", n.server, err)
	}
	defer conn.Close()
	// The deadline (on the wall clock) covers the whole dialogue; ctx
	// ending (the timeout on another clock, Close's budget) moves it to
	// the past, which unblocks any read or write.
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	rejected, err := n.dialogue(conn, msg)
	if err != nil && ctx.Err() != nil {
		err = fmt.Errorf("%w (%w)", err, context.Cause(ctx))
	}
	return rejected, err
}

func (n *Notifier) dialogue(conn net.Conn, msg []byte) ([]rejection, error) {
	c, err := smtp.NewClient(conn, n.host) // reads the 220 greeting
	if err != nil {
		return nil, fmt.Errorf("read greeting: %w", err)
	}
	defer c.Close()
	if err := c.Hello(n.helo); err != nil {
		return nil, fmt.Errorf("send hello: %w", err)
	}
	if err := c.Mail(n.from); err != nil {
		return nil, fmt.Errorf("send mail from: %w", err)
	}
	var rejected []rejection
	for _, to := range n.to {
		if err := c.Rcpt(to); err != nil {
			var reply *textproto.Error
			if !errors.As(err, &reply) {
				return nil, fmt.Errorf("send rcpt to: %w", err) // the connection, not the recipient
			}
			rejected = append(rejected, rejection{to, err})
		}
	}
	if len(rejected) == len(n.to) {
		return rejected, fmt.Errorf("send rcpt to: every recipient rejected, first: %w", rejected[0].err)
	}
	w, err := c.Data()
	if err != nil {
		return rejected, fmt.Errorf("send data: %w", err)
	}
	if _, err := w.Write(msg); err != nil {
		return rejected, fmt.Errorf("send message: %w", err)
	}
	if err := w.Close(); err != nil { // the server's verdict on the message
		return rejected, fmt.Errorf("send message: %w", err)
	}
	// The message is accepted; a failing QUIT does not undo that.
	c.Quit()
	return rejected, nil
}
