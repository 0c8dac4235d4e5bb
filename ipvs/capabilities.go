package ipvs

import (
	"fmt"
	"slices"
)

// Capabilities says what a backend can carry. A backend answers for itself
// (Backend.Capabilities); a caller that has a table to program checks it
// first with Check and tells its user what cannot run, instead of learning
// it from the first failed Apply. Apply still refuses anything the backend
// lacks with an error wrapping ErrNotSupported.
type Capabilities struct {
	// Forwards are the forwarding methods destinations may use.
	Forwards []Forward
	// Protocols are the transport protocols of address services.
	Protocols []Protocol
	// Schedulers are the scheduler names services may use.
	Schedulers []string
	// PersistenceEngines are the persistence engines (PEName) it has.
	PersistenceEngines []string

	FWMark      bool // firewall-mark services
	PortZero    bool // port-zero (all ports) persistent services
	OnePacket   bool // the one-packet flag (UDP)
	Persistence bool // PersistenceTimeout
	Thresholds  bool // UpperThreshold / LowerThreshold
	SyncDaemon  bool // the connection sync daemon (DaemonController)
	// MixedForwards: the destinations of one service may use different
	// forwarding methods (NAT and DR side by side). Without it, all of a
	// service's destinations use one.
	MixedForwards bool
}

// Check returns nil when the backend can carry s as it is, else an error
// wrapping ErrNotSupported that names the first thing it cannot carry:
// the service's protocol, firewall mark, scheduler, flags, persistence, or
// a destination's forwarding method or thresholds.
func (c Capabilities) Check(s *Service) error {
	if err := c.checkService(s); err != nil {
		return fmt.Errorf("service %s: %w", s.Key(), err)
	}
	for i := range s.Destinations {
		if err := c.CheckDestination(&s.Destinations[i]); err != nil {
			return fmt.Errorf("service %s: %w", s.Key(), err)
		}
	}
	if !c.MixedForwards {
		for _, d := range s.Destinations[min(1, len(s.Destinations)):] {
			if d.Forward != s.Destinations[0].Forward {
				return fmt.Errorf("service %s: destinations forwarding by %s and %s: one method per service: %w",
					s.Key(), s.Destinations[0].Forward, d.Forward, ErrNotSupported)
			}
		}
	}
	return nil
}

func (c Capabilities) checkService(s *Service) error {
	notSupported := func(format string, args ...any) error {
		return fmt.Errorf(format+": %w", append(args, ErrNotSupported)...)
	}
	if s.FWMark != 0 {
		if !c.FWMark {
			return notSupported("firewall-mark services")
		}
	} else if !slices.Contains(c.Protocols, s.Protocol) {
		return notSupported("protocol %s", s.Protocol)
	}
	if s.FWMark == 0 && s.Port == 0 && !c.PortZero {
		return notSupported("port-zero (all ports) services")
	}
	if !slices.Contains(c.Schedulers, s.SchedulerName()) {
		return notSupported("scheduler %q", s.SchedulerName())
	}
	if s.Flags&OnePacket != 0 && !c.OnePacket {
		return notSupported("one-packet scheduling")
	}
	if s.PersistenceTimeout != 0 && !c.Persistence {
		return notSupported("persistence")
	}
	if s.PEName != "" && !slices.Contains(c.PersistenceEngines, s.PEName) {
		return notSupported("persistence engine %q", s.PEName)
	}
	return nil
}

// CheckDestination is Check's test of one destination: its forwarding
// method and thresholds.
func (c Capabilities) CheckDestination(d *Destination) error {
	if !slices.Contains(c.Forwards, d.Forward) {
		return fmt.Errorf("destination %s: forwarding %s: %w", d.Key(), d.Forward, ErrNotSupported)
	}
	if (d.UpperThreshold != 0 || d.LowerThreshold != 0) && !c.Thresholds {
		return fmt.Errorf("destination %s: connection thresholds: %w", d.Key(), ErrNotSupported)
	}
	return nil
}

// KernelCapabilities is what the kernel's IPVS can carry (the netlink
// backend's answer). Whether a scheduler or persistence engine module is
// present shows only when it is used.
func KernelCapabilities() Capabilities {
	return Capabilities{
		Forwards:           []Forward{Masquerade, DirectRoute, Tunnel, Local, Bypass},
		Protocols:          []Protocol{TCP, UDP, SCTP},
		Schedulers:         KernelSchedulers(),
		PersistenceEngines: []string{"sip"},
		FWMark:             true,
		PortZero:           true,
		OnePacket:          true,
		Persistence:        true,
		Thresholds:         true,
		SyncDaemon:         true,
		MixedForwards:      true,
	}
}
