package vrrp

import (
	"bytes"
	"net/netip"
	"testing"
	"time"
)

func addSeeds(f *testing.F) {
	f.Add(mustHex(f, "21336401010100000a6300647365637265740000"), false)
	f.Add(mustHex(f, "3107c801000a00000a630064"), false)
	for _, a := range []struct {
		a   Advert
		dst netip.Addr
	}{
		{Advert{Version: 3, VRID: 9, Priority: 1, Interval: time.Second, Addrs: []netip.Addr{netip.MustParseAddr("fe80::9")}}, GroupIPv6},
		{Advert{Version: 2, VRID: 1, Priority: 0, Interval: time.Second}, GroupIPv4},
	} {
		b, err := a.a.Marshal(src4, a.dst)
		if a.dst.Is6() {
			b, err = a.a.Marshal(src6, a.dst)
		}
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, a.dst.Is6())
	}
}

// FuzzDecode: Decode never panics, and whatever it accepts is consistent
// with the input's length.
func FuzzDecode(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte, ipv6 bool) {
		a, err := Decode(b, ipv6)
		if err != nil {
			return
		}
		w := 4
		if ipv6 {
			w = 16
		}
		if len(b) < headerLen+len(a.Addrs)*w {
			t.Fatalf("decoded %d addresses from %d bytes", len(a.Addrs), len(b))
		}
		r := rxRules{version: a.Version, vrid: a.VRID, ipv6: ipv6}
		r.check(Packet{Src: src4, Dst: GroupIPv4, HopLimit: 255, Data: b})
	})
}

// FuzzRoundTrip: an accepted message re-encodes to the same bytes (up to
// its own length, with reserved bits cleared) and decodes to the same advert.
func FuzzRoundTrip(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte, ipv6 bool) {
		a, err := Decode(b, ipv6)
		if err != nil {
			return
		}
		src, dst := src4, GroupIPv4
		if ipv6 {
			src, dst = src6, GroupIPv6
		}
		out, err := a.Marshal(src, dst)
		if err != nil {
			// Values the decoder accepts but we never send: interval 0, or
			// a version 2 interval of 0 seconds.
			if a.Interval == 0 {
				return
			}
			t.Fatalf("marshal decoded advert %+v: %v", a, err)
		}
		if !VerifyChecksum(out, src, dst) {
			t.Fatalf("marshalled advert does not verify")
		}
		a2, err := Decode(out, ipv6)
		if err != nil {
			t.Fatalf("decode re-encoded: %v", err)
		}
		a.Checksum, a2.Checksum = 0, 0
		if a.Version != a2.Version || a.VRID != a2.VRID || a.Priority != a2.Priority || a.Interval != a2.Interval ||
			a.AuthType != a2.AuthType || a.AuthData != a2.AuthData || len(a.Addrs) != len(a2.Addrs) {
			t.Fatalf("round trip changed %+v to %+v", a, a2)
		}
		for i := range a.Addrs {
			if a.Addrs[i] != a2.Addrs[i] {
				t.Fatalf("address %d: %v became %v", i, a.Addrs[i], a2.Addrs[i])
			}
		}
		in := bytes.Clone(b[:len(out)])
		in[6], in[7] = 0, 0
		o := bytes.Clone(out)
		o[6], o[7] = 0, 0
		if a.Version == 2 {
			in[6], in[7] = 0, 0
		} else {
			in[4] &= 0x0f // reserved bits
		}
		if !bytes.Equal(in, o) {
			t.Fatalf("bytes changed:\n in % x\nout % x", in, o)
		}
	})
}

// FuzzAH: taking a datagram of IP protocol 51 apart never panics; what
// SplitAH accepts goes through the receive checks of an AH instance, and
// the VRRP message it carries, sealed again with the same fields, verifies
// and splits into the same message.
func FuzzAH(f *testing.F) {
	f.Add(mustHex(f, keepalivedAH), "abc123")
	f.Add(mustHex(f, keepalivedAH)[:50], "abc123")
	f.Add([]byte{0x46, 0, 0, 0}, "")
	f.Fuzz(func(t *testing.T, b []byte, pass string) {
		key, err := AHKeyFrom(pass)
		if err != nil {
			return
		}
		hdr, msg, err := SplitAH(b)
		if err != nil {
			return
		}
		if len(hdr)+len(msg) != len(b) {
			t.Fatalf("split %d bytes into %d + %d", len(b), len(hdr), len(msg))
		}
		h, err := DecodeAH(hdr)
		if err != nil {
			t.Fatalf("SplitAH accepted a header DecodeAH refuses: %v", err)
		}
		VerifyAH(hdr, msg, key, false)
		src := netip.AddrFrom4([4]byte(b[12:16]))
		r := rxRules{version: 2, vrid: 77, authType: AuthAH, ahKey: key, ah: &ahState{}, interval: time.Second}
		r.check(Packet{Src: src, Dst: GroupIPv4, HopLimit: 255, Data: msg, IPHeader: hdr})

		d := AHDatagram{Src: src, Dst: netip.AddrFrom4([4]byte(b[16:20])), ID: 1, Seq: h.Seq}
		out, err := AppendAH(nil, msg, d, key)
		if err != nil {
			return // too long for one datagram
		}
		hdr2, msg2, err := SplitAH(out)
		if err != nil || !bytes.Equal(msg2, msg) || !VerifyAH(hdr2, msg2, key, false) {
			t.Fatalf("resealed datagram: %v, message kept %v", err, bytes.Equal(msg2, msg))
		}
	})
}
