package director_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lvskit/lvskit/internal/netnstest"
	"github.com/lvskit/lvskit/internal/peer"
)

const virtualRoutesConf = `global_defs {
    router_id {{NAME}}
}
vrrp_instance VI_1 {
    state BACKUP
    interface eth0
    virtual_router_id 64
    priority {{PRIO}}
    advert_int 1
    virtual_ipaddress {
        10.64.0.100/24 dev eth0
    }
{{EXTRA}}
}
`

const virtualRoutesBlock = `    virtual_routes {
        src 10.64.0.100 to 192.168.130.0/24 via 10.64.0.254 dev eth0
        192.168.131.0/24 via 10.64.0.254 or 10.64.0.253 dev eth0
        blackhole 192.168.132.0/24
        unreachable 192.168.133.0/24 table 200
        prohibit 192.168.134.0/24 metric 7
        192.168.135.0/24 dev eth0 scope host metric 55 table 201
        192.168.136.0/24 dev eth0 protocol 50 no_track
        192.168.137.0/24 via 10.9.9.9 dev eth0 onlink
        0.0.0.0/0 via 10.64.0.254 table 202
    }
    virtual_rules {
        from 10.64.0.100/32 table 200 preference 100
        not to 192.168.8.0/24 fwmark 0x10/0xff iif eth0 table 201 preference 101
        from 192.168.9.0/24 preference 102 blackhole
        to 192.168.10.0/24 preference 103 unreachable
        from 192.168.11.0/24 preference 104 goto 110
        ipproto tcp dport 8000-8080 preference 105 prohibit
    }`

// Every virtual_routes option and virtual_rules follow the VRRP state as
// in keepalived: set while the director is MASTER (read back with ip(8)),
// removed when keepalived, with a higher priority, makes it BACKUP, set
// again when keepalived stops, and removed when the director stops.
func TestIntegrationVirtualRoutesFollowMaster(t *testing.T) {
	netnstest.RequireRoot(t)
	bin := buildDirector(t)
	lab := netnstest.New(t)
	lan := lab.LAN("lan")
	dh, kh := lab.Host("dir"), lab.Host("ka")
	lan.Connect(dh, "eth0", "10.64.0.1/24")
	lan.Connect(kh, "eth0", "10.64.0.2/24")
	before := ipLines(dh)
	conf := filepath.Join(t.TempDir(), "dir.conf")
	text := strings.NewReplacer("{{NAME}}", "dir", "{{PRIO}}", "150", "{{EXTRA}}", virtualRoutesBlock).Replace(virtualRoutesConf)
	if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	want := [][]string{
		{"192.168.130.0/24 via 10.64.0.254 dev eth0 proto keepalived src 10.64.0.100"},
		{"192.168.131.0/24 proto keepalived nexthop via 10.64.0.254 dev eth0 weight 1 nexthop via 10.64.0.253 dev eth0 weight 1"},
		{"blackhole 192.168.132.0/24 proto keepalived"},
		{"unreachable 192.168.133.0/24 table 200 proto keepalived"},
		{"prohibit 192.168.134.0/24 proto keepalived metric 7"},
		{"192.168.135.0/24 dev eth0 table 201 proto keepalived scope host metric 55"},
		{"192.168.136.0/24 dev eth0 proto 50 scope link"},
		{"192.168.137.0/24 via 10.9.9.9 dev eth0 proto keepalived onlink"},
		{"default via 10.64.0.254 dev eth0 table 202 proto keepalived"},
		{"100: from 10.64.0.100 lookup 200 proto keepalived"},
		{"101: not from all to 192.168.8.0/24 fwmark 0x10/0xff iif eth0 lookup 201 proto keepalived"},
		{"102: from 192.168.9.0/24 blackhole proto keepalived"},
		{"103: from all to 192.168.10.0/24 unreachable proto keepalived"},
		{"104: from 192.168.11.0/24 goto 110", "proto keepalived"},
		{"105: from all ipproto tcp dport 8000-8080 prohibit proto keepalived"},
	}
	allSet := func(lines []string) bool {
		for _, w := range want {
			if !shown(lines, w...) {
				return false
			}
		}
		return true
	}
	noneSet := func(lines []string) bool {
		for _, l := range lines {
			if strings.Contains(l, "proto keepalived") || strings.Contains(l, "192.168.136.0/24") {
				return false
			}
		}
		return true
	}
	report := func(what string) {
		lines := ipLines(dh)
		for _, w := range want {
			if !shown(lines, w...) {
				t.Errorf("%s: not set: %q", what, w)
			}
		}
		t.Fatalf("%s; ip(8) shows:\n%s", what, strings.Join(lines, "\n"))
	}

	p := startDirector(t, dh, bin, "dir", "-f", conf, "--metrics", ":9100")
	if !waitFor(20*time.Second, func() bool {
		st, _ := fetchStatus(dh)
		return vrrpState(st) == "MASTER" && allSet(ipLines(dh))
	}) {
		report("MASTER alone")
	}

	// keepalived with a higher priority preempts: the director is BACKUP
	// and holds none of them.
	k := peer.StartKeepalived(t, kh, strings.NewReplacer("{{NAME}}", "ka", "{{PRIO}}", "200", "{{EXTRA}}", "").Replace(virtualRoutesConf))
	if !waitFor(20*time.Second, func() bool {
		st, _ := fetchStatus(dh)
		return vrrpState(st) == "BACKUP" && noneSet(ipLines(dh))
	}) {
		st, _ := fetchStatus(dh)
		t.Fatalf("not BACKUP without the virtual routes and rules (state %s):\n%s\n%s", vrrpState(st), strings.Join(ipLines(dh), "\n"), k.Log())
	}

	// keepalived stops (priority 0): MASTER again, everything back.
	if err := k.Stop(); err != nil {
		t.Fatal(err)
	}
	if !waitFor(20*time.Second, func() bool {
		st, _ := fetchStatus(dh)
		return vrrpState(st) == "MASTER" && allSet(ipLines(dh))
	}) {
		report("MASTER again")
	}

	stopDirector(t, p)
	if diff := lineDiff(before, ipLines(dh)); diff != "" {
		t.Errorf("after SIGTERM (-before +after):\n%s", diff)
	}
}
