package director_test

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/lvskit/lvskit/internal/netnstest"
)

const namesConf = `global_defs {
    router_id {{NAME}}
}
vrrp_instance {{INSTANCE}} {
    interface eth0
    virtual_router_id 52
    priority {{PRIO}}
    advert_int 1
    virtual_ipaddress {
        192.168.0.253/24
    }
}
`

func writeNamesConf(t *testing.T, path, name, instance string, prio int) {
	t.Helper()
	s := strings.NewReplacer("{{NAME}}", name, "{{INSTANCE}}", instance, "{{PRIO}}", fmt.Sprint(prio)).Replace(namesConf)
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

// holdsVIP reports whether h has the VIP on eth0, read through netlink.
func holdsVIP(h *netnstest.Host, vip netip.Addr) (bool, error) {
	link, err := h.Netlink().LinkByName("eth0")
	if err != nil {
		return false, err
	}
	addrs, err := h.Netlink().AddrList(link, netlink.FAMILY_V4)
	if err != nil {
		return false, err
	}
	for _, a := range addrs {
		if ip, ok := netip.AddrFromSlice(a.IP); ok && ip.Unmap() == vip {
			return true, nil
		}
	}
	return false, nil
}

// Issue 16: a vrrp_instance name that is not UTF-8 passed -t, panicked at
// start and, on SIGHUP, killed a running MASTER that left its VIP behind
// without a priority-0 advert, so that the backup took the VIP over too.
// Now: started with such a file, a director says where the name is and
// exits, having configured nothing; a MASTER that gets it on SIGHUP
// rejects it and keeps the VIP, and the VIP is held by exactly one of
// the two directors all along (sampled through netlink every 10 ms over
// twice the backup's master-down interval).
func TestIntegrationBadNameOnStartAndSIGHUP(t *testing.T) {
	netnstest.RequireRoot(t)
	start := time.Now()
	step := func(what string) { t.Logf("%6.2fs %s", time.Since(start).Seconds(), what) }
	bin := buildDirector(t)
	step("built")
	lab := netnstest.New(t)
	lan := lab.LAN("lan")
	d1, d2 := lab.Host("lvs1"), lab.Host("lvs2")
	lan.Connect(d1, "eth0", "192.168.0.200/24")
	lan.Connect(d2, "eth0", "192.168.0.201/24")
	vip := netip.MustParseAddr("192.168.0.253")
	dir := t.TempDir()
	conf1, conf2 := filepath.Join(dir, "lvs1.conf"), filepath.Join(dir, "lvs2.conf")

	// Start with the bad name: a clear error, exit 1, nothing configured.
	writeNamesConf(t, conf2, "lvs2", "V\xff1", 100)
	bad := startDirector(t, d2, bin, "lvs2-bad", "-f", conf2)
	select {
	case <-bad.Done():
	case <-time.After(20 * time.Second):
		t.Fatalf("a director started with a bad name did not exit:\n%s", bad.Output())
	}
	if code := bad.Cmd.ProcessState.ExitCode(); code != 1 || !strings.Contains(bad.Output(), conf2+":4:15: word") ||
		!strings.Contains(bad.Output(), "not valid UTF-8") || strings.Contains(bad.Output(), "panic") {
		t.Errorf("start with a bad name: exit %d, output:\n%s", code, bad.Output())
	}
	if held, err := holdsVIP(d2, vip); err != nil || held {
		t.Errorf("VIP on lvs2 after a refused start: %v %v", held, err)
	}
	step("bad start refused")

	// lvs1 becomes MASTER alone, then lvs2 joins as BACKUP.
	writeNamesConf(t, conf1, "lvs1", "VI_1", 150)
	writeNamesConf(t, conf2, "lvs2", "VI_1", 100)
	p1 := startDirector(t, d1, bin, "lvs1", "-f", conf1, "--metrics", ":9100")
	if !waitFor(20*time.Second, func() bool { st, _ := fetchStatus(d1); return vrrpState(st) == "MASTER" }) {
		t.Fatalf("lvs1 did not become MASTER:\n%s", p1.Output())
	}
	p2 := startDirector(t, d2, bin, "lvs2", "-f", conf2, "--metrics", ":9100")
	if !waitFor(20*time.Second, func() bool { st, _ := fetchStatus(d2); return vrrpState(st) == "BACKUP" }) {
		t.Fatalf("lvs2 did not become BACKUP:\n%s", p2.Output())
	}
	step("lvs1 MASTER, lvs2 BACKUP")

	// Watch the VIP on both while the MASTER is sent the bad file.
	type sample struct {
		at     time.Duration
		h1, h2 bool
	}
	var (
		mu      sync.Mutex
		wrong   []sample
		samples int
		stop    = make(chan struct{})
		done    = make(chan struct{})
	)
	begin := time.Now()
	go func() {
		defer close(done)
		for {
			h1, err1 := holdsVIP(d1, vip)
			h2, err2 := holdsVIP(d2, vip)
			mu.Lock()
			samples++
			if err1 != nil || err2 != nil || h1 == h2 {
				wrong = append(wrong, sample{time.Since(begin), h1, h2})
			}
			mu.Unlock()
			select {
			case <-stop:
				return
			case <-time.After(10 * time.Millisecond):
			}
		}
	}()
	writeNamesConf(t, conf1, "lvs1", "V\xff1", 150)
	if err := p1.Cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	// The backup's master-down interval is 3 x 1 s + skew (about 3.6 s):
	// had the MASTER died, lvs2 would hold the VIP too within it.
	time.Sleep(8 * time.Second)
	close(stop)
	<-done
	step("watched")
	if samples < 10 {
		t.Fatalf("only %d samples of the VIP", samples)
	}
	if len(wrong) > 0 {
		t.Errorf("%d of %d samples without exactly one holder of the VIP, first %+v", len(wrong), samples, wrong[0])
	}
	if !p1.Running() {
		t.Fatalf("lvs1 died on SIGHUP with a bad name:\n%s", p1.Output())
	}
	st1, err := fetchStatus(d1)
	if err != nil || vrrpState(st1) != "MASTER" || st1.ReloadsFailed != 1 || st1.VRRP[0].Name != "VI_1" {
		t.Errorf("lvs1 after the bad reload: %+v %v", st1, err)
	}
	if !waitFor(10*time.Second, func() bool { return strings.Contains(p1.Output(), "reload rejected: "+conf1+":4:15: word") }) {
		t.Errorf("the rejected reload's position is not in the log:\n%s", p1.Output())
	}
	if st2, _ := fetchStatus(d2); vrrpState(st2) != "BACKUP" {
		t.Errorf("lvs2 is %s, want BACKUP", vrrpState(st2))
	}
}
