package healthcheck

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"syscall"
	"time"

	"github.com/lvskit/lvskit/internal/script"
)

// MiscChecker is keepalived's MISC_CHECK: it runs a program, without a
// shell, in a process group of its own. Exit status 0 means up, anything
// else down; with Dynamic (misc_dynamic) status 1 means down and 2..255
// mean up with weight status-2 (status 0 restores the configured weight).
//
// On timeout the whole process group gets SIGTERM, then SIGKILL after
// KillGrace, and SIGKILL once more at the end so that no child outlives
// the check; the probe fails.
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
	// (keepalived's script_user, or the checker's "user"); changing them
	// needs root.
	Credential *syscall.Credential
	// Clock measures Timeout and KillGrace; nil means the clock of the
	// Monitor that runs the checker (MonitorConfig.Clock), which also
	// gives a zero Timeout the policy's DelayLoop. A checker called on its
	// own with neither ends only with its context.
	Clock Clock
}

var _ WeightChecker = (*MiscChecker)(nil)

func (c *MiscChecker) kind() kind                  { return kindMisc }
func (c *MiscChecker) probeTimeout() time.Duration { return c.Timeout }
func (c *MiscChecker) String() string {
	return "misc " + strings.Join(append([]string{c.Path}, c.Args...), " ")
}

// probeClock is the clock and probe timeout of the Monitor running a
// probe, which a MiscChecker without a clock of its own runs on.
type probeClock struct {
	clock   Clock
	timeout time.Duration
}

type probeClockKey struct{}

func withProbeClock(ctx context.Context, clk Clock, timeout time.Duration) context.Context {
	return context.WithValue(ctx, probeClockKey{}, probeClock{clk, timeout})
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
	clk, timeout := c.Clock, c.Timeout
	if pc, ok := ctx.Value(probeClockKey{}).(probeClock); ok {
		if clk == nil {
			clk = pc.clock
		}
		if timeout <= 0 {
			timeout = pc.timeout
		}
	}
	if clk == nil {
		timeout = 0 // without a clock the context bounds the run
	}
	res, err := script.Run(ctx, script.Cmd{Argv: append([]string{c.Path}, c.Args...), Env: c.Env, Credential: c.Credential,
		Timeout: timeout, KillGrace: c.KillGrace, Clock: clk})
	switch {
	case res.Stopped:
		return Weight{}, fmt.Errorf("misc check %s: timed out: %w", c.Path, context.DeadlineExceeded)
	case res.Exited && res.Status == 0:
		return Weight{Kind: WeightConfigured}, nil
	case res.Exited && c.Dynamic && res.Status >= 2 && res.Status <= 255:
		return Weight{Kind: WeightAbsolute, Value: res.Status - 2}, nil
	case res.Exited:
		return Weight{}, fmt.Errorf("misc check %s: exit status %d", c.Path, res.Status)
	case res.Signal != 0:
		return Weight{}, fmt.Errorf("misc check %s: killed by signal %s", c.Path, res.Signal)
	}
	return Weight{}, fmt.Errorf("misc check %s: %w", c.Path, err)
}
