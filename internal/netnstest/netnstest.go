// Package netnstest builds network topologies for tests out of Linux network
// namespaces: a namespace is a host, a bridge in a namespace of its own is a
// LAN, veth pairs are cables. Everything is made through netlink and removed
// when the test ends, also when it fails.
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
//	out, err := a.Command(ctx, "ping", "-c1", "10.99.0.2").CombinedOutput()
package netnstest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
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
	t      testing.TB
	prefix string

	mu    sync.Mutex
	hosts []*Host
	links int
}

// New returns an empty lab whose namespaces are removed when t ends.
func New(t testing.TB) *Lab {
	t.Helper()
	RequireRoot(t)
	var b [3]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatalf("netnstest: random prefix: %v", err)
	}
	l := &Lab{t: t, prefix: "lvt" + hex.EncodeToString(b[:])}
	t.Cleanup(l.close)
	return l
}

// Prefix is prepended to every namespace name of the lab.
func (l *Lab) Prefix() string { return l.prefix }

func (l *Lab) close() {
	l.mu.Lock()
	hosts := l.hosts
	l.hosts = nil
	l.mu.Unlock()
	for i := len(hosts) - 1; i >= 0; i-- {
		if err := hosts[i].close(); err != nil {
			l.t.Errorf("netnstest: remove host %s: %v", hosts[i].name, err)
		}
	}
}

// Host is a network namespace standing for one machine.
type Host struct {
	lab  *Lab
	name string
	ns   netns.NsHandle
	nl   *netlink.Handle

	mu    sync.Mutex
	procs []*exec.Cmd
}

// Host creates a namespace named after name (prefixed to be unique), with
// its loopback up.
func (l *Lab) Host(name string) *Host {
	l.t.Helper()
	full := l.prefix + "-" + name
	ns, err := newNamedNS(full)
	if err != nil {
		l.t.Fatalf("netnstest: create namespace %s: %v", full, err)
	}
	h := &Host{lab: l, name: full, ns: ns}
	l.mu.Lock()
	l.hosts = append(l.hosts, h)
	l.mu.Unlock()
	h.nl, err = netlink.NewHandleAt(ns)
	if err != nil {
		l.t.Fatalf("netnstest: netlink handle in %s: %v", full, err)
	}
	lo, err := h.nl.LinkByName("lo")
	if err == nil {
		err = h.nl.LinkSetUp(lo)
	}
	if err != nil {
		l.t.Fatalf("netnstest: set lo up in %s: %v", full, err)
	}
	return h
}

// newNamedNS makes a named namespace without moving the calling goroutine's
// thread into it for longer than the call.
func newNamedNS(name string) (netns.NsHandle, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := netns.Get()
	if err != nil {
		return -1, err
	}
	defer orig.Close()
	ns, err := netns.NewNamed(name)
	if serr := netns.Set(orig); serr != nil {
		// The thread is stuck in the wrong namespace: keep it locked so
		// the runtime discards it instead of reusing it.
		runtime.LockOSThread()
		return -1, fmt.Errorf("restore namespace: %w", serr)
	}
	return ns, err
}

func (h *Host) close() error {
	h.mu.Lock()
	procs := h.procs
	h.procs = nil
	h.mu.Unlock()
	for _, c := range procs {
		if c.Process != nil && c.ProcessState == nil {
			_ = c.Process.Kill()
		}
	}
	if h.nl != nil {
		h.nl.Close()
	}
	h.ns.Close()
	return netns.DeleteNamed(h.name)
}

// Name is the namespace's name, as `ip netns` lists it.
func (h *Host) Name() string { return h.name }

// NsHandle is an open handle on the namespace, valid until the test ends.
func (h *Host) NsHandle() netns.NsHandle { return h.ns }

// Path is the namespace's bind mount, for tools that take a path.
func (h *Host) Path() string { return "/var/run/netns/" + h.name }

// Netlink is a netlink handle bound to the namespace.
func (h *Host) Netlink() *netlink.Handle { return h.nl }

// Do runs fn on an OS thread switched into the namespace. Sockets fn opens
// stay in the namespace after Do returns.
func (h *Host) Do(fn func() error) error {
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("get current namespace: %w", err)
	}
	defer orig.Close()
	if err := netns.Set(h.ns); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("enter namespace %s: %w", h.name, err)
	}
	ferr := fn()
	if err := netns.Set(orig); err != nil {
		// Leave the thread locked: the runtime ends it with the goroutine.
		return fmt.Errorf("leave namespace %s: %w", h.name, err)
	}
	runtime.UnlockOSThread()
	return ferr
}

// Command returns a command that runs inside the namespace (through
// `ip netns exec`, which also gives it the namespace's /sys). The process,
// once started, is killed when the test ends if it is still running.
func (h *Host) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	c := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", h.name, name}, args...)...)
	h.mu.Lock()
	h.procs = append(h.procs, c)
	h.mu.Unlock()
	return c
}

// Run runs a command in the namespace and fails the test if it fails.
// It returns the combined output.
func (h *Host) Run(name string, args ...string) string {
	h.lab.t.Helper()
	out, err := h.Command(context.Background(), name, args...).CombinedOutput()
	if err != nil {
		h.lab.t.Fatalf("netnstest: in %s: %s %s: %v\n%s", h.name, name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// Listen opens a listener inside the namespace.
func (h *Host) Listen(network, addr string) (net.Listener, error) {
	var ln net.Listener
	err := h.Do(func() (err error) {
		ln, err = net.Listen(network, addr)
		return err
	})
	return ln, err
}

// ListenPacket opens a packet listener inside the namespace.
func (h *Host) ListenPacket(network, addr string) (net.PacketConn, error) {
	var pc net.PacketConn
	err := h.Do(func() (err error) {
		pc, err = net.ListenPacket(network, addr)
		return err
	})
	return pc, err
}

// Dial connects from inside the namespace.
func (h *Host) Dial(ctx context.Context, network, addr string) (net.Conn, error) {
	var c net.Conn
	err := h.Do(func() (err error) {
		var d net.Dialer
		c, err = d.DialContext(ctx, network, addr)
		return err
	})
	return c, err
}

// AddAddr adds an address (CIDR) to a link of the host.
func (h *Host) AddAddr(ifname, cidr string) {
	h.lab.t.Helper()
	link, err := h.nl.LinkByName(ifname)
	if err != nil {
		h.lab.t.Fatalf("netnstest: %s: link %s: %v", h.name, ifname, err)
	}
	addr, err := netlink.ParseAddr(cidr)
	if err != nil {
		h.lab.t.Fatalf("netnstest: %s: address %q: %v", h.name, cidr, err)
	}
	if netip.MustParsePrefix(cidr).Addr().Is6() {
		addr.Flags |= unix.IFA_F_NODAD // usable at once, no duplicate detection wait
	}
	if err := h.nl.AddrAdd(link, addr); err != nil {
		h.lab.t.Fatalf("netnstest: %s: add %s to %s: %v", h.name, cidr, ifname, err)
	}
}

// AddRoute adds a route to dst ("default", or a CIDR) via gateway gw.
func (h *Host) AddRoute(dst, gw string) {
	h.lab.t.Helper()
	g, err := netip.ParseAddr(gw)
	if err != nil {
		h.lab.t.Fatalf("netnstest: %s: gateway %q: %v", h.name, gw, err)
	}
	r := &netlink.Route{Gw: g.AsSlice()}
	if dst != "default" {
		_, n, err := net.ParseCIDR(dst)
		if err != nil {
			h.lab.t.Fatalf("netnstest: %s: route %q: %v", h.name, dst, err)
		}
		r.Dst = n
	} else if g.Is6() {
		r.Dst = &net.IPNet{IP: net.IPv6zero, Mask: net.CIDRMask(0, 128)}
	}
	if err := h.nl.RouteAdd(r); err != nil {
		h.lab.t.Fatalf("netnstest: %s: add route %s via %s: %v", h.name, dst, gw, err)
	}
}

// SetSysctl writes a sysctl (dotted or slashed name) inside the namespace.
func (h *Host) SetSysctl(name, value string) {
	h.lab.t.Helper()
	p := "/proc/sys/" + strings.ReplaceAll(name, ".", "/")
	err := h.Do(func() error { return os.WriteFile(p, []byte(value), 0o644) })
	if err != nil {
		h.lab.t.Fatalf("netnstest: %s: sysctl %s=%s: %v", h.name, name, value, err)
	}
}

// LAN is a bridge, in a namespace of its own, that hosts connect to.
type LAN struct {
	*Host
	bridge netlink.Link
	ports  int
}

// LAN creates a bridge named br0 in a new namespace.
func (l *Lab) LAN(name string) *LAN {
	l.t.Helper()
	h := l.Host(name)
	// No multicast snooping: hosts that have not sent MLD reports yet must
	// still get neighbour solicitations and VRRP adverts.
	snoop := false
	br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: "br0"}, MulticastSnooping: &snoop}
	if err := h.nl.LinkAdd(br); err != nil {
		l.t.Fatalf("netnstest: %s: add bridge: %v", h.name, err)
	}
	if err := h.nl.LinkSetUp(br); err != nil {
		l.t.Fatalf("netnstest: %s: bridge up: %v", h.name, err)
	}
	return &LAN{Host: h, bridge: br}
}

// Connect plugs host h into the LAN through a veth whose host end is named
// ifname and carries addrs (CIDRs). It returns ifname.
func (n *LAN) Connect(h *Host, ifname string, addrs ...string) string {
	n.lab.t.Helper()
	n.mu.Lock()
	n.ports++
	port := fmt.Sprintf("p%d", n.ports)
	n.mu.Unlock()
	veth := &netlink.Veth{
		LinkAttrs:     netlink.LinkAttrs{Name: port, MasterIndex: n.bridge.Attrs().Index},
		PeerName:      ifname,
		PeerNamespace: netlink.NsFd(h.ns),
	}
	if err := n.nl.LinkAdd(veth); err != nil {
		n.lab.t.Fatalf("netnstest: connect %s:%s to %s: %v", h.name, ifname, n.name, err)
	}
	p, err := n.nl.LinkByName(port)
	if err == nil {
		err = n.nl.LinkSetUp(p)
	}
	if err != nil {
		n.lab.t.Fatalf("netnstest: %s: port %s up: %v", n.name, port, err)
	}
	h.setUp(ifname, addrs)
	return ifname
}

// Link connects two hosts directly with a veth pair.
func (l *Lab) Link(a *Host, aIf, aAddr string, b *Host, bIf, bAddr string) {
	l.t.Helper()
	veth := &netlink.Veth{
		LinkAttrs:     netlink.LinkAttrs{Name: aIf},
		PeerName:      bIf,
		PeerNamespace: netlink.NsFd(b.ns),
	}
	if err := a.nl.LinkAdd(veth); err != nil {
		l.t.Fatalf("netnstest: link %s:%s to %s:%s: %v", a.name, aIf, b.name, bIf, err)
	}
	a.setUp(aIf, nonEmpty(aAddr))
	b.setUp(bIf, nonEmpty(bAddr))
}

func nonEmpty(s string) []string {
	if s == "" {
		return nil
	}
	return []string{s}
}

func (h *Host) setUp(ifname string, addrs []string) {
	h.lab.t.Helper()
	for _, a := range addrs {
		h.AddAddr(ifname, a)
	}
	link, err := h.nl.LinkByName(ifname)
	if err == nil {
		err = h.nl.LinkSetUp(link)
	}
	if err != nil {
		h.lab.t.Fatalf("netnstest: %s: %s up: %v", h.name, ifname, err)
	}
}

// HardwareAddr returns the MAC address of a link of the host.
func (h *Host) HardwareAddr(ifname string) net.HardwareAddr {
	h.lab.t.Helper()
	link, err := h.nl.LinkByName(ifname)
	if err != nil {
		h.lab.t.Fatalf("netnstest: %s: link %s: %v", h.name, ifname, err)
	}
	return link.Attrs().HardwareAddr
}

// Namespaces lists the named namespaces on the machine, for tests that
// check nothing is left behind.
func Namespaces() ([]string, error) {
	ents, err := os.ReadDir("/var/run/netns")
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names, nil
}
