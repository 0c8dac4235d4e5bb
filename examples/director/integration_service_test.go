package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/lvskit/lvskit/internal/director"
	"github.com/lvskit/lvskit/internal/netnstest"
	"github.com/lvskit/lvskit/internal/peer"
	"github.com/lvskit/lvskit/internal/sdnotify/sdnotifytest"
)

// The director as systemd runs it, in a namespace: NOTIFY_SOCKET,
// WATCHDOG_USEC and JOURNAL_STREAM set, SIGHUP to reload, SIGTERM to
// stop. The test listens on the notify socket as systemd would and reads
// the status through `director status` on the control socket.
const serviceConf = `global_defs {
    router_id svc
}
vrrp_instance VI_1 {
    state BACKUP
    interface eth0
    virtual_router_id 61
    priority 120
    advert_int 1
    virtual_ipaddress {
        10.97.0.100/24
    }
}
virtual_server 10.97.0.100 80 {
    delay_loop 1
    lb_algo wrr
    lb_kind NAT
    protocol TCP
    real_server 10.97.0.2 80 {
        weight {{W}}
        TCP_CHECK {
            connect_timeout 1
        }
    }
}
`

// notifications reads what the director sends to its notify socket,
// counting the watchdog pings apart.
type notifications struct {
	t         *testing.T
	ch        chan []string
	mu        sync.Mutex
	watchdogs int
	// beforeFirst is the number of watchdog pings read before the first
	// other notification (-1 until it comes): counted by the reader, as
	// pings keep coming while the test looks at that notification.
	beforeFirst int
}

func listenNotify(t *testing.T) (*notifications, string) {
	sock := sdnotifytest.Listen(t)
	n := &notifications{t: t, ch: make(chan []string, 100), beforeFirst: -1}
	go func() {
		for {
			msg, ok := sock.Next(time.Hour)
			if !ok {
				return // closed when the test ends
			}
			if len(msg) == 1 && msg[0] == "WATCHDOG=1" {
				n.mu.Lock()
				n.watchdogs++
				n.mu.Unlock()
				continue
			}
			n.mu.Lock()
			if n.beforeFirst < 0 {
				n.beforeFirst = n.watchdogs
			}
			n.mu.Unlock()
			n.ch <- msg
		}
	}()
	return n, sock.Path
}

// next is the next notification other than a watchdog ping.
func (n *notifications) next(what string) []string {
	n.t.Helper()
	select {
	case m := <-n.ch:
		return m
	case <-time.After(30 * time.Second):
		n.t.Fatalf("no notification (%s) within 30s", what)
		return nil
	}
}

func (n *notifications) pings() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.watchdogs
}

// pingsBeforeFirst is the number of watchdog pings that came before the
// first other notification.
func (n *notifications) pingsBeforeFirst() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.beforeFirst
}

func statusJSON(t *testing.T, sock string) *director.Status {
	t.Helper()
	var out, errb bytes.Buffer
	if code := runStatus([]string{"--socket", sock, "--json"}, &out, &errb); code != 0 {
		t.Fatalf("director status --json: exit %d: %s", code, errb.String())
	}
	var st director.Status
	if err := json.Unmarshal(out.Bytes(), &st); err != nil {
		t.Fatalf("director status --json: %v\n%s", err, out.String())
	}
	return &st
}

func TestIntegrationService(t *testing.T) {
	netnstest.RequireRoot(t)
	bin := buildDirector(t)
	lab := netnstest.New(t)
	lan := lab.LAN("lan")
	lvs, web := lab.Host("lvs"), lab.Host("web")
	lan.Connect(lvs, "eth0", "10.97.0.1/24")
	lan.Connect(web, "eth0", "10.97.0.2/24")
	ln, err := web.Listen("tcp", "10.97.0.2:80")
	if err != nil {
		t.Fatal(err)
	}
	websrv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "web") })}
	go websrv.Serve(ln)
	t.Cleanup(func() { websrv.Close() })

	dir := t.TempDir()
	conf := filepath.Join(dir, "keepalived.conf")
	writeServiceConf := func(w int) {
		t.Helper()
		if err := os.WriteFile(conf, []byte(strings.ReplaceAll(serviceConf, "{{W}}", strconv.Itoa(w))), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	writeServiceConf(1)
	sock := filepath.Join(dir, "run", "lvskit", "director.sock")
	notify, notifyPath := listenNotify(t)

	// Standard error is a pipe named by JOURNAL_STREAM, as journald's
	// stream socket is.
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(int(pw.Fd()), &st); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	var logMu sync.Mutex
	logsDone := make(chan struct{})
	go func() {
		defer close(logsDone)
		b := make([]byte, 4096)
		for {
			n, err := pr.Read(b)
			logMu.Lock()
			logs.Write(b[:n])
			logMu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	logText := func() string { logMu.Lock(); defer logMu.Unlock(); return logs.String() }

	pidFile := filepath.Join(dir, "keepalived.pid")
	cmd := exec.Command(bin, "-f", conf, "--backend", "userspace", "--socket", sock, "--metrics", ":9100",
		"--metrics-compat", "keepalived", "--dump-dir", dir, "--pid", pidFile)
	cmd.Env = append(os.Environ(), "NOTIFY_SOCKET="+notifyPath, "WATCHDOG_USEC=400000",
		fmt.Sprintf("JOURNAL_STREAM=%d:%d", st.Dev, st.Ino))
	cmd.Stderr = pw
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := lvs.Start(cmd); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("director log:\n%s", logText())
		}
	})

	// READY=1 comes once the configuration is applied: the virtual
	// server is in the IPVS table by then. No watchdog ping before it.
	ready := notify.next("READY")
	if len(ready) != 2 || ready[0] != "READY=1" || !strings.HasPrefix(ready[1], "STATUS=running "+conf+" at ") ||
		!strings.HasSuffix(ready[1], ": 1 VRRP instances, 1 virtual servers, IPVS backend userspace") {
		t.Fatalf("first notification %q, want READY=1 with the running summary", ready)
	}
	// Pings after READY may already be counted: the reader says how many
	// came before it.
	pingsBeforeReady := notify.pingsBeforeFirst()
	if b, err := os.ReadFile(pidFile); err != nil || string(b) != strconv.Itoa(cmd.Process.Pid)+"\n" {
		t.Errorf("pid file %q, %v; want %d", b, err, cmd.Process.Pid)
	}
	s := statusJSON(t, sock)
	if len(s.VirtualServers) != 1 || !s.VirtualServers[0].InTable {
		t.Errorf("at READY the virtual server is not in the IPVS table: %+v", s.VirtualServers)
	}
	if pingsBeforeReady != 0 {
		t.Errorf("%d watchdog pings before READY", pingsBeforeReady)
	}
	if fi, err := os.Lstat(sock); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("control socket: %v, %v; want mode 0600", fi, err)
	}
	if fi, err := os.Stat(filepath.Dir(sock)); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("control socket folder: %v, %v; want mode 0700", fi, err)
	}

	if !netnstest.WaitFor(20*time.Second, func() bool {
		s = statusJSON(t, sock)
		return len(s.VRRP) == 1 && s.VRRP[0].State == "MASTER" && len(s.VirtualServers) == 1 &&
			len(s.VirtualServers[0].RealServers) == 1 && s.VirtualServers[0].RealServers[0].Healthy
	}) {
		t.Fatalf("not MASTER with a healthy real server: %+v", s)
	}
	var out, errb bytes.Buffer
	if code := runStatus([]string{"--socket", sock}, &out, &errb); code != 0 {
		t.Fatalf("director status: exit %d: %s", code, errb.String())
	}
	for _, want := range []string{
		"director svc: config " + conf + ", IPVS backend userspace\n",
		"\n  VI_1: MASTER for ",
		"\n    interface eth0, VRID 61, version 2, priority 120, effective 120, master 10.97.0.1 (this director)\n",
		"\n    VIP 10.97.0.100/24 dev eth0\n",
		"\nProt LocalAddress:Port Scheduler Flags\n  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn Health\n",
		"\nTCP  10.97.0.100:80 wrr  [quorum up]\n",
		"\n  -> 10.97.0.2:80                 Masq    1      0          0          up\n",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("director status lacks %q:\n%s", want, out.String())
		}
	}

	// Both metric sets, through promtool.
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DialContext: lvs.DialContext}}
	resp, err := hc.Get("http://127.0.0.1:9100/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`keepalived_vrrp_state{iname="VI_1",intf="eth0",ip_address="10.97.0.100/24",vrid="61"} 2`,
		`keepalived_become_master_total{iname="VI_1",intf="eth0",vrid="61"} 1`,
		`node_ipvs_backend_weight{local_address="10.97.0.100",local_mark="",local_port="80",proto="TCP",remote_address="10.97.0.2",remote_port="80"} 1`,
		`node_ipvs_connections_total `,
	} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	peer.CheckMetrics(t, string(metrics))

	// A good reload: RELOADING=1, then READY=1 with what runs now.
	writeServiceConf(2)
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	if m := notify.next("RELOADING"); m[0] != "RELOADING=1" {
		t.Fatalf("after SIGHUP %q, want RELOADING=1", m)
	}
	if m := notify.next("READY after the reload"); len(m) != 2 || m[0] != "READY=1" || !strings.HasPrefix(m[1], "STATUS=reloaded "+conf+" at ") {
		t.Fatalf("after a good reload %q, want READY=1 and STATUS=reloaded ...", m)
	}
	if s = statusJSON(t, sock); s.VirtualServers[0].RealServers[0].TableWeight != 2 || s.ReloadsOK != 1 {
		t.Errorf("after the reload: %+v", s.VirtualServers[0].RealServers[0])
	}

	// A bad reload: READY=1 again (the old configuration runs on) with a
	// STATUS= naming the error at its position.
	// No virtual_router_id: keepalived stops on it, the director refuses
	// it (priority banana both only warn about).
	if err := os.WriteFile(conf, []byte("vrrp_instance VI_1 {\n    interface eth0\n    priority banana\n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	if m := notify.next("RELOADING"); m[0] != "RELOADING=1" {
		t.Fatalf("after SIGHUP %q, want RELOADING=1", m)
	}
	if m := notify.next("READY after the bad reload"); len(m) != 2 || m[0] != "READY=1" ||
		!strings.HasPrefix(m[1], "STATUS=reload failed, previous configuration still running: "+conf+":1:1: ") {
		t.Fatalf("after a bad reload %q, want READY=1 and STATUS=reload failed ... %s:1:1: ...", m, conf)
	}
	if s = statusJSON(t, sock); s.ReloadsFailed != 1 || s.VRRP[0].State != "MASTER" || s.VirtualServers[0].RealServers[0].TableWeight != 2 {
		t.Errorf("after the bad reload: %+v", s)
	}

	// keepalived's STATS signal writes keepalived.stats in --dump-dir.
	if err := cmd.Process.Signal(sigStats); err != nil {
		t.Fatal(err)
	}
	if !netnstest.WaitFor(10*time.Second, func() bool {
		b, err := os.ReadFile(filepath.Join(dir, "keepalived.stats"))
		return err == nil && strings.HasPrefix(string(b), "VRRP Instance: VI_1\n")
	}) {
		t.Errorf("no keepalived.stats after SIGUSR2")
	}

	if !netnstest.WaitFor(10*time.Second, func() bool { return notify.pings() > 0 }) {
		t.Errorf("no WATCHDOG=1 ping with WATCHDOG_USEC set")
	}

	// SIGTERM: STOPPING=1, exit 0, the control socket removed.
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if m := notify.next("STOPPING"); len(m) != 1 || m[0] != "STOPPING=1" {
		t.Errorf("after SIGTERM %q, want STOPPING=1", m)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("director exit: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("director did not exit after SIGTERM")
	}
	if _, err := os.Lstat(sock); !os.IsNotExist(err) {
		t.Errorf("control socket left after stop: %v", err)
	}
	if _, err := os.Stat(filepath.Dir(sock)); !os.IsNotExist(err) {
		t.Errorf("the control socket's folder, which the director made, left after stop: %v", err)
	}
	if _, err := os.Stat(pidFile); !os.IsNotExist(err) {
		t.Errorf("pid file left after stop: %v", err)
	}

	// Under the journal: a syslog priority on every line, no timestamp.
	<-logsDone
	text := logText()
	if !strings.Contains(text, "<6>level=INFO msg=\"director running\"") || !strings.Contains(text, "<3>level=ERROR msg=\"reload rejected: ") {
		t.Errorf("journal lines without their priorities:\n%s", text)
	}
	if strings.Contains(text, "time=") {
		t.Errorf("timestamps under the journal:\n%s", text)
	}
}
