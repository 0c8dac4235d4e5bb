package healthcheck

import "time"

// keepalived's defaults.
const (
	DefaultDelayLoop        = 60 * time.Second // delay_loop
	DefaultConnectTimeout   = 5 * time.Second  // connect_timeout
	DefaultDelayBeforeRetry = 1 * time.Second  // delay_before_retry of most checkers
	DefaultBootstrap        = 1 * time.Second  // BOOTSTRAP_DELAY before the first probe
)

// NoRetry, as Policy.Retry, means no retries: the first failed probe takes
// the server down (keepalived's "retry 0").
const NoRetry = -1

// Policy is keepalived's timing of one checker. The zero value of every
// field is keepalived's default.
//
// How a failure takes a server down (keepalived 2.2): when a probe fails
// while the checker is up, it is retried Retry times, DelayBeforeRetry
// apart; when the last retry fails too the checker goes down. So a server is
// reported down Retry+1 consecutive failures after the last success. The
// very first probe is an exception: keepalived starts with the retry counter
// exhausted, so a first failure takes the server down at once. While down,
// probes run every DelayLoop (TCP_CHECK keeps retrying while down, as
// keepalived's tcp checker does), and one success brings the checker up
// (Rise successes, if set).
type Policy struct {
	// DelayLoop is the time between probes (delay_loop). Zero means 60 s.
	DelayLoop time.Duration
	// ConnectTimeout is the deadline of one probe (connect_timeout). Zero
	// means 5 s. MISC_CHECK uses its own Timeout instead.
	ConnectTimeout time.Duration
	// Retry is how many times a failed probe is retried before the checker
	// goes down (retry, formerly nb_get_retry). Zero means the checker
	// kind's keepalived default: 1, DNS_CHECK 3, MISC_CHECK and
	// FILE_CHECK 0. Use NoRetry for none.
	Retry int
	// DelayBeforeRetry is the time between a failed probe and its retry
	// (delay_before_retry). Zero means the kind's default: 1 s,
	// HTTP_GET/SSL_GET 3 s, DNS_CHECK DelayLoop.
	DelayBeforeRetry time.Duration
	// Warmup bounds the random delay before the first probe (warmup): the
	// first probe runs at Bootstrap + a uniform random duration in
	// [0, Warmup). Zero means DelayLoop (keepalived's default); negative
	// means no random delay.
	Warmup time.Duration
	// Bootstrap is a fixed delay before the first probe. Zero means
	// keepalived's 1 s; negative means none.
	Bootstrap time.Duration
	// Alpha starts the checker in the failed state (alpha): the server is
	// out of the pool until its first successful probe. Without it the
	// server starts up and its first failed probe takes it down.
	Alpha bool
	// Rise is how many consecutive successful probes bring a down checker
	// up. Zero means 1, which is keepalived's behaviour (keepalived has no
	// rise for real-server checkers; this knob is an extension). There is
	// no separate fall: it is Retry+1.
	Rise int
}

// kind is what keepalived does differently per checker type.
type kind struct {
	name                    string
	defaultRetry            int
	defaultDelayBeforeRetry time.Duration // zero: DelayLoop
	retryWhileDown          bool          // tcp_epilog retries even when the checker is down
	fromStart               bool          // next probe is timed from the start of the last (MISC_CHECK)
	downDelayAtLeastRetry   bool          // HTTP: after a final failure wait max(delay_before_retry, delay_loop)
}

var (
	kindGeneric = kind{name: "generic", defaultRetry: 1, defaultDelayBeforeRetry: DefaultDelayBeforeRetry}
	kindTCP     = kind{name: "tcp", defaultRetry: 1, defaultDelayBeforeRetry: DefaultDelayBeforeRetry, retryWhileDown: true}
	kindHTTP    = kind{name: "http", defaultRetry: 1, defaultDelayBeforeRetry: 3 * time.Second, downDelayAtLeastRetry: true}
	kindSSL     = kind{name: "ssl", defaultRetry: 1, defaultDelayBeforeRetry: 3 * time.Second, downDelayAtLeastRetry: true}
	kindUDP     = kind{name: "udp", defaultRetry: 1, defaultDelayBeforeRetry: DefaultDelayBeforeRetry}
	kindDNS     = kind{name: "dns", defaultRetry: 3}
	kindSMTP    = kind{name: "smtp", defaultRetry: 1, defaultDelayBeforeRetry: DefaultDelayBeforeRetry}
	kindPing    = kind{name: "ping", defaultRetry: 1, defaultDelayBeforeRetry: DefaultDelayBeforeRetry}
	kindMisc    = kind{name: "misc", defaultRetry: 0, defaultDelayBeforeRetry: DefaultDelayBeforeRetry, fromStart: true}
	kindFile    = kind{name: "file", defaultRetry: 0, defaultDelayBeforeRetry: DefaultDelayBeforeRetry}
)

// kinded is implemented by this package's checkers.
type kinded interface{ kind() kind }

func kindOf(c Checker) kind {
	if k, ok := c.(kinded); ok {
		return k.kind()
	}
	return kindGeneric
}

// KindOf returns the keepalived name of c's kind in lower case ("http",
// "tcp", "misc", ...), or "generic" for a checker from another package.
func KindOf(c Checker) string { return kindOf(c).name }

// resolved is a Policy with every default filled in.
type resolved struct {
	delayLoop, timeout, delayBeforeRetry, warmup, bootstrap time.Duration
	retry, rise                                             int
	alpha                                                   bool
	kind                                                    kind
}

func (p Policy) resolve(k kind) resolved {
	r := resolved{kind: k, alpha: p.Alpha}
	r.delayLoop = p.DelayLoop
	if r.delayLoop <= 0 {
		r.delayLoop = DefaultDelayLoop
	}
	r.timeout = p.ConnectTimeout
	if r.timeout <= 0 {
		r.timeout = DefaultConnectTimeout
	}
	switch {
	case p.Retry < 0:
		r.retry = 0
	case p.Retry == 0:
		r.retry = k.defaultRetry
	default:
		r.retry = p.Retry
	}
	r.delayBeforeRetry = p.DelayBeforeRetry
	if r.delayBeforeRetry <= 0 {
		r.delayBeforeRetry = k.defaultDelayBeforeRetry
		if r.delayBeforeRetry == 0 {
			r.delayBeforeRetry = r.delayLoop
		}
	}
	switch {
	case p.Warmup < 0:
		r.warmup = 0
	case p.Warmup == 0:
		r.warmup = r.delayLoop
	default:
		r.warmup = p.Warmup
	}
	switch {
	case p.Bootstrap < 0:
		r.bootstrap = 0
	case p.Bootstrap == 0:
		r.bootstrap = DefaultBootstrap
	default:
		r.bootstrap = p.Bootstrap
	}
	r.rise = max(p.Rise, 1)
	return r
}

// Effective is p as a monitor of checker c runs it, every default filled
// in for c's kind (keepalived's defaults): DelayLoop, ConnectTimeout,
// Retry, DelayBeforeRetry, Warmup and Bootstrap as they apply, and Rise at
// least 1. In the result Retry 0 and Warmup 0 mean none, not the default.
func (p Policy) Effective(c Checker) Policy {
	r := p.resolve(kindOf(c))
	return Policy{DelayLoop: r.delayLoop, ConnectTimeout: r.timeout, Retry: r.retry,
		DelayBeforeRetry: r.delayBeforeRetry, Warmup: r.warmup, Bootstrap: r.bootstrap, Alpha: r.alpha, Rise: r.rise}
}

// machine is keepalived's per-checker state: is_up, has_run, retry_it. It
// is pure: the Monitor feeds it probe results and schedules what it says.
type machine struct {
	p       resolved
	up      bool
	hasRun  bool
	retryIt int
	riseIt  int
}

func newMachine(p resolved) *machine {
	// keepalived starts every checker with its retry counter exhausted, so
	// the first failure is final ("for non alpha mode, one failure is
	// enough initially").
	return &machine{p: p, up: !p.alpha, retryIt: p.retry}
}

// result records one probe's outcome and returns the delay before the next
// probe and whether the up/down state changed.
func (m *machine) result(ok bool) (next time.Duration, changed bool) {
	if ok {
		m.retryIt = 0
		m.hasRun = true
		if !m.up {
			m.riseIt++
			if m.riseIt >= m.p.rise {
				m.up, m.riseIt = true, 0
				return m.p.delayLoop, true
			}
		}
		return m.p.delayLoop, false
	}
	m.riseIt = 0
	if (m.up || !m.hasRun || m.p.kind.retryWhileDown) && m.retryIt < m.p.retry {
		m.retryIt++
		m.hasRun = true
		return m.p.delayBeforeRetry, false
	}
	m.retryIt = 0
	m.hasRun = true
	wasUp := m.up
	m.up = false
	next = m.p.delayLoop
	if m.p.kind.downDelayAtLeastRetry && m.p.delayBeforeRetry > next {
		next = m.p.delayBeforeRetry
	}
	return next, wasUp
}
