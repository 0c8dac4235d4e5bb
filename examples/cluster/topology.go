package main

import (
	"fmt"

	"github.com/lvskit/lvskit/internal/nslab"
)

// The book's cluster (figure 8-5, table 8-4) with documentation addresses
// outside.
const (
	vip          = "192.168.0.253"
	routerInside = "192.168.0.254"
	routerPublic = "203.0.113.1"
	clientAddr   = "203.0.113.2"
)

type server struct {
	name   string
	addr   string
	weight int
}

var (
	directors = []struct {
		name     string
		addr     string
		priority int
	}{
		{"lvs_1", "192.168.0.200", 100},
		{"lvs_2", "192.168.0.201", 99},
	}
	webServers = []server{
		{"web1", "192.168.0.1", 3},
		{"web2", "192.168.0.2", 1},
	}
)

// cluster holds the namespaces of the demo.
type cluster struct {
	lab       *nslab.Lab
	lan       *nslab.LAN
	client    *nslab.Host
	router    *nslab.Host
	directors map[string]*nslab.Host
	web       map[string]*nslab.Host
}

// buildTopology makes the namespaces and cables: the client and the router
// share a public link; the router, the directors and the web servers share
// the cluster LAN (a bridge).
func buildTopology(prefix string) (*cluster, error) {
	c := &cluster{lab: nslab.New(prefix), directors: map[string]*nslab.Host{}, web: map[string]*nslab.Host{}}
	err := c.build()
	if err != nil {
		if cerr := c.lab.Close(); cerr != nil {
			err = fmt.Errorf("%w (and cleaning up: %v)", err, cerr)
		}
		return nil, err
	}
	return c, nil
}

func (c *cluster) build() error {
	var err error
	if c.lan, err = c.lab.LAN("lan"); err != nil {
		return err
	}
	if c.client, err = c.lab.Host("client"); err != nil {
		return err
	}
	if c.router, err = c.lab.Host("router"); err != nil {
		return err
	}
	if err := c.lab.Link(c.router, "eth1", routerPublic+"/24", c.client, "eth0", clientAddr+"/24"); err != nil {
		return err
	}
	if err := c.lan.Connect(c.router, "eth0", routerInside+"/24"); err != nil {
		return err
	}
	if err := c.client.AddRoute("default", routerPublic); err != nil {
		return err
	}
	for _, d := range directors {
		h, err := c.lab.Host(d.name)
		if err != nil {
			return err
		}
		c.directors[d.name] = h
		if err := c.lan.Connect(h, "eth0", d.addr+"/24"); err != nil {
			return err
		}
		if err := h.AddRoute("default", routerInside); err != nil {
			return err
		}
	}
	for _, w := range webServers {
		h, err := c.lab.Host(w.name)
		if err != nil {
			return err
		}
		c.web[w.name] = h
		if err := c.lan.Connect(h, "eth0", w.addr+"/24"); err != nil {
			return err
		}
		if err := h.AddRoute("default", routerInside); err != nil {
			return err
		}
	}
	return nil
}
