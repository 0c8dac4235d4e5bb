package vrrp

import (
	"errors"
	"net/netip"
	"testing"
	"time"
)

// keepalivedAH is an advert keepalived 2.2.7 sent with "auth_type AH,
// auth_pass abc123" (VRID 77, priority 150, VIP 10.99.7.100, from
// 10.99.7.1), captured by tshark: the IPv4 datagram, IP identification 1,
// AH sequence number 1.
const keepalivedAH = "45c0004000010000ff33c9530a630701e0000012" + // IPv4, TOS 0xc0, TTL 255, protocol 51
	"700400000a63070100000001" + "73960ede2cd9a6c0dee01c0e" + // AH: next 112, SPI = source, seq 1, ICV
	"214d9601020134e90a6307640000000000000000" // VRRP v2, auth type 2, zero auth data

func TestAHKeepalivedPacket(t *testing.T) {
	pkt := mustHex(t, keepalivedAH)
	key, err := AHKeyFrom("abc123")
	if err != nil {
		t.Fatal(err)
	}
	hdr, msg, err := SplitAH(pkt)
	if err != nil {
		t.Fatal(err)
	}
	if len(hdr) != 44 || len(msg) != 20 {
		t.Fatalf("split into %d + %d bytes, want 44 + 20", len(hdr), len(msg))
	}
	if !VerifyAH(hdr, msg, key, false) {
		t.Error("keepalived's ICV does not verify with its key")
	}
	wrong, _ := AHKeyFrom("abc124")
	if VerifyAH(hdr, msg, wrong, false) {
		t.Error("keepalived's ICV verifies with another key")
	}
	if VerifyAH(hdr, msg, key, true) {
		t.Error("a multicast advert verifies with the TTL left out (keepalived hashes it)")
	}
	h, err := DecodeAH(hdr)
	if err != nil {
		t.Fatal(err)
	}
	if h.NextHeader != IPProtocol || h.PayloadLen != 4 || netip.AddrFrom4(h.SPI) != netip.MustParseAddr("10.99.7.1") || h.Seq != 1 {
		t.Errorf("decoded %+v", h)
	}
	a, err := Decode(msg, false)
	if err != nil {
		t.Fatal(err)
	}
	if a.AuthType != AuthAH || a.VRID != 77 || a.Priority != 150 || a.AuthData != [8]byte{} {
		t.Errorf("decoded advert %+v", a)
	}

	// The same advert built here is the same datagram, byte for byte.
	src := netip.MustParseAddr("10.99.7.1")
	m, err := (&Advert{Version: 2, VRID: 77, Priority: 150, Interval: time.Second, AuthType: AuthAH,
		Addrs: []netip.Addr{netip.MustParseAddr("10.99.7.100")}}).Marshal(src, GroupIPv4)
	if err != nil {
		t.Fatal(err)
	}
	got, err := AppendAH(nil, m, AHDatagram{Src: src, Dst: GroupIPv4, ID: 1, Seq: 1}, key)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(pkt) {
		t.Errorf("built\n% x\nkeepalived sent\n% x", got, pkt)
	}
}

// TestAHMutableFields: the ICV survives what the network may change (type
// of service, fragment flags, header checksum; the TTL with unicast
// peers) and nothing else.
func TestAHMutableFields(t *testing.T) {
	key, _ := AHKeyFrom("k")
	msg := mustHex(t, "214d9601020134e90a6307640000000000000000")
	for _, unicast := range []bool{false, true} {
		d := AHDatagram{Src: netip.MustParseAddr("10.0.0.1"), Dst: netip.MustParseAddr("10.0.0.2"), ID: 9, Seq: 5, Unicast: unicast}
		pkt, err := AppendAH(nil, msg, d, key)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			name    string
			off     int
			survive bool
		}{
			{"tos", 1, true},
			{"flags", 6, true},
			{"fragment offset", 7, true},
			{"checksum", 10, true},
			{"ttl", 8, unicast},
			{"id", 4, false},
			{"total length", 3, false},
			{"source", 12, false},
			{"destination", 19, false},
			{"spi", 24, false},
			{"sequence", 31, false},
			{"vrrp priority", 46, false},
		} {
			p := append([]byte(nil), pkt...)
			p[c.off] ^= 0x11
			hdr, m, err := SplitAH(p)
			if err != nil {
				t.Fatal(err)
			}
			if got := VerifyAH(hdr, m, key, unicast); got != c.survive {
				t.Errorf("unicast %v: %s changed: verifies %v, want %v", unicast, c.name, got, c.survive)
			}
		}
	}
}

func TestSplitAHErrors(t *testing.T) {
	pkt := mustHex(t, keepalivedAH)
	for _, c := range []struct {
		name   string
		b      []byte
		reason DropReason
	}{
		{"empty", nil, ReasonShort},
		{"ipv6", append([]byte{0x60}, pkt[1:]...), ReasonShort},
		{"header length past the end", pkt[:21], ReasonShort},
		{"vrrp, not ah", append(append([]byte(nil), pkt[:9]...), append([]byte{112}, pkt[10:]...)...), ReasonAuthType},
		{"no room for ah", pkt[:30], ReasonShort},
		{"next header not vrrp", func() []byte { p := append([]byte(nil), pkt...); p[20] = 6; return p }(), ReasonAHHeader},
		{"other ICV length", func() []byte { p := append([]byte(nil), pkt...); p[21] = 5; return p }(), ReasonAHHeader},
	} {
		_, _, err := SplitAH(c.b)
		var de *DecodeError
		if !errors.As(err, &de) || de.Reason != c.reason {
			t.Errorf("%s: %v, want reason %s", c.name, err, c.reason)
		}
	}
}

func TestAHKeyFrom(t *testing.T) {
	k, err := AHKeyFrom("12345678")
	if want := (AHKey{'1', '2', '3', '4', '5', '6', '7', '8'}); err != nil || k != want {
		t.Errorf("8 bytes: %v %v", k, err)
	}
	if _, err := AHKeyFrom("123456789"); err == nil {
		t.Error("9 bytes accepted")
	}
}

// TestAHState: keepalived's counters — one sequence number for sending and
// receiving, replays refused, a lower master's number taken up, and the
// IP identification never 0.
func TestAHState(t *testing.T) {
	var s ahState
	if n := s.next(); n != 1 {
		t.Fatalf("first sequence number %d, want 1", n)
	}
	if s.received(1) {
		t.Error("our own last number accepted")
	}
	if !s.received(7) || s.next() != 8 {
		t.Error("a peer's higher number is not taken up")
	}
	if s.received(8) || s.received(3) {
		t.Error("a replayed or older number accepted")
	}
	s.lowerAdvert(20)
	if n := s.next(); n != 22 {
		t.Errorf("after a lower advert with 20, sent %d; keepalived sends 22", n)
	}
	s.seq = ahSeqMax + 1
	if n := s.next(); n != ahSeqMax+1 || !s.cycle {
		t.Errorf("at the end: %d, cycle %v", n, s.cycle)
	}
	s.becomingMaster()
	if s.next() != 1 {
		t.Error("a cycled counter does not start again on becoming master")
	}
	s.ipID = 0xffff
	if id := s.nextID(); id != 1 {
		t.Errorf("IP ID after 0xffff is %d, want 1", id)
	}
}
