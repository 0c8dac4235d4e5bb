package proxy

import (
	"fmt"
	"runtime"

	"github.com/vishvananda/netns"
)

// inNetns runs fn so that the sockets it makes belong to the proxy's
// network namespace (Config.Netns): on a fresh OS thread that enters the
// namespace and ends with fn, because a goroutine that returns while
// locked to its thread takes the thread with it. No goroutine of the pool
// ever runs in the other namespace, and there is no switch back that could
// fail half-way. A socket stays in the namespace it was made in, whichever
// thread uses it later. Without a namespace fn runs here.
//
// It costs a thread per call, which the proxy pays per listener, and per
// connection to a real server on the goroutine path (the event loops
// stay in the namespace: enterNetns), only when it runs in another
// namespace.
func (p *Proxy) inNetns(fn func() error) error {
	if p.cfg.Netns <= 0 {
		return fn()
	}
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with the goroutine
		if err := netns.Set(p.cfg.Netns); err != nil {
			errc <- fmt.Errorf("enter network namespace: %w", err)
			return
		}
		errc <- fn()
	}()
	return <-errc
}

// enterNetns moves an event loop, for its whole life, onto a thread in the
// proxy's namespace, so that the sockets it makes to real servers are made
// there without a thread per connection. The thread ends with the loop.
func (l *loop) enterNetns() {
	if l.p.cfg.Netns <= 0 {
		return
	}
	runtime.LockOSThread() // never unlocked
	if err := netns.Set(l.p.cfg.Netns); err != nil {
		l.netnsErr = err
		l.p.log.Error("event loop cannot enter the network namespace: its clients are reset", "err", err)
	}
}
