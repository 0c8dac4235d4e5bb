package script

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"sync"
	"syscall"
	"time"

	"github.com/lvskit/lvskit/clock"
)

// Cmd is one run of a program.
type Cmd struct {
	// Argv is the program and its arguments. A program name without a
	// slash is looked up on PATH (exec.LookPath).
	Argv []string
	// Env, when not nil, is the program's whole environment; nil passes
	// this process's, as keepalived does.
	Env []string
	// Credential, when set, runs the program as that user and group
	// (Groups: its supplementary groups); nil runs it as this process.
	Credential *syscall.Credential
	// Timeout ends the run after this long on Clock; 0 leaves it to ctx.
	Timeout time.Duration
	// KillGrace is the time between SIGTERM and SIGKILL once the run is
	// to end; 0 means 2 s (keepalived's).
	KillGrace time.Duration
	// Clock measures Timeout and KillGrace; nil means the wall clock.
	Clock clock.Clock
	// Output keeps what the program writes to stdout and stderr (the
	// first MaxOutput bytes); without it both go to /dev/null.
	Output bool
}

// MaxOutput is how much of a program's output Run keeps.
const MaxOutput = 64 << 10

// DefaultKillGrace is keepalived's time between SIGTERM and SIGKILL.
const DefaultKillGrace = 2 * time.Second

// outputWait bounds, in real time, the wait for output pipes that a
// process which left the group (setsid) may hold after the program ended.
const outputWait = time.Second

// Result is how a run ended.
type Result struct {
	// Output is what the program wrote, when Cmd.Output was set.
	Output []byte
	// Exited is set when the program ended by itself with Status.
	Exited bool
	Status int
	// Signal is the signal that ended the program, when not Exited.
	Signal syscall.Signal
	// Stopped is set when Run ended the program: at its Timeout
	// (TimedOut) or because ctx ended.
	Stopped, TimedOut bool
}

// ErrTimeout is wrapped by Run's error for a run that reached its
// Timeout (together with context.DeadlineExceeded).
var ErrTimeout = errors.New("timed out")

// Run runs c once and waits for it. The error is nil when the program
// exited with status 0; otherwise it says how it ended (exit status N,
// killed by a signal, timed out, stopped, or could not start), and the
// Result has the details.
func Run(ctx context.Context, c Cmd) (Result, error) {
	if len(c.Argv) == 0 || c.Argv[0] == "" {
		return Result{}, errors.New("run script: no program")
	}
	path := c.Argv[0]
	clk := clock.Or(c.Clock)
	cmd := exec.Command(path, c.Argv[1:]...)
	cmd.Env = c.Env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Credential: c.Credential}
	cmd.WaitDelay = outputWait
	var out *limitedBuffer
	if c.Output {
		out = &limitedBuffer{max: MaxOutput}
		cmd.Stdout, cmd.Stderr = out, out
	}
	if err := cmd.Start(); err != nil {
		return Result{}, fmt.Errorf("run %s: start: %w", path, err)
	}
	pgid := cmd.Process.Pid
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()

	var expired <-chan time.Time
	if c.Timeout > 0 {
		t := clk.NewTimer(c.Timeout)
		defer t.Stop()
		expired = t.C()
	}
	var res Result
	var err error
	select {
	case err = <-done:
	case <-expired:
		res.Stopped, res.TimedOut = true, true
		err = stop(clk, c.KillGrace, pgid, done)
	case <-ctx.Done():
		res.Stopped = true
		err = stop(clk, c.KillGrace, pgid, done)
	}
	if out != nil {
		res.Output = out.bytes()
	}
	switch {
	case res.TimedOut:
		return res, fmt.Errorf("run %s: %w after %v: %w", path, ErrTimeout, c.Timeout, context.DeadlineExceeded)
	case res.Stopped:
		return res, fmt.Errorf("run %s: stopped: %w", path, context.Cause(ctx))
	}
	return ended(path, cmd, res, err)
}

// stop ends a run: SIGTERM to the process group, SIGKILL after grace if
// its leader is still there, and SIGKILL to what is left of the group, so
// that no child outlives the run. It returns the leader's Wait error.
func stop(clk clock.Clock, grace time.Duration, pgid int, done <-chan error) error {
	if grace <= 0 {
		grace = DefaultKillGrace
	}
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	t := clk.NewTimer(grace)
	var err error
	select {
	case err = <-done:
	case <-t.C():
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		err = <-done
	}
	t.Stop()
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	return err
}

// ended maps the Wait error of a program that ended by itself.
func ended(path string, cmd *exec.Cmd, res Result, err error) (Result, error) {
	st := cmd.ProcessState
	if st == nil {
		return res, fmt.Errorf("run %s: %w", path, err)
	}
	// An output pipe still open after the program ended (exec.ErrWaitDelay)
	// does not change how the program ended.
	ws, _ := st.Sys().(syscall.WaitStatus)
	if ws.Signaled() {
		res.Signal = ws.Signal()
		return res, fmt.Errorf("run %s: killed by signal %s", path, ws.Signal())
	}
	res.Exited, res.Status = true, ws.ExitStatus()
	if res.Status != 0 {
		return res, fmt.Errorf("run %s: exit status %d", path, res.Status)
	}
	return res, nil
}

// limitedBuffer keeps the first max bytes written to it and drops the
// rest, without making the writer fail.
type limitedBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (l *limitedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if room := l.max - len(l.b); room > 0 {
		l.b = append(l.b, p[:min(room, len(p))]...)
	}
	return len(p), nil
}

func (l *limitedBuffer) bytes() []byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b
}
