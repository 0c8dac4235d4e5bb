package main

// The -netns mode: the nftables backend's data plane next to a direct
// connection, the userspace proxy and HAProxy, between network
// namespaces, and the time to program 1,000 services x 10 destinations
// through it next to `nft -f` loading a table of the same size.
//
// One LAN (a bridge): a DR client (10.0.0.2), a NAT client (10.0.0.3),
// the director (10.0.0.1, and the DR VIP 10.0.0.100) and two real servers
// (10.0.0.11, .12, the VIP on lo, ARP for it off) running the Go HTTP
// backend on port 80. The NAT client's replies come back through the
// director (the real servers route 10.0.0.3 through it), the DR client's
// come straight from the real servers. Targets, all from a client
// namespace with wrk:
//
//	direct            10.0.0.11:80, one real server, no director
//	nftables NAT      10.0.0.1:80, DNAT rr over both (from 10.0.0.3)
//	nftables DR       10.0.0.100:80, dup + drop rr over both
//	userspace proxy   10.0.0.1:81 in the director's namespace, rr
//	haproxy           10.0.0.1:82 in the director's namespace, mode tcp
//
// Everything runs in namespaces this program makes and removes; nothing
// leaves the machine.

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"time"

	"github.com/lvskit/lvskit/internal/nslab"
	"github.com/lvskit/lvskit/ipvs"
)

// waitIn waits until addr accepts TCP connections from inside h.
func waitIn(h *nslab.Host, addr string) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		c, err := h.Dial(ctx, "tcp", addr)
		cancel()
		if err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not reachable from %s: %w", addr, h.Name(), err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// inNS prefixes a command so that it runs in namespace h (ip netns exec
// execs the command itself: the pid is the command's).
func inNS(h *nslab.Host, args ...string) []string {
	return append([]string{"ip", "netns", "exec", h.Name()}, args...)
}

// Program is the table-programming benchmark's result.
type Program struct {
	Services, Dests int
	// Medians of the rounds, milliseconds.
	SyncEmptyMs, NoopMs, OneChangeMs, NftFileMs float64
	NoopWrites, OneChangeWrites                 uint64
	Rounds                                      int
}

func runNetns(d time.Duration, conns, threads, rounds int, out, jsonOut string, programRounds int) error {
	if err := needTools("wrk", "haproxy", "nft", "ip"); err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	var rb [3]byte
	rand.Read(rb[:])
	lab := nslab.New("nftb" + hex.EncodeToString(rb[:]))
	defer lab.Close()

	prog, err := benchProgram(lab, programRounds)
	if err != nil {
		return fmt.Errorf("programming benchmark: %w", err)
	}

	lan, err := lab.LAN("lan")
	if err != nil {
		return err
	}
	host := func(name string, addrs ...string) (*nslab.Host, error) {
		h, err := lab.Host(name)
		if err != nil {
			return nil, err
		}
		return h, lan.Connect(h, "eth0", addrs...)
	}
	cliDR, err := host("clidr", "10.0.0.2/24")
	if err != nil {
		return err
	}
	cliNAT, err := host("clinat", "10.0.0.3/24")
	if err != nil {
		return err
	}
	dir, err := host("dir", "10.0.0.1/24", "10.0.0.100/32")
	if err != nil {
		return err
	}
	for _, s := range [][2]string{{"net.ipv4.ip_forward", "1"}, {"net.ipv4.conf.all.send_redirects", "0"}, {"net.ipv4.conf.eth0.send_redirects", "0"}} {
		if err := dir.SetSysctl(s[0], s[1]); err != nil {
			return err
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var children []*child
	defer stopAll(&children)
	for i := range 2 {
		h, err := host(fmt.Sprintf("rs%d", i+1), fmt.Sprintf("10.0.0.1%d/24", i+1))
		if err != nil {
			return err
		}
		for _, s := range [][2]string{{"net.ipv4.conf.all.arp_ignore", "1"}, {"net.ipv4.conf.all.arp_announce", "2"}, {"net.ipv4.conf.all.accept_redirects", "0"}} {
			if err := h.SetSysctl(s[0], s[1]); err != nil {
				return err
			}
		}
		if err := h.AddAddr("lo", "10.0.0.100/32"); err != nil {
			return err
		}
		if err := h.AddRoute("10.0.0.3/32", "10.0.0.1"); err != nil {
			return err
		}
		c, err := start(ctx, fmt.Sprintf("backend %d", i+1), inNS(h, self, "-role", "backend", "-listen", ":80")...)
		if err != nil {
			return err
		}
		children = append(children, c)
	}
	backends := "10.0.0.11:80,10.0.0.12:80"
	pc, err := start(ctx, "lvskit proxy", inNS(dir, self, "-role", "proxy", "-listen", "10.0.0.1:81", "-dests", backends)...)
	if err != nil {
		return err
	}
	children = append(children, pc)
	tmp, err := os.MkdirTemp("", "nftbench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	cfg := haproxyConfig("10.0.0.1:82", "10.0.0.11:80", "10.0.0.12:80")
	cfgPath := filepath.Join(tmp, "haproxy.cfg")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		return err
	}
	hc, err := start(ctx, "haproxy", inNS(dir, "haproxy", "-db", "-f", cfgPath)...)
	if err != nil {
		return err
	}
	children = append(children, hc)

	nb, err := ipvs.OpenNFTables(ipvs.NFTablesConfig{Netns: dir.NsHandle()})
	if err != nil {
		return err
	}
	defer nb.Close()
	a := netip.MustParseAddr
	dests := func(f ipvs.Forward, port uint16) []ipvs.Destination {
		return []ipvs.Destination{{Addr: a("10.0.0.11"), Port: port, Weight: 1, Forward: f}, {Addr: a("10.0.0.12"), Port: port, Weight: 1, Forward: f}}
	}
	if _, err := ipvs.Sync(ctx, nb, []ipvs.Service{
		{Protocol: ipvs.TCP, Addr: a("10.0.0.1"), Port: 80, Scheduler: "rr", Destinations: dests(ipvs.Masquerade, 80)},
		{Protocol: ipvs.TCP, Addr: a("10.0.0.100"), Port: 80, Scheduler: "rr", Destinations: dests(ipvs.DirectRoute, 0)},
	}); err != nil {
		return fmt.Errorf("program the director: %w", err)
	}

	type target struct {
		name string
		cli  *nslab.Host
		addr string
		pid  int
	}
	targets := []target{
		{"direct (one real server)", cliDR, "10.0.0.11:80", 0},
		{"nftables NAT", cliNAT, "10.0.0.1:80", 0},
		{"nftables DR", cliDR, "10.0.0.100:80", 0},
		{"lvskit userspace proxy", cliDR, "10.0.0.1:81", pc.cmd.Process.Pid},
		{"haproxy (mode tcp)", cliDR, "10.0.0.1:82", hc.cmd.Process.Pid},
	}
	for _, tg := range targets {
		if err := waitIn(tg.cli, tg.addr); err != nil {
			return fmt.Errorf("%s: %w", tg.name, err)
		}
	}
	var all, results []Result
	for _, mode := range []string{"keep-alive", "close"} {
		runs := make([][]Result, len(targets))
		for round := range rounds {
			for i, tg := range targets {
				log.Printf("wrk %s, %s, %v, round %d/%d", tg.name, mode, d, round+1, rounds)
				r, err := runWrk(tg.cli.Name(), tg.name, mode, "http://"+tg.addr+"/", d, conns, threads, tg.pid, children[0].cmd.Process.Pid, children[1].cmd.Process.Pid)
				if err != nil {
					return err
				}
				runs[i] = append(runs[i], r)
				all = append(all, r)
				time.Sleep(time.Second)
			}
		}
		for _, rs := range runs {
			results = append(results, median(rs))
		}
	}
	tab, err := nb.Dump(ctx)
	if err != nil {
		return err
	}
	report := netnsMarkdown(results, prog, tab, d, conns, threads, rounds)
	if out == "" {
		fmt.Print(report)
	} else if err := os.WriteFile(out, []byte(report), 0o644); err != nil {
		return err
	}
	if jsonOut != "" {
		b, _ := json.MarshalIndent(map[string]any{
			"duration_seconds": d.Seconds(), "connections": conns, "threads": threads, "cpus": runtime.NumCPU(),
			"rounds": rounds, "medians": results, "runs": all, "program": prog,
		}, "", "  ")
		if err := os.WriteFile(jsonOut, append(b, '\n'), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// benchProgram times, in a namespace of its own, a Sync of 1,000 NAT
// services x 10 destinations into an empty nftables table, a no-op Sync
// of it and a Sync changing one weight, next to `nft -f` loading a table
// of the same shape (a verdict map of 1,000 services, a chain each with
// `dnat to numgen inc mod 10 map { ... }`). Median of rounds.
func benchProgram(lab *nslab.Lab, rounds int) (Program, error) {
	p := Program{Services: 1000, Dests: 10, Rounds: rounds}
	h, err := lab.Host("prog")
	if err != nil {
		return p, err
	}
	var want []ipvs.Service
	var nft strings.Builder
	var elems []string
	nft.WriteString("table ip bench {\n")
	for i := range p.Services {
		vip := netip.AddrFrom4([4]byte{10, 1, byte(i / 250), byte(i%250 + 1)})
		s := ipvs.Service{Protocol: ipvs.TCP, Addr: vip, Port: 80, Scheduler: "wrr"}
		var m []string
		for j := range p.Dests {
			rs := netip.AddrFrom4([4]byte{10, 2, byte(i / 25), byte((i%25)*10 + j + 1)})
			s.Destinations = append(s.Destinations, ipvs.Destination{Addr: rs, Port: 8080, Weight: int32(j%3 + 1), Forward: ipvs.Masquerade})
			m = append(m, fmt.Sprintf("%d : %s . 8080", j, rs))
		}
		want = append(want, s)
		fmt.Fprintf(&nft, "  chain s%d {\n    meta l4proto tcp dnat to numgen inc mod %d map { %s }\n  }\n", i, p.Dests, strings.Join(m, ", "))
		elems = append(elems, fmt.Sprintf("%s . 80 : jump s%d", vip, i))
	}
	fmt.Fprintf(&nft, "  map svc {\n    type ipv4_addr . inet_service : verdict\n    elements = { %s }\n  }\n", strings.Join(elems, ", "))
	nft.WriteString("  chain pre {\n    type nat hook prerouting priority dstnat; policy accept;\n    ip daddr . tcp dport vmap @svc\n  }\n}\n")
	f, err := os.CreateTemp("", "nftbench-*.nft")
	if err != nil {
		return p, err
	}
	defer os.Remove(f.Name())
	if _, err := f.WriteString(nft.String()); err != nil {
		return p, err
	}
	f.Close()

	n, err := ipvs.OpenNFTables(ipvs.NFTablesConfig{Netns: h.NsHandle()})
	if err != nil {
		return p, err
	}
	defer n.Close()
	ctx := context.Background()
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	var empty, noop, one, file []float64
	for round := range rounds {
		log.Printf("program 1,000 x 10, round %d/%d", round+1, rounds)
		if err := n.Flush(ctx); err != nil {
			return p, err
		}
		t0 := time.Now()
		pprof.Do(ctx, pprof.Labels("phase", "empty"), func(ctx context.Context) { _, err = ipvs.Sync(ctx, n, want) })
		if err != nil {
			return p, fmt.Errorf("sync into an empty table: %w", err)
		}
		empty = append(empty, ms(time.Since(t0)))
		w := n.Writes()
		t0 = time.Now()
		var ops []ipvs.Op
		pprof.Do(ctx, pprof.Labels("phase", "noop"), func(ctx context.Context) { ops, err = ipvs.Sync(ctx, n, want) })
		if err != nil {
			return p, err
		}
		noop = append(noop, ms(time.Since(t0)))
		p.NoopWrites = max(p.NoopWrites, n.Writes()-w)
		if len(ops) != 0 {
			return p, fmt.Errorf("no-op sync: %d operations", len(ops))
		}
		changed := slices.Clone(want)
		changed[500].Destinations = slices.Clone(changed[500].Destinations)
		changed[500].Destinations[3].Weight += 5
		w = n.Writes()
		t0 = time.Now()
		if _, err := ipvs.Sync(ctx, n, changed); err != nil {
			return p, err
		}
		one = append(one, ms(time.Since(t0)))
		p.OneChangeWrites = max(p.OneChangeWrites, n.Writes()-w)
		if err := n.Flush(ctx); err != nil {
			return p, err
		}

		t0 = time.Now()
		if b, err := exec.Command("ip", inNS(h, "nft", "-f", f.Name())[1:]...).CombinedOutput(); err != nil {
			return p, fmt.Errorf("nft -f: %w\n%s", err, b)
		}
		file = append(file, ms(time.Since(t0)))
		if b, err := exec.Command("ip", inNS(h, "nft", "delete", "table", "ip", "bench")[1:]...).CombinedOutput(); err != nil {
			return p, fmt.Errorf("nft delete table: %w\n%s", err, b)
		}
	}
	med := func(v []float64) float64 { slices.Sort(v); return v[len(v)/2] }
	p.SyncEmptyMs, p.NoopMs, p.OneChangeMs, p.NftFileMs = med(empty), med(noop), med(one), med(file)
	return p, nil
}

func netnsMarkdown(rs []Result, p Program, tab []ipvs.Service, d time.Duration, conns, threads, rounds int) string {
	var b strings.Builder
	w := bufio.NewWriter(&b)
	fmt.Fprintf(w, "# nftables backend between namespaces (%d CPUs)\n\n", runtime.NumCPU())
	fmt.Fprintf(w, "wrk -t%d -c%d -d%v --latency from a client namespace; Go HTTP backends on two real servers (direct: one); "+
		"round robin everywhere; median of %d interleaved rounds (errors: total). Load average at the end: %s.\n\n", threads, conns, d, rounds, loadavg())
	resultsTable(w, rs, false)
	find := func(target, mode string) *Result { return findResult(rs, target, mode) }
	fmt.Fprintln(w, "\n| target | mode | / direct requests/s | / direct p99 | / haproxy requests/s | goal (/ direct) |")
	fmt.Fprintln(w, "|---|---|---:|---:|---:|---|")
	for _, t := range []string{"nftables NAT", "nftables DR", "lvskit userspace", "haproxy"} {
		for _, mode := range []string{"keep-alive", "close"} {
			l, dr, h := find(t, mode), find("direct", mode), find("haproxy", mode)
			if l == nil || dr == nil || h == nil || dr.RPS == 0 || dr.P99us == 0 || h.RPS == 0 {
				continue
			}
			goal := "-"
			if strings.HasPrefix(t, "nftables") {
				g := map[string]float64{"keep-alive": 0.9, "close": 0.8}[mode]
				verdict := "met"
				if l.RPS/dr.RPS < g {
					verdict = "missed"
				}
				goal = fmt.Sprintf("≥ %.1f: %s", g, verdict)
			}
			fmt.Fprintf(w, "| %s | %s | %.2f | %.2f | %.2f | %s |\n", l.Target, mode, l.RPS/dr.RPS, l.P99us/dr.P99us, l.RPS/h.RPS, goal)
		}
	}
	fmt.Fprintf(w, "\nCounters the nftables backend read back after the runs:\n\n")
	for _, s := range tab {
		for _, dst := range s.Destinations {
			fmt.Fprintf(w, "- %s → %s (%s): %d connections, %d packets in, %d/%d active/inactive\n",
				s.Key(), dst.Key(), dst.Forward, dst.Stats.Connections, dst.Stats.PacketsIn, dst.ActiveConns, dst.InactiveConns)
		}
	}
	w.Flush()
	programMarkdown(&b, p)
	return b.String()
}

func programMarkdown(b *strings.Builder, p Program) {
	fmt.Fprintf(b, "\n## Programming %d services x %d destinations (median of %d rounds)\n\n", p.Services, p.Dests, p.Rounds)
	fmt.Fprintln(b, "| measure | time | writes | / `nft -f` of the same shape |")
	fmt.Fprintln(b, "|---|---:|---:|---:|")
	fmt.Fprintf(b, "| `nft -f` (anchor: a vmap of 1,000 services, a chain each with `dnat to numgen ... map`) | %.1f ms | 1 | 1.00 |\n", p.NftFileMs)
	fmt.Fprintf(b, "| lvskit Sync into an empty table | %.1f ms | 1 | %.2f |\n", p.SyncEmptyMs, p.SyncEmptyMs/p.NftFileMs)
	fmt.Fprintf(b, "| lvskit no-op Sync of the full table | %.1f ms | %d | %.2f |\n", p.NoopMs, p.NoopWrites, p.NoopMs/p.NftFileMs)
	fmt.Fprintf(b, "| lvskit Sync changing one weight | %.1f ms | %d | %.2f |\n", p.OneChangeMs, p.OneChangeWrites, p.OneChangeMs/p.NftFileMs)
}

// runProgramOnly runs the programming benchmark alone; with cpuProfile it
// writes this process's CPU profile of it, its phases labelled
// (`go tool pprof -tagfocus phase=empty`).
func runProgramOnly(rounds int, out, cpuProfile string) error {
	if err := needTools("nft", "ip"); err != nil {
		return err
	}
	var rb [3]byte
	rand.Read(rb[:])
	lab := nslab.New("nftp" + hex.EncodeToString(rb[:]))
	defer lab.Close()
	if cpuProfile != "" {
		f, err := os.Create(cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	prog, err := benchProgram(lab, rounds)
	if err != nil {
		return fmt.Errorf("programming benchmark: %w", err)
	}
	var b strings.Builder
	programMarkdown(&b, prog)
	fmt.Fprintf(&b, "\nLoad average at the end: %s.\n", loadavg())
	if out == "" {
		fmt.Print(b.String())
		return nil
	}
	return os.WriteFile(out, []byte(b.String()), 0o644)
}
