package director_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/lvskit/lvskit/internal/buildtest"
	"github.com/lvskit/lvskit/internal/netnstest"
	"github.com/lvskit/lvskit/internal/vmtest"
)

// Host half: boots the Debian kernel with IPVS under qemu and runs the
// guest half there, with the director binary.
func TestKernelSyncDaemonFailover(t *testing.T) {
	if vmtest.InGuest() {
		t.Skip("host half")
	}
	netnstest.RequireRoot(t)
	bin := buildtest.Program(t, "github.com/lvskit/lvskit/examples/director")
	vmtest.Run(t, vmtest.Config{
		Package: "./internal/director",
		Run:     "^TestGuestSyncDaemonFailover$",
		Files:   map[string]string{"/lvskit/bin/director": bin},
		Timeout: 4 * time.Minute,
	})
}

const syncConf = `global_defs {
    router_id {{NAME}}
{{SYNC}}}
vrrp_instance VI_1 {
    interface eth0
    virtual_router_id 51
    priority {{PRIO}}
    advert_int 1
    virtual_ipaddress {
        192.168.0.253/24 dev eth0 label eth0:1
    }
}
virtual_server 192.168.0.253 80 {
    delay_loop 1
    lb_algo rr
    lb_kind DR
    protocol TCP
    real_server 192.168.0.1 80 {
        TCP_CHECK {
            connect_timeout 1
        }
    }
}
`

// startGuestDirector starts the director binary inside h (forked from a
// thread in the namespace: the guest's busybox ip has no netns).
func startGuestDirector(t *testing.T, h *netnstest.Host, name, conf string) (*exec.Cmd, *syncBuffer) {
	t.Helper()
	log := &syncBuffer{}
	cmd := exec.Command("/lvskit/bin/director", "-f", conf, "--backend", "netlink", "--metrics", ":9100")
	cmd.Stdout, cmd.Stderr = log, log
	if err := h.Start(cmd); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("log of %s:\n%s", name, log.String())
		}
	})
	return cmd, log
}

func ipvsadm(h *netnstest.Host, args ...string) (string, error) {
	out, err := exec.Command("/sbin/ip", append([]string{"netns", "exec", h.Name(), "/sbin/ipvsadm"}, args...)...).CombinedOutput()
	return string(out), err
}

// Guest half: two directors with kernel IPVS in DR mode and the sync
// daemon; a long-lived TCP connection through the MASTER keeps working
// after the MASTER's link fails and the BACKUP takes over, because the
// BACKUP's connection table (read with ipvsadm -Lnc) already held it.
// The control: without lvs_sync_daemon the same connection is reset.
func TestGuestSyncDaemonFailover(t *testing.T) {
	vmtest.RequireGuest(t)
	t.Run("sync", func(t *testing.T) { guestFailover(t, true) })
	t.Run("no sync", func(t *testing.T) { guestFailover(t, false) })
}

func guestFailover(t *testing.T, withSync bool) {
	lab := netnstest.New(t)
	lan := lab.LAN("lan")
	d1, d2 := lab.Host("lvs1"), lab.Host("lvs2")
	web, client := lab.Host("web"), lab.Host("client")
	lan.Connect(d1, "eth0", "192.168.0.200/24")
	lan.Connect(d2, "eth0", "192.168.0.201/24")
	lan.Connect(web, "eth0", "192.168.0.1/24")
	lan.Connect(client, "eth0", "192.168.0.100/24")
	// The real server: VIP on lo, answering ARP only for its own address.
	for _, k := range []string{"net.ipv4.conf.all.arp_ignore", "net.ipv4.conf.eth0.arp_ignore"} {
		web.SetSysctl(k, "1")
	}
	for _, k := range []string{"net.ipv4.conf.all.arp_announce", "net.ipv4.conf.eth0.arp_announce"} {
		web.SetSysctl(k, "2")
	}
	web.AddAddr("lo", "192.168.0.253/32")
	ln, err := web.Listen("tcp", "0.0.0.0:80")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	var served sync.WaitGroup
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		served.Wait()
	})
	served.Add(1)
	go func() {
		defer served.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			served.Add(1)
			go func() { defer served.Done(); defer c.Close(); io.Copy(c, c) }()
		}
	}()

	dir := t.TempDir()
	conf := func(name string, prio int) string {
		p := filepath.Join(dir, name+".conf")
		sync := ""
		if withSync {
			sync = "    lvs_sync_daemon eth0 VI_1 id 51\n"
		}
		s := strings.NewReplacer("{{NAME}}", name, "{{PRIO}}", fmt.Sprint(prio), "{{SYNC}}", sync).Replace(syncConf)
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	_, log1 := startGuestDirector(t, d1, "lvs1", conf("lvs1", 150))
	if !waitFor(30*time.Second, func() bool { st, _ := fetchStatus(d1); return vrrpState(st) == "MASTER" }) {
		t.Fatalf("lvs1 did not become MASTER\n%s", log1.String())
	}
	_, log2 := startGuestDirector(t, d2, "lvs2", conf("lvs2", 100))
	if !waitFor(30*time.Second, func() bool {
		st, _ := fetchStatus(d2)
		return vrrpState(st) == "BACKUP" && (!withSync || st.SyncDaemon != nil && st.SyncDaemon.Role == "backup") &&
			len(st.VirtualServers) == 1 && len(st.VirtualServers[0].RealServers) == 1 && st.VirtualServers[0].RealServers[0].InTable
	}) {
		st, _ := fetchStatus(d2)
		t.Fatalf("lvs2 not BACKUP with the sync daemon and the table: %+v\n%s", st, log2.String())
	}
	if st, _ := fetchStatus(d1); st.Backend != "netlink" || withSync && (st.SyncDaemon == nil || st.SyncDaemon.Role != "master") {
		t.Fatalf("lvs1 status: %+v", st)
	}

	// A long-lived connection through the VIP.
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var conn net.Conn
	if !waitFor(15*time.Second, func() bool {
		c, err := client.Dial(ctx, "tcp", "192.168.0.253:80")
		if err != nil {
			return false
		}
		conn = c
		return true
	}) {
		t.Fatal("no connection through the VIP")
	}
	defer conn.Close()
	rd := bufio.NewReader(conn)
	echo := func(msg string) error {
		conn.SetDeadline(time.Now().Add(20 * time.Second))
		if _, err := fmt.Fprintln(conn, msg); err != nil {
			return err
		}
		line, err := rd.ReadString('\n')
		if err != nil {
			return err
		}
		if strings.TrimSpace(line) != msg {
			return fmt.Errorf("echo %q, want %q", line, msg)
		}
		return nil
	}
	if err := echo("before failover"); err != nil {
		t.Fatalf("echo through lvs1: %v", err)
	}
	local := conn.LocalAddr().String()
	if !withSync {
		if out, err := exec.Command("/sbin/ip", "-n", d1.Name(), "link", "set", "eth0", "down").CombinedOutput(); err != nil {
			t.Fatalf("link down: %v\n%s", err, out)
		}
		if !waitFor(20*time.Second, func() bool { st, _ := fetchStatus(d2); return vrrpState(st) == "MASTER" }) {
			t.Fatalf("lvs2 did not take over\n%s", log2.String())
		}
		if table, _ := ipvsadm(d2, "-Lnc"); strings.Contains(table, local) {
			t.Errorf("without a sync daemon lvs2 knows the connection:\n%s", table)
		}
		if err := echo("after failover"); err == nil {
			t.Error("without a sync daemon the connection survived the failover: the test cannot tell what the daemon does")
		} else {
			t.Logf("without a sync daemon: %v", err)
		}
		return
	}
	// The backup learned the connection from the master's sync daemon.
	var table string
	if !waitFor(15*time.Second, func() bool {
		table, _ = ipvsadm(d2, "-Lnc")
		return strings.Contains(table, local)
	}) {
		out1, _ := ipvsadm(d1, "-Lnc")
		t.Fatalf("lvs2's connection table does not hold %s:\n%s\nlvs1's:\n%s", local, table, out1)
	}
	t.Logf("lvs2 before failover (ipvsadm -Lnc):\n%s", table)

	// The master's link fails: the backup takes over.
	if out, err := exec.Command("/sbin/ip", "-n", d1.Name(), "link", "set", "eth0", "down").CombinedOutput(); err != nil {
		t.Fatalf("link down: %v\n%s", err, out)
	}
	failed := time.Now()
	if !waitFor(20*time.Second, func() bool { st, _ := fetchStatus(d2); return vrrpState(st) == "MASTER" }) {
		t.Fatalf("lvs2 did not take over\n%s", log2.String())
	}
	if err := echo("after failover"); err != nil {
		t.Fatalf("the connection did not survive the failover: %v", err)
	}
	t.Logf("data flowed again %v after the master's link went down", time.Since(failed).Round(10*time.Millisecond))
	if st, _ := fetchStatus(d2); st.SyncDaemon == nil || st.SyncDaemon.Role != "master" {
		t.Errorf("lvs2 sync daemon after takeover: %+v", st.SyncDaemon)
	}
}
