package director

import (
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/lvskit/lvskit/bgp"
	"github.com/lvskit/lvskit/ipvs"
)

// The corpus file of an active-active director: the speaker's settings,
// the routes with their attributes, the services that gate them, and
// sloppy_tcp for DR with mh.
func TestTranslateBGP(t *testing.T) {
	plan, warns := mustLoad(t, filepath.Join("..", "keepalived", "testdata", "bgp_ecmp.conf"), "")
	if len(warns) != 0 {
		t.Errorf("warnings: %v", warns)
	}
	a := netip.MustParseAddr
	want := &BGPPlan{
		Speaker: bgp.Config{
			ASN: 65001, RouterID: a("192.168.0.200"),
			Peers: []bgp.Peer{{
				Address: a("192.168.0.254"), ASN: 65000, Password: "s3cret",
				HoldTime: 9 * time.Second, KeepaliveInterval: 3 * time.Second, ConnectRetry: time.Second,
				BFD: bgp.BFD{MinRx: 100 * time.Millisecond, MinTx: 100 * time.Millisecond, Multiplier: 3},
			}, {
				Address: a("10.1.0.1"), ASN: 65001, LocalAddress: a("192.168.0.200"),
				Passive: true, Description: "route reflector", BFD: bgp.BFD{Disable: true},
			}, {
				Address: a("2001:db8::fe"), ASN: 65000, Multihop: 2, BFD: bgp.BFD{Disable: true},
			}},
		},
		DrainTimeout: 5 * time.Second,
		Announce: []AnnouncePlan{{
			Route: bgp.Route{Prefix: netip.MustParsePrefix("192.168.0.253/32"),
				Communities: []bgp.Community{65001<<16 | 100, bgp.NoExport}, MED: 10},
			Services: []ipvs.ServiceKey{{Family: ipvs.Inet, Protocol: ipvs.TCP, Addr: a("192.168.0.253"), Port: 80}},
		}, {
			Route: bgp.Route{Prefix: netip.MustParsePrefix("2001:db8::253/128"),
				Communities: []bgp.Community{65001<<16 | 200}, MED: 10, LocalPref: 200},
			Services: []ipvs.ServiceKey{{Family: ipvs.Inet6, Protocol: ipvs.TCP, Addr: a("2001:db8::253"), Port: 80}},
		}},
		SloppyTCP: true,
	}
	opts := cmp.Options{
		cmpopts.IgnoreFields(BGPPlan{}, "Pos"), cmpopts.IgnoreFields(AnnouncePlan{}, "Pos"),
		cmp.Comparer(func(a, b netip.Addr) bool { return a == b }),
		cmp.Comparer(func(a, b netip.Prefix) bool { return a == b }),
	}
	if diff := cmp.Diff(want, plan.BGP, opts); diff != "" {
		t.Errorf("bgp plan (-want +got):\n%s", diff)
	}
	if !plan.BGP.Pos.IsValid() || plan.BGP.Announce[1].Pos.Line != 41 {
		t.Errorf("positions: block %v, second announce %v", plan.BGP.Pos, plan.BGP.Announce[1].Pos)
	}
	// VRRP runs next to BGP.
	if len(plan.Instances) != 1 || plan.Instances[0].VRRP.Name != "VI_INTERNAL" {
		t.Errorf("instances: %+v", plan.Instances)
	}
}

// A file without a bgp block has no BGP unit; with one, the unit comes
// last, after VRRP.
func TestBGPUnitOrder(t *testing.T) {
	plan, _ := mustLoad(t, filepath.Join("..", "keepalived", "testdata", "bgp_ecmp.conf"), "")
	specs := plan.units()
	if k := specs[len(specs)-1].key(); k != (unitKey{kind: kindBGP}) {
		t.Errorf("last unit %v, want bgp", k)
	}
	plan.BGP = nil
	for _, s := range plan.units() {
		if s.key().kind == kindBGP {
			t.Errorf("a BGP unit without a bgp block")
		}
	}
}

// bgpConf is a bgp block with one neighbor over a virtual server on
// 10.0.0.9 (lines of the block start on line 5, indented by 4).
func bgpConf(lines ...string) string {
	return "bgp {\n    local_as 65001\n    router_id 10.0.0.1\n    neighbor 10.0.0.254 {\n        remote_as 65000\n    }\n    " +
		strings.Join(lines, "\n    ") + "\n}\n" +
		"virtual_server 10.0.0.9 80 {\n    lb_algo mh\n    lb_kind DR\n    protocol TCP\n    real_server 10.0.0.2 80 {\n    }\n}\n"
}

// What the speaker would refuse, and announcements that cannot work, are
// errors at their lines.
func TestTranslateBGPErrors(t *testing.T) {
	for _, tc := range []struct {
		name, text string
		want       []string // ":line:col: message" prefixes, in order
	}{
		{"IPv6 router id", strings.Replace(bgpConf(), "router_id 10.0.0.1", "router_id fd00::1", 1),
			[]string{`:3:5: router_id: fd00::1: the BGP identifier is a non-zero IPv4 address`}},
		{"announce without a virtual server", bgpConf("announce 10.0.0.10"),
			[]string{`:7:5: announce 10.0.0.10: no virtual_server on this address`}},
		{"announce without a neighbor of its family", bgpConf("announce fd00::9"),
			[]string{`:7:5: announce fd00::9: no IPv6 neighbor to announce it to`}},
		{"announced twice", bgpConf("announce 10.0.0.9", "announce 10.0.0.9"),
			[]string{`:8:5: announce 10.0.0.9: already announced at `}},
		{"neighbor twice", bgpConf("neighbor 10.0.0.254 {", "    remote_as 65002", "}"),
			[]string{`:7:5: neighbor 10.0.0.254: already defined at `}},
		{"bad community", bgpConf("community 65001:70000 no-export", "announce 10.0.0.9"),
			[]string{`:7:15: community: "65001:70000": want AS:VALUE`}},
		{"short hold time", bgpConf("neighbor 10.0.0.253 {", "    remote_as 65000", "    hold_time 2", "    keepalive 0.5", "}"),
			[]string{`:9:9: hold_time: 2s: want whole seconds, at least 3s`, `:10:9: keepalive: 500ms: want whole seconds, at least 1s`}},
		{"keepalive over hold", bgpConf("neighbor 10.0.0.253 {", "    remote_as 65000", "    hold_time 3", "    keepalive 6", "}"),
			[]string{`:10:9: keepalive: 6s is longer than the hold time 3s`}},
		{"multihop with BFD", bgpConf("neighbor 10.0.0.253 {", "    remote_as 65000", "    ebgp_multihop 2", "}"),
			[]string{`:9:9: ebgp_multihop: BFD is single-hop here (RFC 5881): add no_bfd to a multihop neighbor`}},
		{"local address of the other family", bgpConf("neighbor 10.0.0.253 {", "    remote_as 65000", "    local_address fd00::1", "}"),
			[]string{`:9:9: local_address: fd00::1 is not of the family of neighbor 10.0.0.253`}},
		{"listen port zero", bgpConf("listen_port 0"),
			[]string{`:7:5: listen_port: 0 is not a port (use no_listen to accept no session)`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := writeTemp(t, tc.text)
			_, _, err := Load(path, "")
			if err == nil {
				t.Fatal("Load accepted the file")
			}
			ds := Diagnostics(err)
			if len(ds) != len(tc.want) {
				t.Fatalf("diagnostics %v, want %d", ds, len(tc.want))
			}
			for i, w := range tc.want {
				if got := ds[i].String(); !strings.HasPrefix(got, path+w) {
					t.Errorf("diagnostic %d = %q, want prefix %q", i, got, path+w)
				}
			}
		})
	}
}

// Announcing a NAT service, or one scheduled without a hash, is accepted
// with a warning at the announce line.
func TestTranslateBGPWarnings(t *testing.T) {
	text := strings.NewReplacer("lb_algo mh", "lb_algo rr", "lb_kind DR", "lb_kind NAT").Replace(bgpConf("announce 10.0.0.9"))
	path := writeTemp(t, text)
	plan, warns := mustLoad(t, path, "")
	if plan.BGP.SloppyTCP {
		t.Error("sloppy_tcp for a NAT service scheduled by rr")
	}
	var got []string
	for _, w := range warns {
		got = append(got, strings.TrimPrefix(w.String(), path))
	}
	want := []string{
		`:7:5: announce 10.0.0.9: [TCP 10.0.0.9:80] forward by NAT: replies must come back through the director that translated them, which ECMP does not ensure; with more than one director announcing it, use DR`,
		`:7:5: announce 10.0.0.9: [TCP 10.0.0.9:80] schedule without a hash (mh, sh): a flow that ECMP moves to another director may reach another real server`,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("warnings (-want +got):\n%s", diff)
	}
}
