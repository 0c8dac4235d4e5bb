package vrrp

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"time"

	"github.com/lvskit/lvskit/clock"
)

// runProgram runs path with args, without a shell, and kills it when
// timeout has passed on clk or ctx ends; with output it returns what the
// program wrote to stdout and stderr. It is how this package runs
// programs: tracking scripts (vrrp_script) and notify scripts. The
// timeout is measured on the instance's clock, so a fake clock, not the
// time a process takes to start on a busy machine, decides when it ends.
func runProgram(ctx context.Context, clk Clock, timeout time.Duration, output bool, path string, args ...string) ([]byte, error) {
	ctx, cancel := clock.WithTimeout(ctx, clk, timeout)
	defer cancel()
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
		if errors.Is(context.Cause(ctx), context.DeadlineExceeded) {
			return out, fmt.Errorf("run %s: timed out after %v", path, timeout)
		}
		return out, fmt.Errorf("run %s: %w", path, err)
	}
	return out, nil
}
