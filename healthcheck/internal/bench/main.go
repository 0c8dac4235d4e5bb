// Command bench measures what keepalived-style HTTP health checking of many
// targets costs: it starts a server process with one loopback listener per
// target (distinct ports), runs one healthcheck.Monitor per target checking
// HTTP_GET every interval, and reports the checker process's CPU use (user
// + system, as a percentage of one core) and its memory (RSS, peak RSS).
//
//	go run ./healthcheck/internal/bench -targets 10000 -interval 1s -duration 30s -out bench.txt
//
// Everything stays on 127.0.0.1; the run is bounded by -duration.
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
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/lvskit/lvskit/healthcheck"
)

func main() {
	serve := flag.Int("serve", 0, "internal: run as the server process with this many listeners")
	targets := flag.Int("targets", 10000, "number of HTTP targets (one loopback port each)")
	interval := flag.Duration("interval", time.Second, "delay_loop of every target")
	duration := flag.Duration("duration", 30*time.Second, "measurement time, after one interval of warmup")
	out := flag.String("out", "", "file to write the results to (also printed)")
	kind := flag.String("kind", "http", "checker: http (HTTP_GET with digest) or tcp (TCP_CHECK), for comparison")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the measured period to this file")
	ownNetns := flag.Bool("netns", true, "as root, run in a network namespace of its own (no host conntrack or traffic in the way)")
	inNetns := flag.Bool("in-netns", false, "internal: this process is already in its own namespace")
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
	res, err := run(*kind, *targets, *interval, *duration, *cpuprofile, *inNetns)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
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

// raiseNoFile lifts the soft limit on open files to the hard limit.
func raiseNoFile() {
	var r unix.Rlimit
	if unix.Getrlimit(unix.RLIMIT_NOFILE, &r) == nil && r.Cur < r.Max {
		r.Cur = r.Max
		unix.Setrlimit(unix.RLIMIT_NOFILE, &r)
	}
}

var response = []byte("HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n\r\nok\n")

// runServer listens on n loopback ports, prints them, and answers every
// request with a fixed response until stdin closes.
func runServer(n int) error {
	w := bufio.NewWriter(os.Stdout)
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		fmt.Fprintln(w, ln.Addr().(*net.TCPAddr).Port)
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				go func() {
					defer c.Close()
					c.SetDeadline(time.Now().Add(5 * time.Second))
					r := bufio.NewReaderSize(c, 512)
					for {
						line, err := r.ReadSlice('\n')
						if err != nil {
							return
						}
						if len(line) <= 2 {
							break
						}
					}
					c.Write(response)
				}()
			}
		}()
	}
	fmt.Fprintln(w, "ready")
	if err := w.Flush(); err != nil {
		return err
	}
	io.Copy(io.Discard, os.Stdin) // the parent closes stdin to stop us
	return nil
}

// counting wraps a checker and counts its results. It embeds the checker
// so the monitor applies that kind's keepalived defaults.
type counting struct {
	healthcheck.Checker
	ok, failed *atomic.Int64
	lastErr    *atomic.Value
}

func (c counting) Check(ctx context.Context) error {
	err := c.Checker.Check(ctx)
	if err != nil {
		c.failed.Add(1)
		c.lastErr.Store(err.Error())
	} else {
		c.ok.Add(1)
	}
	return err
}

func run(kind string, targets int, interval, duration time.Duration, cpuprofile string, netnsOwn bool) (string, error) {
	self, err := os.Executable()
	if err != nil {
		return "", err
	}
	srv := exec.Command(self, "-serve", strconv.Itoa(targets))
	srv.Stderr = os.Stderr
	stdin, err := srv.StdinPipe()
	if err != nil {
		return "", err
	}
	stdout, err := srv.StdoutPipe()
	if err != nil {
		return "", err
	}
	if err := srv.Start(); err != nil {
		return "", err
	}
	defer func() {
		stdin.Close()
		done := make(chan struct{})
		go func() { srv.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			srv.Process.Kill()
			<-done
		}
	}()
	var ports []uint16
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		if sc.Text() == "ready" {
			break
		}
		p, err := strconv.Atoi(sc.Text())
		if err != nil {
			return "", fmt.Errorf("server said %q", sc.Text())
		}
		ports = append(ports, uint16(p))
	}
	if len(ports) != targets {
		return "", fmt.Errorf("server opened %d of %d listeners", len(ports), targets)
	}

	var ok, failed atomic.Int64
	var lastErr atomic.Value
	policy := healthcheck.Policy{DelayLoop: interval, ConnectTimeout: 5 * time.Second, Warmup: interval, Bootstrap: -1}
	ctx, cancel := context.WithCancel(context.Background())
	var monitors []*healthcheck.Monitor
	var down atomic.Int64
	lo := netip.MustParseAddr("127.0.0.1")
	for _, p := range ports {
		var chk healthcheck.Checker
		switch kind {
		case "http":
			chk = &healthcheck.HTTPChecker{Conn: healthcheck.Conn{Addr: netip.AddrPortFrom(lo, p)},
				URLs: []healthcheck.URL{{Path: "/", Digest: healthcheck.Digest([]byte("ok\n"))}}}
		case "tcp":
			chk = &healthcheck.TCPChecker{Conn: healthcheck.Conn{Addr: netip.AddrPortFrom(lo, p)}}
		default:
			cancel()
			return "", fmt.Errorf("unknown -kind %q", kind)
		}
		c := counting{Checker: chk, ok: &ok, failed: &failed, lastErr: &lastErr}
		m, err := healthcheck.NewMonitor(healthcheck.MonitorConfig{Checker: c, Policy: policy, OnEvent: func(e healthcheck.Event) {
			if e.Up {
				down.Add(-1)
			} else {
				down.Add(1)
			}
		}})
		if err != nil {
			cancel()
			return "", err
		}
		if err := m.Start(ctx); err != nil {
			cancel()
			return "", err
		}
		monitors = append(monitors, m)
	}
	defer func() {
		cancel()
		for _, m := range monitors {
			m.Stop()
		}
	}()

	time.Sleep(interval + interval/2) // every target has started
	if cpuprofile != "" {
		f, err := os.Create(cpuprofile)
		if err != nil {
			return "", err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return "", err
		}
	}
	u0, s0 := cpuTimes()
	ok0, f0 := ok.Load(), failed.Load()
	t0 := time.Now()
	time.Sleep(duration)
	u1, s1 := cpuTimes()
	if cpuprofile != "" {
		pprof.StopCPUProfile()
	}
	wall := time.Since(t0)
	ok1, f1 := ok.Load(), failed.Load()
	rss, hwm := memory()
	goroutines := runtime.NumGoroutine()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)

	cpu := float64((u1-u0)+(s1-s0)) / float64(wall) * 100
	var b strings.Builder
	where := "the caller's network namespace"
	if netnsOwn {
		where = "a network namespace of its own"
	}
	fmt.Fprintf(&b, "healthcheck bench (in %s): %d %s targets on distinct loopback ports, delay_loop %v, measured %v\n", where, targets, strings.ToUpper(kind), interval, wall.Round(time.Millisecond))
	fmt.Fprintf(&b, "probes: %d ok, %d failed (%.0f/s); targets down at the end: %d\n", ok1-ok0, f1-f0, float64(ok1-ok0+f1-f0)/wall.Seconds(), down.Load())
	if e, _ := lastErr.Load().(string); e != "" {
		fmt.Fprintf(&b, "last probe error: %s\n", e)
	}
	fmt.Fprintf(&b, "checker CPU: %.1f%% of one core (user %.1f%%, system %.1f%%); goal < 25%%\n", cpu,
		float64(u1-u0)/float64(wall)*100, float64(s1-s0)/float64(wall)*100)
	fmt.Fprintf(&b, "checker memory: RSS %.1f MiB, peak RSS %.1f MiB; goal < 200 MiB\n", float64(rss)/(1<<20), float64(hwm)/(1<<20))
	fmt.Fprintf(&b, "go runtime: heap in use %.1f MiB, stacks %.1f MiB, GC cycles %d during the run's life\n",
		float64(ms.HeapInuse)/(1<<20), float64(ms.StackInuse)/(1<<20), ms.NumGC)
	fmt.Fprintf(&b, "goroutines: %d, GOMAXPROCS %d, %s\n", goroutines, runtime.GOMAXPROCS(0), runtime.Version())
	return b.String(), nil
}

func cpuTimes() (user, sys time.Duration) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, 0
	}
	return time.Duration(ru.Utime.Nano()), time.Duration(ru.Stime.Nano())
}

// memory returns VmRSS and VmHWM of this process in bytes.
func memory() (rss, hwm int64) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		v, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil {
			continue
		}
		switch f[0] {
		case "VmRSS:":
			rss = v << 10
		case "VmHWM:":
			hwm = v << 10
		}
	}
	return rss, hwm
}
