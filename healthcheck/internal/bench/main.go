// Command bench measures what keepalived-style HTTP health checking of many
// targets costs. It starts a server process with one loopback listener per
// target (distinct ports, one epoll thread answering all of them), then
// lets two checkers take turns on the same targets: lvskit (one
// healthcheck.Monitor per target checking HTTP_GET with a digest every
// interval) and, as the anchor, HAProxy (option httpchk GET /, check inter
// <interval>, backends of 1,000 servers, no traffic). For each it reports
// the probes per second the server answered, the checker process's CPU
// (user and system, as a percentage of one core, and per probe), its
// memory (RSS, peak RSS), the server's CPU, the whole machine's CPU and
// the namespace's TCP counters; for lvskit also the Go heap and the time
// probes took. Last, on the wall clock, how long a killed server takes to
// be reported down (-detect-runs).
//
//	go run ./healthcheck/internal/bench -targets 10000 -interval 1s -duration 30s -out bench.md
//
// As root the run has a network namespace of its own. Everything stays on
// 127.0.0.1; the run is bounded by -duration (per checker, split over
// -rounds turns). keepalived's checker cannot be the anchor: it needs
// kernel IPVS, which the bench host may lack.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"runtime/pprof"
	"runtime/trace"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/lvskit/lvskit/healthcheck"
	"github.com/lvskit/lvskit/internal/procstat"
)

func main() {
	serve := flag.Int("serve", 0, "internal: run as the server process with this many listeners")
	targets := flag.Int("targets", 10000, "number of HTTP targets (one loopback port each)")
	interval := flag.Duration("interval", time.Second, "delay_loop of every target")
	duration := flag.Duration("duration", 30*time.Second, "measurement time of each checker, split over the rounds (each round after a warmup)")
	rounds := flag.Int("rounds", 2, "turns the checkers take (lvskit, HAProxy, lvskit, HAProxy, ...)")
	out := flag.String("out", "", "file to write the results to (also printed)")
	kind := flag.String("kind", "http", "checker: http (HTTP_GET with digest) or tcp (TCP_CHECK), for comparison")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the measured period to this file")
	tracefile := flag.String("trace", "", "write an execution trace of 2 s before the measured period to this file")
	memprofile := flag.String("memprofile", "", "write a heap profile at the end of the measured period to this file")
	ownNetns := flag.Bool("netns", true, "as root, run in a network namespace of its own (no host conntrack or traffic in the way)")
	inNetns := flag.Bool("in-netns", false, "internal: this process is already in its own namespace")
	haproxy := flag.String("haproxy", defaultHAProxy(), "HAProxy binary to run as the anchor on the same targets (empty: none)")
	detectRuns := flag.Int("detect-runs", 20, "runs of the detection measurement (a killed server reported down; 0: none)")
	flag.Parse()
	raiseNoFile()
	if *serve == 0 && *ownNetns && !*inNetns && os.Geteuid() == 0 {
		os.Exit(reexecInNetns())
	}
	if *inNetns {
		if err := loopbackUp(); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
	}
	if *serve > 0 {
		if err := runServer(*serve); err != nil {
			fmt.Fprintln(os.Stderr, "bench server:", err)
			os.Exit(1)
		}
		return
	}
	res, err := run(*kind, *targets, *interval, *duration, *cpuprofile, *memprofile, *tracefile, *inNetns, *haproxy, *rounds)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
	if *detectRuns > 0 {
		d, err := detection(*detectRuns)
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench: detection:", err)
			os.Exit(1)
		}
		res += d
	}
	fmt.Print(res)
	if *out != "" {
		if err := os.WriteFile(*out, []byte(res), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
	}
}

// reexecInNetns runs this program again in a new network namespace and
// returns its exit code. A host with nf_conntrack loaded would otherwise
// track (and, with ten thousand connections a second, soon drop) every
// probe; a fresh namespace has no conntrack and no one else's traffic.
func reexecInNetns() int {
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 1
	}
	cmd := exec.Command(self, append([]string{"-in-netns"}, os.Args[1:]...)...)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET}
	if err := cmd.Run(); err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode()
		}
		fmt.Fprintln(os.Stderr, "bench: run in a new network namespace:", err)
		return 1
	}
	return 0
}

func loopbackUp() error {
	lo, err := netlink.LinkByName("lo")
	if err != nil {
		return fmt.Errorf("find loopback: %w", err)
	}
	if err := netlink.LinkSetUp(lo); err != nil {
		return fmt.Errorf("set loopback up: %w", err)
	}
	return nil
}

func defaultHAProxy() string {
	p, err := exec.LookPath("haproxy")
	if err != nil {
		return ""
	}
	return p
}

// raiseNoFile lifts the soft limit on open files to the hard limit.
func raiseNoFile() {
	var r unix.Rlimit
	if unix.Getrlimit(unix.RLIMIT_NOFILE, &r) != nil {
		return
	}
	if r.Max < 1<<18 && os.Geteuid() == 0 {
		// Root may raise the hard limit; HAProxy wants one above its
		// maxconn for its 10,000 checks.
		if unix.Setrlimit(unix.RLIMIT_NOFILE, &unix.Rlimit{Cur: 1 << 18, Max: 1 << 18}) == nil {
			return
		}
	}
	if r.Cur < r.Max {
		r.Cur = r.Max
		unix.Setrlimit(unix.RLIMIT_NOFILE, &r)
	}
}

// counting wraps a checker and counts its results. It embeds the checker
// so the monitor applies that kind's keepalived defaults.
type counting struct {
	healthcheck.Checker
	ok, failed *atomic.Int64
	busy       *atomic.Int64 // nanoseconds spent in Check, summed
	hist       *[len(histBounds) + 1]atomic.Int64
	lastErr    *atomic.Value
}

// histBounds are the upper bounds of the probe time histogram.
var histBounds = [...]time.Duration{time.Millisecond, 10 * time.Millisecond, 100 * time.Millisecond, time.Second}

func (c counting) Check(ctx context.Context) error {
	t0 := time.Now()
	err := c.Checker.Check(ctx)
	d := time.Since(t0)
	c.busy.Add(int64(d))
	i := 0
	for i < len(histBounds) && d >= histBounds[i] {
		i++
	}
	c.hist[i].Add(1)
	if err != nil {
		c.failed.Add(1)
		c.lastErr.Store(err.Error())
	} else {
		c.ok.Add(1)
	}
	return err
}

func run(kind string, targets int, interval, duration time.Duration, cpuprofile, memprofile, tracefile string, netnsOwn bool, haproxy string, rounds int) (string, error) {
	if rounds < 1 {
		rounds = 1
	}
	t0 := time.Now()
	logf := func(format string, args ...any) {
		fmt.Fprintf(os.Stderr, "bench: %5.1fs: %s\n", time.Since(t0).Seconds(), fmt.Sprintf(format, args...))
	}
	srv, err := startServer(targets)
	if err != nil {
		return "", err
	}
	defer srv.stop()
	logf("server ready")

	// The checkers take turns (lvskit, HAProxy, lvskit, ...), each round
	// measuring duration/rounds, so that both see the same noise of a
	// shared machine.
	var phases []phase
	var goStats string
	per := duration / time.Duration(rounds)
	for r := 1; r <= rounds; r++ {
		if r > 1 {
			cpuprofile, memprofile, tracefile = "", "", ""
		}
		p, gs, err := runLvskit(srv, kind, interval, per, cpuprofile, memprofile, tracefile)
		if err != nil {
			return "", err
		}
		p.round = r
		goStats += gs
		phases = append(phases, p)
		logf("lvskit round %d done: %d probes, %.1f%% CPU", r, p.served, pct(p.user+p.sys, p.wall))
		if haproxy != "" && kind == "http" {
			time.Sleep(2 * time.Second) // let the last probes' sockets go
			p, err := runHAProxy(srv, haproxy, interval, per)
			if err != nil {
				p = phase{name: "HAProxy", failed: "?", note: "failed: " + err.Error()}
			}
			p.round = r
			phases = append(phases, p)
			logf("haproxy round %d done", r)
			time.Sleep(2 * time.Second)
		}
	}
	phases = append(phases, total(phases, "lvskit"), total(phases, "HAProxy"))

	var b strings.Builder
	where := "the caller's network namespace"
	if netnsOwn {
		where = "a network namespace of its own"
	}
	fmt.Fprintf(&b, "healthcheck bench (in %s): %d %s targets on distinct loopback ports, served by one epoll thread in a second process; delay_loop / inter %v; each checker measured %v in %d rounds, taking turns; %s, GOMAXPROCS %d, %d CPUs\n\n",
		where, targets, strings.ToUpper(kind), interval, duration, rounds, runtime.Version(), runtime.GOMAXPROCS(0), runtime.NumCPU())
	asked := float64(targets) / interval.Seconds()
	fmt.Fprintf(&b, "| checker | probes/s (asked %.0f) | failed | CPU %% of one core | user | system | CPU µs per probe | RSS (peak) | server CPU %% |\n", asked)
	fmt.Fprintf(&b, "|---|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, p := range phases {
		if p.wall == 0 {
			continue
		}
		name := fmt.Sprintf("**%s, all rounds**", p.name)
		if p.round > 0 {
			name = fmt.Sprintf("%s, round %d", p.name, p.round)
		}
		secs := p.wall.Seconds()
		rate := float64(p.served) / secs
		perProbe := 0.0
		if p.served > 0 {
			perProbe = float64(p.user+p.sys) / float64(time.Microsecond) / float64(p.served)
		}
		fmt.Fprintf(&b, "| %s | %.0f (%.2f) | %s | %.1f %% | %.1f %% | %.1f %% | %.1f | %.1f MiB (%.1f) | %.1f %% |\n",
			name, rate, rate/asked, p.failed,
			pct(p.user+p.sys, p.wall), pct(p.user, p.wall), pct(p.sys, p.wall), perProbe,
			mib(p.rss), mib(p.hwm), pct(p.srvUser+p.srvSys, p.wall))
	}
	if l, h := phases[len(phases)-2], phases[len(phases)-1]; l.served > 0 && h.served > 0 {
		lp := float64(l.user+l.sys) / float64(l.served)
		hp := float64(h.user+h.sys) / float64(h.served)
		fmt.Fprintf(&b, "\nlvskit / HAProxy, CPU per probe: %.2f (user %.2f, system %.2f)\n", lp/hp,
			(float64(l.user)/float64(l.served))/(float64(h.user)/float64(h.served)), (float64(l.sys)/float64(l.served))/(float64(h.sys)/float64(h.served)))
	}
	fmt.Fprintf(&b, "\nprobes/s counts the responses the server sent while the checker was measured; CPU is utime+stime of the checker process from /proc/<pid>/stat over that time.\n")
	fmt.Fprintf(&b, "goals for lvskit: 10,000 probes/s, CPU < 25 %% of one core, RSS < 200 MiB\n")
	b.WriteString(goStats)
	for _, p := range phases {
		if p.round == 0 {
			continue
		}
		if p.note != "" {
			fmt.Fprintf(&b, "%s round %d: %s\n", p.name, p.round, p.note)
		}
		if p.machine != "" {
			fmt.Fprintf(&b, "%s round %d, whole machine meanwhile: %s\n", p.name, p.round, p.machine)
		}
		if p.counters != "" {
			fmt.Fprintf(&b, "%s round %d, TCP counters: %s\n", p.name, p.round, p.counters)
		}
	}
	return b.String(), nil
}

// total sums the rounds of one checker.
func total(phases []phase, name string) phase {
	t := phase{name: name, failed: "–"}
	var failed int64
	known := true
	for _, p := range phases {
		if p.name != name || p.wall == 0 {
			continue
		}
		t.wall += p.wall
		t.served += p.served
		t.user += p.user
		t.sys += p.sys
		t.srvUser += p.srvUser
		t.srvSys += p.srvSys
		t.rss = max(t.rss, p.rss)
		t.hwm = max(t.hwm, p.hwm)
		n, err := strconv.ParseInt(p.failed, 10, 64)
		if err != nil {
			known = false
		}
		failed += n
	}
	if known {
		t.failed = strconv.FormatInt(failed, 10)
	}
	return t
}

func pct(d, wall time.Duration) float64 { return float64(d) / float64(wall) * 100 }
func mib(n int64) float64               { return float64(n) / (1 << 20) }

// phase is one checker's measurement.
type phase struct {
	name            string
	wall            time.Duration
	served          int64  // responses the server sent meanwhile
	failed          string // failed probes, or what is known of them
	user, sys       time.Duration
	rss, hwm        int64
	srvUser, srvSys time.Duration
	note            string
	round           int    // 0 for the sum of all rounds
	counters        string // TCP counters of the namespace over the phase
	machine         string // the whole machine's CPU over the phase
}

// server is the target process.
type server struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   *bufio.Scanner
	ports []uint16
}

func startServer(targets int) (*server, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(self, "-serve", strconv.Itoa(targets))
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &server{cmd: cmd, stdin: stdin, out: bufio.NewScanner(stdout)}
	for s.out.Scan() {
		if s.out.Text() == "ready" {
			break
		}
		p, err := strconv.Atoi(s.out.Text())
		if err != nil {
			s.stop()
			return nil, fmt.Errorf("server said %q", s.out.Text())
		}
		s.ports = append(s.ports, uint16(p))
	}
	if len(s.ports) != targets {
		s.stop()
		return nil, fmt.Errorf("server opened %d of %d listeners", len(s.ports), targets)
	}
	return s, nil
}

// count returns the number of responses the server has sent.
func (s *server) count() (int64, error) {
	if _, err := io.WriteString(s.stdin, "count\n"); err != nil {
		return 0, err
	}
	if !s.out.Scan() {
		return 0, fmt.Errorf("server: no count: %v", s.out.Err())
	}
	return strconv.ParseInt(s.out.Text(), 10, 64)
}

func (s *server) stop() {
	s.stdin.Close()
	done := make(chan struct{})
	go func() { s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		s.cmd.Process.Kill()
		<-done
	}
}

// machineCPU returns the whole machine's CPU time by kind from
// /proc/stat: user (with nice), system, softirq (with irq), idle (with
// iowait), steal.
func machineCPU() [5]time.Duration {
	var out [5]time.Duration
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return out
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return out
	}
	v := func(i int) time.Duration {
		n, _ := strconv.ParseInt(f[i], 10, 64)
		return time.Duration(n) * 10 * time.Millisecond
	}
	out[0] = v(1) + v(2)
	out[1] = v(3)
	out[2] = v(6) + v(7)
	out[3] = v(4) + v(5)
	out[4] = v(8)
	return out
}

// tcpCounters reads this network namespace's TCP counters.
func tcpCounters() map[string]int64 {
	m := map[string]int64{}
	for _, file := range []string{"/proc/self/net/netstat", "/proc/self/net/snmp"} {
		b, err := os.ReadFile(file)
		if err != nil {
			continue
		}
		lines := strings.Split(string(b), "\n")
		for i := 0; i+1 < len(lines); i += 2 {
			names, values := strings.Fields(lines[i]), strings.Fields(lines[i+1])
			if len(names) != len(values) || len(names) == 0 {
				continue
			}
			for j := 1; j < len(names); j++ {
				v, _ := strconv.ParseInt(values[j], 10, 64)
				m[strings.TrimSuffix(names[0], ":")+"."+names[j]] = v
			}
		}
	}
	return m
}

// interesting are the counters that tell of drops and retransmissions.
var interesting = []string{"TcpExt.ListenOverflows", "TcpExt.ListenDrops", "TcpExt.TCPReqQFullDrop", "TcpExt.TCPBacklogDrop",
	"TcpExt.TCPTimeouts", "TcpExt.TCPSynRetrans", "Tcp.RetransSegs", "Tcp.ActiveOpens", "Tcp.OutRsts", "TcpExt.TW", "TcpExt.TCPDeferAcceptDrop"}

func counterDelta(a, b map[string]int64) string {
	var parts []string
	for _, k := range interesting {
		parts = append(parts, fmt.Sprintf("%s %d", strings.TrimPrefix(strings.TrimPrefix(k, "TcpExt."), "Tcp."), b[k]-a[k]))
	}
	return strings.Join(parts, ", ")
}

// measure samples the checker process pid and the server over d.
func measure(srv *server, pid int, d time.Duration) (phase, error) {
	n0 := tcpCounters()
	m0 := machineCPU()
	cpu0, err := procstat.ReadCPU(pid)
	if err != nil {
		return phase{}, err
	}
	srv0, err := procstat.ReadCPU(srv.cmd.Process.Pid)
	if err != nil {
		return phase{}, err
	}
	c0, err := srv.count()
	if err != nil {
		return phase{}, err
	}
	t0 := time.Now()
	time.Sleep(d)
	cpu1, _ := procstat.ReadCPU(pid)
	srv1, _ := procstat.ReadCPU(srv.cmd.Process.Pid)
	c1, err := srv.count()
	if err != nil {
		return phase{}, err
	}
	wall := time.Since(t0)
	m1 := machineCPU()
	machine := fmt.Sprintf("user %.0f %%, system %.0f %%, irq+softirq %.0f %%, idle %.0f %%, steal %.0f %% (of one core; %d cores)",
		pct(m1[0]-m0[0], wall), pct(m1[1]-m0[1], wall), pct(m1[2]-m0[2], wall), pct(m1[3]-m0[3], wall), pct(m1[4]-m0[4], wall), runtime.NumCPU())
	mem, _ := procstat.ReadMemory(pid)
	return phase{wall: wall, served: c1 - c0, user: cpu1.User - cpu0.User, sys: cpu1.System - cpu0.System, rss: mem.RSS, hwm: mem.HWM,
		srvUser: srv1.User - srv0.User, srvSys: srv1.System - srv0.System, counters: counterDelta(n0, tcpCounters()), machine: machine}, nil
}

func runLvskit(srv *server, kind string, interval, duration time.Duration, cpuprofile, memprofile, tracefile string) (phase, string, error) {
	var ok, failed, busy atomic.Int64
	var lastErr atomic.Value
	var hist [len(histBounds) + 1]atomic.Int64
	policy := healthcheck.Policy{DelayLoop: interval, ConnectTimeout: 5 * time.Second, Warmup: interval, Bootstrap: -1}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var monitors []*healthcheck.Monitor
	defer func() {
		cancel()
		for _, m := range monitors {
			m.Stop()
		}
	}()
	var down atomic.Int64
	lo := netip.MustParseAddr("127.0.0.1")
	for _, p := range srv.ports {
		var chk healthcheck.Checker
		switch kind {
		case "http":
			chk = &healthcheck.HTTPChecker{Conn: healthcheck.Conn{Addr: netip.AddrPortFrom(lo, p)},
				URLs: []healthcheck.URL{{Path: "/", Digest: healthcheck.Digest([]byte("ok\n"))}}}
		case "tcp":
			chk = &healthcheck.TCPChecker{Conn: healthcheck.Conn{Addr: netip.AddrPortFrom(lo, p)}}
		default:
			return phase{}, "", fmt.Errorf("unknown -kind %q", kind)
		}
		c := counting{Checker: chk, ok: &ok, failed: &failed, busy: &busy, hist: &hist, lastErr: &lastErr}
		m, err := healthcheck.NewMonitor(healthcheck.MonitorConfig{Checker: c, Policy: policy, OnEvent: func(e healthcheck.Event) {
			if e.Up {
				down.Add(-1)
			} else {
				down.Add(1)
			}
		}})
		if err != nil {
			return phase{}, "", err
		}
		if err := m.Start(ctx); err != nil {
			return phase{}, "", err
		}
		monitors = append(monitors, m)
	}

	time.Sleep(interval + interval/2) // every target has started
	if cpuprofile != "" {
		f, err := os.Create(cpuprofile)
		if err != nil {
			return phase{}, "", err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return phase{}, "", err
		}
	}
	if tracefile != "" {
		f, err := os.Create(tracefile)
		if err != nil {
			return phase{}, "", err
		}
		if err := trace.Start(f); err != nil {
			return phase{}, "", err
		}
		time.Sleep(2 * time.Second)
		trace.Stop()
		f.Close()
	}
	f0, ok0, b0 := failed.Load(), ok.Load(), busy.Load()
	var h0 [len(histBounds) + 1]int64
	for i := range hist {
		h0[i] = hist[i].Load()
	}
	p, err := measure(srv, os.Getpid(), duration)
	if cpuprofile != "" {
		pprof.StopCPUProfile()
	}
	if err != nil {
		return phase{}, "", err
	}
	f1, ok1, b1 := failed.Load(), ok.Load(), busy.Load()
	if memprofile != "" {
		f, err := os.Create(memprofile)
		if err != nil {
			return phase{}, "", err
		}
		defer f.Close()
		if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
			return phase{}, "", err
		}
	}
	p.name = "lvskit"
	p.failed = strconv.FormatInt(f1-f0, 10)
	p.note = fmt.Sprintf("%d targets down at the end", down.Load())
	if e, _ := lastErr.Load().(string); e != "" {
		p.note += "; last probe error: " + e
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	probes := (ok1 - ok0) + (f1 - f0)
	if kind != "http" {
		// The server sees no request (TCP_DEFER_ACCEPT keeps bare
		// connections from it): count the checker's probes.
		p.served = probes
	}
	meanProbe := time.Duration(0)
	if probes > 0 {
		meanProbe = time.Duration((b1 - b0) / probes)
	}
	goStats := fmt.Sprintf("lvskit Go runtime: heap in use %.1f MiB (live after the last GC %.1f MiB), stacks %.1f MiB, total from the OS %.1f MiB, %d GC cycles, %d goroutines between probes\n",
		mib(int64(ms.HeapInuse)), mib(int64(ms.HeapAlloc)), mib(int64(ms.StackInuse)), mib(int64(ms.Sys)), ms.NumGC, runtime.NumGoroutine())
	goStats += fmt.Sprintf("lvskit probes: %d completed, mean time in Check %v (the next probe is due delay_loop after a probe ends, as in keepalived, so a target is probed every %v on average)\n",
		probes, meanProbe.Round(10*time.Microsecond), (interval + meanProbe).Round(10*time.Microsecond))
	goStats += "lvskit probe times:"
	for i := range hist {
		n := hist[i].Load() - h0[i]
		if i < len(histBounds) {
			goStats += fmt.Sprintf(" < %v: %d,", histBounds[i], n)
		} else {
			goStats += fmt.Sprintf(" >= %v: %d\n", histBounds[i-1], n)
		}
	}
	return p, goStats, nil
}

// runHAProxy health-checks the same targets with HAProxy (option httpchk
// GET /, check inter <interval>, no traffic), in backends of 1,000
// servers, and measures the HAProxy process.
func runHAProxy(srv *server, bin string, interval, duration time.Duration) (phase, error) {
	dir, err := os.MkdirTemp("", "hcbench-haproxy")
	if err != nil {
		return phase{}, err
	}
	defer os.RemoveAll(dir)
	var cfg strings.Builder
	fmt.Fprintf(&cfg, "global\n    maxconn 4000\n    stats socket %s/stats.sock\n\n", dir) // checks take no connection slots
	fmt.Fprintf(&cfg, "defaults\n    mode http\n    timeout connect 5s\n    timeout check 5s\n    timeout client 5s\n    timeout server 5s\n")
	for i, p := range srv.ports {
		if i%1000 == 0 {
			fmt.Fprintf(&cfg, "\nbackend b%d\n    option httpchk GET /\n    default-server check inter %dms\n", i/1000, interval.Milliseconds())
		}
		fmt.Fprintf(&cfg, "    server s%d 127.0.0.1:%d\n", i, p)
	}
	if err := os.WriteFile(dir+"/haproxy.cfg", []byte(cfg.String()), 0o644); err != nil {
		return phase{}, err
	}
	logf, err := os.Create(dir + "/haproxy.log")
	if err != nil {
		return phase{}, err
	}
	defer logf.Close()
	cmd := exec.Command(bin, "-db", "-f", dir+"/haproxy.cfg")
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return phase{}, err
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	defer func() {
		cmd.Process.Kill()
		<-exited
	}()
	select {
	case <-time.After(2*interval + interval/2): // HAProxy spreads the first checks over one interval
	case <-exited:
		b, _ := os.ReadFile(dir + "/haproxy.log")
		return phase{}, fmt.Errorf("haproxy exited: %s", b)
	}
	p, err := measure(srv, cmd.Process.Pid, duration)
	if err != nil {
		return phase{}, err
	}
	out, _ := exec.Command("haproxy", "-v").Output()
	version, _, _ := strings.Cut(string(out), "\n")
	p.name = "HAProxy"
	up, down, err := haproxyStates(dir + "/stats.sock")
	if err != nil {
		p.failed = "?"
		p.note = fmt.Sprintf("%s; stats: %v", version, err)
	} else {
		p.failed = "–"
		p.note = fmt.Sprintf("%s; %d servers UP, %d not UP at the end; threads %d", version, up, down, procstat.Threads(cmd.Process.Pid))
	}
	return p, nil
}

// haproxyStates counts the servers UP and not UP from "show stat".
func haproxyStates(sock string) (up, other int, err error) {
	c, err := net.Dial("unix", sock)
	if err != nil {
		return 0, 0, err
	}
	defer c.Close()
	if _, err := io.WriteString(c, "show stat\n"); err != nil {
		return 0, 0, err
	}
	b, err := io.ReadAll(c)
	if err != nil {
		return 0, 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Split(line, ",")
		if len(f) < 18 || f[1] == "BACKEND" || f[1] == "FRONTEND" || strings.HasPrefix(line, "#") {
			continue
		}
		if strings.HasPrefix(f[17], "UP") {
			up++
		} else {
			other++
		}
	}
	return up, other, nil
}
