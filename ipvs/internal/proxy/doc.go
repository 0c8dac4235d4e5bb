// Package proxy is the data plane of the userspace IPVS backend: a layer-4
// proxy that listens on each virtual service's address and port and
// forwards TCP connections and UDP flows to real servers chosen by the
// kernel's scheduling algorithms (package sched).
//
// It does in userspace what the kernel's IPVS does in NAT mode, with the
// same observable bookkeeping:
//
//   - Listeners bind with IP_FREEBIND (and SO_REUSEADDR), so a service can
//     start on a virtual address that VRRP has not added yet.
//   - Each destination counts active and inactive connections the way the
//     kernel does, and these feed lc, wlc, sed, nq, ovf and the thresholds.
//     The mapping from a proxied connection to the kernel's TCP states is:
//     accepted and connecting to the real server = inactive (SYN_RECV);
//     both sides connected = active (ESTABLISHED); after the first FIN in
//     either direction = inactive (FIN_WAIT / CLOSE_WAIT); fully closed =
//     gone (there is no TIME_WAIT entry). A UDP flow is inactive for its
//     whole life, as UDP connections are in the kernel.
//   - Persistence keeps a template per client network (client address
//     masked to the service's prefix length) that sends its new
//     connections to the same server while the template lives: Timeout
//     after its last use, and never while it still has connections. As in
//     the kernel, a template bypasses the upper threshold and, unless
//     Config.ExpireQuiescentTemplate is set, also a weight of 0.
//   - Upper and lower thresholds mark a destination overloaded.
//   - Statistics (connections, bytes, and for UDP packets, 64-bit) per
//     service and destination. TCP bytes are payload bytes delivered to
//     the other side, counted per write or splice; TCP packets are not counted (the
//     proxy never sees them).
//
// Changes apply live. A new destination is used from the next connection
// on. Weight 0 stops new connections and keeps existing ones. A removed
// destination gets no new connections; its open ones keep running until
// they end or Config.DrainTimeout passes, then they are closed. Removing a
// TCP service closes its listener and drains its connections the same
// way; removing a UDP service closes its socket and flows at once.
//
// # TCP data path
//
// By default TCP connections run on event loops, Config.Workers of them
// (GOMAXPROCS by default), each a goroutine with an epoll instance of its
// own that holds the connections' sockets, outside Go's network poller.
// An idle loop parks in Go's poller on the epoll descriptor itself (an
// epoll descriptor is pollable), holding no thread; a busy one waits for
// its next events in epoll_pwait2 for up to Config.BusyWait (100 µs)
// first, so that under load a wake-up is one thread woken by the kernel.
// The loops' socket calls, all non-blocking, are raw system calls, so the
// scheduler never takes a loop's P away in the middle of its work. A
// service's listening socket is in every loop (EPOLLEXCLUSIVE); the loop
// that accepts a connection connects to the real server without blocking
// and then owns both sockets to the end. A direction starts by copying:
// one read into the loop's 16 KiB buffer and one write, which for the
// small messages of requests and answers costs less than splicing; the
// first read that fills the buffer marks a bulk transfer, and from then
// on the direction moves socket to pipe to socket with splice(2), so bulk
// payload never passes through user memory, as in HAProxy's splice-auto.
// A direction holds a pipe only while bytes wait in it: it takes one from
// its loop's pool when it splices and gives it back once the receiver has
// taken everything, so an idle connection holds its two sockets and
// nothing else. What the receiver cannot take at once waits in the pipe,
// or for copied bytes in memory of the direction's own. Readiness is
// level-triggered: a readable socket costs one read (or splice) in and
// one write (or splice) out, and no read that ends in EAGAIN. When the receiving socket's
// buffer is full the loop stops reading the sender and waits until the
// receiver is writable (backpressure). Accepted and connected sockets have
// TCP_NODELAY, as Go's own connections do.
//
// With Config.CopyGoroutines, or when the kernel refuses epoll or splice
// (some sandboxes), each connection instead has two goroutines. Each
// waits in Go's poller until its source is readable, holding no buffer and
// no pipe, then copies what is there through a pooled buffer, or for a
// bulk read splices it with ReadFrom (Go's splice(2), through a pipe it
// takes from its own pool for the transfer).
//
// # File descriptors
//
// The proxy keeps to a share of the process's descriptors, so that idle
// or hostile clients cannot starve what else runs in the process (a
// director's health checks, netlink and VRRP sockets, metrics server) of
// them. New raises the soft RLIMIT_NOFILE to the hard limit where it is
// lower (Go already does at start) and leaves Config.FDReserve of it (1024
// by default, at most half) to the rest of the process. Every descriptor
// the proxy holds counts against what is left: two per TCP connection,
// one per UDP flow, one per listener, two per event loop, two per pipe
// in use or pooled. A client whose sockets would not fit is refused at
// once (a TCP client is accepted and reset, so it does not wait in the
// backlog; the datagram that would start a UDP flow is dropped), counted
// in ServiceStatus.Refused and Budget.Refused, and logged at most once a
// second with the count since the last line; the event loops then close
// the pipes they keep for reuse. A direction that would splice but finds
// no pipe in the budget copies instead. Budget reports the share, the
// descriptors in use and the refusals. So at most (limit − reserve) / 2 TCP
// connections are open at once, fewer while pipes are in use.
//
// # Time
//
// Timeouts (dial, idle, FIN, UDP), drains, persistence templates, rate
// estimates and the refusal log run on Config.Clock, the wall clock
// unless a test passes a fake one (package clock/clocktest): then nothing
// times out until the test advances it. The event loops wait for their
// next deadline in Go's poller on the wall clock, and on a timer of a fake
// one.
//
// An established connection that carries no payload either way for
// Config.TCPTimeout (the kernel's 900 s) is reset on both sides, as the
// kernel forgets an idle connection; SetTimeouts changes the TCP, FIN and
// UDP timeouts live, as ipvsadm --set does. The event loops keep their
// sessions in lists ordered by last activity; on the goroutine path each
// connection, and each UDP flow, has a timer that compares its last
// activity with its timeout.
//
// Both paths treat the end of a connection alike. A FIN in one direction
// is passed on with shutdown(SHUT_WR) once everything before it has been
// delivered (half-close); the connection ends when both directions have,
// or when the remaining direction has been idle for Config.FinTimeout (the
// kernel's FIN_WAIT timeout, 120 s by default). A reset or error on one
// side resets the other (SO_LINGER 0), as IPVS passes an RST on, so a
// client never takes a cut-off answer for a complete one. A real server
// that cannot be reached within Config.DialTimeout, or refuses, makes the
// proxy reset the client.
//
// Optionally the proxy sends a PROXY protocol version 2 header to the real
// server at the start of each TCP connection, so the server learns the
// client's address and the service address it connected to.
package proxy
