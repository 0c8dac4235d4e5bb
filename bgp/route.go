package bgp

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// Route is one prefix to announce with its path attributes. For a VIP it
// is the address as a host route (/32, /128); any prefix is accepted.
// ORIGIN is IGP and the next hop is the local address of each session.
type Route struct {
	// Prefix is what is announced. Required, with no host bits set.
	Prefix netip.Prefix
	// Communities are RFC 1997 communities attached to the route.
	Communities []Community
	// MED is the MULTI_EXIT_DISC sent with the route; 0 means none is
	// sent (which routers compare as 0).
	MED uint32
	// LocalPref is the LOCAL_PREF sent to iBGP peers; 0 means 100. eBGP
	// peers never get it (RFC 4271 5.1.5).
	LocalPref uint32
}

// Community is an RFC 1997 community: the high 16 bits are an AS number,
// the low 16 bits a value.
type Community uint32

// Well-known communities (RFC 1997).
const (
	NoExport          Community = 0xFFFFFF01
	NoAdvertise       Community = 0xFFFFFF02
	NoExportSubconfed Community = 0xFFFFFF03
)

// ParseCommunity reads "AS:VALUE" (each 0..65535) or one of the names
// no-export, no-advertise, local-AS (no-export-subconfed).
func ParseCommunity(s string) (Community, error) {
	switch strings.ToLower(s) {
	case "no-export":
		return NoExport, nil
	case "no-advertise":
		return NoAdvertise, nil
	case "local-as", "no-export-subconfed":
		return NoExportSubconfed, nil
	}
	as, val, ok := strings.Cut(s, ":")
	if !ok {
		return 0, fmt.Errorf("parse community %q: want AS:VALUE", s)
	}
	a, err := strconv.ParseUint(as, 10, 16)
	if err != nil {
		return 0, fmt.Errorf("parse community %q: AS: %w", s, err)
	}
	v, err := strconv.ParseUint(val, 10, 16)
	if err != nil {
		return 0, fmt.Errorf("parse community %q: value: %w", s, err)
	}
	return Community(a<<16 | v), nil
}

func (c Community) String() string {
	switch c {
	case NoExport:
		return "no-export"
	case NoAdvertise:
		return "no-advertise"
	case NoExportSubconfed:
		return "local-AS"
	}
	return strconv.FormatUint(uint64(c>>16), 10) + ":" + strconv.FormatUint(uint64(c&0xFFFF), 10)
}

// check validates r and returns it in canonical form (unmapped prefix,
// communities sorted without repeats), so equal routes compare equal.
func (r Route) check() (Route, error) {
	if !r.Prefix.IsValid() {
		return r, fmt.Errorf("route %v: not a valid prefix", r.Prefix)
	}
	p := r.Prefix
	if p.Addr().Is4In6() {
		bits := p.Bits() - 96
		if bits < 0 {
			return r, fmt.Errorf("route %v: IPv4-mapped prefix shorter than /96", r.Prefix)
		}
		p = netip.PrefixFrom(p.Addr().Unmap(), bits)
	}
	if p.Addr().Zone() != "" {
		return r, fmt.Errorf("route %v: a prefix has no zone", r.Prefix)
	}
	if p != p.Masked() {
		return r, fmt.Errorf("route %v: host bits set (did you mean %v?)", r.Prefix, p.Masked())
	}
	r.Prefix = p
	if len(r.Communities) > 0 {
		r.Communities = slices.Clone(r.Communities)
		slices.Sort(r.Communities)
		r.Communities = slices.Compact(r.Communities)
	}
	return r, nil
}

func (r Route) equal(o Route) bool {
	return r.Prefix == o.Prefix && r.MED == o.MED && r.LocalPref == o.LocalPref &&
		slices.Equal(r.Communities, o.Communities)
}

// routeDiff returns what turns the announced set have into want: the
// routes to add or replace (new, or with changed attributes) and the
// prefixes to withdraw, each sorted by prefix.
func routeDiff(have, want map[netip.Prefix]Route) (announce []Route, withdraw []netip.Prefix) {
	for p, r := range want {
		if h, ok := have[p]; !ok || !h.equal(r) {
			announce = append(announce, r)
		}
	}
	for p := range have {
		if _, ok := want[p]; !ok {
			withdraw = append(withdraw, p)
		}
	}
	slices.SortFunc(announce, func(a, b Route) int { return comparePrefix(a.Prefix, b.Prefix) })
	slices.SortFunc(withdraw, comparePrefix)
	return announce, withdraw
}

func comparePrefix(a, b netip.Prefix) int {
	if c := a.Addr().Compare(b.Addr()); c != 0 {
		return c
	}
	return a.Bits() - b.Bits()
}
