package alert

import (
	"io"
	"mime"
	"mime/quotedprintable"
	"net/mail"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var eventTime = time.Date(2026, 11, 25, 8, 42, 30, 250e6, time.UTC)

func TestSubject(t *testing.T) {
	tests := []struct {
		name     string
		routerID string
		ev       Event
		want     string
	}{
		{"vrrp instance", "LVS_1", Event{Kind: VRRPInstance, Name: "VI_1", From: "BACKUP", To: "MASTER"},
			"[LVS_1] VRRP Instance VI_1 - Entering MASTER state"},
		{"sync group", "LVS_1", Event{Kind: VRRPSyncGroup, Name: "VG_1", From: "MASTER", To: "FAULT"},
			"[LVS_1] VRRP Group VG_1 - Entering FAULT state"},
		{"real server", "LVS_1", Event{Kind: RealServer, Name: "virtual_server 192.168.0.253:80 -> real_server 192.168.0.1:80", From: "UP", To: "DOWN"},
			"[LVS_1] Real server virtual_server 192.168.0.253:80 -> real_server 192.168.0.1:80 - DOWN"},
		{"quorum", "LVS_1", Event{Kind: Quorum, Name: "virtual_server 192.168.0.253:80", From: "DOWN", To: "UP"},
			"[LVS_1] Quorum virtual_server 192.168.0.253:80 - UP"},
		{"no router id", "", Event{Kind: VRRPInstance, Name: "VI_1", To: "STOP"},
			"VRRP Instance VI_1 - Entering STOP state"},
		{"empty name and state", "r", Event{Kind: RealServer},
			"[r] Real server ? - ?"},
		{"unknown kind", "r", Event{Kind: 42, Name: "x", To: "UP"},
			"[r] Kind(42) x - UP"},
		{"header injection is flattened", "r\r\nBcc: evil@example.org",
			Event{Kind: VRRPInstance, Name: "VI_1\r\nBcc: evil@example.org", To: "MASTER\n\nbody"},
			"[r  Bcc: evil@example.org] VRRP Instance VI_1  Bcc: evil@example.org - Entering MASTER  body state"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, Subject(tt.routerID, tt.ev)); diff != "" {
				t.Errorf("Subject (-want +got):\n%s", diff)
			}
		})
	}
}

func TestBody(t *testing.T) {
	tests := []struct {
		name string
		ev   Event
		want string
	}{
		{"vrrp master", Event{Kind: VRRPInstance, Name: "VI_1", From: "BACKUP", To: "MASTER", Time: eventTime, Reason: "master down timer expired"}, `VRRP Instance VI_1 changed state from BACKUP to MASTER on LVS_1.
This host now holds the virtual addresses.

Host:    LVS_1
Object:  VRRP Instance VI_1
Change:  BACKUP -> MASTER
Time:    2026-11-25T08:42:30.250Z
Reason:  master down timer expired

-- 
lvskit alert
`},
		{"real server down, no reason, first state", Event{Kind: RealServer, Name: "virtual_server 192.168.0.253:80 -> real_server 192.168.0.1:80", To: "DOWN", Time: eventTime.In(time.FixedZone("CET", 3600))}, `Real server virtual_server 192.168.0.253:80 -> real_server 192.168.0.1:80 changed state from ? to DOWN on LVS_1.
The real server failed its checks and takes no new traffic.

Host:    LVS_1
Object:  Real server virtual_server 192.168.0.253:80 -> real_server 192.168.0.1:80
Change:  ? -> DOWN
Time:    2026-11-25T09:42:30.250+01:00
`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Body("LVS_1", tt.ev)
			if !strings.HasPrefix(got, tt.want) {
				t.Errorf("Body (-want +got):\n%s", cmp.Diff(tt.want, got))
			}
		})
	}
}

func TestCleanCutsLongInput(t *testing.T) {
	ev := Event{Kind: RealServer, Name: strings.Repeat("n", 5000), To: "UP", Reason: strings.Repeat("é", 5000)}
	s := Subject("r", ev)
	if len(s) > maxNameLen+100 || !strings.Contains(s, "…") {
		t.Errorf("Subject of a 5000-byte name is %d bytes, want it cut with an ellipsis", len(s))
	}
	for line := range strings.Lines(Body("r", ev)) {
		if len(line) > maxReasonLen+50 {
			t.Errorf("Body line of %d bytes, want at most about %d", len(line), maxReasonLen)
		}
	}
}

var testHeader = header{
	from:      `"LVS 1" <lvs1@example.org>`,
	to:        []string{"<ops@example.org>", "<noc@example.org>"},
	date:      time.Date(2026, 11, 25, 8, 42, 34, 0, time.UTC),
	messageID: "20261125084234.000000000.1.abc@LVS_1",
}

var wantHeaderKeys = []string{"Content-Transfer-Encoding", "Content-Type", "Date", "From", "Message-Id", "Mime-Version", "Subject", "To"}

// parsed is a message as a mail reader would see it.
type parsed struct {
	header  mail.Header
	subject string
	body    string
}

func parseMessage(t testing.TB, raw []byte) parsed {
	t.Helper()
	m, err := mail.ReadMessage(strings.NewReader(string(raw)))
	if err != nil {
		t.Fatalf("parse message: %v\n%s", err, raw)
	}
	subject, err := new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject"))
	if err != nil {
		t.Fatalf("decode subject %q: %v", m.Header.Get("Subject"), err)
	}
	var r io.Reader = m.Body
	switch cte := m.Header.Get("Content-Transfer-Encoding"); cte {
	case "7bit":
	case "quoted-printable":
		r = quotedprintable.NewReader(r)
	default:
		t.Fatalf("Content-Transfer-Encoding %q", cte)
	}
	body, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	return parsed{m.Header, subject, strings.ReplaceAll(string(body), "\r\n", "\n")}
}

func TestMessage(t *testing.T) {
	tests := []struct {
		name    string
		ev      Event
		wantCTE string
	}{
		{"ascii", Event{Kind: VRRPInstance, Name: "VI_1", From: "BACKUP", To: "MASTER", Time: eventTime, Reason: "master down timer expired"}, "7bit"},
		{"utf-8", Event{Kind: VRRPInstance, Name: "VI_ü", From: "BACKUP", To: "MASTER", Time: eventTime, Reason: "Prüfung fehlgeschlagen, ☃"}, "quoted-printable"},
		{"long line", Event{Kind: RealServer, Name: "rs", To: "DOWN", Time: eventTime, Reason: strings.Repeat("x", 1000)}, "quoted-printable"},
		{"dot lines", Event{Kind: Quorum, Name: ".", To: "UP", Time: eventTime, Reason: "."}, "7bit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw := message(testHeader, "LVS_1", tt.ev)
			for line := range strings.Lines(string(raw)) {
				if !strings.HasSuffix(line, "\r\n") || strings.Count(line, "\n") != 1 || strings.Count(line, "\r") != 1 {
					t.Fatalf("line %q does not end in one CRLF", line)
				}
				if len(line) > 1000 {
					t.Fatalf("line of %d bytes, RFC 5322 allows 998 + CRLF", len(line))
				}
			}
			p := parseMessage(t, raw)
			keys := slices.Sorted(func(yield func(string) bool) {
				for k := range p.header {
					if !yield(k) {
						return
					}
				}
			})
			if diff := cmp.Diff(wantHeaderKeys, keys); diff != "" {
				t.Errorf("header keys (-want +got):\n%s", diff)
			}
			wantHdr := map[string]string{
				"From":                      `"LVS 1" <lvs1@example.org>`,
				"To":                        "<ops@example.org>, <noc@example.org>",
				"Date":                      "Wed, 25 Nov 2026 08:42:34 +0000",
				"Message-Id":                "<20261125084234.000000000.1.abc@LVS_1>",
				"Mime-Version":              "1.0",
				"Content-Type":              "text/plain; charset=utf-8",
				"Content-Transfer-Encoding": tt.wantCTE,
			}
			gotHdr := map[string]string{}
			for k := range wantHdr {
				gotHdr[k] = p.header.Get(k)
			}
			if diff := cmp.Diff(wantHdr, gotHdr); diff != "" {
				t.Errorf("headers (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(Subject("LVS_1", tt.ev), p.subject); diff != "" {
				t.Errorf("decoded subject (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(Body("LVS_1", tt.ev), p.body); diff != "" {
				t.Errorf("decoded body (-want +got):\n%s", diff)
			}
		})
	}
}

// FuzzMessage: whatever the event holds, the message parses, carries
// exactly the headers it should (nothing injected) and decodes back to
// Subject and Body.
func FuzzMessage(f *testing.F) {
	f.Add("LVS_1", "VI_1", "BACKUP", "MASTER", "master down")
	f.Add("r\r\nBcc: x@y", "VI\n\n.\r\n", "\x00", "MASTER\rX: y", "\xff\xfe")
	f.Add("", "", "", "", "=?utf-8?q?=41?=")
	f.Add("ü", strings.Repeat("é", 300), "UP", "DOWN", strings.Repeat("a ", 900))
	f.Fuzz(func(t *testing.T, routerID, name, from, to, reason string) {
		ev := Event{Kind: VRRPInstance, Name: name, From: from, To: to, Reason: reason, Time: eventTime}
		p := parseMessage(t, message(testHeader, routerID, ev))
		if len(p.header) != len(wantHeaderKeys) {
			t.Fatalf("%d header fields, want %d: %v", len(p.header), len(wantHeaderKeys), p.header)
		}
		if got, want := p.subject, Subject(routerID, ev); got != want {
			t.Fatalf("decoded subject %q, want %q", got, want)
		}
		if strings.ContainsAny(p.subject, "\r\n") {
			t.Fatalf("subject %q holds a line break", p.subject)
		}
		if got, want := p.body, Body(routerID, ev); got != want {
			t.Fatalf("decoded body %q, want %q", got, want)
		}
	})
}
