package vrrp

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
)

// VRRP version 2 with an IPsec Authentication Header (RFC 2402), as
// keepalived implements auth_type AH: the IPv4 datagram carries IP
// protocol 51, then a 24-byte AH header (next header 112) and the VRRP
// message, whose auth type is 2 and whose authentication data is zero.
//
// The AH header holds the sender's IPv4 address as its SPI, a sequence
// number, and an HMAC-MD5 of the datagram truncated to 96 bits (the ICV).
// The key is auth_pass, zero-padded to 8 bytes. The HMAC covers the IP
// header with its mutable fields zeroed — type of service, fragment
// offset and flags, header checksum, and the TTL only for unicast peers
// (keepalived keeps the multicast TTL of 255 in the hash) — then the AH
// header with a zero ICV, then the VRRP message. The identification
// field stays in the hash, so the sender chooses it (keepalived counts it
// from 1 per instance): the datagram is sent whole, IP header included.

// AH constants.
const (
	// IPProtocolAH is the IP protocol number of the Authentication Header.
	IPProtocolAH = 51
	// AuthAH is the VRRP version 2 auth type keepalived sends with an AH
	// header (RFC 2338's type 2).
	AuthAH = 2

	ipv4HeaderLen = 20
	ahLen         = 24 // next header, length, reserved, SPI, sequence, 96-bit ICV
	ahPayloadLen  = 4  // AH length in 32-bit words minus 2 (RFC 2402 2.2)
	ahICVLen      = 12 // HMAC-MD5-96
	// ahSeqMax: past it keepalived stops counting (the counter has "cycled").
	ahSeqMax = 0xfffffffd
	// ipTOSNetControl is the type of service keepalived sends (internet
	// network control).
	ipTOSNetControl = 0xc0
)

// AH is a decoded Authentication Header.
type AH struct {
	NextHeader uint8
	PayloadLen uint8
	SPI        [4]byte // keepalived: the sender's IPv4 address
	Seq        uint32
	ICV        [ahICVLen]byte
}

// AHDatagram describes the IPv4 datagram AppendAH builds around a VRRP
// message.
type AHDatagram struct {
	Src, Dst netip.Addr // IPv4
	// ID is the IP identification (keepalived: 1, 2, ... per instance,
	// never 0, which would let the kernel choose one after the hash).
	ID uint16
	// TTL is the time to live; 0 means 255.
	TTL uint8
	// Seq is the AH sequence number.
	Seq uint32
	// Unicast zeroes the TTL in the hash, as keepalived does with unicast
	// peers.
	Unicast bool
}

// AHKey is an AH key: auth_pass, zero-padded (keepalived keeps 8 bytes).
type AHKey [authDataLen]byte

// AHKeyFrom pads pass to a key; a longer pass is an error.
func AHKeyFrom(pass string) (AHKey, error) {
	var k AHKey
	if len(pass) > len(k) {
		return k, fmt.Errorf("ah key: %d bytes, at most %d", len(pass), len(k))
	}
	copy(k[:], pass)
	return k, nil
}

// AppendAH appends to b the IPv4 datagram carrying msg (a VRRP version 2
// message, from Advert.Marshal) behind an AH header, with its ICV
// computed with key. The IP header checksum is filled in too, though the
// kernel recomputes it on a raw socket with IP_HDRINCL.
func AppendAH(b []byte, msg []byte, d AHDatagram, key AHKey) ([]byte, error) {
	if !d.Src.Is4() || !d.Dst.Is4() {
		return nil, errors.New("marshal ah: source and destination must be IPv4")
	}
	total := ipv4HeaderLen + ahLen + len(msg)
	if total > 0xffff {
		return nil, fmt.Errorf("marshal ah: datagram of %d bytes", total)
	}
	ttl := d.TTL
	if ttl == 0 {
		ttl = 255
	}
	start := len(b)
	b = append(b, 0x45, ipTOSNetControl)
	b = binary.BigEndian.AppendUint16(b, uint16(total))
	b = binary.BigEndian.AppendUint16(b, d.ID)
	b = append(b, 0, 0, ttl, IPProtocolAH, 0, 0)
	s, t := d.Src.As4(), d.Dst.As4()
	b = append(b, s[:]...)
	b = append(b, t[:]...)
	b = append(b, IPProtocol, ahPayloadLen, 0, 0)
	b = append(b, s[:]...) // SPI
	b = binary.BigEndian.AppendUint32(b, d.Seq)
	b = append(b, make([]byte, ahICVLen)...)
	b = append(b, msg...)
	pkt := b[start:]
	icv := ahICV(pkt[:ipv4HeaderLen], pkt[ipv4HeaderLen:ipv4HeaderLen+ahLen], msg, key, d.Unicast)
	copy(pkt[ipv4HeaderLen+12:], icv[:])
	binary.BigEndian.PutUint16(pkt[10:], checksum(pkt[:ipv4HeaderLen], 0))
	return b, nil
}

// SplitAH takes apart an IPv4 datagram of protocol 51 as a raw socket
// reads it: the IP header and AH header (which the ICV covers, with the
// VRRP message) and the VRRP message. It checks only that the headers are
// there, that the AH header is keepalived's (96-bit ICV) and that it
// carries VRRP; the ICV is checked by VerifyAH.
func SplitAH(pkt []byte) (hdr, msg []byte, err error) {
	if len(pkt) < ipv4HeaderLen || pkt[0]>>4 != 4 {
		return nil, nil, decodeErr(ReasonShort, "not an IPv4 datagram")
	}
	hl := int(pkt[0]&0x0f) * 4
	if hl < ipv4HeaderLen || len(pkt) < hl {
		return nil, nil, decodeErr(ReasonShort, "IPv4 header length %d, have %d bytes", hl, len(pkt))
	}
	if pkt[9] != IPProtocolAH {
		return nil, nil, decodeErr(ReasonAuthType, "IP protocol %d, want %d (AH)", pkt[9], IPProtocolAH)
	}
	if len(pkt) < hl+ahLen {
		return nil, nil, decodeErr(ReasonShort, "%d bytes, an AH header needs %d", len(pkt), hl+ahLen)
	}
	ah := pkt[hl : hl+ahLen]
	if ah[0] != IPProtocol {
		return nil, nil, decodeErr(ReasonAHHeader, "next header %d, want %d (VRRP)", ah[0], IPProtocol)
	}
	if ah[1] != ahPayloadLen {
		return nil, nil, decodeErr(ReasonAHHeader, "AH length %d, want %d (HMAC-MD5-96)", ah[1], ahPayloadLen)
	}
	return pkt[:hl+ahLen], pkt[hl+ahLen:], nil
}

// DecodeAH reads the AH header at the end of hdr (from SplitAH).
func DecodeAH(hdr []byte) (AH, error) {
	var a AH
	if len(hdr) < ipv4HeaderLen+ahLen {
		return a, decodeErr(ReasonShort, "%d header bytes, need %d", len(hdr), ipv4HeaderLen+ahLen)
	}
	h := hdr[len(hdr)-ahLen:]
	a.NextHeader, a.PayloadLen = h[0], h[1]
	copy(a.SPI[:], h[4:8])
	a.Seq = binary.BigEndian.Uint32(h[8:12])
	copy(a.ICV[:], h[12:])
	return a, nil
}

// VerifyAH reports whether the ICV of a datagram split by SplitAH is the
// one key gives. unicast says whether the TTL is left out of the hash
// (keepalived: when the instance has unicast peers).
func VerifyAH(hdr, msg []byte, key AHKey, unicast bool) bool {
	if len(hdr) < ipv4HeaderLen+ahLen {
		return false
	}
	ah := hdr[len(hdr)-ahLen:]
	want := ahICV(hdr[:len(hdr)-ahLen], ah, msg, key, unicast)
	return subtle.ConstantTimeCompare(want[:], ah[12:]) == 1
}

// ahICV is the HMAC-MD5-96 of the IP header ip (with its mutable fields
// zeroed), the AH header ah (with a zero ICV) and the VRRP message msg.
func ahICV(ip, ah, msg []byte, key AHKey, unicast bool) [ahICVLen]byte {
	var h [60 + ahLen]byte // the longest IPv4 header and the AH header
	n := copy(h[:], ip)
	h[1] = 0          // type of service
	h[6], h[7] = 0, 0 // flags and fragment offset
	h[10], h[11] = 0, 0
	if unicast {
		h[8] = 0
	}
	copy(h[n:], ah[:12])
	n += ahLen // the ICV stays zero
	m := hmac.New(md5.New, key[:])
	m.Write(h[:n])
	m.Write(msg)
	var sum [md5.Size]byte
	var icv [ahICVLen]byte
	copy(icv[:], m.Sum(sum[:0]))
	return icv
}

// ahState is an instance's AH counters, keepalived's ipsecah_counter and
// ip_id: one sequence number for what the instance sends and what it
// accepts, so a backup that takes over goes on from the last number its
// master sent, and peers never see a number go back.
type ahState struct {
	seq   uint32
	cycle bool // the counter reached its end; reset on becoming master
	ipID  uint16
}

// received accepts a sequence number above every one seen or sent, and
// makes it the instance's.
func (s *ahState) received(seq uint32) bool {
	if seq <= s.seq {
		return false
	}
	s.seq = seq
	s.cycle = false
	return true
}

// next is the sequence number of the next advert. Past ahSeqMax it stays
// put (keepalived: "cycled"), so peers drop the adverts and take over.
func (s *ahState) next() uint32 {
	if s.seq > ahSeqMax {
		s.cycle = true
	} else {
		s.seq++
	}
	return s.seq
}

// nextID is the IP identification of the next advert: 1, 2, ... never 0.
func (s *ahState) nextID() uint16 {
	s.ipID++
	if s.ipID == 0 {
		s.ipID++
	}
	return s.ipID
}

// becomingMaster starts a cycled counter again, as keepalived does when
// an instance becomes master.
func (s *ahState) becomingMaster() {
	if s.cycle {
		s.cycle = false
		s.seq = 0
	}
}

// lowerAdvert is keepalived's answer, as master, to a lower-priority
// advert ("Syncing seq_num"): go on from the number after its own, so the
// answer is accepted there.
func (s *ahState) lowerAdvert(seq uint32) {
	s.seq = seq + 1
	s.cycle = false
}
