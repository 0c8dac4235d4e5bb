// Package clocktest is a manual clock for tests of anything that takes a
// clock.Clock (vrrp instances and trackers, health-check monitors and
// pools, the director): time moves only when the test says so, and the
// test can wait until the code under test is blocked on a timer.
package clocktest

import (
	"sort"
	"sync"
	"time"

	"github.com/lvskit/lvskit/clock"
)

// Clock is a fake clock.Clock. The zero value is not usable; call New.
type Clock struct {
	mu      sync.Mutex
	now     time.Time
	timers  []*timer
	changed chan struct{} // closed and replaced whenever timers change
}

var _ clock.Clock = (*Clock)(nil)

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
func (c *Clock) NewTimer(d time.Duration) clock.Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &timer{c: c, ch: make(chan time.Time, 1)}
	c.scheduleLocked(t, d)
	return t
}

// AfterFunc calls f in a new goroutine when the clock reaches Now()+d.
func (c *Clock) AfterFunc(d time.Duration, f func()) clock.Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &timer{c: c, fn: f}
	c.scheduleLocked(t, d)
	return t
}

// scheduleLocked arms t to fire d from now (at once when d <= 0).
func (c *Clock) scheduleLocked(t *timer, d time.Duration) {
	t.when = c.now.Add(d)
	t.fired = false
	if d <= 0 {
		c.fireLocked(t, c.now)
		return
	}
	c.timers = append(c.timers, t)
	c.notifyLocked()
}

func (c *Clock) fireLocked(t *timer, at time.Time) {
	t.fired = true
	if t.fn != nil {
		go t.fn()
		return
	}
	select {
	case t.ch <- at:
	default: // an unread earlier value: as time.Timer, keep one
	}
}

func (c *Clock) notifyLocked() {
	close(c.changed)
	c.changed = make(chan struct{})
}

// removeLocked takes t off the pending list; it reports whether it was there.
func (c *Clock) removeLocked(t *timer) bool {
	for i, o := range c.timers {
		if o == t {
			c.timers = append(c.timers[:i], c.timers[i+1:]...)
			c.notifyLocked()
			return true
		}
	}
	return false
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

// Next returns the earliest pending deadline, and false when no timer is
// pending.
func (c *Clock) Next() (time.Time, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.timers) == 0 {
		return time.Time{}, false
	}
	next := c.timers[0].when
	for _, t := range c.timers[1:] {
		if t.when.Before(next) {
			next = t.when
		}
	}
	return next, true
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
	next, ok := c.Next()
	if !ok {
		return c.Now(), false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
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
			c.fireLocked(t, t.when)
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
	t.drainLocked()
	if t.fired {
		return false
	}
	return t.c.removeLocked(t)
}

func (t *timer) Reset(d time.Duration) bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	t.drainLocked()
	pending := !t.fired && t.c.removeLocked(t)
	t.c.scheduleLocked(t, d)
	return pending
}

// drainLocked drops a fired but unread value, as time.Timer does since
// Go 1.23: no stale tick is received after Stop or Reset.
func (t *timer) drainLocked() {
	if t.ch == nil {
		return
	}
	select {
	case <-t.ch:
	default:
	}
}
