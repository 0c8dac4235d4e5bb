package healthcheck_test

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/lvskit/lvskit/healthcheck"
)

// rawServer answers every connection with the bytes of respond, written in
// pieces of at most chunk bytes (0: at once) after the request head has
// been read, then closes. It records the request heads it got.
type rawServer struct {
	ln       net.Listener
	requests chan string
}

func newRawServer(t *testing.T, respond string, chunk int) *rawServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &rawServer{ln: ln, requests: make(chan string, 16)}
	done := make(chan struct{})
	t.Cleanup(func() { ln.Close(); <-done })
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.SetDeadline(time.Now().Add(5 * time.Second))
			var head strings.Builder
			r := bufio.NewReader(c)
			for {
				l, err := r.ReadString('\n')
				head.WriteString(l)
				if err != nil || l == "\r\n" {
					break
				}
			}
			select {
			case s.requests <- head.String():
			default:
			}
			b := []byte(respond)
			for len(b) > 0 {
				n := len(b)
				if chunk > 0 && n > chunk {
					n = chunk
				}
				if _, err := c.Write(b[:n]); err != nil {
					break
				}
				b = b[n:]
				if chunk > 0 {
					time.Sleep(time.Millisecond)
				}
			}
			c.Close()
		}
	}()
	return s
}

// TestHTTPCheckerWire feeds the checker's own response parser answers that
// net/http's server does not send: chunked bodies, bodies ended by the
// close, short bodies, long header lines, answers in one-byte pieces and
// malformed ones.
func TestHTTPCheckerWire(t *testing.T) {
	long := strings.Repeat("x", 3000)
	tests := []struct {
		name    string
		respond string
		chunk   int
		url     healthcheck.URL
		proto   healthcheck.HTTPProtocol
		wantErr string
	}{
		{"content-length", "HTTP/1.0 200 OK\r\nContent-Length: 6\r\n\r\nhello\n", 0, healthcheck.URL{Path: "/", Digest: healthcheck.Digest([]byte("hello\n"))}, 0, ""},
		{"status without reason", "HTTP/1.0 200\r\nContent-Length: 6\r\n\r\nhello\n", 0, healthcheck.URL{Path: "/", Digest: healthcheck.Digest([]byte("hello\n"))}, 0, ""},
		{"bare LF line ends", "HTTP/1.0 200 OK\nContent-Length: 6\n\nhello\n", 0, healthcheck.URL{Path: "/", Digest: healthcheck.Digest([]byte("hello\n"))}, 0, ""},
		{"body to the close", "HTTP/1.0 200 OK\r\n\r\nhello\nworld\n", 0, healthcheck.URL{Path: "/", Digest: healthcheck.Digest([]byte("hello\nworld\n"))}, 0, ""},
		{"one byte at a time", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nhello\n\r\n0\r\n\r\n", 1, healthcheck.URL{Path: "/", Digest: healthcheck.Digest([]byte("hello\n"))}, healthcheck.HTTP11, ""},
		{"chunked", "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3;ext=1\r\nhel\r\n3\r\nlo\n\r\n0\r\nTrailer: x\r\n\r\n", 0, healthcheck.URL{Path: "/", Digest: healthcheck.Digest([]byte("hello\n"))}, healthcheck.HTTP11, ""},
		{"chunked ignored in HTTP/1.0", "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n", 0, healthcheck.URL{Path: "/", Digest: healthcheck.Digest([]byte("2\r\nok\r\n0\r\n\r\n"))}, 0, ""},
		{"bad chunk size", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nok\r\n0\r\n\r\n", 0, healthcheck.URL{Path: "/"}, healthcheck.HTTP11, `read body: bad chunk size "zz"`},
		{"body larger than the buffer", "HTTP/1.0 200 OK\r\nContent-Length: 3000\r\n\r\n" + long, 700, healthcheck.URL{Path: "/", Digest: healthcheck.Digest([]byte(long))}, 0, ""},
		{"long header line skipped", "HTTP/1.0 200 OK\r\nSet-Cookie: " + long + "\r\nContent-Length: 6\r\n\r\nhello\n", 0, healthcheck.URL{Path: "/", Digest: healthcheck.Digest([]byte("hello\n"))}, 0, ""},
		{"long content-length line", "HTTP/1.0 200 OK\r\nContent-Length: 6" + strings.Repeat(" ", 2000) + "\r\n\r\nhello\n", 0, healthcheck.URL{Path: "/"}, 0, `read response: header "Content-Length: 6`},
		{"short body, digest of what came", "HTTP/1.0 200 OK\r\nContent-Length: 60\r\n\r\nhello\n", 0, healthcheck.URL{Path: "/", Digest: healthcheck.Digest([]byte("hello\n"))}, 0, ""},
		{"short body without digest", "HTTP/1.0 200 OK\r\nContent-Length: 60\r\n\r\nhello\n", 0, healthcheck.URL{Path: "/"}, 0, "read body: unexpected EOF"},
		{"extra bytes after content-length ignored", "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nokjunk", 0, healthcheck.URL{Path: "/", Digest: healthcheck.Digest([]byte("ok"))}, 0, ""},
		{"no body on 204", "HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n", 0, healthcheck.URL{Path: "/", StatusCodes: []healthcheck.StatusRange{{204, 204}}, Digest: healthcheck.Digest(nil)}, 0, ""},
		{"bad content-length", "HTTP/1.0 200 OK\r\nContent-Length: 6x\r\n\r\nhello\n", 0, healthcheck.URL{Path: "/"}, 0, `read response: bad content-length "6x"`},
		{"conflicting content-lengths", "HTTP/1.0 200 OK\r\nContent-Length: 6\r\nContent-Length: 7\r\n\r\nhello\n", 0, healthcheck.URL{Path: "/"}, 0, "read response: bad content-length"},
		{"malformed status line", "HTTP/1.0 2OO OK\r\n\r\n", 0, healthcheck.URL{Path: "/"}, 0, `read response: malformed status line "HTTP/1.0 2OO OK"`},
		{"not http", "SSH-2.0-OpenSSH_9.2\r\n", 0, healthcheck.URL{Path: "/"}, 0, "read response: malformed status line"},
		{"long status line", "HTTP/1.0 200 " + long + "\r\n\r\n", 0, healthcheck.URL{Path: "/"}, 0, "read response: status line longer than"},
		{"closed before the head ends", "HTTP/1.0 200 OK\r\nContent-Le", 0, healthcheck.URL{Path: "/"}, 0, "read response: unexpected EOF"},
		{"closed at once", "", 0, healthcheck.URL{Path: "/"}, 0, "read response: unexpected EOF"},
		{"wrong status", "HTTP/1.0 500 Oops\r\nContent-Length: 0\r\n\r\n", 0, healthcheck.URL{Path: "/"}, 0, "status 500 not in [200-299]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newRawServer(t, tt.respond, tt.chunk)
			c := &healthcheck.HTTPChecker{Conn: healthcheck.Conn{Addr: addrOf(t, s.ln.Addr().String())}, Protocol: tt.proto, URLs: []healthcheck.URL{tt.url}}
			checkErr(t, probe(t, c, 5*time.Second), tt.wantErr)
		})
	}
}

// TestHTTPCheckerRequest pins the request bytes, as keepalived's
// check_http.c sends them, for every protocol and Host choice, and shows
// a checker reused after its URL changed sends the new request.
func TestHTTPCheckerRequest(t *testing.T) {
	s := newRawServer(t, "HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", 0)
	addr := addrOf(t, s.ln.Addr().String())
	c := &healthcheck.HTTPChecker{Conn: healthcheck.Conn{Addr: addr}, URLs: []healthcheck.URL{{Path: "/a"}}}
	var got []string
	step := func(change func()) {
		change()
		if err := probe(t, c, 5*time.Second); err != nil {
			t.Fatal(err)
		}
		got = append(got, <-s.requests)
	}
	step(func() {})
	step(func() {}) // the same checker again: the kept request
	step(func() { c.URLs[0].Path = "/b" })
	step(func() { c.Protocol = healthcheck.HTTP10Close })
	step(func() { c.Protocol, c.VirtualHost = healthcheck.HTTP11, "www.example.test" })
	step(func() { c.URLs[0].VirtualHost = "url.example.test" })
	h := "Host: " + addr.String()
	want := []string{
		"GET /a HTTP/1.0\r\nUser-Agent: KeepAliveClient\r\n" + h + "\r\n\r\n",
		"GET /a HTTP/1.0\r\nUser-Agent: KeepAliveClient\r\n" + h + "\r\n\r\n",
		"GET /b HTTP/1.0\r\nUser-Agent: KeepAliveClient\r\n" + h + "\r\n\r\n",
		"GET /b HTTP/1.0\r\nUser-Agent: KeepAliveClient\r\n" + h + "\r\nConnection: close\r\n\r\n",
		"GET /b HTTP/1.1\r\nUser-Agent: KeepAliveClient\r\nHost: www.example.test\r\nConnection: close\r\n\r\n",
		"GET /b HTTP/1.1\r\nUser-Agent: KeepAliveClient\r\nHost: url.example.test\r\nConnection: close\r\n\r\n",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
}

// TestHTTPCheckerClosesWithReset shows the checker ends its connection
// with a reset (SO_LINGER 0), so no TIME_WAIT is left on either side: the
// server, which answers and keeps the connection open, reads
// ECONNRESET, not the end of the stream a FIN would give.
func TestHTTPCheckerClosesWithReset(t *testing.T) {
	addr, got := serveOne(t, func(c net.Conn) error {
		r := bufio.NewReader(c)
		for {
			l, err := r.ReadString('\n')
			if err != nil || l == "\r\n" {
				break
			}
		}
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n")
		_, err := r.ReadByte()
		return err
	})
	c := &healthcheck.HTTPChecker{Conn: healthcheck.Conn{Addr: addr}, URLs: []healthcheck.URL{{Path: "/", Digest: healthcheck.Digest([]byte("ok\n"))}}}
	if err := probe(t, c, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := <-got; !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("server read %v, want %v", err, syscall.ECONNRESET)
	}
}

// TestTCPCheckerClosesWithReset: TCP_CHECK, which closes first, leaves no
// TIME_WAIT either; the server reads ECONNRESET.
func TestTCPCheckerClosesWithReset(t *testing.T) {
	addr, got := serveOne(t, func(c net.Conn) error {
		_, err := c.Read(make([]byte, 1))
		return err
	})
	c := &healthcheck.TCPChecker{Conn: healthcheck.Conn{Addr: addr}}
	if err := probe(t, c, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := <-got; !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("server read %v, want %v", err, syscall.ECONNRESET)
	}
}

// serveOne accepts one connection on a loopback listener (closed with the
// test), runs serve on it with a 5 s deadline and sends what it returns.
func serveOne(t *testing.T, serve func(net.Conn) error) (netip.AddrPort, <-chan error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	got := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- err
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		got <- serve(c)
	}()
	return addrOf(t, ln.Addr().String()), got
}

// TestHTTPCheckerConcurrent probes one checker from several goroutines at
// once (its kept state is taken by one probe at a time).
func TestHTTPCheckerConcurrent(t *testing.T) {
	s := newRawServer(t, "HTTP/1.0 200 OK\r\nContent-Length: 6\r\n\r\nhello\n", 0)
	c := &healthcheck.HTTPChecker{Conn: healthcheck.Conn{Addr: addrOf(t, s.ln.Addr().String())}, URLs: []healthcheck.URL{{Path: "/", Digest: healthcheck.Digest([]byte("hello\n"))}}}
	errs := make(chan error, 8)
	for range 8 {
		go func() {
			var err error
			for i := 0; i < 20 && err == nil; i++ {
				err = probe(t, c, 5*time.Second)
			}
			errs <- err
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Error(fmt.Errorf("concurrent probe: %w", err))
		}
	}
}
