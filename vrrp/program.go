package vrrp

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"time"
)

// errProgramTimeout is the cause of a program's end at its timeout.
var errProgramTimeout = errors.New("timed out")

// runProgram runs path with args, without a shell, and kills it when
// timeout has passed on clk or ctx ends; with output it returns what the
// program wrote to stdout and stderr. It is how this package runs
// programs: tracking scripts (vrrp_script) and notify scripts. The
// timeout is measured on the instance's clock, so a fake clock, not the
// time a process takes to start on a busy machine, decides when it ends.
func runProgram(ctx context.Context, clk Clock, timeout time.Duration, output bool, path string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	t := clk.AfterFunc(timeout, func() { cancel(errProgramTimeout) })
	defer t.Stop()
	cmd := exec.CommandContext(ctx, path, args...)
	// After the kill, wait this long (real time: it bounds I/O, not the
	// program) for output pipes a child of the program may hold.
	cmd.WaitDelay = time.Second
	var out []byte
	var err error
	if output {
		out, err = cmd.CombinedOutput()
	} else {
		err = cmd.Run()
	}
	if err != nil {
		if errors.Is(context.Cause(ctx), errProgramTimeout) {
			return out, fmt.Errorf("run %s: %w after %v", path, errProgramTimeout, timeout)
		}
		return out, fmt.Errorf("run %s: %w", path, err)
	}
	return out, nil
}
