package vrrp

import (
	"testing"
	"time"

	"github.com/lvskit/lvskit/clock/clocktest"
)

// TestInterfaceTrackerTakesInstanceClock: track_interface's wait for a
// link that does not exist runs on the instance's clock.
func TestInterfaceTrackerTakesInstanceClock(t *testing.T) {
	clk := clocktest.New(time.Unix(0, 0))
	link := TrackInterface("eth0", nil)
	i, err := New(Config{Interface: "eth0", VRID: 1, VIPs: []VIP{{Prefix: simVIP}}, Network: newFakeNet(),
		Transport: NewMemNet().Transport(), Clock: clk, Trackers: []Track{{Tracker: link}}})
	if err != nil {
		t.Fatal(err)
	}
	if got := i.cfg.Trackers[0].Tracker.(*linkTracker).clock; got != Clock(clk) {
		t.Errorf("interface tracker runs on %v, want the instance's clock", got)
	}
	if got := link.(*linkTracker).clock; got != nil {
		t.Errorf("the caller's tracker was changed to clock %v", got)
	}
}
