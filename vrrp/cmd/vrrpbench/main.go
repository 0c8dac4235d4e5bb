// Command vrrpbench measures the vrrp package against keepalived on this
// machine, in network namespaces it creates and removes (it needs root):
//
//   - failover: a keepalived master (priority 200) is SIGKILLed while the
//     backup under test (priority 100, lvskit or keepalived) watches; from
//     the dead master's last advert on the wire (kernel timestamps on the
//     backup's interface) to the new master's first advert, its first
//     gratuitous ARP, and the VIP appearing in the backup's namespace. The
//     RFC's master-down interval is printed next to the results.
//   - handover: the same, but the keepalived master stops gracefully
//     (SIGTERM: it sends priority 0), so the backup takes over after its
//     skew time rather than the master-down interval; times from the
//     master's priority-0 advert. The RFC's skew and master-down interval
//     are printed next to the results. (This is the timing the VRRP
//     integration tests used to assert; they now check only who holds the
//     VIP.)
//   - flood: a master (lvskit, then keepalived as the anchor) flooded with
//     adverts of lower priority, then with malformed ones: its adverts and
//     gratuitous ARPs on the wire, and how much it logged (lvskit at debug).
//   - scale: 1,000 instances (VRIDs 1..250 on 4 interfaces) in this process
//     at advert_int 1s, as backups of a keepalived with 1,000 masters and as
//     masters over a keepalived with 1,000 backups; CPU of both processes.
//
// Results are written as Markdown to -out.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"log"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/lvskit/lvskit/internal/nslab"
	"github.com/lvskit/lvskit/internal/peer"
	"github.com/lvskit/lvskit/internal/procstat"
	"github.com/lvskit/lvskit/netcfg"
	"github.com/lvskit/lvskit/netcfg/vrrpnet"
	"github.com/lvskit/lvskit/vrrp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/vishvananda/netlink"
)

func main() {
	out := flag.String("out", "vrrpbench.md", "file to write results to")
	runs := flag.Int("runs", 20, "failover runs per case and implementation")
	what := flag.String("bench", "failover,handover,flood,scale", "comma-separated: failover, handover, flood, scale")
	floodTime := flag.Duration("flood-time", 5*time.Second, "how long each flood of the flood bench lasts")
	floodRate := flag.Int("flood-rate", 1000, "packets per second of the flood bench")
	instances := flag.Int("instances", 1000, "instances for the scale bench")
	versions = flag.String("versions", "2,3", "failover cases to run: VRRP versions 2 (advert_int 1s) and 3 (100ms)")
	verbose = flag.Bool("v", false, "log the lvskit instance under test (failover) to stderr")
	cpuprofile = flag.String("cpuprofile", "", "write a CPU profile of the scale measurement windows to this file prefix")
	measure := flag.Duration("measure", 20*time.Second, "CPU measurement window for the scale bench")
	batch = flag.Duration("batch", 0, "RawConfig.BatchInterval of the scale bench's transport (0: the default)")
	impls = flag.String("impls", "lvskit,keepalived", "failover backups to measure")
	scenarios = flag.String("scenarios", "backup,master", "scale scenarios to run: lvskit as backup, lvskit as master")
	flag.Parse()
	if os.Geteuid() != 0 {
		log.Fatal("vrrpbench needs root (network namespaces, raw sockets)")
	}
	var report strings.Builder
	fmt.Fprintf(&report, "# vrrpbench %s\n\n", time.Now().UTC().Format(time.RFC3339))
	for _, b := range strings.Split(*what, ",") {
		var err error
		switch strings.TrimSpace(b) {
		case "failover":
			err = benchFailover(&report, *runs, false)
		case "handover":
			err = benchFailover(&report, *runs, true)
		case "flood":
			err = benchFlood(&report, *floodTime, *floodRate)
		case "scale":
			err = benchScale(&report, *instances, *measure)
		default:
			err = fmt.Errorf("unknown bench %q", b)
		}
		if err != nil {
			log.Fatalf("%s: %v", b, err)
		}
	}
	if err := os.WriteFile(*out, []byte(report.String()), 0o644); err != nil {
		log.Fatal(err)
	}
	fmt.Print(report.String())
}

var (
	cpuprofile, versions, scenarios, impls *string
	batch                                  *time.Duration
	verbose                                *bool
)

func newLab() *nslab.Lab {
	var b [3]byte
	rand.Read(b[:])
	return nslab.New("vrb" + hex.EncodeToString(b[:]))
}

// ---- failover ----

type fcase struct {
	name     string
	version  int
	interval time.Duration
}

type sample struct{ advert, garp, vip time.Duration }

func masterDown(c fcase, prio int) time.Duration {
	skew := time.Duration(256-prio) * time.Second / 256
	if c.version == 3 {
		skew = time.Duration(256-prio) * c.interval / 256
	}
	return 3*c.interval + skew
}

func kaConf(c fcase, state string, prio int, vrid int, iface, vip string) string {
	return fmt.Sprintf(`vrrp_instance VI_%d {
  state %s
  interface %s
  virtual_router_id %d
  priority %d
  advert_int %g
  version %d
  virtual_ipaddress {
    %s dev %s
  }
}
`, vrid, state, iface, vrid, prio, c.interval.Seconds(), c.version, vip, iface)
}

// skew is the RFC's skew time of a backup of priority prio.
func skew(c fcase, prio int) time.Duration {
	if c.version == 3 {
		return time.Duration(256-prio) * c.interval / 256
	}
	return time.Duration(256-prio) * time.Second / 256
}

// benchFailover measures takeovers after the master is killed, or with
// graceful after it stops and sends priority 0.
func benchFailover(w *strings.Builder, runs int, graceful bool) error {
	var cases []fcase
	for _, c := range []fcase{{"v2, advert_int 1s", 2, time.Second}, {"v3, advert_int 100ms", 3, 100 * time.Millisecond}} {
		if strings.Contains(*versions, fmt.Sprint(c.version)) {
			cases = append(cases, c)
		}
	}
	if graceful {
		fmt.Fprintf(w, "## Graceful handover (%d runs per row; backup priority 100; the master stops with SIGTERM and sends priority 0; times from that advert on the wire)\n\n", runs)
		fmt.Fprintf(w, "| case | backup | RFC skew | RFC master-down | first advert median | p99 | p99 − skew | first GARP median | p99 | VIP present median | p99 |\n")
		fmt.Fprintf(w, "|---|---|---|---|---|---|---|---|---|---|---|\n")
	} else {
		fmt.Fprintf(w, "## Failover (%d runs per row; backup priority 100; times from the dead master's last advert on the wire)\n\n", runs)
		fmt.Fprintf(w, "| case | backup | RFC master-down | first advert median | p99 | p99 − master-down | first GARP median | p99 | VIP present median | p99 |\n")
		fmt.Fprintf(w, "|---|---|---|---|---|---|---|---|---|---|\n")
	}
	for _, c := range cases {
		for _, impl := range []string{"lvskit", "keepalived"} {
			if !strings.Contains(*impls, impl) {
				continue
			}
			log.Printf("failover %s, backup %s", c.name, impl)
			ss, err := failoverRuns(c, impl, runs, graceful)
			if err != nil {
				return fmt.Errorf("%s %s: %w", c.name, impl, err)
			}
			md := masterDown(c, 100)
			col := func(f func(sample) time.Duration) (time.Duration, time.Duration) {
				var v []time.Duration
				for _, s := range ss {
					v = append(v, f(s))
				}
				slices.Sort(v)
				return v[len(v)/2], v[min(len(v)-1, (len(v)*99+99)/100-1)]
			}
			am, ap := col(func(s sample) time.Duration { return s.advert })
			gm, gp := col(func(s sample) time.Duration { return s.garp })
			vm, vp := col(func(s sample) time.Duration { return s.vip })
			if graceful {
				sk := skew(c, 100)
				fmt.Fprintf(w, "| %s | %s | %v | %v | %v | %v | %+v | %v | %v | %v | %v |\n", c.name, impl, ms(sk), ms(md), ms(am), ms(ap), ms(ap-sk), ms(gm), ms(gp), ms(vm), ms(vp))
				continue
			}
			fmt.Fprintf(w, "| %s | %s | %v | %v | %v | %+v | %v | %v | %v | %v |\n", c.name, impl, ms(md), ms(am), ms(ap), ms(ap-md), ms(gm), ms(gp), ms(vm), ms(vp))
		}
	}
	fmt.Fprintln(w)
	return nil
}

// logger logs the instance under test to stderr with -v.
func logger() *slog.Logger {
	if !*verbose {
		return nil
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond)) }

func failoverRuns(c fcase, impl string, runs int, graceful bool) (_ []sample, err error) {
	lab := newLab()
	defer lab.Close()
	lan, err := lab.LAN("lan")
	if err != nil {
		return nil, err
	}
	m, err := lab.Host("m")
	if err != nil {
		return nil, err
	}
	b, err := lab.Host("b")
	if err != nil {
		return nil, err
	}
	if err := lan.Connect(m, "eth0", "10.98.0.1/24"); err != nil {
		return nil, err
	}
	if err := lan.Connect(b, "eth0", "10.98.0.2/24"); err != nil {
		return nil, err
	}
	mAddr, bAddr := netip.MustParseAddr("10.98.0.1"), netip.MustParseAddr("10.98.0.2")
	vip := netip.MustParsePrefix("10.98.0.100/32")
	bMAC, err := b.HardwareAddr("eth0")
	if err != nil {
		return nil, err
	}
	var sn *sniffer
	if err := b.Do(func() (err error) { sn, err = newSniffer("eth0"); return err }); err != nil {
		return nil, err
	}
	go sn.run()
	defer sn.close()

	// Address events in b, read through the netpoller (a blocking
	// subscription would hold a P and delay the instance's timers).
	var aw *addrWatcher
	if err := b.Do(func() (err error) { aw, err = newAddrWatcher(); return err }); err != nil {
		return nil, err
	}
	defer aw.close()
	ns := b.NsHandle()
	vipAdded := make(chan time.Time, 64)
	go func() {
		for e := range aw.added {
			if e.addr == vip.Addr() {
				vipAdded <- e.at
			}
		}
	}()
	hasVIP := func() bool {
		as, _ := b.Netlink().AddrList(nil, netlink.FAMILY_V4)
		for _, a := range as {
			if ip, ok := netip.AddrFromSlice(a.IP); ok && ip.Unmap() == vip.Addr() {
				return true
			}
		}
		return false
	}

	tmp, err := os.MkdirTemp("", "vrrpbench")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)

	// The backup under test.
	var stopBackup func()
	switch impl {
	case "lvskit":
		host, err := netcfg.Open(netcfg.Config{NetNSHandle: ns})
		if err != nil {
			return nil, err
		}
		defer host.Close()
		tr := vrrp.NewRawTransport(vrrp.RawConfig{Netns: &ns})
		defer tr.Close()
		inst, err := vrrp.New(vrrp.Config{Interface: "eth0", VRID: 51, Version: c.version, Priority: 100,
			AdvertInterval: c.interval, VIPs: []vrrp.VIP{{Prefix: vip}}, Network: vrrpnet.New(host), Transport: tr, Logger: logger()})
		if err != nil {
			return nil, err
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- inst.Run(ctx) }()
		stopBackup = func() { cancel(); <-done }
	case "keepalived":
		k, err := peer.RunKeepalived(b, filepath.Join(tmp, "backup"), kaConf(c, "BACKUP", 100, 51, "eth0", vip.String()))
		if err != nil {
			return nil, err
		}
		stopBackup = func() { k.Stop() }
	}
	defer stopBackup()

	md := masterDown(c, 100)
	var out []sample
	for run := 0; run < runs; run++ {
		sn.reset()
		for len(vipAdded) > 0 {
			<-vipAdded
		}
		master, err := peer.RunKeepalived(m, filepath.Join(tmp, fmt.Sprint("m", run)), kaConf(c, "MASTER", 200, 51, "eth0", vip.String()))
		if err != nil {
			return nil, err
		}
		// Steady: the master advertises and the backup has let go of the VIP.
		deadline := time.Now().Add(3*md + 10*time.Second)
		for {
			n := 0
			for _, e := range sn.snapshot() {
				if e.kind == "vrrp" && e.src == mAddr && e.prio == 200 {
					n++
				}
			}
			if n >= 3 && !hasVIP() {
				break
			}
			if time.Now().After(deadline) {
				master.Kill()
				return nil, fmt.Errorf("run %d: no steady state (master log:\n%s)", run, master.Log())
			}
			time.Sleep(c.interval / 4)
		}
		time.Sleep(2 * c.interval)
		for len(vipAdded) > 0 {
			<-vipAdded
		}
		if graceful {
			// Stop waits for the process: the takeover is measured meanwhile.
			go master.Stop()
		} else {
			master.Kill()
		}
		m.Netlink() // the dead master's VIP stays in m; it does not matter to b
		// Wait for the backup's advert, GARP and VIP.
		deadline = time.Now().Add(md + 5*time.Second)
		var s sample
		var vipAt time.Time
		for {
			if vipAt.IsZero() {
				select {
				case vipAt = <-vipAdded:
				default:
				}
			}
			ev := sn.snapshot()
			var lastM, firstB, firstG time.Time
			for _, e := range ev {
				if e.kind == "vrrp" && e.src == mAddr && e.at.After(lastM) {
					lastM = e.at
				}
			}
			for _, e := range ev {
				if e.at.Before(lastM) {
					continue
				}
				if e.kind == "vrrp" && e.src == bAddr && e.prio > 0 && firstB.IsZero() {
					firstB = e.at
				}
				if e.kind == "garp" && e.src == vip.Addr() && slices.Equal(e.mac, bMAC) && firstG.IsZero() {
					firstG = e.at
				}
			}
			if !firstB.IsZero() && !firstG.IsZero() && !vipAt.IsZero() {
				s = sample{advert: firstB.Sub(lastM), garp: firstG.Sub(lastM), vip: vipAt.Sub(lastM)}
				break
			}
			if time.Now().After(deadline) {
				return nil, fmt.Errorf("run %d: backup did not take over (advert %v, garp %v, vip %v)", run, firstB, firstG, vipAt)
			}
			time.Sleep(10 * time.Millisecond)
		}
		out = append(out, s)
		log.Printf("  run %d: advert %v garp %v vip %v", run, ms(s.advert), ms(s.garp), ms(s.vip))
		if s.advert > md+5*time.Millisecond {
			// Diagnose outliers: the wire around the takeover.
			ev := sn.snapshot()
			var lastM time.Time
			for _, e := range ev {
				if e.kind == "vrrp" && e.src == mAddr && e.at.After(lastM) {
					lastM = e.at
				}
			}
			for _, e := range ev {
				if d := e.at.Sub(lastM); d > -3*c.interval && d < md+c.interval {
					log.Printf("    %+v %s %v prio %d", ms(d), e.kind, e.src, e.prio)
				}
			}
		}
	}
	return out, nil
}

// ---- scale ----

func benchScale(w *strings.Builder, n int, window time.Duration) error {
	fmt.Fprintf(w, "## %d instances at advert_int 1s, CPU over %v (100%% = one core)\n\n", n, window)
	fmt.Fprintf(w, "| scenario | lvskit (this process) | keepalived (VRRP process) | lvskit instances in the expected state |\n|---|---|---|---|\n")
	for _, lvsMaster := range []bool{false, true} {
		if lvsMaster && !strings.Contains(*scenarios, "master") || !lvsMaster && !strings.Contains(*scenarios, "backup") {
			continue
		}
		row, err := scaleRun(n, window, lvsMaster)
		if err != nil {
			return err
		}
		fmt.Fprintln(w, row)
	}
	fmt.Fprintln(w)
	return nil
}

func scaleRun(n int, window time.Duration, lvsMaster bool) (string, error) {
	const ifaces = 4
	per := (n + ifaces - 1) / ifaces
	if per > 255 {
		return "", fmt.Errorf("%d instances need more than 255 VRIDs per interface", n)
	}
	lab := newLab()
	defer lab.Close()
	a, err := lab.Host("a") // keepalived
	if err != nil {
		return "", err
	}
	b, err := lab.Host("b") // lvskit
	if err != nil {
		return "", err
	}
	for i := range ifaces {
		if err := lab.Link(a, fmt.Sprint("eth", i), fmt.Sprintf("10.97.%d.1/24", i), b, fmt.Sprint("eth", i), fmt.Sprintf("10.97.%d.2/24", i)); err != nil {
			return "", err
		}
	}
	c := fcase{version: 2, interval: time.Second}
	vipOf := func(k int) netip.Prefix {
		return netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 96, byte(k / 250), byte(k%250 + 1)}), 32)
	}
	var conf strings.Builder
	kState, kPrio, lPrio := "MASTER", 200, 100
	if lvsMaster {
		kState, kPrio, lPrio = "BACKUP", 100, 200
	}
	for k := range n {
		iface := fmt.Sprint("eth", k/per)
		vrid := k%per + 1
		conf.WriteString(strings.Replace(kaConf(c, kState, kPrio, vrid, iface, vipOf(k).String()),
			fmt.Sprintf("vrrp_instance VI_%d", vrid), fmt.Sprintf("vrrp_instance VI_%d", k), 1))
	}
	tmp, err := os.MkdirTemp("", "vrrpbench")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	k, err := peer.RunKeepalived(a, tmp, conf.String())
	if err != nil {
		return "", err
	}
	defer k.Stop()
	if !lvsMaster {
		// keepalived first, so that lvskit's instances start as backups of
		// working masters (a keepalived backup flooded with lower-priority
		// adverts is slow to take over: its master-down timer rides on its
		// socket read timeout).
		end := time.Now().Add(60 * time.Second)
		for strings.Count(k.Log(), "Entering MASTER STATE") < n && time.Now().Before(end) {
			time.Sleep(200 * time.Millisecond)
		}
	}

	ns := b.NsHandle()
	host, err := netcfg.Open(netcfg.Config{NetNSHandle: ns})
	if err != nil {
		return "", err
	}
	defer host.Close()
	tr := vrrp.NewRawTransport(vrrp.RawConfig{Netns: &ns, BatchInterval: *batch})
	defer tr.Close()
	ctx, cancel := context.WithCancel(context.Background())
	var insts []*vrrp.Instance
	metrics := vrrp.NewMetrics()
	done := make(chan error, n)
	for k := range n {
		inst, err := vrrp.New(vrrp.Config{Name: fmt.Sprint("i", k), Interface: fmt.Sprint("eth", k/per), VRID: uint8(k%per + 1),
			Priority: lPrio, VIPs: []vrrp.VIP{{Prefix: vipOf(k)}}, Network: vrrpnet.New(host), Transport: tr, Metrics: metrics})
		if err != nil {
			cancel()
			return "", err
		}
		insts = append(insts, inst)
		go func() { done <- inst.Run(ctx) }()
	}
	defer func() {
		cancel()
		for range insts {
			<-done
		}
	}()
	want := vrrp.StateBackup
	if lvsMaster {
		want = vrrp.StateMaster
	}
	count := func() int {
		c := 0
		for _, in := range insts {
			s := in.Status()
			if s.State == want && (lvsMaster || s.Master.IsValid()) {
				c++
			}
		}
		return c
	}
	end := time.Now().Add(30 * time.Second)
	for count() < n && time.Now().Before(end) {
		time.Sleep(200 * time.Millisecond)
	}
	time.Sleep(7 * time.Second) // warm up past garp_master_delay (5s): steady state only
	kpid := k.VRRPPID()
	self0, k0 := selfCPU(), keepalivedCPU(kpid)
	t0 := time.Now()
	log.Printf("measuring CPU for %v (pid %d, keepalived pid %d)", window, os.Getpid(), kpid)
	if *cpuprofile != "" {
		f, err := os.Create(fmt.Sprintf("%s.%v", *cpuprofile, lvsMaster))
		if err == nil {
			pprof.StartCPUProfile(f)
			defer f.Close()
		}
	}
	time.Sleep(window)
	if *cpuprofile != "" {
		pprof.StopCPUProfile()
	}
	wall := time.Since(t0)
	self1, k1 := selfCPU(), keepalivedCPU(kpid)
	pct := func(d time.Duration) string { return fmt.Sprintf("%.2f%%", 100*float64(d)/float64(wall)) }
	name := fmt.Sprintf("lvskit %d backups ← keepalived %d masters", n, n)
	if lvsMaster {
		name = fmt.Sprintf("lvskit %d masters → keepalived %d backups", n, n)
	}
	states := map[string]int{}
	for _, in := range insts {
		s := in.Status()
		states[fmt.Sprintf("%v(master known %v)", s.State, s.Master.IsValid())]++
	}
	log.Printf("%s: states %v", name, states)
	logCounters(metrics)
	klog := k.Log()
	log.Printf("  keepalived: %d MASTER, %d BACKUP entries", strings.Count(klog, "Entering MASTER STATE"), strings.Count(klog, "Entering BACKUP STATE"))
	if p := os.Getenv("VRRPBENCH_KEEPALIVED_LOG"); p != "" {
		os.WriteFile(fmt.Sprintf("%s.%v", p, lvsMaster), []byte(klog), 0o644)
	}
	return fmt.Sprintf("| %s | %s | %s | %d/%d |", name, pct(self1-self0), pct(k1-k0), count(), n), nil
}

// keepalivedCPU is the CPU time of keepalived's VRRP process.
func keepalivedCPU(pid int) time.Duration {
	c, err := procstat.ReadCPU(pid)
	if err != nil {
		log.Printf("keepalived cpu time: %v", err)
	}
	return c.Total()
}

func selfCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// logCounters logs the sums of the instances' counters by metric and reason.
func logCounters(m *vrrp.Metrics) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(m)
	mfs, err := reg.Gather()
	if err != nil {
		return
	}
	for _, mf := range mfs {
		sums := map[string]float64{}
		for _, mt := range mf.GetMetric() {
			key := ""
			for _, l := range mt.GetLabel() {
				if l.GetName() == "reason" || l.GetName() == "to" {
					key = l.GetValue()
				}
			}
			if c := mt.GetCounter(); c != nil {
				sums[key] += c.GetValue()
			}
		}
		if len(sums) > 0 {
			log.Printf("  %s %v", mf.GetName(), sums)
		}
	}
}
