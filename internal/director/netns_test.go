package director

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lvskit/lvskit/clock/clocktest"
	"github.com/lvskit/lvskit/internal/netnstest"
	"github.com/lvskit/lvskit/vrrp"
)

// With net_namespace, a vrrp_script runs inside the namespace (it sees the
// namespace's address) and on the director's clock: its second run comes
// when the fake clock passes the interval of an hour, which the wall
// clock never does within the test.
func TestIntegrationNetnsScriptTracker(t *testing.T) {
	netnstest.RequireRoot(t)
	lab := netnstest.New(t)
	x := lab.Host("x")
	x.AddAddr("lo", "10.71.0.1/32")
	dir := t.TempDir()
	out := filepath.Join(dir, "runs")
	script := filepath.Join(dir, "check.sh")
	if err := os.WriteFile(script, []byte("#!/bin/sh\nip -o addr show dev lo >> "+out+"\necho RUN >> "+out+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	ns, err := openNetns(x.Name())
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	clk := clocktest.New(time.Now())
	d := &Director{ns: ns, clock: clk}
	tr := d.scriptTracker(vrrp.ScriptConfig{Path: script, Interval: time.Hour})

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- tr.Track(ctx, func(bool) {}) }()
	defer func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Track: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Track did not return after cancel")
		}
	}()

	runs := func() (int, string) {
		b, _ := os.ReadFile(out)
		return strings.Count(string(b), "RUN\n"), string(b)
	}
	waitRuns := func(n int) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for {
			if got, _ := runs(); got >= n {
				return
			}
			if time.Now().After(deadline) {
				got, text := runs()
				t.Fatalf("%d runs of the script, want %d:\n%s", got, n, text)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitRuns(1)
	if _, text := runs(); !strings.Contains(text, "10.71.0.1/32") {
		t.Errorf("the script did not run in the namespace; it saw:\n%s", text)
	}
	// The tracker waits on the fake clock for its next run.
	for deadline := time.Now().Add(20 * time.Second); clk.Waiters() == 0; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the script tracker waits on no timer of the director's clock")
		}
	}
	if got, _ := runs(); got != 1 {
		t.Fatalf("%d runs before the clock moved, want 1", got)
	}
	clk.Advance(time.Hour)
	waitRuns(2)
}
