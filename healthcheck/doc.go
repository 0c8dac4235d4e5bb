// Package healthcheck does what keepalived's checker process does for an
// LVS director: it probes real servers, decides with keepalived's exact
// timing when one is down or back, and turns those decisions into the
// wanted IPVS table.
//
// # Checkers
//
// A Checker is one probe of one target, Check(ctx) error, with the probe's
// deadline (keepalived's connect_timeout) in ctx. One type per keepalived
// checker, one file each:
//
//   - HTTPChecker: HTTP_GET, and SSL_GET when TLS is set. Every URL is
//     fetched on a new connection and must return an accepted status code
//     (200-299 unless StatusCodes says otherwise) and, when Digest is set,
//     a body whose MD5 is that lowercase hex string (what keepalived's
//     genhash prints; Digest computes it). VirtualHost is the Host header
//     and, with TLSOptions.EnableSNI, the SNI name; certificates are not
//     verified unless TLSOptions.Verify is set, as in keepalived. HTTP/1.0 (default),
//     1.0 with Connection: close, or 1.1.
//   - TCPChecker (TCP_CHECK), UDPChecker (UDP_CHECK: payload,
//     require_reply, reply length bounds), DNSChecker (DNS_CHECK, with
//     github.com/miekg/dns), SMTPChecker (SMTP_CHECK: greeting, HELO,
//     QUIT), PingChecker (PING_CHECK: an unprivileged ICMP ping socket where
//     net.ipv4.ping_group_range allows it, else a raw socket; IPv4 and IPv6).
//   - MiscChecker (MISC_CHECK): a program run without a shell in its own
//     process group, killed (SIGTERM, then SIGKILL) on timeout; with
//     misc_dynamic its exit status sets the weight.
//   - FileChecker (FILE_CHECK): an integer read from a file as keepalived's
//     track_file reads it, giving a weight offset or a failure.
//
// Every network checker embeds Conn: connect_ip/connect_port (Addr),
// bindto, bind_port, bind_if (SO_BINDTODEVICE) and fwmark (SO_MARK, for DR
// checks routed through the VIP by policy routing). bind_if and fwmark
// need CAP_NET_RAW/CAP_NET_ADMIN; PING_CHECK needs CAP_NET_RAW unless the
// ping group range admits the process.
//
// HTTP_GET is built for thousands of targets a second: it opens its own
// non-blocking socket (no net.Dialer: no getsockname, getpeername,
// getsockopt or TCP_NODELAY per probe), sends a request prebuilt once per
// checker in the bytes keepalived's check_http.c sends, and parses the
// status line and headers by hand through one 1 KiB buffer the checker
// keeps between probes (header lines longer than that are skipped unless
// they are Content-Length or Transfer-Encoding), with the body framed by
// Content-Length, chunked coding (HTTP/1.1) or the end of the connection,
// and MD5 computed as it streams. A probe allocates its connection and
// nothing else. Connections close with a reset (SO_LINGER 0), as
// HAProxy's checks do: at 10,000 probes a second a graceful close would
// leave tens of thousands of connections in TIME_WAIT. keepalived itself
// closes gracefully (linger 5 s); a server sees the difference only as a
// reset in its logs. SSL_GET uses crypto/tls over a net.Dialer connection
// (also closed with a reset) and the same parser. TCP_CHECK opens its
// socket the same way and closes it with a reset too: it closes first, so
// a FIN would leave every probe in TIME_WAIT on the director.
//
// Errors say what failed, for example
//
//	http check 127.0.0.1:8080/health: status 503 not in [200-299]
//
// # Policy and Monitor
//
// A Monitor runs one checker on a Policy: delay_loop, connect_timeout,
// retry, delay_before_retry, warmup, alpha, each defaulting to keepalived's
// value (per checker kind where keepalived differs: HTTP retries after 3 s,
// DNS retries 3 times delay_loop apart, MISC does not retry and times its
// loop from the start of the last run). A server goes down when a failed
// probe and its Retry retries all fail; the very first probe is final, as
// in keepalived. Rise (consecutive successes to come back) is an extension
// whose default, 1, is keepalived's behaviour; keepalived has no rise/fall
// for real-server checkers, and its fall is Retry+1.
//
// A probe that fails for a reason on this host says nothing about the
// target: out of file descriptors (EMFILE, ENFILE), socket buffers or
// memory (ENOBUFS, ENOMEM), no source address or port (EADDRNOTAVAIL), no
// route from the source address (ENETUNREACH answered at once by connect
// or sendto). IsLocal decides, in one place, for every checker (and for
// checkers of other packages that wrap their system call errors); such a
// probe counts neither toward a down transition nor toward a retry, is
// counted under the probes metric's result "local_failure", logged (a
// warning for the first of a run), and followed by another probe after
// delay_before_retry. A local shortage thus leaves every real server as
// it was instead of taking them all out.
//
// Run(ctx) blocks; Start(ctx)/Stop run a monitor in the background without
// a goroutine of its own between probes (each probe runs in a timer
// callback), which is how a Pool runs thousands of them.
//
// Time and randomness are injected (Clock, Rand); the clock/clocktest package
// lets tests pin the start of every probe and the time of every
// transition. Transitions and weight changes arrive on OnEvent with the
// last error as the reason.
//
// # Pool
//
// A Pool is one virtual_server block: real servers with their checks, a
// quorum with hysteresis, an optional sorry server, inhibit_on_failure. It
// runs the monitors and hands the wanted ipvs.Service to a Syncer whenever
// it changes; Table is a Syncer that keeps a whole ipvs.Backend equal to
// all the services it was given, with ipvs.Sync. keepalived's rules:
//
//   - a real server is alive when all its checks are up; a dead one is
//     removed, or kept at weight 0 with InhibitOnFailure;
//   - the quorum is gained when the alive weights sum to at least
//     Quorum+Hysteresis and lost when the sum falls below
//     Quorum-Hysteresis or to zero;
//   - with a sorry server, losing the quorum replaces every real server
//     by it (inhibited ones stay at weight 0) until the quorum is regained;
//     without one, the quorum only drives the notifications;
//   - alpha starts a check failed; omega sends the down notifications when
//     the pool stops.
//
// # Use
//
//	table := healthcheck.NewTable(backend) // an ipvs.Backend
//	pool, err := healthcheck.NewPool(healthcheck.PoolConfig{
//		Service: ipvs.Service{Protocol: ipvs.TCP, Addr: vip, Port: 80, Scheduler: "wrr"},
//		RealServers: []healthcheck.RealServer{{
//			Destination: ipvs.Destination{Addr: web1, Port: 80, Weight: 1, Forward: ipvs.DirectRoute},
//			Checks: []healthcheck.Check{{
//				Checker: &healthcheck.HTTPChecker{
//					Conn: healthcheck.Conn{Addr: netip.AddrPortFrom(web1, 80)},
//					URLs: []healthcheck.URL{{Path: "/health"}},
//				},
//				Policy: healthcheck.Policy{DelayLoop: 3 * time.Second},
//			}},
//		}},
//		Syncer: table,
//	})
//	if err != nil { ... }
//	go pool.Run(ctx)
//
// Metrics (NewMetrics) count probes per kind, target and result, keep a
// latency histogram per kind, and gauge each target, real server and
// quorum.
package healthcheck
