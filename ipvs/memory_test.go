package ipvs

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestValidate(t *testing.T) {
	v4 := netip.MustParseAddr("10.0.0.1")
	v6 := netip.MustParseAddr("fd00::1")
	r4 := netip.MustParseAddr("10.1.0.1")
	r6 := netip.MustParseAddr("fd00:1::1")
	svc := func(mod func(*Service)) Service {
		s := Service{Protocol: TCP, Addr: v4, Port: 80, Destinations: []Destination{{Addr: r4, Port: 80, Weight: 1}}}
		mod(&s)
		return s
	}
	tests := []struct {
		name  string
		s     Service
		field string // empty: valid
	}{
		{"plain", svc(func(s *Service) {}), ""},
		{"fwmark v6", Service{FWMark: 7, Family: Inet6, Destinations: []Destination{{Addr: r6, Forward: DirectRoute}}}, ""},
		{"fwmark without family", Service{FWMark: 7}, "Family"},
		{"fwmark with address", Service{FWMark: 7, Family: Inet, Addr: v4}, "Addr"},
		{"no address", Service{Protocol: TCP, Port: 80}, "Addr"},
		{"bad protocol", svc(func(s *Service) { s.Protocol = 1 }), "Protocol"},
		{"zero port non-persistent", svc(func(s *Service) { s.Port = 0 }), "Port"},
		{"zero port persistent", svc(func(s *Service) { s.Port = 0; s.PersistenceTimeout = time.Minute }), ""},
		{"family mismatch", svc(func(s *Service) { s.Family = Inet6 }), "Family"},
		{"scheduler with space", svc(func(s *Service) { s.Scheduler = "w rr" }), "Scheduler"},
		{"scheduler too long", svc(func(s *Service) { s.Scheduler = strings.Repeat("x", 16) }), "Scheduler"},
		{"unknown flag", svc(func(s *Service) { s.Flags = 0x1 }), "Flags"},
		{"one-packet on TCP", svc(func(s *Service) { s.Flags = OnePacket }), "Flags"},
		{"negative persistence", svc(func(s *Service) { s.PersistenceTimeout = -time.Second }), "PersistenceTimeout"},
		{"fractional persistence", svc(func(s *Service) { s.PersistenceTimeout = 1500 * time.Millisecond }), "PersistenceTimeout"},
		{"persistence bits v4", svc(func(s *Service) { s.PersistenceBits = 33 }), "PersistenceBits"},
		{"persistence bits v6", Service{Protocol: UDP, Addr: v6, Port: 53, PersistenceBits: 64}, ""},
		{"pe name", svc(func(s *Service) { s.PEName = "a b" }), "PEName"},
		{"negative weight", svc(func(s *Service) { s.Destinations[0].Weight = -1 }), "Weight"},
		{"huge weight", svc(func(s *Service) { s.Destinations[0].Weight = 65536 }), "Weight"},
		{"bypass", svc(func(s *Service) { s.Destinations[0].Forward = Bypass }), "Forward"},
		{"mixed family NAT", svc(func(s *Service) { s.Destinations[0].Addr = r6 }), "Addr"},
		{"mixed family TUN", svc(func(s *Service) { s.Destinations[0].Addr = r6; s.Destinations[0].Forward = Tunnel }), ""},
		{"gue without port", svc(func(s *Service) { s.Destinations[0].Forward = Tunnel; s.Destinations[0].TunnelType = TunnelGUE }), "TunnelPort"},
		{"gue", svc(func(s *Service) {
			s.Destinations[0].Forward = Tunnel
			s.Destinations[0].TunnelType = TunnelGUE
			s.Destinations[0].TunnelPort = 6080
			s.Destinations[0].TunnelFlags = TunnelRemoteCsum
		}), ""},
		{"gre remcsum", svc(func(s *Service) {
			s.Destinations[0].Forward = Tunnel
			s.Destinations[0].TunnelType = TunnelGRE
			s.Destinations[0].TunnelFlags = TunnelRemoteCsum
		}), "TunnelFlags"},
		{"ipip port", svc(func(s *Service) { s.Destinations[0].Forward = Tunnel; s.Destinations[0].TunnelPort = 1 }), "TunnelPort"},
		{"tunnel type 3", svc(func(s *Service) { s.Destinations[0].Forward = Tunnel; s.Destinations[0].TunnelType = 3 }), "TunnelType"},
		{"tunnel options on DR", svc(func(s *Service) { s.Destinations[0].Forward = DirectRoute; s.Destinations[0].TunnelType = TunnelGRE }), "TunnelType"},
		{"thresholds", svc(func(s *Service) { s.Destinations[0].UpperThreshold = 10; s.Destinations[0].LowerThreshold = 5 }), ""},
		{"lower above upper", svc(func(s *Service) { s.Destinations[0].LowerThreshold = 5 }), "LowerThreshold"},
		{"duplicate destination", svc(func(s *Service) {
			s.Destinations = append(s.Destinations, Destination{Addr: r4, Port: 0, Weight: 3})
		}), "Destinations"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.s.Validate()
			if tt.field == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("Validate() = %v, want ErrInvalid", err)
			}
			if !strings.Contains(err.Error(), tt.field) {
				t.Errorf("Validate() = %q, does not name %s", err, tt.field)
			}
		})
	}
}

func TestMemoryErrors(t *testing.T) {
	ctx := context.Background()
	s := Service{Protocol: TCP, Addr: netip.MustParseAddr("10.0.0.1"), Port: 80, Scheduler: "rr"}
	d := Destination{Addr: netip.MustParseAddr("10.1.0.1"), Weight: 1}
	tests := []struct {
		name string
		ops  []Op
		want error
	}{
		{"add twice", []Op{{Kind: AddService, Service: s}, {Kind: AddService, Service: s}}, ErrExists},
		{"update absent", []Op{{Kind: UpdateService, Service: s}}, ErrNotFound},
		{"delete absent", []Op{{Kind: DeleteService, Service: s}}, ErrNotFound},
		{"unknown scheduler", []Op{{Kind: AddService, Service: Service{Protocol: TCP, Addr: s.Addr, Port: 80, Scheduler: "nope"}}}, ErrNotSupported},
		{"unknown pe", []Op{{Kind: AddService, Service: Service{Protocol: UDP, Addr: s.Addr, Port: 80, PEName: "nope"}}}, ErrNotSupported},
		{"dest of absent service", []Op{{Kind: AddDestination, Service: s, Destination: d}}, ErrNotFound},
		{"dest twice", []Op{{Kind: AddService, Service: s}, {Kind: AddDestination, Service: s, Destination: d}, {Kind: AddDestination, Service: s, Destination: d}}, ErrExists},
		{"update absent dest", []Op{{Kind: AddService, Service: s}, {Kind: UpdateDestination, Service: s, Destination: d}}, ErrNotFound},
		{"delete absent dest", []Op{{Kind: AddService, Service: s}, {Kind: DeleteDestination, Service: s, Destination: d}}, ErrNotFound},
		{"invalid", []Op{{Kind: AddService, Service: s}, {Kind: AddDestination, Service: s, Destination: Destination{Addr: d.Addr, Weight: -2}}}, ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := NewMemory()
			err := m.Apply(ctx, tt.ops)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Apply = %v, want %v", err, tt.want)
			}
			var ae *ApplyError
			if !errors.As(err, &ae) || ae.Index != len(tt.ops)-1 {
				t.Errorf("Apply error %v does not name op %d", err, len(tt.ops)-1)
			}
		})
	}
}

func TestMemoryInvalidWritesNothing(t *testing.T) {
	m := NewMemory()
	s := Service{Protocol: TCP, Addr: netip.MustParseAddr("10.0.0.1"), Port: 80}
	err := m.Apply(context.Background(), []Op{
		{Kind: AddService, Service: s},
		{Kind: AddDestination, Service: s, Destination: Destination{Addr: netip.MustParseAddr("10.1.0.1"), LowerThreshold: 3}},
	})
	if !errors.Is(err, ErrInvalid) {
		t.Fatalf("Apply = %v, want ErrInvalid", err)
	}
	if got, _ := m.Dump(context.Background()); len(got) != 0 || m.Writes() != 0 {
		t.Errorf("invalid batch changed the table: %v, %d writes", got, m.Writes())
	}
}

func TestMemoryClosed(t *testing.T) {
	m := NewMemory()
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatalf("second Close = %v", err)
	}
	if _, err := m.Dump(context.Background()); err == nil {
		t.Error("Dump after Close succeeded")
	}
}
