package director

import (
	"fmt"
	"io"
	"net"
	"net/mail"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/lvskit/lvskit/internal/alert"
)

// A real SMTP server (emersion/go-smtp) on loopback receiving the
// director's alerts.

type mailBackend struct{ got chan *mailMsg }

type mailMsg struct {
	from string
	rcpt []string
	msg  *mail.Message
	body string
}

func (b *mailBackend) NewSession(*smtp.Conn) (smtp.Session, error) {
	return &mailSession{b: b, m: &mailMsg{}}, nil
}

type mailSession struct {
	b *mailBackend
	m *mailMsg
}

func (s *mailSession) Reset()        { s.m = &mailMsg{} }
func (s *mailSession) Logout() error { return nil }
func (s *mailSession) Mail(from string, _ *smtp.MailOptions) error {
	s.m.from = from
	return nil
}
func (s *mailSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.m.rcpt = append(s.m.rcpt, to)
	return nil
}
func (s *mailSession) Data(r io.Reader) error {
	msg, err := mail.ReadMessage(r)
	if err != nil {
		return err
	}
	body, err := io.ReadAll(msg.Body)
	if err != nil {
		return err
	}
	s.m.msg, s.m.body = msg, string(body)
	s.b.got <- s.m
	return nil
}

type quietLog struct{}

func (quietLog) Printf(string, ...any) {}
func (quietLog) Println(...any)        {}

func startSMTP(t *testing.T) (string, *mailBackend) {
	t.Helper()
	be := &mailBackend{got: make(chan *mailMsg, 32)}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := smtp.NewServer(be)
	s.Domain = "mail.test"
	s.ReadTimeout, s.WriteTimeout = 10*time.Second, 10*time.Second
	s.ErrorLog = quietLog{}
	served := make(chan struct{})
	go func() { defer close(served); s.Serve(ln) }()
	t.Cleanup(func() { s.Close(); <-served })
	return ln.Addr().String(), be
}

// waitMail returns the first message whose subject contains sub.
func waitMail(t *testing.T, be *mailBackend, sub string) *mailMsg {
	t.Helper()
	timeout := time.After(15 * time.Second)
	var seen []string
	for {
		select {
		case m := <-be.got:
			subj := m.msg.Header.Get("Subject")
			if strings.Contains(subj, sub) {
				return m
			}
			seen = append(seen, subj)
		case <-timeout:
			t.Fatalf("no mail with subject %q; got %q", sub, seen)
		}
	}
}

// global_defs' notification settings send a mail for a VRRP transition
// and for a real server going down, to a real SMTP server.
func TestAlertsMailed(t *testing.T) {
	addr, be := startSMTP(t)
	host, port, _ := net.SplitHostPort(addr)
	r := newRig(t, fmt.Sprintf(`    notification_email {
        ops@example.org
        oncall@example.org
    }
    notification_email_from lvs@example.org
    smtp_server %s %s
    smtp_connect_timeout 5
    smtp_alert
`, host, port), nil)
	r.waitFor("MASTER with both servers in the table", bothHealthyInTable)

	m := waitMail(t, be, "VRRP Instance V - Entering MASTER state")
	if m.from != "lvs@example.org" || strings.Join(m.rcpt, ",") != "ops@example.org,oncall@example.org" {
		t.Errorf("envelope from %q to %q", m.from, m.rcpt)
	}
	if subj := m.msg.Header.Get("Subject"); subj != "[unit] VRRP Instance V - Entering MASTER state" {
		t.Errorf("subject %q", subj)
	}
	if !strings.Contains(m.body, "MASTER") || !strings.Contains(m.body, "unit") {
		t.Errorf("body does not name the host and the new state:\n%s", m.body)
	}

	r.web2.Close()
	rsName := fmt.Sprintf("real_server 127.0.0.1:%d - DOWN", r.p2)
	m = waitMail(t, be, rsName)
	if subj := m.msg.Header.Get("Subject"); subj != fmt.Sprintf("[unit] Real server virtual_server 10.0.0.9:80 -> %s", rsName) {
		t.Errorf("subject %q", subj)
	}
	if !strings.Contains(m.body, "UP") || !strings.Contains(m.body, "DOWN") {
		t.Errorf("body does not say from UP to DOWN:\n%s", m.body)
	}
}

// A mail server that accepts and never answers does not hold up VRRP or a
// reload: with a 30 s SMTP timeout, the instance becomes MASTER, and is
// restarted by a reload (STOP, BACKUP, MASTER: three more alerts queued
// behind the stuck one) and is MASTER again, while the first alert is still
// stuck in the SMTP conversation.
func TestDeadSMTPDoesNotDelayVRRP(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	accepted := make(chan net.Conn, 8)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	defer func() {
		ln.Close()
		for {
			select {
			case c := <-accepted:
				c.Close()
			default:
				return
			}
		}
	}()
	host, port, _ := net.SplitHostPort(ln.Addr().String())
	r := newRig(t, fmt.Sprintf("    notification_email {\n        ops@example.org\n    }\n    smtp_server %s %s\n    smtp_connect_timeout 30\n    smtp_alert\n", host, port), nil)
	var conn net.Conn
	select {
	case conn = <-accepted:
	case <-time.After(10 * time.Second):
		t.Fatal("the director never tried to send the alert")
	}
	accepted <- conn // closed by the deferred cleanup
	r.waitFor("MASTER with both servers in the table", bothHealthyInTable)
	r.write(120, 1)
	if err := r.d.Reload(); err != nil {
		t.Fatal(err)
	}
	r.waitFor("MASTER at priority 120", func(st Status) bool {
		return st.VRRP[0].State == "MASTER" && st.VRRP[0].EffectivePriority == 120
	})
	// The instance calls the director back after its status changes (a
	// queue of its own): the alerts of the last transitions may come a
	// moment after the status says MASTER.
	var s alert.Stats
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		s = r.d.notifier.Load().Stats()
		if s.Queued >= 3 || s.Sent != 0 || s.Failed != 0 || time.Now().After(deadline) {
			break
		}
	}
	if s.Sent != 0 || s.Failed != 0 || s.Queued < 3 {
		t.Errorf("notifier %+v, want the first alert still stuck and the next three queued", s)
	}
}
