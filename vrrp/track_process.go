package vrrp

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/lvskit/lvskit/clock"
)

// ParamMatch says how a ProcessConfig's Params are compared with a
// process's parameters (keepalived's param_match).
type ParamMatch int

// Parameter matches.
const (
	// ParamMatchNone ignores the parameters (no Params given).
	ParamMatchNone ParamMatch = iota
	// ParamMatchExact: the parameters are exactly Params.
	ParamMatchExact
	// ParamMatchPartial: Params are the first whole parameters.
	ParamMatchPartial
	// ParamMatchInitial: Params, joined, start the parameters (the last
	// one may be the start of a parameter).
	ParamMatchInitial
)

// ProcessConfig is keepalived's vrrp_track_process: the instance is up
// while the number of processes matching Name (and Params) is within
// Quorum..QuorumMax.
//
// keepalived follows processes through the kernel's process connector
// (fork, exec, comm and exit events). lvskit scans /proc every Interval
// instead, on the instance's clock: the connector exists only in the
// initial network namespace, where a director in its own namespace could
// not open it, and a scan sees the same processes. A process counts from
// the first scan that sees it, so a change is seen up to Interval late;
// ForkDelay and TerminateDelay then apply as in keepalived, to a gain of
// the quorum and to its loss.
type ProcessConfig struct {
	// Name is compared with the kernel's name of the process (its comm,
	// at most 15 characters, as in /proc/PID/stat), or with FullCommand,
	// Params or ParamMatch, with its argv[0] (/proc/PID/cmdline).
	Name string
	// Params are the parameters to match; with Params and ParamMatch
	// unset, ParamMatchExact (keepalived: "process NAME PARAM...").
	Params     []string
	ParamMatch ParamMatch
	// FullCommand matches Name with argv[0] without any parameters.
	FullCommand bool
	// Quorum is the least number of processes; 0 means 1. QuorumMax is
	// the most; 0 means no limit. Absent makes the tracker up while no
	// process matches (keepalived's quorum_max 0).
	Quorum    int
	QuorumMax int
	Absent    bool
	// Weight and Reverse: keepalived's "weight W [reverse]". A positive
	// weight is added while the quorum holds, a negative one while it does
	// not (reverse negates it); weight 0 is FAULT while the quorum does not
	// hold (while it holds with Reverse). Attach with Track.Weight 0.
	Weight  int
	Reverse bool
	// ForkDelay delays taking a gained quorum into account, and
	// TerminateDelay a lost one; a change that goes back within the delay
	// is not reported.
	ForkDelay      time.Duration
	TerminateDelay time.Duration
	// Interval between scans of /proc; 0 means 1s.
	Interval time.Duration
	// Clock measures Interval and the delays; nil means the instance's.
	Clock Clock
}

// TrackProcess is a Tracker counting processes (keepalived's
// track_process): see ProcessConfig.
func TrackProcess(c ProcessConfig) Tracker {
	return &procTracker{cfg: c, clock: c.Clock, ownClock: c.Clock != nil, root: "/proc"}
}

type procTracker struct {
	cfg      ProcessConfig
	clock    Clock
	ownClock bool
	root     string // /proc
}

var (
	_ levelTracker   = (*procTracker)(nil)
	_ clockedTracker = (*procTracker)(nil)
)

func (p *procTracker) onClock(c Clock) Tracker {
	if p.ownClock {
		return p
	}
	q := *p
	q.clock = c
	return &q
}

func (p *procTracker) Track(ctx context.Context, report func(up bool)) error {
	return p.trackLevel(ctx, func(_ int, fault bool) { report(!fault) })
}

// quorum reports whether n processes make the quorum.
func (c *ProcessConfig) quorum(n int) bool {
	if c.Absent {
		return n == 0
	}
	return n >= max(c.Quorum, 1) && (c.QuorumMax == 0 || n <= c.QuorumMax)
}

// level is the priority change (or FAULT) of holding the quorum or not,
// as keepalived's initialise_tracking_priorities and
// process_update_track_process_status count it.
func (c *ProcessConfig) level(have bool) (delta int, fault bool) {
	m := 1
	if c.Reverse {
		m = -1
	}
	switch {
	case c.Weight == 0:
		return 0, have != (m == 1)
	case have && c.Weight > 0, !have && c.Weight < 0:
		return c.Weight * m, false
	}
	return 0, false
}

func (p *procTracker) trackLevel(ctx context.Context, report func(delta int, fault bool)) error {
	clk := clock.Or(p.clock)
	iv := p.cfg.Interval
	if iv <= 0 {
		iv = time.Second
	}
	n, err := p.count()
	if err != nil {
		return err
	}
	have := p.cfg.quorum(n)
	reported := have
	report(p.cfg.level(have))
	tick := clk.NewTimer(iv)
	defer tick.Stop()
	var pending Timer // a change waiting out its delay
	pendingC := func() <-chan time.Time {
		if pending == nil {
			return nil
		}
		return pending.C()
	}
	stopPending := func() {
		if pending != nil {
			pending.Stop()
			pending = nil
		}
	}
	defer stopPending()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-pendingC():
			pending = nil
			if have != reported {
				reported = have
				report(p.cfg.level(have))
			}
		case <-tick.C():
			if n, err = p.count(); err != nil {
				return err
			}
			have = p.cfg.quorum(n)
			tick.Reset(iv)
			switch {
			case have == reported:
				stopPending() // the change went back within its delay
			case pending != nil:
				// Waiting out the delay of this very change.
			default:
				delay := p.cfg.TerminateDelay
				if have {
					delay = p.cfg.ForkDelay
				}
				if delay <= 0 {
					reported = have
					report(p.cfg.level(have))
				} else {
					pending = clk.NewTimer(delay)
				}
			}
		}
	}
}

// count scans the process table for processes that match.
func (p *procTracker) count() (int, error) {
	ents, err := os.ReadDir(p.root)
	if err != nil {
		return 0, fmt.Errorf("track process %s: %w", p.cfg.Name, err)
	}
	full := p.cfg.FullCommand || len(p.cfg.Params) > 0 || p.cfg.ParamMatch != ParamMatchNone
	n := 0
	for _, e := range ents {
		name := e.Name()
		if !e.IsDir() || name[0] < '1' || name[0] > '9' {
			continue
		}
		dir := filepath.Join(p.root, name)
		var ok bool
		if full {
			b, err := os.ReadFile(filepath.Join(dir, "cmdline"))
			ok = err == nil && p.cfg.matchCmdline(b)
		} else {
			b, err := os.ReadFile(filepath.Join(dir, "stat"))
			comm, state, found := parseProcStat(b)
			ok = err == nil && found && state != 'Z' && comm == p.cfg.Name
		}
		if ok {
			n++
		}
	}
	return n, nil
}

// parseProcStat takes the command name and state from /proc/PID/stat:
// "PID (COMM) S ...", where COMM may hold spaces and parentheses.
func parseProcStat(b []byte) (comm string, state byte, ok bool) {
	i := bytes.IndexByte(b, '(')
	j := bytes.LastIndexByte(b, ')')
	if i < 0 || j < i || j+2 >= len(b) {
		return "", 0, false
	}
	return string(b[i+1 : j]), b[j+2], true
}

// matchCmdline matches /proc/PID/cmdline (NUL-terminated words) as
// keepalived's check_params does.
func (c *ProcessConfig) matchCmdline(cmdline []byte) bool {
	argv0, rest, _ := bytes.Cut(cmdline, []byte{0})
	if string(argv0) != c.Name || len(cmdline) == 0 {
		return false
	}
	match := c.ParamMatch
	if match == ParamMatchNone && len(c.Params) > 0 {
		match = ParamMatchExact
	}
	var want []byte
	if len(c.Params) > 0 {
		want = []byte(strings.Join(c.Params, "\x00") + "\x00")
	}
	switch match {
	case ParamMatchNone:
		return true
	case ParamMatchExact:
		return bytes.Equal(rest, want)
	case ParamMatchPartial:
		return bytes.HasPrefix(rest, want)
	}
	// Initial: the parameters, without the final NUL, start the process's.
	return len(want) <= 1 || bytes.HasPrefix(rest, want[:len(want)-1])
}
