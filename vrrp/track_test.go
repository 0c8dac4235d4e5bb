package vrrp

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/lvskit/lvskit/clock"
	"github.com/lvskit/lvskit/clock/clocktest"
)

// collect runs a tracker until it reported want reports or the time is up
// (30 s: a bound for a broken tracker, not a timing; outside a synctest
// bubble it includes starting scripts on a busy machine).
func collect(t *testing.T, tr Tracker, until func(got []bool) bool, steps func(n int)) []bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ch := make(chan bool, 64)
	done := make(chan error, 1)
	go func() { done <- tr.Track(ctx, func(up bool) { ch <- up }) }()
	var got []bool
	for !until(got) {
		select {
		case up := <-ch:
			got = append(got, up)
			steps(len(got))
		case <-ctx.Done():
			t.Fatalf("tracker reported %v before the deadline", got)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Track returned %v", err)
	}
	return got
}

func writeScript(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestScriptTrackerRiseFall runs a real script in a synctest bubble: the
// tracker's interval and the script's timeout run on the bubble's fake
// clock, which stands still while the script (a child process) runs and
// while the test reads the script's log. So however slow a fork and exec
// of sh is, no run times out, and a report comes after exactly fall (rise)
// runs, with no further run in flight when the test counts them.
func TestScriptTrackerRiseFall(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dir := t.TempDir()
		state := filepath.Join(dir, "state")
		count := filepath.Join(dir, "count")
		os.WriteFile(state, []byte("0"), 0o644)
		// The script logs the status it is about to exit with, then exits
		// with it; the tracker must run it directly (no shell of ours).
		script := writeScript(t, dir, "check", `s=$(cat "$1"); echo "$s" >> "$2"; exit $s`)
		tr := TrackScript(ScriptConfig{Path: script, Args: []string{state, count},
			Interval: 20 * time.Millisecond, Timeout: 10 * time.Second, Rise: 3, Fall: 2})
		// runs counts the logged runs that exited with status.
		runs := func(status string) int {
			b, _ := os.ReadFile(count)
			return strings.Count(string(b), status+"\n")
		}
		setState := func(v string) { // atomically: a run never reads a half-written file
			tmp := state + ".new"
			os.WriteFile(tmp, []byte(v), 0o644)
			os.Rename(tmp, state)
		}
		var fails, oks int
		got := collect(t, tr, func(got []bool) bool { return len(got) == 3 }, func(n int) {
			switch n {
			case 1: // initial report: up
				setState("1")
			case 2: // down after 2 failures
				fails = runs("1")
				oks = runs("0") // the first run may have seen "0"
				setState("0")
			case 3:
				oks = runs("0") - oks
			}
		})
		if diff := cmp.Diff([]bool{true, false, true}, got); diff != "" {
			t.Errorf("reports (-want +got):\n%s", diff)
		}
		if fails != 2 {
			t.Errorf("went down after %d failed runs, want fall=2", fails)
		}
		if oks != 3 {
			t.Errorf("went up after %d passed runs, want rise=3", oks)
		}
	})
}

// TestScriptTrackerTimeout: a run that outlasts its timeout on the
// tracker's clock (a fake one here) is killed and counts as failed.
func TestScriptTrackerTimeout(t *testing.T) {
	dir := t.TempDir()
	slow := writeScript(t, dir, "slow", "exec sleep 60")
	clk := clocktest.New(time.Unix(0, 0))
	tr := TrackScript(ScriptConfig{Path: slow, Interval: 50 * time.Millisecond, Timeout: 50 * time.Millisecond, Clock: clk})
	var downAfter time.Duration
	got := collect(t, tr, func(got []bool) bool { return len(got) == 2 }, func(n int) {
		switch n {
		case 1:
			// The first run is under way: its timeout and the interval
			// are pending. Nothing ends it but the timeout.
			clk.BlockUntil(2)
			clk.Advance(50 * time.Millisecond)
		case 2:
			downAfter = clk.Now().Sub(time.Unix(0, 0))
		}
	})
	if diff := cmp.Diff([]bool{true, false}, got); diff != "" {
		t.Errorf("slow script (-want +got):\n%s", diff)
	}
	if downAfter != 50*time.Millisecond {
		t.Errorf("down at %v on the tracker's clock, want at the timeout, 50ms", downAfter)
	}
}

// TestScriptTrackerInitFail: init_fail starts down; the first passing run
// brings it up (in a bubble, so the 20ms timeout cannot expire while the
// program starts).
func TestScriptTrackerInitFail(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tr := TrackScript(ScriptConfig{Path: "/bin/true", Interval: 20 * time.Millisecond, InitFail: true})
		got := collect(t, tr, func(got []bool) bool { return len(got) == 2 }, func(int) {})
		if diff := cmp.Diff([]bool{false, true}, got); diff != "" {
			t.Errorf("init_fail (-want +got):\n%s", diff)
		}
	})
}

// TestTrackersTakeInstanceClock: the package's trackers run on the clock
// of the instance they are attached to, unless given one of their own.
func TestTrackersTakeInstanceClock(t *testing.T) {
	inst, own := clocktest.New(time.Unix(0, 0)), clocktest.New(time.Unix(0, 0))
	fn := TrackFunc(time.Second, func(context.Context) error { return nil })
	script := TrackScript(ScriptConfig{Path: "/bin/true"})
	ownScript := TrackScript(ScriptConfig{Path: "/bin/true", Clock: own})
	i, err := New(Config{Interface: "eth0", VRID: 1, VIPs: []VIP{{Prefix: simVIP}}, Network: newFakeNet(),
		Transport: NewMemNet().Transport(), Clock: inst,
		Trackers: []Track{{Tracker: fn}, {Tracker: script}, {Tracker: ownScript}}})
	if err != nil {
		t.Fatal(err)
	}
	clockOf := func(tr Tracker) Clock { return tr.(*pollTracker).clock }
	for n, want := range []Clock{inst, inst, own} {
		if got := clockOf(i.cfg.Trackers[n].Tracker); got != want {
			t.Errorf("tracker %d runs on %v, want %v", n, got, want)
		}
	}
	// The trackers the caller made are not changed: they may serve
	// instances on other clocks.
	if got := clockOf(fn); got != nil {
		t.Errorf("TrackFunc's tracker was changed to clock %v", got)
	}
}

func TestNotifyScriptsAndFIFO(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	notify := writeScript(t, dir, "notify", `echo "notify $*" >> `+out)
	master := writeScript(t, dir, "master", `echo "master $*" >> `+out)
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	r, err := os.OpenFile(fifo, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var funcGot []Transition
	ch := make(chan Transition, 4)
	n := newNotifier(Notify{
		Func:   func(tr Transition) { funcGot = append(funcGot, tr) },
		Chan:   ch,
		Script: []string{notify, "extra"},
		Master: []string{master, "m1"},
		FIFO:   fifo,
	}, clock.Wall{}, func(msg string, args ...any) { t.Errorf("notifier: %s %v", msg, args) })
	n.send(Transition{Name: "VI_1", From: StateBackup, To: StateMaster, Priority: 100})
	n.send(Transition{Name: "VI_1", From: StateMaster, To: StateInit, Priority: 100})
	n.send(Transition{Group: true, Name: "G1", From: StateBackup, To: StateFault, Priority: 0})
	n.close()
	b, _ := os.ReadFile(out)
	want := "master m1\nnotify extra INSTANCE VI_1 MASTER 100\nnotify extra INSTANCE VI_1 STOP 100\nnotify extra GROUP G1 FAULT 0\n"
	if diff := cmp.Diff(want, string(b)); diff != "" {
		t.Errorf("scripts (-want +got):\n%s", diff)
	}
	buf := make([]byte, 4096)
	k, _ := r.Read(buf)
	wantFIFO := "INSTANCE \"VI_1\" MASTER 100\nINSTANCE \"VI_1\" STOP 100\nGROUP \"G1\" FAULT 0\n"
	if diff := cmp.Diff(wantFIFO, string(buf[:k])); diff != "" {
		t.Errorf("fifo (-want +got):\n%s", diff)
	}
	if len(funcGot) != 3 || len(ch) != 3 {
		t.Errorf("func got %d, channel %d transitions; want 3 each", len(funcGot), len(ch))
	}
}
