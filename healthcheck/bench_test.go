package healthcheck_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/lvskit/lvskit/healthcheck"
)

// BenchmarkHTTPCheck is one HTTP_GET probe (connect, request, response,
// MD5) against a loopback server, to see what a probe costs.
func BenchmarkHTTPCheck(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok\n") }))
	defer srv.Close()
	ap := srv.Listener.Addr().String()
	c := &healthcheck.HTTPChecker{URLs: []healthcheck.URL{{Path: "/", Digest: healthcheck.Digest([]byte("ok\n"))}}}
	c.Addr = mustAddrPort(ap)
	b.ReportAllocs()
	for b.Loop() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := c.Check(ctx); err != nil {
			b.Fatal(err)
		}
		cancel()
	}
}

// BenchmarkTCPCheck is one TCP_CHECK probe against a loopback listener.
func BenchmarkTCPCheck(b *testing.B) {
	srv := httptest.NewServer(http.NotFoundHandler())
	defer srv.Close()
	c := &healthcheck.TCPChecker{Conn: healthcheck.Conn{Addr: mustAddrPort(srv.Listener.Addr().String())}}
	b.ReportAllocs()
	for b.Loop() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := c.Check(ctx); err != nil {
			b.Fatal(err)
		}
		cancel()
	}
}
