package healthcheck_test

import (
	"net/netip"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"github.com/lvskit/lvskit/healthcheck"
	"github.com/lvskit/lvskit/internal/netnstest"
)

// freshNetns is a new network namespace entered by the calling goroutine's
// locked thread. Everything using it must run on that goroutine (no
// t.Run, no new goroutines): another thread is still in the host's
// namespace.
type freshNetns struct {
	t          *testing.T
	orig, mine netns.NsHandle
}

func enterFreshNetns(t *testing.T) *freshNetns {
	t.Helper()
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		t.Fatal(err)
	}
	mine, err := netns.New()
	if err != nil {
		orig.Close()
		runtime.UnlockOSThread()
		t.Fatal(err)
	}
	return &freshNetns{t: t, orig: orig, mine: mine}
}

func (n *freshNetns) leave() {
	if err := netns.Set(n.orig); err != nil {
		panic("cannot return to the original network namespace: " + err.Error())
	}
	n.mine.Close()
	n.orig.Close()
	runtime.UnlockOSThread()
}

// sysctl writes a per-namespace sysctl, after making sure this thread is
// in the fresh namespace and not the host's.
func (n *freshNetns) sysctl(path, value string) {
	n.t.Helper()
	cur, err := netns.Get()
	if err != nil {
		n.t.Fatal(err)
	}
	defer cur.Close()
	if !cur.Equal(n.mine) || cur.Equal(n.orig) {
		n.t.Fatalf("refusing to write %s: not in the test's namespace", path)
	}
	if err := os.WriteFile("/proc/sys/"+path, []byte(value), 0o644); err != nil {
		n.t.Fatalf("write %s: %v", path, err)
	}
}

// TestIntegrationPing runs PING_CHECK in a namespace of its own, where the
// test may change the per-namespace ICMP sysctls: through the
// unprivileged ping socket and the raw socket, passing, failing (loopback
// down) and timing out (echo ignored). It runs on one locked thread, so
// it has no subtests.
func TestIntegrationPing(t *testing.T) {
	netnstest.RequireRoot(t)
	ns := enterFreshNetns(t)
	defer ns.leave()

	c4 := &healthcheck.PingChecker{Conn: healthcheck.Conn{Addr: netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), 0)}}
	c6 := &healthcheck.PingChecker{Conn: healthcheck.Conn{Addr: netip.AddrPortFrom(netip.MustParseAddr("::1"), 0)}}

	// Loopback is down in a new namespace: unreachable.
	checkErr(t, probe(t, c4, 500*time.Millisecond), "ping check 127.0.0.1")

	lo, err := netlink.LinkByName("lo")
	if err != nil {
		t.Fatal(err)
	}
	if err := netlink.LinkSetUp(lo); err != nil {
		t.Fatal(err)
	}
	// Raw sockets: nobody may open ping sockets. The passing probes'
	// bound is for a broken path, not a timing: the reply is immediate,
	// the reading goroutine may not be on a loaded machine.
	ns.sysctl("net/ipv4/ping_group_range", "1\t0")
	checkErr(t, probe(t, c4, 10*time.Second), "")
	checkErr(t, probe(t, c6, 10*time.Second), "")
	// Ping sockets: every group may.
	ns.sysctl("net/ipv4/ping_group_range", "0\t2147483647")
	checkErr(t, probe(t, c4, 10*time.Second), "")
	checkErr(t, probe(t, c6, 10*time.Second), "")
	// Echo requests ignored: both kinds of socket time out.
	ns.sysctl("net/ipv4/icmp_echo_ignore_all", "1")
	checkErr(t, probe(t, c4, 300*time.Millisecond), "ping check 127.0.0.1: no echo reply: timeout")
	ns.sysctl("net/ipv4/ping_group_range", "1\t0")
	checkErr(t, probe(t, c4, 300*time.Millisecond), "ping check 127.0.0.1: no echo reply: timeout")
}
