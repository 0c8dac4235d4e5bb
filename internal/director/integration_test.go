package director_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lvskit/lvskit/internal/buildtest"
	"github.com/lvskit/lvskit/internal/director"
	"github.com/lvskit/lvskit/internal/netnstest"
	"github.com/lvskit/lvskit/internal/nslab"
	"github.com/lvskit/lvskit/internal/peer"
)

// buildDirector compiles examples/director into a temporary folder.
func buildDirector(t *testing.T) string {
	t.Helper()
	return buildtest.Program(t, "github.com/lvskit/lvskit/examples/director")
}

// startDirector runs the director binary in h, with its control socket in
// a temporary folder; when t ends it gets SIGTERM (SIGKILL after 10 s)
// and, if t failed, its log is shown.
func startDirector(t *testing.T, h *netnstest.Host, bin, name string, args ...string) *nslab.Proc {
	t.Helper()
	return h.Program(name, bin, append(args, "--socket", filepath.Join(t.TempDir(), name+".sock"))...)
}

// serveHTTP runs a web server inside h on addr that names itself.
func serveHTTP(t *testing.T, h *netnstest.Host, addr, name string) *http.Server {
	t.Helper()
	ln, err := h.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Served-By", name)
		fmt.Fprintf(w, "hello from %s\n", name)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return srv
}

func httpClient(h *netnstest.Host) *http.Client {
	return &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DialContext: h.DialContext, DisableKeepAlives: true}}
}

func fetchStatus(h *netnstest.Host) (*director.Status, error) {
	resp, err := httpClient(h).Get("http://127.0.0.1:9100/status")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var st director.Status
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		return nil, err
	}
	return &st, nil
}

func fetchMetrics(t *testing.T, h *netnstest.Host) string {
	t.Helper()
	resp, err := httpClient(h).Get("http://127.0.0.1:9100/metrics")
	if err != nil {
		t.Fatalf("get /metrics: %v", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func servedBy(c *http.Client, url string) (string, error) {
	resp, err := c.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.Header.Get("X-Served-By"), nil
}

// waitFor polls cond until it holds or timeout passes.
func waitFor(timeout time.Duration, cond func() bool) bool { return netnstest.WaitFor(timeout, cond) }

const clusterConf = `global_defs {
    router_id {{NAME}}
}
vrrp_instance VI_1 {
    state BACKUP
    interface eth0
    virtual_router_id 51
    priority {{PRIO}}
    advert_int 1
    authentication {
        auth_type PASS
        auth_pass lvskit
    }
    virtual_ipaddress {
        192.168.0.253/24 dev eth0 label eth0:1
    }
}
virtual_server 192.168.0.253 80 {
    delay_loop 1
    lb_algo wrr
    lb_kind NAT
    protocol TCP
    real_server 192.168.0.1 80 {
        weight 3
        HTTP_GET {
            url {
                path /
                status_code 200
            }
            connect_timeout 5
            retry 1
            delay_before_retry 1
        }
    }
    real_server 192.168.0.2 80 {
        weight {{W2}}
        HTTP_GET {
            url {
                path /
                status_code 200
            }
            connect_timeout 5
            retry 1
            delay_before_retry 1
        }
    }
}
`

func writeConf(t *testing.T, path, name string, prio, w2 int) {
	t.Helper()
	s := strings.NewReplacer("{{NAME}}", name, "{{PRIO}}", fmt.Sprint(prio), "{{W2}}", fmt.Sprint(w2)).Replace(clusterConf)
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

func vrrpState(st *director.Status) string {
	if st == nil || len(st.VRRP) == 0 {
		return ""
	}
	return st.VRRP[0].State
}

func realServer(st *director.Status, addr string) (director.RealServerStatus, bool) {
	for _, vs := range st.VirtualServers {
		for _, rs := range vs.RealServers {
			if rs.Address == addr {
				return rs, true
			}
		}
	}
	return director.RealServerStatus{}, false
}

// Two directors from keepalived.conf files with the userspace backend serve
// a client through the VIP; a SIGHUP changing one weight changes only that
// entry; a SIGHUP with a broken file changes nothing; the metrics pass
// promtool; SIGKILL of the master moves the service to the backup.
func TestIntegrationDirectors(t *testing.T) {
	netnstest.RequireRoot(t)
	start := time.Now()
	step := func(what string) { t.Logf("%6.2fs %s", time.Since(start).Seconds(), what) }
	bin := buildDirector(t)
	step("built")
	lab := netnstest.New(t)
	lan := lab.LAN("lan")
	d1, d2 := lab.Host("lvs1"), lab.Host("lvs2")
	web1, web2 := lab.Host("web1"), lab.Host("web2")
	client := lab.Host("client")
	lan.Connect(d1, "eth0", "192.168.0.200/24")
	lan.Connect(d2, "eth0", "192.168.0.201/24")
	lan.Connect(web1, "eth0", "192.168.0.1/24")
	lan.Connect(web2, "eth0", "192.168.0.2/24")
	lan.Connect(client, "eth0", "192.168.0.100/24")
	serveHTTP(t, web1, "192.168.0.1:80", "web1")
	web2srv := serveHTTP(t, web2, "192.168.0.2:80", "web2")

	dir := t.TempDir()
	conf1, conf2 := filepath.Join(dir, "lvs1.conf"), filepath.Join(dir, "lvs2.conf")
	writeConf(t, conf1, "lvs1", 150, 1)
	writeConf(t, conf2, "lvs2", 100, 1)
	// The backup starts first and becomes MASTER alone; the master, with a
	// higher priority, then preempts it.
	p2 := startDirector(t, d2, bin, "lvs2", "-f", conf2, "--backend", "userspace", "--metrics", ":9100")
	if !waitFor(20*time.Second, func() bool { st, _ := fetchStatus(d2); return vrrpState(st) == "MASTER" }) {
		t.Fatalf("lvs2 alone did not become MASTER")
	}
	step("lvs2 MASTER alone")
	p1 := startDirector(t, d1, bin, "lvs1", "-f", conf1, "--backend", "userspace", "--metrics", ":9100")

	var st1 *director.Status
	if !waitFor(20*time.Second, func() bool {
		st1, _ = fetchStatus(d1)
		st2, _ := fetchStatus(d2)
		return vrrpState(st1) == "MASTER" && vrrpState(st2) == "BACKUP"
	}) {
		t.Fatalf("lvs1 did not become MASTER with lvs2 BACKUP: %+v", st1)
	}
	step("lvs1 MASTER")
	if st1.Backend != "userspace" || st1.RouterID != "lvs1" {
		t.Errorf("status backend %q router_id %q, want userspace lvs1", st1.Backend, st1.RouterID)
	}

	// Requests whose failure fails the test get time for a stalled
	// process: the proxy, the web servers and this test share a loaded
	// machine.
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DialContext: client.DialContext, DisableKeepAlives: true}}
	url := "http://192.168.0.253/"
	if !waitFor(30*time.Second, func() bool { _, err := servedBy(c, url); return err == nil }) {
		t.Fatalf("no service through the VIP")
	}
	step("service up")
	// Real servers start up (no alpha): both are in the table before any
	// check has run, which the distribution below needs.
	if !waitFor(15*time.Second, func() bool {
		st, _ := fetchStatus(d1)
		rs1, ok1 := realServer(st, "192.168.0.1:80")
		rs2, ok2 := realServer(st, "192.168.0.2:80")
		return st != nil && ok1 && ok2 && rs1.InTable && rs2.InTable && rs1.TableWeight == 3 && rs2.TableWeight == 1
	}) {
		st, _ := fetchStatus(d1)
		t.Fatalf("web1 and web2 not in lvs1's table at weights 3 and 1: %+v", st)
	}
	counts := map[string]int{}
	for range 40 {
		name, err := servedBy(c, url)
		if err != nil {
			t.Fatalf("request through the VIP: %v", err)
		}
		counts[name]++
	}
	// wrr 3:1 over 40 new connections: exactly 30 and 10.
	if counts["web1"] != 30 || counts["web2"] != 10 {
		t.Errorf("distribution %v, want web1 30 and web2 10 (wrr 3:1)", counts)
	}

	// Reload with one weight changed: one IPVS write, no VRRP transition.
	before, err := fetchStatus(d1)
	if err != nil {
		t.Fatal(err)
	}
	writeConf(t, conf1, "lvs1", 150, 2)
	if err := p1.Cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	var after *director.Status
	if !waitFor(10*time.Second, func() bool { after, _ = fetchStatus(d1); return after != nil && after.ReloadsOK == 1 }) {
		t.Fatalf("reload not applied: %+v\n%s", after, p1.Output())
	}
	if got := after.IPVSWrites - before.IPVSWrites; got != 1 {
		t.Errorf("IPVS writes during the reload = %d, want 1 (the weight update)", got)
	}
	if rs, _ := realServer(after, "192.168.0.2:80"); rs.TableWeight != 2 || rs.Weight != 2 || !rs.InTable {
		t.Errorf("web2 after reload: %+v, want weight 2 in the table", rs)
	}
	if rs, _ := realServer(after, "192.168.0.1:80"); rs.TableWeight != 3 || !rs.Healthy {
		t.Errorf("web1 after reload: %+v, want weight 3, healthy", rs)
	}
	// The instance's own count (its log lines reach our pipe late).
	if vrrpState(after) != "MASTER" || after.VRRP[0].Transitions != before.VRRP[0].Transitions ||
		!after.VRRP[0].LastTransition.Equal(before.VRRP[0].LastTransition) {
		t.Errorf("VRRP flapped on a reload that did not change it: state %s, transitions %d -> %d, last %v -> %v\n%s", vrrpState(after),
			before.VRRP[0].Transitions, after.VRRP[0].Transitions, before.VRRP[0].LastTransition, after.VRRP[0].LastTransition, p1.Output())
	}

	step("reloaded")
	// A broken file changes nothing.
	if err := os.WriteFile(conf1, []byte("vrrp_instance VI_1 {\n    interface eth0\n    priority banana\n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := p1.Cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	var bad *director.Status
	if !waitFor(10*time.Second, func() bool { bad, _ = fetchStatus(d1); return bad != nil && bad.ReloadsFailed == 1 }) {
		t.Fatalf("bad reload not reported: %+v", bad)
	}
	if bad.IPVSWrites != after.IPVSWrites || vrrpState(bad) != "MASTER" || bad.ReloadsOK != 1 {
		t.Errorf("a rejected reload changed something: writes %d -> %d, state %s", after.IPVSWrites, bad.IPVSWrites, vrrpState(bad))
	}
	if rs, _ := realServer(bad, "192.168.0.2:80"); rs.TableWeight != 2 {
		t.Errorf("web2 after a rejected reload: %+v, want weight 2 kept", rs)
	}
	// The status counts the failure before the log line reaches our pipe.
	if !waitFor(10*time.Second, func() bool { return strings.Contains(p1.Output(), "reload rejected: "+conf1+":1:1") }) {
		t.Errorf("the rejected reload's error with its position is not in the log:\n%s", p1.Output())
	}
	metrics := fetchMetrics(t, d1)
	if !strings.Contains(metrics, `lvskit_director_config_reloads_total{result="error"} 1`) ||
		!strings.Contains(metrics, `lvskit_director_config_reloads_total{result="ok"} 1`) {
		t.Errorf("reload counters not in /metrics:\n%s", grepLines(metrics, "reloads"))
	}
	promtoolCheck(t, metrics)

	step("bad reload checked")
	// A real server stops: the checker takes it out, requests go to the
	// other one.
	web2srv.Close()
	if !waitFor(15*time.Second, func() bool {
		st, _ := fetchStatus(d1)
		rs, ok := realServer(st, "192.168.0.2:80")
		return ok && !rs.Healthy && !rs.InTable
	}) {
		st, _ := fetchStatus(d1)
		t.Fatalf("web2 not taken out after it stopped: %+v", st)
	}
	for range 8 {
		if name, err := servedBy(c, url); err != nil || name != "web1" {
			t.Errorf("request with web2 down: served by %q, %v; want web1", name, err)
		}
	}
	step("web2 taken out")

	// SIGKILL of the master: the backup takes over and serves.
	if err := p1.Cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-p1.Done()
	killed := time.Now()
	if !waitFor(30*time.Second, func() bool {
		st, _ := fetchStatus(d2)
		if vrrpState(st) != "MASTER" {
			return false
		}
		_, err := servedBy(c, url)
		return err == nil
	}) {
		st, _ := fetchStatus(d2)
		t.Fatalf("lvs2 did not take over within 30s: %+v\n%s", st, p2.Output())
	}
	t.Logf("service back through lvs2 %v after SIGKILL of lvs1", time.Since(killed).Round(10*time.Millisecond))

	step("failover")
	// SIGTERM: lvs2 stops gracefully, removing the VIP.
	if err := p2.Cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p2.Done():
	case <-time.After(15 * time.Second):
		t.Fatalf("lvs2 did not stop on SIGTERM")
	}
	step("lvs2 stopped")
	if !p2.Cmd.ProcessState.Success() {
		t.Errorf("lvs2 exit: %v", p2.Cmd.ProcessState)
	}
	if out := d2.Run("ip", "-4", "addr", "show", "dev", "eth0"); strings.Contains(out, "192.168.0.253") {
		t.Errorf("VIP still on lvs2 after SIGTERM:\n%s", out)
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// promtoolCheck runs `promtool check metrics` (Debian's prometheus package)
// as an independent reader of the exposition.
func promtoolCheck(t *testing.T, metrics string) { peer.CheckMetrics(t, metrics) }
