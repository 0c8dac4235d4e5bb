// Package nslab builds small networks out of Linux network namespaces: a
// namespace is a host, a bridge in a namespace of its own is a LAN, veth
// pairs are cables. It is what the cluster demo and the test harness
// internal/netnstest build on. Everything goes through netlink and
// setns(2); no `ip` binary is run. It needs root.
package nslab

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Lab is a set of hosts and LANs whose namespace names share a prefix.
type Lab struct {
	prefix string

	mu    sync.Mutex
	hosts []*Host
}

// New returns an empty lab. Call Close to remove what it made.
func New(prefix string) *Lab { return &Lab{prefix: prefix} }

// Prefix is prepended (with a dash) to every namespace name of the lab.
func (l *Lab) Prefix() string { return l.prefix }

// Close kills the processes started in the lab's hosts and removes their
// namespaces, last made first. It is idempotent.
func (l *Lab) Close() error {
	l.mu.Lock()
	hosts := l.hosts
	l.hosts = nil
	l.mu.Unlock()
	var errs []error
	for i := len(hosts) - 1; i >= 0; i-- {
		if err := hosts[i].close(); err != nil {
			errs = append(errs, fmt.Errorf("remove host %s: %w", hosts[i].name, err))
		}
	}
	return errors.Join(errs...)
}

// Host is a network namespace standing for one machine.
type Host struct {
	name string
	ns   netns.NsHandle
	nl   *netlink.Handle

	mu    sync.Mutex
	procs []*exec.Cmd
}

// Host creates a namespace named prefix-name with its loopback up.
func (l *Lab) Host(name string) (*Host, error) {
	full := l.prefix + "-" + name
	ns, err := newNamedNS(full)
	if err != nil {
		return nil, fmt.Errorf("create namespace %s: %w", full, err)
	}
	h := &Host{name: full, ns: ns}
	l.mu.Lock()
	l.hosts = append(l.hosts, h)
	l.mu.Unlock()
	// Route sockets only: the default set also opens XFRM and netfilter
	// sockets, which fail on kernels without xfrm_user (the test VM's).
	if h.nl, err = netlink.NewHandleAt(ns, unix.NETLINK_ROUTE); err != nil {
		return nil, fmt.Errorf("netlink handle in %s: %w", full, err)
	}
	if err := h.LinkUp("lo"); err != nil {
		return nil, err
	}
	return h, nil
}

// newNamedNS makes a named namespace without leaving the calling thread in it.
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
		// The thread is stuck in the new namespace: lock it once more so
		// the runtime ends it instead of reusing it.
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
	h.killStragglers()
	if h.nl != nil {
		h.nl.Close()
	}
	h.ns.Close()
	return netns.DeleteNamed(h.name)
}

// Name is the namespace's name, as `ip netns` lists it.
func (h *Host) Name() string { return h.name }

// NsHandle is an open handle on the namespace, valid until the lab closes.
func (h *Host) NsHandle() netns.NsHandle { return h.ns }

// Path is the namespace's bind mount.
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

// Start starts cmd inside the namespace: the child is forked from a thread
// that has joined it, and namespaces are inherited at fork. The process is
// killed when the lab closes, if it still runs.
func (h *Host) Start(cmd *exec.Cmd) error {
	if err := h.Do(cmd.Start); err != nil {
		return fmt.Errorf("start %s in %s: %w", cmd.Path, h.name, err)
	}
	h.Track(cmd)
	return nil
}

// Track makes the lab kill cmd's process when it closes.
func (h *Host) Track(cmd *exec.Cmd) {
	h.mu.Lock()
	h.procs = append(h.procs, cmd)
	h.mu.Unlock()
}

// Listen opens a listener inside the namespace.
func (h *Host) Listen(network, addr string) (ln net.Listener, err error) {
	err = h.Do(func() error {
		ln, err = net.Listen(network, addr)
		return err
	})
	return ln, err
}

// ListenPacket opens a packet listener inside the namespace.
func (h *Host) ListenPacket(network, addr string) (pc net.PacketConn, err error) {
	err = h.Do(func() error {
		pc, err = net.ListenPacket(network, addr)
		return err
	})
	return pc, err
}

// Dial connects from inside the namespace.
func (h *Host) Dial(ctx context.Context, network, addr string) (c net.Conn, err error) {
	err = h.Do(func() error {
		var d net.Dialer
		c, err = d.DialContext(ctx, network, addr)
		return err
	})
	return c, err
}

// DialContext is Dial with the signature of net.Dialer.DialContext, so an
// http.Transport can use the namespace.
func (h *Host) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	return h.Dial(ctx, network, addr)
}

// LinkUp sets a link of the host up.
func (h *Host) LinkUp(ifname string) error {
	link, err := h.nl.LinkByName(ifname)
	if err == nil {
		err = h.nl.LinkSetUp(link)
	}
	if err != nil {
		return fmt.Errorf("%s: set %s up: %w", h.name, ifname, err)
	}
	return nil
}

// AddAddr adds an address (CIDR) to a link of the host. IPv6 addresses
// skip duplicate address detection so they are usable at once.
func (h *Host) AddAddr(ifname, cidr string) error {
	link, err := h.nl.LinkByName(ifname)
	if err != nil {
		return fmt.Errorf("%s: link %s: %w", h.name, ifname, err)
	}
	p, err := netip.ParsePrefix(cidr)
	if err != nil {
		return fmt.Errorf("%s: address %q: %w", h.name, cidr, err)
	}
	addr := &netlink.Addr{IPNet: &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}}
	if p.Addr().Is6() {
		addr.Flags |= unix.IFA_F_NODAD
	}
	if err := h.nl.AddrAdd(link, addr); err != nil {
		return fmt.Errorf("%s: add %s to %s: %w", h.name, cidr, ifname, err)
	}
	return nil
}

// AddRoute adds a route to dst ("default", or a CIDR) via gateway gw.
func (h *Host) AddRoute(dst, gw string) error {
	g, err := netip.ParseAddr(gw)
	if err != nil {
		return fmt.Errorf("%s: gateway %q: %w", h.name, gw, err)
	}
	r := &netlink.Route{Gw: g.AsSlice()}
	switch {
	case dst != "default":
		_, n, err := net.ParseCIDR(dst)
		if err != nil {
			return fmt.Errorf("%s: route %q: %w", h.name, dst, err)
		}
		r.Dst = n
	case g.Is6():
		r.Dst = &net.IPNet{IP: net.IPv6zero, Mask: net.CIDRMask(0, 128)}
	}
	if err := h.nl.RouteAdd(r); err != nil {
		return fmt.Errorf("%s: add route %s via %s: %w", h.name, dst, gw, err)
	}
	return nil
}

// SetSysctl writes a sysctl (dotted name) inside the namespace: /proc/sys
// opened from a thread in the namespace shows the namespace's net.* values.
func (h *Host) SetSysctl(name, value string) error {
	p := "/proc/sys/" + strings.ReplaceAll(name, ".", "/")
	err := h.Do(func() error { return os.WriteFile(p, []byte(value), 0o644) })
	if err != nil {
		return fmt.Errorf("%s: sysctl %s=%s: %w", h.name, name, value, err)
	}
	return nil
}

// HardwareAddr returns the MAC address of a link of the host.
func (h *Host) HardwareAddr(ifname string) (net.HardwareAddr, error) {
	link, err := h.nl.LinkByName(ifname)
	if err != nil {
		return nil, fmt.Errorf("%s: link %s: %w", h.name, ifname, err)
	}
	return link.Attrs().HardwareAddr, nil
}

// LAN is a bridge, in a namespace of its own, that hosts connect to.
type LAN struct {
	*Host
	bridge netlink.Link
	ports  int
}

// LAN creates a bridge named br0 in a new namespace.
func (l *Lab) LAN(name string) (*LAN, error) {
	h, err := l.Host(name)
	if err != nil {
		return nil, err
	}
	// No multicast snooping: hosts that have not sent MLD reports yet must
	// still get neighbour solicitations and VRRP adverts.
	snoop := false
	br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: "br0"}, MulticastSnooping: &snoop}
	if err := h.nl.LinkAdd(br); err != nil {
		return nil, fmt.Errorf("%s: add bridge: %w", h.name, err)
	}
	if err := h.nl.LinkSetUp(br); err != nil {
		return nil, fmt.Errorf("%s: bridge up: %w", h.name, err)
	}
	return &LAN{Host: h, bridge: br}, nil
}

// Connect plugs host h into the LAN through a veth whose host end is named
// ifname, is up and carries addrs (CIDRs).
func (n *LAN) Connect(h *Host, ifname string, addrs ...string) error {
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
		return fmt.Errorf("connect %s:%s to %s: %w", h.name, ifname, n.name, err)
	}
	if err := n.LinkUp(port); err != nil {
		return err
	}
	return h.setUp(ifname, addrs)
}

// Link connects two hosts directly with a veth pair; an empty address
// leaves that end without one.
func (l *Lab) Link(a *Host, aIf, aAddr string, b *Host, bIf, bAddr string) error {
	veth := &netlink.Veth{
		LinkAttrs:     netlink.LinkAttrs{Name: aIf},
		PeerName:      bIf,
		PeerNamespace: netlink.NsFd(b.ns),
	}
	if err := a.nl.LinkAdd(veth); err != nil {
		return fmt.Errorf("link %s:%s to %s:%s: %w", a.name, aIf, b.name, bIf, err)
	}
	if err := a.setUp(aIf, nonEmpty(aAddr)); err != nil {
		return err
	}
	return b.setUp(bIf, nonEmpty(bAddr))
}

func nonEmpty(s string) []string {
	if s == "" {
		return nil
	}
	return []string{s}
}

func (h *Host) setUp(ifname string, addrs []string) error {
	for _, a := range addrs {
		if err := h.AddAddr(ifname, a); err != nil {
			return err
		}
	}
	return h.LinkUp(ifname)
}

// Namespaces lists the named namespaces on the machine, so callers can
// check that nothing is left behind.
func Namespaces() ([]string, error) {
	ents, err := os.ReadDir("/var/run/netns")
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(ents))
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names, nil
}
