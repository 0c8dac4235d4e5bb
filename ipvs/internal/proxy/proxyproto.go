package proxy

import (
	"encoding/binary"
	"net/netip"
)

// proxyV2Sig is the 12-byte signature that starts a PROXY protocol v2
// header.
var proxyV2Sig = [12]byte{0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A}

// Byte 13: version 2 in the high nibble, command PROXY (1) in the low one.
const proxyV2VerCmd = 0x21

// Byte 14: address family in the high nibble, transport in the low one.
const (
	proxyFamInet   = 0x10
	proxyFamInet6  = 0x20
	proxyTransTCP  = 0x01
	proxyTransUDP  = 0x02
	proxyV2HdrLen  = 16
	proxyAddrLen4  = 12
	proxyAddrLen6  = 36
	maxProxyHeader = proxyV2HdrLen + proxyAddrLen6
)

// appendProxyV2 appends a PROXY protocol v2 header that says a connection
// came from src to dst. Both must be of one family (IPv4-mapped addresses
// count as IPv4); if they are not, or are invalid, it appends a LOCAL
// header (the receiver then uses the connection's own addresses).
func appendProxyV2(b []byte, udp bool, src, dst netip.AddrPort) []byte {
	b = append(b, proxyV2Sig[:]...)
	s, d := src.Addr().Unmap(), dst.Addr().Unmap()
	trans := byte(proxyTransTCP)
	if udp {
		trans = proxyTransUDP
	}
	switch {
	case s.Is4() && d.Is4():
		b = append(b, proxyV2VerCmd, proxyFamInet|trans)
		b = binary.BigEndian.AppendUint16(b, proxyAddrLen4)
		a4, d4 := s.As4(), d.As4()
		b = append(b, a4[:]...)
		b = append(b, d4[:]...)
	case s.Is6() && d.Is6():
		b = append(b, proxyV2VerCmd, proxyFamInet6|trans)
		b = binary.BigEndian.AppendUint16(b, proxyAddrLen6)
		a16, d16 := s.As16(), d.As16()
		b = append(b, a16[:]...)
		b = append(b, d16[:]...)
	default:
		// LOCAL command, UNSPEC family, no addresses.
		return append(b, 0x20, 0x00, 0x00, 0x00)
	}
	b = binary.BigEndian.AppendUint16(b, src.Port())
	return binary.BigEndian.AppendUint16(b, dst.Port())
}
