// Package clock is the time source that lvskit's long-running parts share:
// the VRRP shell and its trackers, health-check monitors and pools, the
// director and its alerts. Each takes a Clock in its Config, nil meaning
// the wall clock, so one fake clock (package clocktest) drives a whole
// director in a test, to the microsecond, without sleeping.
//
// Code that waits on processes or sockets rather than timers (script
// trackers, checkers) is tested in testing/synctest bubbles instead, where
// time stands still while a process runs.
package clock

import "time"

// Clock tells the time and makes timers.
type Clock interface {
	Now() time.Time
	// NewTimer returns a timer that sends the time on C after d.
	NewTimer(d time.Duration) Timer
	// AfterFunc calls f in its own goroutine after d. The returned
	// Timer's C is nil.
	AfterFunc(d time.Duration, f func()) Timer
}

// Timer is the part of *time.Timer that lvskit uses.
type Timer interface {
	C() <-chan time.Time
	// Stop prevents the timer from firing; it reports whether it did.
	Stop() bool
	// Reset changes the timer to fire after d; it reports whether the
	// timer was pending. As with time.Timer since Go 1.23, no stale value
	// is received after Reset or Stop returns.
	Reset(d time.Duration) bool
}

// Wall is the system's clock.
type Wall struct{}

var _ Clock = Wall{}

// Or returns c, or the wall clock when c is nil.
func Or(c Clock) Clock {
	if c == nil {
		return Wall{}
	}
	return c
}

// IsWall reports whether c is the system's clock, for code that may then
// use kernel timestamps (which a fake clock cannot match).
func IsWall(c Clock) bool {
	_, ok := c.(Wall)
	return ok
}

func (Wall) Now() time.Time { return time.Now() }

func (Wall) NewTimer(d time.Duration) Timer { return wallTimer{time.NewTimer(d)} }

func (Wall) AfterFunc(d time.Duration, f func()) Timer {
	return wallTimer{time.AfterFunc(d, f)}
}

type wallTimer struct{ t *time.Timer }

func (t wallTimer) C() <-chan time.Time        { return t.t.C }
func (t wallTimer) Stop() bool                 { return t.t.Stop() }
func (t wallTimer) Reset(d time.Duration) bool { return t.t.Reset(d) }

// Sleep waits for d on c, or until done is closed; it reports whether the
// whole d passed.
func Sleep(c Clock, d time.Duration, done <-chan struct{}) bool {
	t := c.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C():
		return true
	case <-done:
		return false
	}
}
