package healthcheck

import (
	"context"
	"errors"
	"fmt"
	"net"
	"syscall"
)

// UDPChecker is keepalived's UDP_CHECK: it sends Payload to the target.
// With RequireReply the target is up when a reply whose length is within
// [MinReplyLength, MaxReplyLength] arrives before the deadline. Without it
// the target is up unless the kernel reports an ICMP error (port or host
// unreachable) before the deadline, so such a probe lasts the whole
// connect_timeout when nothing answers.
type UDPChecker struct {
	Conn
	Payload      []byte
	RequireReply bool
	// MinReplyLength and MaxReplyLength bound an accepted reply; zero
	// MaxReplyLength means no upper bound.
	MinReplyLength int
	MaxReplyLength int
	// ReplyData, with RequireReply, is what the reply must start with
	// (keepalived compares the shorter of the two); bits set in ReplyMask
	// are not compared.
	ReplyData []byte
	ReplyMask []byte
}

var _ Checker = (*UDPChecker)(nil)

func (c *UDPChecker) kind() kind     { return kindUDP }
func (c *UDPChecker) String() string { return "udp " + c.Addr.String() }

// Check sends one datagram and waits as described on UDPChecker.
func (c *UDPChecker) Check(ctx context.Context) error {
	if err := c.validate("udp"); err != nil {
		return err
	}
	if c.MaxReplyLength > 0 && c.MinReplyLength > c.MaxReplyLength {
		return fmt.Errorf("udp check %s: min_reply_length %d > max_reply_length %d", c.Addr, c.MinReplyLength, c.MaxReplyLength)
	}
	conn, err := c.dial(ctx, "udp")
	if err != nil {
		return fmt.Errorf("udp check %s: connect: %w", c.Addr, ctxErr(ctx, err))
	}
	defer conn.Close()
	stop := watch(ctx, conn)
	defer stop()
	if _, err := conn.Write(c.Payload); err != nil {
		return fmt.Errorf("udp check %s: send: %w", c.Addr, ctxErr(ctx, err))
	}
	bufLen := 65535
	buf := make([]byte, bufLen)
	n, err := conn.Read(buf)
	if err != nil {
		if errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.EHOSTUNREACH) || errors.Is(err, syscall.ENETUNREACH) {
			return fmt.Errorf("udp check %s: %w", c.Addr, err)
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() && !c.RequireReply {
			return nil // no reply and no error: keepalived counts it a success
		}
		if c.RequireReply {
			return fmt.Errorf("udp check %s: no reply: %w", c.Addr, ctxErr(ctx, err))
		}
		return fmt.Errorf("udp check %s: %w", c.Addr, ctxErr(ctx, err))
	}
	if n < c.MinReplyLength || (c.MaxReplyLength > 0 && n > c.MaxReplyLength) {
		return fmt.Errorf("udp check %s: reply of %d bytes outside [%d, %d]", c.Addr, n, c.MinReplyLength, c.MaxReplyLength)
	}
	if c.RequireReply {
		for i := 0; i < n && i < len(c.ReplyData); i++ {
			mask := byte(0)
			if i < len(c.ReplyMask) {
				mask = c.ReplyMask[i]
			}
			if (buf[i]^c.ReplyData[i])&^mask != 0 {
				return fmt.Errorf("udp check %s: reply byte %d is %#02x, want %#02x", c.Addr, i, buf[i], c.ReplyData[i])
			}
		}
	}
	return nil
}
