package e2e

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/lvskit/lvskit/internal/netnstest"
	"github.com/lvskit/lvskit/internal/nslab"
	"github.com/lvskit/lvskit/internal/vmtest"
)

// Host half: builds the director, boots the Debian kernel with IPVS under
// qemu and runs TestGuestSyncDaemon there, then its control
// TestGuestNoSyncDaemonResets.
func TestKernelSyncDaemon(t *testing.T) {
	if vmtest.InGuest() {
		t.Skip("host half; the guest half is TestGuestSyncDaemon")
	}
	netnstest.RequireRoot(t)
	director := vmtest.BuildBinary(t, "./examples/director")
	vmtest.Run(t, vmtest.Config{
		Package: "./internal/e2e",
		Run:     "^(TestGuestSyncDaemon|TestGuestNoSyncDaemonResets)$",
		Files:   map[string]string{guestDirector: director},
		Timeout: 6 * time.Minute,
	})
}

const (
	guestDirector = "/lvskit/bin/director"
	statusAddr    = "127.0.0.1:9100"
	vip           = "192.168.0.253"
	service       = vip + ":5000"
	realServer    = "192.168.0.1:5000"
	clientAddr    = "192.168.0.50"
	instance      = "VI_1"
)

// syncConf is keepalived.conf for one director; the sync daemon follows
// VI_1 with the default sync id (the VRID, 51).
const syncConf = `global_defs {
    router_id {{NAME}}
    lvs_sync_daemon eth0 VI_1
}

vrrp_instance VI_1 {
    interface eth0
    virtual_router_id 51
    priority {{PRIO}}
    advert_int 1
    virtual_ipaddress {
        192.168.0.253/24 dev eth0
    }
}

virtual_server 192.168.0.253 5000 {
    delay_loop 2
    lb_algo rr
    lb_kind DR
    protocol TCP
    real_server 192.168.0.1 5000 {
        weight 1
        TCP_CHECK {
            connect_timeout 3
        }
    }
}
`

// Bounded waits, generous for a guest whose CPU is emulated (TCG) on a
// busy host.
const (
	electionWait = 60 * time.Second // directors up, elected, table programmed
	syncWait     = 60 * time.Second // the connection reaches the backup's table
	takeoverWait = 60 * time.Second // the backup becomes MASTER
	flowWait     = 60 * time.Second // echoes flow again after the takeover
	echoTimeout  = 90 * time.Second // one message's round trip, retransmissions included
	echoEvery    = 200 * time.Millisecond
	echoesAfter  = 5 // round trips required after the takeover
)

// failoverLab is the cluster in namespaces: client, lvs1, lvs2
// and web1 on one LAN. lvs1 (priority 150) and lvs2 (100) run
// examples/director with kernel IPVS in DR mode, with or without
// lvs_sync_daemon; web1 holds the VIP on lo and echoes on :5000.
type failoverLab struct {
	lvs1, lvs2, web1, client *netnstest.Host
	d1, d2                   *nslab.Proc
	echo                     *echoServer
	elected                  time.Duration // from start to both directors ready
}

// newFailoverLab builds the lab and waits until lvs1 is MASTER and lvs2
// BACKUP, both with web1 healthy in their IPVS tables.
func newFailoverLab(t *testing.T, withSync bool) *failoverLab {
	t.Helper()
	if _, err := os.Stat(guestDirector); err != nil {
		t.Fatalf("director binary missing in the guest (the TestKernel half copies it in): %v", err)
	}
	begin := time.Now()
	lab := netnstest.New(t)
	lan := lab.LAN("lan")
	l := &failoverLab{lvs1: lab.Host("lvs1"), lvs2: lab.Host("lvs2"), web1: lab.Host("web1"), client: lab.Host("client")}
	lan.Connect(l.lvs1, "eth0", "192.168.0.200/24")
	lan.Connect(l.lvs2, "eth0", "192.168.0.201/24")
	// The DR real server: the VIP on lo, ARP answered for its own address only.
	lan.Connect(l.web1, "eth0", "192.168.0.1/24")
	for _, k := range []string{"all", "eth0"} {
		l.web1.SetSysctl("net.ipv4.conf."+k+".arp_ignore", "1")
		l.web1.SetSysctl("net.ipv4.conf."+k+".arp_announce", "2")
	}
	l.web1.AddAddr("lo", vip+"/32")
	lan.Connect(l.client, "eth0", clientAddr+"/24")
	l.echo = startEchoServer(t, l.web1, "0.0.0.0:5000")

	dir := t.TempDir()
	writeConf := func(name string, prio int) string {
		p := filepath.Join(dir, name+".conf")
		conf := syncConf
		if !withSync {
			conf = strings.Replace(conf, "    lvs_sync_daemon eth0 VI_1\n", "", 1)
		}
		s := strings.NewReplacer("{{NAME}}", name, "{{PRIO}}", fmt.Sprint(prio)).Replace(conf)
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	argv := func(conf string) []string {
		return []string{guestDirector, "-f", conf, "--backend", "netlink", "--metrics", statusAddr}
	}
	l.d1 = startProc(t, l.lvs1, "director lvs1", argv(writeConf("lvs1", 150))...)
	l.d2 = startProc(t, l.lvs2, "director lvs2", argv(writeConf("lvs2", 100))...)

	var st1, st2 *directorStatus
	ctx := context.Background()
	if !waitFor(electionWait, 500*time.Millisecond, func() bool {
		st1, _ = fetchStatus(ctx, l.lvs1, statusAddr)
		st2, _ = fetchStatus(ctx, l.lvs2, statusAddr)
		return st1.state(instance) == "MASTER" && st2.state(instance) == "BACKUP" &&
			st1.realServerReady(realServer) && st2.realServerReady(realServer)
	}) || !l.d1.Running() || !l.d2.Running() {
		t.Fatalf("want lvs1 MASTER and lvs2 BACKUP, both with %s healthy in the table, within %v; lvs1: %+v, lvs2: %+v",
			realServer, electionWait, st1, st2)
	}
	l.elected = time.Since(begin)
	if st1.Backend != "netlink" || st2.Backend != "netlink" {
		t.Fatalf("backends %q and %q, want netlink (kernel IPVS)", st1.Backend, st2.Backend)
	}
	return l
}

// connect opens the long-lived connection from the client to the VIP and
// starts echoing on it; it returns once three lines came back through lvs1.
func (l *failoverLab) connect(t *testing.T) (*pinger, time.Time) {
	t.Helper()
	dialCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	conn, err := l.client.Dial(dialCtx, "tcp", service)
	cancel()
	if err != nil {
		t.Fatalf("connect to %s: %v", service, err)
	}
	dialed := time.Now()
	p := startPinger(t, conn)
	if !waitFor(30*time.Second, 100*time.Millisecond, func() bool { return p.count(time.Time{}) >= 3 || p.failed() != nil }) {
		t.Fatalf("no echo through lvs1 within 30s (%d echoes, err %v)", p.count(time.Time{}), p.failed())
	}
	if err := p.failed(); err != nil {
		t.Fatalf("echo through lvs1: %v", err)
	}
	return p, dialed
}

// failMaster makes lvs1 die like a machine: its director is SIGKILLed (no
// graceful priority-0 advert, no cleanup) and its link goes down; its
// kernel IPVS state and the VIP stay behind, unreachable. It returns when
// that happened and when lvs2 was seen MASTER.
func (l *failoverLab) failMaster(t *testing.T) (killed, tookOver time.Time) {
	t.Helper()
	l.d1.Kill()
	if err := linkDown(l.lvs1, "eth0"); err != nil {
		t.Fatal(err)
	}
	killed = time.Now()
	var st *directorStatus
	if !waitFor(takeoverWait, 200*time.Millisecond, func() bool {
		st, _ = fetchStatus(context.Background(), l.lvs2, statusAddr)
		return st.state(instance) == "MASTER"
	}) {
		t.Fatalf("lvs2 did not become MASTER within %v of lvs1's failure; status %+v", takeoverWait, st)
	}
	return killed, time.Now()
}

// Guest half: the failover, end to end. One TCP connection from
// the client through the VIP carries a numbered line every 200 ms from
// before lvs1 fails to after lvs2 took over.
func TestGuestSyncDaemon(t *testing.T) {
	vmtest.RequireGuest(t)
	l := newFailoverLab(t, true)
	lvs1, lvs2 := l.lvs1, l.lvs2

	// The sync daemons in their roles, as the kernel lists them.
	var daemon1, daemon2 string
	if !waitFor(30*time.Second, 500*time.Millisecond, func() bool {
		daemon1, _ = runIn(lvs1, "/sbin/ipvsadm", "-L", "--daemon")
		daemon2, _ = runIn(lvs2, "/sbin/ipvsadm", "-L", "--daemon")
		return strings.Contains(daemon1, "master sync daemon (mcast=eth0, syncid=51") &&
			strings.Contains(daemon2, "backup sync daemon (mcast=eth0, syncid=51")
	}) {
		st1, _ := fetchStatus(context.Background(), lvs1, statusAddr)
		st2, _ := fetchStatus(context.Background(), lvs2, statusAddr)
		t.Fatalf("sync daemons: want a master on lvs1 and a backup on lvs2, syncid 51 on eth0\n"+
			"ipvsadm -L --daemon on lvs1: %q (director says %+v)\non lvs2: %q (director says %+v)",
			daemon1, st1.syncDaemon(), daemon2, st2.syncDaemon())
	}
	t.Logf("ipvsadm -L --daemon before the failure: lvs1: %s; lvs2: %s", strings.TrimSpace(daemon1), strings.TrimSpace(daemon2))

	p, dialed := l.connect(t)
	local := p.conn.LocalAddr().String()

	// The backup learns the connection from the master's sync daemon: an
	// independent reader (ipvsadm) lists it in lvs2's kernel table.
	var table string
	var synced ipvsConn
	if !waitFor(syncWait, 250*time.Millisecond, func() bool {
		table, _ = runIn(lvs2, "/sbin/ipvsadm", "-Lnc")
		var ok bool
		synced, ok = findConn(parseConns(table), local, service)
		return ok
	}) {
		table1, _ := runIn(lvs1, "/sbin/ipvsadm", "-Lnc")
		t.Fatalf("lvs2's connection table never held %s -> %s within %v (%d echoes went through lvs1 meanwhile)\n"+
			"lvs2 (backup) ipvsadm -Lnc:\n%s\nlvs1 (master) ipvsadm -Lnc:\n%s", local, service, syncWait, p.count(time.Time{}), table, table1)
	}
	syncDelay := time.Since(dialed)
	t.Logf("lvs2 (BACKUP) ipvsadm -Lnc, %v after the connect:\n%s", syncDelay.Round(time.Millisecond), table)
	if synced.Proto != "TCP" || synced.Dest != realServer || synced.State != "ESTABLISHED" {
		t.Errorf("lvs2 holds %+v, want TCP ESTABLISHED %s -> %s -> %s", synced, local, service, realServer)
	}
	statsBefore := serviceStatsIn(t, lvs2)
	t.Logf("lvs2 service stats before the failure: %+v", statsBefore)

	lastBefore := p.last()
	killed, tookOver := l.failMaster(t)

	// Data keeps flowing on the same connection, now through lvs2.
	if !waitFor(flowWait, 100*time.Millisecond, func() bool { return p.count(tookOver) >= echoesAfter || p.failed() != nil }) {
		t.Fatalf("the connection stalled: %d echoes since lvs2 took over, want %d within %v (last echo %v before the failure)",
			p.count(tookOver), echoesAfter, flowWait, killed.Sub(lastBefore).Round(time.Millisecond))
	}
	if err := p.failed(); err != nil {
		t.Fatalf("the connection did not survive the failover: %v", err)
	}
	firstAfter := p.first(killed)

	// The kernel agrees, while the connection is still open: the packets
	// after the failover went through lvs2's IPVS on the synced entry;
	// none was scheduled anew.
	// The kernel (6.1) folds its per-CPU counters into what ipvsadm reads
	// every 2 s, so the new packets show up a little later.
	var statsAfter serviceStats
	if !waitFor(15*time.Second, 500*time.Millisecond, func() bool {
		statsAfter = serviceStatsIn(t, lvs2)
		return statsAfter.InPkts > statsBefore.InPkts
	}) {
		t.Errorf("lvs2's IPVS counted no packets in for %s after taking over (before %+v, after %+v)", service, statsBefore, statsAfter)
	}
	t.Logf("lvs2 service stats after the failover: %+v", statsAfter)
	if statsAfter.Conns != statsBefore.Conns {
		t.Errorf("lvs2 scheduled %d new connections for %s: the client's connection was not taken from the synced table",
			statsAfter.Conns-statsBefore.Conns, service)
	}
	if table, err := runIn(lvs2, "/sbin/ipvsadm", "-Lnc"); err != nil {
		t.Error(err)
	} else if c, ok := findConn(parseConns(table), local, service); !ok || c.Dest != realServer || c.State != "ESTABLISHED" {
		t.Errorf("lvs2 (MASTER) does not list %s -> %s -> %s ESTABLISHED:\n%s", local, service, realServer, table)
	} else {
		t.Logf("lvs2 (MASTER) ipvsadm -Lnc after the failover:\n%s", table)
	}
	// The VIP moved: the client now sends to lvs2's MAC.
	if mac, err := neighbour(l.client, "eth0", vip); err != nil {
		t.Error(err)
	} else if want := lvs2.HardwareAddr("eth0"); mac.String() != want.String() {
		t.Errorf("client's neighbour entry for %s is %s, want lvs2's %s", vip, mac, want)
	}
	p.stop()
	if n := l.echo.accepted(clientAddr); n != 1 {
		t.Errorf("web1 accepted %d connections from the client, want the one", n)
	}
	// The new MASTER runs the master sync daemon.
	if !waitFor(30*time.Second, 500*time.Millisecond, func() bool {
		daemon2, _ = runIn(lvs2, "/sbin/ipvsadm", "-L", "--daemon")
		return strings.Contains(daemon2, "master sync daemon (mcast=eth0, syncid=51")
	}) {
		t.Errorf("after the takeover lvs2 runs %q, want the master sync daemon", daemon2)
	}
	// A graceful stop stops the daemon.
	stopping := time.Now()
	if err := l.d2.Terminate(30 * time.Second); err != nil {
		t.Errorf("stop lvs2's director: %v", err)
	} else if daemon2, err = runIn(lvs2, "/sbin/ipvsadm", "-L", "--daemon"); err != nil || strings.Contains(daemon2, "sync daemon") {
		t.Errorf("after lvs2's director stopped, ipvsadm -L --daemon: %q, %v; want no daemon", daemon2, err)
	}
	stopped := time.Since(stopping)

	t.Logf("timings in the VM: directors elected and ready %v after start; connection in lvs2's table %v after the connect (%s, expires in %s); "+
		"lvs2 MASTER seen %v after lvs1 died; first echo after the failure %v after it (gap since the last echo before: %v); "+
		"%d echoes in all; lvs2's director stopped %v after SIGTERM",
		l.elected.Round(time.Millisecond), syncDelay.Round(time.Millisecond), synced.State, synced.Expire,
		tookOver.Sub(killed).Round(time.Millisecond), firstAfter.Sub(killed).Round(time.Millisecond),
		firstAfter.Sub(lastBefore).Round(time.Millisecond), p.count(time.Time{}), stopped.Round(time.Millisecond))
}

// Guest half of the control: the same failover without lvs_sync_daemon.
// The backup never learns the connection, so after the takeover its IPVS
// does not forward the connection's packets (a non-SYN segment is never
// scheduled) and its own stack resets the connection. This is what makes
// TestGuestSyncDaemon's survival mean something.
func TestGuestNoSyncDaemonResets(t *testing.T) {
	vmtest.RequireGuest(t)
	l := newFailoverLab(t, false)
	if out, err := runIn(l.lvs2, "/sbin/ipvsadm", "-L", "--daemon"); err != nil || strings.Contains(out, "sync daemon") {
		t.Fatalf("lvs2 without lvs_sync_daemon: ipvsadm -L --daemon %q, %v; want none", out, err)
	}
	p, _ := l.connect(t)
	local := p.conn.LocalAddr().String()
	// As long as the synced case needed at most, with traffic flowing.
	time.Sleep(3 * time.Second)
	if table, _ := runIn(l.lvs2, "/sbin/ipvsadm", "-Lnc"); len(parseConns(table)) != 0 {
		t.Fatalf("lvs2 lists connections without a sync daemon:\n%s", table)
	}
	killed, tookOver := l.failMaster(t)
	if !waitFor(flowWait, 100*time.Millisecond, func() bool { return p.failed() != nil }) {
		t.Fatalf("the connection %s -> %s did not fail within %v of the takeover without the sync daemon (%d echoes since)",
			local, service, flowWait, p.count(tookOver))
	}
	err := p.failed()
	if !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("the connection failed with %v, want a reset (ECONNRESET) from lvs2", err)
	}
	// A line lvs1 forwarded just before it died may still come back
	// (web1 answers the client directly), nothing after it.
	if n := p.count(killed); n > 1 {
		t.Errorf("%d echoes came back after lvs1 died, want at most the one in flight", n)
	}
	t.Logf("without the sync daemon: lvs2 MASTER seen %v after lvs1 died; the connection failed %v after it: %v",
		tookOver.Sub(killed).Round(time.Millisecond), p.failedWhen().Sub(killed).Round(time.Millisecond), err)
}

// serviceStatsIn reads the VIP service's counters in h with ipvsadm.
func serviceStatsIn(t *testing.T, h *netnstest.Host) serviceStats {
	t.Helper()
	out, err := runIn(h, "/sbin/ipvsadm", "-Ln", "--stats", "--exact", "-t", service)
	if err != nil {
		t.Fatal(err)
	}
	s, err := parseServiceStats(out, "TCP", service)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func linkDown(h *netnstest.Host, ifname string) error {
	l, err := h.Netlink().LinkByName(ifname)
	if err == nil {
		err = h.Netlink().LinkSetDown(l)
	}
	if err != nil {
		return fmt.Errorf("set %s down in %s: %w", ifname, h.Name(), err)
	}
	return nil
}

// neighbour is the link-layer address h's neighbour table holds for ip.
func neighbour(h *netnstest.Host, ifname, ip string) (net.HardwareAddr, error) {
	l, err := h.Netlink().LinkByName(ifname)
	if err != nil {
		return nil, fmt.Errorf("neighbour of %s in %s: %w", ip, h.Name(), err)
	}
	neighs, err := h.Netlink().NeighList(l.Attrs().Index, netlink.FAMILY_V4)
	if err != nil {
		return nil, fmt.Errorf("neighbour of %s in %s: %w", ip, h.Name(), err)
	}
	for _, n := range neighs {
		if n.IP.String() == ip {
			return n.HardwareAddr, nil
		}
	}
	return nil, fmt.Errorf("no neighbour entry for %s in %s", ip, h.Name())
}

// echoServer echoes every connection's bytes back and counts the
// connections by client address.
type echoServer struct {
	mu   sync.Mutex
	from map[string]int
}

func startEchoServer(t *testing.T, h *netnstest.Host, addr string) *echoServer {
	t.Helper()
	ln, err := h.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listen %s in %s: %v", addr, h.Name(), err)
	}
	s := &echoServer{from: map[string]int{}}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			ip, _, _ := net.SplitHostPort(c.RemoteAddr().String())
			s.mu.Lock()
			s.from[ip]++
			s.mu.Unlock()
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, _ = io.Copy(c, c)
				c.Close()
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return s
}

func (s *echoServer) accepted(ip string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.from[ip]
}

// pinger writes a numbered line, waits for its echo, records when it came
// back, and repeats, until stopped or an error.
type pinger struct {
	conn     net.Conn
	stopping chan struct{}
	done     chan struct{}
	once     sync.Once

	mu       sync.Mutex
	echoes   []time.Time
	err      error
	failedAt time.Time
}

func startPinger(t *testing.T, conn net.Conn) *pinger {
	p := &pinger{conn: conn, stopping: make(chan struct{}), done: make(chan struct{})}
	go p.run()
	t.Cleanup(p.stop)
	return p
}

func (p *pinger) run() {
	defer close(p.done)
	rd := bufio.NewReader(p.conn)
	for seq := 1; ; seq++ {
		msg := fmt.Sprintf("lvskit %d\n", seq)
		p.conn.SetDeadline(time.Now().Add(echoTimeout))
		_, err := io.WriteString(p.conn, msg)
		var line string
		if err == nil {
			line, err = rd.ReadString('\n')
		}
		if err == nil && line != msg {
			err = fmt.Errorf("echo %q, want %q", line, msg)
		}
		select {
		case <-p.stopping:
			return
		default:
		}
		p.mu.Lock()
		if err != nil {
			p.err = fmt.Errorf("message %d: %w", seq, err)
			p.failedAt = time.Now()
		} else {
			p.echoes = append(p.echoes, time.Now())
		}
		p.mu.Unlock()
		if err != nil {
			return
		}
		select {
		case <-p.stopping:
			return
		case <-time.After(echoEvery):
		}
	}
}

// stop ends the pinger and closes the connection; idempotent.
func (p *pinger) stop() {
	p.once.Do(func() {
		close(p.stopping)
		p.conn.Close()
		<-p.done
	})
}

// count is the number of echoes received after since.
func (p *pinger) count(since time.Time) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, e := range p.echoes {
		if e.After(since) {
			n++
		}
	}
	return n
}

// first is when the first echo after since came back (zero if none).
func (p *pinger) first(since time.Time) time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, e := range p.echoes {
		if e.After(since) {
			return e
		}
	}
	return time.Time{}
}

// last is when the latest echo came back (zero if none).
func (p *pinger) last() time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.echoes) == 0 {
		return time.Time{}
	}
	return p.echoes[len(p.echoes)-1]
}

// failedWhen is when the error came (zero if none).
func (p *pinger) failedWhen() time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.failedAt
}

func (p *pinger) failed() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}
