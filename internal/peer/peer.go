// Package peer runs programs nobody in this project wrote as test peers
// inside netnstest hosts: keepalived as a VRRP router and tshark as the
// judge of what went over the wire.
//
// The programs come from Debian (scripts/install-test-deps.sh installs
// them). A missing program skips the test, or fails it under CI=true.
package peer

import (
	"bytes"
	"os"
	"os/exec"
	"sync"
	"testing"
)

// need finds a program or skips (fails under CI=true) the test.
func need(t testing.TB, prog string) string {
	t.Helper()
	p, err := exec.LookPath(prog)
	if err == nil {
		return p
	}
	msg := "peer: " + prog + " not installed; run scripts/install-test-deps.sh"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// lockedBuffer collects a process's output while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
