package vrrp

import (
	"context"
	"syscall"
	"time"

	"github.com/lvskit/lvskit/clock"
)

// Tracker watches something an instance depends on.
type Tracker interface {
	// Track runs until ctx ends, calling report with the current health
	// whenever it changes (it may also repeat itself). It returns nil when
	// ctx ends.
	Track(ctx context.Context, report func(up bool)) error
}

// clockedTracker is a Tracker of this package that waits on a clock. An
// instance hands its own clock (Config.Clock) to those that were given
// none, so that one fake clock drives an instance and its trackers.
type clockedTracker interface {
	Tracker
	// onClock returns the tracker on c, or itself when it has a clock of
	// its own.
	onClock(c Clock) Tracker
}

// onInstanceClock returns tracks with the trackers of this package put on
// the instance's clock c where they have none of their own.
func onInstanceClock(tracks []Track, c Clock) []Track {
	out := make([]Track, len(tracks))
	for n, t := range tracks {
		if ct, ok := t.Tracker.(clockedTracker); ok {
			t.Tracker = ct.onClock(c)
		}
		out[n] = t
	}
	return out
}

// Track attaches a Tracker to an instance with keepalived's weight rules:
// a positive weight is added to the priority while up, a negative one
// while down, and weight 0 puts the instance in FAULT while down. The
// effective priority stays within 1..254 (an owner's 255 is not changed).
// A tracker that reports a priority change of its own (TrackFile) is
// attached with Weight 0.
type Track struct {
	Name    string
	Tracker Tracker
	Weight  int
}

// effectivePriority combines the base priority with tracker states: up
// or down, and the priority change a tracker reports itself (delta; nil
// for none).
func effectivePriority(base int, tracks []Track, up []bool, delta []int) (uint8, bool) {
	fault := false
	sum := 0
	for i, t := range tracks {
		if delta != nil {
			sum += delta[i]
		}
		switch {
		case t.Weight == 0 && !up[i]:
			fault = true
		case t.Weight > 0 && up[i], t.Weight < 0 && !up[i]:
			sum += t.Weight
		}
	}
	if base == PriorityOwner {
		return PriorityOwner, fault
	}
	return uint8(min(max(base+sum, 1), 254)), fault
}

// TrackFunc is a Tracker calling fn every interval (0 means 1s); nil is up.
// The interval runs on the clock of the instance the tracker is attached
// to (the system clock when Track is called outside an instance).
func TrackFunc(interval time.Duration, fn func(ctx context.Context) error) Tracker {
	return &pollTracker{interval: interval, rise: 1, fall: 1,
		probe: func(ctx context.Context, _ Clock) error { return fn(ctx) }}
}

// ScriptConfig is keepalived's vrrp_script: a program run without a shell,
// in a process group of its own that is killed as a whole at the timeout.
type ScriptConfig struct {
	// Path and Args are the program and its arguments; no shell is involved.
	Path string
	Args []string
	// Credential, when set, runs the program as that user and group
	// (keepalived's script_user or the vrrp_script's user); nil runs it as
	// this process. Changing user needs root.
	Credential *syscall.Credential
	// Interval between runs; 0 means 1s.
	Interval time.Duration
	// Timeout of one run, after which its process group gets SIGTERM (and
	// SIGKILL 2 s later) and the run counts as failed; 0 means Interval.
	Timeout time.Duration
	// Rise and Fall: consecutive successes to become up, failures to become
	// down; 0 means 1.
	Rise, Fall int
	// InitFail starts the tracker down (init_fail); by default it starts up.
	InitFail bool
	// Clock measures Interval and Timeout; nil means the clock of the
	// instance the tracker is attached to (Config.Clock), or the system
	// clock when Track is called outside an instance.
	Clock Clock
}

// TrackScript is a Tracker running a program: exit status 0 is success.
func TrackScript(c ScriptConfig) Tracker {
	timeout := c.Timeout
	if timeout == 0 {
		timeout = c.Interval
		if timeout == 0 {
			timeout = time.Second
		}
	}
	return &pollTracker{
		interval: c.Interval, rise: max(c.Rise, 1), fall: max(c.Fall, 1), initDown: c.InitFail,
		clock: c.Clock, ownClock: c.Clock != nil,
		probe: func(ctx context.Context, clk Clock) error {
			_, err := runProgram(ctx, clk, timeout, false, c.Credential, append([]string{c.Path}, c.Args...))
			return err
		},
	}
}

// pollTracker runs a probe every interval with keepalived's rise and fall.
type pollTracker struct {
	interval   time.Duration
	rise, fall int
	initDown   bool
	clock      Clock // nil: the system clock
	ownClock   bool  // the clock came with the tracker's config
	probe      func(ctx context.Context, clk Clock) error
}

func (p *pollTracker) onClock(c Clock) Tracker {
	if p.ownClock {
		return p
	}
	q := *p
	q.clock = c
	return &q
}

func (p *pollTracker) Track(ctx context.Context, report func(up bool)) error {
	clk := clock.Or(p.clock)
	iv := p.interval
	if iv <= 0 {
		iv = time.Second
	}
	up := !p.initDown
	report(up)
	ok, bad := 0, 0
	// A ticker's schedule: runs start every interval from the start; a run
	// longer than the interval is followed by the next at once, and the
	// ticks it overran are dropped.
	next := clk.Now().Add(iv)
	t := clk.NewTimer(iv)
	defer t.Stop()
	for {
		err := p.probe(ctx, clk)
		if ctx.Err() != nil {
			return nil
		}
		if err == nil {
			ok, bad = ok+1, 0
			if !up && ok >= p.rise {
				up = true
				report(true)
			}
		} else {
			ok, bad = 0, bad+1
			if up && bad >= p.fall {
				up = false
				report(false)
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C():
		}
		now := clk.Now()
		for next = next.Add(iv); !next.After(now); next = next.Add(iv) {
		}
		t.Reset(next.Sub(now))
	}
}
