package healthcheck

import (
	"bufio"
	"bytes"
	"crypto/md5"
	"io"
	"net/http"
	"testing"
	"testing/iotest"
)

// FuzzRespReader feeds the hand-written response parser arbitrary bytes,
// whole and one byte per read, through a small buffer. It must not panic,
// must agree with itself whatever the reads, and, for answers net/http
// also takes with a Content-Length or to-the-close body, must find the
// same status and body.
func FuzzRespReader(f *testing.F) {
	for _, s := range []string{
		"HTTP/1.0 200 OK\r\nContent-Length: 6\r\n\r\nhello\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;x\r\nhel\r\n3\r\nlo\n\r\n0\r\n\r\n",
		"HTTP/1.0 404 Not Found\r\n\r\nnope",
		"HTTP/1.1 204 No Content\r\n\r\n",
		"HTTP/1.0 200 OK\r\nX-Long: " + string(bytes.Repeat([]byte("y"), 100)) + "\r\n\r\nbody",
		"HTTP/1.0 2x0 OK\r\n\r\n",
		"HTTP/1.0 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		type result struct {
			head respHead
			body []byte
			err  string
		}
		parse := func(r io.Reader) result {
			rr := respReader{r: r, buf: make([]byte, 64)}
			h, err := rr.readHead()
			if err != nil {
				return result{err: "head: " + err.Error()}
			}
			var body bytes.Buffer
			if err := rr.readBody(h, &body); err != nil {
				return result{head: h, body: body.Bytes(), err: "body: " + err.Error()}
			}
			if h.status < 100 || h.status > 999 {
				t.Errorf("status %d from %q", h.status, in)
			}
			return result{head: h, body: body.Bytes()}
		}
		whole := parse(bytes.NewReader(in))
		pieces := parse(iotest.OneByteReader(bytes.NewReader(in)))
		if whole.head != pieces.head || !bytes.Equal(whole.body, pieces.body) || whole.err != pieces.err {
			t.Fatalf("whole %+v, one byte at a time %+v", whole, pieces)
		}
		if whole.err != "" || whole.head.chunked || whole.head.status/100 == 1 {
			return
		}
		// Lines of net/http's are limited only by its 4 KiB buffer.
		resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(in)), &http.Request{Method: http.MethodGet})
		if err != nil || len(resp.TransferEncoding) > 0 {
			return
		}
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			return
		}
		if resp.StatusCode != whole.head.status || md5.Sum(body) != md5.Sum(whole.body) {
			t.Errorf("net/http: %d %q; ours: %d %q", resp.StatusCode, body, whole.head.status, whole.body)
		}
	})
}
