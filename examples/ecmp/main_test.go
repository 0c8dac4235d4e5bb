package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lvskit/lvskit/internal/buildtest"
	"github.com/lvskit/lvskit/internal/netnstest"
	"github.com/lvskit/lvskit/internal/peer"
)

// The ECMP demo as a newcomer runs it, checked through its JSON report:
// the router's route to the VIP through three directors, the long-lived
// connections spread over them (the router's ECMP and the directors' flow
// tables agreeing), a director's death noticed by the router (BFD: its
// link went down first) with no connection broken, its return with the
// flows where they were and still none broken, a real server's stop
// moving only its own connections, and no namespace left behind.
func TestIntegrationDemoECMP(t *testing.T) {
	netnstest.RequireRoot(t)
	peer.RequireFRR(t)
	dir := buildtest.Programs(t,
		"github.com/lvskit/lvskit/examples/ecmp",
		"github.com/lvskit/lvskit/examples/director",
		"github.com/lvskit/lvskit/examples/realserver")
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(filepath.Join(dir, "ecmp"), "--json", "-v")
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	runErr := cmd.Run()
	var rep report
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatalf("demo output is not its JSON report (%v, exit %v):\n%s\nstderr:\n%s", err, runErr, stdout.String(), stderr.String())
	}
	if runErr != nil || !rep.OK {
		t.Errorf("demo failed (exit %v), problems: %q\nstderr:\n%s", runErr, rep.Problems, stderr.String())
	}
	if rep.Backend != "nftables" {
		t.Errorf("backend %q, want nftables", rep.Backend)
	}
	if len(rep.Route.NextHops) != 3 || strings.Count(rep.Route.Text, "nexthop via") != 3 {
		t.Errorf("route to the VIP: %q (next hops %v), want three", rep.Route.Text, rep.Route.NextHops)
	}
	sum := func(m map[string]int) (n int) {
		for _, v := range m {
			n += v
		}
		return n
	}
	sp := rep.Spread
	if sum(sp.ByDirector) != rep.Conns || len(sp.ByDirector) != 3 || len(sp.ByServer) != 3 {
		t.Errorf("spread of %d connections: by director %v, by server %v; want all three of each", rep.Conns, sp.ByDirector, sp.ByServer)
	}
	if len(rep.Kills) != 1 {
		t.Fatalf("kills: %+v", rep.Kills)
	}
	k := rep.Kills[0]
	if d := time.Duration(k.DroppedAfter); d <= 0 || d > 30*time.Second {
		t.Errorf("the router dropped %s after %v", k.Director, d)
	}
	// Its link went down first: BFD, not a closed TCP session and not
	// the 90 s hold timer, told the router.
	if !strings.Contains(k.DroppedBecause, "BFD") {
		t.Errorf("the router dropped %s because %q, want BFD", k.Director, k.DroppedBecause)
	}
	if len(k.Broken) != 0 {
		t.Errorf("%d long-lived connections broke across the kill and return: %+v", len(k.Broken), k.Broken)
	}
	if _, ok := k.AfterKill[k.Director]; ok || sum(k.AfterKill) != rep.Conns {
		t.Errorf("after the kill, by director: %v", k.AfterKill)
	}
	if k.AfterReturn[k.Director] == 0 || sum(k.AfterReturn) != rep.Conns {
		t.Errorf("after the return, by director: %v", k.AfterReturn)
	}
	o := rep.ServerOut
	if o.Server == "" || o.Moved != o.ItsConns || o.OtherChanged != 0 || len(o.OtherBroken) != 0 || o.After[o.Server] != 0 {
		t.Errorf("real server out: %+v", o)
	}
	after, err := netnstest.Namespaces()
	if err != nil {
		t.Fatal(err)
	}
	prefix := fmt.Sprintf("lvsecmp%d-", cmd.Process.Pid)
	for _, n := range after {
		if strings.HasPrefix(n, prefix) {
			t.Errorf("namespace %s left behind", n)
		}
	}
}
