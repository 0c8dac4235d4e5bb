package ipvs_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lvskit/lvskit/healthcheck"
	"github.com/lvskit/lvskit/ipvs"
)

// The director of TestUserspaceIdleClientsKeepHealthChecksAlive runs in a
// child process (this test binary again), under a limit of 4,096 open
// files that its lowering cannot impose on the tests beside it. It talks
// to the test over its stdin and stdout, one line each way, the child's
// prefixed with idleChildPrefix.
const (
	idleChildEnv    = "LVSKIT_TEST_IDLE_DIRECTOR"
	idleChildPrefix = "DIRECTOR "
	idleFDLimit     = 4096
	idleClients     = 15000
)

// TestUserspaceIdleClientsKeepHealthChecksAlive is issue 16's outage: a
// director whose process may open 4,096 files runs the userspace proxy
// and, in the same process, a TCP_CHECK of the real server behind it,
// every 50 ms, with no retry (one failure takes the server down). 15,000
// clients connect and stay idle. Before the descriptor budget each
// connection took six descriptors at once, accept soon failed with
// EMFILE and so did the check, which took the healthy server down. Now
// the proxy serves the connections that fit its budget, resets the rest
// at once, and the check keeps passing, without one local failure; a new
// client is refused at once while the idle ones stay, and served once
// they are gone.
func TestUserspaceIdleClientsKeepHealthChecksAlive(t *testing.T) {
	if os.Getenv(idleChildEnv) != "" {
		idleDirector(t, os.Getenv(idleChildEnv))
		return
	}
	if testing.Short() {
		t.Skip("short")
	}
	began := time.Now()
	rs := startGreeter(t)

	cmd := exec.Command(os.Args[0], "-test.run=^TestUserspaceIdleClientsKeepHealthChecksAlive$", "-test.count=1", "-test.timeout=60s")
	cmd.Env = append(os.Environ(), idleChildEnv+"="+rs.String())
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	t.Cleanup(func() {
		stdin.Close()
		select {
		case err := <-exited:
			if err != nil {
				t.Errorf("director: %v", err)
			}
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			t.Errorf("director did not exit; killed")
		}
	})
	lines := make(chan string)
	var out strings.Builder
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if l, ok := strings.CutPrefix(sc.Text(), idleChildPrefix); ok {
				lines <- l
			} else {
				out.WriteString(sc.Text() + "\n")
			}
		}
		close(lines)
		exited <- cmd.Wait()
	}()
	recv := func() string {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("director exited:\n%s", out.String())
			}
			return l
		case <-time.After(20 * time.Second):
			t.Fatal("no answer from the director")
		}
		return ""
	}
	var status idleStatus
	ask := func() idleStatus {
		t.Helper()
		fmt.Fprintln(stdin, "status")
		if err := status.parse(recv()); err != nil {
			t.Fatal(err)
		}
		return status
	}
	var vip string
	var maxConns int
	if _, err := fmt.Sscanf(recv(), "ready %s %d", &vip, &maxConns); err != nil {
		t.Fatal(err)
	}
	if st := ask(); !st.Up {
		t.Fatalf("real server down before any client: %+v", st)
	}

	// 15,000 clients, 100 at a time, from addresses of 127.0.1.0/24.
	var (
		mu       sync.Mutex
		idle     []net.Conn
		refused  atomic.Int64
		problems []string
	)
	work := make(chan int)
	var wg sync.WaitGroup
	for w := range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d := net.Dialer{Timeout: 10 * time.Second, LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 1, byte(1+w))}}
			for range work {
				c, served, err := greet(&d, vip)
				mu.Lock()
				switch {
				case served:
					idle = append(idle, c)
				case isReset(err):
					refused.Add(1)
				default:
					problems = append(problems, err.Error())
				}
				mu.Unlock()
			}
		}()
	}
	for i := range idleClients {
		work <- i
	}
	close(work)
	wg.Wait()
	t.Cleanup(func() {
		for _, c := range idle {
			c.Close()
		}
	})
	saturated := time.Since(began)
	st := ask()
	t.Logf("%d clients in %v: %d served and idle, %d refused; director: %+v", idleClients, saturated.Round(time.Millisecond), len(idle), refused.Load(), st)
	if len(problems) > 0 {
		t.Fatalf("%d clients neither served nor reset, first: %s", len(problems), problems[0])
	}
	if len(idle) != maxConns || st.Active != maxConns {
		t.Errorf("%d clients served, %d active at the director; want its %d (the descriptor budget)", len(idle), st.Active, maxConns)
	}
	if int(refused.Load()) != idleClients-maxConns || st.Refused != idleClients-maxConns {
		t.Errorf("%d clients reset, the director counted %d refused; want %d", refused.Load(), st.Refused, idleClients-maxConns)
	}

	// A new client now is refused at once, not left waiting.
	d := net.Dialer{Timeout: 10 * time.Second}
	for i := range 20 {
		if c, served, err := greet(&d, vip); served {
			c.Close()
			t.Fatalf("new client %d served beyond the budget", i)
		} else if !isReset(err) {
			t.Fatalf("new client %d while saturated: %v, want a reset at once", i, err)
		}
	}
	// The health check keeps passing while the clients stay.
	probed := st.Success
	for deadline := time.Now().Add(15 * time.Second); st.Success < probed+5; st = ask() {
		if time.Now().After(deadline) {
			t.Fatalf("no successful probes while saturated: %+v", st)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !st.Up || st.Downs != 0 || st.Failure != 0 || st.Local != 0 {
		t.Fatalf("the real server's check while the proxy is saturated: %+v; want up, no failure at all", st)
	}

	// The idle clients leave; a new one is served.
	mu.Lock()
	for _, c := range idle {
		c.Close()
	}
	idle = nil
	mu.Unlock()
	for deadline := time.Now().Add(15 * time.Second); st.Active+st.Inactive > 0; st = ask() {
		if time.Now().After(deadline) {
			t.Fatalf("connections still open after the clients left: %+v", st)
		}
		time.Sleep(20 * time.Millisecond)
	}
	c, served, err := greet(&d, vip)
	if !served {
		t.Fatalf("client after the idle ones left: %v, want served", err)
	}
	defer c.Close()
	c.Write([]byte("ping\n"))
	if line, err := bufio.NewReader(c).ReadString('\n'); err != nil || line != "ping\n" {
		t.Fatalf("echo through the proxy: %q, %v", line, err)
	}
	if st := ask(); !st.Up || st.Downs != 0 || st.Failure != 0 {
		t.Errorf("real server's check at the end: %+v", st)
	}
	fmt.Fprintln(stdin, "quit")
	t.Logf("whole test %v", time.Since(began).Round(time.Millisecond))
}

// greet connects to addr and reads the real server's greeting: served, the
// connection; else the error (a refused client sees a reset, which may come
// before the dial has seen its handshake complete).
func greet(d *net.Dialer, addr string) (net.Conn, bool, error) {
	c, err := d.Dial("tcp", addr)
	if err != nil {
		return nil, false, err
	}
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err == nil && line == "hi\n" {
		c.SetReadDeadline(time.Time{})
		return c, true, nil
	}
	c.Close()
	if err == nil {
		err = fmt.Errorf("greeting %q", line)
	}
	return nil, false, err
}

func isReset(err error) bool {
	return errors.Is(err, syscall.ECONNRESET) || errors.Is(err, io.EOF)
}

// startGreeter runs a real server that says "hi" and echoes lines.
func startGreeter(t *testing.T) netip.AddrPort {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	open := map[net.Conn]bool{}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			open[c] = true
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() {
					mu.Lock()
					delete(open, c)
					mu.Unlock()
					c.Close()
				}()
				c.Write([]byte("hi\n"))
				io.Copy(c, c)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for c := range open {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().(*net.TCPAddr).AddrPort()
}

// idleStatus is what the director reports.
type idleStatus struct {
	Up                      bool
	Downs                   int
	Success, Failure, Local int
	Refused                 int
	Active, Inactive, FDs   int
}

const idleStatusFormat = "status up=%t downs=%d success=%d failure=%d local=%d refused=%d active=%d inactive=%d fds=%d"

func (s *idleStatus) parse(line string) error {
	_, err := fmt.Sscanf(line, idleStatusFormat, &s.Up, &s.Downs, &s.Success, &s.Failure, &s.Local, &s.Refused, &s.Active, &s.Inactive, &s.FDs)
	if err != nil {
		return fmt.Errorf("director's status %q: %w", line, err)
	}
	return nil
}

// idleDirector is the child: the userspace backend with one service to
// the real server rs, and a TCP_CHECK of rs every 50 ms, under a limit of
// idleFDLimit open files.
func idleDirector(t *testing.T, rs string) {
	say := func(format string, args ...any) { fmt.Printf(idleChildPrefix+format+"\n", args...) }
	lim := syscall.Rlimit{Cur: idleFDLimit, Max: idleFDLimit}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	u, err := ipvs.NewUserspace(ipvs.UserspaceConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	rsAddr := netip.MustParseAddrPort(rs)
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).AddrPort().Port()
	ln.Close()
	svc := ipvs.Service{Protocol: ipvs.TCP, Addr: netip.MustParseAddr("127.0.0.1"), Port: port, Scheduler: "wlc",
		Destinations: []ipvs.Destination{{Addr: rsAddr.Addr(), Port: rsAddr.Port(), Weight: 1, Forward: ipvs.Masquerade}}}
	if _, err := ipvs.Sync(context.Background(), u, []ipvs.Service{svc}); err != nil {
		t.Fatal(err)
	}

	reg := prometheus.NewRegistry()
	met, err := healthcheck.NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	var downs atomic.Int64
	mon, err := healthcheck.NewMonitor(healthcheck.MonitorConfig{
		Name:    "rs",
		Checker: &healthcheck.TCPChecker{Conn: healthcheck.Conn{Addr: rsAddr}},
		Policy: healthcheck.Policy{DelayLoop: 50 * time.Millisecond, ConnectTimeout: 5 * time.Second,
			Retry: healthcheck.NoRetry, Warmup: -1, Bootstrap: -1},
		Metrics: met,
		Logger:  slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
		OnEvent: func(e healthcheck.Event) {
			if !e.Up {
				downs.Add(1)
				fmt.Fprintf(os.Stderr, "director: real server down: %v\n", e.Err)
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := mon.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer mon.Stop()

	say("ready 127.0.0.1:%d %d", port, u.FDBudget().MaxConnections)
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		switch sc.Text() {
		case "status":
			probes := map[string]int{}
			mfs, _ := reg.Gather()
			for _, mf := range mfs {
				if mf.GetName() != "lvskit_healthcheck_probes_total" {
					continue
				}
				for _, m := range mf.GetMetric() {
					for _, l := range m.GetLabel() {
						if l.GetName() == "result" {
							probes[l.GetValue()] = int(m.GetCounter().GetValue())
						}
					}
				}
			}
			var active, inactive int
			if tab, err := u.Dump(context.Background()); err == nil {
				for _, d := range tab[0].Destinations {
					active += int(d.ActiveConns)
					inactive += int(d.InactiveConns)
				}
			}
			b := u.FDBudget()
			say(idleStatusFormat, mon.Up(), downs.Load(), probes["success"], probes["failure"], probes["local_failure"],
				b.Refused, active, inactive, b.InUse)
		case "quit":
			return
		}
	}
}
