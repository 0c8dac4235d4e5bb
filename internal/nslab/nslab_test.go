package nslab

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// A process started with Host.Start lives in the host's namespace, not in
// the caller's: the demo relies on this to run directors without `ip`.
func TestIntegrationStartJoinsNamespace(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("needs root and CI=true forbids skipping")
		}
		t.Skip("needs root")
	}
	// A prefix of its own: a fixed one collides with the same test run at
	// the same time from another checkout, or left behind by a killed run.
	var b [3]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	lab := New("lvtnslab" + hex.EncodeToString(b[:]))
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
