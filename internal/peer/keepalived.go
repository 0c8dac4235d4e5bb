package peer

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lvskit/lvskit/internal/netnstest"
	"github.com/lvskit/lvskit/internal/nslab"
)

// Keepalived is a keepalived process (VRRP only, foreground, logging to
// its stderr) running in a test host.
type Keepalived struct {
	t       testing.TB
	host    *netnstest.Host
	dir     string
	pid     int
	log     *nslab.Buffer
	done    chan struct{}
	stopped bool
}

// StartKeepalived writes config to a file and starts keepalived on it in
// host h. It is stopped (SIGKILL, if still running) when the test ends.
func StartKeepalived(t testing.TB, h *netnstest.Host, config string) *Keepalived {
	t.Helper()
	bin := need(t, "keepalived")
	dir := t.TempDir()
	conf := filepath.Join(dir, "keepalived.conf")
	if err := os.WriteFile(conf, []byte(config), 0o644); err != nil {
		t.Fatalf("peer: write keepalived config: %v", err)
	}
	k := &Keepalived{t: t, host: h, dir: dir, log: new(nslab.Buffer), done: make(chan struct{})}
	c := h.Command(context.Background(), bin,
		"--dont-fork", "--log-console", "--log-detail", "--vrrp",
		"--use-file", conf,
		"--pid", filepath.Join(dir, "keepalived.pid"),
		"--vrrp_pid", filepath.Join(dir, "vrrp.pid"),
	)
	c.Stdout, c.Stderr = k.log, k.log
	c.Dir = dir
	if err := c.Start(); err != nil {
		t.Fatalf("peer: start keepalived in %s: %v", h.Name(), err)
	}
	k.pid = c.Process.Pid
	go func() {
		_ = c.Wait()
		close(k.done)
	}()
	t.Cleanup(func() {
		k.Kill()
		if t.Failed() {
			t.Logf("keepalived in %s logged:\n%s", h.Name(), k.Log())
		}
	})
	return k
}

// Log returns what keepalived has logged so far.
func (k *Keepalived) Log() string { return k.log.String() }

// WaitLog waits until keepalived's log contains s, and reports whether it did
// before the timeout.
func (k *Keepalived) WaitLog(s string, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if strings.Contains(k.Log(), s) {
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return strings.Contains(k.Log(), s)
}

// vrrpPID is the pid of keepalived's VRRP child process, or 0.
func (k *Keepalived) vrrpPID() int {
	b, err := os.ReadFile(filepath.Join(k.dir, "vrrp.pid"))
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid
}

// Signal sends sig to keepalived's main process, which passes the
// signals it does not handle itself (its dump signals, for one) on to its
// VRRP child, as `kill -s SIG $(cat keepalived.pid)` does.
func (k *Keepalived) Signal(sig syscall.Signal) error {
	return syscall.Kill(k.pid, sig)
}

// Stop asks keepalived to stop (SIGTERM): it sends priority-0 adverts and
// removes its addresses. It waits up to 10 s for the process to end.
func (k *Keepalived) Stop() error {
	if k.stopped {
		return nil
	}
	k.stopped = true
	if err := syscall.Kill(k.pid, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
		return err
	}
	select {
	case <-k.done:
		return nil
	case <-time.After(10 * time.Second):
		k.Kill()
		return errors.New("keepalived did not stop within 10s of SIGTERM")
	}
}

// Kill ends keepalived abruptly, the VRRP child first so that it sends
// nothing more (the parent would otherwise tell it to stop gracefully).
func (k *Keepalived) Kill() {
	k.stopped = true
	if pid := k.vrrpPID(); pid > 0 {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	_ = syscall.Kill(k.pid, syscall.SIGKILL)
	select {
	case <-k.done:
	case <-time.After(5 * time.Second):
	}
}

// Exited reports whether the keepalived process has ended.
func (k *Keepalived) Exited() bool {
	select {
	case <-k.done:
		return true
	default:
		return false
	}
}
