// Package fakeclock is a manual clock for testing healthcheck monitors (and
// anything else that takes a healthcheck.Clock): time moves only when the
// test says so, and the test can wait until the code under test is blocked
// on a timer.
package fakeclock

import (
	"sort"
	"sync"
	"time"

	"github.com/lvskit/lvskit/healthcheck"
)

// Clock is a fake healthcheck.Clock. The zero value is not usable; call New.
type Clock struct {
	mu      sync.Mutex
	now     time.Time
	timers  []*timer
	changed chan struct{} // closed and replaced whenever timers change
}

var _ healthcheck.Clock = (*Clock)(nil)

// New returns a clock reading start.
func New(start time.Time) *Clock {
	return &Clock{now: start, changed: make(chan struct{})}
}

// Now returns the fake time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// NewTimer returns a timer that fires when the clock reaches Now()+d.
func (c *Clock) NewTimer(d time.Duration) healthcheck.Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &timer{c: c, when: c.now.Add(d), ch: make(chan time.Time, 1)}
	if d <= 0 {
		t.ch <- c.now
		t.fired = true
		return t
	}
	c.timers = append(c.timers, t)
	c.notifyLocked()
	return t
}

func (c *Clock) notifyLocked() {
	close(c.changed)
	c.changed = make(chan struct{})
}

// AfterFunc calls f in a new goroutine when the clock reaches Now()+d.
func (c *Clock) AfterFunc(d time.Duration, f func()) healthcheck.Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &timer{c: c, when: c.now.Add(d), fn: f}
	if d <= 0 {
		t.fired = true
		go f()
		return t
	}
	c.timers = append(c.timers, t)
	c.notifyLocked()
	return t
}

// Waiters returns how many timers are pending.
func (c *Clock) Waiters() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.timers)
}

// BlockUntil waits until at least n timers (NewTimer or AfterFunc) are
// pending.
func (c *Clock) BlockUntil(n int) {
	for {
		c.mu.Lock()
		if len(c.timers) >= n {
			c.mu.Unlock()
			return
		}
		ch := c.changed
		c.mu.Unlock()
		<-ch
	}
}

// Advance moves the clock by d and fires every timer that is due, in order
// of their deadlines.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.setLocked(c.now.Add(d))
}

// AdvanceToNext moves the clock to the earliest pending timer's deadline and
// fires it. It returns false (and does nothing) when no timer is pending.
func (c *Clock) AdvanceToNext() (time.Time, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.timers) == 0 {
		return c.now, false
	}
	next := c.timers[0].when
	for _, t := range c.timers[1:] {
		if t.when.Before(next) {
			next = t.when
		}
	}
	if next.Before(c.now) {
		next = c.now
	}
	c.setLocked(next)
	return next, true
}

func (c *Clock) setLocked(now time.Time) {
	c.now = now
	sort.SliceStable(c.timers, func(i, j int) bool { return c.timers[i].when.Before(c.timers[j].when) })
	kept := c.timers[:0]
	for _, t := range c.timers {
		if !t.when.After(now) {
			t.fired = true
			if t.fn != nil {
				go t.fn()
			} else {
				t.ch <- t.when
			}
			continue
		}
		kept = append(kept, t)
	}
	for i := len(kept); i < len(c.timers); i++ {
		c.timers[i] = nil
	}
	c.timers = kept
	c.notifyLocked()
}

type timer struct {
	c     *Clock
	when  time.Time
	ch    chan time.Time // nil for AfterFunc timers
	fn    func()
	fired bool
}

func (t *timer) C() <-chan time.Time { return t.ch }

func (t *timer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	if t.fired {
		return false
	}
	for i, o := range t.c.timers {
		if o == t {
			t.c.timers = append(t.c.timers[:i], t.c.timers[i+1:]...)
			t.c.notifyLocked()
			return true
		}
	}
	return false
}
