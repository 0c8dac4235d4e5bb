// Package nsthread runs a function on an OS thread inside a network
// namespace, so that the sockets it makes, and the processes it starts,
// belong to that namespace.
//
// A socket belongs to the namespace of the thread that made it, whichever
// thread uses it later; a child process starts in the namespace of the
// thread that forked it. Run makes a fresh thread enter the namespace and
// lets it end with the function: a goroutine that returns while locked to
// its thread takes the thread with it, so no other goroutine ever runs in
// the namespace by accident and there is no switch back that could fail
// half-way.
package nsthread

import (
	"fmt"
	"runtime"

	"github.com/vishvananda/netns"
)

// Run calls fn on a fresh OS thread inside ns and returns its error.
// With ns zero or negative (no namespace: netns.None()) it calls fn here.
// Entering a namespace needs CAP_SYS_ADMIN.
func Run(ns netns.NsHandle, fn func() error) error {
	if ns <= 0 {
		return fn()
	}
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with the goroutine
		if err := netns.Set(ns); err != nil {
			errc <- fmt.Errorf("enter network namespace: %w", err)
			return
		}
		errc <- fn()
	}()
	return <-errc
}

// Enter moves the calling goroutine, for the rest of its life, onto its
// thread inside ns (for a long-lived loop that makes sockets as it runs).
// The caller must not return the goroutine to other work: its thread ends
// with it. With ns zero or negative it does nothing.
func Enter(ns netns.NsHandle) error {
	if ns <= 0 {
		return nil
	}
	runtime.LockOSThread() // never unlocked
	if err := netns.Set(ns); err != nil {
		return fmt.Errorf("enter network namespace: %w", err)
	}
	return nil
}
