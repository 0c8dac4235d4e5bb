package proxy

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"github.com/lvskit/lvskit/clock"
	"golang.org/x/sys/unix"
)

// The event-loop data path. Each loop is one goroutine with an epoll
// instance of its own. An idle loop parks in Go's poller until its epoll
// descriptor is readable (epoll descriptors are pollable), so it holds no
// P and no thread. A busy one, that found events on its last wait, waits
// for the next ones in epoll_pwait2 itself for up to Config.BusyWait
// (100 µs) before it goes back to parking: a wake-up is then one thread
// woken by the kernel, as in HAProxy or nginx, instead of the poller's
// thread waking the loop's goroutine and, when that thread's P is busy, a
// second thread to run it. Through the poller alone, a proxy under load
// on a loaded machine sometimes left requests waiting for tens to
// hundreds of milliseconds (the slowest requests in BENCHMARKS.md; which
// hop the time went to was not pinned down). The wait is a raw
// system call, so the scheduler does not take the loop's P away while
// its thread sleeps (it would, after 20 µs, when every P is in a loop);
// the price is that other goroutines wait up to Config.BusyWait for that
// P, and a loop that stays busy yields its P once a millisecond.
//
// A service's listening socket is in every loop (EPOLLEXCLUSIVE, so one
// loop wakes per connection); the loop that accepts a connection owns it
// to the end: it connects to the real server (non-blocking), copies both
// directions (small reads through its buffer, bulk ones spliced through a
// pipe each), and closes both sockets. Readiness is level-triggered, so a
// readable socket costs one read and one write, with no read that ends in
// EAGAIN.
//
// Nothing but the loop touches a connection's file descriptors, so a
// descriptor number is never reused under it. Other goroutines talk to a
// loop through a queue and an eventfd: add or remove a listener, close a
// connection (drain timeout, Proxy.Close), stop.

// fdKind says what a loop's table entry is.
type fdKind uint8

const (
	kindNone fdKind = iota
	kindWake        // the eventfd
	kindListener
	kindClient  // a session's client socket
	kindBackend // a session's real-server socket
)

type fdEntry struct {
	kind fdKind
	gen  uint32 // matches the epoll event's data, so stale events are ignored
	ln   *rawListener
	x    *spliceSession
}

type opKind uint8

const (
	opAddListener opKind = iota
	opRemoveListener
	opClose
	opTimeouts
	opTrimPipes
	opWake // nothing to do: the loop expires what is due on its clock
	opStop
)

type loopOp struct {
	kind opKind
	ln   *rawListener
	x    *spliceSession
	done chan struct{}
}

// maxPooledPipes bounds the pipes a loop keeps for reuse. A direction
// holds a pipe only while bytes wait in it, so a loop needs about as many
// as it has directions waiting for a slow receiver at once.
const maxPooledPipes = 64

type loop struct {
	p        *Proxy
	netnsErr error // the loop could not enter the proxy's namespace (enterNetns)
	epfd     int
	file     *os.File        // epfd, in Go's poller
	rc       syscall.RawConn // of file
	wake     int             // eventfd
	clk      clock.Clock     // the proxy's
	wall     bool            // clk is the wall clock: deadlines go to the poller
	epoch    time.Time       // on clk
	now      int64           // nanoseconds since epoch, read once per wake-up
	timer    clock.Timer     // with a fake clock: wakes the loop at its next deadline

	busyWaitMax time.Duration // Config.BusyWait; 0: never wait in the kernel

	mu      sync.Mutex
	queue   []loopOp
	stopped bool // no more ops accepted; wake is closed

	// Loop goroutine only.
	table    []fdEntry
	gen      uint32
	pipes    [][2]int
	dialing  sessionList // connecting, by start
	estab    sessionList // established, by last activity
	finWait  sessionList // half-closed, by last activity
	stopping bool
	buf      []byte // copyBuffer bytes: small reads go through it
}

// loopSet is the proxy's event loops.
type loopSet struct {
	loops []*loop
}

// spliceSupported probes once whether this kernel splices from a socket
// into a pipe (seccomp profiles and some sandboxes refuse splice).
func spliceSupported() error {
	sv, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, 0)
	if err != nil {
		return fmt.Errorf("socketpair: %w", err)
	}
	defer unix.Close(sv[0])
	defer unix.Close(sv[1])
	var pp [2]int
	if err := unix.Pipe2(pp[:], unix.O_CLOEXEC|unix.O_NONBLOCK); err != nil {
		return fmt.Errorf("pipe: %w", err)
	}
	defer unix.Close(pp[0])
	defer unix.Close(pp[1])
	if _, err := unix.Write(sv[0], []byte{1}); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	if n, err := unix.Splice(sv[1], nil, pp[1], nil, 1, unix.SPLICE_F_NONBLOCK); err != nil || n != 1 {
		return fmt.Errorf("splice: %d, %w", n, err)
	}
	return nil
}

func newLoopSet(p *Proxy, n int) (*loopSet, error) {
	if err := spliceSupported(); err != nil {
		return nil, err
	}
	ls := &loopSet{}
	for range n {
		l, err := newLoop(p)
		if err != nil {
			for _, l := range ls.loops {
				l.closeFDs()
			}
			return nil, err
		}
		ls.loops = append(ls.loops, l)
	}
	for _, l := range ls.loops {
		p.wg.Add(1)
		go l.run()
	}
	return ls, nil
}

func newLoop(p *Proxy) (*loop, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("epoll_create: %w", err)
	}
	wake, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		unix.Close(epfd)
		return nil, fmt.Errorf("eventfd: %w", err)
	}
	// An idle loop waits for its epoll descriptor in Go's poller.
	if err := unix.SetNonblock(epfd, true); err != nil {
		unix.Close(epfd)
		unix.Close(wake)
		return nil, fmt.Errorf("epoll nonblock: %w", err)
	}
	p.budget.addFixed(2) // closeFDs gives them back
	// The epoch is a nanosecond back, so no reading of the loop's clock
	// is 0 (nowNanos), not even a fake clock's that has not moved.
	l := &loop{p: p, epfd: epfd, wake: wake, clk: p.clk, wall: clock.IsWall(p.clk), epoch: p.clk.Now().Add(-time.Nanosecond),
		file: os.NewFile(uintptr(epfd), "epoll"), busyWaitMax: max(p.cfg.BusyWait, 0)}
	rc, err := l.file.SyscallConn()
	if err != nil {
		l.closeFDs()
		return nil, fmt.Errorf("epoll descriptor: %w", err)
	}
	l.rc = rc
	l.buf = make([]byte, copyBuffer)
	l.dialing.timeout = int64(p.cfg.DialTimeout)
	l.setTimeouts()
	if err := l.register(wake, unix.EPOLLIN, fdEntry{kind: kindWake}); err != nil {
		l.closeFDs()
		return nil, err
	}
	return l, nil
}

func (l *loop) closeFDs() {
	unix.Close(l.wake)
	l.file.Close() // the epoll descriptor
	l.p.budget.addFixed(-2)
}

// clockNow is the loop's clock reading, in nanoseconds since its epoch.
func (l *loop) clockNow() int64 {
	if l.wall {
		return int64(time.Since(l.epoch))
	}
	return int64(l.clk.Now().Sub(l.epoch))
}

// setDeadline makes the loop wake at next (nanoseconds since its epoch;
// -1: no deadline) if nothing else wakes it before: through its epoll
// file's read deadline in Go's poller on the wall clock, or a timer of a
// fake one.
func (l *loop) setDeadline(next int64) {
	if l.wall {
		t := time.Time{}
		if next >= 0 {
			t = l.epoch.Add(time.Duration(next))
		}
		l.file.SetReadDeadline(t)
		return
	}
	switch {
	case next < 0:
		if l.timer != nil {
			l.timer.Stop()
		}
	case l.timer == nil:
		l.timer = l.clk.AfterFunc(time.Duration(next-l.clockNow()), func() { l.post(loopOp{kind: opWake}) })
	default:
		l.timer.Reset(time.Duration(next - l.clockNow()))
	}
}

// post queues an op for the loop; false if the loop has stopped.
func (l *loop) post(op loopOp) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.stopped {
		return false
	}
	l.queue = append(l.queue, op)
	if len(l.queue) == 1 {
		var one = [8]byte{1}
		unix.Write(l.wake, one[:])
	}
	return true
}

func (ls *loopSet) addListener(rl *rawListener) {
	for _, l := range ls.loops {
		l.post(loopOp{kind: opAddListener, ln: rl})
	}
}

// removeListener takes the listener out of every loop and returns when
// none will touch its descriptor again.
func (ls *loopSet) removeListener(rl *rawListener) {
	rl.removed.Store(true)
	var dones []chan struct{}
	for _, l := range ls.loops {
		done := make(chan struct{})
		if l.post(loopOp{kind: opRemoveListener, ln: rl, done: done}) {
			dones = append(dones, done)
		}
	}
	for _, d := range dones {
		<-d
	}
}

// trimPipes makes every loop close the pipes it keeps for reuse.
func (ls *loopSet) trimPipes() {
	for _, l := range ls.loops {
		l.post(loopOp{kind: opTrimPipes})
	}
}

// timeoutsChanged makes every loop take the proxy's new timeouts.
func (ls *loopSet) timeoutsChanged() {
	for _, l := range ls.loops {
		l.post(loopOp{kind: opTimeouts})
	}
}

func (ls *loopSet) stop() {
	for _, l := range ls.loops {
		l.post(loopOp{kind: opStop})
	}
}

// register adds fd to the epoll set with a fresh generation.
func (l *loop) register(fd int, events uint32, e fdEntry) error {
	l.gen++
	if l.gen == 0 {
		l.gen = 1
	}
	e.gen = l.gen
	ev := unix.EpollEvent{Events: events, Fd: int32(fd), Pad: int32(e.gen)}
	if err := rawEpollCtl(l.epfd, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
		return fmt.Errorf("epoll_ctl add: %w", err)
	}
	l.setEntry(fd, e)
	return nil
}

func (l *loop) setEntry(fd int, e fdEntry) {
	for fd >= len(l.table) {
		l.table = append(l.table, make([]fdEntry, len(l.table)+64)...)
	}
	l.table[fd] = e
}

func (l *loop) entry(fd int) *fdEntry {
	if fd < 0 || fd >= len(l.table) {
		return nil
	}
	return &l.table[fd]
}

func (l *loop) modify(fd int, events uint32, gen uint32) error {
	ev := unix.EpollEvent{Events: events, Fd: int32(fd), Pad: int32(gen)}
	return rawEpollCtl(l.epfd, unix.EPOLL_CTL_MOD, fd, &ev)
}

// epollReady returns the events ready now, without blocking.
func epollReady(epfd int, events []unix.EpollEvent) int {
	n, _, e := unix.RawSyscall6(unix.SYS_EPOLL_PWAIT, uintptr(epfd), uintptr(unsafe.Pointer(&events[0])), uintptr(len(events)), 0, 0, 0)
	if e != 0 {
		return 0
	}
	return int(n)
}

func (l *loop) run() {
	defer l.p.wg.Done()
	l.enterNetns()
	events := make([]unix.EpollEvent, 256)
	var n int
	ready := func(uintptr) bool {
		n = epollReady(l.epfd, events)
		return n > 0
	}
	deadline := int64(-1) // the epoll file's read deadline; -1 none
	busy := false         // events came lately: wait in epoll_pwait2 itself
	var lastYield int64
	for !l.stopping {
		n = 0
		if busy {
			n = l.busyWait(events)
			busy = n > 0
		}
		if !busy {
			// Take what is ready; when nothing is, park in Go's poller,
			// which watches the epoll descriptor, until something is or
			// the next dial, idle or FIN deadline passes.
			if next := l.nextDeadline(); next != deadline {
				l.setDeadline(next)
				deadline = next
			}
			if err := l.rc.Read(ready); err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
				l.p.log.Error("wait for events failed", "err", err)
				time.Sleep(10 * time.Millisecond)
				continue
			}
			busy = n > 0 && l.busyWaitMax > 0
		}
		l.now = l.clockNow()
		for i := range n {
			ev := &events[i]
			e := l.entry(int(ev.Fd))
			if e == nil || e.kind == kindNone || e.gen != uint32(ev.Pad) {
				continue // its descriptor was closed earlier in this batch
			}
			switch e.kind {
			case kindWake:
				l.drainQueue()
			case kindListener:
				l.accept(e.ln)
			case kindClient:
				l.sessionEvent(e.x, true, ev.Events)
			case kindBackend:
				l.sessionEvent(e.x, false, ev.Events)
			}
		}
		l.expire()
		if busy && (l.now-lastYield >= int64(busyYield) || !l.wall) {
			// A loop that stays busy never parks: let the goroutines
			// that wait for its P run.
			lastYield = l.now
			runtime.Gosched()
		}
	}
	l.shutdown()
}

// busyYield is how long a busy loop keeps its P before it yields.
const busyYield = time.Millisecond

// busyWait waits for events in epoll_pwait2 for at most busyWaitMax, or
// until the next deadline if that is sooner, without telling
// the scheduler: the loop keeps its P while its thread sleeps in the
// kernel. It returns 0 when the time passed with nothing ready.
func (l *loop) busyWait(events []unix.EpollEvent) int {
	timeout := l.busyWaitMax
	if next := l.nextDeadline(); next >= 0 {
		timeout = max(0, min(timeout, time.Duration(next-l.clockNow())))
	}
	ts := unix.NsecToTimespec(int64(timeout))
	n, _, e := unix.RawSyscall6(unix.SYS_EPOLL_PWAIT2, uintptr(l.epfd), uintptr(unsafe.Pointer(&events[0])), uintptr(len(events)), uintptr(unsafe.Pointer(&ts)), 0, 0)
	switch e {
	case 0:
		return int(n)
	case unix.EINTR:
	default:
		// ENOSYS before Linux 5.11, or refused by a seccomp profile:
		// always park in Go's poller.
		l.busyWaitMax = 0
	}
	return 0
}

// nextDeadline is the earliest dial, idle or FIN deadline, or -1.
func (l *loop) nextDeadline() int64 {
	next := int64(-1)
	for _, sl := range []*sessionList{&l.dialing, &l.estab, &l.finWait} {
		if h := sl.head; h != nil && (next < 0 || h.since+sl.timeout < next) {
			next = h.since + sl.timeout
		}
	}
	return next
}

func (l *loop) expire() {
	now := l.now // read once per wake-up; a deadline wakes the loop after it
	for x := l.dialing.head; x != nil && x.since+l.dialing.timeout <= now; x = l.dialing.head {
		l.p.log.Debug("connect to real server timed out", "service", x.s.key, "dest", x.d.addr)
		l.finish(x, true)
	}
	for x := l.estab.head; x != nil && x.since+l.estab.timeout <= now; x = l.estab.head {
		// Idle for the TCP timeout: the kernel would forget the
		// connection; reset both sides, so neither keeps a dead one.
		l.p.log.Debug("idle connection timed out", "service", x.s.key, "dest", x.d.addr, "client", x.client)
		l.finish(x, true)
	}
	for x := l.finWait.head; x != nil && x.since+l.finWait.timeout <= now; x = l.finWait.head {
		l.finish(x, false)
	}
}

// setTimeouts takes the proxy's current idle and FIN timeouts; the lists
// stay in order, as they are ordered by last activity.
func (l *loop) setTimeouts() {
	l.estab.timeout = int64(l.p.tcpTimeout())
	l.finWait.timeout = int64(l.p.finTimeout())
}

// touch records activity on an established or half-closed session: its
// idle time starts again.
func (l *loop) touch(x *spliceSession) {
	sl := x.list
	if sl == nil || sl == &l.dialing {
		return
	}
	if sl.tail != x {
		sl.remove(x)
		sl.push(x, l.nowNanos())
		return
	}
	x.since = l.nowNanos()
}

func (l *loop) drainQueue() {
	var buf [8]byte
	unix.Read(l.wake, buf[:])
	l.mu.Lock()
	q := l.queue
	l.queue = nil
	l.mu.Unlock()
	l.handleOps(q)
}

func (l *loop) handleOps(q []loopOp) {
	for _, op := range q {
		switch op.kind {
		case opAddListener:
			if op.ln.removed.Load() {
				break
			}
			err := l.register(op.ln.fd, unix.EPOLLIN|unix.EPOLLEXCLUSIVE, fdEntry{kind: kindListener, ln: op.ln})
			if errors.Is(err, unix.EINVAL) {
				// Kernels before 4.5 know no EPOLLEXCLUSIVE: every loop
				// wakes per connection, one accepts it.
				err = l.register(op.ln.fd, unix.EPOLLIN, fdEntry{kind: kindListener, ln: op.ln})
			}
			if err != nil {
				l.p.log.Error("listen in event loop failed", "service", op.ln.s.key, "err", err)
			}
		case opRemoveListener:
			if e := l.entry(op.ln.fd); e != nil && e.kind == kindListener && e.ln == op.ln {
				rawEpollCtl(l.epfd, unix.EPOLL_CTL_DEL, op.ln.fd, nil)
				*e = fdEntry{}
			}
		case opClose:
			l.finish(op.x, false)
		case opTimeouts:
			l.setTimeouts()
		case opTrimPipes:
			l.closePool()
		case opWake:
		case opStop:
			l.stopping = true
		}
		if op.done != nil {
			close(op.done)
		}
	}
}

// shutdown ends the loop: no more ops, every session closed.
func (l *loop) shutdown() {
	l.mu.Lock()
	l.stopped = true
	q := l.queue
	l.queue = nil
	l.mu.Unlock()
	l.handleOps(q)
	for fd := range l.table {
		if x := l.table[fd].x; x != nil {
			l.finish(x, false)
		}
	}
	l.closePool()
	if l.timer != nil {
		l.timer.Stop()
	}
	l.closeFDs()
}

// getPipe returns a pipe from the loop's pool, or a new one if it fits in
// the descriptor budget; false when none can be had.
func (l *loop) getPipe() ([2]int, bool) {
	if n := len(l.pipes); n > 0 {
		p := l.pipes[n-1]
		l.pipes = l.pipes[:n-1]
		return p, true
	}
	var p [2]int
	if !l.p.budget.take(2) {
		return p, false
	}
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC|unix.O_NONBLOCK); err != nil {
		l.p.budget.give(2)
		l.p.log.Debug("pipe failed: copying instead", "err", err)
		return p, false
	}
	l.p.budget.pipes.Add(1)
	return p, true
}

// putPipe keeps an empty pipe for reuse, or closes it.
func (l *loop) putPipe(p [2]int, empty bool) {
	if p[0] < 0 {
		return
	}
	if empty && len(l.pipes) < maxPooledPipes {
		l.pipes = append(l.pipes, p)
		return
	}
	l.closePipe(p)
}

func (l *loop) closePipe(p [2]int) {
	rawClose(p[0])
	rawClose(p[1])
	l.p.budget.give(2)
	l.p.budget.pipes.Add(-1)
}

// closePool closes the pipes kept for reuse; it reports whether there were
// any.
func (l *loop) closePool() bool {
	for _, p := range l.pipes {
		l.closePipe(p)
	}
	had := len(l.pipes) > 0
	l.pipes = l.pipes[:0]
	return had
}

// sessionList is an intrusive list of sessions ordered by the time each
// was pushed (its start, or its last activity), which with one timeout
// per list is also the order of their deadlines.
type sessionList struct {
	head, tail *spliceSession
	timeout    int64 // nanoseconds after since that a session expires
}

func (sl *sessionList) push(x *spliceSession, now int64) {
	x.since = now
	x.list = sl
	x.prev, x.next = sl.tail, nil
	if sl.tail != nil {
		sl.tail.next = x
	} else {
		sl.head = x
	}
	sl.tail = x
}

func (sl *sessionList) remove(x *spliceSession) {
	if x.prev != nil {
		x.prev.next = x.next
	} else {
		sl.head = x.next
	}
	if x.next != nil {
		x.next.prev = x.prev
	} else {
		sl.tail = x.prev
	}
	x.prev, x.next, x.list = nil, nil, nil
}
