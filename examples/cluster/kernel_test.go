package main

import (
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lvskit/lvskit/internal/buildtest"
	"github.com/lvskit/lvskit/internal/vmtest"
)

// The demo inside the qemu VM, whose Debian kernel has IPVS: the directors
// program kernel IPVS over netlink and forward in DR mode.
func TestKernelDemo(t *testing.T) {
	if vmtest.InGuest() {
		t.Skip("host half")
	}
	dir := buildtest.Programs(t,
		"github.com/lvskit/lvskit/examples/cluster",
		"github.com/lvskit/lvskit/examples/director",
		"github.com/lvskit/lvskit/examples/router",
		"github.com/lvskit/lvskit/examples/realserver")
	files := map[string]string{}
	for _, b := range []string{"cluster", "director", "router", "realserver"} {
		files["/lvskit/bin/"+b] = filepath.Join(dir, b)
	}
	res := vmtest.Run(t, vmtest.Config{
		Command:   []string{"/lvskit/bin/cluster", "--json", "--backend", "netlink"},
		Files:     files,
		MemoryMiB: 1024,
		Timeout:   8 * time.Minute,
	})
	rep, err := reportFromConsole(res.Console)
	if err != nil {
		t.Fatalf("no JSON report on the guest console: %v", err)
	}
	if rep.Backend != "netlink" || rep.Method != "DR" {
		t.Errorf("backend %s lb_kind %s, want netlink DR", rep.Backend, rep.Method)
	}
	if !rep.OK {
		t.Errorf("demo problems in the VM: %q", rep.Problems)
	}
	for _, s := range rep.Distribution {
		want := rep.Requests * s.Weight / 4
		if s.Served < want-rep.Tolerance || s.Served > want+rep.Tolerance {
			t.Errorf("%s served %d of %d, want %d ± %d", s.Server, s.Served, rep.Requests, want, rep.Tolerance)
		}
	}
	if gap := time.Duration(rep.Failover.Gap); rep.Failover.TookOver != "lvs_2" || gap <= 0 || gap >= failoverBound {
		t.Errorf("failover: %s took over after %v, want lvs_2 under %v", rep.Failover.TookOver, gap, failoverBound)
	}
	t.Logf("in the VM: distribution %+v, failover gap %v, health check out after %v, back after %v",
		rep.Distribution, time.Duration(rep.Failover.Gap), time.Duration(rep.Health.DetectedAfter), time.Duration(rep.Health.ReturnedAfter))
}

// reportFromConsole finds the demo's indented JSON report among the
// console lines: from a line "{" to the line "}".
func reportFromConsole(lines []string) (*report, error) {
	start := -1
	for i, l := range lines {
		switch strings.TrimSpace(l) {
		case "{":
			if start < 0 && l == "{" {
				start = i
			}
		case "}":
			if start >= 0 && l == "}" {
				var rep report
				err := json.Unmarshal([]byte(strings.Join(lines[start:i+1], "\n")), &rep)
				return &rep, err
			}
		}
	}
	return nil, errors.New(`no report: no line "{" followed by a line "}"`)
}
