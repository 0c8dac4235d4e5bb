package healthcheck

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// MiscChecker is keepalived's MISC_CHECK: it runs a program, without a
// shell, in a process group of its own. Exit status 0 means up, anything
// else down; with Dynamic (misc_dynamic) status 1 means down and 2..255
// mean up with weight status-2 (status 0 restores the configured weight).
//
// On timeout the whole process group gets SIGTERM, then SIGKILL after
// KillGrace, and the probe fails.
type MiscChecker struct {
	// Path is the program; Args its arguments (not including Path).
	Path string
	Args []string
	// Env, when not nil, is the program's whole environment.
	Env []string
	// Timeout is misc_timeout; zero means the policy's DelayLoop, as in
	// keepalived.
	Timeout time.Duration
	// Dynamic is misc_dynamic.
	Dynamic bool
	// KillGrace is the time between SIGTERM and SIGKILL; zero means 2 s
	// (keepalived's).
	KillGrace time.Duration
	// Credential, when set, runs the program as that user and group
	// (keepalived's "user"); changing them needs root.
	Credential *syscall.Credential
}

var _ WeightChecker = (*MiscChecker)(nil)

func (c *MiscChecker) kind() kind                  { return kindMisc }
func (c *MiscChecker) probeTimeout() time.Duration { return c.Timeout }
func (c *MiscChecker) String() string {
	return "misc " + strings.Join(append([]string{c.Path}, c.Args...), " ")
}

// Check runs the program once.
func (c *MiscChecker) Check(ctx context.Context) error {
	_, err := c.CheckWeight(ctx)
	return err
}

// CheckWeight runs the program once and maps its exit status.
func (c *MiscChecker) CheckWeight(ctx context.Context) (Weight, error) {
	if c.Path == "" {
		return Weight{}, errors.New("misc check: no program")
	}
	cmd := exec.Command(c.Path, c.Args...)
	cmd.Env = c.Env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Credential: c.Credential}
	if err := cmd.Start(); err != nil {
		return Weight{}, fmt.Errorf("misc check %s: start: %w", c.Path, err)
	}
	pgid := cmd.Process.Pid
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()

	var err error
	timedOut := false
	select {
	case err = <-done:
	case <-ctx.Done():
		timedOut = true
		syscall.Kill(-pgid, syscall.SIGTERM)
		grace := c.KillGrace
		if grace <= 0 {
			grace = 2 * time.Second
		}
		t := time.NewTimer(grace)
		select {
		case err = <-done:
			t.Stop()
		case <-t.C:
			syscall.Kill(-pgid, syscall.SIGKILL)
			err = <-done
		}
		// Children that ignored SIGTERM must not outlive the check.
		syscall.Kill(-pgid, syscall.SIGKILL)
	}
	if timedOut {
		return Weight{}, fmt.Errorf("misc check %s: timed out: %w", c.Path, context.DeadlineExceeded)
	}
	if err == nil {
		return Weight{Kind: WeightConfigured}, nil
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		return Weight{}, fmt.Errorf("misc check %s: %w", c.Path, err)
	}
	ws, _ := ee.Sys().(syscall.WaitStatus)
	if ws.Signaled() {
		return Weight{}, fmt.Errorf("misc check %s: killed by signal %s", c.Path, ws.Signal())
	}
	code := ws.ExitStatus()
	if c.Dynamic && code >= 2 && code <= 255 {
		return Weight{Kind: WeightAbsolute, Value: code - 2}, nil
	}
	return Weight{}, fmt.Errorf("misc check %s: exit status %d", c.Path, code)
}
