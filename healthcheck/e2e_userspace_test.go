package healthcheck_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lvskit/lvskit/healthcheck"
	"github.com/lvskit/lvskit/ipvs"
)

// namedServer is a restartable loopback HTTP server that says its name and
// counts the health checks (keepalived's User-Agent) it answers.
type namedServer struct {
	t      *testing.T
	name   string
	addr   netip.AddrPort
	checks atomic.Int64
	mu     sync.Mutex
	srv    *http.Server
	done   chan struct{}
}

func newNamedServer(t *testing.T, name string) *namedServer {
	s := &namedServer{t: t, name: name}
	s.start("127.0.0.1:0")
	t.Cleanup(s.stop)
	return s
}

func (s *namedServer) start(addr string) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		s.t.Fatalf("listen %s: %v", addr, err)
	}
	s.addr = netip.MustParseAddrPort(ln.Addr().String())
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.UserAgent() == "KeepAliveClient" {
			s.checks.Add(1)
		}
		io.WriteString(w, s.name)
	})}
	done := make(chan struct{})
	go func() { srv.Serve(ln); close(done) }()
	s.mu.Lock()
	s.srv, s.done = srv, done
	s.mu.Unlock()
}

// stop closes the listener and every connection at once, like a crash.
func (s *namedServer) stop() {
	s.mu.Lock()
	srv, done := s.srv, s.done
	s.srv = nil
	s.mu.Unlock()
	if srv != nil {
		srv.Close()
		<-done
	}
}

// recordingSyncer passes services on and remembers when each sync that
// did or did not contain a destination finished.
type recordingSyncer struct {
	next healthcheck.Syncer
	mu   sync.Mutex
	log  []syncRecord
}

type syncRecord struct {
	at    time.Time
	dests []string
}

func (r *recordingSyncer) SyncService(ctx context.Context, svc ipvs.Service) error {
	err := r.next.SyncService(ctx, svc)
	if err != nil {
		return err
	}
	var ds []string
	for _, d := range svc.Destinations {
		ds = append(ds, fmt.Sprintf("%s=%d", d.Key(), d.Weight))
	}
	slices.Sort(ds)
	r.mu.Lock()
	r.log = append(r.log, syncRecord{at: time.Now(), dests: ds})
	r.mu.Unlock()
	return nil
}

// firstSync returns when a sync first satisfied cond, and whether one did.
func (r *recordingSyncer) firstSync(after time.Time, cond func([]string) bool) (time.Time, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, rec := range r.log {
		if rec.at.After(after) && cond(rec.dests) {
			return rec.at, true
		}
	}
	return time.Time{}, false
}

type result struct {
	start, end time.Time
	body       string
	err        error
}

// TestUserspaceEndToEnd drives the userspace IPVS backend (a real proxy on
// loopback) from a Pool while a bounded load runs through it: a killed
// real server is taken out, no request started after that fails or
// reaches it, and after a restart it returns only after Rise successful
// checks.
func TestUserspaceEndToEnd(t *testing.T) {
	backends := []*namedServer{newNamedServer(t, "web0"), newNamedServer(t, "web1"), newNamedServer(t, "web2")}
	us, err := ipvs.NewUserspace(ipvs.UserspaceConfig{DialTimeout: time.Second, DrainTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { us.Close() })

	free, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	vip := netip.MustParseAddrPort(free.Addr().String())
	free.Close()

	const rise = 3
	policy := healthcheck.Policy{DelayLoop: 100 * time.Millisecond, DelayBeforeRetry: 50 * time.Millisecond,
		ConnectTimeout: 5 * time.Second, Warmup: -1, Bootstrap: -1, Rise: rise}
	var rss []healthcheck.RealServer
	for _, b := range backends {
		rss = append(rss, healthcheck.RealServer{Destination: ipvs.Destination{Addr: b.addr.Addr(), Port: b.addr.Port(), Weight: 1, Forward: ipvs.Masquerade},
			Checks: []healthcheck.Check{{Policy: policy, Checker: &healthcheck.HTTPChecker{
				Conn: healthcheck.Conn{Addr: b.addr}, URLs: []healthcheck.URL{{Path: "/", Digest: healthcheck.Digest([]byte(b.name))}}}}}})
	}
	rec := &recordingSyncer{next: healthcheck.NewTable(us)}
	pool, err := healthcheck.NewPool(healthcheck.PoolConfig{
		Service:     ipvs.Service{Protocol: ipvs.TCP, Addr: vip.Addr(), Port: vip.Port(), Scheduler: "rr"},
		RealServers: rss,
		Syncer:      rec,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	poolDone := make(chan error)
	go func() { poolDone <- pool.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-poolDone; err != nil {
			t.Errorf("pool Run: %v", err)
		}
	}()
	dead := backends[0].addr.String() + "=1"
	hasDead := func(ds []string) bool { return slices.Contains(ds, dead) }
	if _, ok := waitSync(rec, time.Time{}, func(ds []string) bool { return len(ds) == 3 }); !ok {
		t.Fatal("the pool never put the three real servers in the table")
	}

	// Bounded load: 4 clients, new connection per request, at most 4000
	// requests, stopped at the end of the test.
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}
	var (
		resMu   sync.Mutex
		results []result
		total   atomic.Int64
		stop    = make(chan struct{})
		loadWG  sync.WaitGroup
	)
	for range 4 {
		loadWG.Add(1)
		go func() {
			defer loadWG.Done()
			for total.Add(1) <= 4000 {
				select {
				case <-stop:
					return
				default:
				}
				r := result{start: time.Now()}
				resp, err := client.Get("http://" + vip.String() + "/")
				if err == nil {
					b, rerr := io.ReadAll(resp.Body)
					resp.Body.Close()
					r.body, err = string(b), rerr
				}
				r.end, r.err = time.Now(), err
				resMu.Lock()
				results = append(results, r)
				resMu.Unlock()
				time.Sleep(2 * time.Millisecond)
			}
		}()
	}
	stopLoad := sync.OnceFunc(func() { close(stop); loadWG.Wait() })
	defer stopLoad()
	// runFor lets the load run until n requests that started after since
	// have ended: a window counted in requests, not in wall time, so a
	// busy machine makes it longer, never emptier.
	runFor := func(what string, since time.Time, n int) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			resMu.Lock()
			k := 0
			for _, r := range results {
				if r.start.After(since) {
					k++
				}
			}
			resMu.Unlock()
			if k >= n {
				return
			}
			if time.Now().After(deadline) || total.Load() > 4000 {
				t.Fatalf("load %s: %d requests ended, want %d", what, k, n)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}

	runFor("before the kill", time.Time{}, 30)
	killed := time.Now()
	backends[0].stop()
	detected, ok := waitSync(rec, killed, func(ds []string) bool { return !hasDead(ds) })
	if !ok {
		t.Fatal("the killed server was never taken out of the table")
	}
	t.Logf("killed web0; out of the table %v later", detected.Sub(killed).Round(time.Millisecond))
	runFor("without web0", detected, 30)

	backends[0].checks.Store(0)
	restarted := time.Now()
	backends[0].start(backends[0].addr.String())
	back, ok := waitSync(rec, restarted, hasDead)
	if !ok {
		t.Fatal("the restarted server never came back into the table")
	}
	checksBeforeReturn := backends[0].checks.Load()
	t.Logf("restarted web0; back in the table %v later after %d successful checks", back.Sub(restarted).Round(time.Millisecond), checksBeforeReturn)
	if checksBeforeReturn < rise {
		t.Errorf("web0 returned after %d successful checks, want at least rise=%d", checksBeforeReturn, rise)
	}
	runFor("with web0 back", back, 30)
	stopLoad()

	resMu.Lock()
	defer resMu.Unlock()
	served := map[string]int{}
	var afterDetect, failedAfterDetect, web0WhileOut, web0AfterReturn int
	for _, r := range results {
		if r.err == nil {
			served[r.body]++
		}
		if r.start.After(detected) {
			afterDetect++
			if r.err != nil {
				failedAfterDetect++
				t.Errorf("request started %v after detection failed: %v", r.start.Sub(detected).Round(time.Millisecond), r.err)
			}
		}
		if r.start.After(detected) && r.end.Before(restarted) && r.body == "web0" {
			web0WhileOut++
		}
		if r.start.After(back) && r.body == "web0" {
			web0AfterReturn++
		}
	}
	t.Logf("%d requests: served by %v; %d started after detection, %d of them failed", len(results), served, afterDetect, failedAfterDetect)
	if afterDetect == 0 {
		t.Error("no request ran after detection: the test proved nothing")
	}
	if web0WhileOut != 0 {
		t.Errorf("%d requests reached web0 while it was out of the table", web0WhileOut)
	}
	if web0AfterReturn == 0 {
		t.Error("no request reached web0 after it came back")
	}
	for _, name := range []string{"web1", "web2"} {
		if served[name] == 0 {
			t.Errorf("%s served nothing", name)
		}
	}
	if !strings.HasPrefix(vip.Addr().String(), "127.") {
		t.Fatalf("the service address %s is not loopback", vip)
	}
}

// waitSync waits up to 10 s for a sync after after that satisfies cond.
func waitSync(r *recordingSyncer, after time.Time, cond func([]string) bool) (time.Time, bool) {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if at, ok := r.firstSync(after, cond); ok {
			return at, true
		}
		time.Sleep(5 * time.Millisecond)
	}
	return time.Time{}, false
}
