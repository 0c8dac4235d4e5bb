package healthcheck

import (
	"bytes"
	"errors"
	"fmt"
	"io"
)

// respReader reads one HTTP/1.x response from r through buf: the status
// line and headers line by line, then the body as the headers frame it.
// Nothing is allocated; a line longer than buf is an error for the status
// line and for the headers a checker needs, and skipped for the others.
type respReader struct {
	r          io.Reader
	buf        []byte
	start, end int // unread bytes are buf[start:end]
	eof        bool
}

// respHead is what a checker needs of a response head.
type respHead struct {
	status        int
	minor         int   // HTTP/1.minor
	contentLength int64 // -1 when absent
	chunked       bool
}

var errLineTooLong = errors.New("line too long")

// fill reads more into buf after the unread bytes, moving them to the
// front first when buf is full. It returns io.EOF at the end of r.
func (rr *respReader) fill() error {
	if rr.eof {
		return io.EOF
	}
	if rr.start > 0 && rr.end == len(rr.buf) {
		rr.end = copy(rr.buf, rr.buf[rr.start:rr.end])
		rr.start = 0
	}
	if rr.end == len(rr.buf) {
		return errLineTooLong
	}
	for {
		n, err := rr.r.Read(rr.buf[rr.end:])
		rr.end += n
		if err == io.EOF {
			rr.eof = true
			if n > 0 {
				return nil
			}
			return io.EOF
		}
		if n > 0 || err != nil {
			return err
		}
	}
}

// line returns the next line without its line end. When the line is longer
// than buf it returns its first len(buf) bytes with errLineTooLong and
// drops the rest of the line.
func (rr *respReader) line() ([]byte, error) {
	for {
		if i := bytes.IndexByte(rr.buf[rr.start:rr.end], '\n'); i >= 0 {
			l := rr.buf[rr.start : rr.start+i]
			rr.start += i + 1
			return bytes.TrimSuffix(l, []byte{'\r'}), nil
		}
		err := rr.fill()
		if err == errLineTooLong {
			return rr.skipLine()
		}
		if err == io.EOF {
			return nil, io.ErrUnexpectedEOF
		}
		if err != nil {
			return nil, err
		}
	}
}

// skipLine drops the rest of a line that does not fit in buf. The first
// bytes of the line stay readable until the next read into buf.
func (rr *respReader) skipLine() ([]byte, error) {
	prefix := rr.buf[:min(32, rr.end)]
	rr.start = rr.end
	for {
		rr.start, rr.end = len(prefix), len(prefix)
		if err := rr.fill(); err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return prefix, err
		}
		if i := bytes.IndexByte(rr.buf[rr.start:rr.end], '\n'); i >= 0 {
			rr.start += i + 1
			return prefix, errLineTooLong
		}
	}
}

// readHead reads the status line and the headers.
func (rr *respReader) readHead() (respHead, error) {
	h := respHead{contentLength: -1}
	l, err := rr.line()
	if err == errLineTooLong {
		return h, fmt.Errorf("status line longer than %d bytes", len(rr.buf))
	}
	if err != nil {
		return h, err
	}
	// "HTTP/1.x NNN[ reason]"
	if len(l) < 12 || string(l[:7]) != "HTTP/1." || l[7] < '0' || l[7] > '9' || l[8] != ' ' ||
		l[9] < '1' || l[9] > '9' || !isDec(l[10]) || !isDec(l[11]) || (len(l) > 12 && l[12] != ' ') {
		return h, fmt.Errorf("malformed status line %q", truncate(l, 64))
	}
	h.minor = int(l[7] - '0')
	h.status = int(l[9]-'0')*100 + int(l[10]-'0')*10 + int(l[11]-'0')
	for {
		l, err := rr.line()
		if err == errLineTooLong {
			if headerIs(l, "content-length") || headerIs(l, "transfer-encoding") {
				return h, fmt.Errorf("header %q longer than %d bytes", truncate(l, 20), len(rr.buf))
			}
			continue
		}
		if err != nil {
			return h, err
		}
		if len(l) == 0 {
			return h, nil
		}
		switch {
		case headerIs(l, "content-length"):
			v := headerValue(l)
			n, ok := parseDecimal(v)
			if !ok || (h.contentLength >= 0 && n != h.contentLength) {
				return h, fmt.Errorf("bad content-length %q", truncate(v, 20))
			}
			h.contentLength = n
		case headerIs(l, "transfer-encoding"):
			// Only HTTP/1.1 has transfer codings; chunked is last if
			// present at all.
			v := bytes.TrimSpace(headerValue(l))
			if h.minor >= 1 && len(v) >= 7 && bytes.EqualFold(v[len(v)-7:], []byte("chunked")) {
				h.chunked = true
			}
		}
	}
}

// readBody reads the body framed by h into w (nil discards it): chunked,
// Content-Length bytes, or to the end of the connection. A body cut short
// returns io.ErrUnexpectedEOF after writing what came.
func (rr *respReader) readBody(h respHead, w io.Writer) error {
	if h.status/100 == 1 || h.status == 204 || h.status == 304 {
		return nil
	}
	if h.chunked {
		h.contentLength = -1
		for {
			l, err := rr.line()
			if err == errLineTooLong {
				return errors.New("chunk size line too long")
			}
			if err != nil {
				return err
			}
			if i := bytes.IndexByte(l, ';'); i >= 0 {
				l = l[:i]
			}
			n, ok := parseHex(bytes.TrimSpace(l))
			if !ok {
				return fmt.Errorf("bad chunk size %q", truncate(l, 20))
			}
			if n == 0 {
				return nil // trailers are not needed
			}
			if err := rr.copyN(w, n); err != nil {
				return err
			}
			if l, err := rr.line(); err != nil || len(l) != 0 {
				if err == nil {
					err = errors.New("chunk not followed by CRLF")
				}
				return err
			}
		}
	}
	if h.contentLength >= 0 {
		return rr.copyN(w, h.contentLength)
	}
	for {
		if rr.start < rr.end {
			if w != nil {
				w.Write(rr.buf[rr.start:rr.end])
			}
		}
		rr.start, rr.end = 0, 0
		if err := rr.fill(); err == io.EOF {
			return nil
		} else if err != nil {
			return err
		}
	}
}

// copyN writes the next n bytes to w (nil discards them).
func (rr *respReader) copyN(w io.Writer, n int64) error {
	for n > 0 {
		if rr.start == rr.end {
			rr.start, rr.end = 0, 0
			if err := rr.fill(); err == io.EOF {
				return io.ErrUnexpectedEOF
			} else if err != nil {
				return err
			}
		}
		k := int64(rr.end - rr.start)
		if k > n {
			k = n
		}
		if w != nil {
			w.Write(rr.buf[rr.start : rr.start+int(k)])
		}
		rr.start += int(k)
		n -= k
	}
	return nil
}

func isDec(b byte) bool { return b >= '0' && b <= '9' }

// headerIs reports whether header line l has the (lower case) name.
func headerIs(l []byte, name string) bool {
	if len(l) <= len(name) || l[len(name)] != ':' {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := l[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != name[i] {
			return false
		}
	}
	return true
}

func headerValue(l []byte) []byte {
	i := bytes.IndexByte(l, ':')
	return bytes.TrimSpace(l[i+1:])
}

// parseDecimal parses a non-negative decimal of at most 18 digits.
func parseDecimal(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 18 {
		return 0, false
	}
	var n int64
	for _, c := range b {
		if !isDec(c) {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// parseHex parses a chunk size of at most 15 hex digits.
func parseHex(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 15 {
		return 0, false
	}
	var n int64
	for _, c := range b {
		switch {
		case isDec(c):
			n = n<<4 | int64(c-'0')
		case c >= 'a' && c <= 'f':
			n = n<<4 | int64(c-'a'+10)
		case c >= 'A' && c <= 'F':
			n = n<<4 | int64(c-'A'+10)
		default:
			return 0, false
		}
	}
	return n, true
}

func truncate(b []byte, n int) []byte {
	if len(b) > n {
		return b[:n]
	}
	return b
}
