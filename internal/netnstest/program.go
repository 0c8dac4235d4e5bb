package netnstest

import (
	"time"

	"github.com/lvskit/lvskit/internal/nslab"
)

// Program runs the program at bin with args inside the host, in a process
// group of its own, named name. When the test ends it gets SIGTERM (SIGKILL
// after 10 s) and, if the test failed, its output is logged.
func (h *Host) Program(name, bin string, args ...string) *nslab.Proc {
	h.t.Helper()
	p, err := h.StartProc(name, append([]string{bin}, args...)...)
	if err != nil {
		h.t.Fatalf("netnstest: start %s: %v", name, err)
	}
	t := h.t
	t.Cleanup(func() {
		_ = p.Terminate(10 * time.Second)
		if t.Failed() {
			t.Logf("log of %s:\n%s", name, p.Output())
		}
	})
	return p
}

// WaitFor polls cond every 100 ms until it holds or timeout passes, and
// reports whether it held. It waits for a state, never to prove a timing.
func WaitFor(timeout time.Duration, cond func() bool) bool {
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
