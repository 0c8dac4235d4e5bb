package healthcheck

import (
	"bufio"
	"context"
	"crypto/md5"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
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
	for i := range c.URLs {
		if err := c.get(ctx, &c.URLs[i]); err != nil {
			return fmt.Errorf("%s check %s%s: %w", kind, c.Addr, c.URLs[i].Path, err)
		}
	}
	return nil
}

func (c *HTTPChecker) get(ctx context.Context, u *URL) error {
	host := u.VirtualHost
	if host == "" {
		host = c.VirtualHost
	}
	if host == "" {
		host = c.Addr.String()
	}
	conn, err := c.dial(ctx, "tcp")
	if err != nil {
		return fmt.Errorf("connect: %w", ctxErr(ctx, err))
	}
	defer conn.Close()
	stop := watch(ctx, conn)
	defer stop()
	if c.TLS != nil {
		tc := c.tlsConfig(u)
		tconn := tls.Client(conn, tc)
		if err := tconn.HandshakeContext(ctx); err != nil {
			return fmt.Errorf("tls handshake: %w", ctxErr(ctx, err))
		}
		conn = tconn
	}
	var b strings.Builder
	b.Grow(96 + len(u.Path) + len(host))
	b.WriteString("GET ")
	b.WriteString(u.Path)
	switch c.Protocol {
	case HTTP11:
		b.WriteString(" HTTP/1.1\r\n")
	default:
		b.WriteString(" HTTP/1.0\r\n")
	}
	b.WriteString("User-Agent: KeepAliveClient\r\nHost: ")
	b.WriteString(host)
	b.WriteString("\r\n")
	if c.Protocol != HTTP10 {
		b.WriteString("Connection: close\r\n")
	}
	b.WriteString("\r\n")
	if _, err := io.WriteString(conn, b.String()); err != nil {
		return fmt.Errorf("send request: %w", ctxErr(ctx, err))
	}
	br := readers.Get().(*bufio.Reader)
	br.Reset(conn)
	defer func() { br.Reset(nil); readers.Put(br) }()
	resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodGet})
	if err != nil {
		return fmt.Errorf("read response: %w", ctxErr(ctx, err))
	}
	defer resp.Body.Close()
	codes := u.StatusCodes
	if len(codes) == 0 {
		codes = defaultStatus
	}
	if !statusOK(codes, resp.StatusCode) {
		return fmt.Errorf("status %d not in %s", resp.StatusCode, rangesString(codes))
	}
	if u.Digest == "" {
		if _, err := io.Copy(io.Discard, resp.Body); err != nil {
			return fmt.Errorf("read body: %w", ctxErr(ctx, err))
		}
		return nil
	}
	h := md5.New()
	buf := copyBufs.Get().(*[]byte)
	_, err = io.CopyBuffer(h, resp.Body, *buf)
	copyBufs.Put(buf)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("read body: %w", ctxErr(ctx, err))
	}
	got := hex.EncodeToString(h.Sum(nil))
	if !strings.EqualFold(got, strings.TrimSpace(u.Digest)) {
		return fmt.Errorf("digest %s, want %s", got, strings.ToLower(u.Digest))
	}
	return nil
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

// readers recycles response buffers: ten thousand targets probed every
// second would otherwise allocate 40 MB/s of them.
var readers = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 4096) }}

// copyBufs spares io.Copy its 32 KiB buffer per digest.
var copyBufs = sync.Pool{New: func() any { b := make([]byte, 4096); return &b }}

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
