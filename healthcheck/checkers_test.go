package healthcheck_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/miekg/dns"

	"github.com/lvskit/lvskit/healthcheck"
	"github.com/lvskit/lvskit/internal/netnstest"
	"github.com/lvskit/lvskit/internal/script/scripttest"
)

// probe runs c once with timeout as its deadline.
func probe(t *testing.T, c healthcheck.Checker, timeout time.Duration) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	defer cancel()
	return c.Check(ctx)
}

func addrOf(t *testing.T, s string) netip.AddrPort {
	t.Helper()
	s = strings.TrimPrefix(strings.TrimPrefix(s, "http://"), "https://")
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		t.Fatalf("parse %q: %v", s, err)
	}
	return ap
}

// checkErr compares err with want: "" means no error, otherwise err's
// text must contain want.
func checkErr(t *testing.T, err error, want string) {
	t.Helper()
	switch {
	case want == "" && err != nil:
		t.Errorf("got error %v, want none", err)
	case want != "" && err == nil:
		t.Errorf("got no error, want one containing %q", want)
	case want != "" && !strings.Contains(err.Error(), want):
		t.Errorf("got error %q, want it to contain %q", err, want)
	}
}

func webHandler(t *testing.T, release chan struct{}) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/ok", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hello\n") })
	mux.HandleFunc("/unavailable", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "down", http.StatusServiceUnavailable)
	})
	mux.HandleFunc("/created", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusCreated) })
	mux.HandleFunc("/host", func(w http.ResponseWriter, r *http.Request) {
		if r.Host != "www.example.test" || r.UserAgent() != "KeepAliveClient" {
			http.Error(w, "wrong host "+r.Host, http.StatusNotFound)
			return
		}
		io.WriteString(w, "vhost\n")
	})
	mux.HandleFunc("/proto11", func(w http.ResponseWriter, r *http.Request) {
		if r.ProtoMinor != 1 || !r.Close {
			http.Error(w, "want HTTP/1.1 with Connection: close, got "+r.Proto, http.StatusBadRequest)
			return
		}
		io.WriteString(w, "one-one\n")
	})
	mux.HandleFunc("/proto10", func(w http.ResponseWriter, r *http.Request) {
		if r.ProtoMinor != 0 {
			http.Error(w, "want HTTP/1.0, got "+r.Proto, http.StatusBadRequest)
			return
		}
		io.WriteString(w, "one-oh\n")
	})
	mux.HandleFunc("/sni", func(w http.ResponseWriter, r *http.Request) {
		if r.TLS == nil || r.TLS.ServerName != "sni.example.test" {
			http.Error(w, "no sni", http.StatusBadRequest)
			return
		}
		io.WriteString(w, "sni\n")
	})
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	return mux
}

func TestHTTPChecker(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(webHandler(t, release))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) })
	addr := addrOf(t, srv.URL)

	tests := []struct {
		name    string
		checker healthcheck.HTTPChecker
		timeout time.Duration
		wantErr string
	}{
		{"passing", healthcheck.HTTPChecker{URLs: []healthcheck.URL{{Path: "/ok"}}}, 0, ""},
		{"digest matches", healthcheck.HTTPChecker{URLs: []healthcheck.URL{{Path: "/ok", Digest: healthcheck.Digest([]byte("hello\n"))}}}, 0, ""},
		{"digest upper case", healthcheck.HTTPChecker{URLs: []healthcheck.URL{{Path: "/ok", Digest: strings.ToUpper(healthcheck.Digest([]byte("hello\n")))}}}, 0, ""},
		{"wrong digest", healthcheck.HTTPChecker{URLs: []healthcheck.URL{{Path: "/ok", Digest: healthcheck.Digest([]byte("bye\n"))}}}, 0,
			fmt.Sprintf("http check %s/ok: digest %s, want %s", addr, healthcheck.Digest([]byte("hello\n")), healthcheck.Digest([]byte("bye\n")))},
		{"wrong status", healthcheck.HTTPChecker{URLs: []healthcheck.URL{{Path: "/unavailable"}}}, 0,
			fmt.Sprintf("http check %s/unavailable: status 503 not in [200-299]", addr)},
		{"status in range", healthcheck.HTTPChecker{URLs: []healthcheck.URL{{Path: "/unavailable", StatusCodes: []healthcheck.StatusRange{{500, 503}}}}}, 0, ""},
		{"status not listed", healthcheck.HTTPChecker{URLs: []healthcheck.URL{{Path: "/created", StatusCodes: []healthcheck.StatusRange{{200, 200}}}}}, 0, "status 201 not in [200]"},
		{"not found", healthcheck.HTTPChecker{URLs: []healthcheck.URL{{Path: "/nothing"}}}, 0, "status 404"},
		{"virtualhost", healthcheck.HTTPChecker{VirtualHost: "www.example.test", URLs: []healthcheck.URL{{Path: "/host"}}}, 0, ""},
		{"url virtualhost", healthcheck.HTTPChecker{URLs: []healthcheck.URL{{Path: "/host", VirtualHost: "www.example.test"}}}, 0, ""},
		{"no virtualhost", healthcheck.HTTPChecker{URLs: []healthcheck.URL{{Path: "/host"}}}, 0, "status 404"},
		{"http/1.0", healthcheck.HTTPChecker{URLs: []healthcheck.URL{{Path: "/proto10"}}}, 0, ""},
		{"http/1.1", healthcheck.HTTPChecker{Protocol: healthcheck.HTTP11, URLs: []healthcheck.URL{{Path: "/proto11"}}}, 0, ""},
		{"all urls must pass", healthcheck.HTTPChecker{URLs: []healthcheck.URL{{Path: "/ok"}, {Path: "/unavailable"}}}, 0, "/unavailable: status 503"},
		{"timing out", healthcheck.HTTPChecker{URLs: []healthcheck.URL{{Path: "/slow"}}}, 200 * time.Millisecond, "read response: timeout"},
		{"no urls", healthcheck.HTTPChecker{}, 0, "no url"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := tt.checker
			c.Addr = addr
			timeout := tt.timeout
			if timeout == 0 {
				timeout = 5 * time.Second
			}
			checkErr(t, probe(t, &c, timeout), tt.wantErr)
		})
	}
}

func TestHTTPCheckerFailing(t *testing.T) {
	srv := httptest.NewServer(webHandler(t, nil))
	addr := addrOf(t, srv.URL)
	srv.Close()
	c := &healthcheck.HTTPChecker{Conn: healthcheck.Conn{Addr: addr}, URLs: []healthcheck.URL{{Path: "/ok"}}}
	err := probe(t, c, 5*time.Second)
	checkErr(t, err, fmt.Sprintf("http check %s/ok: connect:", addr))
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("error %v does not wrap ECONNREFUSED", err)
	}
}

func TestSSLChecker(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewUnstartedServer(webHandler(t, release))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the verification case makes the server log a handshake error
	srv.StartTLS()
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) })
	addr := addrOf(t, srv.URL)

	tests := []struct {
		name    string
		checker healthcheck.HTTPChecker
		timeout time.Duration
		wantErr string
	}{
		{"passing without verification", healthcheck.HTTPChecker{TLS: &healthcheck.TLSOptions{}, URLs: []healthcheck.URL{{Path: "/ok", Digest: healthcheck.Digest([]byte("hello\n"))}}}, 0, ""},
		{"wrong digest", healthcheck.HTTPChecker{TLS: &healthcheck.TLSOptions{}, URLs: []healthcheck.URL{{Path: "/ok", Digest: "00000000000000000000000000000000"}}}, 0,
			fmt.Sprintf("ssl check %s/ok: digest %s, want 00000000000000000000000000000000", addr, healthcheck.Digest([]byte("hello\n")))},
		{"wrong status", healthcheck.HTTPChecker{TLS: &healthcheck.TLSOptions{}, URLs: []healthcheck.URL{{Path: "/unavailable"}}}, 0, "status 503 not in [200-299]"},
		{"sni", healthcheck.HTTPChecker{TLS: &healthcheck.TLSOptions{ServerName: "sni.example.test"}, URLs: []healthcheck.URL{{Path: "/sni"}}}, 0, ""},
		{"enable_sni sends the virtualhost", healthcheck.HTTPChecker{VirtualHost: "sni.example.test", TLS: &healthcheck.TLSOptions{EnableSNI: true}, URLs: []healthcheck.URL{{Path: "/sni"}}}, 0, ""},
		{"virtualhost without enable_sni sends no sni", healthcheck.HTTPChecker{VirtualHost: "sni.example.test", TLS: &healthcheck.TLSOptions{}, URLs: []healthcheck.URL{{Path: "/sni"}}}, 0, "status 400"},
		{"no sni", healthcheck.HTTPChecker{TLS: &healthcheck.TLSOptions{}, URLs: []healthcheck.URL{{Path: "/sni"}}}, 0, "status 400"},
		{"verification fails on self-signed", healthcheck.HTTPChecker{TLS: &healthcheck.TLSOptions{Verify: true, ServerName: "example.com"}, URLs: []healthcheck.URL{{Path: "/ok"}}}, 0, "tls handshake"},
		{"verification passes with the root", healthcheck.HTTPChecker{TLS: &healthcheck.TLSOptions{Verify: true, ServerName: "example.com",
			Config: &tls.Config{RootCAs: srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs}}, URLs: []healthcheck.URL{{Path: "/ok"}}}, 0, ""},
		{"timing out", healthcheck.HTTPChecker{TLS: &healthcheck.TLSOptions{}, URLs: []healthcheck.URL{{Path: "/slow"}}}, 200 * time.Millisecond, "timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := tt.checker
			c.Addr = addr
			timeout := tt.timeout
			if timeout == 0 {
				timeout = 5 * time.Second
			}
			checkErr(t, probe(t, &c, timeout), tt.wantErr)
		})
	}
}

// fullListener returns the address of a TCP listener whose accept queue is
// full, so further connection attempts hang until their deadline.
func fullListener(t *testing.T) netip.AddrPort {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	sa, _ := syscall.Getsockname(fd)
	addr := netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), uint16(sa.(*syscall.SockaddrInet4).Port))
	// Fill the queue (backlog 0 admits one) with connections never accepted.
	for i := 0; i < 4; i++ {
		d := net.Dialer{Timeout: 200 * time.Millisecond}
		c, err := d.Dial("tcp", addr.String())
		if err != nil {
			break
		}
		t.Cleanup(func() { c.Close() })
	}
	return addr
}

func TestTCPChecker(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	closed, _ := net.Listen("tcp", "127.0.0.1:0")
	closedAddr := addrOf(t, closed.Addr().String())
	closed.Close()
	full := fullListener(t)

	tests := []struct {
		name    string
		conn    healthcheck.Conn
		wantErr string
	}{
		{"passing", healthcheck.Conn{Addr: addrOf(t, ln.Addr().String())}, ""},
		{"bindto and bind_port", healthcheck.Conn{Addr: addrOf(t, ln.Addr().String()), BindAddr: netip.MustParseAddr("127.0.0.2"), BindPort: freePort(t)}, ""},
		{"failing", healthcheck.Conn{Addr: closedAddr}, fmt.Sprintf("tcp check %s: connect:", closedAddr)},
		{"timing out", healthcheck.Conn{Addr: full}, fmt.Sprintf("tcp check %s: connect: timeout", full)},
		{"family mismatch", healthcheck.Conn{Addr: addrOf(t, ln.Addr().String()), BindAddr: netip.MustParseAddr("::1")}, "another address family"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			timeout := 5 * time.Second
			if strings.Contains(tt.name, "timing out") {
				timeout = 300 * time.Millisecond
			}
			checkErr(t, probe(t, &healthcheck.TCPChecker{Conn: tt.conn}, timeout), tt.wantErr)
		})
	}
}

func freePort(t *testing.T) uint16 {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return uint16(l.Addr().(*net.TCPAddr).Port)
}

func udpServer(t *testing.T, reply func([]byte) []byte) netip.AddrPort {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 2048)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			if r := reply(buf[:n]); r != nil {
				pc.WriteTo(r, from)
			}
		}
	}()
	return addrOf(t, pc.LocalAddr().String())
}

func TestUDPChecker(t *testing.T) {
	echo := udpServer(t, func(b []byte) []byte { return append([]byte(nil), b...) })
	silent := udpServer(t, func([]byte) []byte { return nil })
	closedPC, _ := net.ListenPacket("udp", "127.0.0.1:0")
	closed := addrOf(t, closedPC.LocalAddr().String())
	closedPC.Close()

	tests := []struct {
		name    string
		checker healthcheck.UDPChecker
		wantErr string
	}{
		{"echo with reply required", healthcheck.UDPChecker{Conn: healthcheck.Conn{Addr: echo}, Payload: []byte("ping"), RequireReply: true}, ""},
		{"reply length within bounds", healthcheck.UDPChecker{Conn: healthcheck.Conn{Addr: echo}, Payload: []byte("ping"), RequireReply: true, MinReplyLength: 4, MaxReplyLength: 4}, ""},
		{"reply too short", healthcheck.UDPChecker{Conn: healthcheck.Conn{Addr: echo}, Payload: []byte("ping"), RequireReply: true, MinReplyLength: 5}, "reply of 4 bytes outside [5, 0]"},
		{"reply too long", healthcheck.UDPChecker{Conn: healthcheck.Conn{Addr: echo}, Payload: []byte("ping"), RequireReply: true, MaxReplyLength: 3}, "reply of 4 bytes outside [0, 3]"},
		{"reply data matches", healthcheck.UDPChecker{Conn: healthcheck.Conn{Addr: echo}, Payload: []byte("ping"), RequireReply: true, ReplyData: []byte("pi")}, ""},
		{"reply data differs", healthcheck.UDPChecker{Conn: healthcheck.Conn{Addr: echo}, Payload: []byte("ping"), RequireReply: true, ReplyData: []byte("po")}, "reply byte 1 is 0x69, want 0x6f"},
		{"reply data masked", healthcheck.UDPChecker{Conn: healthcheck.Conn{Addr: echo}, Payload: []byte("ping"), RequireReply: true, ReplyData: []byte("po"), ReplyMask: []byte{0, 0xff}}, ""},
		{"silent with reply required times out", healthcheck.UDPChecker{Conn: healthcheck.Conn{Addr: silent}, Payload: []byte("ping"), RequireReply: true}, fmt.Sprintf("udp check %s: no reply: timeout", silent)},
		{"silent without reply required passes", healthcheck.UDPChecker{Conn: healthcheck.Conn{Addr: silent}, Payload: []byte("ping")}, ""},
		{"closed port fails", healthcheck.UDPChecker{Conn: healthcheck.Conn{Addr: closed}, Payload: []byte("ping")}, "connection refused"},
		{"closed port with reply required fails", healthcheck.UDPChecker{Conn: healthcheck.Conn{Addr: closed}, Payload: []byte("ping"), RequireReply: true}, "connection refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			timeout := 5 * time.Second
			if strings.Contains(tt.name, "silent") {
				timeout = 300 * time.Millisecond // these wait for the deadline
			}
			checkErr(t, probe(t, &tt.checker, timeout), tt.wantErr)
		})
	}
}

func dnsServer(t *testing.T) netip.AddrPort {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mux := dns.NewServeMux()
	mux.HandleFunc(".", func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(r)
		q := r.Question[0]
		switch q.Name {
		case ".":
			if q.Qtype != dns.TypeSOA {
				m.Rcode = dns.RcodeRefused
				break
			}
			soa, _ := dns.NewRR(". 3600 IN SOA ns.test. admin.test. 1 7200 3600 1209600 3600")
			m.Answer = append(m.Answer, soa)
		case "www.example.test.":
			a, _ := dns.NewRR("www.example.test. 60 IN A 192.0.2.1")
			m.Answer = append(m.Answer, a)
		case "slow.example.test.":
			return // no answer: the checker times out
		default:
			m.Rcode = dns.RcodeNameError
		}
		w.WriteMsg(m)
	})
	srv := &dns.Server{PacketConn: pc, Handler: mux}
	started := make(chan struct{})
	srv.NotifyStartedFunc = func() { close(started) }
	go srv.ActivateAndServe()
	<-started
	t.Cleanup(func() { srv.Shutdown() })
	return addrOf(t, pc.LocalAddr().String())
}

func TestDNSChecker(t *testing.T) {
	addr := dnsServer(t)
	tests := []struct {
		name, typ, qname, wantErr string
	}{
		{"default SOA of the root", "", "", ""},
		{"A record", "A", "www.example.test", ""},
		{"lower-case type", "a", "www.example.test", ""},
		{"nxdomain", "A", "missing.example.test", "rcode NXDOMAIN"},
		{"refused", "MX", ".", "rcode REFUSED"},
		{"timing out", "A", "slow.example.test", "timeout"},
		{"unknown type", "BOGUS", "", `unknown query type "BOGUS"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &healthcheck.DNSChecker{Conn: healthcheck.Conn{Addr: addr}, Type: tt.typ, Name: tt.qname}
			timeout := 5 * time.Second
			if strings.Contains(tt.name, "timing out") {
				timeout = 300 * time.Millisecond
			}
			checkErr(t, probe(t, c, timeout), tt.wantErr)
		})
	}
}

// smtpServer speaks just enough SMTP for SMTP_CHECK. greeting and heloReply
// are the status lines it sends; an empty greeting sends nothing. It
// records the HELO lines it receives.
func smtpServer(t *testing.T, greeting, heloReply string) (netip.AddrPort, chan string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	helos := make(chan string, 10)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(5 * time.Second))
				if greeting == "" {
					io.Copy(io.Discard, c)
					return
				}
				fmt.Fprintf(c, "%s\r\n", greeting)
				r := bufio.NewReader(c)
				line, err := r.ReadString('\n')
				if err != nil {
					return
				}
				helos <- strings.TrimRight(line, "\r\n")
				fmt.Fprintf(c, "%s\r\n", heloReply)
				if line, _ := r.ReadString('\n'); strings.HasPrefix(line, "QUIT") {
					fmt.Fprintf(c, "221 bye\r\n")
				}
			}()
		}
	}()
	return addrOf(t, ln.Addr().String()), helos
}

func TestSMTPChecker(t *testing.T) {
	tests := []struct {
		name, greeting, heloReply, heloName, wantHELO, wantErr string
	}{
		{"passing", "220 mail.test ESMTP", "250 mail.test", "", "HELO " + healthcheck.DefaultHELO, ""},
		{"helo name", "220 mail.test ESMTP", "250 mail.test", "checker.test", "HELO checker.test", ""},
		{"bad greeting", "554 go away", "", "", "", `greeting: 554 "go away"`},
		{"helo refused", "220 mail.test ESMTP", "550 not you", "", "HELO " + healthcheck.DefaultHELO, `HELO: 550 "not you"`},
		{"timing out", "", "", "", "", "greeting: timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr, helos := smtpServer(t, tt.greeting, tt.heloReply)
			c := &healthcheck.SMTPChecker{Conn: healthcheck.Conn{Addr: addr}, HELOName: tt.heloName}
			timeout := 5 * time.Second
			if strings.Contains(tt.name, "timing out") {
				timeout = 300 * time.Millisecond
			}
			checkErr(t, probe(t, c, timeout), tt.wantErr)
			if tt.wantHELO != "" {
				if diff := cmp.Diff(tt.wantHELO, <-helos); diff != "" {
					t.Errorf("HELO line (-want +got):\n%s", diff)
				}
			}
		})
	}
}

func writeScript(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestMiscChecker(t *testing.T) {
	dir := t.TempDir()
	ok := writeScript(t, dir, "ok.sh", "exit 0")
	fail := writeScript(t, dir, "fail.sh", "exit 1")
	code := writeScript(t, dir, "code.sh", `exit "$1"`)
	args := writeScript(t, dir, "args.sh", `[ "$1" = "two words" ] && [ "$2" = '$HOME;' ]`)
	slow := writeScript(t, dir, "slow.sh", "sleep 30")
	tests := []struct {
		name       string
		checker    healthcheck.MiscChecker
		wantWeight healthcheck.Weight
		wantErr    string
	}{
		{"passing", healthcheck.MiscChecker{Path: ok}, healthcheck.Weight{}, ""},
		{"failing", healthcheck.MiscChecker{Path: fail}, healthcheck.Weight{}, "misc check " + fail + ": exit status 1"},
		{"arguments without a shell", healthcheck.MiscChecker{Path: args, Args: []string{"two words", "$HOME;"}}, healthcheck.Weight{}, ""},
		{"exit 7 without misc_dynamic fails", healthcheck.MiscChecker{Path: code, Args: []string{"7"}}, healthcheck.Weight{}, "exit status 7"},
		{"dynamic exit 0 keeps the configured weight", healthcheck.MiscChecker{Path: code, Args: []string{"0"}, Dynamic: true}, healthcheck.Weight{Kind: healthcheck.WeightConfigured}, ""},
		{"dynamic exit 1 fails", healthcheck.MiscChecker{Path: code, Args: []string{"1"}, Dynamic: true}, healthcheck.Weight{}, "exit status 1"},
		{"dynamic exit 2 is weight 0", healthcheck.MiscChecker{Path: code, Args: []string{"2"}, Dynamic: true}, healthcheck.Weight{Kind: healthcheck.WeightAbsolute, Value: 0}, ""},
		{"dynamic exit 7 is weight 5", healthcheck.MiscChecker{Path: code, Args: []string{"7"}, Dynamic: true}, healthcheck.Weight{Kind: healthcheck.WeightAbsolute, Value: 5}, ""},
		{"dynamic exit 255 is weight 253", healthcheck.MiscChecker{Path: code, Args: []string{"255"}, Dynamic: true}, healthcheck.Weight{Kind: healthcheck.WeightAbsolute, Value: 253}, ""},
		{"timing out", healthcheck.MiscChecker{Path: slow}, healthcheck.Weight{}, "misc check " + slow + ": timed out"},
		{"missing program", healthcheck.MiscChecker{Path: filepath.Join(dir, "missing")}, healthcheck.Weight{}, "start:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			timeout := 10 * time.Second
			if strings.Contains(tt.name, "timing out") {
				timeout = 300 * time.Millisecond
			}
			ctx, cancel := context.WithTimeout(t.Context(), timeout)
			defer cancel()
			w, err := tt.checker.CheckWeight(ctx)
			checkErr(t, err, tt.wantErr)
			if diff := cmp.Diff(tt.wantWeight, w); diff != "" {
				t.Errorf("weight (-want +got):\n%s", diff)
			}
		})
	}
}

// TestMiscCheckerKillsProcessGroup shows a timed-out script's children die
// with it, also one that ignores SIGTERM.
func TestMiscCheckerKillsProcessGroup(t *testing.T) {
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "child.pid")
	script := writeScript(t, dir, "spawn.sh", fmt.Sprintf(`trap '' TERM
sh -c 'trap "" TERM; sleep 30' &
echo $! > %s
wait`, pidFile))
	c := &healthcheck.MiscChecker{Path: script, KillGrace: 100 * time.Millisecond}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	go func() {
		// End the check once the script has started its child.
		for ctx.Err() == nil {
			if b, err := os.ReadFile(pidFile); err == nil && strings.HasSuffix(string(b), "\n") {
				cancel()
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	checkErr(t, c.Check(ctx), "timed out")
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	// The child is reaped by init once killed; poll briefly until it is gone.
	deadline := time.Now().Add(5 * time.Second)
	for scripttest.Alive(pid) {
		if time.Now().After(deadline) {
			syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("child %d of the timed-out script is still alive", pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestFileChecker(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name       string
		content    *string // nil: no file
		weight     int
		reverse    bool
		wantWeight healthcheck.Weight
		wantErr    string
	}{
		{"weight 0, value 0 is up", ptr("0\n"), 0, false, healthcheck.Weight{}, ""},
		{"weight 0, value 1 is down", ptr("1\n"), 0, false, healthcheck.Weight{}, "value 1"},
		{"weight 0 reverse, value 0 is down", ptr("0"), 0, true, healthcheck.Weight{}, "value 0"},
		{"weight 0 reverse, value 3 is up", ptr("3"), 0, true, healthcheck.Weight{}, ""},
		{"missing file reads 0", nil, 0, false, healthcheck.Weight{}, ""},
		{"empty file reads 0", ptr(""), 0, false, healthcheck.Weight{}, ""},
		{"weight 2, value 5 adds 10", ptr("5"), 2, false, healthcheck.Weight{Kind: healthcheck.WeightOffset, Value: 10}, ""},
		{"weight 2 reverse, value 5 subtracts 10", ptr("5"), 2, true, healthcheck.Weight{Kind: healthcheck.WeightOffset, Value: -10}, ""},
		{"hex and spaces like strtol", ptr("  0x10 trailing"), 1, false, healthcheck.Weight{Kind: healthcheck.WeightOffset, Value: 16}, ""},
		{"octal like strtol", ptr("010"), 1, false, healthcheck.Weight{Kind: healthcheck.WeightOffset, Value: 8}, ""},
		{"negative", ptr("-3"), 1, false, healthcheck.Weight{Kind: healthcheck.WeightOffset, Value: -3}, ""},
		{"junk reads 0", ptr("up"), 1, false, healthcheck.Weight{Kind: healthcheck.WeightOffset, Value: 0}, ""},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(dir, fmt.Sprintf("f%d", i))
			if tt.content != nil {
				if err := os.WriteFile(p, []byte(*tt.content), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			c := &healthcheck.FileChecker{Path: p, Weight: tt.weight, Reverse: tt.reverse}
			w, err := c.CheckWeight(t.Context())
			checkErr(t, err, tt.wantErr)
			if diff := cmp.Diff(tt.wantWeight, w); diff != "" {
				t.Errorf("weight (-want +got):\n%s", diff)
			}
		})
	}
}

// TestFileCheckerKeepsLastOnOutOfRange: a number keepalived refuses leaves
// the previous value in force.
func TestFileCheckerKeepsLastOnOutOfRange(t *testing.T) {
	p := filepath.Join(t.TempDir(), "w")
	c := &healthcheck.FileChecker{Path: p, Weight: 1}
	os.WriteFile(p, []byte("7"), 0o644)
	if w, err := c.CheckWeight(t.Context()); err != nil || w.Value != 7 {
		t.Fatalf("got %v, %v; want 7", w, err)
	}
	os.WriteFile(p, []byte("99999999999"), 0o644)
	if w, err := c.CheckWeight(t.Context()); err != nil || w.Value != 7 {
		t.Fatalf("after an out-of-range value got %v, %v; want 7 kept", w, err)
	}
}

func ptr(s string) *string { return &s }

func TestPingCheckerLoopback(t *testing.T) {
	for _, a := range []string{"127.0.0.1", "::1"} {
		t.Run(a, func(t *testing.T) {
			c := &healthcheck.PingChecker{Conn: healthcheck.Conn{Addr: netip.AddrPortFrom(netip.MustParseAddr(a), 0)}}
			err := probe(t, c, 10*time.Second)
			if err != nil && strings.Contains(err.Error(), "neither ping socket nor raw socket allowed") {
				t.Skipf("no ICMP socket for this user: %v", err)
			}
			checkErr(t, err, "")
			// A second probe uses the next sequence number and passes too.
			checkErr(t, probe(t, c, 10*time.Second), "")
		})
	}
}

func TestParseStatusCodes(t *testing.T) {
	got, err := healthcheck.ParseStatusCodes("200 201-204,301")
	if err != nil {
		t.Fatal(err)
	}
	want := []healthcheck.StatusRange{{200, 200}, {201, 204}, {301, 301}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	for _, bad := range []string{"", "abc", "99", "204-201", "200-600"} {
		if _, err := healthcheck.ParseStatusCodes(bad); err == nil {
			t.Errorf("ParseStatusCodes(%q): no error", bad)
		}
	}
}

func mustAddrPort(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

func FuzzParseStatusCodes(f *testing.F) {
	for _, s := range []string{"200", "200-299", "200 301,302", "99", "600", "5-1", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		codes, err := healthcheck.ParseStatusCodes(s)
		if err != nil {
			return
		}
		for _, r := range codes {
			if r.Min < 100 || r.Max > 599 || r.Min > r.Max {
				t.Errorf("ParseStatusCodes(%q) accepted %v", s, r)
			}
		}
	})
}

// TestIntegrationMiscCheckerUser runs the program as another user
// (keepalived's "user"), which needs root.
func TestIntegrationMiscCheckerUser(t *testing.T) {
	netnstest.RequireRoot(t)
	// t.TempDir's parent is private to root; the other user must reach
	// the script.
	dir, err := os.MkdirTemp("", "misc-user-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	script := writeScript(t, dir, "whoami.sh", `[ "$(id -u)" = 65534 ]`)
	c := &healthcheck.MiscChecker{Path: script, Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	checkErr(t, probe(t, c, 10*time.Second), "")
	root := &healthcheck.MiscChecker{Path: script}
	checkErr(t, probe(t, root, 10*time.Second), "exit status 1")
}
