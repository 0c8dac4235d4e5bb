package vrrp

import (
	"context"
	"syscall"
	"time"

	"github.com/lvskit/lvskit/internal/script"
)

// runProgram runs argv as cred (nil: as this process), without a shell,
// in a process group of its own, and ends the whole group when timeout
// has passed on clk or ctx ends (SIGTERM, then SIGKILL after 2 s on clk);
// with output it returns what the program wrote to stdout and stderr. It
// is how this package runs programs: tracking scripts (vrrp_script) and
// notify scripts. The timeout is measured on the instance's clock, so a
// fake clock, not the time a process takes to start on a busy machine,
// decides when it ends.
func runProgram(ctx context.Context, clk Clock, timeout time.Duration, output bool, cred *syscall.Credential, argv []string) ([]byte, error) {
	res, err := script.Run(ctx, script.Cmd{Argv: argv, Credential: cred, Timeout: timeout, Clock: clk, Output: output})
	return res.Output, err
}
