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
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/lvskit/lvskit/healthcheck"
)

func main() {
	serve := flag.Int("serve", 0, "internal: run as the server process with this many listeners")
	targets := flag.Int("targets", 10000, "number of HTTP targets (one loopback port each)")
	interval := flag.Duration("interval", time.Second, "delay_loop of every target")
	duration := flag.Duration("duration", 30*time.Second, "measurement time, after one interval of warmup")
	out := flag.String("out", "", "file to write the results to (also printed)")
	flag.Parse()
	raiseNoFile()
	if *serve > 0 {
		if err := runServer(*serve); err != nil {
			fmt.Fprintln(os.Stderr, "bench server:", err)
			os.Exit(1)
		}
		return
	}
	res, err := run(*targets, *interval, *duration)
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

// counting wraps a checker and counts its results.
type counting struct {
	*healthcheck.HTTPChecker
	ok, failed *atomic.Int64
	lastErr    *atomic.Value
}

func (c counting) Check(ctx context.Context) error {
	err := c.HTTPChecker.Check(ctx)
	if err != nil {
		c.failed.Add(1)
		c.lastErr.Store(err.Error())
	} else {
		c.ok.Add(1)
	}
	return err
}

func run(targets int, interval, duration time.Duration) (string, error) {
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
	var wg sync.WaitGroup
	var down atomic.Int64
	lo := netip.MustParseAddr("127.0.0.1")
	for _, p := range ports {
		c := counting{
			HTTPChecker: &healthcheck.HTTPChecker{Conn: healthcheck.Conn{Addr: netip.AddrPortFrom(lo, p)},
				URLs: []healthcheck.URL{{Path: "/", Digest: healthcheck.Digest([]byte("ok\n"))}}},
			ok: &ok, failed: &failed, lastErr: &lastErr,
		}
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
		wg.Add(1)
		go func() { defer wg.Done(); m.Run(ctx) }()
	}
	defer func() { cancel(); wg.Wait() }()

	time.Sleep(interval + interval/2) // every target has started
	u0, s0 := cpuTimes()
	ok0, f0 := ok.Load(), failed.Load()
	t0 := time.Now()
	time.Sleep(duration)
	u1, s1 := cpuTimes()
	wall := time.Since(t0)
	ok1, f1 := ok.Load(), failed.Load()
	rss, hwm := memory()
	goroutines := runtime.NumGoroutine()

	cpu := float64((u1-u0)+(s1-s0)) / float64(wall) * 100
	var b strings.Builder
	fmt.Fprintf(&b, "healthcheck bench: %d HTTP_GET targets on distinct loopback ports, delay_loop %v, measured %v\n", targets, interval, wall.Round(time.Millisecond))
	fmt.Fprintf(&b, "probes: %d ok, %d failed (%.0f/s); targets down at the end: %d\n", ok1-ok0, f1-f0, float64(ok1-ok0+f1-f0)/wall.Seconds(), down.Load())
	if e, _ := lastErr.Load().(string); e != "" {
		fmt.Fprintf(&b, "last probe error: %s\n", e)
	}
	fmt.Fprintf(&b, "checker CPU: %.1f%% of one core (user %.1f%%, system %.1f%%); goal < 25%%\n", cpu,
		float64(u1-u0)/float64(wall)*100, float64(s1-s0)/float64(wall)*100)
	fmt.Fprintf(&b, "checker memory: RSS %.1f MiB, peak RSS %.1f MiB; goal < 200 MiB\n", float64(rss)/(1<<20), float64(hwm)/(1<<20))
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

var _ = errors.New
