package vrrp

import (
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// cmsg encodes one control message as the kernel lays it out.
func cmsg(level, typ int32, data []byte) []byte {
	var h unix.Cmsghdr
	h.Level, h.Type = level, typ
	h.SetLen(unix.CmsgLen(len(data)))
	b := make([]byte, unix.CmsgSpace(len(data)))
	if unix.SizeofCmsghdr == 16 {
		binary.NativeEndian.PutUint64(b, uint64(h.Len))
		binary.NativeEndian.PutUint32(b[8:], uint32(level))
		binary.NativeEndian.PutUint32(b[12:], uint32(typ))
	} else {
		binary.NativeEndian.PutUint32(b, uint32(h.Len))
		binary.NativeEndian.PutUint32(b[4:], uint32(level))
		binary.NativeEndian.PutUint32(b[8:], uint32(typ))
	}
	copy(b[unix.SizeofCmsghdr:], data)
	return b
}

func TestDecodeRecvIPv4(t *testing.T) {
	now := time.Unix(1000, 0)
	ttl := make([]byte, 4)
	binary.NativeEndian.PutUint32(ttl, 255)
	ts := make([]byte, 16)
	binary.NativeEndian.PutUint64(ts, 999) // one second before now
	binary.NativeEndian.PutUint64(ts[8:], 0)
	oob := append(cmsg(unix.SOL_SOCKET, unix.SCM_TIMESTAMPNS, ts), cmsg(unix.IPPROTO_IP, unix.IP_TTL, ttl)...)
	ip := []byte{0x45, 0, 0, 28, 0, 0, 0, 0, 255, 112, 0, 0, 10, 0, 0, 1, 224, 0, 0, 18}
	msg := append(ip, 0x21, 7, 100, 1, 0, 1, 0, 0)
	p, ok := decodeRecv(msg, oob, &unix.RawSockaddrInet6{}, sockKey{}, now)
	if !ok {
		t.Fatal("decodeRecv refused a good message")
	}
	if p.Src != netip.MustParseAddr("10.0.0.1") || p.Dst != GroupIPv4 || p.HopLimit != 255 ||
		!p.Received.Equal(time.Unix(999, 0)) || len(p.Data) != 8 || p.Data[1] != 7 {
		t.Errorf("decoded %+v", p)
	}
	if _, ok := decodeRecv(msg[:10], oob, &unix.RawSockaddrInet6{}, sockKey{}, now); ok {
		t.Errorf("decodeRecv took a message shorter than an IPv4 header")
	}
	if p, _ := decodeRecv(msg, nil, &unix.RawSockaddrInet6{}, sockKey{}, now); p.HopLimit != -1 || !p.Received.Equal(now) {
		t.Errorf("without control messages: hop limit %d, received %v; want -1 and the read time", p.HopLimit, p.Received)
	}
}

func TestDecodeRecvIPv6(t *testing.T) {
	hl := make([]byte, 4)
	binary.NativeEndian.PutUint32(hl, 255)
	info := make([]byte, 20)
	dst := GroupIPv6.As16()
	copy(info, dst[:])
	oob := append(cmsg(unix.IPPROTO_IPV6, unix.IPV6_HOPLIMIT, hl), cmsg(unix.IPPROTO_IPV6, unix.IPV6_PKTINFO, info)...)
	src := netip.MustParseAddr("fe80::1")
	name := &unix.RawSockaddrInet6{Family: unix.AF_INET6, Addr: src.As16()}
	msg := []byte{0x31, 7, 100, 1, 0, 100, 0, 0}
	p, ok := decodeRecv(msg, oob, name, sockKey{ipv6: true}, time.Unix(1000, 0))
	if !ok || p.Src != src || p.Dst != GroupIPv6 || p.HopLimit != 255 || len(p.Data) != 8 {
		t.Errorf("decoded %+v, %v", p, ok)
	}
}
