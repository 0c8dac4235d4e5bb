package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lvskit/lvskit/internal/netnstest"
	"github.com/lvskit/lvskit/internal/vmtest"
)

// Host half: active-active directors on kernel IPVS. Boots the Debian
// kernel with IPVS and runs TestGuestECMPSloppyTCP there.
func TestKernelECMP(t *testing.T) {
	if vmtest.InGuest() {
		t.Skip("host half; the guest half is TestGuestECMPSloppyTCP")
	}
	netnstest.RequireRoot(t)
	director := vmtest.BuildBinary(t, "./examples/director")
	vmtest.Run(t, vmtest.Config{
		Package: "./internal/e2e",
		Run:     "^TestGuestECMPSloppyTCP$",
		Files:   map[string]string{guestDirector: director},
		Timeout: 6 * time.Minute,
	})
}

const (
	ecmpService = vip + ":5000"
	sloppyKey   = "/proc/sys/net/ipv4/vs/sloppy_tcp"
)

// ecmpConf is an active-active director's keepalived.conf: a bgp block
// announcing the VIP (to a router that is not there: the session never
// comes up, and what this test needs is what the director does on kernel
// IPVS when it announces a DR service scheduled by mh), and the service,
// in DR with mh over two real servers.
const ecmpConf = `global_defs {
    router_id {{NAME}}
}
bgp {
    local_as 65001
    router_id {{ADDR}}
    no_listen
    neighbor 192.168.0.254 {
        remote_as 65000
        passive
        no_bfd
    }
    announce 192.168.0.253
}
virtual_server 192.168.0.253 5000 {
    delay_loop 2
    alpha
    lb_algo mh
    mh-port
    lb_kind DR
    protocol TCP
    real_server 192.168.0.1 5000 {
        TCP_CHECK {
            connect_timeout 3
        }
    }
    real_server 192.168.0.2 5000 {
        TCP_CHECK {
            connect_timeout 3
        }
    }
}
`

// Guest half: two directors on kernel IPVS take turns on one TCP
// connection, as ECMP hands a flow from one director to another when a
// director comes or goes. Each director runs examples/director with a bgp
// block, and sets net.ipv4.vs.sloppy_tcp itself because it announces a DR
// service scheduled by mh; the client's route to the VIP plays the
// router, moved from lvs1 to lvs2 and back while a line is echoed every
// 200 ms. lvs2 has never seen the connection: with sloppy_tcp its IPVS
// takes the connection up from a mid-stream segment, and mh, over the
// same real servers, picks the real server lvs1 picked, so the echoes go
// on. The control: with sloppy_tcp set back to 0 on lvs2, a second
// connection moved to it is reset.
func TestGuestECMPSloppyTCP(t *testing.T) {
	vmtest.RequireGuest(t)
	if _, err := os.Stat(guestDirector); err != nil {
		t.Fatalf("director binary missing in the guest (the TestKernel half copies it in): %v", err)
	}
	lab := netnstest.New(t)
	lan := lab.LAN("lan")
	client := lab.Host("client")
	lan.Connect(client, "eth0", clientAddr+"/24")
	dirs := map[string]*netnstest.Host{}
	addrs := map[string]string{"lvs1": "192.168.0.200", "lvs2": "192.168.0.201"}
	for _, name := range []string{"lvs1", "lvs2"} {
		h := lab.Host(name)
		lan.Connect(h, "eth0", addrs[name]+"/24")
		// Kernel IPVS takes the packets of a local address: the VIP on lo,
		// not answered for by ARP (the client routes it through the
		// director's own address).
		h.AddAddr("lo", vip+"/32")
		for _, k := range []string{"all", "eth0"} {
			h.SetSysctl("net.ipv4.conf."+k+".arp_ignore", "1")
			h.SetSysctl("net.ipv4.conf."+k+".arp_announce", "2")
		}
		dirs[name] = h
	}
	for i, name := range []string{"web1", "web2"} {
		h := lab.Host(name)
		lan.Connect(h, "eth0", fmt.Sprintf("192.168.0.%d/24", i+1))
		for _, k := range []string{"all", "eth0"} {
			h.SetSysctl("net.ipv4.conf."+k+".arp_ignore", "1")
			h.SetSysctl("net.ipv4.conf."+k+".arp_announce", "2")
		}
		h.AddAddr("lo", vip+"/32")
		startEchoServer(t, h, "0.0.0.0:5000")
	}

	dir := t.TempDir()
	for _, name := range []string{"lvs1", "lvs2"} {
		if got := readIn(t, dirs[name], sloppyKey); got != "0" {
			t.Fatalf("%s: sloppy_tcp is %q before the director starts, want the kernel's default 0", name, got)
		}
		conf := filepath.Join(dir, name+".conf")
		text := strings.NewReplacer("{{NAME}}", name, "{{ADDR}}", addrs[name]).Replace(ecmpConf)
		if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		startProc(t, dirs[name], "director "+name, guestDirector, "-f", conf, "--backend", "netlink", "--metrics", statusAddr,
			"--socket", filepath.Join(dir, name+".sock")) // one control socket each: the guest's folders are shared
	}
	for _, name := range []string{"lvs1", "lvs2"} {
		var st *directorStatus
		if !waitFor(electionWait, 500*time.Millisecond, func() bool {
			st, _ = fetchStatus(context.Background(), dirs[name], statusAddr)
			return st.realServerReady("192.168.0.1:5000") && st.realServerReady("192.168.0.2:5000") &&
				readIn(t, dirs[name], sloppyKey) == "1"
		}) {
			t.Fatalf("%s: want both real servers healthy in the table and sloppy_tcp 1 within %v; status %+v, sloppy_tcp %q",
				name, electionWait, st, readIn(t, dirs[name], sloppyKey))
		}
		if st.Backend != "netlink" {
			t.Fatalf("%s: backend %q, want netlink", name, st.Backend)
		}
	}

	route := func(via string) {
		t.Helper()
		if _, err := runIn(client, "/sbin/ip", "route", "replace", vip+"/32", "via", addrs[via]); err != nil {
			t.Fatal(err)
		}
	}
	// The connection: through lvs1, then lvs2, then lvs1 again.
	route("lvs1")
	p, local := dialPinger(t, client)
	realServer := connDest(t, dirs["lvs1"], local)
	for _, via := range []string{"lvs2", "lvs1"} {
		moved := time.Now()
		route(via)
		if !waitFor(flowWait, 100*time.Millisecond, func() bool { return p.count(moved) >= echoesAfter || p.failed() != nil }) {
			t.Fatalf("moved to %s: %d echoes within %v, want %d", via, p.count(moved), flowWait, echoesAfter)
		}
		if err := p.failed(); err != nil {
			t.Fatalf("the connection did not survive the move to %s: %v", via, err)
		}
		if got := connDest(t, dirs[via], local); got != realServer {
			t.Errorf("%s sends %s to %s, lvs1 sent it to %s", via, local, got, realServer)
		}
	}
	p.stop()
	t.Logf("the connection %s went through lvs1, lvs2 and lvs1 to %s, %d echoes", local, realServer, p.count(time.Time{}))

	// The control: without sloppy_tcp, lvs2 drops the mid-stream segments
	// to its own stack, which resets the connection.
	if _, err := runIn(dirs["lvs2"], "/bin/sh", "-c", "echo 0 > "+sloppyKey); err != nil {
		t.Fatal(err)
	}
	route("lvs1")
	p2, local2 := dialPinger(t, client)
	route("lvs2")
	if !waitFor(flowWait, 100*time.Millisecond, func() bool { return p2.failed() != nil }) {
		t.Fatalf("without sloppy_tcp the connection %s survived the move to lvs2 (%d echoes)", local2, p2.count(time.Time{}))
	}
	if err := p2.failed(); !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("without sloppy_tcp the connection failed with %v, want a reset", err)
	}
}

// dialPinger connects the client to the service and echoes on it until
// three lines came back.
func dialPinger(t *testing.T, client *netnstest.Host) (*pinger, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	conn, err := client.Dial(ctx, "tcp", ecmpService)
	cancel()
	if err != nil {
		t.Fatalf("connect to %s: %v", ecmpService, err)
	}
	p := startPinger(t, conn)
	if !waitFor(30*time.Second, 100*time.Millisecond, func() bool { return p.count(time.Time{}) >= 3 || p.failed() != nil }) || p.failed() != nil {
		t.Fatalf("no echo on %s within 30s (%d echoes, err %v)", conn.LocalAddr(), p.count(time.Time{}), p.failed())
	}
	return p, conn.LocalAddr().String()
}

// connDest is the real server h's IPVS connection table sends the client
// connection from local to.
func connDest(t *testing.T, h *netnstest.Host, local string) string {
	t.Helper()
	out, err := runIn(h, "/sbin/ipvsadm", "-Lnc")
	if err != nil {
		t.Fatal(err)
	}
	c, ok := findConn(parseConns(out), local, ecmpService)
	if !ok {
		t.Fatalf("%s's IPVS has no connection %s -> %s:\n%s", h.Name(), local, ecmpService, out)
	}
	return c.Dest
}

// readIn reads a /proc/sys file in h.
func readIn(t *testing.T, h *netnstest.Host, path string) string {
	t.Helper()
	out, err := runIn(h, "/bin/cat", path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(out)
}
