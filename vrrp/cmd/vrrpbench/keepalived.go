package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/lvskit/lvskit/internal/nslab"
)

// keepalived is a keepalived process (VRRP only) in a lab host.
type keepalived struct {
	dir  string
	cmd  *exec.Cmd
	mu   sync.Mutex
	log  bytes.Buffer
	done chan struct{}
}

type lockedWriter struct{ k *keepalived }

func (w lockedWriter) Write(p []byte) (int, error) {
	w.k.mu.Lock()
	defer w.k.mu.Unlock()
	return w.k.log.Write(p)
}

func startKeepalived(h *nslab.Host, dir, conf string) (*keepalived, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	cf := filepath.Join(dir, "keepalived.conf")
	if err := os.WriteFile(cf, []byte(conf), 0o644); err != nil {
		return nil, err
	}
	k := &keepalived{dir: dir, done: make(chan struct{})}
	k.cmd = exec.Command("ip", "netns", "exec", h.Name(), "keepalived", "--dont-fork", "--log-console", "--vrrp",
		"--use-file", cf, "--pid", filepath.Join(dir, "k.pid"), "--vrrp_pid", filepath.Join(dir, "vrrp.pid"))
	k.cmd.Stdout, k.cmd.Stderr = lockedWriter{k}, lockedWriter{k}
	if err := k.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start keepalived: %w", err)
	}
	h.Track(k.cmd)
	go func() { k.cmd.Wait(); close(k.done) }()
	return k, nil
}

func (k *keepalived) Log() string {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.log.String()
}

// vrrpPID is the VRRP child's pid (where the work happens), or 0.
func (k *keepalived) vrrpPID() int {
	b, err := os.ReadFile(filepath.Join(k.dir, "vrrp.pid"))
	if err != nil {
		return 0
	}
	p, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return p
}

// kill: SIGKILL the VRRP child first so it sends nothing more.
func (k *keepalived) kill() {
	if p := k.vrrpPID(); p > 0 {
		syscall.Kill(p, syscall.SIGKILL)
	}
	k.cmd.Process.Signal(syscall.SIGKILL)
	<-k.done
	os.Remove(filepath.Join(k.dir, "vrrp.pid"))
	os.Remove(filepath.Join(k.dir, "k.pid"))
}

func (k *keepalived) stop() {
	k.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-k.done:
	case <-time.After(10 * time.Second):
		k.kill()
	}
}

// cpuTime is the user+system CPU time of a process (from /proc).
func cpuTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	f := strings.Fields(s[i+2:])
	// fields after ")": state(0) ... utime is field 14 overall = index 11 here.
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	const hz = 100 // USER_HZ on Linux
	return time.Duration(ut+st) * time.Second / hz, nil
}
