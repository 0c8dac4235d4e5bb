package vrrp

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// Per-packet logging is bounded: a flood of bad packets (each of which is
// counted in lvskit_vrrp_drops_total anyway) must not turn into a flood of
// log lines. An instance logs at most debugLinesPerSecond dropped packets
// a second on its clock, and so does a raw transport for its socket
// errors; the next line let through says how many were left out before
// it ("suppressed").
const debugLinesPerSecond = 10

// logLimit lets through at most max lines per second of its clock and
// counts the rest. It is safe for concurrent use: an instance's transport
// reader and its goroutine both log drops.
type logLimit struct {
	clock Clock
	max   int

	mu         sync.Mutex
	window     time.Time // start of the current second
	n          int       // lines let through in it
	suppressed int       // lines left out since the last one let through
}

func newLogLimit(c Clock, max int) *logLimit { return &logLimit{clock: c, max: max} }

// allow reports whether a line may be logged now and, if so, how many
// were left out before it.
func (l *logLimit) allow() (bool, int) {
	now := l.clock.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.window.IsZero() || now.Sub(l.window) >= time.Second || now.Before(l.window) {
		l.window, l.n = now, 0
	}
	if l.n >= l.max {
		l.suppressed++
		return false, 0
	}
	l.n++
	k := l.suppressed
	l.suppressed = 0
	return true, k
}

// debug logs msg with args at debug level through log, if log takes
// debug lines and the limit lets this one through.
func (l *logLimit) debug(log *slog.Logger, msg string, args ...any) {
	if !log.Enabled(context.Background(), slog.LevelDebug) {
		return
	}
	ok, k := l.allow()
	if !ok {
		return
	}
	if k > 0 {
		args = append(args, "suppressed", k)
	}
	log.Debug(msg, args...)
}
