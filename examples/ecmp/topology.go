package main

import (
	"fmt"
	"net/netip"

	"github.com/lvskit/lvskit/internal/nslab"
)

// The lab: a client outside, a router between it and the cluster LAN, and
// on the LAN three directors and three real servers. The VIP is in none of
// the subnets: the router reaches it only through the routes the
// directors announce. Documentation addresses throughout.
const (
	vip          = "198.51.100.10"
	routerInside = "192.168.0.254"
	routerPublic = "203.0.113.1"
	clientAddr   = "203.0.113.2"
	routerASN    = 65000
	directorASN  = 65001
)

type host struct {
	name string
	addr string
}

var (
	directors = []host{{"lvs_a", "192.168.0.201"}, {"lvs_b", "192.168.0.202"}, {"lvs_c", "192.168.0.203"}}
	webs      = []host{{"web1", "192.168.0.1"}, {"web2", "192.168.0.2"}, {"web3", "192.168.0.3"}}
)

// lab holds the namespaces.
type lab struct {
	lab       *nslab.Lab
	lan       *nslab.LAN
	client    *nslab.Host
	router    *nslab.Host
	directors map[string]*nslab.Host
	web       map[string]*nslab.Host
}

func buildTopology(prefix string) (*lab, error) {
	l := &lab{lab: nslab.New(prefix), directors: map[string]*nslab.Host{}, web: map[string]*nslab.Host{}}
	if err := l.build(); err != nil {
		if cerr := l.lab.Close(); cerr != nil {
			err = fmt.Errorf("%w (and cleaning up: %v)", err, cerr)
		}
		return nil, err
	}
	return l, nil
}

func (l *lab) build() error {
	var err error
	if l.lan, err = l.lab.LAN("lan"); err != nil {
		return err
	}
	if l.client, err = l.lab.Host("client"); err != nil {
		return err
	}
	if l.router, err = l.lab.Host("router"); err != nil {
		return err
	}
	if err := l.lab.Link(l.router, "eth1", routerPublic+"/24", l.client, "eth0", clientAddr+"/24"); err != nil {
		return err
	}
	if err := l.lan.Connect(l.router, "eth0", routerInside+"/24"); err != nil {
		return err
	}
	if err := l.client.AddRoute("default", routerPublic); err != nil {
		return err
	}
	// The router forwards, does not drop the real servers' replies (their
	// source, the VIP, is routed towards the directors), and hashes flows
	// by their ports too, so that one client's connections spread.
	for k, v := range map[string]string{
		"net.ipv4.ip_forward":                "1",
		"net.ipv4.conf.all.rp_filter":        "0",
		"net.ipv4.conf.default.rp_filter":    "0",
		"net.ipv4.conf.eth0.rp_filter":       "0",
		"net.ipv4.fib_multipath_hash_policy": "1",
	} {
		if err := l.router.SetSysctl(k, v); err != nil {
			return err
		}
	}
	for _, group := range []struct {
		hosts []host
		m     map[string]*nslab.Host
	}{{directors, l.directors}, {webs, l.web}} {
		for _, hh := range group.hosts {
			h, err := l.lab.Host(hh.name)
			if err != nil {
				return err
			}
			group.m[hh.name] = h
			if err := l.lan.Connect(h, "eth0", hh.addr+"/24"); err != nil {
				return err
			}
			if err := h.AddRoute("default", routerInside); err != nil {
				return err
			}
		}
	}
	return nil
}

func directorAddrs() []netip.Addr {
	var out []netip.Addr
	for _, d := range directors {
		out = append(out, netip.MustParseAddr(d.addr))
	}
	return out
}

// directorByAddr names the director with next-hop address a.
func directorByAddr(a netip.Addr) string {
	for _, d := range directors {
		if d.addr == a.String() {
			return d.name
		}
	}
	return a.String()
}
