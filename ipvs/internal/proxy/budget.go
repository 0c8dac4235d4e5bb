package proxy

import (
	"fmt"
	"sync/atomic"
	"syscall"
)

// The descriptor budget. A proxy that takes a descriptor for every client
// that knocks runs the process out of them (EMFILE), and then not only
// its own accepts fail: so do the health checks, netlink requests, VRRP
// sockets and metrics connections of the process it lives in, and a few
// thousand idle clients take healthy real servers out. So the proxy keeps
// to a share of the process's limit, RLIMIT_NOFILE less Config.FDReserve,
// and counts every descriptor it holds against it: a TCP connection's two
// sockets (client and real server), a UDP flow's socket, each listener,
// each event loop's epoll descriptor and eventfd, and each pipe (two
// descriptors), in use or kept for reuse. A new TCP connection or UDP flow
// is admitted only while its sockets fit; otherwise it is refused at once
// (a TCP client is accepted and reset, so it does not wait in the
// backlog; a UDP datagram that would start a flow is dropped), counted,
// and logged at most once a second. A direction that turns to splice
// takes a pipe only while one fits; otherwise it goes on copying through
// the loop's buffer. So at most (limit − reserve) / 2 TCP connections are
// open at once, fewer while pipes are in use.

// DefaultFDReserve is the number of descriptors the proxy leaves to the
// rest of the process when Config.FDReserve is zero, unless that is more
// than half the limit; then half the limit is left.
const DefaultFDReserve = 1024

// fdsPerConn is what a TCP connection holds: its client socket and its
// real-server socket. Pipes are counted when taken.
const fdsPerConn = 2

// fdBudget counts the descriptors the proxy holds against its share of the
// process's limit.
type fdBudget struct {
	limit   int   // RLIMIT_NOFILE (soft, after raising it to the hard limit)
	reserve int   // left to the rest of the process
	max     int64 // limit - reserve
	used    atomic.Int64
	fixed   atomic.Int64 // of used: listeners and event loops
	pipes   atomic.Int64 // pipes held, in use or pooled
}

// newFDBudget raises the soft limit on open files to the hard limit where
// it is lower (Go's runtime does so at start on Linux already) and returns
// the budget that leaves reserve of it (0: DefaultFDReserve, at most half
// the limit; negative: none).
func newFDBudget(reserve int) (*fdBudget, error) {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return nil, fmt.Errorf("read RLIMIT_NOFILE: %w", err)
	}
	if rl.Cur < rl.Max {
		// Only when needed: setting it makes child processes inherit the
		// raised limit instead of the one the process started with.
		raised := rl
		raised.Cur = raised.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &raised); err == nil {
			rl = raised
		}
	}
	limit := int(min(rl.Cur, 1<<40))
	switch {
	case reserve == 0:
		reserve = min(DefaultFDReserve, limit/2)
	case reserve < 0:
		reserve = 0
	}
	return &fdBudget{limit: limit, reserve: reserve, max: max(int64(limit)-int64(reserve), 0)}, nil
}

// take counts n more descriptors if they fit, and reports whether they did.
func (b *fdBudget) take(n int) bool {
	for {
		u := b.used.Load()
		if u+int64(n) > b.max {
			return false
		}
		if b.used.CompareAndSwap(u, u+int64(n)) {
			return true
		}
	}
}

// give returns n descriptors counted by take.
func (b *fdBudget) give(n int) { b.used.Add(-int64(n)) }

// addFixed counts n descriptors of a listener or event loop (negative:
// closed) whether or not they fit: what the configuration asks for is
// never refused, but it leaves less for connections.
func (b *fdBudget) addFixed(n int) {
	b.used.Add(int64(n))
	b.fixed.Add(int64(n))
}

func (b *fdBudget) status(refused uint64) Budget {
	return Budget{
		Limit: b.limit, Reserve: b.reserve, InUse: int(b.used.Load()),
		Pipes:    int(b.pipes.Load()),
		MaxConns: int(max(b.max-b.fixed.Load(), 0) / fdsPerConn),
		Refused:  refused,
	}
}

// Budget is the proxy's share of the process's file descriptors
// (Proxy.Budget).
type Budget struct {
	// Limit is the process's RLIMIT_NOFILE, after the proxy raised the
	// soft limit to the hard one.
	Limit int
	// Reserve is what the proxy leaves to the rest of the process.
	Reserve int
	// InUse is how many descriptors the proxy holds now: connection,
	// flow and listening sockets, event loops, and pipes in use or kept
	// for reuse.
	InUse int
	// Pipes is how many pipes (two descriptors each) of InUse the event
	// loops hold, in use by a splicing direction or kept for reuse.
	Pipes int
	// MaxConns is the most TCP connections that fit when no pipe is held:
	// (Limit − Reserve) / 2, less what listeners and event loops take.
	MaxConns int
	// Refused counts the TCP connections and UDP flows refused because
	// the budget was full, since the proxy started.
	Refused uint64
}
