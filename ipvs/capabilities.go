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
	SchedFlag3  bool // the scheduler flag-3 (Sched3), which no shipped scheduler reads
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

// Feature is one thing a service or a destination may ask of a backend;
// a Refusal names the one it cannot carry.
type Feature int

// The features Capabilities answers for.
const (
	FeatureProtocol          Feature = iota + 1 // the protocol of an address service
	FeatureFWMark                               // a firewall-mark service
	FeaturePortZero                             // a port-zero (all ports) service
	FeatureScheduler                            // the scheduler
	FeatureSchedFlag3                           // the scheduler flag-3 (Sched3)
	FeatureOnePacket                            // one-packet scheduling
	FeaturePersistence                          // PersistenceTimeout
	FeaturePersistenceEngine                    // PEName
	FeatureForward                              // a destination's forwarding method
	FeatureThresholds                           // a destination's connection thresholds
)

// Refusal is one part of a service that a backend cannot carry.
type Refusal struct {
	Feature Feature
	// Destination is the index in Service.Destinations of the refused
	// destination, or -1 when the service itself is refused.
	Destination int
	// Err says what, wrapping ErrNotSupported: "protocol SCTP: not
	// supported", "destination 192.0.2.10:80: forwarding dr: not
	// supported".
	Err error
}

// Check returns nil when the backend can carry s as it is, else an error
// wrapping ErrNotSupported that names the first thing it cannot carry:
// the service's protocol, firewall mark, scheduler, flags, persistence, or
// a destination's forwarding method or thresholds.
func (c Capabilities) Check(s *Service) error {
	if r := c.Refusals(s); len(r) > 0 {
		return fmt.Errorf("service %s: %w", s.Key(), r[0].Err)
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

// Refusals returns every part of s the backend cannot carry, service first
// and then each destination in order; Check reports the first. A caller
// that knows where each setting came from (a configuration file) tells
// its user about every one at its place.
func (c Capabilities) Refusals(s *Service) []Refusal {
	out := c.serviceRefusals(s)
	for i := range s.Destinations {
		out = append(out, c.destinationRefusals(&s.Destinations[i], i)...)
	}
	return out
}

func (c Capabilities) serviceRefusals(s *Service) []Refusal {
	var out []Refusal
	refuse := func(f Feature, format string, args ...any) {
		out = append(out, Refusal{Feature: f, Destination: -1,
			Err: fmt.Errorf(format+": %w", append(args, ErrNotSupported)...)})
	}
	if s.FWMark != 0 {
		if !c.FWMark {
			refuse(FeatureFWMark, "firewall-mark services")
		}
	} else if !slices.Contains(c.Protocols, s.Protocol) {
		refuse(FeatureProtocol, "protocol %s", s.Protocol)
	}
	if s.FWMark == 0 && s.Port == 0 && !c.PortZero {
		refuse(FeaturePortZero, "port-zero (all ports) services")
	}
	if !slices.Contains(c.Schedulers, s.SchedulerName()) {
		refuse(FeatureScheduler, "scheduler %q", s.SchedulerName())
	}
	if s.Flags&Sched3 != 0 && !c.SchedFlag3 {
		refuse(FeatureSchedFlag3, "scheduler flag-3")
	}
	if s.Flags&OnePacket != 0 && !c.OnePacket {
		refuse(FeatureOnePacket, "one-packet scheduling")
	}
	if s.PersistenceTimeout != 0 && !c.Persistence {
		refuse(FeaturePersistence, "persistence")
	}
	if s.PEName != "" && !slices.Contains(c.PersistenceEngines, s.PEName) {
		refuse(FeaturePersistenceEngine, "persistence engine %q", s.PEName)
	}
	return out
}

func (c Capabilities) destinationRefusals(d *Destination, index int) []Refusal {
	var out []Refusal
	refuse := func(f Feature, what string) {
		out = append(out, Refusal{Feature: f, Destination: index,
			Err: fmt.Errorf("destination %s: %s: %w", d.Key(), what, ErrNotSupported)})
	}
	if !slices.Contains(c.Forwards, d.Forward) {
		refuse(FeatureForward, "forwarding "+d.Forward.String())
	}
	if (d.UpperThreshold != 0 || d.LowerThreshold != 0) && !c.Thresholds {
		refuse(FeatureThresholds, "connection thresholds")
	}
	return out
}

// CheckDestination is Check's test of one destination: its forwarding
// method and thresholds.
func (c Capabilities) CheckDestination(d *Destination) error {
	if r := c.destinationRefusals(d, 0); len(r) > 0 {
		return r[0].Err
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
		SchedFlag3:         true,
		PortZero:           true,
		OnePacket:          true,
		Persistence:        true,
		Thresholds:         true,
		SyncDaemon:         true,
		MixedForwards:      true,
	}
}
