package peer

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/lvskit/lvskit/internal/netnstest"
	"github.com/lvskit/lvskit/internal/nslab"
	"github.com/vishvananda/netlink"
)

func keepalivedConf(prio int) string {
	return fmt.Sprintf(`global_defs {
    router_id peer%d
}
vrrp_instance VI_1 {
    state BACKUP
    interface eth0
    virtual_router_id 51
    priority %d
    advert_int 1
    virtual_ipaddress {
        10.99.0.100/24
    }
}
`, prio, prio)
}

func hasAddr(t *testing.T, h *netnstest.Host, ip string) bool {
	t.Helper()
	addrs, err := h.Netlink().AddrList(nil, netlink.FAMILY_V4)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		if a.IP.Equal(net.ParseIP(ip)) {
			return true
		}
	}
	return false
}

func waitAddr(t *testing.T, h *netnstest.Host, ip string, timeout time.Duration) bool {
	t.Helper()
	return nslab.WaitFor(context.Background(), timeout, 50*time.Millisecond, func() bool { return hasAddr(t, h, ip) })
}

// Two keepalived peers elect the higher priority, tshark sees well-formed
// VRRP adverts, and killing the master moves the VIP.
func TestIntegrationKeepalivedPair(t *testing.T) {
	lab := netnstest.New(t)
	a, b := lab.Host("a"), lab.Host("b")
	lan := lab.LAN("lan")
	lan.Connect(a, "eth0", "10.99.0.1/24")
	lan.Connect(b, "eth0", "10.99.0.2/24")

	capture := StartCapture(t, b, "eth0", "vrrp")
	ka := StartKeepalived(t, a, keepalivedConf(110))
	StartKeepalived(t, b, keepalivedConf(100))

	// A bound for "eventually", not a timing: two process starts (seconds
	// on a busy machine) and a master-down interval of 3.6 s, with slack.
	const bound = 30 * time.Second
	if !waitAddr(t, a, "10.99.0.100", bound) {
		t.Fatalf("VIP never reached the priority-110 peer; its log:\n%s", ka.Log())
	}
	// Started together, both peers may time out within the same moment
	// (their skews differ by 40 ms) and both become MASTER; the lower one
	// steps down on the first advert of the higher (RFC 3768 6.4.3), as
	// keepalived logs it: "Master received advert ... with higher
	// priority". The election has to settle, not be won at once.
	if !nslab.WaitFor(context.Background(), bound, 50*time.Millisecond, func() bool {
		return hasAddr(t, a, "10.99.0.100") && !hasAddr(t, b, "10.99.0.100")
	}) {
		t.Fatal("the election did not settle on the priority-110 peer alone")
	}
	ka.Kill()
	if !waitAddr(t, b, "10.99.0.100", bound) {
		t.Fatal("VIP did not move to the backup after the master was killed")
	}
	// The new master's adverts reach the capture: wait for one, not for a
	// time (a sleep, then Read, which stops the capture, can lose what
	// dumpcap has not yet taken from the kernel on a busy machine).
	if !capture.WaitFor("ip.src == 10.99.0.2 && vrrp.prio == 100", 30*time.Second) {
		t.Errorf("no advert of the new master (10.99.0.2, priority 100) in the capture within 30s")
	}

	rows := capture.Fields("vrrp", "ip.src", "vrrp.prio", "vrrp.version")
	seen := map[string]bool{}
	for _, r := range rows {
		seen[r[0]+" prio "+r[1]+" v"+r[2]] = true
	}
	for _, want := range []string{"10.99.0.1 prio 110 v2", "10.99.0.2 prio 100 v2"} {
		if !seen[want] {
			t.Errorf("tshark did not decode an advert %q; saw %v", want, seen)
		}
	}
	if probs := capture.Problems(); len(probs) > 0 {
		t.Errorf("tshark found problems in keepalived's adverts: %v", probs)
	}
}
