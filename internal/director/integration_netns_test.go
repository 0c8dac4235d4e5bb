package director_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lvskit/lvskit/internal/director"
	"github.com/lvskit/lvskit/internal/netnstest"
	"github.com/lvskit/lvskit/internal/peer"
)

const netnsConf = `net_namespace {{NS}}
global_defs {
    router_id nsdir
    script_user root
    enable_script_security
}
vrrp_script in_ns {
    script "/bin/sh -c 'ip -o addr show dev eth0 | grep -q 10.68.0.1/24'"
    interval 1
    timeout 20
    fall 1
    rise 1
}
static_routes {
    192.168.150.0/24 via 10.68.0.254 dev eth0
}
vrrp_instance VI_1 {
    state BACKUP
    interface eth0
    virtual_router_id 68
    priority 150
    advert_int 1
    track_interface {
        eth0
    }
    track_script {
        in_ns
    }
    notify_master "/bin/sh -c 'ip -o addr show > {{OUT}}'"
    virtual_ipaddress {
        10.68.0.100/24 dev eth0
    }
    virtual_routes {
        192.168.151.0/24 via 10.68.0.254 dev eth0
    }
}
virtual_server 10.68.0.100 80 {
    delay_loop 1
    lb_algo rr
    lb_kind NAT
    protocol TCP
    real_server 10.68.0.11 80 {
        weight 1
        HTTP_GET {
            url {
                path /
                status_code 200
            }
            connect_timeout 1
            retry 1
            delay_before_retry 1
        }
    }
}
`

// parentState is what the namespace the director process runs in shows:
// addresses, routes, rules, nftables and sockets (the metrics listener,
// the one thing the director keeps there, left out).
func parentState(h *netnstest.Host) []string {
	out := ipLines(h)
	for _, l := range strings.Split(h.Run("nft", "list", "ruleset")+h.Run("ss", "-Hlntu"), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.Contains(l, "127.0.0.1:9100") {
			out = append(out, strings.Join(strings.Fields(l), " "))
		}
	}
	return out
}

// With net_namespace the director, started in another namespace, runs
// everything inside the one named: VRRP (keepalived there stays BACKUP to
// its adverts, the VIP and the virtual and static routes are there), a
// vrrp_script and notify_master that see the namespace's interfaces, the
// health check of a real server only reachable from there, and the IPVS
// table (this kernel has no IPVS: the nftables backend, then the
// userspace one) serving a client through the VIP. The namespace it was
// started in stays as it was.
func TestIntegrationNetNamespace(t *testing.T) {
	netnstest.RequireRoot(t)
	bin := buildDirector(t)
	for _, backend := range []string{"nftables", "userspace"} {
		t.Run(backend, func(t *testing.T) { testNetNamespace(t, bin, backend) })
	}
}

func testNetNamespace(t *testing.T, bin, backend string) {
	lab := netnstest.New(t)
	parent, x := lab.Host("parent"), lab.Host("x")
	ka, web, client := lab.Host("ka"), lab.Host("web"), lab.Host("client")
	lan := lab.LAN("lan")
	lan.Connect(x, "eth0", "10.68.0.1/24")
	lan.Connect(ka, "eth0", "10.68.0.2/24")
	lan.Connect(web, "eth0", "10.68.0.11/24")
	// NAT: the client is on a network of its own behind the director, and
	// the real server answers through the director.
	lab.Link(x, "eth1", "10.70.0.1/24", client, "eth0", "10.70.0.50/24")
	client.AddRoute("0.0.0.0/0", "10.70.0.1")
	web.AddRoute("0.0.0.0/0", "10.68.0.1")
	x.SetSysctl("net.ipv4.ip_forward", "1")
	serveHTTP(t, web, "10.68.0.11:80", "web")
	// The parent has a link of its own, so that anything set there by
	// mistake (an address on eth0, a route) would have somewhere to go.
	lab.Link(parent, "eth0", "10.69.0.1/24", lab.Host("other"), "eth0", "10.69.0.2/24")
	before := parentState(parent)

	dir := t.TempDir()
	out := filepath.Join(dir, "notify_master.out")
	conf := filepath.Join(dir, "ns.conf")
	text := strings.NewReplacer("{{NS}}", x.Name(), "{{OUT}}", out).Replace(netnsConf)
	if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	p := startDirector(t, parent, bin, "nsdir", "-f", conf, "--metrics", ":9100", "--backend", backend)

	var st *director.Status
	if !waitFor(30*time.Second, func() bool {
		if st, _ = fetchStatus(parent); st == nil {
			return false
		}
		rs, ok := realServer(st, "10.68.0.11:80")
		return vrrpState(st) == "MASTER" && ok && rs.Healthy && rs.InTable
	}) {
		t.Fatalf("not MASTER with the real server healthy in the table: %+v\n%s", st, p.Output())
	}
	if st.Backend != backend {
		t.Errorf("backend %q, want %s", st.Backend, backend)
	}
	// keepalived joins the MASTER director: started together, the two
	// master-down timers (3.41 s here, 3.61 s there) race, and keepalived
	// could be MASTER for a moment before the first advert of priority 150.
	k := peer.StartKeepalived(t, ka, strings.NewReplacer("{{NAME}}", "ka", "{{PRIO}}", "100", "{{EXTRA}}", "").
		Replace(strings.ReplaceAll(strings.ReplaceAll(virtualRoutesConf, "10.64.0.100", "10.68.0.100"), "virtual_router_id 64", "virtual_router_id 68")))
	if !k.WaitLog("Entering BACKUP STATE", 20*time.Second) {
		t.Fatalf("keepalived did not start as BACKUP:\n%s", k.Log())
	}
	backupSince := time.Now()
	// The VIP and the routes follow the transition the status shows.
	want := [][]string{{"10.68.0.100/24"}, {"192.168.150.0/24 via 10.68.0.254 dev eth0 proto keepalived"},
		{"192.168.151.0/24 via 10.68.0.254 dev eth0 proto keepalived"}}
	waitShown(t, x, 10*time.Second, "MASTER", want)
	// The vrrp_script (weight 0: down would be FAULT) ran inside: MASTER
	// says so. notify_master ran inside too: it saw the namespace's eth0.
	if !waitFor(10*time.Second, func() bool { b, _ := os.ReadFile(out); return strings.Contains(string(b), "10.68.0.1/24") }) {
		b, _ := os.ReadFile(out)
		t.Errorf("notify_master did not run in the namespace; it saw:\n%s", b)
	}
	if backend == "nftables" && !nftTableIn(t, x, "lvskit_ipvs") {
		t.Error("no lvskit_ipvs nftables table in the namespace")
	}

	c := httpClient(client)
	if !waitFor(15*time.Second, func() bool { name, err := servedBy(c, "http://10.68.0.100/"); return err == nil && name == "web" }) {
		t.Fatalf("the client is not served through the VIP\n%s", p.Output())
	}

	after := parentState(parent)
	if diff := lineDiff(before, after); diff != "" {
		t.Errorf("the namespace the director runs in changed (-before +after):\n%s", diff)
	}
	// Longer than keepalived's master-down interval (3 x 1 s + skew): had
	// it dropped the director's adverts it would have become MASTER.
	time.Sleep(time.Until(backupSince.Add(4500 * time.Millisecond)))
	if strings.Contains(k.Log(), "Entering MASTER STATE") {
		t.Errorf("keepalived on the LAN did not stay BACKUP to the director's adverts:\n%s", k.Log())
	}

	stopDirector(t, p)
	lines := ipLines(x)
	for _, gone := range []string{"10.68.0.100/24", "192.168.150.0/24", "192.168.151.0/24"} {
		if shown(lines, gone) {
			t.Errorf("%s left in the namespace after SIGTERM", gone)
		}
	}
	if !k.WaitLog("Entering MASTER STATE", 10*time.Second) {
		t.Errorf("keepalived did not take over after the director stopped:\n%s", k.Log())
	}
}
