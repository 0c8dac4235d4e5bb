package ipvs

import (
	"fmt"
	"time"
)

// The kernel's limits on names (IP_VS_SCHEDNAME_MAXLEN and friends count
// the terminating NUL).
const (
	maxSchedNameLen = 15
	maxPENameLen    = 15
	maxIfNameLen    = 15
)

// KernelSchedulers returns the schedulers a Linux kernel ships as ip_vs_<name>
// modules. A backend may lack some (a kernel built without one, or the
// userspace backend); using one it lacks is an error wrapping
// ErrNotSupported.
func KernelSchedulers() []string {
	return []string{"rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "sed", "nq", "fo", "ovf", "mh", "twos"}
}

// invalid returns an error wrapping ErrInvalid that names the offending
// field of what.
func invalid(what, field, format string, args ...any) error {
	return fmt.Errorf("%s: %s %s: %w", what, field, fmt.Sprintf(format, args...), ErrInvalid)
}

// Validate reports whether s is a service the kernel would accept, the way
// ipvsadm and the kernel check it: identity (protocol, address and port, or
// firewall mark with a family), scheduler name, flags, persistence, and
// every destination. The error wraps ErrInvalid and names the field.
//
// Validate does not know which schedulers a backend has: a well-formed but
// unknown scheduler passes here and fails in Apply with ErrNotSupported,
// as the kernel does.
func (s *Service) Validate() error {
	what := "service " + s.Key().String()
	if s.FWMark != 0 {
		if s.Family != Inet && s.Family != Inet6 {
			return invalid(what, "Family", "%s: a firewall-mark service needs Family Inet or Inet6", s.Family)
		}
		if s.Addr.IsValid() {
			return invalid(what, "Addr", "%s: a firewall-mark service has no address", s.Addr)
		}
		if s.Port != 0 {
			return invalid(what, "Port", "%d: a firewall-mark service has no port", s.Port)
		}
		if s.Protocol != 0 && s.Protocol != TCP && s.Protocol != UDP && s.Protocol != SCTP {
			return invalid(what, "Protocol", "%s: not TCP, UDP or SCTP", s.Protocol)
		}
	} else {
		if !s.Addr.IsValid() {
			return invalid(what, "Addr", "missing: a service needs an address or a firewall mark")
		}
		if s.Addr.Zone() != "" {
			return invalid(what, "Addr", "%s: has a zone", s.Addr)
		}
		if s.Family != 0 && s.Family != FamilyOf(s.Addr) {
			return invalid(what, "Family", "%s does not match address %s", s.Family, s.Addr)
		}
		switch s.Protocol {
		case TCP, UDP, SCTP:
		default:
			return invalid(what, "Protocol", "%s: not TCP, UDP or SCTP", s.Protocol)
		}
		if s.Port == 0 && s.PersistenceTimeout == 0 {
			// ipvsadm: "Zero port specified for non-persistent service".
			return invalid(what, "Port", "zero for a non-persistent service")
		}
	}
	if err := validName(s.SchedulerName(), maxSchedNameLen); err != nil {
		return invalid(what, "Scheduler", "%q: %v", s.Scheduler, err)
	}
	if s.Flags&^userFlags != 0 {
		return invalid(what, "Flags", "%#x: unknown bits %#x", uint32(s.Flags), uint32(s.Flags&^userFlags))
	}
	if s.Flags&OnePacket != 0 && s.Protocol != UDP {
		// ipvsadm: "One-Packet Scheduling is only for UDP virtual services".
		return invalid(what, "Flags", "one-packet scheduling is only for UDP services")
	}
	if s.PersistenceTimeout < 0 {
		return invalid(what, "PersistenceTimeout", "%v: negative", s.PersistenceTimeout)
	}
	if s.PersistenceTimeout%time.Second != 0 {
		return invalid(what, "PersistenceTimeout", "%v: not a whole number of seconds", s.PersistenceTimeout)
	}
	if s.PersistenceTimeout/time.Second > 1<<31-1 {
		return invalid(what, "PersistenceTimeout", "%v: too long", s.PersistenceTimeout)
	}
	maxBits := 32
	if s.Key().Family == Inet6 {
		maxBits = 128
	}
	if s.PersistenceBits < 0 || s.PersistenceBits > maxBits {
		return invalid(what, "PersistenceBits", "%d: not in 1..%d", s.PersistenceBits, maxBits)
	}
	if s.PEName != "" {
		if err := validName(s.PEName, maxPENameLen); err != nil {
			return invalid(what, "PEName", "%q: %v", s.PEName, err)
		}
	}
	seen := make(map[DestinationKey]bool, len(s.Destinations))
	for i := range s.Destinations {
		d := &s.Destinations[i]
		if err := s.ValidateDestination(d); err != nil {
			return err
		}
		k := s.destKey(d)
		if seen[k] {
			return invalid(what, "Destinations", "%s: listed twice", k)
		}
		seen[k] = true
	}
	return nil
}

// ValidateDestination reports whether d is a real server the kernel would
// accept in s: weight, forwarding method, tunnel options, thresholds and
// address family. The error wraps ErrInvalid and names the field.
func (s *Service) ValidateDestination(d *Destination) error {
	what := fmt.Sprintf("service %s: destination %s", s.Key(), d.Key())
	if !d.Addr.IsValid() {
		return invalid(what, "Addr", "missing")
	}
	if d.Addr.Zone() != "" {
		return invalid(what, "Addr", "%s: has a zone", d.Addr)
	}
	if d.Weight < 0 || d.Weight > 65535 {
		return invalid(what, "Weight", "%d: not in 0..65535", d.Weight)
	}
	switch d.Forward {
	case Masquerade, DirectRoute, Tunnel:
	default:
		return invalid(what, "Forward", "%s: not NAT, DR or TUN", d.Forward)
	}
	if sf := s.Key().Family; sf != 0 && FamilyOf(d.Addr) != sf && d.Forward != Tunnel {
		// The kernel forwards to another family only through a tunnel.
		return invalid(what, "Addr", "%s is %s but the service is %s: only a Tunnel destination may differ", d.Addr, FamilyOf(d.Addr), sf)
	}
	if d.Forward == Tunnel {
		switch d.TunnelType {
		case TunnelIPIP:
			if d.TunnelFlags != 0 {
				return invalid(what, "TunnelFlags", "%#x: ipip has no checksum options", uint16(d.TunnelFlags))
			}
		case TunnelGUE:
			if d.TunnelPort == 0 {
				return invalid(what, "TunnelPort", "zero: gue needs a port")
			}
		case TunnelGRE:
			if d.TunnelFlags&TunnelRemoteCsum != 0 {
				return invalid(what, "TunnelFlags", "remote checksum is for gue only")
			}
		default:
			return invalid(what, "TunnelType", "%s: not ipip, gue or gre", d.TunnelType)
		}
		if d.TunnelType != TunnelGUE && d.TunnelPort != 0 {
			return invalid(what, "TunnelPort", "%d: only gue has a port", d.TunnelPort)
		}
		if d.TunnelFlags&^(TunnelCsum|TunnelRemoteCsum) != 0 {
			return invalid(what, "TunnelFlags", "%#x: unknown bits", uint16(d.TunnelFlags))
		}
		if d.TunnelFlags == TunnelCsum|TunnelRemoteCsum {
			return invalid(what, "TunnelFlags", "csum and remote csum exclude each other")
		}
	} else if d.TunnelType != 0 || d.TunnelPort != 0 || d.TunnelFlags != 0 {
		return invalid(what, "TunnelType", "tunnel options on a %s destination", d.Forward)
	}
	if d.LowerThreshold > d.UpperThreshold {
		// The kernel refuses it with ERANGE, also when Upper is 0 (none).
		return invalid(what, "LowerThreshold", "%d is above UpperThreshold %d", d.LowerThreshold, d.UpperThreshold)
	}
	return nil
}

// validName checks a kernel name field: non-empty, short, printable ASCII
// without spaces.
func validName(name string, maxLen int) error {
	if name == "" {
		return fmt.Errorf("empty")
	}
	if len(name) > maxLen {
		return fmt.Errorf("longer than %d bytes", maxLen)
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; c <= ' ' || c >= 0x7f {
			return fmt.Errorf("byte %#x at %d is not printable", c, i)
		}
	}
	return nil
}

// ValidateTable validates every service of a table and that no service
// appears twice. The error wraps ErrInvalid.
func ValidateTable(services []Service) error {
	seen := make(map[ServiceKey]bool, len(services))
	for i := range services {
		s := &services[i]
		if err := s.Validate(); err != nil {
			return err
		}
		k := s.Key()
		if seen[k] {
			return invalid("service "+k.String(), "key", "listed twice")
		}
		seen[k] = true
	}
	return nil
}

// validateOp checks an operation before any backend sends it.
func validateOp(op *Op) error {
	s := &op.Service
	switch op.Kind {
	case AddService, UpdateService:
		// Destinations are ignored by service operations.
		c := *s
		c.Destinations = nil
		return c.Validate()
	case DeleteService:
		return validateIdentity(s)
	case AddDestination, UpdateDestination:
		if err := validateIdentity(s); err != nil {
			return err
		}
		return s.ValidateDestination(&op.Destination)
	case DeleteDestination:
		if err := validateIdentity(s); err != nil {
			return err
		}
		if !op.Destination.Addr.IsValid() {
			return invalid(fmt.Sprintf("service %s: destination", s.Key()), "Addr", "missing")
		}
		return nil
	}
	return fmt.Errorf("operation %s: %w", op.Kind, ErrInvalid)
}

// validateIdentity checks only what names a service.
func validateIdentity(s *Service) error {
	what := "service " + s.Key().String()
	if s.FWMark != 0 {
		if s.Family != Inet && s.Family != Inet6 {
			return invalid(what, "Family", "%s: a firewall-mark service needs Family Inet or Inet6", s.Family)
		}
		return nil
	}
	if !s.Addr.IsValid() {
		return invalid(what, "Addr", "missing: a service needs an address or a firewall mark")
	}
	switch s.Protocol {
	case TCP, UDP, SCTP:
	default:
		return invalid(what, "Protocol", "%s: not TCP, UDP or SCTP", s.Protocol)
	}
	return nil
}

// destKey is the identity of d as the kernel stores it in s: a zero port
// means the service's port (what ipvsadm does for every forwarding method
// but NAT, and what a NAT server on the same port means).
func (s *Service) destKey(d *Destination) DestinationKey {
	k := d.Key()
	if k.Port == 0 && s.FWMark == 0 {
		k.Port = s.Port
	}
	return k
}
