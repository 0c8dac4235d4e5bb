package peer

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lvskit/lvskit/internal/netnstest"
	"github.com/lvskit/lvskit/internal/nslab"
)

// FRRConfig is what an FRR router runs: bgpd's and bfdd's configuration
// files (FRR's own syntax). An empty BFD runs bfdd with no configuration,
// which is enough for "neighbor X bfd" with the default timers.
type FRRConfig struct {
	BGP string
	BFD string
}

// FRR is an FRR router in a test host: zebra (which installs the routes
// in the host's kernel), bfdd and bgpd, each in the foreground with its
// own pid file, logging to a buffer, with their vty sockets in a directory
// of the test's (so several routers and the machine's own FRR never meet).
type FRR struct {
	t     testing.TB
	host  *netnstest.Host
	dir   string
	log   *nslab.Buffer
	procs map[string]*exec.Cmd
	done  map[string]chan struct{}
}

// frrDaemons are started in this order: zebra first, whose socket the
// others connect to.
var frrDaemons = []string{"zebra", "bfdd", "bgpd"}

// StartFRR starts zebra, bfdd and bgpd in host h with config and waits
// until bgpd answers on its vty. They are killed when the test ends, and
// their log is printed if it failed.
func StartFRR(t testing.TB, h *netnstest.Host, config FRRConfig) *FRR {
	t.Helper()
	const sbin = "/usr/lib/frr" // Debian's frr package
	need(t, "vtysh")
	need(t, filepath.Join(sbin, "bgpd"))
	u, err := user.Lookup("frr")
	if err != nil {
		t.Fatalf("peer: FRR's user: %v", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	// The daemons drop to user frr, so their directory must be theirs and
	// reachable: not under the test's 0700 temporary directory.
	dir, err := os.MkdirTemp("", "lvskit-frr-")
	if err != nil {
		t.Fatalf("peer: FRR directory: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	files := map[string]string{"bgpd.conf": config.BGP, "bfdd.conf": config.BFD, "zebra.conf": ""}
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o640); err != nil {
			t.Fatalf("peer: write %s: %v", name, err)
		}
		if err := os.Chown(p, uid, gid); err != nil {
			t.Fatalf("peer: chown %s: %v", name, err)
		}
	}
	if err := os.Chown(dir, uid, gid); err != nil {
		t.Fatalf("peer: chown FRR directory: %v", err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatalf("peer: chmod FRR directory: %v", err)
	}

	f := &FRR{t: t, host: h, dir: dir, log: new(nslab.Buffer),
		procs: make(map[string]*exec.Cmd), done: make(map[string]chan struct{})}
	t.Cleanup(func() {
		f.Kill()
		if t.Failed() {
			t.Logf("FRR in %s logged:\n%s", h.Name(), f.Log())
		}
	})
	zserv := filepath.Join(dir, "zserv.api")
	for _, d := range frrDaemons {
		args := []string{
			"-u", "frr", "-g", "frr",
			"--vty_socket", dir,
			"-z", zserv,
			"-i", filepath.Join(dir, d+".pid"),
			"-f", filepath.Join(dir, d+".conf"),
			"--log", "stdout",
			"-P", "0", // no vty on TCP: the unix socket is enough
		}
		if d == "bfdd" {
			args = append(args, "--bfdctl", filepath.Join(dir, "bfdd.sock"))
		}
		c := exec.Command(filepath.Join(sbin, d), args...)
		c.Stdout, c.Stderr = prefixWriter{f.log, d + ": "}, prefixWriter{f.log, d + ": "}
		c.Dir = dir
		if err := h.Start(c); err != nil {
			t.Fatalf("peer: %v", err)
		}
		done := make(chan struct{})
		go func() { _ = c.Wait(); close(done) }()
		f.procs[d], f.done[d] = c, done
		// The others connect to zebra's socket and to their own vty.
		sock := zserv
		if d != "zebra" {
			sock = filepath.Join(dir, d+".vty")
		}
		if !waitFile(sock, 20*time.Second, done) {
			t.Fatalf("peer: FRR's %s in %s did not come up\n%s", d, h.Name(), f.Log())
		}
	}
	return f
}

func waitFile(p string, timeout time.Duration, died <-chan struct{}) bool {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if _, err := os.Stat(p); err == nil {
			return true
		}
		select {
		case <-died:
			return false
		case <-time.After(20 * time.Millisecond):
		}
	}
	return false
}

// prefixWriter writes to a shared buffer; each daemon's lines carry its
// name, which FRR's own log lines (BGP:, BFD:, ZEBRA:) mostly do too.
type prefixWriter struct {
	b      *nslab.Buffer
	prefix string
}

func (w prefixWriter) Write(p []byte) (int, error) {
	_, _ = w.b.Write([]byte(w.prefix))
	return w.b.Write(p)
}

// Log is what the daemons have logged so far.
func (f *FRR) Log() string { return f.log.String() }

// Dir is the directory of the daemons' sockets, pid files and configs.
func (f *FRR) Dir() string { return f.dir }

// Vtysh runs one vtysh command against this router's daemons and returns
// its output.
func (f *FRR) Vtysh(command string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "vtysh", "--vty_socket", f.dir, "-c", command).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("vtysh -c %q: %w: %s", command, err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

// VtyshJSON runs a "show ... json" command and decodes its output into v.
func (f *FRR) VtyshJSON(command string, v any) error {
	out, err := f.Vtysh(command)
	if err != nil {
		return err
	}
	if err := json.Unmarshal([]byte(out), v); err != nil {
		return fmt.Errorf("vtysh -c %q: decode: %w: %.300s", command, err, out)
	}
	return nil
}

// Kill ends the daemons (SIGKILL) and waits for them.
func (f *FRR) Kill() {
	for i := len(frrDaemons) - 1; i >= 0; i-- {
		c := f.procs[frrDaemons[i]]
		if c == nil || c.Process == nil {
			continue
		}
		_ = c.Process.Signal(syscall.SIGKILL)
		select {
		case <-f.done[frrDaemons[i]]:
		case <-time.After(5 * time.Second):
		}
	}
}
