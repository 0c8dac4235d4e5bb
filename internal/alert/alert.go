package alert

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/mail"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lvskit/lvskit/clock"
)

// Config configures a Notifier. Zero values of the optional fields are
// the documented defaults.
type Config struct {
	// RouterID names this host in subjects and bodies (keepalived's
	// router_id). Default: the host name (os.Hostname), else "localhost".
	RouterID string
	// From is the sender (notification_email_from), a bare address
	// "lvs1@example.org" or "LVS 1 <lvs1@example.org>". Default:
	// "lvskit@" + the host name.
	From string
	// To are the recipients (notification_email). Required: at least one.
	To []string
	// Server is the SMTP server (smtp_server) as "host:port", "host",
	// "[v6addr]:port" or a bare IPv6 address; the port defaults to 25.
	// Required.
	Server string
	// HeloName is sent in HELO/EHLO (smtp_helo_name). Default: RouterID
	// when it is a single word of printable ASCII, else the host name.
	HeloName string
	// ConnectTimeout bounds one whole SMTP transaction — connect, greeting
	// and every command until QUIT (smtp_connect_timeout). It also bounds
	// how long Close waits to flush the queue. Default: 30s, as keepalived.
	ConnectTimeout time.Duration
	// QueueSize is how many events wait while a message is being sent;
	// when full, Notify drops the event and counts it. Default: 64.
	QueueSize int
	// Logger receives failures and drops. Default (nil): discarded.
	Logger *slog.Logger
	// Clock gives the time of Date headers, Message-IDs and events
	// without a Time, and times ConnectTimeout and Close's budget. Default
	// (nil): the wall clock.
	Clock clock.Clock
}

// Defaults applied by New.
const (
	DefaultPort           = 25
	DefaultConnectTimeout = 30 * time.Second
	DefaultQueueSize      = 64
)

// Notifier mails events in the background. Its methods are safe for
// concurrent use, and on a nil *Notifier they do nothing, so a caller
// without mail configured can hold a nil one.
type Notifier struct {
	routerID string
	helo     string
	from     string // envelope address
	fromHdr  string // header mailbox
	to       []string
	toHdr    []string
	server   string // host:port
	host     string // server host, for the client
	timeout  time.Duration
	log      *slog.Logger
	clock    clock.Clock
	token    string // makes Message-IDs unique across notifiers and restarts
	seq      atomic.Uint64

	mu     sync.Mutex // guards closed and sending into queue; never held across I/O
	closed bool
	queue  chan Event

	stopping  chan struct{} // closed by Close: drain and leave
	ctx       context.Context
	cancel    context.CancelFunc // aborts the transaction in flight
	done      chan struct{}      // closed when the sender has left
	closeOnce sync.Once

	sent, failed, dropped atomic.Uint64
	unloggedDrops         atomic.Uint64 // drops Notify counted but could not log
}

// New checks cfg (Validate), applies the defaults and starts the sender.
// Call Close to stop it.
func New(cfg Config) (*Notifier, error) {
	a, err := cfg.settle()
	if err != nil {
		return nil, err
	}
	n := &Notifier{
		routerID: a.routerID,
		helo:     a.helo,
		from:     a.from,
		fromHdr:  a.fromHdr,
		to:       a.to,
		toHdr:    a.toHdr,
		server:   a.server,
		host:     a.host,
		timeout:  cfg.ConnectTimeout,
		log:      cfg.Logger,
		clock:    clock.Or(cfg.Clock),
	}
	if n.timeout <= 0 {
		n.timeout = DefaultConnectTimeout
	}
	if n.log == nil {
		n.log = slog.New(slog.DiscardHandler)
	}
	size := cfg.QueueSize
	if size <= 0 {
		size = DefaultQueueSize
	}
	var tok [6]byte
	rand.Read(tok[:]) // never fails (crypto/rand panics rather than return an error)
	n.token = hex.EncodeToString(tok[:])
	n.queue = make(chan Event, size)
	n.stopping = make(chan struct{})
	n.done = make(chan struct{})
	n.ctx, n.cancel = context.WithCancel(context.Background())
	go n.run()
	return n, nil
}

// Validate reports whether cfg can be used, as New checks it: the
// recipients, the sender, the SMTP server and the HELO name. A program
// that reads its configuration ahead of running it calls Validate.
func (cfg *Config) Validate() error {
	_, err := cfg.settle()
	return err
}

// addresses are a Config's names and addresses, defaulted and parsed.
type addresses struct {
	routerID, helo string
	from, fromHdr  string
	to, toHdr      []string
	server, host   string
}

func (cfg *Config) settle() (*addresses, error) {
	hostname, err := os.Hostname()
	if err != nil || hostname == "" {
		hostname = "localhost"
	}
	a := &addresses{routerID: cfg.RouterID, helo: cfg.HeloName}
	if a.routerID == "" {
		a.routerID = hostname
	}
	if a.helo == "" {
		a.helo = hostname
		if isWord(a.routerID) {
			a.helo = a.routerID
		}
	} else if !isWord(a.helo) {
		return nil, fmt.Errorf("check helo name %q: want one word of printable ASCII", cfg.HeloName)
	}

	from := cfg.From
	if from == "" {
		from = "lvskit@" + hostname
	}
	f, err := mail.ParseAddress(from)
	if err != nil {
		return nil, fmt.Errorf("parse from address %q: %w", from, err)
	}
	a.from, a.fromHdr = f.Address, f.String()

	if len(cfg.To) == 0 {
		return nil, errors.New("check recipients: none given")
	}
	for _, t := range cfg.To {
		r, err := mail.ParseAddress(t)
		if err != nil {
			return nil, fmt.Errorf("parse recipient %q: %w", t, err)
		}
		a.to = append(a.to, r.Address)
		a.toHdr = append(a.toHdr, r.String())
	}

	if a.server, a.host, err = parseServer(cfg.Server); err != nil {
		return nil, err
	}
	return a, nil
}

// isWord reports whether s is non-empty printable ASCII without spaces,
// which is what HELO and a Message-ID's right side can carry.
func isWord(s string) bool {
	if s == "" || len(s) > 255 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] >= 0x7f || strings.IndexByte(`<>()[]\,;:@"`, s[i]) >= 0 {
			return false
		}
	}
	return true
}

// parseServer turns smtp_server's forms into host:port.
func parseServer(s string) (addr, host string, err error) {
	if s == "" {
		return "", "", errors.New("check smtp server: none given")
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		// No port: "mail.example.org", "192.0.2.1", "::1" or "[::1]".
		host, port = strings.TrimSuffix(strings.TrimPrefix(s, "["), "]"), strconv.Itoa(DefaultPort)
	}
	if host == "" || strings.ContainsAny(host, " \t\r\n/[]") {
		return "", "", fmt.Errorf("parse smtp server %q: bad host", s)
	}
	if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
		return "", "", fmt.Errorf("parse smtp server %q: bad port %q", s, port)
	}
	return net.JoinHostPort(host, port), host, nil
}

// Notify queues ev for mailing and returns at once. It never blocks: when
// the queue is full, or after Close, the event is dropped and counted.
// A zero ev.Time becomes the current time.
func (n *Notifier) Notify(ev Event) {
	if n == nil {
		return
	}
	if ev.Time.IsZero() {
		ev.Time = n.clock.Now()
	}
	n.mu.Lock()
	queued := false
	if !n.closed {
		select {
		case n.queue <- ev:
			queued = true
		default:
		}
	}
	n.mu.Unlock()
	if !queued {
		// Logging here could block on a slow log sink; the sender logs it.
		n.dropped.Add(1)
		n.unloggedDrops.Add(1)
	}
}

// Close stops accepting events, gives the sender at most ConnectTimeout
// to send what is queued, drops (and counts) the rest, and waits for the
// sender to leave. It is idempotent; it returns nil.
func (n *Notifier) Close() error {
	if n == nil {
		return nil
	}
	n.closeOnce.Do(func() {
		n.mu.Lock()
		n.closed = true
		n.mu.Unlock()
		close(n.stopping)
		budget := n.clock.AfterFunc(n.timeout, n.cancel)
		<-n.done
		budget.Stop()
		n.cancel()
		n.logDrops()
	})
	<-n.done
	return nil
}

// run is the sender: one message at a time, in order.
func (n *Notifier) run() {
	defer close(n.done)
	for {
		select {
		case ev := <-n.queue:
			n.handle(ev)
		case <-n.stopping:
			for {
				select {
				case ev := <-n.queue:
					n.handle(ev)
				default:
					return
				}
			}
		}
	}
}

func (n *Notifier) handle(ev Event) {
	if n.ctx.Err() != nil { // Close's budget is spent
		n.dropped.Add(1)
		n.unloggedDrops.Add(1)
		return
	}
	n.deliver(n.ctx, ev)
	n.logDrops()
}

func (n *Notifier) logDrops() {
	if d := n.unloggedDrops.Swap(0); d > 0 {
		n.log.Warn("alerts dropped", "count", d, "reason", "queue full or notifier closed")
	}
}

// deliver sends one event's message and accounts for the outcome.
func (n *Notifier) deliver(ctx context.Context, ev Event) {
	now := n.clock.Now()
	h := header{
		from:      n.fromHdr,
		to:        n.toHdr,
		date:      now,
		messageID: fmt.Sprintf("%s.%d.%s@%s", now.UTC().Format("20060102150405.000000000"), n.seq.Add(1), n.token, n.helo),
	}
	msg := message(h, n.routerID, ev)
	subject := Subject(n.routerID, ev)
	start := n.clock.Now()
	rejected, err := n.send(ctx, msg)
	for _, r := range rejected {
		n.log.Warn("alert recipient rejected", "server", n.server, "subject", subject, "recipient", r.addr, "err", r.err)
	}
	if err != nil {
		n.failed.Add(1)
		n.log.Error("send alert", "server", n.server, "subject", subject, "took", n.clock.Now().Sub(start), "err", err)
		return
	}
	n.sent.Add(1)
	n.log.Info("alert sent", "server", n.server, "subject", subject, "recipients", len(n.to)-len(rejected))
}
