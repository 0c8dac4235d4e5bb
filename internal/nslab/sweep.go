package nslab

import (
	"fmt"
	"os"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"
)

// killStragglers sends SIGKILL to every process, other than this one,
// whose network namespace is h's. Tracked commands are killed by pid
// first; this catches what they left: a daemon's child that lost its
// parent (keepalived's VRRP process, respawned by a parent killed a
// moment later) keeps the namespace, and the test's name for it, alive
// long after the lab is gone.
func (h *Host) killStragglers() {
	var st unix.Stat_t
	if err := unix.Fstat(int(h.ns), &st); err != nil {
		return
	}
	want := fmt.Sprintf("net:[%d]", st.Ino)
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return
	}
	self := os.Getpid()
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		if link, err := os.Readlink("/proc/" + e.Name() + "/ns/net"); err == nil && link == want {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}
