package alert

import (
	"bytes"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"

	"github.com/lvskit/lvskit/clock"
	"github.com/lvskit/lvskit/clock/clocktest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// A real SMTP server (emersion/go-smtp) on loopback that records what it
// is given.

type envelope struct {
	helo string
	from string
	rcpt []string
	data []byte
}

type backend struct {
	reject  map[string]bool // recipients answered with 550
	dataErr error           // returned for DATA, if set
	got     chan envelope
}

func (b *backend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	return &session{b: b, env: envelope{helo: c.Hostname()}}, nil
}

type session struct {
	b   *backend
	env envelope
}

func (s *session) Reset()        { s.env = envelope{helo: s.env.helo} }
func (s *session) Logout() error { return nil }
func (s *session) Mail(from string, _ *smtp.MailOptions) error {
	s.env.from = from
	return nil
}

func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	if s.b.reject[to] {
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
	}
	s.env.rcpt = append(s.env.rcpt, to)
	return nil
}

func (s *session) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if s.b.dataErr != nil {
		return s.b.dataErr
	}
	s.env.data = data
	s.b.got <- s.env
	return nil
}

// startSMTP serves be on a loopback port and returns its address.
func startSMTP(t *testing.T, be *backend) string {
	t.Helper()
	if be.got == nil {
		be.got = make(chan envelope, 16)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := smtp.NewServer(be)
	s.Domain = "mail.test"
	s.ReadTimeout, s.WriteTimeout = 10*time.Second, 10*time.Second
	s.ErrorLog = discardSMTPLog{}
	served := make(chan struct{})
	go func() { defer close(served); s.Serve(ln) }()
	t.Cleanup(func() { s.Close(); <-served })
	return ln.Addr().String()
}

type discardSMTPLog struct{}

func (discardSMTPLog) Printf(string, ...any) {}
func (discardSMTPLog) Println(...any)        {}

// hangingServer accepts connections and never says a word; accepted gets
// a value for every connection.
func hangingServer(t testing.TB) (addr string, accepted chan struct{}) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	accepted = make(chan struct{}, 100)
	var mu sync.Mutex
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			select {
			case accepted <- struct{}{}:
			default:
			}
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	})
	return ln.Addr().String(), accepted
}

// refusingAddr is a loopback port with nothing listening.
func refusingAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// logSink is a concurrency-safe buffer for a text slog.Logger.
type logSink struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logSink) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logSink) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func newLogger() (*slog.Logger, *logSink) {
	s := &logSink{}
	return slog.New(slog.NewTextHandler(s, &slog.HandlerOptions{Level: slog.LevelDebug})), s
}

var fixedNow = time.Date(2026, 11, 25, 8, 42, 34, 500e6, time.UTC)

// fixedClock reads fixedNow, for stable Date headers, and runs its timers
// on the wall clock.
type fixedClock struct{ clock.Wall }

func (fixedClock) Now() time.Time { return fixedNow }

func newNotifier(t *testing.T, cfg Config) *Notifier {
	t.Helper()
	if cfg.RouterID == "" {
		cfg.RouterID = "LVS_1"
	}
	if cfg.From == "" {
		cfg.From = "lvs1@example.org"
	}
	if cfg.To == nil {
		cfg.To = []string{"ops@example.org", "NOC <noc@example.org>"}
	}
	if cfg.Clock == nil {
		cfg.Clock = fixedClock{}
	}
	n, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

func receive(t *testing.T, be *backend) envelope {
	t.Helper()
	select {
	case env := <-be.got:
		return env
	case <-time.After(10 * time.Second):
		t.Fatal("no message reached the SMTP server in 10s")
	}
	panic("unreachable")
}

// eventually polls cond for up to 10s (a liveness bound, not a timing).
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(5 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("%s: not within 10s", what)
}

// notifyReturns calls Notify in a goroutine and fails unless it returns
// within 10 s — a liveness check, not a timing assertion (a loaded machine
// can stall a goroutine past a second). A Notify that waited for the
// sender would not return at all where the sender is stuck on a fake
// clock (TestQueueFullDrops).
func notifyReturns(t *testing.T, n *Notifier, ev Event) {
	t.Helper()
	done := make(chan struct{})
	go func() { n.Notify(ev); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Notify did not return within 10s")
	}
}

func TestDeliversEveryKind(t *testing.T) {
	be := &backend{}
	addr := startSMTP(t, be)
	logger, logs := newLogger()
	n := newNotifier(t, Config{Server: addr, Logger: logger})

	tests := []struct {
		ev          Event
		wantSubject string
		wantLines   []string
	}{
		{
			Event{Kind: VRRPInstance, Name: "VI_1", From: "BACKUP", To: "MASTER", Time: eventTime, Reason: "master down timer expired"},
			"[LVS_1] VRRP Instance VI_1 - Entering MASTER state",
			[]string{"Host:    LVS_1", "Object:  VRRP Instance VI_1", "Change:  BACKUP -> MASTER", "Time:    2026-11-25T08:42:30.250Z", "Reason:  master down timer expired"},
		},
		{
			Event{Kind: VRRPSyncGroup, Name: "VG_1", From: "MASTER", To: "BACKUP", Time: eventTime, Reason: "higher priority advert"},
			"[LVS_1] VRRP Group VG_1 - Entering BACKUP state",
			[]string{"Host:    LVS_1", "Object:  VRRP Group VG_1", "Change:  MASTER -> BACKUP", "Time:    2026-11-25T08:42:30.250Z"},
		},
		{
			Event{Kind: RealServer, Name: "virtual_server 192.168.0.253:80 -> real_server 192.168.0.1:80", From: "UP", To: "DOWN", Time: eventTime, Reason: "TCP_CHECK: connection refused"},
			"[LVS_1] Real server virtual_server 192.168.0.253:80 -> real_server 192.168.0.1:80 - DOWN",
			[]string{"Object:  Real server virtual_server 192.168.0.253:80 -> real_server 192.168.0.1:80", "Change:  UP -> DOWN", "Reason:  TCP_CHECK: connection refused"},
		},
		{
			Event{Kind: Quorum, Name: "virtual_server 192.168.0.253:80", From: "DOWN", To: "UP"}, // no Time: the clock's
			"[LVS_1] Quorum virtual_server 192.168.0.253:80 - UP",
			[]string{"Object:  Quorum virtual_server 192.168.0.253:80", "Change:  DOWN -> UP", "Time:    2026-11-25T08:42:34.500Z"},
		},
	}
	ids := map[string]bool{}
	for i, tt := range tests {
		t.Run(tt.ev.Kind.String(), func(t *testing.T) {
			notifyReturns(t, n, tt.ev)
			env := receive(t, be)
			gotEnv := []string{env.helo, env.from, strings.Join(env.rcpt, " ")}
			wantEnv := []string{"LVS_1", "lvs1@example.org", "ops@example.org noc@example.org"}
			if diff := cmp.Diff(wantEnv, gotEnv); diff != "" {
				t.Errorf("envelope helo, from, rcpt (-want +got):\n%s", diff)
			}
			p := parseMessage(t, env.data)
			if diff := cmp.Diff(tt.wantSubject, p.subject); diff != "" {
				t.Errorf("subject (-want +got):\n%s", diff)
			}
			hdr := map[string]string{}
			for _, k := range []string{"From", "To", "Date", "Mime-Version", "Content-Type"} {
				hdr[k] = p.header.Get(k)
			}
			wantHdr := map[string]string{
				"From":         "<lvs1@example.org>",
				"To":           `<ops@example.org>, "NOC" <noc@example.org>`,
				"Date":         "Wed, 25 Nov 2026 08:42:34 +0000",
				"Mime-Version": "1.0",
				"Content-Type": "text/plain; charset=utf-8",
			}
			if diff := cmp.Diff(wantHdr, hdr); diff != "" {
				t.Errorf("headers (-want +got):\n%s", diff)
			}
			id := p.header.Get("Message-Id")
			if !strings.HasPrefix(id, "<") || !strings.HasSuffix(id, "@LVS_1>") || ids[id] {
				t.Errorf("Message-Id %q: want a fresh <...@LVS_1>; seen: %v", id, ids)
			}
			ids[id] = true
			for _, l := range tt.wantLines {
				if !strings.Contains(p.body, "\n"+l+"\n") {
					t.Errorf("body lacks line %q:\n%s", l, p.body)
				}
			}
			eventually(t, "sent counter", func() bool { return n.Stats().Sent == uint64(i+1) })
		})
	}
	if got, want := n.Stats(), (Stats{Sent: 4}); got != want {
		t.Errorf("Stats = %+v, want %+v", got, want)
	}
	if !strings.Contains(logs.String(), "alert sent") {
		t.Errorf("log lacks \"alert sent\":\n%s", logs)
	}
}

func TestHeloNameAndDefaults(t *testing.T) {
	be := &backend{}
	addr := startSMTP(t, be)
	n := newNotifier(t, Config{Server: addr, HeloName: "director1.example.org", RouterID: "lvs 1"})
	n.Notify(Event{Kind: VRRPInstance, Name: "VI_1", From: "BACKUP", To: "MASTER"})
	env := receive(t, be)
	if env.helo != "director1.example.org" {
		t.Errorf("HELO %q, want the configured name", env.helo)
	}
	if p := parseMessage(t, env.data); p.subject != "[lvs 1] VRRP Instance VI_1 - Entering MASTER state" {
		t.Errorf("subject %q", p.subject)
	}

	// A router_id that cannot be a HELO argument falls back to the host name.
	n2 := newNotifier(t, Config{Server: addr, RouterID: "lvs 1"})
	n2.Notify(Event{Kind: VRRPInstance, Name: "VI_1", To: "BACKUP"})
	if env := receive(t, be); env.helo == "" || strings.Contains(env.helo, " ") {
		t.Errorf("default HELO %q, want the host name", env.helo)
	}
}

func TestRecipientRejections(t *testing.T) {
	t.Run("some rejected: sent to the others", func(t *testing.T) {
		be := &backend{reject: map[string]bool{"gone@example.org": true}}
		logger, logs := newLogger()
		n := newNotifier(t, Config{Server: startSMTP(t, be), Logger: logger, To: []string{"gone@example.org", "ops@example.org"}})
		n.Notify(Event{Kind: RealServer, Name: "rs", From: "UP", To: "DOWN"})
		env := receive(t, be)
		if diff := cmp.Diff([]string{"ops@example.org"}, env.rcpt); diff != "" {
			t.Errorf("rcpt (-want +got):\n%s", diff)
		}
		eventually(t, "sent counted", func() bool { return n.Stats().Sent == 1 })
		if s := logs.String(); !strings.Contains(s, "alert recipient rejected") || !strings.Contains(s, "gone@example.org") {
			t.Errorf("log lacks the rejected recipient:\n%s", s)
		}
	})
	t.Run("all rejected: failed", func(t *testing.T) {
		be := &backend{reject: map[string]bool{"gone@example.org": true}}
		logger, logs := newLogger()
		n := newNotifier(t, Config{Server: startSMTP(t, be), Logger: logger, To: []string{"gone@example.org"}})
		n.Notify(Event{Kind: RealServer, Name: "rs", From: "UP", To: "DOWN"})
		eventually(t, "failure counted", func() bool { return n.Stats().Failed == 1 })
		if s := logs.String(); !strings.Contains(s, "every recipient rejected") || !strings.Contains(s, "550") {
			t.Errorf("log lacks the rejection:\n%s", s)
		}
		if got := n.Stats().Sent; got != 0 {
			t.Errorf("Sent = %d, want 0", got)
		}
	})
}

func TestServerRefusesMessage(t *testing.T) {
	be := &backend{dataErr: &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 6, 0}, Message: "content rejected"}}
	logger, logs := newLogger()
	n := newNotifier(t, Config{Server: startSMTP(t, be), Logger: logger})
	n.Notify(Event{Kind: Quorum, Name: "vs", From: "UP", To: "DOWN"})
	eventually(t, "failure counted", func() bool { return n.Stats().Failed == 1 })
	if s := logs.String(); !strings.Contains(s, "send alert") || !strings.Contains(s, "554") {
		t.Errorf("log lacks the refusal:\n%s", s)
	}
}

// A dead mail server — one that accepts and never speaks, or a port with
// nothing listening — must not hold up Notify; the failure is counted and
// logged once the transaction times out.
func TestDeadServerDoesNotBlockNotify(t *testing.T) {
	hanging, _ := hangingServer(t)
	for _, tt := range []struct{ name, addr, wantLog string }{
		{"accepts and never speaks", hanging, "read greeting"},
		{"nothing listening", refusingAddr(t), "connect to"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			logger, logs := newLogger()
			n := newNotifier(t, Config{Server: tt.addr, Logger: logger, ConnectTimeout: 300 * time.Millisecond})
			notifyReturns(t, n, Event{Kind: VRRPInstance, Name: "VI_1", From: "BACKUP", To: "MASTER"})
			notifyReturns(t, n, Event{Kind: VRRPInstance, Name: "VI_1", From: "MASTER", To: "FAULT"})
			eventually(t, "both failures counted", func() bool { return n.Stats().Failed == 2 })
			if got := n.Stats(); got.Sent != 0 || got.Dropped != 0 {
				t.Errorf("Stats = %+v, want only failures", got)
			}
			s := logs.String()
			if !strings.Contains(s, "send alert") || !strings.Contains(s, tt.wantLog) || !strings.Contains(s, tt.addr) {
				t.Errorf("log lacks the failure (%q, server %s):\n%s", tt.wantLog, tt.addr, s)
			}
		})
	}
}

// TestQueueFullDrops: with the sender stuck on a mute server, a queue of
// two takes two events and drops the rest. The transaction's timeout runs
// on a fake clock, so the sender stays stuck however slowly the test runs
// (on the wall clock a stall of the test past the timeout let the sender
// take a queued event and made room for one more).
func TestQueueFullDrops(t *testing.T) {
	addr, accepted := hangingServer(t)
	logger, logs := newLogger()
	c := clocktest.New(fixedNow)
	n := newNotifier(t, Config{Server: addr, Logger: logger, QueueSize: 2, Clock: c, ConnectTimeout: 30 * time.Second})
	n.Notify(Event{Kind: VRRPInstance, Name: "VI_1", To: "MASTER"})
	<-accepted // the sender is now stuck in the first transaction
	for range 5 {
		notifyReturns(t, n, Event{Kind: VRRPInstance, Name: "VI_1", To: "BACKUP"})
	}
	if got, want := n.Stats(), (Stats{Dropped: 3, Queued: 2}); got != want {
		t.Errorf("Stats with a full queue = %+v, want %+v", got, want)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(n)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			key := mf.GetName()
			for _, l := range m.GetLabel() {
				key += "{" + l.GetName() + "=" + l.GetValue() + "}"
			}
			if c := m.GetCounter(); c != nil {
				got[key] = c.GetValue()
			}
			if g := m.GetGauge(); g != nil {
				got[key] = g.GetValue()
			}
		}
	}
	want := map[string]float64{
		"lvskit_alert_messages_total{result=sent}":    0,
		"lvskit_alert_messages_total{result=failed}":  0,
		"lvskit_alert_messages_total{result=dropped}": 3,
		"lvskit_alert_queue_length":                   2,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("metrics (-want +got):\n%s", diff)
	}
	closed := make(chan struct{})
	go func() { n.Close(); close(closed) }()
	c.BlockUntil(2) // the stuck transaction's timeout and Close's budget
	c.Advance(30 * time.Second)
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not return after its budget on the clock")
	}
	if s := n.Stats(); s.Sent != 0 || s.Failed+s.Dropped != 6 {
		t.Errorf("Stats after Close = %+v, want all 6 failed or dropped", s)
	}
	if !strings.Contains(logs.String(), "alerts dropped") {
		t.Errorf("log lacks the drops:\n%s", logs)
	}
}

// Close with a transaction hanging on a mute server and more queued
// returns within about ConnectTimeout (bounded here generously).
func TestCloseWithPendingSend(t *testing.T) {
	addr, accepted := hangingServer(t)
	const timeout = time.Second
	n := newNotifier(t, Config{Server: addr, ConnectTimeout: timeout})
	for range 3 {
		n.Notify(Event{Kind: VRRPInstance, Name: "VI_1", To: "MASTER"})
	}
	<-accepted
	closed := make(chan struct{})
	go func() { n.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(timeout + 5*time.Second):
		t.Fatalf("Close did not return within ConnectTimeout (%v) + 5s", timeout)
	}
	if s := n.Stats(); s.Sent != 0 || s.Failed+s.Dropped != 3 || s.Queued != 0 {
		t.Errorf("Stats after Close = %+v, want 3 failed or dropped, none queued", s)
	}
	n.Close() // idempotent
	notifyReturns(t, n, Event{Kind: VRRPInstance, Name: "VI_1", To: "STOP"})
	if s := n.Stats(); s.Failed+s.Dropped != 4 {
		t.Errorf("Notify after Close: Stats = %+v, want it dropped", s)
	}
}

// ConnectTimeout and Close's budget run on the injected clock: a
// transaction stuck on a mute server fails when that clock has moved
// ConnectTimeout, and Close with another one stuck returns when the clock
// has spent its budget.
func TestTimeoutsOnTheInjectedClock(t *testing.T) {
	addr, accepted := hangingServer(t)
	c := clocktest.New(fixedNow)
	n := newNotifier(t, Config{Server: addr, Clock: c, ConnectTimeout: 30 * time.Second})
	n.Notify(Event{Kind: VRRPInstance, Name: "VI_1", To: "MASTER"})
	<-accepted
	c.BlockUntil(1) // the transaction's timeout
	c.Advance(29 * time.Second)
	if s := n.Stats(); s.Failed != 0 {
		t.Fatalf("Stats after 29 s of a 30 s timeout = %+v, want nothing failed yet", s)
	}
	c.Advance(time.Second)
	eventually(t, "the stuck transaction failed", func() bool { return n.Stats().Failed == 1 })

	n.Notify(Event{Kind: VRRPInstance, Name: "VI_1", To: "BACKUP"})
	<-accepted
	c.BlockUntil(1)
	closed := make(chan struct{})
	go func() { n.Close(); close(closed) }()
	c.BlockUntil(2) // and Close's budget
	c.Advance(30 * time.Second)
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not return after its budget on the clock")
	}
	if s := n.Stats(); s.Sent != 0 || s.Failed+s.Dropped != 2 {
		t.Errorf("Stats after Close = %+v, want both failed or dropped", s)
	}
}

func TestNilNotifier(t *testing.T) {
	var n *Notifier
	n.Notify(Event{Kind: VRRPInstance})
	if err := n.Close(); err != nil {
		t.Errorf("Close on nil: %v", err)
	}
	if s := n.Stats(); s != (Stats{}) {
		t.Errorf("Stats on nil = %+v", s)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	ok := Config{To: []string{"ops@example.org"}, Server: "127.0.0.1"}
	tests := []struct {
		name    string
		mod     func(*Config)
		wantErr string
	}{
		{"no recipients", func(c *Config) { c.To = nil }, "check recipients: none given"},
		{"bad recipient", func(c *Config) { c.To = []string{"ops@example.org\r\nRCPT TO:<x@y>"} }, "parse recipient"},
		{"bad from", func(c *Config) { c.From = "not an address" }, "parse from address"},
		{"no server", func(c *Config) { c.Server = "" }, "check smtp server: none given"},
		{"bad port", func(c *Config) { c.Server = "127.0.0.1:smtp" }, "bad port"},
		{"port out of range", func(c *Config) { c.Server = "127.0.0.1:70000" }, "bad port"},
		{"empty host", func(c *Config) { c.Server = ":25" }, "bad host"},
		{"bad helo", func(c *Config) { c.HeloName = "two words" }, "check helo name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := ok
			tt.mod(&cfg)
			if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Validate = %v, want an error containing %q", err, tt.wantErr)
			}
			n, err := New(cfg)
			if err == nil {
				n.Close()
				t.Fatalf("New succeeded, want error containing %q", tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("New error %q, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}

func TestParseServer(t *testing.T) {
	tests := []struct{ in, want string }{
		{"127.0.0.1", "127.0.0.1:25"},
		{"127.0.0.1:2525", "127.0.0.1:2525"},
		{"mail.example.org", "mail.example.org:25"},
		{"::1", "[::1]:25"},
		{"[::1]", "[::1]:25"},
		{"[::1]:587", "[::1]:587"},
	}
	for _, tt := range tests {
		got, _, err := parseServer(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("parseServer(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}
