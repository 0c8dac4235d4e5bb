package ipvs

import (
	"net/netip"
	"testing"

	"github.com/ti-mo/conntrack"
)

// TestNFTConntrackOwner: a conntrack entry belongs to the NAT destination
// its reply comes from, under the service its original destination names;
// a firewall-mark service owns it only when no other could.
func TestNFTConntrackOwner(t *testing.T) {
	a := netip.MustParseAddr
	svc := func(k Service, sid uint32, dests ...Destination) *nftSvc {
		k.Destinations = dests
		s := &nftSvc{Service: k, sid: sid}
		for i := range dests {
			s.dids = append(s.dids, uint32(i+1))
		}
		return s
	}
	nat := func(addr string, port uint16) Destination {
		return Destination{Addr: a(addr), Port: port, Weight: 1, Forward: Masquerade}
	}
	web := svc(Service{Family: Inet, Protocol: TCP, Addr: a("10.0.0.1"), Port: 80}, 1, nat("10.1.0.1", 8080), nat("10.1.0.2", 8080))
	anyPort := svc(Service{Family: Inet, Protocol: TCP, Addr: a("10.0.0.2")}, 2, nat("10.1.0.3", 0))
	fwm1 := svc(Service{Family: Inet, FWMark: 1}, 3, nat("10.1.0.4", 0), nat("10.1.0.5", 0))
	fwm2 := svc(Service{Family: Inet, FWMark: 2}, 4, nat("10.1.0.5", 0))
	dr := svc(Service{Family: Inet, Protocol: TCP, Addr: a("10.0.0.3"), Port: 80}, 5, Destination{Addr: a("10.1.0.6"), Weight: 1, Forward: DirectRoute})
	st := &nftState{svcs: map[ServiceKey]*nftSvc{}, base: map[Family]bool{Inet: true}}
	for _, s := range []*nftSvc{web, anyPort, fwm1, fwm2, dr} {
		st.svcs[s.Key()] = s
	}
	x, ok := newNATIndex(st)
	if !ok {
		t.Fatal("no NAT service indexed")
	}
	flow := func(vip string, vport uint16, rs string, rport uint16) *conntrack.Flow {
		f := conntrack.NewFlow(6, conntrack.StatusDstNAT, a("192.0.2.1"), a(vip), 40000, vport, 60, 0)
		f.TupleReply.IP.SourceAddress, f.TupleReply.Proto.SourcePort = a(rs), rport
		return &f
	}
	tests := []struct {
		name string
		f    *conntrack.Flow
		svc  *nftSvc
		dest int
	}{
		{"service and port", flow("10.0.0.1", 80, "10.1.0.2", 8080), web, 1},
		{"wrong real server port", flow("10.0.0.1", 80, "10.1.0.2", 9999), nil, -1},
		{"port-zero service keeps the port", flow("10.0.0.2", 443, "10.1.0.3", 443), anyPort, 0},
		{"only one fwmark service has the server", flow("10.9.9.9", 25, "10.1.0.4", 25), fwm1, 0},
		{"two fwmark services have the server", flow("10.9.9.9", 25, "10.1.0.5", 25), nil, -1},
		{"DR services are not counted here", flow("10.0.0.3", 80, "10.1.0.6", 80), nil, -1},
		{"someone else's DNAT", flow("10.0.0.9", 80, "10.1.0.1", 8080), nil, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, i := x.find(tt.f)
			if s != tt.svc || i != tt.dest {
				t.Errorf("find = %v, %d; want %v, %d", s, i, tt.svc, tt.dest)
			}
		})
	}
}
