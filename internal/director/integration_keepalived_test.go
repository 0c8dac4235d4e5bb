package director_test

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lvskit/lvskit/internal/netnstest"
	"github.com/lvskit/lvskit/internal/peer"
)

const vrrpOnlyConf = `global_defs {
    router_id {{NAME}}
}
vrrp_instance VI_1 {
    state BACKUP
    interface eth0
    virtual_router_id 61
    priority {{PRIO}}
    advert_int 1
    authentication {
        auth_type PASS
        auth_pass s3cret
    }
    virtual_ipaddress {
        10.61.0.100/24 dev eth0 label eth0:1
        10.61.0.101/24 dev eth0
    }
}
`

// The director and keepalived (Debian's, a peer nobody here wrote) run the
// same vrrp_instance block: keepalived accepts the director's adverts
// (authentication, interval, address list as translated) and stays BACKUP;
// the director's graceful stop hands the addresses over; and a restarted
// director preempts keepalived again.
func TestIntegrationKeepalivedPeer(t *testing.T) {
	netnstest.RequireRoot(t)
	bin := buildDirector(t)
	lab := netnstest.New(t)
	lan := lab.LAN("lan")
	dh, kh := lab.Host("dir"), lab.Host("ka")
	lan.Connect(dh, "eth0", "10.61.0.1/24")
	lan.Connect(kh, "eth0", "10.61.0.2/24")
	conf := filepath.Join(t.TempDir(), "dir.conf")
	text := strings.NewReplacer("{{NAME}}", "dir", "{{PRIO}}", "150").Replace(vrrpOnlyConf)
	if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	hasVIP := func(h *netnstest.Host) bool {
		return strings.Contains(h.Run("ip", "-4", "addr", "show", "dev", "eth0"), "10.61.0.100/24")
	}

	p := startDirector(t, dh, bin, "dir", "-f", conf, "--metrics", ":9100")
	if !waitFor(15*time.Second, func() bool { st, _ := fetchStatus(dh); return vrrpState(st) == "MASTER" }) {
		t.Fatalf("the director did not become MASTER alone\n%s", p.Output())
	}
	k := peer.StartKeepalived(t, kh, strings.NewReplacer("{{NAME}}", "ka", "{{PRIO}}", "100").Replace(vrrpOnlyConf))
	if !k.WaitLog("Entering BACKUP STATE", 10*time.Second) {
		t.Fatalf("keepalived did not enter BACKUP:\n%s", k.Log())
	}
	// Longer than keepalived's master-down interval (3 x 1 s + skew): had
	// it dropped our adverts it would have become MASTER.
	time.Sleep(4500 * time.Millisecond)
	if strings.Contains(k.Log(), "Entering MASTER STATE") || hasVIP(kh) {
		t.Fatalf("keepalived became MASTER next to a MASTER director: it does not accept the director's adverts\n%s", k.Log())
	}
	if !hasVIP(dh) {
		t.Error("the MASTER director does not hold the VIP")
	}

	// Graceful stop: priority 0, the VIP moves to keepalived.
	if err := p.Cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	<-p.Done()
	if !k.WaitLog("Entering MASTER STATE", 10*time.Second) {
		t.Fatalf("keepalived did not take over after the director stopped:\n%s", k.Log())
	}
	if hasVIP(dh) {
		t.Error("the director left the VIP behind on SIGTERM")
	}

	// A restarted director with the higher priority preempts keepalived.
	p2 := startDirector(t, dh, bin, "dir-again", "-f", conf, "--metrics", ":9100")
	if !waitFor(15*time.Second, func() bool { st, _ := fetchStatus(dh); return vrrpState(st) == "MASTER" }) {
		t.Fatalf("the restarted director did not preempt keepalived\n%s", p2.Output())
	}
	if !waitFor(10*time.Second, func() bool { return strings.Count(k.Log(), "Entering BACKUP STATE") >= 2 && !hasVIP(kh) }) {
		t.Errorf("keepalived did not step down for the director:\n%s", k.Log())
	}
}
