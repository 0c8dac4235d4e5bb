package ipvs

import (
	"fmt"
	"net/netip"

	"github.com/mdlayher/netlink"
	"github.com/ti-mo/conntrack"
	"github.com/ti-mo/netfilter"
)

// NAT's live connection counts come from conntrack, which keeps every
// connection the nat chain scheduled on its real server: a connection
// belongs to a NAT destination when conntrack DNATed it (its reply comes
// from the destination's address and port, or any port for a destination
// that keeps the packet's) and its original destination is the service's
// address and port, or its address for a port-zero service, or, for a
// firewall-mark service (conntrack does not keep the packet's mark), when
// that firewall-mark service is the only one of its family with such a
// destination. As IPVS counts them, an established TCP or SCTP
// connection is active; every other one (opening, closing, TIME_WAIT, and
// every UDP flow) is inactive.
//
// Conntrack keeps no count of connections that have ended, so it cannot
// give cumulative packet and byte counters: NAT destinations count the
// connections they were given at their first packet (the nat chain), and
// packets and bytes in filter chains of their own (nftables_natcount.go).

// Conntrack's TCP and SCTP state numbers for an established connection
// (TCP_CONNTRACK_ESTABLISHED, SCTP_CONNTRACK_ESTABLISHED).
const (
	ctTCPEstablished  = 3
	ctSCTPEstablished = 3
)

// natIndex finds the NAT destination of a conntrack entry.
type natIndex struct {
	byPort map[ServiceKey]*nftSvc // protocol, address and port
	byAddr map[ServiceKey]*nftSvc // port-zero services: protocol and address
	fwmark map[Family][]*nftSvc
}

func newNATIndex(st *nftState) (*natIndex, bool) {
	x := &natIndex{byPort: map[ServiceKey]*nftSvc{}, byAddr: map[ServiceKey]*nftSvc{}, fwmark: map[Family][]*nftSvc{}}
	has := false
	for k, s := range st.svcs {
		if len(s.Destinations) == 0 || s.dr() {
			continue
		}
		has = true
		switch {
		case k.FWMark != 0:
			x.fwmark[k.Family] = append(x.fwmark[k.Family], s)
		case k.Port == 0:
			x.byAddr[k] = s
		default:
			x.byPort[k] = s
		}
	}
	return x, has
}

// destOf returns the index of the destination of s that a connection
// answered from rs:rport went to, or -1.
func destOf(s *nftSvc, rs netip.Addr, rport uint16) int {
	for i := range s.Destinations {
		k := s.destKey(&s.Destinations[i])
		if k.Addr == rs && (k.Port == rport || k.Port == 0) {
			return i
		}
	}
	return -1
}

// find returns the service and destination index of f, or nil.
func (x *natIndex) find(f *conntrack.Flow) (*nftSvc, int) {
	orig, reply := f.TupleOrig, f.TupleReply
	vip := orig.IP.DestinationAddress.Unmap()
	rs := reply.IP.SourceAddress.Unmap()
	rport := reply.Proto.SourcePort
	fam := FamilyOf(vip)
	proto := Protocol(orig.Proto.Protocol)
	if s := x.byPort[ServiceKey{Family: fam, Protocol: proto, Addr: vip, Port: orig.Proto.DestinationPort}]; s != nil {
		if i := destOf(s, rs, rport); i >= 0 {
			return s, i
		}
	}
	if s := x.byAddr[ServiceKey{Family: fam, Protocol: proto, Addr: vip}]; s != nil {
		if i := destOf(s, rs, rport); i >= 0 {
			return s, i
		}
	}
	var found *nftSvc
	idx := -1
	for _, s := range x.fwmark[fam] {
		if i := destOf(s, rs, rport); i >= 0 {
			if found != nil {
				return nil, -1 // two firewall-mark services could own it
			}
			found, idx = s, i
		}
	}
	return found, idx
}

// active says whether IPVS would count f as an active connection.
func ctActive(f *conntrack.Flow) bool {
	switch {
	case f.ProtoInfo.TCP != nil:
		return f.ProtoInfo.TCP.State == ctTCPEstablished
	case f.ProtoInfo.SCTP != nil:
		return f.ProtoInfo.SCTP.State == ctSCTPEstablished
	}
	return false
}

// countNAT fills the active and inactive connection counts of st's NAT
// destinations from the namespace's conntrack table.
func (n *NFTables) countNAT(st *nftState) error {
	x, has := newNATIndex(st)
	if !has {
		return nil
	}
	c, err := conntrack.Dial(&netlink.Config{NetNS: int(n.ns)})
	if err != nil {
		return fmt.Errorf("open conntrack: %w", err)
	}
	defer c.Close()
	for fam, proto := range map[Family]netfilter.ProtoFamily{Inet: netfilter.ProtoIPv4, Inet6: netfilter.ProtoIPv6} {
		if !st.base[fam] {
			continue
		}
		flows, err := c.DumpFilter(conntrack.NewFilter().Family(proto), nil)
		if err != nil {
			return fmt.Errorf("dump conntrack: %w", err)
		}
		for i := range flows {
			f := &flows[i]
			if f.Status&conntrack.StatusDstNAT == 0 {
				continue
			}
			s, j := x.find(f)
			if s == nil {
				continue
			}
			if ctActive(f) {
				s.Destinations[j].ActiveConns++
			} else {
				s.Destinations[j].InactiveConns++
			}
		}
	}
	return nil
}
