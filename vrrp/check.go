package vrrp

import (
	"fmt"
	"net/netip"
	"slices"
	"time"
)

// DropReason names the receive rule a dropped packet broke. It is the
// "reason" label of the drops counter.
type DropReason string

// The receive rules of RFC 3768 7.1 and RFC 5798 7.1 (each a MUST), plus
// the keepalived checks the RFCs allow (address list) and the shell's own.
const (
	ReasonTTL       DropReason = "ttl"        // TTL / hop limit is not 255
	ReasonVersion   DropReason = "version"    // not the configured version
	ReasonType      DropReason = "type"       // not an advertisement
	ReasonShort     DropReason = "short"      // shorter than the fixed fields
	ReasonAddrCount DropReason = "addr_count" // address count does not fit the length
	ReasonChecksum  DropReason = "checksum"   // bad checksum
	ReasonVRID      DropReason = "vrid"       // VRID not configured here
	ReasonOwner     DropReason = "owner"      // we own the addresses (priority 255)
	ReasonAuthType  DropReason = "auth_type"  // auth type differs (v2)
	ReasonAuth      DropReason = "auth"       // password differs, or the AH ICV does not match: a wrong key (v2)
	ReasonAHHeader  DropReason = "ah_header"  // AH header not keepalived's (HMAC-MD5-96 over VRRP)
	ReasonAHSPI     DropReason = "ah_spi"     // AH SPI is not the sender's address
	ReasonAHReplay  DropReason = "ah_replay"  // AH sequence number already seen (keepalived's anti-replay)
	ReasonInterval  DropReason = "interval"   // advert interval differs (v2)
	ReasonAddrList  DropReason = "addr_list"  // addresses differ from ours (keepalived drops these)
	ReasonOwnPacket DropReason = "own_packet" // our own advert looped back
	ReasonPeer      DropReason = "peer"       // unicast source not a configured peer
	ReasonQueueFull DropReason = "queue_full" // the instance could not keep up
)

// Packet is one received VRRP message with what the IP layer told about it.
type Packet struct {
	Src, Dst netip.Addr
	// HopLimit is the IPv4 TTL or IPv6 hop limit from the control message;
	// -1 when the transport could not tell (the packet is then dropped).
	HopLimit int
	// Data is the VRRP message (the IP payload). The receiver owns it.
	Data []byte
	// IPHeader is set for a packet that came with an AH header (IP
	// protocol 51): the IPv4 header and the AH header as received, which
	// the AH ICV covers with Data (see SplitAH). The receiver owns it.
	IPHeader []byte
	// Received is when the transport read the packet (zero if unknown).
	// With the system clock, timers restart from this instant rather than
	// from when the instance got to the packet, as the RFC intends.
	Received time.Time
}

// rxRules is what the receive checks compare a packet against.
type rxRules struct {
	version    int
	vrid       uint8
	ipv6       bool
	owner      bool // local priority is 255
	authType   uint8
	authData   [authDataLen]byte
	interval   time.Duration // checked in version 2 only
	addrs      []netip.Addr  // sorted; nil with skipAddrCheck
	checkAddrs bool
	self       netip.Addr
	peers      []netip.Addr // non-nil: accept unicast only from these
	ahKey      AHKey
	ahUnicast  bool         // the TTL is left out of the ICV
	ah         *ahState     // the instance's AH sequence numbers (with AuthAH)
	ahSeq      uint32       // the sequence number of the last AH packet accepted
	scratch    []netip.Addr // the addresses of the packet being checked
}

// check applies every receive rule, in the RFC's order, and returns the
// decoded advert or the reason to drop it with a detail for the log. The
// advert's addresses live in r's scratch buffer until the next check.
func (r *rxRules) check(p Packet) (Advert, DropReason, string) {
	if p.HopLimit != 255 {
		return Advert{}, ReasonTTL, fmt.Sprintf("ttl %d", p.HopLimit)
	}
	a, err := decode(p.Data, r.ipv6, r.scratch)
	if cap(a.Addrs) > cap(r.scratch) {
		r.scratch = a.Addrs[:0]
	}
	if err != nil {
		de := err.(*DecodeError)
		return a, de.Reason, de.Detail
	}
	if a.Version != r.version {
		return a, ReasonVersion, fmt.Sprintf("version %d, want %d", a.Version, r.version)
	}
	if !VerifyChecksum(p.Data, p.Src, p.Dst) {
		return a, ReasonChecksum, fmt.Sprintf("checksum %#04x", a.Checksum)
	}
	if a.VRID != r.vrid {
		return a, ReasonVRID, fmt.Sprintf("vrid %d, want %d", a.VRID, r.vrid)
	}
	if r.self.IsValid() && p.Src == r.self {
		return a, ReasonOwnPacket, "source is our own address"
	}
	if r.peers != nil && !slices.Contains(r.peers, p.Src) {
		return a, ReasonPeer, fmt.Sprintf("source %v is not a unicast peer", p.Src)
	}
	if r.version == 2 {
		if ah := p.IPHeader != nil; ah != (r.authType == AuthAH) {
			if ah {
				return a, ReasonAuthType, "AH header, but the auth type is not AH"
			}
			return a, ReasonAuthType, "no AH header, but the auth type is AH"
		}
		if a.AuthType != r.authType {
			return a, ReasonAuthType, fmt.Sprintf("auth type %d, want %d", a.AuthType, r.authType)
		}
		if r.authType == AuthSimple && a.AuthData != r.authData {
			return a, ReasonAuth, "password mismatch"
		}
		if r.authType == AuthAH {
			if reason, detail := r.checkAH(p); reason != "" {
				return a, reason, detail
			}
		}
		if a.Interval != r.interval {
			return a, ReasonInterval, fmt.Sprintf("interval %v, want %v", a.Interval, r.interval)
		}
	}
	// With AH an owner takes adverts in, as keepalived's does: it answers
	// a lower one at once with the sequence number after it, the only way
	// a restarted owner's adverts stop being replays at a peer that
	// counted on meanwhile.
	if r.owner && r.authType != AuthAH {
		return a, ReasonOwner, "we are the address owner"
	}
	// RFC 3768/5798: MAY verify the address list; keepalived does and drops
	// on mismatch, an advert of priority 255 (from an owner) included.
	if r.checkAddrs && !sameAddrs(a.Addrs, r.addrs) {
		return a, ReasonAddrList, fmt.Sprintf("addresses %v, want %v", a.Addrs, r.addrs)
	}
	return a, "", ""
}

// sameAddrs compares a with the sorted set want, order-insensitively. It
// sorts a.
func sameAddrs(a, want []netip.Addr) bool {
	if len(a) != len(want) {
		return false
	}
	slices.SortFunc(a, netip.Addr.Compare)
	return slices.Equal(a, want)
}

// checkAH verifies the AH header of p as keepalived does: the ICV, the SPI
// (the sender's address), then the sequence number, which must be above
// every one the instance has seen or sent; a packet passing all three
// raises the instance's sequence number to its own.
func (r *rxRules) checkAH(p Packet) (DropReason, string) {
	if !VerifyAH(p.IPHeader, p.Data, r.ahKey, r.ahUnicast) {
		return ReasonAuth, "AH ICV mismatch (wrong key, or a field changed on the way)"
	}
	h, err := DecodeAH(p.IPHeader)
	if err != nil {
		de := err.(*DecodeError)
		return de.Reason, de.Detail
	}
	if src := netip.AddrFrom4(h.SPI); src != p.Src {
		return ReasonAHSPI, fmt.Sprintf("SPI %v, source %v", src, p.Src)
	}
	if r.ah != nil && !r.ah.received(h.Seq) {
		return ReasonAHReplay, fmt.Sprintf("sequence number %d, already at %d", h.Seq, r.ah.seq)
	}
	r.ahSeq = h.Seq
	return "", ""
}
