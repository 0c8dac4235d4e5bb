// Command proxybench compares the userspace IPVS proxy with HAProxy and
// with no proxy at all, on loopback, with wrk; with -netns, the nftables
// backend's NAT and DR next to them between network namespaces (netns.go).
//
// It starts two small Go HTTP servers (as child processes), the lvskit
// proxy (a child process too, so its CPU time is its own) and HAProxy
// (Debian's haproxy, mode tcp, generated config), all on free loopback
// ports, and runs wrk against each of: one backend directly, the lvskit
// proxy, HAProxy; once with keep-alive and once with "Connection: close"
// (a new TCP connection per request). It reports requests/s, p50 and p99
// latency and CPU time per request of the proxy process, from
// /proc/PID/stat. Results go to the markdown and JSON files named by
// -out and -json.
//
//	go run ./ipvs/internal/proxybench -duration 10s -out BENCH.md -json bench.json
//
// Everything listens on 127.0.0.1 and every child is killed at the end.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/pprof"
	"runtime/trace"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/lvskit/lvskit/internal/procstat"
	"github.com/lvskit/lvskit/ipvs/internal/proxy"
)

func main() {
	role := flag.String("role", "", "internal: backend or proxy (child processes)")
	listen := flag.String("listen", "", "internal: address to listen on")
	dests := flag.String("dests", "", "internal: comma-separated real servers of the proxy")
	duration := flag.Duration("duration", 10*time.Second, "length of each wrk run")
	conns := flag.Int("c", 50, "wrk connections")
	threads := flag.Int("t", 2, "wrk threads")
	rounds := flag.Int("rounds", 3, "runs per target and mode, interleaved; the report shows medians")
	out := flag.String("out", "", "write a markdown report here (default: stdout)")
	jsonOut := flag.String("json", "", "write JSON results here")
	cpuProfile := flag.String("cpuprofile", "", "write the proxy child's CPU profile here")
	execTrace := flag.String("trace", "", "write the proxy child's execution trace here (go tool trace)")
	straceDur := flag.Duration("strace", 0, "if set, after the timed runs count the system calls of each proxy with strace -c -f during one more wrk run of this length per mode (strace slows the proxy: its throughput is not reported)")
	workers := flag.Int("workers", 0, "event loops of the lvskit proxy (0: GOMAXPROCS)")
	alsoGoroutines := flag.Bool("also-goroutines", false, "also run a second lvskit proxy on the goroutine-per-direction data path, as one more target of the same run")
	goroutines := flag.Bool("goroutines", false, "run the lvskit proxy's goroutine-per-direction data path instead of its event loops")
	busyWait := flag.Duration("busy-wait", 0, "the lvskit proxy's Config.BusyWait (0: its default; negative: event loops always park in Go's poller)")
	netnsMode := flag.Bool("netns", false, "instead: the nftables backend (NAT and DR) next to a direct connection, the userspace proxy and HAProxy between network namespaces (root), and the time to program 1,000 services x 10 destinations")
	programRounds := flag.Int("program-rounds", 3, "with -netns: rounds of the programming benchmark")
	programOnly := flag.Bool("program-only", false, "with -netns: only the programming benchmark (with -cpuprofile: this process's CPU profile of it)")
	alsoPoller := flag.Bool("also-poller", false, "also run a second lvskit proxy whose event loops always park in Go's poller (BusyWait -1), as one more target of the same run")
	flag.Parse()

	switch *role {
	case "backend":
		runBackend(*listen)
		return
	case "proxy":
		if *cpuProfile != "" {
			f, err := os.Create(*cpuProfile)
			if err != nil {
				log.Fatal(err)
			}
			pprof.StartCPUProfile(f)
			defer func() { pprof.StopCPUProfile(); f.Close() }()
		}
		if *execTrace != "" {
			f, err := os.Create(*execTrace)
			if err != nil {
				log.Fatal(err)
			}
			trace.Start(f)
			defer func() { trace.Stop(); f.Close() }()
		}
		runProxy(*listen, *dests, proxy.Config{Workers: *workers, CopyGoroutines: *goroutines, BusyWait: *busyWait})
		return
	}
	if *netnsMode && *programOnly {
		if err := runProgramOnly(*programRounds, *out, *cpuProfile); err != nil {
			log.Fatal(err)
		}
		return
	}
	if *netnsMode {
		if err := runNetns(*duration, *conns, *threads, *rounds, *out, *jsonOut, *programRounds); err != nil {
			log.Fatal(err)
		}
		return
	}
	proxyArgs := []string{"-workers", strconv.Itoa(*workers), "-goroutines=" + strconv.FormatBool(*goroutines), "-busy-wait", busyWait.String()}
	if *cpuProfile != "" {
		proxyArgs = append(proxyArgs, "-cpuprofile", *cpuProfile)
	}
	if *execTrace != "" {
		proxyArgs = append(proxyArgs, "-trace", *execTrace)
	}
	var extra []extraProxy
	if *alsoGoroutines {
		extra = append(extra, extraProxy{"lvskit goroutine data path", []string{"-goroutines"}})
	}
	if *alsoPoller {
		extra = append(extra, extraProxy{"lvskit event loops, poller only", []string{"-busy-wait", "-1ns"}})
	}
	if err := run(*duration, *conns, *threads, *rounds, *out, *jsonOut, proxyArgs, *straceDur, extra); err != nil {
		log.Fatal(err)
	}
}

// runBackend serves a small fixed body.
func runBackend(addr string) {
	body := []byte("hello from an lvskit bench backend\n")
	srv := &http.Server{Addr: addr, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Write(body)
	})}
	go func() {
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
		<-sig
		srv.Close()
	}()
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Fatal(err)
	}
}

// runProxy runs one rr TCP service of the userspace proxy.
func runProxy(addr, dests string, cfg proxy.Config) {
	p := proxy.New(cfg)
	svc := proxy.ServiceConfig{Protocol: proxy.TCP, Addr: netip.MustParseAddrPort(addr), Scheduler: "rr"}
	if err := p.AddService(svc); err != nil {
		log.Fatal(err)
	}
	for _, d := range strings.Split(dests, ",") {
		if err := p.AddDest(svc.Key(), proxy.DestConfig{Addr: netip.MustParseAddrPort(d), Weight: 1}); err != nil {
			log.Fatal(err)
		}
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	<-sig
	p.Close()
}

func freePort() (string, error) {
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

type child struct {
	name string
	cmd  *exec.Cmd
}

func start(ctx context.Context, name string, args ...string) (*child, error) {
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	cmd.Stderr = os.Stderr
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	return &child{name: name, cmd: cmd}, nil
}

func (c *child) stop() {
	c.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { c.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		c.cmd.Process.Kill()
		<-done
	}
}

// stopAll stops the children, last started first.
func stopAll(children *[]*child) {
	for i := len(*children) - 1; i >= 0; i-- {
		(*children)[i].stop()
	}
}

func waitListening(addr string) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not listening: %w", addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// cpuTime is the CPU time (user + system) of process pid; zero when it
// cannot be read.
func cpuTime(pid int) time.Duration {
	c, _ := procstat.ReadCPU(pid)
	return c.Total()
}

// Result is one wrk run.
type Result struct {
	Target      string  `json:"target"`
	Mode        string  `json:"mode"` // keep-alive or close
	Requests    int64   `json:"requests"`
	Errors      int64   `json:"errors"`
	RPS         float64 `json:"requests_per_second"`
	P50us       float64 `json:"p50_us"`
	P99us       float64 `json:"p99_us"`
	MaxUs       float64 `json:"max_us"` // the slowest request of the run
	CPUPerReqUs float64 `json:"proxy_cpu_us_per_request,omitempty"`
	ProxyCPU    float64 `json:"proxy_cpu_seconds,omitempty"`
	// AllCPUPerReqUs adds wrk's and both backends' CPU time to the
	// proxy's: what the whole path costs per request.
	AllCPUPerReqUs float64 `json:"all_cpu_us_per_request"`
}

var (
	reqsRe = regexp.MustCompile(`(\d+) requests in`)
	rpsRe  = regexp.MustCompile(`Requests/sec:\s+([\d.]+)`)
	latRe  = regexp.MustCompile(`(?m)^\s+(50|99)(?:\.000)?%\s+([\d.]+)(us|ms|s)\s*$`)
	errRe  = regexp.MustCompile(`Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)`)
	maxRe  = regexp.MustCompile(`(?m)^\s+Latency\s+\S+\s+\S+\s+([\d.]+)(us|ms|s)\s`)
	non2Re = regexp.MustCompile(`Non-2xx or 3xx responses: (\d+)`)
)

func toMicros(v float64, unit string) float64 {
	switch unit {
	case "ms":
		return v * 1000
	case "s":
		return v * 1e6
	}
	return v
}

// runWrk runs wrk against url, in network namespace ns if not empty.
func runWrk(ns, target, mode, url string, d time.Duration, conns, threads, pid int, peers ...int) (Result, error) {
	args := []string{"-t", strconv.Itoa(threads), "-c", strconv.Itoa(conns), "-d", fmt.Sprintf("%ds", int(d.Seconds())), "--latency"}
	if mode == "close" {
		args = append(args, "-H", "Connection: close")
	}
	args = append(args, url)
	var before, peersBefore time.Duration
	if pid > 0 {
		before = cpuTime(pid)
	}
	for _, p := range peers {
		peersBefore += cpuTime(p)
	}
	wrk := exec.Command("wrk", args...)
	if ns != "" {
		wrk = exec.Command("ip", append([]string{"netns", "exec", ns, "wrk"}, args...)...)
	}
	outb, err := wrk.CombinedOutput()
	if err != nil {
		return Result{}, fmt.Errorf("wrk %v: %w\n%s", args, err, outb)
	}
	var peersCPU time.Duration
	for _, p := range peers {
		peersCPU += cpuTime(p)
	}
	peersCPU -= peersBefore
	if ru, ok := wrk.ProcessState.SysUsage().(*syscall.Rusage); ok {
		peersCPU += time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	out := string(outb)
	r := Result{Target: target, Mode: mode}
	if m := reqsRe.FindStringSubmatch(out); m != nil {
		r.Requests, _ = strconv.ParseInt(m[1], 10, 64)
	}
	if m := rpsRe.FindStringSubmatch(out); m != nil {
		r.RPS, _ = strconv.ParseFloat(m[1], 64)
	}
	for _, m := range latRe.FindAllStringSubmatch(out, -1) {
		v, _ := strconv.ParseFloat(m[2], 64)
		if m[1] == "50" {
			r.P50us = toMicros(v, m[3])
		} else {
			r.P99us = toMicros(v, m[3])
		}
	}
	if m := maxRe.FindStringSubmatch(out); m != nil {
		v, _ := strconv.ParseFloat(m[1], 64)
		r.MaxUs = toMicros(v, m[2])
	}
	if m := errRe.FindStringSubmatch(out); m != nil {
		for _, s := range m[1:] {
			n, _ := strconv.ParseInt(s, 10, 64)
			r.Errors += n
		}
	}
	if m := non2Re.FindStringSubmatch(out); m != nil {
		n, _ := strconv.ParseInt(m[1], 10, 64)
		r.Errors += n
	}
	if pid > 0 {
		after, err := procstat.ReadCPU(pid)
		if err == nil && r.Requests > 0 {
			cpu := after.Total() - before
			r.ProxyCPU = cpu.Seconds()
			r.CPUPerReqUs = float64(cpu.Microseconds()) / float64(r.Requests)
		}
	}
	if r.Requests > 0 {
		r.AllCPUPerReqUs = (float64(peersCPU.Microseconds()) + r.CPUPerReqUs*float64(r.Requests)) / float64(r.Requests)
	}
	if r.Requests == 0 {
		return r, fmt.Errorf("wrk %v: no requests parsed:\n%s", args, out)
	}
	return r, nil
}

// needTools fails unless every tool is on PATH.
func needTools(tools ...string) error {
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("%s not installed (scripts/install-test-deps.sh installs it): %w", tool, err)
		}
	}
	return nil
}

// haproxyConfig is HAProxy in mode tcp on bind, round robin over servers.
func haproxyConfig(bind string, servers ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, `global
    maxconn 8000
defaults
    mode tcp
    timeout connect 5s
    timeout client 60s
    timeout server 60s
frontend fe
    bind %s
    default_backend be
backend be
    balance roundrobin
`, bind)
	for i, s := range servers {
		fmt.Fprintf(&b, "    server s%d %s\n", i, s)
	}
	return b.String()
}

// extraProxy is one more lvskit proxy in the same run, with other options.
type extraProxy struct {
	name string
	args []string
}

func run(d time.Duration, conns, threads, rounds int, out, jsonOut string, proxyArgs []string, straceDur time.Duration, extra []extraProxy) error {
	if err := needTools("wrk", "haproxy"); err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var children []*child
	defer stopAll(&children)
	var backends []string
	for i := range 2 {
		addr, err := freePort()
		if err != nil {
			return err
		}
		c, err := start(ctx, fmt.Sprintf("backend %d", i), self, "-role", "backend", "-listen", addr)
		if err != nil {
			return err
		}
		children = append(children, c)
		backends = append(backends, addr)
	}
	proxyAddr, err := freePort()
	if err != nil {
		return err
	}
	pc, err := start(ctx, "lvskit proxy", append([]string{self, "-role", "proxy", "-listen", proxyAddr, "-dests", strings.Join(backends, ",")}, proxyArgs...)...)
	if err != nil {
		return err
	}
	children = append(children, pc)

	haAddr, err := freePort()
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "proxybench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	cfg := haproxyConfig(haAddr, backends...)
	cfgPath := filepath.Join(dir, "haproxy.cfg")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		return err
	}
	hc, err := start(ctx, "haproxy", "haproxy", "-db", "-f", cfgPath)
	if err != nil {
		return err
	}
	children = append(children, hc)
	for _, a := range append(backends, proxyAddr, haAddr) {
		if err := waitListening(a); err != nil {
			return err
		}
	}

	type target struct {
		name string
		addr string
		pid  int
	}
	targets := []target{
		{"direct (one backend)", backends[0], 0},
		{"lvskit userspace proxy", proxyAddr, pc.cmd.Process.Pid},
		{"haproxy (mode tcp)", haAddr, hc.cmd.Process.Pid},
	}
	for _, e := range extra {
		addr, err := freePort()
		if err != nil {
			return err
		}
		args := append([]string{self, "-role", "proxy", "-listen", addr, "-dests", strings.Join(backends, ",")}, e.args...)
		c, err := start(ctx, e.name, args...)
		if err != nil {
			return err
		}
		children = append(children, c)
		if err := waitListening(addr); err != nil {
			return err
		}
		targets = append(targets, target{e.name, addr, c.cmd.Process.Pid})
	}
	// Interleave the targets round by round, so that load from anything
	// else on the machine hits them alike, and report medians.
	var all []Result
	var results []Result
	for _, mode := range []string{"keep-alive", "close"} {
		runs := make([][]Result, len(targets))
		for round := range rounds {
			for i, tg := range targets {
				log.Printf("wrk %s, %s, %v, round %d/%d", tg.name, mode, d, round+1, rounds)
				r, err := runWrk("", tg.name, mode, "http://"+tg.addr+"/", d, conns, threads, tg.pid, children[0].cmd.Process.Pid, children[1].cmd.Process.Pid)
				if err != nil {
					return err
				}
				runs[i] = append(runs[i], r)
				all = append(all, r)
				time.Sleep(time.Second) // let TIME_WAIT and CPU settle a little
			}
		}
		for _, rs := range runs {
			if len(rs) > 0 {
				results = append(results, median(rs))
			}
		}
	}

	var traces []Trace
	if straceDur > 0 {
		for _, mode := range []string{"keep-alive", "close"} {
			for _, tg := range targets[1:] {
				log.Printf("strace %s, %s, %v", tg.name, mode, straceDur)
				tr, err := straceRun(tg.name, mode, "http://"+tg.addr+"/", straceDur, conns, threads, tg.pid)
				if err != nil {
					return err
				}
				traces = append(traces, tr)
				time.Sleep(time.Second)
			}
		}
	}

	report := markdown(results, d, conns, threads, rounds) + traceMarkdown(traces)
	if out == "" {
		fmt.Print(report)
	} else if err := os.WriteFile(out, []byte(report), 0o644); err != nil {
		return err
	}
	if jsonOut != "" {
		b, _ := json.MarshalIndent(map[string]any{
			"duration_seconds": d.Seconds(), "connections": conns, "threads": threads,
			"cpus": runtime.NumCPU(), "rounds": rounds, "medians": results, "runs": all, "strace": traces,
		}, "", "  ")
		if err := os.WriteFile(jsonOut, append(b, '\n'), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// median returns, field by field, the median of the runs.
func median(rs []Result) Result {
	m := rs[0]
	med := func(get func(Result) float64) float64 {
		v := make([]float64, len(rs))
		for i, r := range rs {
			v[i] = get(r)
		}
		slices.Sort(v)
		return v[len(v)/2]
	}
	m.RPS = med(func(r Result) float64 { return r.RPS })
	m.P50us = med(func(r Result) float64 { return r.P50us })
	m.P99us = med(func(r Result) float64 { return r.P99us })
	m.MaxUs = med(func(r Result) float64 { return r.MaxUs })
	m.CPUPerReqUs = med(func(r Result) float64 { return r.CPUPerReqUs })
	m.ProxyCPU = med(func(r Result) float64 { return r.ProxyCPU })
	m.AllCPUPerReqUs = med(func(r Result) float64 { return r.AllCPUPerReqUs })
	m.Requests = int64(med(func(r Result) float64 { return float64(r.Requests) }))
	m.Errors = 0
	for _, r := range rs {
		m.Errors += r.Errors
	}
	return m
}

func markdown(rs []Result, d time.Duration, conns, threads, rounds int) string {
	var b strings.Builder
	w := bufio.NewWriter(&b)
	fmt.Fprintf(w, "# Userspace proxy vs HAProxy (loopback, %d CPUs)\n\n", runtime.NumCPU())
	fmt.Fprintf(w, "wrk -t%d -c%d -d%v --latency; two Go HTTP backends; round robin in both proxies; "+
		"median of %d interleaved rounds (errors: total). Load average at the end: %s.\n\n", threads, conns, d, rounds, loadavg())
	resultsTable(w, rs, true)
	fmt.Fprintln(w)
	find := func(target, mode string) *Result { return findResult(rs, target, mode) }
	fmt.Fprintln(w, "| lvskit target | mode | / haproxy requests/s | / haproxy p99 | / haproxy CPU per request | / haproxy whole-path CPU per request | / direct requests/s |")
	fmt.Fprintln(w, "|---|---|---:|---:|---:|---:|---:|")
	for _, lv := range []string{"lvskit userspace", "lvskit event loops, poller", "lvskit goroutine"} {
		for _, mode := range []string{"keep-alive", "close"} {
			l, h, d := find(lv, mode), find("haproxy", mode), find("direct", mode)
			if l == nil || h == nil || d == nil || h.RPS == 0 || h.P99us == 0 || h.CPUPerReqUs == 0 || d.RPS == 0 {
				continue
			}
			fmt.Fprintf(w, "| %s | %s | %.2f | %.2f | %.2f | %.2f | %.2f |\n", l.Target, mode, l.RPS/h.RPS, l.P99us/h.P99us, l.CPUPerReqUs/h.CPUPerReqUs, l.AllCPUPerReqUs/h.AllCPUPerReqUs, l.RPS/d.RPS)
		}
	}
	w.Flush()
	return b.String()
}

// resultsTable writes one row per result; wholePath adds the CPU time of
// wrk, the backends and the proxy per request.
func resultsTable(w io.Writer, rs []Result, wholePath bool) {
	head, rule := "| target | mode | requests/s | p50 | p99 | max | proxy CPU/request |", "|---|---|---:|---:|---:|---:|---:|"
	if wholePath {
		head, rule = head+" wrk+backends+proxy CPU/request |", rule+"---:|"
	}
	fmt.Fprintln(w, head+" errors |")
	fmt.Fprintln(w, rule+"---:|")
	for _, r := range rs {
		cpu := "-"
		if r.CPUPerReqUs > 0 {
			cpu = fmt.Sprintf("%.1f µs", r.CPUPerReqUs)
		}
		fmt.Fprintf(w, "| %s | %s | %.0f | %.0f µs | %.0f µs | %.0f µs | %s |", r.Target, r.Mode, r.RPS, r.P50us, r.P99us, r.MaxUs, cpu)
		if wholePath {
			fmt.Fprintf(w, " %.1f µs |", r.AllCPUPerReqUs)
		}
		fmt.Fprintf(w, " %d |\n", r.Errors)
	}
}

// findResult returns the result of the target whose name starts with
// target, in mode, or nil.
func findResult(rs []Result, target, mode string) *Result {
	for i := range rs {
		if strings.HasPrefix(rs[i].Target, target) && rs[i].Mode == mode {
			return &rs[i]
		}
	}
	return nil
}

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

// Trace is the system call count of one proxy during one wrk run.
type Trace struct {
	Target     string           `json:"target"`
	Mode       string           `json:"mode"`
	Requests   int64            `json:"requests"`
	Calls      int64            `json:"calls"`
	PerRequest float64          `json:"calls_per_request"`
	ByCall     map[string]int64 `json:"by_call"`
}

var straceLineRe = regexp.MustCompile(`^\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:\d+\s+)?(\w+)\s*$`)

// straceRun counts the system calls of process pid (all threads) with
// strace -c -f while wrk runs.
func straceRun(target, mode, url string, d time.Duration, conns, threads, pid int) (Trace, error) {
	f, err := os.CreateTemp("", "proxybench-strace")
	if err != nil {
		return Trace{}, err
	}
	f.Close()
	defer os.Remove(f.Name())
	st := exec.Command("strace", "-c", "-f", "-q", "-o", f.Name(), "-p", strconv.Itoa(pid))
	if err := st.Start(); err != nil {
		return Trace{}, fmt.Errorf("strace: %w", err)
	}
	time.Sleep(500 * time.Millisecond) // attached to every thread
	r, werr := runWrk("", target, mode, url, d, conns, threads, 0)
	st.Process.Signal(os.Interrupt)
	st.Wait()
	if werr != nil {
		return Trace{}, werr
	}
	b, err := os.ReadFile(f.Name())
	if err != nil {
		return Trace{}, err
	}
	tr := Trace{Target: target, Mode: mode, Requests: r.Requests, ByCall: map[string]int64{}}
	for _, line := range strings.Split(string(b), "\n") {
		m := straceLineRe.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		n, _ := strconv.ParseInt(m[1], 10, 64)
		if m[2] == "total" {
			tr.Calls = n
		} else {
			tr.ByCall[m[2]] = n
		}
	}
	if tr.Calls == 0 || r.Requests == 0 {
		return tr, fmt.Errorf("strace of %s: nothing counted:\n%s", target, b)
	}
	tr.PerRequest = float64(tr.Calls) / float64(r.Requests)
	return tr, nil
}

func traceMarkdown(ts []Trace) string {
	if len(ts) == 0 {
		return ""
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\nSystem calls per request (strace -c -f on the proxy process, one wrk run per row; strace slows the proxy, so only the per-request counts mean something):\n\n")
	fmt.Fprintln(&b, "| target | mode | requests | calls/request | top calls per request |")
	fmt.Fprintln(&b, "|---|---|---:|---:|---|")
	for _, t := range ts {
		type kv struct {
			k string
			v int64
		}
		var top []kv
		for k, v := range t.ByCall {
			top = append(top, kv{k, v})
		}
		slices.SortFunc(top, func(a, b kv) int { return int(b.v - a.v) })
		var parts []string
		for i, e := range top {
			if i == 6 {
				break
			}
			parts = append(parts, fmt.Sprintf("%s %.2f", e.k, float64(e.v)/float64(t.Requests)))
		}
		fmt.Fprintf(&b, "| %s | %s | %d | %.2f | %s |\n", t.Target, t.Mode, t.Requests, t.PerRequest, strings.Join(parts, ", "))
	}
	return b.String()
}
