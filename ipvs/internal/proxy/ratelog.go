package proxy

import (
	"sync"
	"time"
)

// rateLog bounds how often an event that may come thousands of times a
// second (a refused client) is logged: the first one at once, then at most
// one line per interval carrying the count since the last line. Events
// that come after a line and are followed by none for a while are
// reported by flush, which the proxy calls from its estimator (every 2 s),
// so no count is lost.
type rateLog struct {
	every time.Duration

	mu      sync.Mutex
	last    time.Time // of the last line; zero before the first
	pending uint64    // events since the last line
}

// note counts one event at now and reports whether a line is due, with
// the number of events it covers.
func (r *rateLog) note(now time.Time) (n uint64, due bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.pending++
	return r.dueLocked(now)
}

// flush reports the events not yet logged, if there are any and a line is
// due.
func (r *rateLog) flush(now time.Time) (n uint64, due bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.pending == 0 {
		return 0, false
	}
	return r.dueLocked(now)
}

func (r *rateLog) dueLocked(now time.Time) (uint64, bool) {
	if !r.last.IsZero() && now.Sub(r.last) < r.every {
		return 0, false
	}
	n := r.pending
	r.pending = 0
	r.last = now
	return n, true
}
