package keepalived

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"
)

func TestBGPBlock(t *testing.T) {
	cfg, warns, err := ParseFile(filepath.Join("testdata", "bgp_ecmp.conf"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(warns) != 0 {
		t.Errorf("warnings: %v", warns)
	}
	want := &BGP{
		Pos:          at,
		LocalAS:      u32(65001),
		RouterID:     av("192.168.0.200"),
		DrainTimeout: dv("5s"),
		BGPAttributes: BGPAttributes{
			Communities: []Value[string]{sv("65001:100"), sv("no-export")},
			MED:         u32(10),
		},
		Neighbors: []BGPNeighbor{{
			Pos: at, Addr: ip("192.168.0.254"), RemoteAS: u32(65000), Password: sv("s3cret"),
			HoldTime: dv("9s"), Keepalive: dv("3s"), ConnectRetry: dv("1s"),
			BFD: BGPBFD{Pos: at, MinRx: dv("100ms"), MinTx: dv("100ms"), Multiplier: iv(3)},
		}, {
			Pos: at, Addr: ip("10.1.0.1"), RemoteAS: u32(65001), LocalAddress: av("192.168.0.200"),
			Passive: bv(true), Description: sv("route reflector"),
			BFD: BGPBFD{Disable: bv(true)},
		}, {
			Pos: at, Addr: ip("2001:db8::fe"), RemoteAS: u32(65000), EBGPMultihop: iv(2),
			BFD: BGPBFD{Disable: bv(true)},
		}},
		Announce: []BGPAnnounce{
			{Pos: at, Addr: ip("192.168.0.253")},
			{Pos: at, Addr: ip("2001:db8::253"), BGPAttributes: BGPAttributes{
				Communities: []Value[string]{sv("65001:200")}, LocalPref: u32(200),
			}},
		},
	}
	if diff := cmp.Diff(want, cfg.BGP, positionsCmp); diff != "" {
		t.Errorf("bgp (-want +got):\n%s", diff)
	}
	// VRRP and BGP in one file: the rest is read as before.
	if len(cfg.Instances) != 1 || len(cfg.VirtualServers) != 2 {
		t.Errorf("%d instances, %d virtual servers", len(cfg.Instances), len(cfg.VirtualServers))
	}
	// Positions point at the words.
	if p := cfg.BGP.Neighbors[0].BFD.MinRx.Pos; p.Line != 22 || p.Col != 13 {
		t.Errorf("min_rx at %v, want line 22 column 13", p)
	}
	if p := cfg.BGP.Communities[1].Pos; p.Line != 12 || p.Col != 25 {
		t.Errorf("no-export at %v, want line 12 column 25", p)
	}
}

func TestBGPErrors(t *testing.T) {
	// b wraps lines into a bgp block with its required settings (lines
	// start on line 5).
	b := func(lines ...string) string {
		return "bgp {\n local_as 65001\n router_id 10.0.0.1\n neighbor 10.0.0.254 {\n  remote_as 65000\n }\n " +
			strings.Join(lines, "\n ") + "\n}\n"
	}
	tests := []struct {
		name, conf string
		want       []string
	}{
		{"empty", "bgp {\n}\n", []string{
			`bad.conf:1:1: bgp: missing local_as`,
			`bad.conf:1:1: bgp: missing router_id`,
			`bad.conf:1:1: bgp: no neighbor`,
		}},
		{"twice", b() + b(), []string{`bad.conf:9:1: bgp: given twice (first at bad.conf:1:1)`}},
		{"not a block", "bgp 65001\n", []string{`bad.conf:1:1: bgp: needs a { } block`}},
		{"unknown keyword", b("local_asn 1"), []string{`bad.conf:7:2: unknown keyword "local_asn" in bgp (did you mean "local_as"?)`}},
		{"asn zero", "bgp {\n local_as 0\n router_id 10.0.0.1\n neighbor 10.0.0.254 {\n  remote_as 65000\n }\n}\n", []string{
			`bad.conf:2:11: local_as: 0 is out of range [1, 4294967295]`,
			`bad.conf:1:1: bgp: missing local_as`,
		}},
		{"bad router id", b("router_id r1"), []string{`bad.conf:7:12: router_id: invalid IP address "r1"`}},
		{"neighbor without remote_as", b("neighbor 10.0.0.253 {", " password x", "}"), []string{
			`bad.conf:7:2: neighbor 10.0.0.253: missing remote_as`,
		}},
		{"neighbor without block", b("neighbor 10.0.0.253"), []string{`bad.conf:7:2: neighbor: needs a { } block`}},
		{"bad neighbor address", b("neighbor router {", "}"), []string{`bad.conf:7:11: neighbor: invalid IP address "router"`}},
		{"unknown neighbor keyword", b("neighbor 10.0.0.253 {", " remote_as 1", " ttl 2", "}"), []string{
			`bad.conf:9:3: unknown keyword "ttl" in neighbor`,
		}},
		{"multihop range", b("neighbor 10.0.0.253 {", " remote_as 1", " ebgp_multihop 256", "}"), []string{
			`bad.conf:9:17: ebgp_multihop: 256 is out of range [1, 255]`,
		}},
		{"bfd interval in milliseconds", b("neighbor 10.0.0.253 {", " remote_as 1", " bfd {", "  min_rx 0.1", " }", "}"), []string{
			`bad.conf:10:11: min_rx (milliseconds): invalid number "0.1"`,
		}},
		{"bfd interval range", b("neighbor 10.0.0.253 {", " remote_as 1", " bfd {", "  min_tx 5", " }", "}"), []string{
			`bad.conf:10:11: min_tx (milliseconds): 5 is out of range [10, 60000]`,
		}},
		{"no_bfd and bfd", b("neighbor 10.0.0.253 {", " remote_as 1", " no_bfd", " bfd {", " }", "}"), []string{
			`bad.conf:9:3: neighbor 10.0.0.253: no_bfd and a bfd block (at bad.conf:10:3) contradict each other`,
		}},
		{"announce needs an address", b("announce"), []string{`bad.conf:7:2: announce: missing argument`}},
		{"announce a prefix", b("announce 10.0.0.0/24"), []string{`bad.conf:7:11: announce: invalid IP address "10.0.0.0/24"`}},
		{"unknown announce keyword", b("announce 10.0.0.10 {", " weight 1", "}"), []string{
			`bad.conf:8:3: unknown keyword "weight" in announce`,
		}},
		{"bad med", b("med -1"), []string{`bad.conf:7:6: med: -1 is out of range [0, 4294967295]`}},
		{"community needs a value", b("community"), []string{`bad.conf:7:2: community: missing argument`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, _, err := Parse(strings.NewReader(tt.conf), "bad.conf", Options{FS: fstest.MapFS{}})
			if cfg != nil {
				t.Errorf("Parse returned a config along with errors")
			}
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("err = %v, want a *ParseError", err)
			}
			var got []string
			for _, d := range pe.Diagnostics {
				got = append(got, d.String())
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("errors (-want +got):\n%s\nconfig:\n%s", diff, tt.conf)
			}
		})
	}
}
