package clocktest_test

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/lvskit/lvskit/clock/clocktest"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func TestTimersFireInOrder(t *testing.T) {
	c := clocktest.New(t0)
	a := c.NewTimer(3 * time.Second)
	b := c.NewTimer(1 * time.Second)
	stopped := c.NewTimer(2 * time.Second)
	if !stopped.Stop() {
		t.Fatal("Stop of a pending timer returned false")
	}
	if got := c.Waiters(); got != 2 {
		t.Fatalf("Waiters = %d, want 2", got)
	}
	at, ok := c.AdvanceToNext()
	if !ok || !at.Equal(t0.Add(time.Second)) {
		t.Fatalf("AdvanceToNext = %v, %v; want t0+1s", at, ok)
	}
	select {
	case got := <-b.C():
		if !got.Equal(t0.Add(time.Second)) {
			t.Errorf("b fired at %v", got)
		}
	default:
		t.Fatal("b did not fire")
	}
	select {
	case <-a.C():
		t.Fatal("a fired early")
	default:
	}
	c.Advance(5 * time.Second)
	if got := <-a.C(); !got.Equal(t0.Add(3 * time.Second)) {
		t.Errorf("a fired with %v, want its deadline", got)
	}
	if !c.Now().Equal(t0.Add(6 * time.Second)) {
		t.Errorf("Now = %v", c.Now())
	}
	if _, ok := c.AdvanceToNext(); ok {
		t.Error("AdvanceToNext with no timers returned true")
	}
}

func TestAfterFuncAndBlockUntil(t *testing.T) {
	c := clocktest.New(t0)
	got := make(chan time.Time, 3)
	var step func()
	step = func() {
		got <- c.Now()
		c.AfterFunc(2*time.Second, step)
	}
	c.AfterFunc(time.Second, step)
	var times []time.Duration
	for range 3 {
		c.BlockUntil(1)
		c.AdvanceToNext()
		times = append(times, (<-got).Sub(t0))
	}
	if diff := cmp.Diff([]time.Duration{time.Second, 3 * time.Second, 5 * time.Second}, times); diff != "" {
		t.Errorf("callback times (-want +got):\n%s", diff)
	}
}

func TestResetAndStopDropStaleValues(t *testing.T) {
	c := clocktest.New(t0)
	tm := c.NewTimer(time.Second)
	c.Advance(time.Second) // fired, value unread
	if tm.Reset(2 * time.Second) {
		t.Error("Reset of a fired timer reported it pending")
	}
	select {
	case v := <-tm.C():
		t.Fatalf("stale value %v received after Reset", v)
	default:
	}
	if !tm.Reset(500 * time.Millisecond) {
		t.Error("Reset of a pending timer reported it not pending")
	}
	if got := c.Waiters(); got != 1 {
		t.Fatalf("Waiters after two Resets = %d, want 1", got)
	}
	c.Advance(500 * time.Millisecond)
	if got := <-tm.C(); !got.Equal(t0.Add(1500 * time.Millisecond)) {
		t.Errorf("fired at %v, want t0+1.5s", got)
	}
	c.Advance(time.Second)
	tm.Reset(time.Second)
	c.Advance(time.Second) // fired again, unread
	if tm.Stop() {
		t.Error("Stop of a fired timer returned true")
	}
	select {
	case v := <-tm.C():
		t.Fatalf("stale value %v received after Stop", v)
	default:
	}
}
