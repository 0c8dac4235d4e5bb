package netcfg

import (
	"fmt"
	"net/netip"
)

// RealServerLabel is the label ConfigureRealServer gives an IPv4 VIP on
// lo, as the book's `ifconfig lo:0` does.
const RealServerLabel = "lo:0"

// ConfigureRealServer prepares the Host as a real server behind an LVS
// director in direct-routing mode: the VIP goes on lo (/32, label lo:0;
// /128 for IPv6) so the host accepts packets for it, and, for IPv4,
// arp_ignore=1 and arp_announce=2 on "all" and on each of links (the
// interfaces facing the director and clients) so only the director
// answers ARP for the VIP. IPv6 needs no sysctl: Linux answers neighbour
// solicitations only for addresses on the interface asked.
//
// The sysctls go first, so the VIP is never answerable by ARP. On failure
// everything done so far is undone. The Change holds exactly what was
// changed, with old values.
func (h *Host) ConfigureRealServer(vip netip.Addr, links ...string) (*Change, error) {
	if !vip.IsValid() || vip.IsUnspecified() || vip.IsMulticast() || vip.Is4In6() || vip.Zone() != "" {
		return nil, fmt.Errorf("configure real server: VIP %v: bad address", vip)
	}
	for _, l := range links {
		if _, err := h.link(l); err != nil {
			return nil, fmt.Errorf("configure real server for %v: %w", vip, err)
		}
	}
	c := h.newChange()
	step := func(sc *Change, err error) error {
		if err != nil {
			return c.rollback(fmt.Errorf("configure real server for %v: %w", vip, err))
		}
		c.merge(sc)
		return nil
	}
	if vip.Is4() {
		for _, l := range append([]string{"all"}, links...) {
			if err := step(h.SetARPIgnore(l, 1)); err != nil {
				return nil, err
			}
			if err := step(h.SetARPAnnounce(l, 2)); err != nil {
				return nil, err
			}
		}
	}
	a := Address{Link: "lo", Prefix: netip.PrefixFrom(vip, vip.BitLen())}
	if vip.Is4() {
		a.Label = RealServerLabel
	}
	if err := step(h.AddAddress(a)); err != nil {
		return nil, err
	}
	return c, nil
}

// Router is what ConfigureRouter sets up: forwarding plus NAT.
type Router struct {
	// IPv6 also turns on IPv6 forwarding; IPv4 forwarding is always on.
	IPv6 bool
	// Masquerade lists outbound source NAT rules.
	Masquerade []Masquerade
	// DNAT lists inbound port forwards.
	DNAT []DNAT
}

// ConfigureRouter prepares the Host as the book's software router:
// ip_forward=1 (and IPv6 forwarding if asked), then the NAT rules. On
// failure everything done so far is undone.
func (h *Host) ConfigureRouter(r Router) (*Change, error) {
	// Validate every rule before touching anything.
	for _, m := range r.Masquerade {
		if _, err := m.spec(); err != nil {
			return nil, fmt.Errorf("configure router: %w", err)
		}
		if _, err := h.link(m.OutLink); err != nil {
			return nil, fmt.Errorf("configure router: %v: %w", m, err)
		}
	}
	for _, d := range r.DNAT {
		if _, err := d.spec(); err != nil {
			return nil, fmt.Errorf("configure router: %w", err)
		}
		if d.InLink != "" {
			if _, err := h.link(d.InLink); err != nil {
				return nil, fmt.Errorf("configure router: %v: %w", d, err)
			}
		}
	}
	c := h.newChange()
	step := func(sc *Change, err error) error {
		if err != nil {
			return c.rollback(fmt.Errorf("configure router: %w", err))
		}
		c.merge(sc)
		return nil
	}
	if err := step(h.SetIPv4Forwarding(true)); err != nil {
		return nil, err
	}
	if r.IPv6 {
		if err := step(h.SetIPv6Forwarding(true)); err != nil {
			return nil, err
		}
	}
	for _, m := range r.Masquerade {
		if err := step(h.AddMasquerade(m)); err != nil {
			return nil, err
		}
	}
	for _, d := range r.DNAT {
		if err := step(h.AddDNAT(d)); err != nil {
			return nil, err
		}
	}
	return c, nil
}
