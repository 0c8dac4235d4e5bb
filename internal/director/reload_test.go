package director

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/lvskit/lvskit/ipvs"
)

// A reload that changes one real server's weight writes exactly one
// UpdateDestination and leaves the VRRP instance running; a broken file
// changes nothing; a priority change restarts only the instance.
func TestReloadAppliesOnlyTheDifference(t *testing.T) {
	r := newReloadRig(t)
	r.waitFor("MASTER with both servers in the table", bothHealthyInTable)
	// Let the first probes (1 s bootstrap) pass, so that any write they
	// would cause happens before the reload.
	time.Sleep(1500 * time.Millisecond)
	r.backend.take()
	inst := r.unit()

	r.write(100, 2)
	if err := r.d.Reload(); err != nil {
		t.Fatalf("Reload: %v", err)
	}
	// The rebuilt pool's first probes come a second later: still no write.
	time.Sleep(1500 * time.Millisecond)
	want := []ipvs.Op{{Kind: ipvs.UpdateDestination,
		Service:     ipvs.Service{Protocol: ipvs.TCP, Addr: netip.MustParseAddr("10.0.0.9"), Port: 80, Scheduler: "wrr"},
		Destination: ipvs.Destination{Addr: netip.MustParseAddr("127.0.0.1"), Port: uint16(r.p2), Weight: 2}}}
	if diff := cmp.Diff(want, r.backend.take(), ignorePos); diff != "" {
		t.Errorf("IPVS operations of the reload (-want +got):\n%s", diff)
	}
	if r.unit() != inst {
		t.Error("the VRRP instance was restarted by a reload that did not change it")
	}
	st := r.d.Status(context.Background())
	if st.ReloadsOK != 1 || st.VRRP[0].State != "MASTER" || !bothHealthyInTable(st) {
		t.Errorf("status after reload: %+v", st)
	}

	// A broken file: error with its position, nothing changes.
	if err := os.WriteFile(r.path, []byte("vrrp_instance V {\n    interface eth0\n    priority banana\n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	err := r.d.Reload()
	// No virtual_router_id: keepalived stops on it (priority banana it
	// ignores, with a warning).
	if err == nil || !strings.Contains(err.Error(), r.path+":1:1") {
		t.Fatalf("Reload of a broken file = %v, want an error at %s:1:1", err, r.path)
	}
	if ops := r.backend.take(); len(ops) != 0 {
		t.Errorf("a rejected reload wrote %v", ops)
	}
	if r.unit() != inst || r.d.Plan().VirtualServers[0].RealServers[1].Weight != 2 {
		t.Error("a rejected reload changed the running configuration")
	}
	if !strings.Contains(r.logs.String(), "reload rejected: "+r.path+":1:1") {
		t.Errorf("the error is not logged:\n%s", r.logs.String())
	}
	if st := r.d.Status(context.Background()); st.ReloadsFailed != 1 || st.ReloadsOK != 1 {
		t.Errorf("reload counters ok %d failed %d, want 1 1", st.ReloadsOK, st.ReloadsFailed)
	}

	// A priority change restarts the instance and writes nothing to IPVS.
	r.write(120, 2)
	if err := r.d.Reload(); err != nil {
		t.Fatalf("Reload: %v", err)
	}
	if r.unit() == inst {
		t.Error("the VRRP instance was not restarted after its priority changed")
	}
	st = r.waitFor("MASTER at priority 120", func(st Status) bool {
		return st.VRRP[0].State == "MASTER" && st.VRRP[0].Priority == 120 && st.VRRP[0].EffectivePriority == 120
	})
	if ops := r.backend.take(); len(ops) != 0 {
		t.Errorf("a VRRP-only reload wrote %v", ops)
	}
	if !r.net.has("10.0.0.9/24") {
		t.Error("VIP not held after the restart")
	}
}

// A graceful stop removes the VIP and the services.
func TestRunStopsGracefully(t *testing.T) {
	r := newReloadRig(t)
	r.waitFor("MASTER with both servers in the table", bothHealthyInTable)
	if !r.net.has("10.0.0.9/24") {
		t.Fatal("VIP not added while MASTER")
	}
	r.cancel()
	select {
	case err := <-r.done:
		r.done <- err // for the cleanup
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return")
	}
	if r.net.has("10.0.0.9/24") {
		t.Error("VIP still held after stop")
	}
	ops := r.backend.take()
	if len(ops) == 0 || ops[len(ops)-1].Kind != ipvs.DeleteService || ops[len(ops)-1].Service.Port != 80 {
		t.Errorf("the service was not deleted on stop; last operations %v", ops)
	}
}

// A real server that is down stays down across a reload that rebuilds its
// pool: its checks did not change, so it keeps its health state and the
// reload writes only the other server's new weight.
func TestReloadKeepsHealthState(t *testing.T) {
	r := newReloadRig(t)
	r.waitFor("MASTER with both servers in the table", bothHealthyInTable)
	r.web2.Close()
	r.waitFor("the second server down and out of the table", func(st Status) bool {
		rs := st.VirtualServers[0].RealServers[1]
		return !rs.Healthy && !rs.InTable
	})
	r.backend.take()
	if !waitForFile(r.mark) {
		t.Errorf("notify_down did not run: no %s", r.mark)
	}
	r.writeW(100, 4, 1)
	if err := r.d.Reload(); err != nil {
		t.Fatalf("Reload: %v", err)
	}
	time.Sleep(1500 * time.Millisecond)
	want := []ipvs.Op{{Kind: ipvs.UpdateDestination,
		Service:     ipvs.Service{Protocol: ipvs.TCP, Addr: netip.MustParseAddr("10.0.0.9"), Port: 80, Scheduler: "wrr"},
		Destination: ipvs.Destination{Addr: netip.MustParseAddr("127.0.0.1"), Port: uint16(r.p1), Weight: 4}}}
	if diff := cmp.Diff(want, r.backend.take(), ignorePos); diff != "" {
		t.Errorf("IPVS operations of the reload (-want +got):\n%s", diff)
	}
	st := r.d.Status(context.Background())
	if rs := st.VirtualServers[0].RealServers[1]; rs.Healthy || rs.InTable {
		t.Errorf("the down server came back with the reload: %+v", rs)
	}
}

func waitForFile(path string) bool {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := os.Stat(path); err == nil {
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return false
}

// keepalived's "weight 0": the real server stays in the table, healthy,
// at weight 0 (no new connections), and the change is one update.
func TestReloadToWeightZero(t *testing.T) {
	r := newReloadRig(t)
	r.waitFor("MASTER with both servers in the table", bothHealthyInTable)
	time.Sleep(1500 * time.Millisecond) // the first probes' writes, if any
	r.backend.take()

	r.write(100, 0)
	if err := r.d.Reload(); err != nil {
		t.Fatalf("Reload: %v", err)
	}
	want := []ipvs.Op{{Kind: ipvs.UpdateDestination,
		Service:     ipvs.Service{Protocol: ipvs.TCP, Addr: netip.MustParseAddr("10.0.0.9"), Port: 80, Scheduler: "wrr"},
		Destination: ipvs.Destination{Addr: netip.MustParseAddr("127.0.0.1"), Port: uint16(r.p2), Weight: 0}}}
	if diff := cmp.Diff(want, r.backend.take(), ignorePos); diff != "" {
		t.Errorf("IPVS operations of the reload (-want +got):\n%s", diff)
	}
	st := r.waitFor("both servers healthy in the table", bothHealthyInTable)
	for _, rs := range st.VirtualServers[0].RealServers {
		if rs.Address == fmt.Sprintf("127.0.0.1:%d", r.p2) && rs.TableWeight != 0 {
			t.Errorf("web2 table weight %d, want 0", rs.TableWeight)
		}
	}
}
