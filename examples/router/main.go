// Command router is the book's software router: it turns on IP forwarding
// between an inside and an outside interface, masquerades the inside
// network going out, and forwards public ports in (DNAT), through nftables.
// On exit it undoes exactly what it did, unless --keep is given.
//
//	router --inside eth0 --outside eth1 --masquerade 192.168.0.0/24 \
//	       --dnat 203.0.113.1:80=192.168.0.253:80
package main

import (
	"context"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"strings"

	"github.com/lvskit/lvskit/internal/role"
	"github.com/lvskit/lvskit/netcfg"
)

func main() {
	var (
		inside, outside string
		masq, dnat      role.List
		ipv6, keep      bool
	)
	flag.StringVar(&inside, "inside", "", "inside (cluster) interface; DNAT rules apply to packets from the outside one")
	flag.StringVar(&outside, "outside", "", "outside interface (required): masqueraded traffic leaves through it")
	flag.Var(&masq, "masquerade", "inside prefix to masquerade out of the outside interface (repeatable)")
	flag.Var(&dnat, "dnat", "[tcp|udp/]PUBLIC:PORT=INNER:PORT port forward (repeatable)")
	flag.BoolVar(&ipv6, "ipv6", false, "also forward IPv6")
	flag.BoolVar(&keep, "keep", false, "leave the configuration in place on exit")
	flag.Parse()
	log := role.Logger("router")

	r, err := parse(outside, masq, dnat, ipv6)
	if err != nil {
		fmt.Fprintln(os.Stderr, "router:", err)
		os.Exit(2)
	}
	_ = inside // documents the topology; forwarding is per namespace
	h, err := netcfg.Open(netcfg.Config{Logger: log})
	if err != nil {
		fmt.Fprintln(os.Stderr, "router:", err)
		os.Exit(1)
	}
	defer h.Close()
	err = role.Hold(context.Background(), log, keep, func() (role.Changes, error) {
		c, err := h.ConfigureRouter(r)
		return role.Changes{c}, err
	}, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, "router:", err)
		os.Exit(1)
	}
}

func parse(outside string, masq, dnat []string, ipv6 bool) (netcfg.Router, error) {
	r := netcfg.Router{IPv6: ipv6}
	if outside == "" {
		return r, fmt.Errorf("--outside is required")
	}
	for _, m := range masq {
		p, err := netip.ParsePrefix(m)
		if err != nil {
			return r, fmt.Errorf("--masquerade %q: %w", m, err)
		}
		r.Masquerade = append(r.Masquerade, netcfg.Masquerade{Source: p, OutLink: outside})
	}
	for _, d := range dnat {
		proto, spec := "tcp", d
		if p, rest, ok := strings.Cut(d, "/"); ok {
			proto, spec = p, rest
		}
		from, to, ok := strings.Cut(spec, "=")
		if !ok {
			return r, fmt.Errorf("--dnat %q: want PUBLIC:PORT=INNER:PORT", d)
		}
		dst, err := netip.ParseAddrPort(from)
		if err != nil {
			return r, fmt.Errorf("--dnat %q: public side: %w", d, err)
		}
		in, err := netip.ParseAddrPort(to)
		if err != nil {
			return r, fmt.Errorf("--dnat %q: inner side: %w", d, err)
		}
		r.DNAT = append(r.DNAT, netcfg.DNAT{Protocol: proto, Dst: dst, To: in, InLink: outside})
	}
	return r, nil
}
