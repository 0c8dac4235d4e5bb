package ipvs

import (
	"net/netip"
	"testing"
)

// A destination without a port has the service's port; in a firewall-mark
// service it keeps none.
func TestServiceDestinationKey(t *testing.T) {
	rs := netip.MustParseAddr("::ffff:192.0.2.10")
	svc := Service{Protocol: TCP, Addr: netip.MustParseAddr("192.0.2.1"), Port: 80}
	fwm := Service{FWMark: 7, Family: Inet}
	for _, tc := range []struct {
		svc  *Service
		dest Destination
		want DestinationKey
	}{
		{&svc, Destination{Addr: rs}, DestinationKey{Addr: rs.Unmap(), Port: 80}},
		{&svc, Destination{Addr: rs, Port: 8080}, DestinationKey{Addr: rs.Unmap(), Port: 8080}},
		{&fwm, Destination{Addr: rs}, DestinationKey{Addr: rs.Unmap()}},
	} {
		if got := tc.svc.DestinationKey(&tc.dest); got != tc.want {
			t.Errorf("%s: DestinationKey(%+v) = %v, want %v", tc.svc, tc.dest, got, tc.want)
		}
	}
}
