package vrrp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"time"
)

// Protocol constants from RFC 3768 and RFC 5798.
const (
	// IPProtocol is the IP protocol number of VRRP.
	IPProtocol = 112
	// TypeAdvertisement is the only VRRP packet type both RFCs define.
	TypeAdvertisement = 1
	// AuthNone and AuthSimple are the RFC 2338/3768 authentication types
	// keepalived still speaks in version 2 ("auth_type PASS" is AuthSimple).
	AuthNone   = 0
	AuthSimple = 1
	// PriorityOwner is the priority of the router owning the virtual
	// addresses; PriorityStop is sent by a master that stops.
	PriorityOwner = 255
	PriorityStop  = 0

	headerLen   = 8
	authDataLen = 8
	// maxAdvertV3 is the largest Max Adver Int a version 3 packet carries
	// (12 bits of centiseconds).
	maxAdvertV3 = 0xfff * 10 * time.Millisecond
)

// Multicast groups VRRP adverts are sent to.
var (
	GroupIPv4 = netip.MustParseAddr("224.0.0.18")
	GroupIPv6 = netip.MustParseAddr("ff02::12")
)

// Advert is one VRRP advertisement, version 2 or 3.
type Advert struct {
	Version  int // 2 (RFC 3768) or 3 (RFC 5798)
	Type     int // TypeAdvertisement on send; decoded as received
	VRID     uint8
	Priority uint8
	// Interval is the advertisement interval: whole seconds in version 2,
	// centiseconds (at most 40.95 s) in version 3.
	Interval time.Duration
	// AuthType and AuthData exist in version 2 only.
	AuthType uint8
	AuthData [authDataLen]byte
	// Addrs are the virtual addresses: IPv4 in version 2; all IPv4 or all
	// IPv6 in version 3, matching the IP family the packet travels in.
	Addrs []netip.Addr
	// Checksum is the checksum field as decoded (Marshal computes its own).
	Checksum uint16
}

// DecodeError is returned by Decode; Reason says which receive rule the
// bytes break, and is the label the drop counter uses.
type DecodeError struct {
	Reason DropReason
	Detail string
}

func (e *DecodeError) Error() string { return "decode vrrp: " + string(e.Reason) + ": " + e.Detail }

func decodeErr(r DropReason, format string, args ...any) error {
	return &DecodeError{Reason: r, Detail: fmt.Sprintf(format, args...)}
}

// Decode parses a VRRP message (the IP payload). ipv6 tells which family
// it arrived in, which decides the address width. Decode checks structure
// only (version, type, length, address count); the checksum needs the IP
// addresses and is checked by VerifyChecksum. It never panics.
func Decode(b []byte, ipv6 bool) (Advert, error) {
	return decode(b, ipv6, nil)
}

// decode is Decode putting the addresses in buf's array when it is large
// enough (the receive path reuses one).
func decode(b []byte, ipv6 bool, buf []netip.Addr) (Advert, error) {
	var a Advert
	if len(b) < headerLen {
		return a, decodeErr(ReasonShort, "%d bytes, need at least %d", len(b), headerLen)
	}
	a.Version = int(b[0] >> 4)
	a.Type = int(b[0] & 0x0f)
	switch {
	case a.Version == 2 && ipv6:
		return a, decodeErr(ReasonVersion, "version 2 over IPv6")
	case a.Version != 2 && a.Version != 3:
		return a, decodeErr(ReasonVersion, "version %d", a.Version)
	}
	if a.Type != TypeAdvertisement {
		return a, decodeErr(ReasonType, "type %d", a.Type)
	}
	a.VRID = b[1]
	a.Priority = b[2]
	count := int(b[3])
	alen := 4
	if ipv6 {
		alen = 16
	}
	need := headerLen + count*alen
	if a.Version == 2 {
		a.AuthType = b[4]
		a.Interval = time.Duration(b[5]) * time.Second
		need += authDataLen
	} else {
		a.Interval = time.Duration(binary.BigEndian.Uint16(b[4:6])&0x0fff) * 10 * time.Millisecond
	}
	a.Checksum = binary.BigEndian.Uint16(b[6:8])
	if fixed := need - count*alen; len(b) < fixed {
		return a, decodeErr(ReasonShort, "%d bytes, version %d needs at least %d", len(b), a.Version, fixed)
	}
	if len(b) < need {
		return a, decodeErr(ReasonAddrCount, "%d addresses need %d bytes, have %d", count, need, len(b))
	}
	if count > 0 {
		a.Addrs = slices.Grow(buf[:0], count)[:count]
	}
	off := headerLen
	for i := range count {
		if ipv6 {
			a.Addrs[i] = netip.AddrFrom16([16]byte(b[off : off+16]))
		} else {
			a.Addrs[i] = netip.AddrFrom4([4]byte(b[off : off+4]))
		}
		off += alen
	}
	if a.Version == 2 {
		copy(a.AuthData[:], b[off:off+authDataLen])
	}
	return a, nil
}

// Marshal encodes a with its checksum. src and dst are the IP source and
// destination, needed by the version 3 pseudo-header (RFC 5798 5.2.8);
// version 2 checksums only the VRRP message (RFC 3768 5.3.8).
func (a *Advert) Marshal(src, dst netip.Addr) ([]byte, error) {
	return a.AppendMarshal(nil, src, dst)
}

// AppendMarshal is Marshal appending to b.
func (a *Advert) AppendMarshal(b []byte, src, dst netip.Addr) ([]byte, error) {
	ipv6 := dst.Is6() && !dst.Is4In6()
	if a.Version != 2 && a.Version != 3 {
		return nil, fmt.Errorf("marshal vrrp: version %d", a.Version)
	}
	if a.Version == 2 && ipv6 {
		return nil, errors.New("marshal vrrp: version 2 is IPv4 only")
	}
	if len(a.Addrs) > 255 {
		return nil, fmt.Errorf("marshal vrrp: %d addresses, at most 255", len(a.Addrs))
	}
	typ := a.Type
	if typ == 0 {
		typ = TypeAdvertisement
	}
	start := len(b)
	b = append(b, byte(a.Version<<4|typ&0x0f), a.VRID, a.Priority, byte(len(a.Addrs)))
	if a.Version == 2 {
		if a.Interval%time.Second != 0 || a.Interval < time.Second || a.Interval > 255*time.Second {
			return nil, fmt.Errorf("marshal vrrp: version 2 interval %v is not 1..255 whole seconds", a.Interval)
		}
		b = append(b, a.AuthType, byte(a.Interval/time.Second), 0, 0)
	} else {
		if a.Interval%(10*time.Millisecond) != 0 || a.Interval <= 0 || a.Interval > maxAdvertV3 {
			return nil, fmt.Errorf("marshal vrrp: version 3 interval %v is not 10ms..40.95s in centiseconds", a.Interval)
		}
		b = binary.BigEndian.AppendUint16(b, uint16(a.Interval/(10*time.Millisecond)))
		b = append(b, 0, 0)
	}
	for _, ip := range a.Addrs {
		switch {
		case ipv6 && ip.Is6() && !ip.Is4In6():
			s := ip.As16()
			b = append(b, s[:]...)
		case !ipv6 && ip.Is4():
			s := ip.As4()
			b = append(b, s[:]...)
		default:
			return nil, fmt.Errorf("marshal vrrp: address %v does not match the packet's family", ip)
		}
	}
	if a.Version == 2 {
		b = append(b, a.AuthData[:]...)
	}
	var sum uint16
	if a.Version == 3 {
		sum = checksum(b[start:], pseudoHeaderSum(src, dst, len(b)-start))
	} else {
		sum = checksum(b[start:], 0)
	}
	binary.BigEndian.PutUint16(b[start+6:], sum)
	return b, nil
}

// VerifyChecksum reports whether the VRRP message b received from src to
// dst carries a valid checksum for its version.
func VerifyChecksum(b []byte, src, dst netip.Addr) bool {
	if len(b) < headerLen {
		return false
	}
	var initial uint32
	if b[0]>>4 == 3 {
		initial = pseudoHeaderSum(src, dst, len(b))
	}
	// Summing a message with its checksum in place gives 0xffff, so the
	// folded complement is zero.
	return checksum(b, initial) == 0
}

// pseudoHeaderSum is the unfolded sum of the IPv4 (RFC 768 style) or IPv6
// (RFC 8200 8.1) pseudo-header for protocol 112.
func pseudoHeaderSum(src, dst netip.Addr, length int) uint32 {
	var s uint32
	add := func(p []byte) {
		for i := 0; i+1 < len(p); i += 2 {
			s += uint32(p[i])<<8 | uint32(p[i+1])
		}
	}
	if src.Is4() && dst.Is4() {
		a, d := src.As4(), dst.As4()
		add(a[:])
		add(d[:])
	} else {
		a, d := src.As16(), dst.As16()
		add(a[:])
		add(d[:])
		s += uint32(length >> 16)
	}
	s += uint32(length & 0xffff)
	s += IPProtocol
	return s
}

// checksum is the Internet checksum (RFC 1071) of b, started from initial,
// with the checksum field treated as it is in b.
func checksum(b []byte, initial uint32) uint16 {
	s := initial
	n := len(b)
	for i := 0; i+1 < n; i += 2 {
		s += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if n%2 == 1 {
		s += uint32(b[n-1]) << 8
	}
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return ^uint16(s)
}
