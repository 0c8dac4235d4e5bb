package main

import (
	"testing"
	"time"

	"github.com/lvskit/lvskit/internal/buildtest"
	"github.com/lvskit/lvskit/internal/netnstest"
	"github.com/lvskit/lvskit/internal/nslab"
)

// buildDirector compiles this command into a temporary folder.
func buildDirector(t *testing.T) string {
	t.Helper()
	return buildtest.Program(t, "github.com/lvskit/lvskit/examples/director")
}

// startDirector runs the director binary in h; when t ends it gets
// SIGTERM (SIGKILL after 10 s) and, if t failed, its log is shown.
func startDirector(t *testing.T, h *netnstest.Host, bin string, args ...string) *nslab.Proc {
	t.Helper()
	p, err := h.StartProc("director", append([]string{bin}, args...)...)
	if err != nil {
		t.Fatalf("start director: %v", err)
	}
	t.Cleanup(func() {
		_ = p.Terminate(10 * time.Second)
		if t.Failed() {
			t.Logf("director log:\n%s", p.Output())
		}
	})
	return p
}

// waitFor polls cond until it holds or timeout passes.
func waitFor(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(100 * time.Millisecond)
	}
}
