package vrrp

import (
	"context"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/goleak"

	"github.com/lvskit/lvskit/clock/clocktest"
)

type testItem string

func (i testItem) String() string { return string(i) }

// itemNet is a fake Network that also takes routes and master items, and
// records in what order everything arrived and left.
type itemNet struct {
	*fakeNet
	mu  sync.Mutex
	log []string
}

func (n *itemNet) AddRoute(_ context.Context, r Route) error {
	n.record("+route " + r.Dst.String())
	return nil
}

func (n *itemNet) DeleteRoute(_ context.Context, r Route) error {
	n.record("-route " + r.Dst.String())
	return nil
}

func (n *itemNet) AddMasterItem(_ context.Context, it MasterItem) error {
	n.record("+" + it.String())
	return nil
}

func (n *itemNet) DeleteMasterItem(_ context.Context, it MasterItem) error {
	n.record("-" + it.String())
	return nil
}

func (n *itemNet) record(s string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.log = append(n.log, s)
}

// Master items follow the MASTER state: added after the addresses and
// routes, in order, and removed before them, in reverse order. The
// instance runs on a fake clock that the test moves until it is MASTER, in
// a synctest bubble: after each step the instance has taken what the
// clock fired before the test looks.
func TestSimMasterItems(t *testing.T) {
	defer goleak.VerifyNone(t)
	synctest.Test(t, func(t *testing.T) {
		clk := clocktest.New(time.Unix(1000, 0))
		n := &itemNet{fakeNet: newFakeNet()}
		inst, err := New(Config{Interface: "lan", VRID: 9, Version: 3, AdvertInterval: 20 * time.Millisecond,
			VIPs: []VIP{{Prefix: simVIP}}, Routes: []Route{{Dst: netip.MustParsePrefix("10.9.0.0/16"), Link: "lan"}},
			MasterItems: []MasterItem{testItem("rule a"), testItem("route b")},
			Network:     n, Transport: NewMemNet().Transport(netip.MustParseAddr("10.0.0.1")), Clock: clk})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- inst.Run(ctx) }()
		for i := 0; ; i++ {
			synctest.Wait()
			if inst.State() == StateMaster {
				break
			}
			if i == 1000 {
				t.Fatalf("not MASTER after %v on the clock", time.Duration(i)*20*time.Millisecond)
			}
			clk.Advance(20 * time.Millisecond)
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		want := []string{"+route 10.9.0.0/16", "+rule a", "+route b", "-route b", "-rule a", "-route 10.9.0.0/16"}
		n.mu.Lock()
		defer n.mu.Unlock()
		if !slices.Equal(n.log, want) {
			t.Errorf("order %q, want %q", n.log, want)
		}
		if n.has(simVIP) {
			t.Error("VIP still held after stop")
		}
	})
}

// Master items need a Network that can set them.
func TestConfigMasterItemsNeedNetwork(t *testing.T) {
	_, err := New(Config{Interface: "eth0", VRID: 1, VIPs: []VIP{{Prefix: simVIP}}, Network: newFakeNet(),
		Transport: NewMemNet().Transport(), MasterItems: []MasterItem{testItem("x")}})
	if err == nil {
		t.Fatal("New accepted MasterItems on a Network without MasterItemNetwork")
	}
}
