package director

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/lvskit/lvskit/clock/clocktest"
	"github.com/lvskit/lvskit/ipvs"
)

// The director's clock reaches its VRRP instance and its health checks:
// on a fake clock the instance becomes MASTER when the clock passes its
// master-down interval, a reload while the checks are pinned in time
// writes exactly the one weight it changes (no probe can run in between),
// and a server that stops is taken out when the clock lets its checks run.
func TestReloadOnFakeClock(t *testing.T) {
	clk := clocktest.New(time.Now())
	r := startRig(t, "", nil, clk)
	r.waitFor("BACKUP with both servers in the table", func(st Status) bool {
		return len(st.VRRP) == 1 && st.VRRP[0].State == "BACKUP" && len(st.VirtualServers) == 1 &&
			len(st.VirtualServers[0].RealServers) == 2 && st.VirtualServers[0].RealServers[1].InTable
	})
	// Master down: 3 adverts of 0.1 s and a skew of (256-100)/256 x 0.1 s.
	r.advanceUntil(clk, 50*time.Millisecond, "MASTER", func(st Status) bool { return st.VRRP[0].State == "MASTER" })
	if !r.net.has("10.0.0.9/24") {
		t.Fatal("VIP not added by the MASTER")
	}
	r.backend.take()
	inst := r.unit()

	r.write(100, 2)
	if err := r.d.Reload(); err != nil {
		t.Fatalf("Reload: %v", err)
	}
	if diff := cmp.Diff([]ipvs.Op{rigOp(ipvs.UpdateDestination, r.p2, 2)}, r.backend.take(), ignorePos); diff != "" {
		t.Errorf("IPVS operations of the reload (-want +got):\n%s", diff)
	}
	if r.unit() != inst {
		t.Error("the VRRP instance was restarted by a reload that did not change it")
	}

	// The second server stops; its checks run only as the clock moves.
	r.web2.Close()
	down := func(st Status) bool {
		rs := st.VirtualServers[0].RealServers[1]
		return !rs.Healthy && !rs.InTable
	}
	r.advanceUntil(clk, 100*time.Millisecond, "the stopped server out", down)
	if diff := cmp.Diff([]ipvs.Op{rigOp(ipvs.DeleteDestination, r.p2, 2)}, r.backend.take(), ignorePos); diff != "" {
		t.Errorf("IPVS operations of the server going down (-want +got):\n%s", diff)
	}
}

// advanceUntil moves the fake clock by step until cond holds, letting what
// the clock started (probes, the instance's timers) answer in between; it
// fails after 400 steps.
func (r *reloadRig) advanceUntil(clk *clocktest.Clock, step time.Duration, what string, cond func(Status) bool) {
	r.t.Helper()
	for i := 0; ; i++ {
		st := r.d.Status(context.Background())
		if cond(st) {
			return
		}
		if i == 400 {
			r.t.Fatalf("%s: not after %v on the clock: %+v", what, time.Duration(i)*step, st)
		}
		clk.Advance(step)
		time.Sleep(5 * time.Millisecond)
	}
}

// rigOp is an operation on the rig's service and one of its real servers
// (on loopback, port p), at weight w.
func rigOp(kind ipvs.OpKind, p, w int) ipvs.Op {
	return ipvs.Op{Kind: kind,
		Service:     ipvs.Service{Protocol: ipvs.TCP, Addr: netip.MustParseAddr("10.0.0.9"), Port: 80, Scheduler: "wrr"},
		Destination: ipvs.Destination{Addr: netip.MustParseAddr("127.0.0.1"), Port: uint16(p), Weight: int32(w)}}
}
