package clock_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/lvskit/lvskit/clock"
	"github.com/lvskit/lvskit/clock/clocktest"
)

// On a fake clock the context ends when the clock passes the timeout, and
// not before; its cause says the time was up.
func TestWithTimeoutFake(t *testing.T) {
	c := clocktest.New(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	ctx, cancel := clock.WithTimeout(context.Background(), c, 10*time.Second)
	defer cancel()
	if _, ok := ctx.Deadline(); ok {
		t.Error("a fake-clock context has a wall-clock deadline")
	}
	c.Advance(9 * time.Second)
	if ctx.Err() != nil {
		t.Fatalf("ended after 9 s of 10: %v", ctx.Err())
	}
	c.Advance(time.Second)
	<-ctx.Done()
	if cause := context.Cause(ctx); !errors.Is(cause, context.DeadlineExceeded) {
		t.Errorf("Cause = %v, want context.DeadlineExceeded", cause)
	}
}

// Cancelling stops the clock's timer, and the cause is Canceled.
func TestWithTimeoutCancel(t *testing.T) {
	c := clocktest.New(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	ctx, cancel := clock.WithTimeout(context.Background(), c, time.Minute)
	if c.Waiters() != 1 {
		t.Fatalf("Waiters = %d, want the timeout's timer", c.Waiters())
	}
	cancel()
	if c.Waiters() != 0 {
		t.Errorf("Waiters after cancel = %d, want 0", c.Waiters())
	}
	if cause := context.Cause(ctx); !errors.Is(cause, context.Canceled) {
		t.Errorf("Cause = %v, want context.Canceled", cause)
	}
}

// On the wall clock (and nil) it is context.WithTimeout.
func TestWithTimeoutWall(t *testing.T) {
	for _, c := range []clock.Clock{nil, clock.Wall{}} {
		ctx, cancel := clock.WithTimeout(context.Background(), c, time.Hour)
		if _, ok := ctx.Deadline(); !ok {
			t.Errorf("clock %v: no deadline", c)
		}
		cancel()
		if !errors.Is(ctx.Err(), context.Canceled) {
			t.Errorf("clock %v: Err after cancel = %v", c, ctx.Err())
		}
	}
}
