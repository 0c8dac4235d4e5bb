package alert

import (
	"bytes"
	"fmt"
	"mime"
	"mime/quotedprintable"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Kind is what changed.
type Kind int

// The kinds of transitions keepalived mails about.
const (
	// VRRPInstance: a vrrp_instance changed state (BACKUP, MASTER, FAULT, STOP).
	VRRPInstance Kind = iota + 1
	// VRRPSyncGroup: a vrrp_sync_group changed state.
	VRRPSyncGroup
	// RealServer: a real server's checkers declared it UP or DOWN.
	RealServer
	// Quorum: a virtual server gained (UP) or lost (DOWN) its quorum.
	Quorum
)

// String names the kind as it appears in subjects.
func (k Kind) String() string {
	switch k {
	case VRRPInstance:
		return "VRRP Instance"
	case VRRPSyncGroup:
		return "VRRP Group"
	case RealServer:
		return "Real server"
	case Quorum:
		return "Quorum"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Event is one transition to mail about.
type Event struct {
	Kind Kind
	// Name is the instance or group name ("VI_1"), or for real servers
	// "virtual_server 192.168.0.253:80 -> real_server 192.168.0.1:80", for
	// quorum "virtual_server 192.168.0.253:80".
	Name string
	// From and To are the states: BACKUP, MASTER, FAULT, STOP for VRRP;
	// UP, DOWN for real servers and quorum. From may be empty (first state).
	From, To string
	// Time of the transition; zero means the time Notify was called.
	Time time.Time
	// Reason is a short free-text cause ("master down timer expired",
	// "HTTP_GET: status 503"); may be empty.
	Reason string
}

// Longest Name and Reason kept in a message; longer ones are cut with "…".
const (
	maxNameLen   = 256
	maxReasonLen = 1024
)

// clean makes s safe for one header or body line: control characters
// (CR and LF included, so nothing can inject a header) become spaces,
// invalid UTF-8 becomes U+FFFD, and it is cut to max bytes.
func clean(s string, max int) string {
	var b strings.Builder
	for _, r := range s { // ranging turns invalid UTF-8 into U+FFFD
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' {
			r = ' '
		}
		if b.Len()+utf8.RuneLen(r) > max {
			b.WriteString("…")
			break
		}
		b.WriteRune(r)
	}
	return strings.TrimSpace(b.String())
}

func orUnknown(s string) string {
	if s == "" {
		return "?"
	}
	return s
}

// Subject is the message subject for ev from the host routerID, in
// keepalived's shape: "[router_id] what - new state".
func Subject(routerID string, ev Event) string {
	name := orUnknown(clean(ev.Name, maxNameLen))
	to := orUnknown(clean(ev.To, 32))
	var what string
	switch ev.Kind {
	case VRRPInstance, VRRPSyncGroup:
		what = fmt.Sprintf("%s %s - Entering %s state", ev.Kind, name, to)
	default:
		what = fmt.Sprintf("%s %s - %s", ev.Kind, name, to)
	}
	if id := clean(routerID, maxNameLen); id != "" {
		return "[" + id + "] " + what
	}
	return what
}

// summary is one human sentence on what the new state means.
func summary(ev Event) string {
	to := strings.ToUpper(clean(ev.To, 32))
	switch ev.Kind {
	case VRRPInstance, VRRPSyncGroup:
		switch to {
		case "MASTER":
			return "This host now holds the virtual addresses."
		case "BACKUP":
			return "This host does not hold the virtual addresses; another router is master."
		case "FAULT":
			return "This host cannot serve: a tracked interface, script or peer failed."
		case "STOP":
			return "VRRP was stopped on this host."
		}
	case RealServer:
		switch to {
		case "UP":
			return "The real server passed its checks and takes traffic."
		case "DOWN":
			return "The real server failed its checks and takes no new traffic."
		}
	case Quorum:
		switch to {
		case "UP":
			return "The virtual server has enough live real servers again."
		case "DOWN":
			return "The virtual server lost its quorum of live real servers."
		}
	}
	return ""
}

// timeLayout is RFC 3339 with milliseconds: exact, sortable, unambiguous.
const timeLayout = "2006-01-02T15:04:05.000Z07:00"

// Body is the plain-text message body for ev from routerID, lines ending
// in "\n".
func Body(routerID string, ev Event) string {
	var b strings.Builder
	host := orUnknown(clean(routerID, maxNameLen))
	name := orUnknown(clean(ev.Name, maxNameLen))
	from, to := orUnknown(clean(ev.From, 32)), orUnknown(clean(ev.To, 32))
	fmt.Fprintf(&b, "%s %s changed state from %s to %s on %s.\n", ev.Kind, name, from, to, host)
	if s := summary(ev); s != "" {
		b.WriteString(s + "\n")
	}
	b.WriteString("\n")
	fmt.Fprintf(&b, "Host:    %s\n", host)
	fmt.Fprintf(&b, "Object:  %s %s\n", ev.Kind, name)
	fmt.Fprintf(&b, "Change:  %s -> %s\n", from, to)
	fmt.Fprintf(&b, "Time:    %s\n", ev.Time.Format(timeLayout))
	if r := clean(ev.Reason, maxReasonLen); r != "" {
		fmt.Fprintf(&b, "Reason:  %s\n", r)
	}
	b.WriteString("\n-- \nlvskit alert\n")
	return b.String()
}

// header is what a message needs besides the event.
type header struct {
	from      string // RFC 5322 mailbox, already formatted
	to        []string
	date      time.Time
	messageID string // without angle brackets
}

// message renders the complete RFC 5322 message with CRLF line endings.
func message(h header, routerID string, ev Event) []byte {
	var buf bytes.Buffer
	line := func(k, v string) { buf.WriteString(k + ": " + v + "\r\n") }
	line("From", h.from)
	line("To", strings.Join(h.to, ", "))
	line("Subject", mime.QEncoding.Encode("utf-8", Subject(routerID, ev)))
	line("Date", h.date.Format(time.RFC1123Z))
	line("Message-ID", "<"+h.messageID+">")
	line("MIME-Version", "1.0")
	line("Content-Type", "text/plain; charset=utf-8")

	body := Body(routerID, ev)
	if isPlain(body) {
		line("Content-Transfer-Encoding", "7bit")
		buf.WriteString("\r\n")
		buf.WriteString(strings.ReplaceAll(body, "\n", "\r\n"))
		return buf.Bytes()
	}
	line("Content-Transfer-Encoding", "quoted-printable")
	buf.WriteString("\r\n")
	w := quotedprintable.NewWriter(&buf)
	w.Write([]byte(strings.ReplaceAll(body, "\n", "\r\n"))) // a bytes.Buffer does not fail
	w.Close()
	return buf.Bytes()
}

// isPlain reports whether body can go as 7bit: ASCII only and no line
// longer than RFC 5322's 998 characters.
func isPlain(body string) bool {
	n := 0
	for i := 0; i < len(body); i++ {
		c := body[i]
		if c >= utf8.RuneSelf {
			return false
		}
		if c == '\n' {
			n = 0
			continue
		}
		if n++; n > 998 {
			return false
		}
	}
	return true
}
