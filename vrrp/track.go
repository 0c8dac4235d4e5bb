package vrrp

import (
	"context"
	"fmt"
	"os/exec"
	"time"
)

// Tracker watches something an instance depends on.
type Tracker interface {
	// Track runs until ctx ends, calling report with the current health
	// whenever it changes (it may also repeat itself). It returns nil when
	// ctx ends.
	Track(ctx context.Context, report func(up bool)) error
}

// Track attaches a Tracker to an instance with keepalived's weight rules:
// a positive weight is added to the priority while up, a negative one
// while down, and weight 0 puts the instance in FAULT while down. The
// effective priority stays within 1..254 (an owner's 255 is not changed).
type Track struct {
	Name    string
	Tracker Tracker
	Weight  int
}

// effectivePriority combines the base priority with tracker states.
func effectivePriority(base int, tracks []Track, up []bool) (uint8, bool) {
	fault := false
	sum := 0
	for i, t := range tracks {
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
func TrackFunc(interval time.Duration, fn func(ctx context.Context) error) Tracker {
	return &pollTracker{interval: interval, rise: 1, fall: 1, probe: fn}
}

// ScriptConfig is keepalived's vrrp_script: a program run without a shell.
type ScriptConfig struct {
	// Path and Args are the program and its arguments; no shell is involved.
	Path string
	Args []string
	// Interval between runs; 0 means 1s.
	Interval time.Duration
	// Timeout of one run, after which it is killed and counts as failed;
	// 0 means Interval.
	Timeout time.Duration
	// Rise and Fall: consecutive successes to become up, failures to become
	// down; 0 means 1.
	Rise, Fall int
	// InitFail starts the tracker down (init_fail); by default it starts up.
	InitFail bool
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
		probe: func(ctx context.Context) error {
			ctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			cmd := exec.CommandContext(ctx, c.Path, c.Args...)
			cmd.WaitDelay = time.Second
			if err := cmd.Run(); err != nil {
				return fmt.Errorf("run %s: %w", c.Path, err)
			}
			return nil
		},
	}
}

type pollTracker struct {
	interval   time.Duration
	rise, fall int
	initDown   bool
	probe      func(ctx context.Context) error
}

func (p *pollTracker) Track(ctx context.Context, report func(up bool)) error {
	iv := p.interval
	if iv <= 0 {
		iv = time.Second
	}
	up := !p.initDown
	report(up)
	ok, bad := 0, 0
	t := time.NewTicker(iv)
	defer t.Stop()
	for {
		err := p.probe(ctx)
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
		case <-t.C:
		}
	}
}
