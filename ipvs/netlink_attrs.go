package ipvs

// The IPVS generic netlink protocol (include/uapi/linux/ip_vs.h): command
// and attribute numbers, and the pure encoding and decoding of services,
// destinations, statistics, sync daemons and info. No sockets here, so all
// of it is unit-tested and the decoders are fuzzed.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"net/netip"
	"time"

	"github.com/vishvananda/netlink/nl"
)

const ipvsGenlName = "IPVS"
const ipvsGenlVersion = 1

// Commands.
const (
	ipvsCmdNewService = 1
	ipvsCmdSetService = 2
	ipvsCmdDelService = 3
	ipvsCmdGetService = 4
	ipvsCmdNewDest    = 5
	ipvsCmdSetDest    = 6
	ipvsCmdDelDest    = 7
	ipvsCmdGetDest    = 8
	ipvsCmdNewDaemon  = 9
	ipvsCmdDelDaemon  = 10
	ipvsCmdGetDaemon  = 11
	ipvsCmdSetConfig  = 12
	ipvsCmdGetConfig  = 13
	ipvsCmdGetInfo    = 15
	ipvsCmdZero       = 16
	ipvsCmdFlush      = 17
)

// Top-level attributes.
const (
	ipvsCmdAttrService       = 1
	ipvsCmdAttrDest          = 2
	ipvsCmdAttrDaemon        = 3
	ipvsCmdAttrTimeoutTCP    = 4
	ipvsCmdAttrTimeoutTCPFin = 5
	ipvsCmdAttrTimeoutUDP    = 6
)

// Service attributes (nested in ipvsCmdAttrService).
const (
	ipvsSvcAttrAF        = 1
	ipvsSvcAttrProtocol  = 2
	ipvsSvcAttrAddr      = 3
	ipvsSvcAttrPort      = 4
	ipvsSvcAttrFWMark    = 5
	ipvsSvcAttrSchedName = 6
	ipvsSvcAttrFlags     = 7
	ipvsSvcAttrTimeout   = 8
	ipvsSvcAttrNetmask   = 9
	ipvsSvcAttrStats     = 10
	ipvsSvcAttrPEName    = 11
	ipvsSvcAttrStats64   = 12
)

// Destination attributes (nested in ipvsCmdAttrDest).
const (
	ipvsDestAttrAddr         = 1
	ipvsDestAttrPort         = 2
	ipvsDestAttrFwdMethod    = 3
	ipvsDestAttrWeight       = 4
	ipvsDestAttrUThresh      = 5
	ipvsDestAttrLThresh      = 6
	ipvsDestAttrActiveConns  = 7
	ipvsDestAttrInactConns   = 8
	ipvsDestAttrPersistConns = 9
	ipvsDestAttrStats        = 10
	ipvsDestAttrAddrFamily   = 11
	ipvsDestAttrStats64      = 12
	ipvsDestAttrTunType      = 13
	ipvsDestAttrTunPort      = 14
	ipvsDestAttrTunFlags     = 15
)

// Sync daemon attributes (nested in ipvsCmdAttrDaemon).
const (
	ipvsDaemonAttrState       = 1
	ipvsDaemonAttrMcastIfn    = 2
	ipvsDaemonAttrSyncID      = 3
	ipvsDaemonAttrSyncMaxLen  = 4
	ipvsDaemonAttrMcastGroup  = 5
	ipvsDaemonAttrMcastGroup6 = 6
	ipvsDaemonAttrMcastPort   = 7
	ipvsDaemonAttrMcastTTL    = 8
)

// Statistics attributes (nested in the *_STATS and *_STATS64 attributes).
const (
	ipvsStatsAttrConns    = 1
	ipvsStatsAttrInPkts   = 2
	ipvsStatsAttrOutPkts  = 3
	ipvsStatsAttrInBytes  = 4
	ipvsStatsAttrOutBytes = 5
	ipvsStatsAttrCPS      = 6
	ipvsStatsAttrInPPS    = 7
	ipvsStatsAttrOutPPS   = 8
	ipvsStatsAttrInBPS    = 9
	ipvsStatsAttrOutBPS   = 10
)

// Info attributes (top level of the GET_INFO reply).
const (
	ipvsInfoAttrVersion     = 1
	ipvsInfoAttrConnTabSize = 2
)

// Service flag bits the kernel keeps for itself.
const (
	svcFlagPersistent = 0x0001
	svcFlagHashed     = 0x0002
)

const fwdMask = 0x0007

const (
	nlaTypeMask  = 0x3fff // clears NLA_F_NESTED and NLA_F_NET_BYTEORDER
	nfInetAddrSz = 16
)

func be16(v uint16) []byte { return binary.BigEndian.AppendUint16(nil, v) }

// inetAddr encodes a as the kernel's union nf_inet_addr (16 bytes).
func inetAddr(a netip.Addr) []byte {
	b := make([]byte, nfInetAddrSz)
	a = a.Unmap()
	if a.Is4() {
		v := a.As4()
		copy(b, v[:])
	} else {
		v := a.As16()
		copy(b, v[:])
	}
	return b
}

// encodeService encodes s as an IPVS_CMD_ATTR_SERVICE nest: the full entry
// for IPVS_CMD_NEW_SERVICE / SET_SERVICE, or with full false only what
// names it.
func encodeService(s *Service, full bool) *nl.RtAttr {
	n := nl.NewRtAttr(ipvsCmdAttrService, nil)
	k := s.Key()
	n.AddRtAttr(ipvsSvcAttrAF, nl.Uint16Attr(uint16(k.Family)))
	if k.FWMark != 0 {
		n.AddRtAttr(ipvsSvcAttrFWMark, nl.Uint32Attr(k.FWMark))
	} else {
		n.AddRtAttr(ipvsSvcAttrProtocol, nl.Uint16Attr(uint16(k.Protocol)))
		n.AddRtAttr(ipvsSvcAttrAddr, inetAddr(k.Addr))
		n.AddRtAttr(ipvsSvcAttrPort, be16(k.Port))
	}
	if !full {
		return n
	}
	flags := uint32(s.Flags & userFlags)
	if s.PersistenceTimeout > 0 {
		flags |= svcFlagPersistent
	}
	// struct ip_vs_flags {flags, mask}: we own every bit but HASHED.
	fl := append(nl.Uint32Attr(flags), nl.Uint32Attr(^uint32(svcFlagHashed))...)
	n.AddRtAttr(ipvsSvcAttrSchedName, nl.ZeroTerminated(s.SchedulerName()))
	n.AddRtAttr(ipvsSvcAttrFlags, fl)
	n.AddRtAttr(ipvsSvcAttrTimeout, nl.Uint32Attr(uint32(s.PersistenceTimeout/time.Second)))
	n.AddRtAttr(ipvsSvcAttrNetmask, netmaskAttr(k.Family, s.PersistenceMask()))
	if s.PEName != "" {
		n.AddRtAttr(ipvsSvcAttrPEName, nl.ZeroTerminated(s.PEName))
	}
	return n
}

// netmaskAttr encodes the persistence mask: a netmask in network byte
// order for IPv4, a prefix length in host order for IPv6 (as the kernel
// and ipvsadm do).
func netmaskAttr(f Family, bits int) []byte {
	if f == Inet6 {
		return nl.Uint32Attr(uint32(bits))
	}
	return binary.BigEndian.AppendUint32(nil, ^uint32(0)<<(32-bits))
}

// encodeDest encodes d (of service s) as an IPVS_CMD_ATTR_DEST nest.
func encodeDest(s *Service, d *Destination, full bool) *nl.RtAttr {
	n := nl.NewRtAttr(ipvsCmdAttrDest, nil)
	k := s.destKey(d)
	n.AddRtAttr(ipvsDestAttrAddr, inetAddr(k.Addr))
	n.AddRtAttr(ipvsDestAttrPort, be16(k.Port))
	n.AddRtAttr(ipvsDestAttrAddrFamily, nl.Uint16Attr(uint16(FamilyOf(k.Addr))))
	if !full {
		return n
	}
	n.AddRtAttr(ipvsDestAttrFwdMethod, nl.Uint32Attr(uint32(d.Forward)))
	n.AddRtAttr(ipvsDestAttrWeight, nl.Uint32Attr(uint32(d.Weight)))
	n.AddRtAttr(ipvsDestAttrUThresh, nl.Uint32Attr(d.UpperThreshold))
	n.AddRtAttr(ipvsDestAttrLThresh, nl.Uint32Attr(d.LowerThreshold))
	if d.Forward == Tunnel {
		n.AddRtAttr(ipvsDestAttrTunType, nl.Uint8Attr(uint8(d.TunnelType)))
		n.AddRtAttr(ipvsDestAttrTunPort, be16(d.TunnelPort))
		n.AddRtAttr(ipvsDestAttrTunFlags, nl.Uint16Attr(uint16(d.TunnelFlags)))
	}
	return n
}

// rawAttr is a decoded attribute: its type (flags cleared) and payload.
type rawAttr struct {
	typ  uint16
	data []byte
}

var errShortAttr = errors.New("malformed netlink attribute")

// parseAttrs splits b into attributes. It never panics; malformed input is
// an error.
func parseAttrs(b []byte) ([]rawAttr, error) {
	var out []rawAttr
	for len(b) > 0 {
		if len(b) < 4 {
			return nil, errShortAttr
		}
		n := int(binary.NativeEndian.Uint16(b))
		if n < 4 || n > len(b) {
			return nil, errShortAttr
		}
		out = append(out, rawAttr{typ: binary.NativeEndian.Uint16(b[2:]) & nlaTypeMask, data: b[4:n]})
		n = align4(n)
		if n > len(b) {
			n = len(b)
		}
		b = b[n:]
	}
	return out, nil
}

func getU8(b []byte) (uint8, error) {
	if len(b) < 1 {
		return 0, errShortAttr
	}
	return b[0], nil
}

func getU16(b []byte) (uint16, error) {
	if len(b) < 2 {
		return 0, errShortAttr
	}
	return binary.NativeEndian.Uint16(b), nil
}

func getBE16(b []byte) (uint16, error) {
	if len(b) < 2 {
		return 0, errShortAttr
	}
	return binary.BigEndian.Uint16(b), nil
}

func getU32(b []byte) (uint32, error) {
	if len(b) < 4 {
		return 0, errShortAttr
	}
	return binary.NativeEndian.Uint32(b), nil
}

// getUint reads a counter that the kernel sends as u32 or u64.
func getUint(b []byte) (uint64, error) {
	switch len(b) {
	case 4:
		return uint64(binary.NativeEndian.Uint32(b)), nil
	case 8:
		return binary.NativeEndian.Uint64(b), nil
	}
	return 0, errShortAttr
}

func getString(b []byte) string {
	for i, c := range b {
		if c == 0 {
			return string(b[:i])
		}
	}
	return string(b)
}

func getAddr(f Family, b []byte) (netip.Addr, error) {
	switch {
	case f == Inet && len(b) >= 4:
		return netip.AddrFrom4([4]byte(b[:4])), nil
	case f == Inet6 && len(b) >= 16:
		return netip.AddrFrom16([16]byte(b[:16])), nil
	}
	return netip.Addr{}, fmt.Errorf("address of family %s in %d bytes: %w", f, len(b), errShortAttr)
}

// decodeStats reads a nested statistics attribute (32- or 64-bit).
func decodeStats(b []byte) (Stats, error) {
	as, err := parseAttrs(b)
	if err != nil {
		return Stats{}, err
	}
	var st Stats
	for _, a := range as {
		var p *uint64
		switch a.typ {
		case ipvsStatsAttrConns:
			p = &st.Connections
		case ipvsStatsAttrInPkts:
			p = &st.PacketsIn
		case ipvsStatsAttrOutPkts:
			p = &st.PacketsOut
		case ipvsStatsAttrInBytes:
			p = &st.BytesIn
		case ipvsStatsAttrOutBytes:
			p = &st.BytesOut
		case ipvsStatsAttrCPS:
			p = &st.CPS
		case ipvsStatsAttrInPPS:
			p = &st.PPSIn
		case ipvsStatsAttrOutPPS:
			p = &st.PPSOut
		case ipvsStatsAttrInBPS:
			p = &st.BPSIn
		case ipvsStatsAttrOutBPS:
			p = &st.BPSOut
		default:
			continue
		}
		v, err := getUint(a.data)
		if err != nil {
			return Stats{}, fmt.Errorf("stats attribute %d: %w", a.typ, err)
		}
		*p = v
	}
	return st, nil
}

// decodeService reads the payload of an IPVS_CMD_ATTR_SERVICE nest.
func decodeService(b []byte) (Service, error) {
	as, err := parseAttrs(b)
	if err != nil {
		return Service{}, err
	}
	var s Service
	var addr, stats32, stats64 []byte
	var netmask uint32
	haveMask := false
	for _, a := range as {
		switch a.typ {
		case ipvsSvcAttrAF:
			v, err := getU16(a.data)
			if err != nil {
				return Service{}, fmt.Errorf("service family: %w", err)
			}
			s.Family = Family(v)
		case ipvsSvcAttrProtocol:
			v, err := getU16(a.data)
			if err != nil {
				return Service{}, fmt.Errorf("service protocol: %w", err)
			}
			s.Protocol = Protocol(v)
		case ipvsSvcAttrAddr:
			addr = a.data
		case ipvsSvcAttrPort:
			if s.Port, err = getBE16(a.data); err != nil {
				return Service{}, fmt.Errorf("service port: %w", err)
			}
		case ipvsSvcAttrFWMark:
			if s.FWMark, err = getU32(a.data); err != nil {
				return Service{}, fmt.Errorf("service fwmark: %w", err)
			}
		case ipvsSvcAttrSchedName:
			s.Scheduler = getString(a.data)
		case ipvsSvcAttrFlags:
			v, err := getU32(a.data)
			if err != nil {
				return Service{}, fmt.Errorf("service flags: %w", err)
			}
			s.Flags = ServiceFlags(v) & userFlags
		case ipvsSvcAttrTimeout:
			v, err := getU32(a.data)
			if err != nil {
				return Service{}, fmt.Errorf("service timeout: %w", err)
			}
			s.PersistenceTimeout = time.Duration(v) * time.Second
		case ipvsSvcAttrNetmask:
			if len(a.data) < 4 {
				return Service{}, fmt.Errorf("service netmask: %w", errShortAttr)
			}
			netmask, haveMask = binary.NativeEndian.Uint32(a.data), true
		case ipvsSvcAttrPEName:
			s.PEName = getString(a.data)
		case ipvsSvcAttrStats:
			stats32 = a.data
		case ipvsSvcAttrStats64:
			stats64 = a.data
		}
	}
	if s.Family != Inet && s.Family != Inet6 {
		return Service{}, fmt.Errorf("service family %d: %w", s.Family, errShortAttr)
	}
	if s.FWMark != 0 {
		s.Protocol, s.Port = 0, 0
	} else if s.Addr, err = getAddr(s.Family, addr); err != nil {
		return Service{}, fmt.Errorf("service address: %w", err)
	}
	if haveMask {
		if s.Family == Inet6 {
			s.PersistenceBits = int(min(netmask, 128))
		} else {
			// The IPv4 mask is in network byte order in a native u32.
			var raw [4]byte
			binary.NativeEndian.PutUint32(raw[:], netmask)
			s.PersistenceBits = bits.LeadingZeros32(^binary.BigEndian.Uint32(raw[:]))
		}
	}
	if s.PersistenceBits == 0 {
		s.PersistenceBits = s.PersistenceMask()
	}
	switch {
	case stats64 != nil:
		s.Stats, err = decodeStats(stats64)
	case stats32 != nil:
		s.Stats, err = decodeStats(stats32)
	}
	if err != nil {
		return Service{}, fmt.Errorf("service stats: %w", err)
	}
	return s, nil
}

// decodeDest reads the payload of an IPVS_CMD_ATTR_DEST nest; svcFamily
// is used when the kernel does not say the destination's family.
func decodeDest(b []byte, svcFamily Family) (Destination, error) {
	as, err := parseAttrs(b)
	if err != nil {
		return Destination{}, err
	}
	var d Destination
	var addr, stats32, stats64 []byte
	f := svcFamily
	for _, a := range as {
		var v32 uint32
		switch a.typ {
		case ipvsDestAttrAddr:
			addr = a.data
			continue
		case ipvsDestAttrPort:
			d.Port, err = getBE16(a.data)
		case ipvsDestAttrAddrFamily:
			var v uint16
			v, err = getU16(a.data)
			f = Family(v)
		case ipvsDestAttrTunType:
			var v uint8
			v, err = getU8(a.data)
			d.TunnelType = TunnelType(v)
		case ipvsDestAttrTunPort:
			d.TunnelPort, err = getBE16(a.data)
		case ipvsDestAttrTunFlags:
			var v uint16
			v, err = getU16(a.data)
			d.TunnelFlags = TunnelFlags(v)
		case ipvsDestAttrStats:
			stats32 = a.data
			continue
		case ipvsDestAttrStats64:
			stats64 = a.data
			continue
		case ipvsDestAttrFwdMethod, ipvsDestAttrWeight, ipvsDestAttrUThresh, ipvsDestAttrLThresh,
			ipvsDestAttrActiveConns, ipvsDestAttrInactConns, ipvsDestAttrPersistConns:
			v32, err = getU32(a.data)
			switch a.typ {
			case ipvsDestAttrFwdMethod:
				d.Forward = Forward(v32 & fwdMask)
			case ipvsDestAttrWeight:
				d.Weight = int32(v32)
			case ipvsDestAttrUThresh:
				d.UpperThreshold = v32
			case ipvsDestAttrLThresh:
				d.LowerThreshold = v32
			case ipvsDestAttrActiveConns:
				d.ActiveConns = v32
			case ipvsDestAttrInactConns:
				d.InactiveConns = v32
			case ipvsDestAttrPersistConns:
				d.PersistConns = v32
			}
		default:
			continue
		}
		if err != nil {
			return Destination{}, fmt.Errorf("destination attribute %d: %w", a.typ, err)
		}
	}
	if d.Addr, err = getAddr(f, addr); err != nil {
		return Destination{}, fmt.Errorf("destination address: %w", err)
	}
	if d.Forward != Tunnel {
		// The kernel keeps tunnel options of other methods; they mean nothing.
		d.TunnelType, d.TunnelPort, d.TunnelFlags = 0, 0, 0
	}
	switch {
	case stats64 != nil:
		d.Stats, err = decodeStats(stats64)
	case stats32 != nil:
		d.Stats, err = decodeStats(stats32)
	}
	if err != nil {
		return Destination{}, fmt.Errorf("destination stats: %w", err)
	}
	return d, nil
}

// nested returns the payload of the first top-level attribute of type typ.
func nested(payload []byte, typ uint16) ([]byte, error) {
	as, err := parseAttrs(payload)
	if err != nil {
		return nil, err
	}
	for _, a := range as {
		if a.typ == typ {
			return a.data, nil
		}
	}
	return nil, fmt.Errorf("attribute %d missing: %w", typ, errShortAttr)
}

func align4(n int) int { return (n + 3) &^ 3 }
