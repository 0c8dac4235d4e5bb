package healthcheck

import (
	"errors"
	"net"
	"strings"

	"golang.org/x/sys/unix"
)

// A probe can fail for a reason that lies on this host rather than with
// the target: the process or the system is out of file descriptors, socket
// buffers or memory, or has no source address, port or route to send
// from. Such a failure says nothing about the real server, and counting
// it would turn a local shortage (a few thousand idle clients holding the
// process's descriptors, say) into every real server marked down at once.
// So the Monitor asks IsLocal of every failed probe, and one that failed
// locally counts neither toward a down transition nor toward a retry: it
// is counted apart (the probes metric's result "local_failure"), logged,
// and the target probed again after delay_before_retry. This file is the
// one place that decides what is local.

// LocalError is a probe failure whose cause is on this host. Checkers
// return it, around the error of the system call, where only the call
// site can tell (a route error returned at once by connect or sendto);
// other local causes IsLocal recognises by their errno.
type LocalError struct{ Err error }

func (e *LocalError) Error() string { return e.Err.Error() }
func (e *LocalError) Unwrap() error { return e.Err }

// localErrnos are the errors that only ever describe this host: too many
// open files in the process or the system, no buffer space, no memory, no
// source address (or ephemeral port) to bind.
var localErrnos = []error{unix.EMFILE, unix.ENFILE, unix.ENOBUFS, unix.ENOMEM, unix.EADDRNOTAVAIL}

// IsLocal reports whether a probe's error has its cause on this host: a
// *LocalError in its chain, one of EMFILE, ENFILE, ENOBUFS, ENOMEM or
// EADDRNOTAVAIL, or ENETUNREACH from dialing UDP (whose connect looks the
// route up at once). ENETUNREACH later in a TCP connection may come from
// a router on the way, which does say something about the target: it
// counts against it. A checker of another package gets the same rule if
// it wraps the system call's error (%w).
func IsLocal(err error) bool {
	if err == nil {
		return false
	}
	var le *LocalError
	if errors.As(err, &le) {
		return true
	}
	for _, e := range localErrnos {
		if errors.Is(err, e) {
			return true
		}
	}
	var oe *net.OpError
	return errors.Is(err, unix.ENETUNREACH) && errors.As(err, &oe) && oe.Op == "dial" && strings.HasPrefix(oe.Net, "udp")
}

// noRoute marks err, returned at once by a system call that looks up the
// route (the start of a non-blocking connect, sendto), as local when it
// says there is no route: this host cannot send from its source address.
func noRoute(err error) error {
	if errors.Is(err, unix.ENETUNREACH) {
		return &LocalError{Err: err}
	}
	return err
}
