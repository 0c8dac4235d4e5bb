package ipvs

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"
)

// Sentinel errors a caller may branch on. Backends wrap them with what they
// were doing, so test with errors.Is.
var (
	// ErrNotSupported: the backend or the kernel cannot do this (no IPVS, a
	// missing scheduler module, DR in the userspace backend, ...).
	ErrNotSupported = errors.New("not supported")
	// ErrExists: the service or destination is already there.
	ErrExists = errors.New("already exists")
	// ErrNotFound: the service or destination is not there.
	ErrNotFound = errors.New("not found")
	// ErrInvalid: the service or destination is malformed (bad port, bad
	// weight, thresholds out of order, ...). The message names the field.
	ErrInvalid = errors.New("invalid")
)

// Protocol is the transport protocol of a service, as its IANA number.
type Protocol uint16

// Protocols a virtual service can carry.
const (
	TCP  Protocol = 6
	UDP  Protocol = 17
	SCTP Protocol = 132
)

func (p Protocol) String() string {
	switch p {
	case TCP:
		return "TCP"
	case UDP:
		return "UDP"
	case SCTP:
		return "SCTP"
	}
	return fmt.Sprintf("proto(%d)", uint16(p))
}

// Family is an address family, needed to name a firewall-mark service,
// which has no address of its own.
type Family uint16

// Address families, with the kernel's AF_* values.
const (
	Inet  Family = 2  // AF_INET
	Inet6 Family = 10 // AF_INET6
)

func (f Family) String() string {
	switch f {
	case Inet:
		return "inet"
	case Inet6:
		return "inet6"
	}
	return fmt.Sprintf("af(%d)", uint16(f))
}

// FamilyOf returns the family of a, Inet for IPv4 (and IPv4-mapped) addresses.
func FamilyOf(a netip.Addr) Family {
	if a.Unmap().Is4() {
		return Inet
	}
	return Inet6
}

// Forward is how the director hands a packet to a real server. The values are
// the kernel's IP_VS_CONN_F_* forwarding codes.
type Forward uint32

// Forwarding methods. keepalived's lb_kind NAT, DR and TUN are Masquerade,
// DirectRoute and Tunnel.
const (
	Masquerade  Forward = 0 // NAT: rewrite the destination address
	Local       Forward = 1 // deliver to a local socket
	Tunnel      Forward = 2 // TUN: encapsulate (ipip, gue or gre)
	DirectRoute Forward = 3 // DR: rewrite the MAC only
	Bypass      Forward = 4
)

func (f Forward) String() string {
	switch f {
	case Masquerade:
		return "nat"
	case Local:
		return "local"
	case Tunnel:
		return "tun"
	case DirectRoute:
		return "dr"
	case Bypass:
		return "bypass"
	}
	return fmt.Sprintf("forward(%d)", uint32(f))
}

// TunnelType is the encapsulation of a Tunnel destination (kernel
// IP_VS_CONN_F_TUNNEL_TYPE_*).
type TunnelType uint8

// Tunnel encapsulations.
const (
	TunnelIPIP TunnelType = 0
	TunnelGUE  TunnelType = 1
	TunnelGRE  TunnelType = 2
)

func (t TunnelType) String() string {
	switch t {
	case TunnelIPIP:
		return "ipip"
	case TunnelGUE:
		return "gue"
	case TunnelGRE:
		return "gre"
	}
	return fmt.Sprintf("tunnel(%d)", uint8(t))
}

// TunnelFlags are the kernel's IP_VS_TUNNEL_ENCAP_FLAG_* checksum options.
type TunnelFlags uint16

// Tunnel checksum options (GUE and GRE).
const (
	TunnelCsum       TunnelFlags = 1 << 0
	TunnelRemoteCsum TunnelFlags = 1 << 1
)

// ServiceFlags are the scheduler and service options of a service. The values
// are the kernel's IP_VS_SVC_F_* bits; the same bits mean sh-* for the sh
// scheduler and mh-* for mh, so use the names that fit the scheduler.
type ServiceFlags uint32

// Service flags settable by users. Persistence is not a flag here: it follows
// from ServicePersistence.Timeout, and the kernel's HASHED bit is internal.
const (
	OnePacket  ServiceFlags = 0x0004 // schedule every UDP datagram on its own
	SHFallback ServiceFlags = 0x0008 // sh: use another server when the hashed one is unavailable
	SHPort     ServiceFlags = 0x0010 // sh: hash the source port too
	MHFallback ServiceFlags = 0x0008 // mh: like sh-fallback
	MHPort     ServiceFlags = 0x0010 // mh: like sh-port
	Sched3     ServiceFlags = 0x0020 // third scheduler flag, unused by shipped schedulers

	userFlags = OnePacket | SHFallback | SHPort | Sched3
)

// Stats are a service's or destination's counters (64-bit, as the kernel's
// IPVS_*_ATTR_STATS64) and its estimated rates per second.
type Stats struct {
	Connections uint64
	PacketsIn   uint64
	PacketsOut  uint64
	BytesIn     uint64
	BytesOut    uint64
	CPS         uint64 // connections per second
	PPSIn       uint64
	PPSOut      uint64
	BPSIn       uint64 // bytes per second
	BPSOut      uint64
}

// ServiceKey is what identifies a virtual service: protocol, address and
// port, or family and firewall mark. It is comparable and usable as a map key.
type ServiceKey struct {
	Family   Family
	Protocol Protocol   // zero for a fwmark service
	Addr     netip.Addr // invalid (zero) for a fwmark service
	Port     uint16
	FWMark   uint32 // non-zero: a fwmark service
}

func (k ServiceKey) String() string {
	if k.FWMark != 0 {
		return fmt.Sprintf("FWM %d %s", k.FWMark, k.Family)
	}
	return fmt.Sprintf("%s %s", k.Protocol, netip.AddrPortFrom(k.Addr, k.Port))
}

// Service is one virtual service and its real servers, as the user wants it
// or as a backend reports it.
type Service struct {
	// Identity. Either Protocol+Addr+Port, or FWMark (with Family, which is
	// derived from Addr when Addr is set).
	Protocol Protocol
	Addr     netip.Addr
	Port     uint16
	FWMark   uint32
	Family   Family // zero: derived from Addr; required for fwmark services

	// Scheduler is the kernel scheduler's name (rr, wrr, lc, wlc, lblc,
	// lblcr, dh, sh, sed, nq, fo, ovf, mh). Empty means "wlc", the kernel's
	// and ipvsadm's default.
	Scheduler string
	Flags     ServiceFlags

	// Persistence: a client returns to the same real server for Timeout
	// after its last connection. Zero Timeout means not persistent.
	// PersistenceBits is the client netmask as a prefix length (keepalived's
	// persistence_granularity); zero means /32 for IPv4 and /128 for IPv6.
	PersistenceTimeout time.Duration
	PersistenceBits    int

	// PEName is a persistence engine ("sip"); empty for none.
	PEName string

	Destinations []Destination

	// Stats are filled by Backend.Dump and ignored by Diff.
	Stats Stats
}

// Key returns the identity of s.
func (s *Service) Key() ServiceKey {
	f := s.Family
	if f == 0 && s.Addr.IsValid() {
		f = FamilyOf(s.Addr)
	}
	if s.FWMark != 0 {
		return ServiceKey{Family: f, FWMark: s.FWMark}
	}
	return ServiceKey{Family: f, Protocol: s.Protocol, Addr: s.Addr.Unmap(), Port: s.Port}
}

func (s *Service) String() string { return s.Key().String() }

// SchedulerName returns the scheduler, with the default filled in.
func (s *Service) SchedulerName() string {
	if s.Scheduler == "" {
		return "wlc"
	}
	return s.Scheduler
}

// PersistenceMask returns the effective persistence prefix length.
func (s *Service) PersistenceMask() int {
	if s.PersistenceBits != 0 {
		return s.PersistenceBits
	}
	if s.Key().Family == Inet6 {
		return 128
	}
	return 32
}

// DestinationKey identifies a real server within a service.
type DestinationKey struct {
	Addr netip.Addr
	Port uint16
}

func (k DestinationKey) String() string { return netip.AddrPortFrom(k.Addr, k.Port).String() }

// Destination is one real server of a service.
type Destination struct {
	Addr netip.Addr
	Port uint16 // for DR and TUN the kernel ignores it; zero means the service's port

	// Weight: 0 takes the server out of new scheduling but keeps its
	// connections. Negative weights are invalid.
	Weight int32

	Forward     Forward
	TunnelType  TunnelType // Tunnel only
	TunnelPort  uint16     // GUE only
	TunnelFlags TunnelFlags

	// UpperThreshold (0 = none) stops new connections at this many
	// connections (active and inactive, as the kernel counts them) until
	// the count drops below LowerThreshold (0 = 3/4 of upper).
	UpperThreshold uint32
	LowerThreshold uint32

	// Filled by Backend.Dump, ignored by Diff.
	ActiveConns   uint32
	InactiveConns uint32
	PersistConns  uint32
	Stats         Stats
}

// Key returns the identity of d within its service.
func (d *Destination) Key() DestinationKey {
	return DestinationKey{Addr: d.Addr.Unmap(), Port: d.Port}
}

func (d *Destination) String() string { return d.Key().String() }

// DestinationKey returns the identity of d as s holds it: a zero port is
// the service's port (for address services), as Validate, Diff and the
// backends count it.
func (s *Service) DestinationKey(d *Destination) DestinationKey { return s.destKey(d) }

// OpKind says what an Op does.
type OpKind uint8

// The operations a Backend applies.
const (
	AddService OpKind = iota + 1
	UpdateService
	DeleteService
	AddDestination
	UpdateDestination
	DeleteDestination
)

func (k OpKind) String() string {
	switch k {
	case AddService:
		return "add service"
	case UpdateService:
		return "update service"
	case DeleteService:
		return "delete service"
	case AddDestination:
		return "add destination"
	case UpdateDestination:
		return "update destination"
	case DeleteDestination:
		return "delete destination"
	}
	return fmt.Sprintf("op(%d)", uint8(k))
}

// Op is one change to an IPVS table. Service names the service (for service
// operations its attributes too; its Destinations are ignored); Destination
// is used by the destination operations.
type Op struct {
	Kind        OpKind
	Service     Service
	Destination Destination
}

func (o Op) String() string {
	switch o.Kind {
	case AddDestination, UpdateDestination, DeleteDestination:
		return fmt.Sprintf("%s %s -> %s", o.Kind, o.Service.Key(), o.Destination.Key())
	}
	return fmt.Sprintf("%s %s", o.Kind, o.Service.Key())
}

// Backend is an IPVS table: the kernel's (over netlink), a userspace proxy's,
// or one in memory.
type Backend interface {
	// Dump returns every service with its destinations and stats.
	Dump(ctx context.Context) ([]Service, error)
	// Apply performs ops in order. It stops at the first failure and
	// returns an *ApplyError naming it; the ops before it stay applied.
	Apply(ctx context.Context, ops []Op) error
	// Capabilities says what the backend can carry; Apply refuses the
	// rest with errors wrapping ErrNotSupported.
	Capabilities() Capabilities
	// Close releases the backend. It is idempotent.
	Close() error
}

// ApplyError reports which operation of an Apply failed.
type ApplyError struct {
	Index int // position in the ops slice
	Op    Op
	Err   error
}

func (e *ApplyError) Error() string {
	return fmt.Sprintf("%s (op %d): %v", e.Op, e.Index, e.Err)
}

func (e *ApplyError) Unwrap() error { return e.Err }
