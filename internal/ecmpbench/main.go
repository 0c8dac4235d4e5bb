// Command ecmpbench measures active-active directors against the
// active-passive pair, with the role binaries that `make build` puts in
// bin/ (it needs root, and FRR for the router):
//
//   - ECMP, BFD 100 ms × 3: examples/ecmp with --bfd 100ms --kills N: a
//     director's host dies (link down, then SIGKILL) while the client holds
//     100 long-lived connections; from the death to the router's kernel
//     FIB without the director, the connections broken across the death
//     and the director's return, and why the router dropped it;
//   - ECMP, BGP timers alone: the same with --bfd 0 (keepalive 1 s, hold
//     3 s, FRR's shortest);
//   - VRRP: examples/cluster (the book's pair, advert_int 1 s) M times: the
//     time the client saw no service when the master's host died.
//
// Results are written as Markdown to -out.
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

func main() {
	bin := flag.String("bin", "bin", "folder of the role binaries (make build)")
	kills := flag.Int("kills", 5, "director deaths per ECMP case")
	vrrpRuns := flag.Int("vrrp-runs", 3, "runs of the cluster demo (one failover each)")
	out := flag.String("out", "ecmp.md", "file to write results to")
	flag.Parse()
	if os.Geteuid() != 0 {
		log.Fatal("ecmpbench needs root (network namespaces)")
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# ecmpbench %s\n\n", time.Now().UTC().Format(time.RFC3339))
	fmt.Fprintf(&b, "| case | runs | min | median | max | connections broken | dropped because |\n|---|---:|---:|---:|---:|---:|---|\n")
	failed := false
	for _, c := range []struct{ name, bfd string }{
		{"ECMP: director host death, BFD 100 ms × 3", "100ms"},
		{"ECMP: director host death, BGP timers alone (keepalive 1 s, hold 3 s)", "0"},
	} {
		rep, err := runECMP(*bin, c.bfd, *kills)
		if err != nil {
			log.Printf("%s: %v", c.name, err)
			failed = true
		}
		if rep == nil {
			fmt.Fprintf(&b, "| %s | 0 | | | | | %v |\n", c.name, err)
			continue
		}
		var drops []time.Duration
		broken, carried := 0, 0
		reasons := map[string]int{}
		for _, k := range rep.Kills {
			drops = append(drops, time.Duration(k.DroppedAfter*float64(time.Second)))
			broken += len(k.Broken)
			carried += k.Carried
			reasons[k.DroppedBecause]++
		}
		fmt.Fprintf(&b, "| %s | %d | %s | %s | %s | %d of %d long-lived (%d carried by the dead director) | %s |\n",
			c.name, len(drops), ms(minOf(drops)), ms(median(drops)), ms(maxOf(drops)), broken, rep.Conns*len(rep.Kills), carried, fmtCounts(reasons))
		for _, k := range rep.Kills {
			for _, br := range k.Broken {
				fmt.Fprintf(&b, "|   broken: connection %d on %s: %s | | | | | | |\n", br.Conn, br.Server, br.Err)
			}
		}
		if len(rep.Problems) > 0 {
			fmt.Fprintf(&b, "|   problems: %s | | | | | | |\n", strings.Join(rep.Problems, "; "))
		}
	}
	var gaps []time.Duration
	failedReqs := 0
	for range *vrrpRuns {
		rep, err := runCluster(*bin)
		if err != nil {
			log.Printf("cluster: %v", err)
			failed = true
		}
		if rep != nil && rep.Failover.Gap > 0 {
			gaps = append(gaps, time.Duration(rep.Failover.Gap*float64(time.Second)))
			failedReqs += rep.Failover.FailedRequests
		}
	}
	fmt.Fprintf(&b, "| VRRP: master host death (the cluster demo, advert_int 1 s, priority 99 backup) | %d | %s | %s | %s | (new connections: %d requests failed during the gaps) | master-down interval |\n",
		len(gaps), ms(minOf(gaps)), ms(median(gaps)), ms(maxOf(gaps)), failedReqs)
	fmt.Fprintf(&b, "\nECMP times run from the director's death (its link down) to the router's kernel FIB without it; VRRP times are the gap the client saw in service (from the last answered request before the death to the first after).\n")
	if err := os.WriteFile(*out, []byte(b.String()), 0o644); err != nil {
		log.Fatal(err)
	}
	fmt.Print(b.String())
	if failed {
		os.Exit(1)
	}
}

// ecmpReport is the part of examples/ecmp's JSON report read here.
type ecmpReport struct {
	Conns int `json:"long_lived_connections"`
	Kills []struct {
		Carried        int     `json:"carried"`
		DroppedAfter   float64 `json:"dropped_after_s"`
		DroppedBecause string  `json:"dropped_because"`
		Broken         []struct {
			Conn   int    `json:"Conn"`
			Server string `json:"Server"`
			Err    string `json:"Err"`
		} `json:"broken"`
	} `json:"kills"`
	Problems []string `json:"problems"`
	OK       bool     `json:"ok"`
}

func runECMP(bin, bfd string, kills int) (*ecmpReport, error) {
	var rep ecmpReport
	err := runJSON(filepath.Join(bin, "ecmp"), &rep, "--json", "--bfd", bfd, "--kills", fmt.Sprint(kills), "--server-out=false")
	if rep.Kills == nil {
		return nil, err
	}
	return &rep, err
}

// clusterReport is the part of examples/cluster's JSON report read here.
type clusterReport struct {
	Failover struct {
		Gap            float64 `json:"gap_s"`
		FailedRequests int     `json:"failed_requests"`
	} `json:"failover"`
}

func runCluster(bin string) (*clusterReport, error) {
	var rep clusterReport
	err := runJSON(filepath.Join(bin, "cluster"), &rep, "--json")
	return &rep, err
}

// runJSON runs a demo and decodes its JSON report into v; the error says
// if it failed (its report may still say what it measured).
func runJSON(path string, v any, args ...string) error {
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(path, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	runErr := cmd.Run()
	if err := json.Unmarshal(stdout.Bytes(), v); err != nil {
		return fmt.Errorf("%s %v: no JSON report (%v, exit %v): %s", path, args, err, runErr, stderr.String())
	}
	if runErr != nil {
		return fmt.Errorf("%s %v: %v", path, args, runErr)
	}
	return nil
}

func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

func minOf(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	return slices.Min(ds)
}

func maxOf(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	return slices.Max(ds)
}

func ms(d time.Duration) string { return fmt.Sprintf("%d ms", d.Milliseconds()) }

func fmtCounts(m map[string]int) string {
	var parts []string
	for k, n := range m {
		parts = append(parts, fmt.Sprintf("%s ×%d", k, n))
	}
	slices.Sort(parts)
	return strings.Join(parts, "; ")
}
