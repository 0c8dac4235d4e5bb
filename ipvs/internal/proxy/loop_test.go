package proxy

import (
	"bytes"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestBusyWait checks the kernel wait a busy loop uses: it reports what
// is ready, returns empty when its time is up, and waits no longer than
// the next dial or FIN deadline.
func TestBusyWait(t *testing.T) {
	p := New(Config{BusyWait: 50 * time.Millisecond})
	defer p.Close()
	l, err := newLoop(p)
	if err != nil {
		t.Fatal(err)
	}
	defer l.closeFDs()
	if l.busyWaitMax != 50*time.Millisecond {
		t.Fatalf("busyWaitMax = %v, want Config.BusyWait", l.busyWaitMax)
	}
	events := make([]unix.EpollEvent, 8)
	if n := l.busyWait(events); n != 0 {
		t.Fatalf("nothing ready: busyWait = %d events", n)
	}
	if l.busyWaitMax == 0 {
		t.Skip("this kernel has no epoll_pwait2: loops always park in Go's poller")
	}
	if _, err := unix.Write(l.wake, []byte{1, 0, 0, 0, 0, 0, 0, 0}); err != nil {
		t.Fatal(err)
	}
	if n := l.busyWait(events); n != 1 || int(events[0].Fd) != l.wake {
		t.Fatalf("eventfd written: busyWait = %d events (%+v), want the eventfd", n, events[:n])
	}
	var buf [8]byte
	unix.Read(l.wake, buf[:])

	// A deadline already passed: no wait at all, however long
	// BusyWait is (the loop must go and expire the session).
	l.busyWaitMax = time.Hour
	x := &spliceSession{}
	l.dialing.push(x, int64(time.Since(l.epoch))-1)
	done := make(chan int)
	go func() { done <- l.busyWait(events) }()
	select {
	case n := <-done:
		if n != 0 {
			t.Fatalf("deadline passed: busyWait = %d events", n)
		}
	case <-time.After(time.Minute):
		t.Fatal("busyWait waited past a deadline that had passed")
	}
	l.dialing.remove(x)

	// BusyWait negative: never wait in the kernel.
	q := New(Config{BusyWait: -1})
	defer q.Close()
	m, err := newLoop(q)
	if err != nil {
		t.Fatal(err)
	}
	defer m.closeFDs()
	if m.busyWaitMax != 0 {
		t.Errorf("BusyWait -1: busyWaitMax = %v, want 0", m.busyWaitMax)
	}
}

// TestWriteCopiedKeepsTheRest: when the receiver takes only part of what
// a direction read, the rest waits in the direction's spill buffer (no
// pipe is taken for it), is counted only once delivered, and arrives
// whole and in order; then the direction holds no memory.
func TestWriteCopiedKeepsTheRest(t *testing.T) {
	p := New(Config{})
	defer p.Close()
	l, err := newLoop(p)
	if err != nil {
		t.Fatal(err)
	}
	defer l.closeFDs()
	sv, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(sv[0])
	defer unix.Close(sv[1])
	// Fill the receiver's buffer, then make a little room: the write
	// takes part of the message or none of it.
	unix.SetsockoptInt(sv[0], unix.SOL_SOCKET, unix.SO_SNDBUF, 4096)
	var queued []byte
	for chunk := 4096; chunk > 0; chunk /= 2 {
		for {
			b := bytes.Repeat([]byte{byte(len(queued))}, chunk)
			n, err := unix.Write(sv[0], b)
			if err != nil {
				break
			}
			queued = append(queued, b[:n]...)
		}
	}
	var got []byte
	buf := make([]byte, 64<<10)
	if n, err := unix.Read(sv[1], buf[:1000]); err == nil {
		got = append(got, buf[:n]...)
	}
	x := &spliceSession{l: l}
	d := &x.dirs[0]
	d.dst, d.pipe = sv[0], [2]int{-1, -1}
	d.ctrDest, d.ctrSvc = new(atomic.Uint64), new(atomic.Uint64)
	msg := bytes.Repeat([]byte("lvskit "), 1000)
	if !l.writeCopied(x, d, msg) {
		t.Fatal("writeCopied ended the session")
	}
	if d.pending == 0 || d.pending > len(msg) || d.pending != len(d.spill) || int(d.ctrDest.Load()) != len(msg)-d.pending {
		t.Fatalf("after a short write: %d bytes pending, %d spilled, %d counted, of %d", d.pending, len(d.spill), d.ctrDest.Load(), len(msg))
	}
	if d.pipe[0] >= 0 {
		t.Fatal("a copied direction took a pipe")
	}
	// The receiver reads; the loop writes the rest on as it can.
	want := append(queued, msg...)
	for tries := 0; len(got) < len(want) && tries < 100000; tries++ {
		if n, err := unix.Read(sv[1], buf); err == nil {
			got = append(got, buf[:n]...)
		}
		if d.pending > 0 && !l.pumpOut(x, d) {
			t.Fatal("pumpOut ended the session")
		}
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("receiver got %d bytes, want %d in order", len(got), len(want))
	}
	if d.pending != 0 || d.spill != nil || d.ctrDest.Load() != uint64(len(msg)) || d.ctrSvc.Load() != uint64(len(msg)) {
		t.Errorf("after delivery: pending %d, spill %d, counted %d/%d, want 0, nil and %d", d.pending, len(d.spill), d.ctrDest.Load(), d.ctrSvc.Load(), len(msg))
	}
}
