package director_test

import (
	"context"
	"fmt"
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

// waitShown waits until each of want is shown (see shown) in h's ip(8)
// lines and returns them; if that does not happen within timeout, it says
// which are missing and what ip(8) shows, as errors of t.
func waitShown(t *testing.T, h *netnstest.Host, timeout time.Duration, what string, want [][]string) ([]string, bool) {
	t.Helper()
	var lines []string
	if waitFor(timeout, func() bool {
		lines = ipLines(h)
		for _, w := range want {
			if !shown(lines, w...) {
				return false
			}
		}
		return true
	}) {
		return lines, true
	}
	for _, w := range want {
		if !shown(lines, w...) {
			t.Errorf("%s: not set: %q", what, w)
		}
	}
	t.Errorf("%s: ip(8) in %s shows:\n%s", what, h.Name(), strings.Join(lines, "\n"))
	return lines, false
}

// monitor runs `ip -o monitor address route rule` in h until stop is
// called, and returns what it printed in between. ip(8) says nothing when
// it has subscribed, nor when it has printed what it received: a marker
// rule (from 198.51.100.7, preference 32000 and up, one more each time it
// is not seen within a second), added until the monitor shows it and
// deleted by stop, which waits for the deletion of the last to show,
// bounds what it returns on both sides; the markers' lines are left out.
func monitor(t *testing.T, h *netnstest.Host) (stop func() string) {
	t.Helper()
	const marker = "198.51.100.7"
	ctx, cancel := context.WithCancel(context.Background())
	cmd := h.Command(ctx, "ip", "-o", "monitor", "address", "route", "rule")
	out := &nslab.Buffer{}
	cmd.Stdout = out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cancel)
	begin, pref := -1, 31999 // begin: in out, just after the last marker's addition
	for deadline := time.Now().Add(20 * time.Second); begin < 0 && time.Now().Before(deadline); {
		pref++
		h.Run("ip", "rule", "add", "preference", fmt.Sprint(pref), "from", marker, "lookup", "main")
		waitFor(time.Second, func() bool {
			if _, end, ok := lineWith(out.String(), fmt.Sprintf("%d:", pref)); ok {
				begin = end
			}
			return begin >= 0
		})
	}
	if begin < 0 {
		t.Fatalf("ip monitor in %s did not show a marker rule within 20s:\n%s", h.Name(), out.String())
	}
	return func() string {
		t.Helper()
		for p := 32000; p <= pref; p++ {
			h.Run("ip", "rule", "del", "preference", fmt.Sprint(p))
		}
		var text string
		var at int
		deleted := waitFor(20*time.Second, func() bool {
			text = out.String()[begin:]
			var ok bool
			at, _, ok = lineWith(text, fmt.Sprintf("Deleted %d:", pref))
			return ok
		})
		cancel()
		_ = cmd.Wait()
		if !deleted {
			t.Errorf("ip monitor in %s did not show the marker rule's deletion within 20s:\n%s", h.Name(), text)
		} else {
			text = text[:at]
		}
		var kept []string
		for _, l := range strings.SplitAfter(text, "\n") {
			if !strings.Contains(l, marker) {
				kept = append(kept, l)
			}
		}
		return strings.Join(kept, "")
	}
}

// lineWith finds in text the first whole line that starts with prefix,
// and returns where it starts and ends.
func lineWith(text, prefix string) (start, end int, ok bool) {
	for start < len(text) {
		nl := strings.IndexByte(text[start:], '\n')
		if nl < 0 {
			return 0, 0, false // a line not yet complete
		}
		if strings.HasPrefix(text[start:start+nl], prefix) {
			return start, start + nl + 1, true
		}
		start += nl + 1
	}
	return 0, 0, false
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
	lines, ok := waitShown(t, h, 20*time.Second, "at start", want)
	if !ok {
		t.Fatalf("director log:\n%s", p.Output())
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
