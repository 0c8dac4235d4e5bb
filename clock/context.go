package clock

import (
	"context"
	"time"
)

// WithTimeout is context.WithTimeout on c: the returned context ends when
// c has moved d past its Now. On the wall clock it is context.WithTimeout
// itself (with a Deadline); on another clock the context has no Deadline,
// its Err is context.Canceled and its Cause context.DeadlineExceeded once
// the time is up. Call the CancelFunc when done, as with the standard one.
func WithTimeout(parent context.Context, c Clock, d time.Duration) (context.Context, context.CancelFunc) {
	if c == nil || IsWall(c) {
		return context.WithTimeout(parent, d)
	}
	ctx, cancel := context.WithCancelCause(parent)
	t := c.AfterFunc(d, func() { cancel(context.DeadlineExceeded) })
	return ctx, func() {
		t.Stop()
		cancel(context.Canceled)
	}
}
