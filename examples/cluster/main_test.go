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
)

// The demo as a newcomer runs it, checked through its JSON report: DR
// through a kernel data plane (IPVS or nftables), both real servers
// served in the wrr ratio, the failover gap is under failoverBound at
// advert_int 1 s, the health check took a server out and put it back, and
// no namespace is left behind.
func TestIntegrationDemo(t *testing.T) {
	netnstest.RequireRoot(t)
	dir := buildtest.Programs(t,
		"github.com/lvskit/lvskit/examples/cluster",
		"github.com/lvskit/lvskit/examples/director",
		"github.com/lvskit/lvskit/examples/router",
		"github.com/lvskit/lvskit/examples/realserver")
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(filepath.Join(dir, "cluster"), "--json", "-v")
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	runErr := cmd.Run()
	var rep report
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatalf("demo output is not its JSON report (%v, exit %v):\n%s\nstderr:\n%s", err, runErr, stdout.String(), stderr.String())
	}
	if runErr != nil || !rep.OK {
		t.Errorf("demo failed (exit %v), problems: %q\nstderr:\n%s", runErr, rep.Problems, stderr.String())
	}

	// The book runs figure 8-5 in DR; so does the demo, through kernel
	// IPVS or, on a kernel without it (this machine's), nftables.
	if rep.Method != "DR" || (rep.Backend != "netlink" && rep.Backend != "nftables") {
		t.Errorf("backend %s (%s), lb_kind %s; want DR through netlink or nftables", rep.Backend, rep.BackendReason, rep.Method)
	}
	total := 0
	for _, s := range rep.Distribution {
		total += s.Weight
	}
	if len(rep.Distribution) != 2 {
		t.Fatalf("distribution over %d servers, want 2: %+v", len(rep.Distribution), rep.Distribution)
	}
	for _, s := range rep.Distribution {
		want := rep.Requests * s.Weight / total
		if s.Served < want-total || s.Served > want+total {
			t.Errorf("%s served %d of %d, want %d ± %d (weight %d of %d)", s.Server, s.Served, rep.Requests, want, total, s.Weight, total)
		}
	}
	f := rep.Failover
	if f.TookOver != "lvs_2" {
		t.Errorf("took over: %q, want lvs_2", f.TookOver)
	}
	if gap := time.Duration(f.Gap); gap <= 0 || gap >= failoverBound {
		t.Errorf("failover gap %v, want printed and under %v", gap, failoverBound)
	}
	h := rep.Health
	if h.WhileDown[h.Server] != 0 || h.WhileDown["web1"] == 0 {
		t.Errorf("while %s was down, served: %v", h.Server, h.WhileDown)
	}
	if h.AfterReturn[h.Server] == 0 {
		t.Errorf("after %s came back, served: %v", h.Server, h.AfterReturn)
	}
	// Other tests may make namespaces meanwhile: look at the demo's own.
	after, err := netnstest.Namespaces()
	if err != nil {
		t.Fatal(err)
	}
	prefix := fmt.Sprintf("lvsdemo%d-", cmd.Process.Pid)
	for _, n := range after {
		if strings.HasPrefix(n, prefix) {
			t.Errorf("namespace %s left behind", n)
		}
	}
	if len(rep.LeftBehind) != 0 {
		t.Errorf("the report says left behind: %v", rep.LeftBehind)
	}
}
