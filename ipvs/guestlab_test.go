package ipvs

// A minimal namespace lab for the guest tests: namespaces made with
// /sbin/ip, configured through rtnetlink handles (spawning a process per
// step is slow under qemu's emulation). internal/netnstest cannot be used
// in the VM yet: its netlink handle asks for every netlink family, and the
// guest kernel has no NETLINK_XFRM (xfrm_user is not loaded there).

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

type gHost struct {
	t    *testing.T
	name string
	ns   netns.NsHandle
	nl   *netlink.Handle
}

var gHostSeq atomic.Uint32

// newGHost creates a named namespace with loopback up, removed when t ends.
func newGHost(t *testing.T, name string) *gHost {
	t.Helper()
	full := fmt.Sprintf("ipvst%d-%s", gHostSeq.Add(1), name)
	ipCmd(t, "netns", "add", full)
	t.Cleanup(func() { exec.Command("/sbin/ip", "netns", "del", full).Run() })
	ns, err := netns.GetFromName(full)
	if err != nil {
		t.Fatalf("open netns %s: %v", full, err)
	}
	t.Cleanup(func() { ns.Close() })
	nh, err := netlink.NewHandleAt(ns, unix.NETLINK_ROUTE)
	if err != nil {
		t.Fatalf("netlink handle in %s: %v", full, err)
	}
	t.Cleanup(nh.Close)
	h := &gHost{t: t, name: full, ns: ns, nl: nh}
	h.up("lo")
	return h
}

func (h *gHost) up(ifn string) {
	h.t.Helper()
	l, err := h.nl.LinkByName(ifn)
	if err == nil {
		err = h.nl.LinkSetUp(l)
	}
	if err != nil {
		h.t.Fatalf("in %s: set %s up: %v", h.name, ifn, err)
	}
}

// addr adds an address (CIDR) to a link.
func (h *gHost) addr(ifn, cidr string) {
	h.t.Helper()
	a, err := netlink.ParseAddr(cidr)
	if err != nil {
		h.t.Fatal(err)
	}
	l, err := h.nl.LinkByName(ifn)
	if err == nil {
		err = h.nl.AddrAdd(l, a)
	}
	if err != nil {
		h.t.Fatalf("in %s: add %s to %s: %v", h.name, cidr, ifn, err)
	}
}

// defaultRoute sets the default gateway.
func (h *gHost) defaultRoute(gw string) {
	h.t.Helper()
	if err := h.nl.RouteAdd(&netlink.Route{Gw: net.ParseIP(gw)}); err != nil {
		h.t.Fatalf("in %s: default via %s: %v", h.name, gw, err)
	}
}

// sysctl writes /proc/sys/<name with dots as slashes> in the namespace.
func (h *gHost) sysctl(name, value string) {
	h.t.Helper()
	path := "/proc/sys/" + strings.ReplaceAll(name, ".", "/")
	if err := h.Do(func() error { return os.WriteFile(path, []byte(value), 0o644) }); err != nil {
		h.t.Fatalf("in %s: sysctl %s=%s: %v", h.name, name, value, err)
	}
}

func ipCmd(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("/sbin/ip", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func (h *gHost) Name() string             { return h.name }
func (h *gHost) NsHandle() netns.NsHandle { return h.ns }
func (h *gHost) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "/sbin/ip", append([]string{"netns", "exec", h.name, name}, args...)...)
}

// Run runs a program in the namespace and fails the test if it fails.
func (h *gHost) Run(name string, args ...string) string {
	h.t.Helper()
	out, err := h.Command(context.Background(), name, args...).CombinedOutput()
	if err != nil {
		h.t.Fatalf("in %s: %s %s: %v\n%s", h.name, name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// Do runs fn on a thread inside the namespace.
func (h *gHost) Do(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		// The thread is dropped (not unlocked) if it cannot be restored.
		orig, err := netns.Get()
		if err != nil {
			errc <- err
			return
		}
		defer orig.Close()
		if err := netns.Set(h.ns); err != nil {
			errc <- err
			return
		}
		err = fn()
		if netns.Set(orig) == nil {
			runtime.UnlockOSThread()
		}
		errc <- err
	}()
	return <-errc
}

func (h *gHost) Listen(network, addr string) (net.Listener, error) {
	var ln net.Listener
	err := h.Do(func() (err error) { ln, err = net.Listen(network, addr); return err })
	return ln, err
}

func (h *gHost) Dial(ctx context.Context, network, addr string) (net.Conn, error) {
	var c net.Conn
	err := h.Do(func() (err error) { c, err = (&net.Dialer{}).DialContext(ctx, network, addr); return err })
	return c, err
}

// link connects a and b with a veth pair named aIf / bIf, made directly
// in their namespaces, with optional addresses, both ends up.
func link(t *testing.T, a *gHost, aIf, aAddr string, b *gHost, bIf, bAddr string) {
	t.Helper()
	v := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: aIf, Namespace: netlink.NsFd(a.ns)}, PeerName: bIf, PeerNamespace: netlink.NsFd(b.ns)}
	if err := netlink.LinkAdd(v); err != nil {
		t.Fatalf("veth %s/%s: %v", aIf, bIf, err)
	}
	for _, x := range []struct {
		h         *gHost
		ifn, addr string
	}{{a, aIf, aAddr}, {b, bIf, bAddr}} {
		if x.addr != "" {
			x.h.addr(x.ifn, x.addr)
		}
		x.h.up(x.ifn)
	}
}

// bridgeHost returns a namespace with a bridge br0 that hosts plug into.
func bridgeHost(t *testing.T, name string) *gHost {
	h := newGHost(t, name)
	if err := h.nl.LinkAdd(&netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: "br0"}}); err != nil {
		t.Fatalf("bridge in %s: %v", h.name, err)
	}
	h.up("br0")
	return h
}

// plug connects h to the bridge namespace br through interface ifn (up,
// with addrs).
func plug(t *testing.T, br *gHost, h *gHost, ifn string, addrs ...string) {
	t.Helper()
	port := fmt.Sprintf("p%d", gHostSeq.Add(1))
	link(t, h, ifn, "", br, port, "")
	for _, a := range addrs {
		h.addr(ifn, a)
	}
	p, err := br.nl.LinkByName(port)
	if err != nil {
		t.Fatal(err)
	}
	brl, err := br.nl.LinkByName("br0")
	if err == nil {
		err = br.nl.LinkSetMaster(p, brl)
	}
	if err != nil {
		t.Fatalf("plug %s into %s: %v", port, br.name, err)
	}
}
