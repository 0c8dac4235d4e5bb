package vrrp

import (
	"encoding/binary"
	"net/netip"
	"time"
	"unsafe"

	"golang.org/x/net/ipv4"
	"golang.org/x/sys/unix"
)

// decodeRecv makes a Packet of one message read from a raw VRRP socket
// (key says which): b is what was read (for IPv4 with the IP header,
// which gives the addresses; behind it an AH header on an AH socket), oob
// its control messages (kernel receive time, TTL or hop limit, for IPv6
// the destination), name the sender's address (IPv6).
// now is when the batch was read: the receive time is now less the age
// the kernel's timestamp gives. It reports false for a message that is
// not an IP packet it can take apart, or on an AH socket not VRRP behind
// keepalived's AH header (IPsec traffic of others).
func decodeRecv(b, oob []byte, name *unix.RawSockaddrInet6, key sockKey, now time.Time) (Packet, bool) {
	ipv6 := key.ipv6
	wall := now.UnixNano()
	pkt := Packet{HopLimit: -1, Received: now}
	for len(oob) >= unix.SizeofCmsghdr {
		l, level, typ := cmsgHeader(oob)
		if l < unix.SizeofCmsghdr || l > len(oob) {
			break
		}
		d := oob[unix.SizeofCmsghdr:l]
		switch {
		case level == unix.SOL_SOCKET && typ == unix.SCM_TIMESTAMPNS:
			var ts int64
			switch len(d) {
			case 16:
				ts = int64(binary.NativeEndian.Uint64(d[0:8]))*1e9 + int64(binary.NativeEndian.Uint64(d[8:16]))
			case 8: // a 32-bit system's timespec
				ts = int64(int32(binary.NativeEndian.Uint32(d[0:4])))*1e9 + int64(int32(binary.NativeEndian.Uint32(d[4:8])))
			}
			if age := wall - ts; ts != 0 && age > 0 && age < int64(time.Minute) {
				pkt.Received = now.Add(-time.Duration(age))
			}
		case level == unix.IPPROTO_IP && typ == unix.IP_TTL && len(d) >= 4:
			pkt.HopLimit = int(int32(binary.NativeEndian.Uint32(d[0:4])))
		case level == unix.IPPROTO_IPV6 && typ == unix.IPV6_HOPLIMIT && len(d) >= 4:
			pkt.HopLimit = int(int32(binary.NativeEndian.Uint32(d[0:4])))
		case level == unix.IPPROTO_IPV6 && typ == unix.IPV6_PKTINFO && len(d) >= 20:
			if a := netip.AddrFrom16([16]byte(d[0:16])); !a.IsUnspecified() {
				pkt.Dst = a
			}
		}
		next := (l + cmsgAlign - 1) &^ (cmsgAlign - 1)
		if next >= len(oob) {
			break
		}
		oob = oob[next:]
	}
	if ipv6 {
		if name.Family == unix.AF_INET6 {
			pkt.Src = netip.AddrFrom16(name.Addr)
		}
	} else {
		// A raw IPv4 socket reads the IP header too.
		if len(b) < ipv4.HeaderLen || b[0]>>4 != 4 {
			return Packet{}, false
		}
		hl := int(b[0]&0x0f) * 4
		if hl < ipv4.HeaderLen || hl > len(b) {
			return Packet{}, false
		}
		pkt.Src = netip.AddrFrom4([4]byte(b[12:16]))
		pkt.Dst = netip.AddrFrom4([4]byte(b[16:20]))
		if key.ah {
			hdr, msg, err := SplitAH(b)
			if err != nil {
				return Packet{}, false
			}
			pkt.IPHeader = hdr
			b = msg
		} else {
			b = b[hl:]
		}
	}
	pkt.Data = b
	return pkt, true
}

// cmsgAlign is the alignment of control messages (CMSG_ALIGN).
const cmsgAlign = int(unsafe.Sizeof(uintptr(0)))

// cmsgHeader reads a control message header (struct cmsghdr, whose length
// field is a size_t) from b, which holds at least unix.SizeofCmsghdr bytes.
func cmsgHeader(b []byte) (length int, level, typ int32) {
	var h unix.Cmsghdr
	if unsafe.Sizeof(h.Len) == 8 {
		length = int(binary.NativeEndian.Uint64(b))
	} else {
		length = int(binary.NativeEndian.Uint32(b))
	}
	level = int32(binary.NativeEndian.Uint32(b[unsafe.Offsetof(h.Level):]))
	typ = int32(binary.NativeEndian.Uint32(b[unsafe.Offsetof(h.Type):]))
	return length, level, typ
}
