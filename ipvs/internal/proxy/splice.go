package proxy

import (
	"errors"
	"net"
	"net/netip"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

const (
	// pipeCapacity is a pipe's default size on Linux (16 pages); one
	// splice moves at most this much.
	pipeCapacity = 64 << 10
	// copyBuffer is the most a direction reads and writes through user
	// memory before it turns to splice.
	copyBuffer = 16 << 10
	// acceptBackoff is how long a listener rests after accept ran out of
	// descriptors or memory.
	acceptBackoff = 100 * time.Millisecond
)

// rawListener is a service's listening socket owned by the event loops.
type rawListener struct {
	fd          int
	s           *service
	unspecified bool // bound to 0.0.0.0 or ::: the local address varies
	removed     atomic.Bool
}

// takeListener moves the socket of a Go listener to a descriptor of its
// own, outside Go's poller, and closes the Go listener.
func takeListener(ln *net.TCPListener) (int, error) {
	rc, err := ln.SyscallConn()
	if err != nil {
		ln.Close()
		return -1, err
	}
	fd := -1
	var derr error
	err = rc.Control(func(s uintptr) {
		fd, derr = unix.FcntlInt(s, unix.F_DUPFD_CLOEXEC, 0)
		if derr == nil {
			// Accepted sockets inherit TCP_NODELAY from the listener,
			// as Go sets it on each of its connections.
			derr = unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
		}
	})
	ln.Close()
	if err == nil {
		err = derr
	}
	if err != nil {
		if fd >= 0 {
			unix.Close(fd)
		}
		return -1, err
	}
	return fd, nil
}

// A direction of a session: bytes from src go to dst, read into the
// loop's buffer and written, or for a bulk direction spliced through a
// pipe. What dst cannot take at once waits in the pipe (spliced) or in
// spill (copied), and src is not read again until it is delivered.
type direction struct {
	src, dst int
	pipe     [2]int // read end, write end; -1 when none: held only while pending
	spill    []byte // copied bytes dst has not taken yet
	pending  int    // bytes waiting for dst: in the pipe, or len(spill)
	eof      bool   // src has reached EOF
	done     bool   // EOF passed on: dst is shut down for writing
	hup      bool   // src hung up while not being read; taken out of epoll
	bulk     bool   // splice src to a pipe when one can be had; until then, read and write
	ctrDest  *atomic.Uint64
	ctrSvc   *atomic.Uint64
}

// A session's two sockets, by index into spliceSession.ends; the socket
// ends[i] is the source of dirs[i] and the destination of dirs[1-i].
const (
	sideClient  = 0
	sideBackend = 1
)

// sockEnd is one of a session's sockets as the loop's epoll set has it.
type sockEnd struct {
	fd   int    // -1 before the server socket is opened
	gen  uint32 // generation of its table entry when registered
	mask uint32 // events registered; 0 and !reg: not in epoll
	reg  bool
}

type sessState uint8

const (
	stateConnecting sessState = iota
	stateEstablished
	stateClosed
)

// spliceSession is one proxied TCP connection on the event-loop path.
// All fields but the ones schedule sets are the loop goroutine's.
type spliceSession struct {
	s *service
	l *loop
	d *dest
	t *template

	ends   [2]sockEnd // sideClient, sideBackend
	state  sessState
	active bool
	dirs   [2]direction // 0: client to server ("in"), 1: server to client; dirs[i] reads ends[i]

	client, local netip.AddrPort

	list       *sessionList
	prev, next *spliceSession
	since      int64 // pushed on list: started or last active
}

func (x *spliceSession) destination() *dest { return x.d }

// close asks the owning loop to close the session.
func (x *spliceSession) close() { x.l.post(loopOp{kind: opClose, x: x}) }

// rawSplice is splice(2) on non-blocking descriptors: it never blocks, so
// it skips the scheduler's system call bookkeeping.
func rawSplice(in, out, n int) (int, syscall.Errno) {
	r, _, e := unix.RawSyscall6(unix.SYS_SPLICE, uintptr(in), 0, uintptr(out), 0, uintptr(n), unix.SPLICE_F_NONBLOCK|unix.SPLICE_F_MOVE)
	return int(r), e
}

// rawAccept is accept4(2) on the non-blocking listener. (unix.Accept4
// costs a getsockopt per call to tell L2TP sockets apart, and allocates.)
func rawAccept(lfd int) (int, netip.AddrPort, syscall.Errno) {
	var rsa unix.RawSockaddrAny
	n := uint32(unix.SizeofSockaddrAny)
	fd, _, e := unix.RawSyscall6(unix.SYS_ACCEPT4, uintptr(lfd), uintptr(unsafe.Pointer(&rsa)), uintptr(unsafe.Pointer(&n)),
		unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0, 0)
	if e != 0 {
		return -1, netip.AddrPort{}, e
	}
	return int(fd), rawToAddrPort(&rsa), 0
}

func rawToAddrPort(rsa *unix.RawSockaddrAny) netip.AddrPort {
	switch rsa.Addr.Family {
	case unix.AF_INET:
		a := (*unix.RawSockaddrInet4)(unsafe.Pointer(rsa))
		p := (*[2]byte)(unsafe.Pointer(&a.Port))
		return netip.AddrPortFrom(netip.AddrFrom4(a.Addr), uint16(p[0])<<8|uint16(p[1]))
	case unix.AF_INET6:
		a := (*unix.RawSockaddrInet6)(unsafe.Pointer(rsa))
		p := (*[2]byte)(unsafe.Pointer(&a.Port))
		return netip.AddrPortFrom(netip.AddrFrom16(a.Addr).Unmap(), uint16(p[0])<<8|uint16(p[1]))
	}
	return netip.AddrPort{}
}

// accept takes one connection from the listener (level-triggered: more
// pending ones are reported again) and starts connecting to a real server.
func (l *loop) accept(rl *rawListener) {
	fd, client, e := rawAccept(rl.fd)
	if e != 0 {
		switch e {
		case unix.EAGAIN, unix.EINTR, unix.ECONNABORTED:
		case unix.EMFILE, unix.ENFILE, unix.ENOBUFS, unix.ENOMEM:
			// Out of descriptors or memory: level-triggered readiness
			// would spin, so leave the listener out for a moment.
			l.p.log.Error("accept failed", "service", rl.s.key, "err", e)
			if ent := l.entry(rl.fd); ent != nil && ent.kind == kindListener {
				rawEpollCtl(l.epfd, unix.EPOLL_CTL_DEL, rl.fd, nil)
				*ent = fdEntry{}
				time.AfterFunc(acceptBackoff, func() { l.post(loopOp{kind: opAddListener, ln: rl}) })
			}
		default:
			l.p.log.Debug("accept failed", "service", rl.s.key, "err", e)
		}
		return
	}
	s := rl.s
	if !l.p.admit(fdsPerConn) && !(l.closePool() && l.p.admit(fdsPerConn)) {
		// No descriptors to spare for the connection and its server:
		// reset the client at once rather than let it wait.
		setLingerZero(fd)
		rawClose(fd)
		l.p.refuse(s)
		return
	}
	local := s.key.Addr
	if rl.unspecified {
		var rsa unix.RawSockaddrAny
		n := uint32(unix.SizeofSockaddrAny)
		if _, _, e := unix.RawSyscall(unix.SYS_GETSOCKNAME, uintptr(fd), uintptr(unsafe.Pointer(&rsa)), uintptr(unsafe.Pointer(&n))); e == 0 {
			local = rawToAddrPort(&rsa)
		}
	}
	x := &spliceSession{s: s, l: l, client: client, local: local}
	x.ends[sideClient].fd, x.ends[sideBackend].fd = fd, -1
	x.dirs[0].pipe, x.dirs[1].pipe = [2]int{-1, -1}, [2]int{-1, -1}
	if !s.schedule(client, local, x, &x.d, &x.t) {
		// No server: the kernel drops the SYN; the client sees a reset.
		setLingerZero(fd)
		rawClose(fd)
		l.p.budget.give(fdsPerConn)
		return
	}
	l.setEntry(fd, fdEntry{kind: kindClient, x: x})
	l.connect(x)
}

func (l *loop) connect(x *spliceSession) {
	if l.netnsErr != nil { // logged by enterNetns
		l.finish(x, true)
		return
	}
	family := unix.AF_INET6
	if x.d.addr.Addr().Is4() {
		family = unix.AF_INET
	}
	fd, err := rawSocket(family)
	if err != nil {
		l.p.log.Error("connect to real server failed", "service", x.s.key, "dest", x.d.addr, "err", err)
		l.finish(x, true)
		return
	}
	x.ends[sideBackend].fd = fd
	l.setEntry(fd, fdEntry{kind: kindBackend, x: x})
	rawSetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
	err = rawConnect(fd, x.d.addr)
	if err == nil {
		l.established(x)
		return
	}
	if !errors.Is(err, unix.EINPROGRESS) {
		l.p.log.Debug("connect to real server failed", "service", x.s.key, "dest", x.d.addr, "err", err)
		l.finish(x, true)
		return
	}
	if err := l.registerEnd(x, sideBackend, unix.EPOLLOUT); err != nil {
		l.finish(x, true)
		return
	}
	l.dialing.push(x, l.nowNanos())
}

func (l *loop) nowNanos() int64 {
	if l.now == 0 {
		l.now = 1
	}
	return l.now
}

// registerEnd adds the session's socket on side i to epoll.
func (l *loop) registerEnd(x *spliceSession, i int, events uint32) error {
	e := &x.ends[i]
	kind := kindBackend
	if i == sideClient {
		kind = kindClient
	}
	if err := l.register(e.fd, events, fdEntry{kind: kind, x: x}); err != nil {
		l.p.log.Error("event loop registration failed", "service", x.s.key, "err", err)
		return err
	}
	e.gen, e.mask, e.reg = l.table[e.fd].gen, events, true
	return nil
}

// connected handles readiness of a connecting server socket.
func (l *loop) connected(x *spliceSession, events uint32) {
	// A failed connect reports EPOLLERR (and HUP); only then is SO_ERROR
	// worth a system call, for the log.
	if events&(unix.EPOLLERR|unix.EPOLLHUP) != 0 {
		err := error(unix.ECONNREFUSED)
		if soerr, e := unix.GetsockoptInt(x.ends[sideBackend].fd, unix.SOL_SOCKET, unix.SO_ERROR); e == nil && soerr != 0 {
			err = syscall.Errno(soerr)
		}
		l.p.log.Debug("connect to real server failed", "service", x.s.key, "dest", x.d.addr, "err", err)
		l.finish(x, true)
		return
	}
	l.established(x)
}

func (l *loop) established(x *spliceSession) {
	if x.list != nil {
		x.list.remove(x)
	}
	l.estab.push(x, l.nowNanos())
	x.s.mu.Lock()
	pp := x.s.cfg.ProxyProtocol
	x.s.mu.Unlock()
	if pp {
		var hdr [maxProxyHeader]byte
		b := appendProxyV2(hdr[:0], false, x.client, x.local)
		if n, e := rawWrite(x.ends[sideBackend].fd, b); e != 0 || n != len(b) {
			l.finish(x, true)
			return
		}
	}
	x.state = stateEstablished
	x.d.sd.SetActive(true)
	x.active = true
	for i := range x.dirs {
		x.dirs[i].src, x.dirs[i].dst = x.ends[i].fd, x.ends[1-i].fd
	}
	x.dirs[0].ctrDest, x.dirs[0].ctrSvc = &x.d.stats.bytesIn, &x.s.stats.bytesIn
	x.dirs[1].ctrDest, x.dirs[1].ctrSvc = &x.d.stats.bytesOut, &x.s.stats.bytesOut
	if err := l.registerEnd(x, sideClient, unix.EPOLLIN); err != nil {
		l.finish(x, true)
		return
	}
	if b := &x.ends[sideBackend]; b.reg {
		if err := l.modify(b.fd, unix.EPOLLIN, b.gen); err != nil {
			l.finish(x, true)
			return
		}
		b.mask = unix.EPOLLIN
	} else if err := l.registerEnd(x, sideBackend, unix.EPOLLIN); err != nil {
		l.finish(x, true)
		return
	}
}

// sessionEvent handles readiness of one of a session's sockets.
func (l *loop) sessionEvent(x *spliceSession, client bool, events uint32) {
	if x.state == stateConnecting {
		if !client {
			l.connected(x, events)
		}
		return
	}
	if x.state != stateEstablished {
		return
	}
	// On this socket, read is the direction it is the source of, write
	// the one it is the destination of.
	side := sideBackend
	if client {
		side = sideClient
	}
	rd, wr := &x.dirs[side], &x.dirs[1-side]
	if events&unix.EPOLLOUT != 0 && wr.pending > 0 {
		if !l.pumpOut(x, wr) {
			return
		}
	}
	hup := events&unix.EPOLLHUP != 0 && events&unix.EPOLLERR == 0 && wr.done
	if hup && !rd.eof {
		// Both directions of the socket are shut and we wrote our
		// last: what is left to read is there already, so read on
		// until EOF (a hung-up socket never blocks).
		rd.hup = true
	}
	if events&(unix.EPOLLIN|unix.EPOLLHUP|unix.EPOLLERR) != 0 && !rd.eof && rd.pending == 0 {
		if !l.pumpIn(x, rd) {
			return
		}
	}
	if events&(unix.EPOLLERR|unix.EPOLLHUP) != 0 && !hup {
		// An error, or a hang-up while the socket still had to
		// receive: its peer reset.
		l.finish(x, true)
		return
	}
	if hup && !rd.eof {
		// Still to be read once the other side drains the pipe; a
		// hung-up socket is always ready, so take it out of epoll
		// until then.
		e := &x.ends[side]
		rawEpollCtl(l.epfd, unix.EPOLL_CTL_DEL, e.fd, nil)
		e.reg, e.mask = false, 0
	}
	l.updateMasks(x)
}

// pumpIn moves what src has on to dst: read into the loop's buffer and
// written, or for a bulk direction spliced into a pipe and on. It returns
// false when the session ended.
func (l *loop) pumpIn(x *spliceSession, d *direction) bool {
	for {
		splice := d.bulk && (d.pipe[0] >= 0 || l.takePipe(d))
		var n int
		var e syscall.Errno
		if splice {
			n, e = rawSplice(d.src, d.pipe[1], pipeCapacity)
		} else {
			n, e = rawRead(d.src, l.buf)
		}
		switch {
		case e == 0 && n > 0:
			l.touch(x)
			if splice {
				d.pending += n
				if !l.pumpOut(x, d) {
					return false
				}
			} else {
				// A read that fills the buffer is a bulk transfer:
				// splice from now on (when a pipe can be had).
				d.bulk = d.bulk || n == len(l.buf)
				if !l.writeCopied(x, d, l.buf[:n]) {
					return false
				}
			}
			if d.hup && d.pending == 0 {
				continue // a hung-up source never blocks: read on
			}
			return true
		case e == 0:
			d.eof = true
			l.dropPipe(d)
			if d.pending == 0 {
				return l.finishDir(x, d)
			}
			return true
		case e == unix.EAGAIN:
			l.dropPipe(d)
			return true
		case e == unix.EINTR:
			continue
		default:
			l.finish(x, true)
			return false
		}
	}
}

// takePipe gives d a pipe to splice through; false when none can be had
// (the descriptor budget is spent), and d copies instead.
func (l *loop) takePipe(d *direction) bool {
	p, ok := l.getPipe()
	if ok {
		d.pipe = p
	}
	return ok
}

// dropPipe gives d's pipe back to the loop once it is empty: an idle
// direction holds none.
func (l *loop) dropPipe(d *direction) {
	if d.pipe[0] >= 0 && d.pending == 0 {
		l.putPipe(d.pipe, true)
		d.pipe = [2]int{-1, -1}
	}
}

// writeCopied writes b, read from d's source, to its destination; what
// the destination cannot take now waits in d.spill, to be written when it
// is writable. It returns false when the session ended.
func (l *loop) writeCopied(x *spliceSession, d *direction, b []byte) bool {
	w, e := rawWrite(d.dst, b)
	for e == unix.EINTR {
		w, e = rawWrite(d.dst, b)
	}
	switch e {
	case 0:
	case unix.EAGAIN:
		w = 0
	default:
		l.finish(x, true)
		return false
	}
	d.ctrDest.Add(uint64(w))
	d.ctrSvc.Add(uint64(w))
	if w == len(b) {
		return true
	}
	d.spill = append(d.spill[:0], b[w:]...)
	d.pending = len(d.spill)
	return true
}

// pumpOut writes what waits for dst (spilled bytes, or the pipe spliced)
// once; a short write means dst's buffer is full and the rest waits for
// EPOLLOUT. It returns false when the session ended.
func (l *loop) pumpOut(x *spliceSession, d *direction) bool {
	for d.pending > 0 {
		var n int
		var e syscall.Errno
		if len(d.spill) > 0 {
			n, e = rawWrite(d.dst, d.spill)
		} else {
			n, e = rawSplice(d.pipe[0], d.dst, d.pending)
		}
		if e == unix.EINTR {
			continue
		}
		if e == unix.EAGAIN {
			break
		}
		if e != 0 {
			l.finish(x, true)
			return false
		}
		d.pending -= n
		if len(d.spill) > 0 {
			d.spill = d.spill[n:]
			if len(d.spill) == 0 {
				d.spill = nil // an idle direction keeps no memory either
			}
		}
		d.ctrDest.Add(uint64(n))
		d.ctrSvc.Add(uint64(n))
		// Progress towards a slow reader keeps a connection alive
		// too, as each ACK renews the kernel's timer.
		l.touch(x)
		break
	}
	if d.pending == 0 {
		l.dropPipe(d)
		if d.eof {
			return l.finishDir(x, d)
		}
		if d.hup {
			// Its socket is out of epoll: read it now.
			return l.pumpIn(x, d)
		}
	}
	return true
}

// finishDir passes a direction's EOF on. The first one makes the
// connection inactive (the kernel's FIN_WAIT / CLOSE_WAIT) and starts the
// FIN timeout; the second ends the session.
func (l *loop) finishDir(x *spliceSession, d *direction) bool {
	d.done = true
	if x.dirs[0].done && x.dirs[1].done {
		l.finish(x, false)
		return false
	}
	rawShutdownWrite(d.dst)
	if x.active {
		x.active = false
		x.d.sd.SetActive(false)
	}
	if x.list != &l.finWait {
		if x.list != nil {
			x.list.remove(x)
		}
		l.finWait.push(x, l.nowNanos())
	}
	return true
}

// updateMasks sets each socket's epoll events to what its directions
// need: EPOLLIN while its source direction may read, EPOLLOUT while its
// destination direction has bytes waiting.
func (l *loop) updateMasks(x *spliceSession) {
	if x.state != stateEstablished {
		return
	}
	want := func(rd, wr *direction) uint32 {
		var m uint32
		if !rd.eof && rd.pending == 0 {
			m |= unix.EPOLLIN
		}
		if wr.pending > 0 {
			m |= unix.EPOLLOUT
		}
		return m
	}
	for i := range x.ends {
		e := &x.ends[i]
		if !e.reg {
			continue
		}
		if m := want(&x.dirs[i], &x.dirs[1-i]); m != e.mask {
			if l.modify(e.fd, m, e.gen) != nil {
				l.finish(x, true)
				return
			}
			e.mask = m
		}
	}
}

// finish closes the session's sockets (reset first when rst), returns
// its pipes and releases its bookkeeping. Idempotent.
func (l *loop) finish(x *spliceSession, rst bool) {
	if x.state == stateClosed {
		return
	}
	wasActive := x.active
	x.state = stateClosed
	if x.list != nil {
		x.list.remove(x)
	}
	for _, e := range x.ends {
		fd := e.fd
		if fd < 0 {
			continue
		}
		if e := l.entry(fd); e != nil && e.x == x {
			*e = fdEntry{}
		}
		if rst {
			setLingerZero(fd)
		}
		rawClose(fd)
	}
	for i := range x.dirs {
		d := &x.dirs[i]
		l.putPipe(d.pipe, d.pending == 0)
		d.pipe = [2]int{-1, -1}
		d.spill = nil
	}
	l.p.budget.give(fdsPerConn)
	x.s.release(x, x.d, x.t, wasActive)
}
