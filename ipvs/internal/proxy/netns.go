package proxy

import "github.com/lvskit/lvskit/internal/nsthread"

// inNetns runs fn so that the sockets it makes belong to the proxy's
// network namespace (Config.Netns), on a thread that entered it and ends
// with fn (see internal/nsthread). Without a namespace fn runs here. A
// socket stays in the namespace it was made in, whichever thread uses it
// later.
//
// It costs a thread per call, which the proxy pays per listener, and per
// connection to a real server on the goroutine path (the event loops
// stay in the namespace: enterNetns), only when it runs in another
// namespace.
func (p *Proxy) inNetns(fn func() error) error { return nsthread.Run(p.cfg.Netns, fn) }

// enterNetns moves an event loop, for its whole life, onto a thread in the
// proxy's namespace, so that the sockets it makes to real servers are made
// there without a thread per connection. The thread ends with the loop.
func (l *loop) enterNetns() {
	if err := nsthread.Enter(l.p.cfg.Netns); err != nil {
		l.netnsErr = err
		l.p.log.Error("event loop cannot enter the network namespace: its clients are reset", "err", err)
	}
}
