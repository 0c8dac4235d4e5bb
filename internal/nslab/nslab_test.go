package nslab

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lvskit/lvskit/internal/script/scripttest"
	"golang.org/x/sys/unix"
)

// A process started with Host.Start lives in the host's namespace, not in
// the caller's: the demo relies on this to run directors without `ip`.
func TestIntegrationStartJoinsNamespace(t *testing.T) {
	lab := newTestLab(t)
	defer func() {
		if err := lab.Close(); err != nil {
			t.Error(err)
		}
	}()
	h, err := lab.Host("a")
	if err != nil {
		t.Fatal(err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(int(h.NsHandle()), &st); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	cmd := exec.Command("readlink", "/proc/self/ns/net")
	cmd.Stdout = &out
	if err := h.Start(cmd); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("net:[%d]", st.Ino)
	if got := strings.TrimSpace(out.String()); got != want {
		t.Errorf("child's namespace = %s, want the host's %s", got, want)
	}
	self, err := os.Readlink("/proc/self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	if self == want {
		t.Errorf("the test process itself ended up in the host's namespace")
	}
}

// newTestLab returns an empty lab with a random prefix: a fixed one
// collides with the same test run at the same time from another checkout,
// or left behind by a killed run. The caller closes it.
func newTestLab(t *testing.T) *Lab {
	t.Helper()
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("needs root and CI=true forbids skipping")
		}
		t.Skip("needs root")
	}
	var b [3]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	return New("lvtnslab" + hex.EncodeToString(b[:]))
}

// A process that its tracked parent left behind in a host's namespace (a
// daemon's child) dies when the lab closes.
func TestIntegrationCloseKillsOrphans(t *testing.T) {
	lab := newTestLab(t)
	closed := false
	defer func() {
		if !closed {
			_ = lab.Close()
		}
	}()
	h, err := lab.Host("a")
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	cmd := exec.Command("sh", "-c", "sleep 600 >/dev/null 2>&1 & echo $!")
	cmd.Stdout = &out
	if err := h.Start(cmd); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(out.String()))
	if err != nil {
		t.Fatalf("sh printed %q, want the pid of its background sleep", out.String())
	}
	if !scripttest.Alive(pid) {
		t.Fatalf("the orphan %d is not running before the lab closes", pid)
	}
	closed = true
	if err := lab.Close(); err != nil {
		t.Fatal(err)
	}
	for end := time.Now().Add(10 * time.Second); scripttest.Alive(pid); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(end) {
			_ = unix.Kill(pid, unix.SIGKILL)
			t.Fatalf("the orphan %d outlived its lab by 10 s", pid)
		}
	}
}
