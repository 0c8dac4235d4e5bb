package netcfg_test

import (
	"errors"
	"net/netip"
	"os"
	"runtime"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/lvskit/lvskit/internal/netnstest"
	"github.com/lvskit/lvskit/netcfg"
)

// Errors name the thing that is wrong and leave the namespace untouched.
func TestIntegrationErrors(t *testing.T) {
	lab := netnstest.New(t)
	n := lab.Host("n")
	lab.Link(n, "eth0", "10.99.0.1/24", lab.Host("peer"), "eth0", "10.99.0.2/24")
	h := open(t, n)
	settle(t, n)
	before := takeSnapshot(t, n)
	p := netip.MustParsePrefix

	missing := []struct {
		name string
		do   func() (*netcfg.Change, error)
	}{
		{"address", func() (*netcfg.Change, error) {
			return h.AddAddress(netcfg.Address{Link: "nosuch0", Prefix: p("10.1.0.1/24")})
		}},
		{"arp_ignore", func() (*netcfg.Change, error) { return h.SetARPIgnore("nosuch0", 1) }},
		{"route", func() (*netcfg.Change, error) {
			return h.AddRoute(netcfg.Route{Dst: p("10.5.0.0/16"), Link: "nosuch0"})
		}},
		{"masquerade", func() (*netcfg.Change, error) {
			return h.AddMasquerade(netcfg.Masquerade{Source: p("10.0.0.0/8"), OutLink: "nosuch0"})
		}},
		{"vmac parent", func() (*netcfg.Change, error) {
			return h.AddVMAC(netcfg.VMAC{Name: "vrrp.1", Parent: "nosuch0", VRID: 1})
		}},
		{"real server", func() (*netcfg.Change, error) {
			return h.ConfigureRealServer(netip.MustParseAddr("10.99.0.100"), "eth0", "nosuch0")
		}},
		{"router", func() (*netcfg.Change, error) {
			return h.ConfigureRouter(netcfg.Router{Masquerade: []netcfg.Masquerade{{Source: p("10.0.0.0/8"), OutLink: "nosuch0"}}})
		}},
	}
	for _, tt := range missing {
		t.Run("missing interface/"+tt.name, func(t *testing.T) {
			_, err := tt.do()
			if !errors.Is(err, netcfg.ErrLinkNotFound) {
				t.Fatalf("got %v, want an error wrapping ErrLinkNotFound", err)
			}
			if !strings.Contains(err.Error(), `"nosuch0"`) {
				t.Errorf("error %q does not name the interface", err)
			}
		})
	}

	bad := []struct {
		name, want string
		do         func() (*netcfg.Change, error)
	}{
		{"address without prefix", "bad prefix", func() (*netcfg.Change, error) {
			return h.AddAddress(netcfg.Address{Link: "eth0"})
		}},
		{"route with host bits", "10.5.0.1/16: bad prefix: host bits set", func() (*netcfg.Change, error) {
			return h.AddRoute(netcfg.Route{Dst: p("10.5.0.1/16"), Link: "eth0"})
		}},
		{"masquerade with host bits", "bad prefix", func() (*netcfg.Change, error) {
			return h.AddMasquerade(netcfg.Masquerade{Source: p("10.0.0.1/8"), OutLink: "eth0"})
		}},
		{"label of another interface", `label "eth1:0" must start with the interface name "eth0"`, func() (*netcfg.Change, error) {
			return h.AddAddress(netcfg.Address{Link: "eth0", Prefix: p("10.99.0.9/24"), Label: "eth1:0"})
		}},
		{"sysctl outside net", "only keys below net/", func() (*netcfg.Change, error) {
			return h.SetSysctl("kernel.hostname", "x")
		}},
		{"arp_announce out of range", "out of range", func() (*netcfg.Change, error) { return h.SetARPAnnounce("eth0", 3) }},
		{"gateway off-link", "not on a connected network", func() (*netcfg.Change, error) {
			return h.AddRoute(netcfg.Route{Dst: p("10.5.0.0/16"), Gateway: netip.MustParseAddr("172.16.0.1")})
		}},
		{"vmac name taken", `"eth0": an interface of that name exists`, func() (*netcfg.Change, error) {
			return h.AddVMAC(netcfg.VMAC{Name: "eth0", Parent: "lo", VRID: 1})
		}},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.do()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an error containing %q", err, tt.want)
			}
		})
	}

	// A multi-step call failing half-way rolls back: a chain someone else
	// made in lvskit's table with the wrong hook makes the NAT step fail
	// after ip_forward was set.
	n.Run("nft", "add table inet lvskit; add chain inet lvskit postrouting { type filter hook postrouting priority 0; }")
	beforeConflict := takeSnapshot(t, n)
	_, err := h.ConfigureRouter(netcfg.Router{Masquerade: []netcfg.Masquerade{{Source: p("10.99.0.0/24"), OutLink: "eth0"}}})
	if err == nil {
		t.Fatal("ConfigureRouter succeeded over a conflicting chain")
	}
	t.Logf("ConfigureRouter over a conflicting chain: %v", err)
	afterConflict := takeSnapshot(t, n)
	for k := range beforeConflict {
		if diff := diffLines(beforeConflict[k], afterConflict[k]); diff != "" {
			t.Errorf("%s changed by a failed ConfigureRouter (-before +after):\n%s", k, diff)
		}
	}
	n.Run("nft", "delete table inet lvskit")

	after := takeSnapshot(t, n)
	for k := range before {
		if diff := diffLines(before[k], after[k]); diff != "" {
			t.Errorf("%s changed by failing calls (-before +after):\n%s", k, diff)
		}
	}
}

// Without CAP_NET_ADMIN the kernel says EPERM, and the error says which
// capability is missing. Capabilities are per thread in Linux, so the
// test drops CAP_NET_ADMIN from one locked thread that then exits.
func TestIntegrationNoPrivilege(t *testing.T) {
	lab := netnstest.New(t)
	n := lab.Host("n")
	h := open(t, n)
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread dies with its capabilities dropped
		hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
		var data [2]unix.CapUserData
		if err := unix.Capget(&hdr, &data[0]); err != nil {
			errc <- err
			return
		}
		data[unix.CAP_NET_ADMIN/32].Effective &^= 1 << (unix.CAP_NET_ADMIN % 32)
		if err := unix.Capset(&hdr, &data[0]); err != nil {
			errc <- err
			return
		}
		_, err := h.AddAddress(netcfg.Address{Link: "lo", Prefix: netip.MustParsePrefix("10.77.0.1/32")})
		errc <- err
	}()
	err := <-errc
	if !errors.Is(err, syscall.EPERM) || !errors.Is(err, os.ErrPermission) {
		t.Fatalf("got %v, want EPERM", err)
	}
	if !strings.Contains(err.Error(), "CAP_NET_ADMIN") || !strings.Contains(err.Error(), "10.77.0.1/32") {
		t.Errorf("error %q should name the address and CAP_NET_ADMIN", err)
	}
	if addrs, _ := h.Addresses("lo"); containsAddr(addrs, netcfg.Address{Link: "lo", Prefix: netip.MustParsePrefix("10.77.0.1/32")}) {
		t.Error("address added without CAP_NET_ADMIN")
	}
}
