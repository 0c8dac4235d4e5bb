// Package netnstest builds network topologies for tests out of Linux network
// namespaces: a namespace is a host, a bridge in a namespace of its own is a
// LAN, veth pairs are cables. It wraps internal/nslab so that every failure
// fails the test, and everything is removed when the test ends, also when it
// fails.
//
// Tests that use it need root (CAP_SYS_ADMIN to make namespaces,
// CAP_NET_ADMIN to configure them). Without root they skip, except under
// CI=true, where a skip would hide a broken machine, so they fail.
//
//	lab := netnstest.New(t)
//	a, b := lab.Host("a"), lab.Host("b")
//	lan := lab.LAN("lan")
//	lan.Connect(a, "eth0", "10.99.0.1/24")
//	lan.Connect(b, "eth0", "10.99.0.2/24")
//	out := a.Run("ping", "-c1", "10.99.0.2")
package netnstest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/lvskit/lvskit/internal/nslab"
)

// RequireRoot skips t unless the process is root. Under CI=true it fails
// instead: CI machines are root, so a skip there means something is wrong.
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("netnstest: this test needs root (network namespaces) and CI=true forbids skipping it")
	}
	t.Skip("netnstest: skipping, needs root to create network namespaces")
}

// Lab is a set of hosts and LANs owned by one test.
type Lab struct {
	t   testing.TB
	lab *nslab.Lab
}

// New returns an empty lab whose namespaces are removed when t ends.
func New(t testing.TB) *Lab {
	t.Helper()
	RequireRoot(t)
	var b [3]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatalf("netnstest: random prefix: %v", err)
	}
	l := &Lab{t: t, lab: nslab.New("lvt" + hex.EncodeToString(b[:]))}
	t.Cleanup(func() {
		if err := l.lab.Close(); err != nil {
			t.Errorf("netnstest: %v", err)
		}
	})
	return l
}

// Prefix is prepended to every namespace name of the lab.
func (l *Lab) Prefix() string { return l.lab.Prefix() }

// Host is a network namespace standing for one machine. Its methods that
// change something fail the test on error.
type Host struct {
	*nslab.Host
	t testing.TB
}

// Host creates a namespace named after name (prefixed to be unique), with
// its loopback up.
func (l *Lab) Host(name string) *Host {
	l.t.Helper()
	h, err := l.lab.Host(name)
	if err != nil {
		l.t.Fatalf("netnstest: %v", err)
	}
	return &Host{Host: h, t: l.t}
}

func (h *Host) check(err error) {
	h.t.Helper()
	if err != nil {
		h.t.Fatalf("netnstest: %v", err)
	}
}

// Command returns a command that runs inside the namespace (through
// `ip netns exec`, which also gives it the namespace's /sys). The process,
// once started, is killed when the test ends if it is still running.
func (h *Host) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	c := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", h.Name(), name}, args...)...)
	h.Track(c)
	return c
}

// Run runs a command in the namespace and fails the test if it fails.
// It returns the combined output.
func (h *Host) Run(name string, args ...string) string {
	h.t.Helper()
	out, err := h.Command(context.Background(), name, args...).CombinedOutput()
	if err != nil {
		h.t.Fatalf("netnstest: in %s: %s %s: %v\n%s", h.Name(), name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// AddAddr adds an address (CIDR) to a link of the host.
func (h *Host) AddAddr(ifname, cidr string) {
	h.t.Helper()
	h.check(h.Host.AddAddr(ifname, cidr))
}

// AddRoute adds a route to dst ("default", or a CIDR) via gateway gw.
func (h *Host) AddRoute(dst, gw string) {
	h.t.Helper()
	h.check(h.Host.AddRoute(dst, gw))
}

// SetSysctl writes a sysctl (dotted name) inside the namespace.
func (h *Host) SetSysctl(name, value string) {
	h.t.Helper()
	h.check(h.Host.SetSysctl(name, value))
}

// HardwareAddr returns the MAC address of a link of the host.
func (h *Host) HardwareAddr(ifname string) net.HardwareAddr {
	h.t.Helper()
	mac, err := h.Host.HardwareAddr(ifname)
	h.check(err)
	return mac
}

// LAN is a bridge, in a namespace of its own, that hosts connect to.
type LAN struct {
	*Host
	lan *nslab.LAN
}

// LAN creates a bridge named br0 in a new namespace.
func (l *Lab) LAN(name string) *LAN {
	l.t.Helper()
	n, err := l.lab.LAN(name)
	if err != nil {
		l.t.Fatalf("netnstest: %v", err)
	}
	return &LAN{Host: &Host{Host: n.Host, t: l.t}, lan: n}
}

// Connect plugs host h into the LAN through a veth whose host end is named
// ifname and carries addrs (CIDRs). It returns ifname.
func (n *LAN) Connect(h *Host, ifname string, addrs ...string) string {
	n.t.Helper()
	n.check(n.lan.Connect(h.Host, ifname, addrs...))
	return ifname
}

// Link connects two hosts directly with a veth pair.
func (l *Lab) Link(a *Host, aIf, aAddr string, b *Host, bIf, bAddr string) {
	l.t.Helper()
	if err := l.lab.Link(a.Host, aIf, aAddr, b.Host, bIf, bAddr); err != nil {
		l.t.Fatalf("netnstest: %v", err)
	}
}

// Namespaces lists the named namespaces on the machine, for tests that
// check nothing is left behind.
func Namespaces() ([]string, error) { return nslab.Namespaces() }
