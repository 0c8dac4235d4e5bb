package healthcheck

import (
	"context"
	"crypto/md5"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unsafe"
)

// StatusRange is an inclusive range of HTTP status codes.
type StatusRange struct{ Min, Max int }

func (r StatusRange) String() string {
	if r.Min == r.Max {
		return strconv.Itoa(r.Min)
	}
	return fmt.Sprintf("%d-%d", r.Min, r.Max)
}

// ParseStatusCodes parses keepalived's status_code arguments: codes and
// ranges separated by spaces or commas, as in "200 201-204".
func ParseStatusCodes(s string) ([]StatusRange, error) {
	var out []StatusRange
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ' ' || r == ',' || r == '\t' }) {
		lo, hi, isRange := strings.Cut(f, "-")
		a, err := strconv.Atoi(lo)
		if err != nil {
			return nil, fmt.Errorf("parse status code %q: not a number", f)
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(hi); err != nil {
				return nil, fmt.Errorf("parse status code %q: not a number", f)
			}
		}
		if a < 100 || b > 599 || a > b {
			return nil, fmt.Errorf("parse status code %q: outside 100-599 or reversed", f)
		}
		out = append(out, StatusRange{a, b})
	}
	if len(out) == 0 {
		return nil, errors.New("parse status codes: empty")
	}
	return out, nil
}

// URL is one url block of an HTTP_GET or SSL_GET checker.
type URL struct {
	// Path is the request target, such as "/health". Required.
	Path string
	// Digest, when set, is the MD5 of the response body as lowercase hex,
	// as keepalived's genhash prints it (case is ignored).
	Digest string
	// StatusCodes accepted; empty means 200-299 (keepalived's default).
	StatusCodes []StatusRange
	// VirtualHost overrides the checker's VirtualHost for this url.
	VirtualHost string
}

// HTTPProtocol is the HTTP version a checker speaks (keepalived's
// http_protocol).
type HTTPProtocol uint8

// HTTP protocols.
const (
	HTTP10      HTTPProtocol = iota // HTTP/1.0, keepalived's default
	HTTP10Close                     // HTTP/1.0 with "Connection: close" (keepalived's 1.0C)
	HTTP11                          // HTTP/1.1 with "Connection: close"
)

// HTTPChecker is keepalived's HTTP_GET, and SSL_GET when TLS is set: every
// URL is fetched in turn on a new connection and must answer with an
// accepted status (and digest); the first failure fails the probe. The
// digest covers the body as delivered: up to Content-Length, or to the end
// of the connection, de-chunked if the server chunks an HTTP/1.1 answer.
// keepalived's regex matching is not implemented.
type HTTPChecker struct {
	Conn
	URLs []URL
	// VirtualHost is the Host header; empty means the target address.
	VirtualHost string
	Protocol    HTTPProtocol
	// TLS makes this an SSL_GET.
	TLS *TLSOptions

	// state is the *httpState kept between probes (see takeState). Not an
	// atomic.Pointer, so a checker may be copied (a copy may then start
	// with the original's state, which takeState checks).
	state unsafe.Pointer
}

// TLSOptions are SSL_GET's settings.
type TLSOptions struct {
	// ServerName is sent as SNI. When empty, EnableSNI sends the url's or
	// checker's VirtualHost (keepalived's enable_sni); otherwise no SNI is
	// sent, as keepalived does by default.
	ServerName string
	EnableSNI  bool
	// Verify checks the server's certificate against RootCAs (or the system
	// pool) and ServerName. Off by default, as in keepalived.
	Verify bool
	// Config, when set, is used as the base tls.Config (client
	// certificates, roots); ServerName and InsecureSkipVerify are set from
	// the fields above.
	Config *tls.Config
}

var _ Checker = (*HTTPChecker)(nil)

func (c *HTTPChecker) kind() kind {
	if c.TLS != nil {
		return kindSSL
	}
	return kindHTTP
}

func (c *HTTPChecker) String() string {
	scheme := "http"
	if c.TLS != nil {
		scheme = "https"
	}
	path := ""
	if len(c.URLs) > 0 {
		path = c.URLs[0].Path
	}
	return scheme + "://" + c.Addr.String() + path
}

// Check fetches every URL.
func (c *HTTPChecker) Check(ctx context.Context) error {
	kind := "http"
	if c.TLS != nil {
		kind = "ssl"
	}
	if err := c.validate(kind); err != nil {
		return err
	}
	if len(c.URLs) == 0 {
		return fmt.Errorf("%s check %s: no url", kind, c.Addr)
	}
	st := c.takeState()
	defer c.putState(st)
	for i := range c.URLs {
		if err := c.get(ctx, st, i); err != nil {
			return fmt.Errorf("%s check %s%s: %w", kind, c.Addr, c.URLs[i].Path, err)
		}
	}
	return nil
}

// get fetches URL i on a new connection.
func (c *HTTPChecker) get(ctx context.Context, st *httpState, i int) error {
	u := &c.URLs[i]
	var conn io.ReadWriteCloser
	var deadliner interface{ SetDeadline(time.Time) error }
	if c.TLS == nil {
		f, err := c.openTCP(st.name)
		if err != nil {
			return fmt.Errorf("connect: %w", err)
		}
		conn, deadliner = f, f
	} else {
		nc, err := c.dial(ctx, "tcp")
		if err != nil {
			return fmt.Errorf("connect: %w", ctxErr(ctx, err))
		}
		if tc, ok := nc.(*net.TCPConn); ok {
			tc.SetLinger(0) // close with RST, as for plain HTTP (see openTCP)
		}
		conn, deadliner = nc, nc
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		deadliner.SetDeadline(dl)
	}
	stop := watch(ctx, deadliner)
	defer stop()
	if c.TLS != nil {
		tconn := tls.Client(conn.(net.Conn), c.tlsConfig(u))
		if err := tconn.HandshakeContext(ctx); err != nil {
			return fmt.Errorf("tls handshake: %w", ctxErr(ctx, err))
		}
		conn = tconn
	}
	// On a socket of our own (plain HTTP), the write also completes the
	// connection: it waits for the handshake, or fails with its error.
	if n, err := conn.Write(st.reqs[i]); err != nil {
		if n == 0 && c.TLS == nil {
			return fmt.Errorf("connect: %w", ctxErr(ctx, err))
		}
		return fmt.Errorf("send request: %w", ctxErr(ctx, err))
	}
	r := respReader{r: conn, buf: st.buf[:]}
	head, err := r.readHead()
	if err != nil {
		return fmt.Errorf("read response: %w", ctxErr(ctx, err))
	}
	codes := u.StatusCodes
	if len(codes) == 0 {
		codes = defaultStatus
	}
	if !statusOK(codes, head.status) {
		return fmt.Errorf("status %d not in %s", head.status, rangesString(codes))
	}
	want := st.digests[i]
	if !want.set {
		if err := r.readBody(head, nil); err != nil {
			return fmt.Errorf("read body: %w", ctxErr(ctx, err))
		}
		return nil
	}
	st.md5.Reset()
	if err := r.readBody(head, st.md5); err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("read body: %w", ctxErr(ctx, err))
	}
	got := st.md5.Sum(st.sum[:0])
	if !want.valid || [16]byte(got) != want.sum {
		return fmt.Errorf("digest %s, want %s", hex.EncodeToString(got), strings.ToLower(u.Digest))
	}
	return nil
}

// httpState is what an HTTPChecker keeps from one probe to the next: the
// requests already serialized, the expected digests decoded, one read
// buffer (status line, headers and body all pass through it) and one MD5
// state, so a probe allocates nothing beyond its connection. A probe takes
// the state and gives it back; a concurrent probe of the same checker
// builds one of its own.
type httpState struct {
	// what the requests were built from, to notice a changed checker
	addr     netip.AddrPort
	vhost    string
	protocol HTTPProtocol
	paths    []string
	hosts    []string
	wants    []string

	name    string   // the socket's name in errors: "tcp <addr>"
	reqs    [][]byte // one request per URL
	digests []digest // one per URL
	md5     hash.Hash
	sum     [md5.Size]byte
	buf     [httpBufSize]byte
}

// httpBufSize bounds the status line; longer header lines are skipped
// unless the checker needs them. Bodies stream through the buffer.
const httpBufSize = 1024

type digest struct {
	set, valid bool // a digest is wanted; it is 32 hex digits
	sum        [md5.Size]byte
}

func (c *HTTPChecker) takeState() *httpState {
	st := (*httpState)(atomic.SwapPointer(&c.state, nil))
	if st == nil || !st.matches(c) {
		st = newHTTPState(c)
	}
	return st
}

func (c *HTTPChecker) putState(st *httpState) {
	atomic.CompareAndSwapPointer(&c.state, nil, unsafe.Pointer(st))
}

func (st *httpState) matches(c *HTTPChecker) bool {
	if st.addr != c.Addr || st.vhost != c.VirtualHost || st.protocol != c.Protocol || len(st.paths) != len(c.URLs) {
		return false
	}
	for i := range c.URLs {
		u := &c.URLs[i]
		if st.paths[i] != u.Path || st.hosts[i] != u.VirtualHost || st.wants[i] != u.Digest {
			return false
		}
	}
	return true
}

func newHTTPState(c *HTTPChecker) *httpState {
	st := &httpState{addr: c.Addr, vhost: c.VirtualHost, protocol: c.Protocol, name: "tcp " + c.Addr.String(), md5: md5.New()}
	for i := range c.URLs {
		u := &c.URLs[i]
		st.paths = append(st.paths, u.Path)
		st.hosts = append(st.hosts, u.VirtualHost)
		st.wants = append(st.wants, u.Digest)
		st.reqs = append(st.reqs, c.request(u))
		var d digest
		if u.Digest != "" {
			d.set = true
			b, err := hex.DecodeString(strings.TrimSpace(u.Digest))
			if err == nil && len(b) == md5.Size {
				d.valid = true
				copy(d.sum[:], b)
			}
		}
		st.digests = append(st.digests, d)
	}
	return st
}

// request returns the request for u as keepalived's check_http.c writes
// it: "GET <path> HTTP/1.0", User-Agent KeepAliveClient, the Host header
// (virtualhost, else the target address), and "Connection: close" for
// HTTP/1.0C and 1.1.
func (c *HTTPChecker) request(u *URL) []byte {
	host := u.VirtualHost
	if host == "" {
		host = c.VirtualHost
	}
	if host == "" {
		host = c.Addr.String()
	}
	b := make([]byte, 0, 96+len(u.Path)+len(host))
	b = append(b, "GET "...)
	b = append(b, u.Path...)
	if c.Protocol == HTTP11 {
		b = append(b, " HTTP/1.1\r\n"...)
	} else {
		b = append(b, " HTTP/1.0\r\n"...)
	}
	b = append(b, "User-Agent: KeepAliveClient\r\nHost: "...)
	b = append(b, host...)
	b = append(b, "\r\n"...)
	if c.Protocol != HTTP10 {
		b = append(b, "Connection: close\r\n"...)
	}
	return append(b, "\r\n"...)
}

func (c *HTTPChecker) tlsConfig(u *URL) *tls.Config {
	var tc *tls.Config
	if c.TLS.Config != nil {
		tc = c.TLS.Config.Clone()
	} else {
		tc = &tls.Config{}
	}
	tc.ServerName = c.TLS.ServerName
	if tc.ServerName == "" && c.TLS.EnableSNI {
		tc.ServerName = u.VirtualHost
		if tc.ServerName == "" {
			tc.ServerName = c.VirtualHost
		}
	}
	if h, _, err := net.SplitHostPort(tc.ServerName); err == nil {
		tc.ServerName = h
	}
	tc.InsecureSkipVerify = !c.TLS.Verify
	return tc
}

var defaultStatus = []StatusRange{{200, 299}}

func statusOK(codes []StatusRange, code int) bool {
	for _, r := range codes {
		if code >= r.Min && code <= r.Max {
			return true
		}
	}
	return false
}

func rangesString(rs []StatusRange) string {
	parts := make([]string, len(rs))
	for i, r := range rs {
		parts[i] = r.String()
	}
	return "[" + strings.Join(parts, " ") + "]"
}

// Digest returns the MD5 of body as keepalived's genhash prints it:
// 32 lowercase hex digits.
func Digest(body []byte) string {
	s := md5.Sum(body)
	return hex.EncodeToString(s[:])
}
