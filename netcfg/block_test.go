package netcfg_test

import (
	"bytes"
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/lvskit/lvskit/internal/netnstest"
)

// Block drops traffic to an address while neighbour discovery for it
// still works; Unblock restores it and leaves no ruleset behind.
func TestIntegrationBlock(t *testing.T) {
	lab := netnstest.New(t)
	a, b := lab.Host("a"), lab.Host("b")
	lan := lab.LAN("lan")
	lan.Connect(a, "eth0", "10.99.0.1/24", "fd00:99::1/64")
	lan.Connect(b, "eth0", "10.99.0.2/24", "fd00:99::2/64")
	h := open(t, a)
	for _, addr := range []string{"10.99.0.1:7000", "[fd00:99::1]:7000"} {
		ln, err := a.Listen("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		serve(t, ln, "a")
	}
	dial := func(addr string, timeout time.Duration) error {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		c, err := b.Dial(ctx, "tcp", addr)
		if err == nil {
			exchange(t, c, "hi")
			c.Close()
		}
		return err
	}
	for _, addr := range []string{"10.99.0.1:7000", "[fd00:99::1]:7000"} {
		if err := dial(addr, 5*time.Second); err != nil {
			t.Fatalf("before blocking, %s: %v", addr, err)
		}
	}

	c4 := must(t)(h.Block(netip.MustParseAddr("10.99.0.1")))
	c6 := must(t)(h.Block(netip.MustParseAddr("fd00:99::1")))
	if again := must(t)(h.Block(netip.MustParseAddr("fd00:99::1"))); !again.Empty() {
		t.Errorf("blocking twice changed %s", again)
	}
	t.Logf("nft ruleset while blocked:\n%s", a.Run("nft", "list", "ruleset"))

	// b forgets a's IPv6 MAC, so the next connect must resolve it anew.
	bl, err := b.Netlink().LinkByName("eth0")
	if err != nil {
		t.Fatal(err)
	}
	b.Netlink().NeighDel(&netlink.Neigh{LinkIndex: bl.Attrs().Index, IP: netip.MustParseAddr("fd00:99::1").AsSlice()})
	for _, addr := range []string{"10.99.0.1:7000", "[fd00:99::1]:7000"} {
		if err := dial(addr, time.Second); err == nil {
			t.Errorf("%s reachable while blocked", addr)
		}
	}
	if got := neighMAC(t, b, "eth0", netip.MustParseAddr("fd00:99::1")); !bytes.Equal(got, a.HardwareAddr("eth0")) {
		t.Errorf("neighbour discovery for the blocked IPv6 address failed: b has %v", got)
	}

	if err := c6.Undo(); err != nil {
		t.Fatal(err)
	}
	if err := c4.Undo(); err != nil {
		t.Fatal(err)
	}
	for _, addr := range []string{"10.99.0.1:7000", "[fd00:99::1]:7000"} {
		if err := dial(addr, 5*time.Second); err != nil {
			t.Errorf("after unblocking, %s: %v", addr, err)
		}
	}
	if out := a.Run("nft", "list", "ruleset"); strings.TrimSpace(out) != "" {
		t.Errorf("ruleset left after undo:\n%s", out)
	}
}
