package vrrp

import (
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The pump: one goroutine reading every socket of a transport through an
// epoll instance of its own (see RawTransport).

// addSock hands s to the pump, starting one if none runs (under t.mu).
func (t *RawTransport) addSock(s *rawSock) error {
	if t.pump == nil {
		p, err := newPump(t)
		if err != nil {
			return err
		}
		t.pump = p
		t.wg.Add(1)
		go p.run()
	}
	p := t.pump
	s.pump = p
	t.rx.Lock()
	defer t.rx.Unlock()
	if err := p.ctl(unix.EPOLL_CTL_ADD, s); err != nil {
		return fmt.Errorf("watch vrrp socket on %s: %w", s.key.ifname, err)
	}
	p.socks = append(p.socks, s)
	return nil
}

// readBatch is how many packets one system call (recvmmsg) takes.
const readBatch = 32

// readBufLen holds the largest VRRP message (255 IPv6 addresses) with its
// IPv4 header; a longer one is truncated and dropped.
const readBufLen = 8192

// oobLen holds the control messages: receive time, TTL or hop limit, and
// for IPv6 the destination.
const oobLen = 128

// pump reads the sockets of a transport: see RawTransport.
type pump struct {
	t    *RawTransport
	epfd *os.File // the epoll instance, waited on through the runtime's poller
	rc   syscall.RawConn
	// tfd is a timerfd in the epoll set that ends the wait between two
	// rounds while busy. (A Go timer would also wake an idle thread of the
	// scheduler each time; a readiness event from the poller does not.)
	tfd int

	// Under t.rx.
	socks []*rawSock
	rb    *recvBufs
	evs   [16]unix.EpollEvent
}

// idleRounds is how many rounds in a row a busy socket must be found empty
// before it is armed again.
const idleRounds = 2

// recvBufs are the reused buffers of recvmmsg.
type recvBufs struct {
	hs    [readBatch]unix.Mmsghdr
	iovs  [readBatch]unix.Iovec
	names [readBatch]unix.RawSockaddrInet6
	data  [readBatch * readBufLen]byte
	oob   [readBatch * oobLen]byte
}

func newPump(t *RawTransport) (_ *pump, err error) {
	fail := func(err error) (*pump, error) { return nil, fmt.Errorf("create epoll instance: %w", err) }
	fd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return fail(err)
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return fail(err)
	}
	tfd, err := unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC)
	if err != nil {
		unix.Close(fd)
		return fail(err)
	}
	if err := unix.EpollCtl(fd, unix.EPOLL_CTL_ADD, tfd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(tfd)}); err != nil {
		unix.Close(fd)
		unix.Close(tfd)
		return fail(err)
	}
	f := os.NewFile(uintptr(fd), "vrrp-epoll")
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		unix.Close(tfd)
		return fail(err)
	}
	rb := new(recvBufs)
	for k := range rb.hs {
		h := &rb.hs[k].Hdr
		rb.iovs[k].Base = &rb.data[k*readBufLen]
		rb.iovs[k].SetLen(readBufLen)
		h.Iov = &rb.iovs[k]
		h.SetIovlen(1)
		h.Name = (*byte)(unsafe.Pointer(&rb.names[k]))
		h.Control = &rb.oob[k*oobLen]
	}
	return &pump{t: t, epfd: f, rc: rc, tfd: tfd, rb: rb}, nil
}

// ctl adds s to the epoll set, or arms it again (one-shot; under t.rx).
func (p *pump) ctl(op int, s *rawSock) error {
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLONESHOT, Fd: int32(s.fd)}
	var err error
	cerr := p.rc.Control(func(fd uintptr) { err = unix.EpollCtl(int(fd), op, s.fd, &ev) })
	return errors.Join(cerr, err)
}

// close ends the pump (under t.mu); its sockets are closed already.
func (p *pump) close() {
	p.epfd.Close() // wakes the pump, which closes tfd
}

func (p *pump) run() {
	defer p.t.wg.Done()
	defer unix.Close(p.tfd)
	t := p.t
	for {
		// Wait until a socket fires or the round timer expires: the epoll
		// instance becomes readable.
		err := p.rc.Read(func(fd uintptr) bool {
			t.rx.Lock()
			fired := p.collect(int(fd))
			t.rx.Unlock()
			return fired
		})
		if err != nil {
			return // closed
		}
		t.rx.Lock()
		busy := false
		for _, s := range p.socks {
			if !s.active {
				continue
			}
			if p.read(s) > 0 {
				s.idle = 0
			} else {
				s.idle++
			}
			if s.idle >= idleRounds || t.batch < 0 {
				// Empty: arm it again. A packet that came in since the
				// read makes it fire at once.
				s.active = false
				if err := p.ctl(unix.EPOLL_CTL_MOD, s); err != nil {
					t.readLog.debug(t.log, "arm vrrp socket", "interface", s.key.ifname, "err", err)
				}
			}
			busy = busy || s.active
		}
		t.rx.Unlock()
		if busy {
			// Packets keep coming: let them gather for a while. Sockets
			// that fire meanwhile (they are armed) end the wait early.
			its := unix.ItimerSpec{Value: unix.NsecToTimespec(int64(t.batch))}
			if err := unix.TimerfdSettime(p.tfd, 0, &its, nil); err != nil {
				t.readLog.debug(t.log, "arm vrrp read timer", "err", err)
			}
		}
	}
}

// collect takes the fired sockets and the expired timer from the epoll
// instance epfd, marking the sockets active (under t.rx). It reports
// whether anything fired.
func (p *pump) collect(epfd int) bool {
	n, err := unix.EpollWait(epfd, p.evs[:], 0)
	if err != nil || n <= 0 {
		return false
	}
	for _, ev := range p.evs[:n] {
		if int(ev.Fd) == p.tfd {
			var b [8]byte
			_, _ = unix.Read(p.tfd, b[:])
			continue
		}
		for _, s := range p.socks {
			if s.fd == int(ev.Fd) {
				s.active = true
				s.idle = 0
			}
		}
	}
	return true
}

// read takes every packet waiting on s and dispatches them (under t.rx).
// It returns how many it took.
func (p *pump) read(s *rawSock) int {
	if s.closed {
		return 0
	}
	total := 0
	for {
		n := p.recv(s)
		total += n
		if n < readBatch {
			return total
		}
	}
}

// recv is one recvmmsg on s; it dispatches what it got and returns the count.
func (p *pump) recv(s *rawSock) int {
	rb := p.rb
	for k := range rb.hs {
		h := &rb.hs[k].Hdr
		h.Namelen = unix.SizeofSockaddrInet6
		h.SetControllen(oobLen)
		h.Flags = 0
		rb.hs[k].Len = 0
	}
	var r uintptr
	var errno syscall.Errno
	for {
		// MSG_DONTWAIT: the call never blocks, so it may bypass the
		// scheduler's system call bookkeeping.
		r, _, errno = unix.RawSyscall6(unix.SYS_RECVMMSG, uintptr(s.fd), uintptr(unsafe.Pointer(&rb.hs[0])),
			readBatch, unix.MSG_DONTWAIT, 0, 0)
		if errno != unix.EINTR {
			break
		}
	}
	if errno != 0 {
		if errno != unix.EAGAIN {
			p.t.readLog.debug(p.t.log, "vrrp socket read", "interface", s.key.ifname, "err", errno)
		}
		return 0
	}
	n := int(r)
	now := time.Now()
	for k := range n {
		m := &rb.hs[k]
		if m.Hdr.Flags&unix.MSG_TRUNC != 0 {
			p.t.readLog.debug(p.t.log, "vrrp socket read: message truncated", "interface", s.key.ifname)
			continue
		}
		pkt, ok := decodeRecv(rb.data[k*readBufLen:k*readBufLen+int(m.Len)], rb.oob[k*oobLen:k*oobLen+int(m.Hdr.Controllen)],
			&rb.names[k], s.key, now)
		if ok {
			s.dispatch(pkt)
		}
	}
	return n
}
