package e2e

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/lvskit/lvskit/internal/netnstest"
	"github.com/lvskit/lvskit/internal/vmtest"
)

// Host half: builds the director, boots the Debian kernel with IPVS under
// qemu and runs TestGuestSyncDaemon there.
func TestKernelSyncDaemon(t *testing.T) {
	if vmtest.InGuest() {
		t.Skip("host half; the guest half is TestGuestSyncDaemon")
	}
	netnstest.RequireRoot(t)
	director := vmtest.BuildBinary(t, "./examples/director")
	vmtest.Run(t, vmtest.Config{
		Package: "./internal/e2e",
		Run:     "^TestGuestSyncDaemon$",
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
    state {{STATE}}
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

// Guest half: the failover, end to end. client, lvs1, lvs2 and web1
// share a LAN; lvs1 (priority 150) and lvs2 (100) run examples/director
// with kernel IPVS in DR mode and lvs_sync_daemon; web1 holds the VIP on
// lo and echoes lines on :5000. One TCP connection from the client
// through the VIP carries a numbered line every 200 ms from before the
// failure to after the takeover.
func TestGuestSyncDaemon(t *testing.T) {
	vmtest.RequireGuest(t)
	if _, err := os.Stat(guestDirector); err != nil {
		t.Fatalf("director binary missing in the guest (TestKernelSyncDaemon copies it in): %v", err)
	}
	ctx := context.Background()
	begin := time.Now()

	lab := netnstest.New(t)
	lan := lab.LAN("lan")
	lvs1, lvs2 := lab.Host("lvs1"), lab.Host("lvs2")
	web1, client := lab.Host("web1"), lab.Host("client")
	lan.Connect(lvs1, "eth0", "192.168.0.200/24")
	lan.Connect(lvs2, "eth0", "192.168.0.201/24")
	// The DR real server: the VIP on lo, ARP answered for its own address only.
	lan.Connect(web1, "eth0", "192.168.0.1/24")
	for _, k := range []string{"all", "eth0"} {
		web1.SetSysctl("net.ipv4.conf."+k+".arp_ignore", "1")
		web1.SetSysctl("net.ipv4.conf."+k+".arp_announce", "2")
	}
	web1.AddAddr("lo", vip+"/32")
	lan.Connect(client, "eth0", clientAddr+"/24")
	echo := startEchoServer(t, web1, "0.0.0.0:5000")

	dir := t.TempDir()
	writeConf := func(name, state string, prio int) string {
		p := filepath.Join(dir, name+".conf")
		s := strings.NewReplacer("{{NAME}}", name, "{{STATE}}", state, "{{PRIO}}", fmt.Sprint(prio)).Replace(syncConf)
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	argv := func(conf string) []string {
		return []string{guestDirector, "-f", conf, "--backend", "netlink", "--metrics", statusAddr}
	}
	d1 := startProc(t, lvs1, "director lvs1", argv(writeConf("lvs1", "MASTER", 150))...)
	d2 := startProc(t, lvs2, "director lvs2", argv(writeConf("lvs2", "BACKUP", 100))...)

	// Both elected, both tables programmed with a healthy real server, the
	// sync daemons in their roles (as the director says, then as the kernel
	// says through ipvsadm).
	var st1, st2 *directorStatus
	if !waitFor(electionWait, 500*time.Millisecond, func() bool {
		st1, _ = fetchStatus(ctx, lvs1, statusAddr)
		st2, _ = fetchStatus(ctx, lvs2, statusAddr)
		return st1.state(instance) == "MASTER" && st2.state(instance) == "BACKUP" &&
			st1.realServerReady(realServer) && st2.realServerReady(realServer)
	}) || !d1.running() || !d2.running() {
		t.Fatalf("want lvs1 MASTER and lvs2 BACKUP, both with %s healthy in the table, within %v; lvs1: %+v, lvs2: %+v",
			realServer, electionWait, st1, st2)
	}
	elected := time.Since(begin)
	if st1.Backend != "netlink" || st2.Backend != "netlink" {
		t.Fatalf("backends %q and %q, want netlink (kernel IPVS)", st1.Backend, st2.Backend)
	}
	var daemon1, daemon2 string
	if !waitFor(30*time.Second, 500*time.Millisecond, func() bool {
		daemon1, _ = runIn(lvs1, "/sbin/ipvsadm", "-L", "--daemon")
		daemon2, _ = runIn(lvs2, "/sbin/ipvsadm", "-L", "--daemon")
		return strings.Contains(daemon1, "master sync daemon (mcast=eth0, syncid=51") &&
			strings.Contains(daemon2, "backup sync daemon (mcast=eth0, syncid=51")
	}) {
		st1, _ = fetchStatus(ctx, lvs1, statusAddr)
		st2, _ = fetchStatus(ctx, lvs2, statusAddr)
		t.Fatalf("sync daemons: want a master on lvs1 and a backup on lvs2, syncid 51 on eth0\n"+
			"ipvsadm -L --daemon on lvs1: %q (director says %+v)\non lvs2: %q (director says %+v)",
			daemon1, st1.SyncDaemon, daemon2, st2.SyncDaemon)
	}
	t.Logf("ipvsadm -L --daemon before the failure: lvs1: %s; lvs2: %s", strings.TrimSpace(daemon1), strings.TrimSpace(daemon2))

	// The long-lived connection, echoing a numbered line every 200 ms.
	dialCtx, cancelDial := context.WithTimeout(ctx, 30*time.Second)
	conn, err := client.Dial(dialCtx, "tcp", service)
	cancelDial()
	if err != nil {
		t.Fatalf("connect to %s: %v", service, err)
	}
	dialed := time.Now()
	local := conn.LocalAddr().String()
	p := startPinger(t, conn)
	if !waitFor(30*time.Second, 100*time.Millisecond, func() bool { return p.count(time.Time{}) >= 3 || p.failed() != nil }) {
		t.Fatalf("no echo through lvs1 within 30s (%d echoes, err %v)", p.count(time.Time{}), p.failed())
	}
	if err := p.failed(); err != nil {
		t.Fatalf("echo through lvs1: %v", err)
	}

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
	if synced.Proto != "TCP" || synced.Dest != realServer {
		t.Errorf("lvs2 holds %+v, want TCP %s -> %s -> %s", synced, local, service, realServer)
	}
	statsBefore := lvs2ServiceStats(t, lvs2)
	t.Logf("lvs2 service stats before the failure: %+v", statsBefore)

	// lvs1 dies: its director is SIGKILLed (no graceful priority-0
	// advert, no cleanup) and its link goes down, as when the machine
	// fails; its kernel IPVS state and the VIP stay behind, unreachable.
	lastBefore := p.last()
	d1.kill()
	if err := linkDown(lvs1, "eth0"); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()

	if !waitFor(takeoverWait, 200*time.Millisecond, func() bool {
		st2, _ = fetchStatus(ctx, lvs2, statusAddr)
		return st2.state(instance) == "MASTER"
	}) {
		t.Fatalf("lvs2 did not become MASTER within %v of lvs1's failure; status %+v", takeoverWait, st2)
	}
	tookOver := time.Now()

	// Data keeps flowing on the same connection, now through lvs2.
	if !waitFor(flowWait, 100*time.Millisecond, func() bool { return p.count(tookOver) >= echoesAfter || p.failed() != nil }) {
		t.Fatalf("the connection stalled: %d echoes since lvs2 took over, want %d within %v (last echo %v before the failure)",
			p.count(tookOver), echoesAfter, flowWait, killed.Sub(lastBefore).Round(time.Millisecond))
	}
	if err := p.failed(); err != nil {
		t.Fatalf("the connection did not survive the failover: %v", err)
	}
	firstAfter := p.first(killed)
	p.stop()
	if n := echo.accepted(clientAddr); n != 1 {
		t.Errorf("web1 accepted %d connections from the client, want the one", n)
	}

	// The kernel agrees: the packets after the failover went through
	// lvs2's IPVS on the synced entry; none was scheduled anew.
	statsAfter := lvs2ServiceStats(t, lvs2)
	t.Logf("lvs2 service stats after the failover: %+v", statsAfter)
	if statsAfter.InPkts <= statsBefore.InPkts {
		t.Errorf("lvs2's IPVS counted no packets in for %s after taking over (before %+v, after %+v)", service, statsBefore, statsAfter)
	}
	if statsAfter.Conns != statsBefore.Conns {
		t.Errorf("lvs2 scheduled %d new connections for %s: the client's connection was not taken from the synced table",
			statsAfter.Conns-statsBefore.Conns, service)
	}
	if table, err = runIn(lvs2, "/sbin/ipvsadm", "-Lnc"); err != nil {
		t.Error(err)
	} else if c, ok := findConn(parseConns(table), local, service); !ok || c.Dest != realServer {
		t.Errorf("lvs2 (MASTER) no longer lists %s -> %s -> %s:\n%s", local, service, realServer, table)
	} else {
		t.Logf("lvs2 (MASTER) ipvsadm -Lnc after the failover:\n%s", table)
	}
	// The VIP moved: the client now sends to lvs2's MAC.
	if mac, err := neighbour(client, "eth0", vip); err != nil {
		t.Error(err)
	} else if want := lvs2.HardwareAddr("eth0"); mac.String() != want.String() {
		t.Errorf("client's neighbour entry for %s is %s, want lvs2's %s", vip, mac, want)
	}
	// The new MASTER runs the master sync daemon.
	if !waitFor(30*time.Second, 500*time.Millisecond, func() bool {
		daemon2, _ = runIn(lvs2, "/sbin/ipvsadm", "-L", "--daemon")
		return strings.Contains(daemon2, "master sync daemon (mcast=eth0, syncid=51")
	}) {
		t.Errorf("after the takeover lvs2 runs %q, want the master sync daemon", daemon2)
	}

	t.Logf("timings in the VM: lvs1 MASTER and lvs2 BACKUP ready %v after start; connection in lvs2's table %v after the connect (%s, %s); "+
		"lvs2 MASTER seen %v after lvs1 died; first echo after the failure %v after it (gap since the last echo before: %v); %d echoes in all",
		elected.Round(time.Millisecond), syncDelay.Round(time.Millisecond), synced.State, synced.Expire,
		tookOver.Sub(killed).Round(time.Millisecond), firstAfter.Sub(killed).Round(time.Millisecond),
		firstAfter.Sub(lastBefore).Round(time.Millisecond), p.count(time.Time{}))
}

func lvs2ServiceStats(t *testing.T, h *netnstest.Host) serviceStats {
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

	mu     sync.Mutex
	echoes []time.Time
	err    error
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

func (p *pinger) failed() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}
