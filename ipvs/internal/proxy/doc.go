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
// on the direction moves socket to pipe (pooled per loop) to socket with
// splice(2), so bulk payload never passes through user memory, as in
// HAProxy's splice-auto. What the receiver cannot take at once waits in
// the direction's pipe either way. Readiness is level-triggered: a
// readable socket costs one read (or splice) in and one write (or splice)
// out, and no read that ends in EAGAIN. When the receiving socket's
// buffer is full the loop stops reading the sender and waits until the
// receiver is writable (backpressure). Accepted and connected sockets have
// TCP_NODELAY, as Go's own connections do.
//
// With Config.CopyGoroutines, or when the kernel refuses epoll or splice
// (some sandboxes), each connection instead has two goroutines that copy
// between *net.TCPConn with ReadFrom, which Go also implements with
// splice(2).
//
// An established connection that carries no payload either way for
// Config.TCPTimeout (the kernel's 900 s) is reset on both sides, as the
// kernel forgets an idle connection; SetTimeouts changes the TCP, FIN and
// UDP timeouts live, as ipvsadm --set does. The event loops keep their
// sessions in lists ordered by last activity; the goroutine path asks the
// kernel (TCP_INFO) when each socket last received data.
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
