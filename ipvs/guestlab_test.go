package ipvs

// A minimal namespace lab for the guest tests, made with /sbin/ip (tests
// may run tools). internal/netnstest cannot be used in the VM yet: its
// netlink handle asks for every netlink family, and the guest kernel has
// no NETLINK_XFRM (xfrm_user is not loaded there).

import (
	"context"
	"fmt"
	"net"
	"os/exec"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/vishvananda/netns"
)

type gHost struct {
	t    *testing.T
	name string
	ns   netns.NsHandle
}

var gHostSeq atomic.Uint32

// newGHost creates a named namespace with loopback up, removed when t ends.
func newGHost(t *testing.T, name string) *gHost {
	t.Helper()
	full := fmt.Sprintf("ipvst%d-%s", gHostSeq.Add(1), name)
	ipCmd(t, "netns", "add", full)
	t.Cleanup(func() { exec.Command("/sbin/ip", "netns", "del", full).Run() })
	h := &gHost{t: t, name: full}
	h.Run("/sbin/ip", "link", "set", "lo", "up")
	ns, err := netns.GetFromName(full)
	if err != nil {
		t.Fatalf("open netns %s: %v", full, err)
	}
	t.Cleanup(func() { ns.Close() })
	h.ns = ns
	return h
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

// link connects a and b with a veth pair named aIf / bIf and addresses.
func link(t *testing.T, a *gHost, aIf, aAddr string, b *gHost, bIf, bAddr string) {
	t.Helper()
	tmpA := fmt.Sprintf("v%da", gHostSeq.Add(1))
	tmpB := tmpA[:len(tmpA)-1] + "b"
	ipCmd(t, "link", "add", tmpA, "type", "veth", "peer", "name", tmpB)
	ipCmd(t, "link", "set", tmpA, "netns", a.name, "name", aIf)
	ipCmd(t, "link", "set", tmpB, "netns", b.name, "name", bIf)
	for _, x := range []struct {
		h         *gHost
		ifn, addr string
	}{{a, aIf, aAddr}, {b, bIf, bAddr}} {
		if x.addr != "" {
			x.h.Run("/sbin/ip", "addr", "add", x.addr, "dev", x.ifn)
		}
		x.h.Run("/sbin/ip", "link", "set", x.ifn, "up")
	}
}

// bridgeHost returns a namespace with a bridge br0 that hosts plug into.
func bridgeHost(t *testing.T, name string) *gHost {
	h := newGHost(t, name)
	h.Run("/sbin/ip", "link", "add", "br0", "type", "bridge")
	h.Run("/sbin/ip", "link", "set", "br0", "up")
	return h
}

// plug connects h to the bridge namespace br through interface ifn.
func plug(t *testing.T, br *gHost, h *gHost, ifn string, addrs ...string) {
	t.Helper()
	port := fmt.Sprintf("p%d", gHostSeq.Add(1))
	link(t, h, ifn, "", br, port, "")
	for _, a := range addrs {
		h.Run("/sbin/ip", "addr", "add", a, "dev", ifn)
	}
	br.Run("/sbin/ip", "link", "set", port, "master", "br0")
}
