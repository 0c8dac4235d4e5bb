package healthcheck_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lvskit/lvskit/clock/clocktest"
	"github.com/lvskit/lvskit/healthcheck"
	"github.com/lvskit/lvskit/internal/script/scripttest"
)

// A MISC_CHECK run by a Monitor times out on the monitor's clock
// (misc_timeout here; delay_loop without one): at 5 s on a fake clock the
// probe fails, whatever the wall clock says, and the script's process
// group is gone, a child that ignores SIGTERM included.
func TestMiscCheckerTimesOutOnMonitorClock(t *testing.T) {
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "child.pid")
	prog := writeScript(t, dir, "hang.sh", fmt.Sprintf(`sh -c 'trap "" TERM; echo $$ > %s; exec sleep 1000' &
while :; do sleep 1; done`, pidFile))
	clk := clocktest.New(t0)
	events := make(chan healthcheck.Event, 4)
	m, err := healthcheck.NewMonitor(healthcheck.MonitorConfig{
		Checker: &healthcheck.MiscChecker{Path: prog, Timeout: 5 * time.Second},
		Policy:  healthcheck.Policy{DelayLoop: time.Minute, Warmup: -1},
		Clock:   clk,
		OnEvent: func(e healthcheck.Event) { events <- e },
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	defer func() {
		cancel()
		<-done
	}()
	clk.BlockUntil(1)
	clk.AdvanceToNext() // bootstrap: the first probe starts at 1 s
	child := scripttest.ReadPID(t, pidFile)
	t.Cleanup(func() { syscall.Kill(child, syscall.SIGKILL) })
	clk.BlockUntil(1) // the script's timeout
	clk.Advance(5 * time.Second)
	e := <-events
	if e.Up || e.Err == nil || !strings.Contains(e.Err.Error(), "timed out") || e.Time.Sub(t0) != 6*time.Second {
		t.Errorf("event %+v; want down with a timeout at 6 s", e)
	}
	scripttest.WaitGone(t, child)
}
