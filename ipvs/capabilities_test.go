package ipvs

import (
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestCapabilitiesCheck(t *testing.T) {
	vip := netip.MustParseAddr("192.0.2.1")
	rs := netip.MustParseAddr("192.0.2.10")
	base := func() Service {
		return Service{Protocol: TCP, Addr: vip, Port: 80, Scheduler: "wrr",
			Destinations: []Destination{{Addr: rs, Port: 80, Weight: 1}}}
	}
	for _, tc := range []struct {
		name   string
		edit   func(*Service)
		caps   Capabilities
		refuse string // empty: accepted
	}{
		{"plain NAT in userspace", func(*Service) {}, userspaceCapabilities(), ""},
		{"DR in userspace", func(s *Service) { s.Destinations[0].Forward = DirectRoute }, userspaceCapabilities(), "forwarding dr"},
		{"SCTP in userspace", func(s *Service) { s.Protocol = SCTP }, userspaceCapabilities(), "protocol SCTP"},
		{"fwmark in userspace", func(s *Service) { *s = Service{FWMark: 1, Family: Inet} }, userspaceCapabilities(), "firewall-mark"},
		{"port zero in userspace", func(s *Service) { s.Port = 0; s.PersistenceTimeout = time.Minute }, userspaceCapabilities(), "port-zero"},
		{"one-packet in userspace", func(s *Service) { s.Protocol = UDP; s.Flags = OnePacket }, userspaceCapabilities(), "one-packet"},
		{"twos in userspace", func(s *Service) { s.Scheduler = "twos" }, userspaceCapabilities(), `scheduler "twos"`},
		{"pe in userspace", func(s *Service) { s.PersistenceTimeout = time.Minute; s.PEName = "sip" }, userspaceCapabilities(), `persistence engine "sip"`},
		{"persistence in userspace", func(s *Service) { s.PersistenceTimeout = time.Minute }, userspaceCapabilities(), ""},
		{"thresholds in userspace", func(s *Service) { s.Destinations[0].UpperThreshold = 10 }, userspaceCapabilities(), ""},
		{"thresholds without", func(s *Service) { s.Destinations[0].UpperThreshold = 10 }, Capabilities{Forwards: []Forward{Masquerade}, Protocols: []Protocol{TCP}, Schedulers: []string{"wrr"}}, "thresholds"},
		{"everything in the kernel", func(s *Service) {
			s.Protocol = SCTP
			s.Scheduler = "mh"
			s.PersistenceTimeout = time.Minute
			s.PEName = "sip"
			s.Destinations[0].Forward = Tunnel
			s.Destinations[0].UpperThreshold = 5
		}, KernelCapabilities(), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := base()
			tc.edit(&s)
			err := tc.caps.Check(&s)
			if tc.refuse == "" {
				if err != nil {
					t.Fatalf("Check = %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, ErrNotSupported) || !strings.Contains(err.Error(), tc.refuse) {
				t.Fatalf("Check = %v, want ErrNotSupported naming %q", err, tc.refuse)
			}
		})
	}
}

// TestUserspaceApplyAgreesWithCapabilities: what Check refuses, Apply
// refuses, so that a caller's early check and the backend cannot disagree.
func TestUserspaceApplyAgreesWithCapabilities(t *testing.T) {
	u, err := NewUserspace(UserspaceConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	s := Service{Protocol: SCTP, Addr: netip.MustParseAddr("127.0.0.1"), Port: 1, Scheduler: "rr"}
	checkErr := u.Capabilities().Check(&s)
	applyErr := u.Apply(t.Context(), []Op{{Kind: AddService, Service: s}})
	if !errors.Is(checkErr, ErrNotSupported) || !errors.Is(applyErr, ErrNotSupported) {
		t.Fatalf("Check = %v, Apply = %v; want both ErrNotSupported", checkErr, applyErr)
	}
}

// Refusals lists every part a backend cannot carry, each with its feature
// and destination, in the order Check looks; Check reports the first.
func TestCapabilitiesRefusals(t *testing.T) {
	s := Service{Protocol: SCTP, Addr: netip.MustParseAddr("192.0.2.1"), Port: 80, Scheduler: "wrr", Flags: Sched3,
		Destinations: []Destination{
			{Addr: netip.MustParseAddr("192.0.2.10"), Port: 80, Weight: 1},
			{Addr: netip.MustParseAddr("192.0.2.11"), Port: 80, Weight: 1, Forward: DirectRoute},
		}}
	type got struct {
		Feature     Feature
		Destination int
	}
	var gots []got
	refusals := userspaceCapabilities().Refusals(&s)
	for _, r := range refusals {
		if !errors.Is(r.Err, ErrNotSupported) {
			t.Errorf("refusal %v does not wrap ErrNotSupported", r.Err)
		}
		gots = append(gots, got{r.Feature, r.Destination})
	}
	want := []got{{FeatureProtocol, -1}, {FeatureSchedFlag3, -1}, {FeatureForward, 1}}
	if !slices.Equal(want, gots) {
		t.Fatalf("Refusals = %+v, want %+v", gots, want)
	}
	if err := userspaceCapabilities().Check(&s); err == nil || err.Error() != "service SCTP 192.0.2.1:80: "+refusals[0].Err.Error() {
		t.Errorf("Check = %v, want the first refusal", err)
	}
	if r := KernelCapabilities().Refusals(&s); len(r) != 0 {
		t.Errorf("the kernel refuses %+v", r)
	}
}
