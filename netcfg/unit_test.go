package netcfg

import (
	"net"
	"net/netip"
	"path"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

var testMAC = net.HardwareAddr{0x02, 0x11, 0x22, 0x33, 0x44, 0x55}

func TestGratuitousARP(t *testing.T) {
	f, err := GratuitousARP(testMAC, netip.MustParseAddr("192.168.0.253"))
	if err != nil {
		t.Fatal(err)
	}
	if len(f) != 60 {
		t.Errorf("frame length %d, want 60 (minimum Ethernet frame without FCS)", len(f))
	}
	p := gopacket.NewPacket(f, layers.LayerTypeEthernet, gopacket.Default)
	if el := p.ErrorLayer(); el != nil {
		t.Fatalf("decode: %v", el.Error())
	}
	eth := p.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
	arp := p.Layer(layers.LayerTypeARP).(*layers.ARP)
	type summary struct {
		EthSrc, EthDst     string
		Op                 uint16
		SHA, SPA, THA, TPA string
	}
	got := summary{eth.SrcMAC.String(), eth.DstMAC.String(), arp.Operation,
		net.HardwareAddr(arp.SourceHwAddress).String(), net.IP(arp.SourceProtAddress).String(),
		net.HardwareAddr(arp.DstHwAddress).String(), net.IP(arp.DstProtAddress).String()}
	want := summary{"02:11:22:33:44:55", "ff:ff:ff:ff:ff:ff", layers.ARPRequest,
		"02:11:22:33:44:55", "192.168.0.253", "00:00:00:00:00:00", "192.168.0.253"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("GARP (-want +got):\n%s", diff)
	}
}

func TestUnsolicitedNA(t *testing.T) {
	for _, router := range []bool{false, true} {
		f, err := UnsolicitedNA(testMAC, netip.MustParseAddr("2001:db8::53"), router)
		if err != nil {
			t.Fatal(err)
		}
		p := gopacket.NewPacket(f, layers.LayerTypeEthernet, gopacket.Default)
		if el := p.ErrorLayer(); el != nil {
			t.Fatalf("decode: %v", el.Error())
		}
		eth := p.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
		ip6 := p.Layer(layers.LayerTypeIPv6).(*layers.IPv6)
		icmp := p.Layer(layers.LayerTypeICMPv6).(*layers.ICMPv6)
		na := p.Layer(layers.LayerTypeICMPv6NeighborAdvertisement).(*layers.ICMPv6NeighborAdvertisement)
		type summary struct {
			EthDst, Src, Dst string
			HopLimit         uint8
			Type             uint8
			Override, Solic  bool
			Router           bool
			Target, LLAddr   string
		}
		var ll string
		for _, o := range na.Options {
			if o.Type == layers.ICMPv6OptTargetAddress {
				ll = net.HardwareAddr(o.Data).String()
			}
		}
		got := summary{eth.DstMAC.String(), ip6.SrcIP.String(), ip6.DstIP.String(), ip6.HopLimit, icmp.TypeCode.Type(),
			na.Override(), na.Solicited(), na.Router(), na.TargetAddress.String(), ll}
		want := summary{"33:33:00:00:00:01", "2001:db8::53", "ff02::1", 255, layers.ICMPv6TypeNeighborAdvertisement,
			true, false, router, "2001:db8::53", "02:11:22:33:44:55"}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("NA router=%v (-want +got):\n%s", router, diff)
		}
		// The ICMPv6 checksum over the pseudo-header sums to 0xffff.
		if s := icmp6Sum(ip6.SrcIP, ip6.DstIP, ip6.Payload); s != 0xffff {
			t.Errorf("NA checksum does not verify: sum %#x", s)
		}
	}
}

func icmp6Sum(src, dst net.IP, payload []byte) uint16 {
	var sum uint32
	add := func(b []byte) {
		for i := 0; i+1 < len(b); i += 2 {
			sum += uint32(b[i])<<8 | uint32(b[i+1])
		}
		if len(b)%2 == 1 {
			sum += uint32(b[len(b)-1]) << 8
		}
	}
	add(src.To16())
	add(dst.To16())
	n := len(payload)
	add([]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n), 0, 0, 0, 58})
	add(payload)
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return uint16(sum)
}

func TestFramesRejectBadInput(t *testing.T) {
	if _, err := GratuitousARP(testMAC, netip.MustParseAddr("2001:db8::1")); err == nil {
		t.Error("GratuitousARP accepted an IPv6 address")
	}
	if _, err := GratuitousARP(net.HardwareAddr{1, 2}, netip.MustParseAddr("10.0.0.1")); err == nil {
		t.Error("GratuitousARP accepted a 2-byte MAC")
	}
	if _, err := UnsolicitedNA(testMAC, netip.MustParseAddr("10.0.0.1"), false); err == nil {
		t.Error("UnsolicitedNA accepted an IPv4 address")
	}
}

func TestVirtualMAC(t *testing.T) {
	if got, want := VirtualMAC(51, false).String(), "00:00:5e:00:01:33"; got != want {
		t.Errorf("VirtualMAC(51, v4) = %s, want %s", got, want)
	}
	if got, want := VirtualMAC(255, true).String(), "00:00:5e:00:02:ff"; got != want {
		t.Errorf("VirtualMAC(255, v6) = %s, want %s", got, want)
	}
}

func TestAddressValidate(t *testing.T) {
	p := netip.MustParsePrefix
	tests := []struct {
		name    string
		a       Address
		wantErr string // substring; empty means valid
	}{
		{"vip on lo with label", Address{Link: "lo", Prefix: p("192.168.0.253/32"), Label: "lo:0"}, ""},
		{"alias label", Address{Link: "eth0", Prefix: p("10.0.0.5/24"), Label: "eth0:1"}, ""},
		{"ipv6", Address{Link: "eth0", Prefix: p("2001:db8::5/64")}, ""},
		{"no prefix", Address{Link: "eth0"}, "bad prefix"},
		{"label of another link", Address{Link: "eth0", Prefix: p("10.0.0.5/24"), Label: "eth1:1"}, `must start with the interface name "eth0"`},
		{"label on ipv6", Address{Link: "eth0", Prefix: p("2001:db8::5/64"), Label: "eth0:1"}, "IPv6 addresses have no labels"},
		{"label too long", Address{Link: "eth0", Prefix: p("10.0.0.5/24"), Label: "eth0:123456789012"}, "longer than 15"},
		{"multicast", Address{Link: "eth0", Prefix: p("224.0.0.18/32")}, "not a unicast"},
		{"unspecified", Address{Link: "eth0", Prefix: p("0.0.0.0/0")}, "not a unicast"},
		{"mapped", Address{Link: "eth0", Prefix: p("::ffff:10.0.0.1/128")}, "IPv4-mapped"},
		{"no link", Address{Prefix: p("10.0.0.5/24")}, "interface name"},
		{"link with slash", Address{Link: "a/b", Prefix: p("10.0.0.5/24")}, "contains"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkErr(t, tt.a.validate(), tt.wantErr)
		})
	}
}

func TestRouteNormalize(t *testing.T) {
	p, a := netip.MustParsePrefix, netip.MustParseAddr
	tests := []struct {
		name    string
		r       Route
		want    Route
		wantErr string
	}{
		{"gateway route gets main table", Route{Dst: p("10.0.0.0/8"), Gateway: a("192.168.0.1")},
			Route{Dst: p("10.0.0.0/8"), Gateway: a("192.168.0.1"), Table: TableMain}, ""},
		{"device route gets link scope", Route{Dst: p("10.0.0.0/8"), Link: "eth0"},
			Route{Dst: p("10.0.0.0/8"), Link: "eth0", Table: TableMain, Scope: ScopeLink}, ""},
		{"ipv6 gets metric 1024", Route{Dst: p("2001:db8::/32"), Type: RouteBlackhole, Table: 7},
			Route{Dst: p("2001:db8::/32"), Type: RouteBlackhole, Table: 7, Metric: 1024}, ""},
		{"host bits", Route{Dst: p("10.0.0.1/8"), Link: "eth0"}, Route{}, "host bits set (did you mean 10.0.0.0/8?)"},
		{"no prefix", Route{Link: "eth0"}, Route{}, "bad prefix"},
		{"family mismatch", Route{Dst: p("10.0.0.0/8"), Gateway: a("2001:db8::1")}, Route{}, "other address family"},
		{"nowhere to go", Route{Dst: p("10.0.0.0/8")}, Route{}, "needs a gateway or an interface"},
		{"blackhole with gateway", Route{Dst: p("10.0.0.0/8"), Type: RouteBlackhole, Gateway: a("10.1.1.1")}, Route{}, "takes no gateway"},
		{"negative metric", Route{Dst: p("10.0.0.0/8"), Link: "eth0", Metric: -1}, Route{}, "bad metric"},
		{"multipath: weights default to 1, scope stays global",
			Route{Dst: p("10.0.0.0/8"), Nexthops: []Nexthop{{Gateway: a("192.168.0.1")}, {Link: "eth1", Weight: 2}}},
			Route{Dst: p("10.0.0.0/8"), Table: TableMain, Nexthops: []Nexthop{{Gateway: a("192.168.0.1"), Weight: 1}, {Link: "eth1", Weight: 2}}}, ""},
		{"multipath with a route link", Route{Dst: p("10.0.0.0/8"), Link: "eth0", Nexthops: []Nexthop{{Gateway: a("192.168.0.1")}}}, Route{}, "from its next hops"},
		{"unreachable with next hops", Route{Dst: p("10.0.0.0/8"), Type: RouteUnreachable, Nexthops: []Nexthop{{Gateway: a("192.168.0.1")}}}, Route{}, "has no next hops"},
		{"mtu lock without mtu", Route{Dst: p("10.0.0.0/8"), Link: "eth0", Metrics: RouteMetrics{LockMTU: true}}, Route{}, "mtu lock without an mtu"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.r.normalize()
			checkErr(t, err, tt.wantErr)
			if err == nil {
				if diff := cmp.Diff(tt.want, got, cmp.Comparer(func(a, b netip.Addr) bool { return a == b }), cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); diff != "" {
					t.Errorf("(-want +got):\n%s", diff)
				}
			}
		})
	}
}

func TestRuleNormalize(t *testing.T) {
	p := netip.MustParsePrefix
	tests := []struct {
		name    string
		r       Rule
		want    Rule
		wantErr string
	}{
		{"fwmark gets full mask", Rule{FwMark: 1, Table: 100}, Rule{FwMark: 1, FwMask: 0xffffffff, Table: 100}, ""},
		{"family from prefix", Rule{To: p("2001:db8::/32"), Table: 100}, Rule{To: p("2001:db8::/32"), Table: 100, IPv6: true}, ""},
		{"no table", Rule{From: p("10.0.0.0/8")}, Rule{}, "needs a table"},
		{"host bits", Rule{From: p("10.0.0.1/8"), Table: 1}, Rule{}, "host bits set"},
		{"mixed families", Rule{From: p("10.0.0.0/8"), To: p("2001:db8::/32"), Table: 1}, Rule{}, "different address families"},
		{"blackhole needs no table", Rule{From: p("10.0.0.0/8"), Action: RuleBlackhole}, Rule{From: p("10.0.0.0/8"), Action: RuleBlackhole}, ""},
		{"prohibit with a table", Rule{Action: RuleProhibit, Table: 5}, Rule{}, "takes no table"},
		{"goto without a target", Rule{Action: RuleGoto}, Rule{}, "needs a priority to go to"},
		{"goto target without goto", Rule{Table: 5, Goto: 7}, Rule{}, "goto without the goto action"},
		{"port range upside down", Rule{Table: 5, SrcPorts: PortRange{Start: 9, End: 8}}, Rule{}, "bad port range"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.r.normalize()
			checkErr(t, err, tt.wantErr)
			if err == nil && got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestNormalizeKey(t *testing.T) {
	tests := []struct {
		key, want, wantErr string
	}{
		{"net.ipv4.ip_forward", "net/ipv4/ip_forward", ""},
		{"net/ipv4/conf/eth0.100/arp_ignore", "net/ipv4/conf/eth0.100/arp_ignore", ""},
		{"kernel.hostname", "", "only keys below net/"},
		{"net/../kernel/hostname", "", "bad path"},
		{"net//ipv4", "", "bad path"},
		{"net", "", "only keys below net/"},
		{"", "", "bad path"},
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			got, err := normalizeKey(tt.key)
			checkErr(t, err, tt.wantErr)
			if got != tt.want {
				t.Errorf("normalizeKey(%q) = %q, want %q", tt.key, got, tt.want)
			}
		})
	}
}

// FuzzNormalizeKey: whatever a caller passes, the path stays below
// /proc/sys/net.
func FuzzNormalizeKey(f *testing.F) {
	for _, s := range []string{"net.ipv4.ip_forward", "net/ipv4/conf/all/arp_ignore", "net/../../etc/passwd", "net/./x", "kernel.x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, key string) {
		k, err := normalizeKey(key)
		if err != nil {
			return
		}
		full := path.Clean("/proc/sys/" + k)
		if !strings.HasPrefix(full, "/proc/sys/net/") {
			t.Fatalf("key %q escapes to %q", key, full)
		}
	})
}

func TestNATSpecErrors(t *testing.T) {
	p, ap := netip.MustParsePrefix, netip.MustParseAddrPort
	tests := []struct {
		name    string
		spec    func() (natSpec, error)
		wantErr string
	}{
		{"masquerade ok", Masquerade{Source: p("192.168.0.0/24"), OutLink: "eth1"}.spec, ""},
		{"masquerade host bits", Masquerade{Source: p("192.168.0.1/24"), OutLink: "eth1"}.spec, "host bits set"},
		{"masquerade no prefix", Masquerade{OutLink: "eth1"}.spec, "bad prefix"},
		{"masquerade no link", Masquerade{Source: p("192.168.0.0/24")}.spec, "interface name"},
		{"dnat ok", DNAT{Dst: ap("203.0.113.1:80"), To: ap("192.168.0.253:80")}.spec, ""},
		{"dnat bad protocol", DNAT{Protocol: "sctp", Dst: ap("203.0.113.1:80"), To: ap("192.168.0.253:80")}.spec, `protocol "sctp"`},
		{"dnat no port", DNAT{Dst: ap("203.0.113.1:0"), To: ap("192.168.0.253:80")}.spec, "bad public address"},
		{"dnat families", DNAT{Dst: ap("203.0.113.1:80"), To: ap("[2001:db8::1]:80")}.spec, "different families"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.spec()
			checkErr(t, err, tt.wantErr)
		})
	}
}

func TestMatchPrefix(t *testing.T) {
	if e := matchPrefix(12, netip.MustParsePrefix("0.0.0.0/0")); len(e) != 0 {
		t.Errorf("/0 should match anything without expressions, got %d", len(e))
	}
	if e := matchPrefix(12, netip.MustParsePrefix("10.1.2.3/32")); len(e) != 2 {
		t.Errorf("/32 should be payload+cmp, got %d expressions", len(e))
	}
	if e := matchPrefix(12, netip.MustParsePrefix("10.0.0.0/12")); len(e) != 3 {
		t.Errorf("/12 should be payload+bitwise+cmp, got %d expressions", len(e))
	}
}

func checkErr(t *testing.T, err error, want string) {
	t.Helper()
	switch {
	case want == "" && err != nil:
		t.Errorf("unexpected error: %v", err)
	case want != "" && err == nil:
		t.Errorf("no error, want one containing %q", want)
	case want != "" && !strings.Contains(err.Error(), want):
		t.Errorf("error %q does not contain %q", err, want)
	}
}
