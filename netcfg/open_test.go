package netcfg_test

import (
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/lvskit/lvskit/internal/netnstest"
	"github.com/lvskit/lvskit/netcfg"
)

// Every way of naming a namespace binds the Host to that namespace, and
// only to it.
func TestIntegrationOpen(t *testing.T) {
	lab := netnstest.New(t)
	n := lab.Host("n")
	lab.Link(n, "eth0", "10.99.0.1/24", lab.Host("peer"), "eth0", "10.99.0.2/24")

	var fromThread *netcfg.Host
	if err := n.Do(func() error {
		var err error
		fromThread, err = netcfg.Open(netcfg.Config{}) // the calling thread's namespace
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fromThread.Close() })
	ways := map[string]func() (*netcfg.Host, error){
		"name":   func() (*netcfg.Host, error) { return netcfg.Open(netcfg.Config{NetNS: n.Name()}) },
		"path":   func() (*netcfg.Host, error) { return netcfg.Open(netcfg.Config{NetNS: "/run/netns/" + n.Name()}) },
		"handle": func() (*netcfg.Host, error) { return netcfg.Open(netcfg.Config{NetNSHandle: n.NsHandle()}) },
		"thread": func() (*netcfg.Host, error) { return fromThread, nil },
	}
	for name, open := range ways {
		t.Run(name, func(t *testing.T) {
			h, err := open()
			if err != nil {
				t.Fatal(err)
			}
			addrs, err := h.Addresses("eth0")
			if err != nil {
				t.Fatal(err)
			}
			if !containsAddr(addrs, netcfg.Address{Link: "eth0", Prefix: netip.MustParsePrefix("10.99.0.1/24"), Broadcast: netip.MustParseAddr("10.99.0.255")}) {
				t.Errorf("Addresses(eth0) = %v: not the namespace's", addrs)
			}
			c, err := h.SetRPFilter("eth0", 2)
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.TrimSpace(n.Run("sysctl", "-n", "net.ipv4.conf.eth0.rp_filter")); got != "2" {
				t.Errorf("rp_filter in the namespace: got %s, want 2", got)
			}
			if err := c.Undo(); err != nil {
				t.Fatal(err)
			}
			if h != fromThread {
				if err := h.Close(); err != nil {
					t.Fatal(err)
				}
				if err := h.Close(); err != nil {
					t.Errorf("second Close: %v", err)
				}
			}
		})
	}

	bad := map[string]netcfg.Config{
		`"lvskit-no-such-ns"`: {NetNS: "lvskit-no-such-ns"},
		"not a namespace":     {NetNS: "/etc/hostname"},
	}
	for want, cfg := range bad {
		if _, err := netcfg.Open(cfg); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Open(%+v): got %v, want an error mentioning %s", cfg, err, want)
		}
	}
	if _, err := fromThread.AddAddress(netcfg.Address{Link: "eth9", Prefix: netip.MustParsePrefix("10.1.1.1/32")}); !errors.Is(err, netcfg.ErrLinkNotFound) {
		t.Errorf("missing link: %v", err)
	}
}
