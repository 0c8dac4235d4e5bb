// Package sdnotifytest listens as systemd does for a service's
// notifications (sd_notify(3)), so that tests see what a service tells
// its manager.
package sdnotifytest

import (
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Socket is a datagram socket standing for systemd's notify socket.
type Socket struct {
	// Path is the socket's path, what NOTIFY_SOCKET names.
	Path string
	c    *net.UnixConn
}

// Listen opens a notify socket in a temporary folder and points
// NOTIFY_SOCKET at it (for this process and the ones it starts); it is
// closed when t ends.
func Listen(t *testing.T) *Socket {
	t.Helper()
	return ListenAt(t, filepath.Join(t.TempDir(), "notify"))
}

// ListenAt is Listen on the socket name: a path, or with a leading '@' a
// name in the abstract namespace.
func ListenAt(t *testing.T, name string) *Socket {
	t.Helper()
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		t.Fatalf("sdnotifytest: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	t.Setenv("NOTIFY_SOCKET", name)
	return &Socket{Path: name, c: c}
}

// Next returns the assignments of the next datagram, waiting up to
// timeout for it; ok is false when none came.
func (s *Socket) Next(timeout time.Duration) (assignments []string, ok bool) {
	buf := make([]byte, 4096)
	_ = s.c.SetReadDeadline(time.Now().Add(timeout))
	n, err := s.c.Read(buf)
	if err != nil {
		return nil, false
	}
	return strings.Split(strings.TrimSuffix(string(buf[:n]), "\n"), "\n"), true
}
