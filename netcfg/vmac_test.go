package netcfg_test

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/lvskit/lvskit/internal/netnstest"
	"github.com/lvskit/lvskit/netcfg"
)

// TestIntegrationVMACSettings checks the kernel settings AddVMAC makes as
// keepalived 2.2 makes them, as sysctl files and ip(8) show them, and that
// the parent's share is restored only when its last VMAC goes.
func TestIntegrationVMACSettings(t *testing.T) {
	netnstest.RequireRoot(t)
	lab := netnstest.New(t)
	n, other := lab.Host("n"), lab.Host("o")
	lab.Link(n, "eth0", "10.99.0.1/24", other, "eth0", "10.99.0.2/24")
	lab.Link(n, "eth1", "10.98.0.1/24", other, "eth1", "10.98.0.2/24")
	settle(t, n)
	// A host that filters by source everywhere ("all" = 1, the own
	// values 0, as many distributions ship).
	n.SetSysctl("net.ipv4.conf.all.rp_filter", "1")
	h := open(t, n)
	read := func(key string) string {
		t.Helper()
		v, err := h.Sysctl(key)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	want := func(when string, kv map[string]string) {
		t.Helper()
		for k, w := range kv {
			if got := read(k); got != w {
				t.Errorf("%s: %s = %s, want %s", when, k, got, w)
			}
		}
	}

	for _, v := range []netcfg.VMAC{{Name: "vrrp.51", Parent: "eth0", VRID: 51}, {Name: "vrrp.52", Parent: "eth0", VRID: 52}} {
		if _, err := h.AddVMAC(v); err != nil {
			t.Fatal(err)
		}
	}
	during := map[string]string{
		"net/ipv4/conf/vrrp.51/arp_ignore":          "1",
		"net/ipv4/conf/vrrp.51/accept_local":        "1",
		"net/ipv4/conf/vrrp.51/rp_filter":           "0",
		"net/ipv4/conf/vrrp.51/promote_secondaries": "1",
		"net/ipv6/conf/vrrp.51/disable_ipv6":        "1",
		"net/ipv4/conf/eth0/arp_ignore":             "1",
		"net/ipv4/conf/eth0/arp_filter":             "1",
		// clear_rp_filter: "all" to 0, every other interface keeps
		// filtering with its own value raised to the old "all".
		"net/ipv4/conf/all/rp_filter":  "0",
		"net/ipv4/conf/eth0/rp_filter": "1",
		"net/ipv4/conf/eth1/rp_filter": "1",
	}
	want("two VMACs", during)
	if _, err := h.RemoveVMAC("vrrp.51"); err != nil {
		t.Fatal(err)
	}
	want("one VMAC left", map[string]string{"net/ipv4/conf/eth0/arp_ignore": "1", "net/ipv4/conf/all/rp_filter": "0"})
	if _, err := h.RemoveVMAC("vrrp.52"); err != nil {
		t.Fatal(err)
	}
	want("no VMAC left", map[string]string{
		"net/ipv4/conf/eth0/arp_ignore": "0", "net/ipv4/conf/eth0/arp_filter": "0",
		"net/ipv4/conf/all/rp_filter": "1", "net/ipv4/conf/eth0/rp_filter": "0", "net/ipv4/conf/eth1/rp_filter": "0",
	})

	// IPv6: no address made from the virtual MAC; the parent's link-local,
	// a given one, or none with XmitBase.
	parentLL := ""
	for _, f := range strings.Fields(n.Run("ip", "-6", "-o", "addr", "show", "dev", "eth0", "scope", "link")) {
		if strings.HasPrefix(f, "fe80::") {
			parentLL = f
		}
	}
	if parentLL == "" {
		t.Fatal("eth0 has no link-local address")
	}
	for _, tc := range []struct {
		v    netcfg.VMAC
		want string
	}{
		{netcfg.VMAC{Name: "vrrp6.61", Parent: "eth0", VRID: 61, IPv6: true}, parentLL},
		{netcfg.VMAC{Name: "vrrp6.62", Parent: "eth0", VRID: 62, IPv6: true, LinkLocal: netip.MustParseAddr("fe80::62")}, "fe80::62/64"},
		{netcfg.VMAC{Name: "vrrp6.63", Parent: "eth0", VRID: 63, IPv6: true, XmitBase: true}, ""},
	} {
		if _, err := h.AddVMAC(tc.v); err != nil {
			t.Fatal(err)
		}
		out := n.Run("ip", "-6", "-o", "addr", "show", "dev", tc.v.Name)
		if tc.want == "" {
			if strings.TrimSpace(out) != "" {
				t.Errorf("%s has addresses, want none:\n%s", tc.v.Name, out)
			}
			continue
		}
		if !strings.Contains(out, tc.want) || !strings.Contains(out, "nodad") || strings.Count(out, "inet6") != 1 {
			t.Errorf("%s: want only %s (nodad), got:\n%s", tc.v.Name, tc.want, out)
		}
		if got := read("net/ipv6/conf/" + tc.v.Name + "/addr_gen_mode"); got != "1" {
			t.Errorf("%s addr_gen_mode %s, want 1", tc.v.Name, got)
		}
	}
	if _, err := h.AddVMAC(netcfg.VMAC{Name: "vrrp6.64", Parent: "eth0", VRID: 64, IPv6: true, LinkLocal: netip.MustParseAddr("fd00::1")}); err == nil {
		t.Errorf("a VMAC link-local that is not link-local was accepted")
	}
}
