package peer

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
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
// its stderr) running in a network namespace.
type Keepalived struct {
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
	need(t, "keepalived")
	k, err := RunKeepalived(h.Host, t.TempDir(), config)
	if err != nil {
		t.Fatalf("peer: %v", err)
	}
	t.Cleanup(func() {
		k.Kill()
		if t.Failed() {
			t.Logf("keepalived in %s logged:\n%s", h.Name(), k.Log())
		}
	})
	return k
}

// RunKeepalived is StartKeepalived for programs (the benches): it writes
// config into dir, starts keepalived on it in host h with its pid files in
// dir, and returns an error rather than failing a test. The caller stops
// it (Stop or Kill); h's lab kills it when it closes if it still runs.
func RunKeepalived(h *nslab.Host, dir, config string) (*Keepalived, error) {
	bin, err := exec.LookPath("keepalived")
	if err != nil {
		return nil, fmt.Errorf("start keepalived: %w (run scripts/install-test-deps.sh)", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("start keepalived: %w", err)
	}
	conf := filepath.Join(dir, "keepalived.conf")
	if err := os.WriteFile(conf, []byte(config), 0o644); err != nil {
		return nil, fmt.Errorf("write keepalived config: %w", err)
	}
	k := &Keepalived{dir: dir, log: new(nslab.Buffer), done: make(chan struct{})}
	// Through `ip netns exec`, which also gives it the namespace's /sys.
	c := exec.Command("ip", "netns", "exec", h.Name(), bin,
		"--dont-fork", "--log-console", "--log-detail", "--vrrp",
		"--use-file", conf,
		"--pid", filepath.Join(dir, "keepalived.pid"),
		"--vrrp_pid", filepath.Join(dir, "vrrp.pid"),
	)
	c.Stdout, c.Stderr = k.log, k.log
	c.Dir = dir
	// A group of its own (ip execs keepalived, so the group is keepalived's
	// pid): Kill reaches the VRRP process with the parent in one call.
	c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := c.Start(); err != nil {
		return nil, fmt.Errorf("start keepalived in %s: %w", h.Name(), err)
	}
	h.Track(c)
	k.pid = c.Process.Pid
	go func() {
		_ = c.Wait()
		close(k.done)
	}()
	return k, nil
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

// VRRPPID is the pid of keepalived's VRRP child process (where the VRRP
// work happens), or 0 before it wrote its pid file.
func (k *Keepalived) VRRPPID() int {
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

// Kill ends keepalived abruptly: its process group, parent and VRRP
// process at once, so that neither sends anything more (the parent would
// otherwise tell its child to stop gracefully, and a parent that outlives
// its child by a moment starts another).
func (k *Keepalived) Kill() {
	k.stopped = true
	_ = syscall.Kill(-k.pid, syscall.SIGKILL)
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
