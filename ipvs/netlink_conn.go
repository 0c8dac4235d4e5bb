package ipvs

// The socket side of the netlink backend: one generic netlink socket bound
// in a network namespace, requests pipelined in batches, replies matched
// to requests by sequence number.

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"syscall"
	"time"
	"unsafe"

	"github.com/vishvananda/netlink/nl"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// conn is a generic netlink socket. It is not safe for concurrent use: the
// Netlink backend serialises calls.
type conn struct {
	sock    *nl.NetlinkSocket
	fd      int
	seq     uint32
	buf     []byte
	timeout time.Duration
}

// errNoReply: the kernel did not answer in time.
var errNoReply = errors.New("no reply from the kernel")

func dialGeneric(ns netns.NsHandle, timeout time.Duration) (*conn, error) {
	if ns <= 0 {
		ns = netns.None()
	}
	s, err := nl.GetNetlinkSocketAt(ns, netns.None(), unix.NETLINK_GENERIC)
	if err != nil {
		return nil, fmt.Errorf("open generic netlink socket: %w", err)
	}
	c := &conn{sock: s, fd: s.GetFd(), buf: make([]byte, 64<<10), timeout: timeout}
	// Errors then carry only the failed request's header, not its body.
	_ = unix.SetsockoptInt(c.fd, unix.SOL_NETLINK, unix.NETLINK_CAP_ACK, 1)
	// Room for a whole batch of acks and large dump parts.
	_ = unix.SetsockoptInt(c.fd, unix.SOL_SOCKET, unix.SO_RCVBUF, 1<<20)
	return c, nil
}

func (c *conn) close() { c.sock.Close() }

// request builds a generic netlink message for family with command cmd.
func (c *conn) request(family uint16, cmd uint8, flags int, attrs ...*nl.RtAttr) *nl.NetlinkRequest {
	req := nl.NewNetlinkRequest(int(family), flags)
	c.seq++
	req.Seq = c.seq
	req.AddData(&nl.Genlmsg{Command: cmd, Version: ipvsGenlVersion})
	for _, a := range attrs {
		req.AddData(a)
	}
	return req
}

// send writes reqs in one datagram. The kernel handles each message in
// turn, inside this call.
func (c *conn) send(reqs []*nl.NetlinkRequest) error {
	var b []byte
	for _, r := range reqs {
		b = append(b, r.Serialize()...)
	}
	for {
		err := rawSendto(c.fd, b)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return fmt.Errorf("send netlink request: %w", err)
		}
		return nil
	}
}

// receive returns the next batch of messages from the kernel, waiting
// until ctx ends or the reply timeout passes. The messages point into the
// connection's buffer: use them before the next receive.
func (c *conn) receive(ctx context.Context) ([]syscall.NetlinkMessage, error) {
	deadline := time.Now().Add(c.timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	for {
		n, err := rawRecv(c.fd, c.buf, unix.MSG_DONTWAIT|unix.MSG_TRUNC)
		switch {
		case err == nil:
			if n > len(c.buf) {
				return nil, fmt.Errorf("receive netlink reply: %d bytes do not fit the buffer", n)
			}
			msgs, err := syscall.ParseNetlinkMessage(c.buf[:n])
			if err != nil {
				return nil, fmt.Errorf("parse netlink reply: %w", err)
			}
			return msgs, nil
		case err == unix.EINTR:
			continue
		case err != unix.EAGAIN:
			return nil, fmt.Errorf("receive netlink reply: %w", err)
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		wait := time.Until(deadline)
		if wait <= 0 {
			return nil, errNoReply
		}
		// Wake up now and then to notice a cancelled context.
		ms := int(min(wait, 100*time.Millisecond) / time.Millisecond)
		fds := []unix.PollFd{{Fd: int32(c.fd), Events: unix.POLLIN}}
		if _, err := unix.Poll(fds, max(ms, 1)); err != nil && err != unix.EINTR {
			return nil, fmt.Errorf("poll netlink socket: %w", err)
		}
	}
}

// errnoOf decodes an NLMSG_ERROR message: 0 for an ack.
func errnoOf(m *syscall.NetlinkMessage) syscall.Errno {
	if len(m.Data) < 4 {
		return syscall.EBADMSG
	}
	return syscall.Errno(-int32(binary.NativeEndian.Uint32(m.Data)))
}

// exchange sends reqs (each asking for an ack) in one datagram and reads
// one ack per request. It returns the index of the first request the
// kernel refused and its errno, or -1. An error means the exchange itself
// failed (the connection may then hold stale replies, which later calls
// skip by sequence number).
func (c *conn) exchange(ctx context.Context, reqs []*nl.NetlinkRequest) (int, syscall.Errno, error) {
	if len(reqs) == 0 {
		return -1, 0, nil
	}
	first := reqs[0].Seq
	if err := c.send(reqs); err != nil {
		return -1, 0, err
	}
	failed, failedErr := -1, syscall.Errno(0)
	pending := len(reqs)
	for pending > 0 {
		msgs, err := c.receive(ctx)
		if err != nil {
			return -1, 0, err
		}
		for i := range msgs {
			m := &msgs[i]
			idx := int(m.Header.Seq - first)
			if m.Header.Seq < first || idx >= len(reqs) || m.Header.Type != unix.NLMSG_ERROR {
				continue // a stale reply of an abandoned exchange
			}
			pending--
			if e := errnoOf(m); e != 0 && (failed < 0 || idx < failed) {
				failed, failedErr = idx, e
			}
		}
	}
	return failed, failedErr, nil
}

// dump sends a dump request and calls fn with the payload (after the
// generic netlink header) of every part until the kernel says done.
func (c *conn) dump(ctx context.Context, req *nl.NetlinkRequest, fn func(payload []byte) error) error {
	req.Flags |= unix.NLM_F_DUMP
	if err := c.send([]*nl.NetlinkRequest{req}); err != nil {
		return err
	}
	var fnErr error
	for {
		msgs, err := c.receive(ctx)
		if err != nil {
			return err
		}
		for i := range msgs {
			m := &msgs[i]
			if m.Header.Seq != req.Seq {
				continue
			}
			switch m.Header.Type {
			case unix.NLMSG_DONE:
				return fnErr
			case unix.NLMSG_ERROR:
				if e := errnoOf(m); e != 0 {
					return e
				}
				return fnErr
			}
			if m.Header.Flags&unix.NLM_F_DUMP_INTR != 0 {
				fnErr = cmpErr(fnErr, errors.New("dump interrupted by a concurrent change"))
			}
			if fnErr == nil && len(m.Data) >= nl.SizeofGenlmsg {
				fnErr = fn(m.Data[nl.SizeofGenlmsg:])
			}
		}
	}
}

func cmpErr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// get sends a request that has one reply message and returns that
// reply's payload (copied) and command.
func (c *conn) get(ctx context.Context, req *nl.NetlinkRequest) ([]byte, uint8, error) {
	if err := c.send([]*nl.NetlinkRequest{req}); err != nil {
		return nil, 0, err
	}
	for {
		msgs, err := c.receive(ctx)
		if err != nil {
			return nil, 0, err
		}
		for i := range msgs {
			m := &msgs[i]
			if m.Header.Seq != req.Seq {
				continue
			}
			if m.Header.Type == unix.NLMSG_ERROR {
				if e := errnoOf(m); e != 0 {
					return nil, 0, e
				}
				continue
			}
			if len(m.Data) < nl.SizeofGenlmsg {
				return nil, 0, fmt.Errorf("short generic netlink reply")
			}
			return append([]byte(nil), m.Data[nl.SizeofGenlmsg:]...), m.Data[0], nil
		}
	}
}

// resolveFamily asks the generic netlink controller for a family's id.
func (c *conn) resolveFamily(ctx context.Context, name string) (uint16, error) {
	req := nl.NewNetlinkRequest(nl.GENL_ID_CTRL, 0)
	c.seq++
	req.Seq = c.seq
	req.AddData(&nl.Genlmsg{Command: nl.GENL_CTRL_CMD_GETFAMILY, Version: nl.GENL_CTRL_VERSION})
	req.AddData(nl.NewRtAttr(nl.GENL_CTRL_ATTR_FAMILY_NAME, nl.ZeroTerminated(name)))
	payload, _, err := c.get(ctx, req)
	if err != nil {
		return 0, err
	}
	id, err := nested(payload, nl.GENL_CTRL_ATTR_FAMILY_ID)
	if err != nil {
		return 0, err
	}
	return getU16(id)
}

// rawSendto and rawRecv skip the Go scheduler's blocking-syscall
// bookkeeping: the socket is non-blocking, so neither call waits, and
// handing the processor to another thread around every request (which a
// kernel-side IPVS change can take long enough to trigger) costs more than
// the request itself on a slow machine. Waiting happens in unix.Poll.
func rawSendto(fd int, b []byte) error {
	sa := unix.RawSockaddrNetlink{Family: unix.AF_NETLINK}
	_, _, e := unix.RawSyscall6(unix.SYS_SENDTO, uintptr(fd), uintptr(unsafe.Pointer(unsafe.SliceData(b))), uintptr(len(b)),
		0, uintptr(unsafe.Pointer(&sa)), unix.SizeofSockaddrNetlink)
	if e != 0 {
		return e
	}
	return nil
}

func rawRecv(fd int, b []byte, flags int) (int, error) {
	n, _, e := unix.RawSyscall6(unix.SYS_RECVFROM, uintptr(fd), uintptr(unsafe.Pointer(unsafe.SliceData(b))), uintptr(len(b)),
		uintptr(flags), 0, 0)
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}
