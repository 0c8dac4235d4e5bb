package director_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/nftables"

	"github.com/lvskit/lvskit/internal/director"
	"github.com/lvskit/lvskit/internal/netnstest"
	"github.com/lvskit/lvskit/internal/nslab"
	"github.com/lvskit/lvskit/internal/peer"
)

// ipState is what ip(8) shows of a namespace's addresses, routes (every
// table, both families) and rules.
func ipState(h *netnstest.Host) string {
	return h.Run("ip", "-o", "addr", "show") + h.Run("ip", "route", "show", "table", "all") +
		h.Run("ip", "-6", "route", "show", "table", "all") + h.Run("ip", "rule", "show") + h.Run("ip", "-6", "rule", "show")
}

// ipLines is ip(8)'s view with one line per route (a multipath route's
// next hops joined to it) and whitespace squeezed.
func ipLines(h *netnstest.Host) []string {
	var lines []string
	for _, l := range strings.Split(ipState(h), "\n") {
		if strings.TrimSpace(l) == "" {
			continue
		}
		f := strings.Join(strings.Fields(strings.ReplaceAll(l, "\\", " ")), " ")
		if (strings.HasPrefix(l, "\t") || strings.HasPrefix(l, " ")) && len(lines) > 0 {
			lines[len(lines)-1] += " " + f
			continue
		}
		lines = append(lines, f)
	}
	return lines
}

// shown says whether one line of lines holds every part.
func shown(lines []string, parts ...string) bool {
	for _, l := range lines {
		ok := true
		for _, p := range parts {
			ok = ok && strings.Contains(l, p)
		}
		if ok {
			return true
		}
	}
	return false
}

// monitor runs `ip -o monitor address route rule` in h until stop is
// called, and returns what it printed.
func monitor(t *testing.T, h *netnstest.Host) (stop func() string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := h.Command(ctx, "ip", "-o", "monitor", "address", "route", "rule")
	var out bytes.Buffer
	cmd.Stdout = &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cancel)
	time.Sleep(300 * time.Millisecond) // let it subscribe
	return func() string {
		time.Sleep(300 * time.Millisecond) // let it print what it received
		cancel()
		_ = cmd.Wait()
		return out.String()
	}
}

const staticConf = `global_defs {
    router_id st
    default_interface eth1
}
static_ipaddress {
    10.62.5.1/24 dev eth0 label eth0:5 brd +
    10.62.6.1/32 scope host
    {{ADDR}}
}
static_routes {
    src 10.62.0.1 to 192.168.109.0/24 via 10.62.0.254 dev eth0
    192.168.110.0/24 via 10.62.0.254 dev eth0 metric {{METRIC}}
    192.168.113.0/24 via 10.62.0.254 or 10.62.0.253 dev eth0
    blackhole 192.168.114.0/24
    unreachable 192.168.115.0/24 table 100
    prohibit 192.168.116.0/24 table 100
    192.168.117.0/24 dev eth0 scope host metric 55 protocol 50 no_track mtu 1400 advmss 1300
    192.168.118.0/24 via 10.9.9.9 dev eth0 onlink table 101
    0.0.0.0/0 via 10.62.0.254 table 100
    10.62.99.0/24 dev eth0 src 10.62.99.1
}
static_rules {
    from 192.168.2.0/24 table 100 preference 100
    to 192.168.3.0/24 table 101 preference 101
    {{RULE}}
    from 10.0.0.0/8 fwmark 0x10/0xff iif eth0 table 100 preference 103
}
`

func writeStaticConf(t *testing.T, path, addr, metric, rule string) {
	t.Helper()
	s := strings.NewReplacer("{{ADDR}}", addr, "{{METRIC}}", metric, "{{RULE}}", rule).Replace(staticConf)
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

// static_ipaddress, static_routes and static_rules are set when the
// director starts (whatever VRRP does: there is no instance here), as
// ip(8) reads them; a reload changes exactly the lines that changed (ip
// monitor sees nothing else); SIGTERM removes exactly what the director
// set, and an address and a route that were there before it stay.
func TestIntegrationStaticIPRoute(t *testing.T) {
	netnstest.RequireRoot(t)
	bin := buildDirector(t)
	lab := netnstest.New(t)
	h, peerHost := lab.Host("st"), lab.Host("peer")
	lab.Link(h, "eth0", "10.62.0.1/24", peerHost, "eth0", "10.62.0.2/24")
	lab.Link(h, "eth1", "10.63.0.1/24", peerHost, "eth1", "10.63.0.2/24")
	// Already there before the director: it must leave them as they are.
	h.AddAddr("eth0", "10.62.99.1/24")
	before := ipLines(h)

	conf := filepath.Join(t.TempDir(), "st.conf")
	writeStaticConf(t, conf, "10.62.7.1/24 dev eth0", "10", "from 192.168.4.0/24 table 100 preference 102")
	p := startDirector(t, h, bin, "st", "-f", conf, "--metrics", ":9100")
	want := [][]string{
		{"inet 10.62.5.1/24 brd 10.62.5.255 scope global eth0:5"},
		{"inet 10.62.6.1/32 scope host eth1"},
		{"inet 10.62.7.1/24 scope global eth0"},
		{"192.168.109.0/24 via 10.62.0.254 dev eth0 proto keepalived src 10.62.0.1"},
		{"192.168.110.0/24 via 10.62.0.254 dev eth0 proto keepalived metric 10"},
		{"192.168.113.0/24 proto keepalived nexthop via 10.62.0.254 dev eth0 weight 1 nexthop via 10.62.0.253 dev eth0 weight 1"},
		{"blackhole 192.168.114.0/24 proto keepalived"},
		{"unreachable 192.168.115.0/24 table 100 proto keepalived"},
		{"prohibit 192.168.116.0/24 table 100 proto keepalived"},
		{"192.168.117.0/24 dev eth0 proto 50 scope host metric 55", "mtu 1400", "advmss 1300"},
		{"192.168.118.0/24 via 10.9.9.9 dev eth0 table 101 proto keepalived onlink"},
		{"default via 10.62.0.254 dev eth0 table 100 proto keepalived"},
		{"100: from 192.168.2.0/24 lookup 100 proto keepalived"},
		{"101: from all to 192.168.3.0/24 lookup 101 proto keepalived"},
		{"102: from 192.168.4.0/24 lookup 100 proto keepalived"},
		{"103: from 10.0.0.0/8 fwmark 0x10/0xff iif eth0 lookup 100 proto keepalived"},
	}
	var lines []string
	if !waitFor(20*time.Second, func() bool {
		lines = ipLines(h)
		for _, w := range want {
			if !shown(lines, w...) {
				return false
			}
		}
		return true
	}) {
		for _, w := range want {
			if !shown(lines, w...) {
				t.Errorf("not set at start: %q", w)
			}
		}
		t.Fatalf("ip(8) shows:\n%s\n%s", strings.Join(lines, "\n"), p.Output())
	}
	// The route to 10.62.99.0/24 was there (the kernel's, for the address
	// made before): the director's line finds it and sets nothing.
	if shown(lines, "10.62.99.0/24", "proto keepalived") {
		t.Errorf("the director replaced the route that was there:\n%s", strings.Join(lines, "\n"))
	}

	// Reload: one address, one route's metric and one rule change; the
	// monitor sees exactly those.
	stop := monitor(t, h)
	writeStaticConf(t, conf, "10.62.8.1/24 dev eth0", "20", "")
	if err := p.Cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	var st *director.Status
	if !waitFor(15*time.Second, func() bool { st, _ = fetchStatus(h); return st != nil && st.ReloadsOK == 1 }) {
		t.Fatalf("reload not applied: %+v\n%s", st, p.Output())
	}
	events := stop()
	for _, w := range []string{"Deleted", "10.62.7.1/24", "10.62.8.1/24", "192.168.110.0/24 via 10.62.0.254 dev eth0 proto keepalived metric 10",
		"192.168.110.0/24 via 10.62.0.254 dev eth0 proto keepalived metric 20", "102:"} {
		if !strings.Contains(events, w) {
			t.Errorf("ip monitor did not see %q during the reload:\n%s", w, events)
		}
	}
	for _, unchanged := range []string{"10.62.5.1", "10.62.6.1", "192.168.109.0", "192.168.113.0", "192.168.114.0", "192.168.115.0",
		"192.168.116.0", "192.168.117.0", "192.168.118.0", "default", "100:", "101:", "103:"} {
		if strings.Contains(events, unchanged) {
			t.Errorf("the reload touched %s, which did not change:\n%s", unchanged, events)
		}
	}
	lines = ipLines(h)
	if shown(lines, "10.62.7.1") || !shown(lines, "inet 10.62.8.1/24") || shown(lines, "102:") ||
		!shown(lines, "192.168.110.0/24", "metric 20") || shown(lines, "192.168.110.0/24", "metric 10") {
		t.Errorf("after the reload ip(8) shows:\n%s", strings.Join(lines, "\n"))
	}

	// SIGTERM: everything the director set goes, what was there stays.
	stopDirector(t, p)
	after := ipLines(h)
	if diff := lineDiff(before, after); diff != "" {
		t.Errorf("after SIGTERM the namespace differs from before the director (-before +after):\n%s\n%s", diff, p.Output())
	}
}

// nftTableIn says whether h's namespace has an nftables table of that
// name. (nft 1.0.6 aborts on the nftables backend's concatenated maps,
// even listing tables, so netlink reads them.)
func nftTableIn(t *testing.T, h *netnstest.Host, name string) bool {
	t.Helper()
	c, err := nftables.New(nftables.WithNetNSFd(int(h.NsHandle())))
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseLasting()
	tables, err := c.ListTables()
	if err != nil {
		t.Fatal(err)
	}
	for _, tb := range tables {
		if tb.Name == name {
			return true
		}
	}
	return false
}

// stopDirector sends p SIGTERM and waits (15 s at most) for it to end.
func stopDirector(t *testing.T, p *nslab.Proc) {
	t.Helper()
	if err := p.Cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.Done():
	case <-time.After(15 * time.Second):
		t.Fatal("the director did not stop on SIGTERM")
	}
}

// lineDiff lists the lines only in a (-) or only in b (+), leaving out
// IPv6 link-local addresses and routes, which the kernel adds on its own
// time once a new link's duplicate address detection ends.
func lineDiff(a, b []string) string {
	in := func(s []string, x string) bool {
		for _, y := range s {
			if y == x {
				return true
			}
		}
		return false
	}
	var out []string
	for _, x := range a {
		if !in(b, x) && !strings.Contains(x, "fe80:") {
			out = append(out, "-"+x)
		}
	}
	for _, x := range b {
		if !in(a, x) && !strings.Contains(x, "fe80:") {
			out = append(out, "+"+x)
		}
	}
	return strings.Join(out, "\n")
}

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

const netnsConf = `net_namespace {{NS}}
global_defs {
    router_id nsdir
    script_user root
    enable_script_security
}
vrrp_script in_ns {
    script "/bin/sh -c 'ip -o addr show dev eth0 | grep -q 10.68.0.1/24'"
    interval 1
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
	k := peer.StartKeepalived(t, ka, strings.NewReplacer("{{NAME}}", "ka", "{{PRIO}}", "100", "{{EXTRA}}", "").
		Replace(strings.ReplaceAll(strings.ReplaceAll(virtualRoutesConf, "10.64.0.100", "10.68.0.100"), "virtual_router_id 64", "virtual_router_id 68")))
	p := startDirector(t, parent, bin, "nsdir", "-f", conf, "--metrics", ":9100", "--backend", backend)

	var st *director.Status
	if !waitFor(30*time.Second, func() bool {
		if st, _ = fetchStatus(parent); st == nil {
			return false
		}
		rs, ok := realServer(st, "10.68.0.11:80")
		return vrrpState(st) == "MASTER" && ok && rs.Healthy && rs.InTable
	}) {
		t.Fatalf("not MASTER with the real server healthy in the table: %+v\n%s\n%s", st, p.Output(), k.Log())
	}
	if st.Backend != backend {
		t.Errorf("backend %q, want %s", st.Backend, backend)
	}
	lines := ipLines(x)
	for _, w := range [][]string{{"10.68.0.100/24"}, {"192.168.150.0/24 via 10.68.0.254 dev eth0 proto keepalived"},
		{"192.168.151.0/24 via 10.68.0.254 dev eth0 proto keepalived"}} {
		if !shown(lines, w...) {
			t.Errorf("not in the namespace: %q\n%s", w, strings.Join(lines, "\n"))
		}
	}
	if !k.WaitLog("Entering BACKUP STATE", 10*time.Second) || strings.Contains(k.Log(), "Entering MASTER STATE") {
		t.Errorf("keepalived on the LAN did not stay BACKUP to the director's adverts:\n%s", k.Log())
	}
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

	stopDirector(t, p)
	lines = ipLines(x)
	for _, gone := range []string{"10.68.0.100/24", "192.168.150.0/24", "192.168.151.0/24"} {
		if shown(lines, gone) {
			t.Errorf("%s left in the namespace after SIGTERM", gone)
		}
	}
	if !k.WaitLog("Entering MASTER STATE", 10*time.Second) {
		t.Errorf("keepalived did not take over after the director stopped:\n%s", k.Log())
	}
}
