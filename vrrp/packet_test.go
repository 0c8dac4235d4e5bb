package vrrp

import (
	"encoding/hex"
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var (
	src4 = netip.MustParseAddr("10.99.0.1")
	src6 = netip.MustParseAddr("fe80::1")
)

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestMarshalKnownBytes(t *testing.T) {
	pass := [8]byte{'s', 'e', 'c', 'r', 'e', 't'}
	tests := []struct {
		name string
		a    Advert
		src  netip.Addr
		dst  netip.Addr
		want string
	}{
		{
			// v2, VRID 51, prio 100, one address, PASS "secret": the
			// checksum covers the VRRP message only.
			name: "v2 pass",
			a:    Advert{Version: 2, VRID: 51, Priority: 100, Interval: time.Second, AuthType: AuthSimple, AuthData: pass, Addrs: []netip.Addr{netip.MustParseAddr("10.99.0.100")}},
			src:  src4, dst: GroupIPv4,
			want: "21336401010100000a6300647365637265740000",
		},
		{
			name: "v3 ipv4 100ms",
			a:    Advert{Version: 3, VRID: 7, Priority: 200, Interval: 100 * time.Millisecond, Addrs: []netip.Addr{netip.MustParseAddr("10.99.0.100")}},
			src:  src4, dst: GroupIPv4,
			want: "3107c801000a00000a630064",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.a.Marshal(tt.src, tt.dst)
			if err != nil {
				t.Fatal(err)
			}
			// Compare everything but the checksum, then verify the checksum
			// independently of Marshal.
			want := mustHex(t, tt.want)
			g := append([]byte(nil), got...)
			g[6], g[7] = 0, 0
			if diff := cmp.Diff(want, g); diff != "" {
				t.Errorf("bytes (-want +got):\n%s", diff)
			}
			if !VerifyChecksum(got, tt.src, tt.dst) {
				t.Errorf("checksum does not verify: % x", got)
			}
			if ref := refChecksum(got, tt.src, tt.dst); ref != 0 {
				t.Errorf("reference checksum of the message is %#x, want 0", ref)
			}
		})
	}
}

// refChecksum is an independent, slow RFC 1071 implementation over an
// explicit pseudo-header, used to check the fast one.
func refChecksum(msg []byte, src, dst netip.Addr) uint16 {
	var buf []byte
	if msg[0]>>4 == 3 {
		if src.Is4() {
			s, d := src.As4(), dst.As4()
			buf = append(buf, s[:]...)
			buf = append(buf, d[:]...)
			buf = append(buf, 0, IPProtocol, byte(len(msg)>>8), byte(len(msg)))
		} else {
			s, d := src.As16(), dst.As16()
			buf = append(buf, s[:]...)
			buf = append(buf, d[:]...)
			buf = append(buf, 0, 0, byte(len(msg)>>8), byte(len(msg)), 0, 0, 0, IPProtocol)
		}
	}
	buf = append(buf, msg...)
	if len(buf)%2 == 1 {
		buf = append(buf, 0)
	}
	var sum uint64
	for i := 0; i < len(buf); i += 2 {
		sum += uint64(buf[i])<<8 + uint64(buf[i+1])
	}
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}

func TestRoundTrip(t *testing.T) {
	tests := []struct {
		name     string
		a        Advert
		src, dst netip.Addr
	}{
		{"v2 none", Advert{Version: 2, VRID: 1, Priority: 255, Interval: 3 * time.Second, Addrs: []netip.Addr{netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")}}, src4, GroupIPv4},
		{"v3 ipv6", Advert{Version: 3, VRID: 9, Priority: 1, Interval: 40950 * time.Millisecond, Addrs: []netip.Addr{netip.MustParseAddr("fe80::9"), netip.MustParseAddr("2001:db8::9")}}, src6, GroupIPv6},
		{"v3 ipv4 unicast no addresses", Advert{Version: 3, VRID: 255, Priority: 0, Interval: 10 * time.Millisecond}, src4, netip.MustParseAddr("10.99.0.2")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := tt.a.Marshal(tt.src, tt.dst)
			if err != nil {
				t.Fatal(err)
			}
			if !VerifyChecksum(b, tt.src, tt.dst) || refChecksum(b, tt.src, tt.dst) != 0 {
				t.Fatalf("bad checksum % x", b)
			}
			got, err := Decode(b, tt.dst.Is6())
			if err != nil {
				t.Fatal(err)
			}
			want := tt.a
			want.Type = TypeAdvertisement
			got.Checksum = 0
			if diff := cmp.Diff(want, got, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			// v3's pseudo-header binds the checksum to the addresses.
			if tt.a.Version == 3 && VerifyChecksum(b, tt.src, netip.MustParseAddr("10.1.1.1")) && tt.src.Is4() {
				t.Errorf("v3 checksum verified with a different destination")
			}
		})
	}
}

func TestDecodeErrors(t *testing.T) {
	tests := []struct {
		name string
		hex  string
		ipv6 bool
		want DropReason
	}{
		{"empty", "", false, ReasonShort},
		{"7 bytes", "21336401010100", false, ReasonShort},
		{"v2 without auth data", "2133640001010000", false, ReasonShort},
		{"version 1", "11336401010100000a630064", false, ReasonVersion},
		{"version 2 over ipv6", "21336400010100000000000000000000", true, ReasonVersion},
		{"type 2", "3207c801000a00000a630064", false, ReasonType},
		{"v3 count 2, one address", "3107c802000a00000a630064", false, ReasonAddrCount},
		{"v3 ipv6 count 1, 4 bytes", "3107c801000a00000a630064", true, ReasonAddrCount},
		{"v2 count 2, one address", "21336402010100000a6300647365637265740000", false, ReasonAddrCount},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Decode(mustHex(t, tt.hex), tt.ipv6)
			var de *DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("err = %v, want a *DecodeError", err)
			}
			if de.Reason != tt.want {
				t.Errorf("reason = %q, want %q (%v)", de.Reason, tt.want, err)
			}
		})
	}
}

func TestMarshalErrors(t *testing.T) {
	tests := []struct {
		name string
		a    Advert
		dst  netip.Addr
	}{
		{"v2 over ipv6", Advert{Version: 2, Interval: time.Second}, GroupIPv6},
		{"v2 sub-second", Advert{Version: 2, Interval: 1500 * time.Millisecond}, GroupIPv4},
		{"v3 too long", Advert{Version: 3, Interval: 41 * time.Second}, GroupIPv4},
		{"v3 not centiseconds", Advert{Version: 3, Interval: 15 * time.Millisecond}, GroupIPv4},
		{"family mismatch", Advert{Version: 3, Interval: time.Second, Addrs: []netip.Addr{netip.MustParseAddr("fe80::1")}}, GroupIPv4},
		{"version 4", Advert{Version: 4, Interval: time.Second}, GroupIPv4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if b, err := tt.a.Marshal(src4, tt.dst); err == nil {
				t.Errorf("Marshal = % x, want an error", b)
			}
		})
	}
}

func TestReceiveChecks(t *testing.T) {
	vip := netip.MustParseAddr("10.99.0.100")
	pass := [8]byte{'p', 'w'}
	good := Advert{Version: 2, VRID: 51, Priority: 100, Interval: time.Second, AuthType: AuthSimple, AuthData: pass, Addrs: []netip.Addr{vip}}
	rules := func() rxRules {
		return rxRules{version: 2, vrid: 51, authType: AuthSimple, authData: pass, interval: time.Second,
			addrs: []netip.Addr{vip}, checkAddrs: true, self: netip.MustParseAddr("10.99.0.2")}
	}
	pkt := func(a Advert, mod func(b []byte)) Packet {
		b, err := a.Marshal(src4, GroupIPv4)
		if err != nil {
			t.Fatal(err)
		}
		if mod != nil {
			mod(b)
		}
		return Packet{Src: src4, Dst: GroupIPv4, HopLimit: 255, Data: b}
	}
	with := func(f func(a *Advert)) Advert { a := good; f(&a); return a }
	tests := []struct {
		name  string
		p     Packet
		rules func(r *rxRules)
		want  DropReason
	}{
		{"good", pkt(good, nil), nil, ""},
		{"ttl 254", func() Packet { p := pkt(good, nil); p.HopLimit = 254; return p }(), nil, ReasonTTL},
		{"ttl unknown", func() Packet { p := pkt(good, nil); p.HopLimit = -1; return p }(), nil, ReasonTTL},
		{"v3 to v2 instance", pkt(with(func(a *Advert) { a.Version = 3 }), nil), nil, ReasonVersion},
		{"bad checksum", pkt(good, func(b []byte) { b[7] ^= 1 }), nil, ReasonChecksum},
		{"other vrid", pkt(with(func(a *Advert) { a.VRID = 52 }), nil), nil, ReasonVRID},
		{"own packet", func() Packet { p := pkt(good, nil); p.Src = netip.MustParseAddr("10.99.0.2"); return p }(), nil, ReasonOwnPacket},
		{"we own the address", pkt(good, nil), func(r *rxRules) { r.owner = true }, ReasonOwner},
		{"no auth", pkt(with(func(a *Advert) { a.AuthType = AuthNone; a.AuthData = [8]byte{} }), nil), nil, ReasonAuthType},
		{"wrong password", pkt(with(func(a *Advert) { a.AuthData = [8]byte{'x'} }), nil), nil, ReasonAuth},
		{"interval 2s", pkt(with(func(a *Advert) { a.Interval = 2 * time.Second }), nil), nil, ReasonInterval},
		{"other addresses", pkt(with(func(a *Advert) { a.Addrs = []netip.Addr{netip.MustParseAddr("10.99.0.101")} }), nil), nil, ReasonAddrList},
		{"other addresses, check skipped", pkt(with(func(a *Advert) { a.Addrs = nil }), nil), func(r *rxRules) { r.checkAddrs = false }, ""},
		{"unicast source not a peer", pkt(good, nil), func(r *rxRules) { r.peers = []netip.Addr{netip.MustParseAddr("10.99.0.3")} }, ReasonPeer},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := rules()
			if tt.rules != nil {
				tt.rules(&r)
			}
			_, got, detail := r.check(tt.p)
			if got != tt.want {
				t.Errorf("check = %q (%s), want %q", got, detail, tt.want)
			}
		})
	}
	t.Run("truncated address list", func(t *testing.T) {
		p := pkt(good, nil)
		p.Data = p.Data[:10]
		r := rules()
		if _, got, _ := r.check(p); got != ReasonShort {
			t.Errorf("check = %q, want %q", got, ReasonShort)
		}
	})
}
