// Package scripttest makes files, directories and links with the owners
// and modes that keepalived's script checks tell apart, and watches the
// processes scripts start, for the tests of internal/script, healthcheck
// and the director. Giving a file to another user needs root: Root skips
// the test without it.
package scripttest

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lvskit/lvskit/internal/script"
)

// Users are the identities the tests use: root and nobody:nogroup.
type Users struct {
	Root, Nobody, NobodyNogroup script.Identity
}

// Root skips t unless it runs as root on a host with the user nobody and
// the group nogroup, and returns them.
func Root(t testing.TB) Users {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to give files to other users and run programs as them")
	}
	root, err := script.Lookup("root", "")
	if err != nil {
		t.Skipf("no user root: %v", err)
	}
	nobody, err := script.Lookup("nobody", "")
	if err != nil {
		t.Skipf("no user nobody: %v", err)
	}
	ng, err := script.Lookup("nobody", "nogroup")
	if err != nil {
		t.Skipf("no group nogroup: %v", err)
	}
	return Users{Root: root, Nobody: nobody, NobodyNogroup: ng}
}

// Dir makes the directory root/p with mode (os.ModeSticky for the sticky
// bit) owned by uid.
func Dir(t testing.TB, root, p string, mode os.FileMode, uid uint32) string {
	t.Helper()
	full := filepath.Join(root, p)
	if err := os.Mkdir(full, 0o700); err != nil {
		t.Fatal(err)
	}
	chown(t, full, mode, uid, 0)
	return full
}

// File writes root/p as a shell script with body, with mode and owners.
func File(t testing.TB, root, p, body string, mode os.FileMode, uid, gid uint32) string {
	t.Helper()
	full := filepath.Join(root, p)
	if err := os.WriteFile(full, []byte("#!/bin/sh\n"+body+"\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	chown(t, full, mode, uid, gid)
	return full
}

// Link makes root/p a symbolic link to root/to, owned by uid.
func Link(t testing.TB, root, p, to string, uid uint32) string {
	t.Helper()
	full := filepath.Join(root, p)
	if err := os.Symlink(filepath.Join(root, to), full); err != nil {
		t.Fatal(err)
	}
	if err := os.Lchown(full, int(uid), 0); err != nil {
		t.Fatal(err)
	}
	return full
}

// PublicDir is a new directory under the system's temporary directory
// that other users may search and read (t.TempDir's are root's alone),
// removed when the test ends.
func PublicDir(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "lvskit-script-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

func chown(t testing.TB, p string, mode os.FileMode, uid, gid uint32) {
	t.Helper()
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Lchown(p, int(uid), int(gid)); err != nil {
		t.Fatal(err)
	}
}

// Write writes dir/name as an executable shell script with body, owned by
// whoever runs the test.
func Write(t testing.TB, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// ReadPID waits until file holds a line (a script writes its pid there
// once it has set itself up) and returns the number. The wait is bounded
// (30 s) only to end a broken test.
func ReadPID(t testing.TB, file string) int {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if b, err := os.ReadFile(file); err == nil && strings.HasSuffix(string(b), "\n") {
			pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
			if err != nil {
				t.Fatal(err)
			}
			return pid
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("no pid in %s", file)
	return 0
}

// Alive reports whether process pid runs (a zombie does not).
func Alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// The state follows the command name in parentheses.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i >= 0 && !strings.HasPrefix(s[i+1:], " Z")
}

// WaitGone waits until process pid has ended (a killed process is reaped
// by init, or left a zombie); after 30 s it kills it and fails t.
func WaitGone(t testing.TB, pid int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for Alive(pid) {
		if time.Now().After(deadline) {
			syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("process %d outlived the run", pid)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
