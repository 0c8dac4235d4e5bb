package proxy

import (
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
