package vrrp_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/lvskit/lvskit/internal/netnstest"
	"github.com/lvskit/lvskit/netcfg"
	"github.com/lvskit/lvskit/netcfg/vrrpnet"
	"github.com/lvskit/lvskit/vrrp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// vrrpFrame is a VRRP advert seen on the wire by an observer.
type vrrpFrame struct {
	ethSrc net.HardwareAddr
	ipSrc  netip.Addr
	vrid   uint8
	prio   uint8
}

// frameSniffer reads every frame on one link of a namespace through a
// packet socket and keeps the VRRP adverts.
type frameSniffer struct {
	mu     sync.Mutex
	frames []vrrpFrame
	stop   chan struct{}
	done   chan struct{}
}

func sniff(t *testing.T, h *netnstest.Host, ifname string) *frameSniffer {
	t.Helper()
	var fd int
	if err := h.Do(func() error {
		ifi, err := net.InterfaceByName(ifname)
		if err != nil {
			return err
		}
		proto := int(htons(unix.ETH_P_ALL))
		fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW, proto)
		if err != nil {
			return err
		}
		if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifi.Index}); err != nil {
			unix.Close(fd)
			return err
		}
		tv := unix.NsecToTimeval((100 * time.Millisecond).Nanoseconds())
		return unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	}); err != nil {
		t.Fatalf("open packet socket: %v", err)
	}
	s := &frameSniffer{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		defer unix.Close(fd)
		buf := make([]byte, 65536)
		for {
			select {
			case <-s.stop:
				return
			default:
			}
			n, _, err := unix.Recvfrom(fd, buf, 0)
			if err != nil || n < 14+20+8 {
				continue
			}
			b := buf[:n]
			if binary.BigEndian.Uint16(b[12:14]) != unix.ETH_P_IP {
				continue
			}
			ip := b[14:]
			ihl := int(ip[0]&0x0f) * 4
			if ip[9] != 112 || len(ip) < ihl+8 {
				continue
			}
			src, _ := netip.AddrFromSlice(ip[12:16])
			f := vrrpFrame{ethSrc: bytes.Clone(b[6:12]), ipSrc: src, vrid: ip[ihl+1], prio: ip[ihl+2]}
			s.mu.Lock()
			s.frames = append(s.frames, f)
			s.mu.Unlock()
		}
	}()
	t.Cleanup(s.close)
	return s
}

func (s *frameSniffer) close() {
	select {
	case <-s.stop:
	default:
		close(s.stop)
	}
	<-s.done
}

func (s *frameSniffer) seen() []vrrpFrame {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]vrrpFrame(nil), s.frames...)
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// TestIntegrationVMAC runs two lvskit instances with UseVMAC on a real
// bridge, as keepalived's use_vmac: the master's adverts leave from the
// macvlan with the virtual MAC 00:00:5e:00:01:VRID as Ethernet source, its
// VIP is on the macvlan, and the backup — whose own macvlan has that same
// MAC and so takes those frames away from its parent — still receives
// them and stays BACKUP; when the master stops, the backup takes over on
// its own macvlan.
func TestIntegrationVMAC(t *testing.T) {
	netnstest.RequireRoot(t)
	lab := netnstest.New(t)
	lan := lab.LAN("lan")
	h1, h2, obs := lab.Host("v1"), lab.Host("v2"), lab.Host("vo")
	lan.Connect(h1, "eth0", "10.99.0.1/24")
	lan.Connect(h2, "eth0", "10.99.0.2/24")
	lan.Connect(obs, "eth0", "10.99.0.3/24")
	const vrid = 61
	vmacName := "vrrp.61"
	vmac := netcfg.VirtualMAC(vrid, false)
	vip := netip.MustParsePrefix("10.99.0.100/32")
	parentMAC := h1.HardwareAddr("eth0")

	sn := sniff(t, obs, "eth0")

	start := func(h *netnstest.Host, prio int) *vmacNode {
		t.Helper()
		return startNode(t, h, vrrp.Config{
			Name: h.Name(), Interface: "eth0", VRID: vrid, Priority: prio, Version: 3,
			// 500ms: a master-down interval of 1.8 s, a margin that a
			// busy machine does not eat (100ms, 0.36 s, it did; 300ms,
			// 1.1 s, is one stall of the test process).
			AdvertInterval: 500 * time.Millisecond, UseVMAC: true,
			VIPs: []vrrp.VIP{{Prefix: vip}},
		})
	}
	hasVIP := func(h *netnstest.Host, link string) bool { return addrOn(t, h, link, vip.Addr()) }

	n1 := start(h1, 200)
	n2 := start(h2, 100)
	waitFor(t, "v1 MASTER", 30*time.Second, func() bool { return n1.inst.State() == vrrp.StateMaster })
	waitFor(t, "v2 BACKUP following v1", 30*time.Second, func() bool {
		s := n2.inst.Status()
		return s.State == vrrp.StateBackup && s.Master == netip.MustParseAddr("10.99.0.1")
	})
	// Ten adverts received: the backup must stay backup, so it keeps
	// receiving the master's adverts on its macvlan. (Both start as
	// backups at once: at startup the lower priority may time out first on
	// a busy machine and advertise until it hears v1, as the RFC has it;
	// from here on it must be silent.)
	// The steady state starts here. v2's adverts from before (sent while
	// it was MASTER at startup) may still be on their way to the
	// observer's socket: what v2 sent from here on is told by its sent
	// counter, and the observer may not see more of v2's adverts than it
	// counted by the end.
	sentBefore := n2.counter("lvskit_vrrp_adverts_sent_total")
	vrrp.StaysPut(t, "v2 backup following v1, v1 master", n2.adverts, 10, func() bool {
		s := n2.inst.Status()
		return s.State == vrrp.StateBackup && s.Master == netip.MustParseAddr("10.99.0.1") && n1.inst.State() == vrrp.StateMaster
	})
	if !hasVIP(h1, vmacName) {
		t.Errorf("VIP %v not on v1's %s", vip, vmacName)
	}
	if hasVIP(h1, "eth0") {
		t.Errorf("VIP %v on v1's eth0, want it on %s only", vip, vmacName)
	}
	if hasVIP(h2, vmacName) || hasVIP(h2, "eth0") {
		t.Errorf("VIP %v on the backup", vip)
	}
	var fromV1 int
	for _, f := range sn.seen() {
		if f.vrid != vrid || f.ipSrc != netip.MustParseAddr("10.99.0.1") {
			continue
		}
		fromV1++
		if !bytes.Equal(f.ethSrc, vmac) {
			t.Errorf("advert from 10.99.0.1 with Ethernet source %v, want the virtual MAC %v (parent is %v)", f.ethSrc, vmac, parentMAC)
			break
		}
	}
	if fromV1 < 5 {
		t.Fatalf("observer saw %d adverts from the master, want at least 5", fromV1)
	}
	if sent := n2.counter("lvskit_vrrp_adverts_sent_total"); sent != sentBefore {
		t.Errorf("backup sent %v adverts in the steady state", sent-sentBefore)
	}
	var steadyFromV2 float64
	for _, f := range sn.seen() {
		if f.ipSrc == netip.MustParseAddr("10.99.0.2") {
			steadyFromV2++
		}
	}
	if steadyFromV2 > sentBefore {
		t.Errorf("observer saw %v adverts from the backup, more than the %v it sent before the steady state", steadyFromV2, sentBefore)
	}

	// The master stops: it sends priority 0 from the macvlan, and the
	// backup takes over with the VIP on its own macvlan.
	n1.stop(t)
	waitFor(t, "v2 MASTER", 30*time.Second, func() bool { return n2.inst.State() == vrrp.StateMaster })
	waitFor(t, "VIP on v2's vmac", 30*time.Second, func() bool { return hasVIP(h2, vmacName) })
	if _, err := h1.Netlink().LinkByName(vmacName); err == nil {
		t.Errorf("v1's %s still exists after its instance stopped", vmacName)
	}
	var stop0, fromV2 int
	waitFor(t, "adverts from v2", 30*time.Second, func() bool {
		stop0, fromV2 = 0, 0
		for _, f := range sn.seen() {
			switch {
			case f.ipSrc == netip.MustParseAddr("10.99.0.1") && f.prio == 0:
				stop0++
			case f.ipSrc == netip.MustParseAddr("10.99.0.2"):
				fromV2++
				if !bytes.Equal(f.ethSrc, vmac) {
					t.Fatalf("advert from 10.99.0.2 with Ethernet source %v, want %v", f.ethSrc, vmac)
				}
			}
		}
		return fromV2 >= 3
	})
	if stop0 == 0 {
		t.Errorf("observer saw no priority-0 advert from the stopping master")
	}
}

type vmacNode struct {
	h      *netnstest.Host
	inst   *vrrp.Instance
	reg    *prometheus.Registry // the instance's metrics
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
}

// adverts is how many adverts the node's instance has sent and received:
// the clock of the tests' "stays put" windows (vrrp.StaysPut).
func (n *vmacNode) adverts() float64 {
	return n.counter("lvskit_vrrp_adverts_sent_total") + n.counter("lvskit_vrrp_adverts_received_total")
}

// counter is the value of the node's counter name (summed over labels).
func (n *vmacNode) counter(name string) float64 {
	mfs, err := n.reg.Gather()
	if err != nil {
		panic(err)
	}
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, m := range mf.GetMetric() {
				sum += m.GetCounter().GetValue()
			}
		}
	}
	return sum
}

// startNode runs an instance of cfg in h, with a netcfg host and a raw
// transport of its own there (cfg's Network and Transport are set here),
// all stopped and closed with the test.
func startNode(t *testing.T, h *netnstest.Host, cfg vrrp.Config) *vmacNode {
	t.Helper()
	ns := h.NsHandle()
	host, err := netcfg.Open(netcfg.Config{NetNSHandle: ns})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { host.Close() })
	tr := vrrp.NewRawTransport(vrrp.RawConfig{Netns: &ns})
	t.Cleanup(func() { tr.Close() })
	cfg.Network, cfg.Transport = vrrpnet.New(host), tr
	if cfg.Metrics == nil {
		cfg.Metrics = vrrp.NewMetrics()
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(cfg.Metrics)
	inst, err := vrrp.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	n := &vmacNode{h: h, inst: inst, reg: reg, cancel: cancel, done: make(chan error, 1)}
	go func() { n.done <- inst.Run(ctx) }()
	t.Cleanup(func() { n.stop(t) })
	return n
}

// addrOn says whether address a is on link in h (false if there is no
// such link).
func addrOn(t *testing.T, h *netnstest.Host, link string, a netip.Addr) bool {
	t.Helper()
	l, err := h.Netlink().LinkByName(link)
	if err != nil {
		return false
	}
	addrs, err := h.Netlink().AddrList(l, netlink.FAMILY_ALL)
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range addrs {
		if ip, ok := netip.AddrFromSlice(x.IP); ok && ip.Unmap() == a {
			return true
		}
	}
	return false
}

// stop ends the instance and waits for its graceful stop; idempotent.
func (n *vmacNode) stop(t *testing.T) {
	n.once.Do(func() {
		n.cancel()
		if err := <-n.done; err != nil {
			t.Errorf("run %s: %v", n.h.Name(), err)
		}
	})
}

func waitFor(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
