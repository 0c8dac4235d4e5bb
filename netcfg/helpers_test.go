package netcfg_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"maps"
	"net"
	"net/netip"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/mdlayher/packet"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/lvskit/lvskit/internal/netnstest"
	"github.com/lvskit/lvskit/netcfg"
)

// open binds a netcfg.Host to a test namespace by name, as a user of the
// package would.
func open(t *testing.T, h *netnstest.Host) *netcfg.Host {
	t.Helper()
	nh, err := netcfg.Open(netcfg.Config{NetNS: h.Name()})
	if err != nil {
		t.Fatalf("netcfg.Open(%s): %v", h.Name(), err)
	}
	t.Cleanup(func() {
		if err := nh.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return nh
}

// must returns a function that fails t on a non-nil error and passes the
// Change through: must(t)(h.AddAddress(a)).
func must(t *testing.T) func(*netcfg.Change, error) *netcfg.Change {
	return func(c *netcfg.Change, err error) *netcfg.Change {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
}

// arpWho asks, from observer's ifname, who has target, and returns the
// MACs that answered within about a second (three requests). It is an
// independent observer: a packet socket in the observer's namespace,
// frames decoded with gopacket.
func arpWho(t *testing.T, observer *netnstest.Host, ifname string, sender, target netip.Addr) []net.HardwareAddr {
	t.Helper()
	conn, mac := observerSocket(t, observer, ifname, unix.ETH_P_ARP)
	defer conn.Close()
	s4, t4 := sender.As4(), target.As4()
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true},
		&layers.Ethernet{SrcMAC: mac, DstMAC: layers.EthernetBroadcast, EthernetType: layers.EthernetTypeARP},
		&layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4,
			Operation: layers.ARPRequest, SourceHwAddress: mac, SourceProtAddress: s4[:], DstHwAddress: make([]byte, 6), DstProtAddress: t4[:]},
	); err != nil {
		t.Fatal(err)
	}
	var got []net.HardwareAddr
	b := make([]byte, 2048)
	for i := 0; i < 3; i++ {
		if _, err := conn.WriteTo(buf.Bytes(), &packet.Addr{HardwareAddr: layers.EthernetBroadcast}); err != nil {
			t.Fatalf("send ARP request: %v", err)
		}
		deadline := time.Now().Add(350 * time.Millisecond)
		conn.SetReadDeadline(deadline)
		for {
			n, _, err := conn.ReadFrom(b)
			if err != nil {
				break
			}
			p := gopacket.NewPacket(b[:n], layers.LayerTypeEthernet, gopacket.Default)
			arp, ok := p.Layer(layers.LayerTypeARP).(*layers.ARP)
			if !ok || arp.Operation != layers.ARPReply || !bytes.Equal(arp.SourceProtAddress, t4[:]) {
				continue
			}
			got = append(got, net.HardwareAddr(arp.SourceHwAddress))
		}
	}
	return got
}

// snapshot is the observable network state of a namespace, read by ip(8),
// sysctl(8) and nft(8) as independent observers.
type snapshot map[string]string

func takeSnapshot(t *testing.T, h *netnstest.Host) snapshot {
	t.Helper()
	run := func(name string, args ...string) string {
		cmd := h.Command(context.Background(), name, args...)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		if err := cmd.Run(); err != nil {
			var ee *exec.ExitError
			if !errors.As(err, &ee) || name != "sysctl" { // sysctl -a exits 255 on unreadable keys
				t.Fatalf("%s %v in %s: %v\n%s", name, args, h.Name(), err, errb.String())
			}
		}
		return out.String()
	}
	s := snapshot{
		"links":     run("ip", "-d", "-o", "link", "show"),
		"addresses": stripLifetimes(run("ip", "-o", "addr", "show")),
		"routes4":   run("ip", "-4", "route", "show", "table", "all"),
		"routes6":   run("ip", "-6", "route", "show", "table", "all"),
		"rules4":    run("ip", "-4", "rule", "show"),
		"rules6":    run("ip", "-6", "rule", "show"),
		"nft":       run("nft", "list", "ruleset"),
	}
	var keep []string
	for _, line := range strings.Split(run("sysctl", "-a"), "\n") {
		if strings.HasPrefix(line, "net.ipv4.conf.") || strings.HasPrefix(line, "net.ipv4.ip_forward ") ||
			(strings.HasPrefix(line, "net.ipv6.conf.") && !strings.Contains(line, "stable_secret")) {
			keep = append(keep, line)
		}
	}
	s["sysctls"] = strings.Join(keep, "\n")
	return s
}

// stripLifetimes drops the valid_lft/preferred_lft counters that tick.
func stripLifetimes(s string) string {
	var out []string
	for _, line := range strings.Split(s, "\n") {
		if i := strings.Index(line, "\\       valid_lft"); i >= 0 {
			line = line[:i]
		}
		out = append(out, line)
	}
	return strings.Join(out, "\n")
}

// neighMAC returns the MAC the namespace's neighbour table has for ip on
// link, or nil.
func neighMAC(t *testing.T, h *netnstest.Host, link string, ip netip.Addr) net.HardwareAddr {
	t.Helper()
	l, err := h.Netlink().LinkByName(link)
	if err != nil {
		t.Fatal(err)
	}
	fam := netlink.FAMILY_V4
	if ip.Is6() {
		fam = netlink.FAMILY_V6
	}
	list, err := h.Netlink().NeighList(l.Attrs().Index, fam)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range list {
		if a, ok := netip.AddrFromSlice(n.IP); ok && a.Unmap() == ip {
			return n.HardwareAddr
		}
	}
	return nil
}

// waitNeigh polls until the neighbour entry for ip has mac, or fails.
func waitNeigh(t *testing.T, h *netnstest.Host, link string, ip netip.Addr, mac net.HardwareAddr) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		got := neighMAC(t, h, link, ip)
		if bytes.Equal(got, mac) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("neighbour entry for %v in %s: got %v, want %v", ip, h.Name(), got, mac)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// exchange writes a line on c and reads the peer's answer.
func exchange(t *testing.T, c net.Conn, msg string) string {
	t.Helper()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, msg+"\n"); err != nil {
		t.Fatalf("write: %v", err)
	}
	b := make([]byte, 256)
	n, err := c.Read(b)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return strings.TrimSpace(string(b[:n]))
}

// serve accepts connections on ln and answers each first line with
// "<prefix> <remote address>", recording nothing else.
func serve(t *testing.T, ln net.Listener, prefix string) {
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(10 * time.Second))
				b := make([]byte, 256)
				if _, err := c.Read(b); err != nil {
					return
				}
				ra := c.RemoteAddr().(*net.TCPAddr)
				io.WriteString(c, prefix+" "+ra.IP.String()+"\n")
			}()
		}
	}()
}

// diffLines is cmp.Diff over lines, so failures show only what changed.
func diffLines(want, got string) string {
	return cmp.Diff(strings.Split(want, "\n"), strings.Split(got, "\n"))
}

// settle waits until every up, non-loopback link of h has its IPv6
// link-local address and none is tentative: the kernel adds link-local
// addresses when a link gets carrier and runs duplicate address detection
// on them for about a second, so snapshots taken earlier would compare
// that, not what netcfg did.
func settle(t *testing.T, h *netnstest.Host) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		ready := strings.TrimSpace(h.Run("ip", "-6", "addr", "show", "tentative")) == ""
		links, err := h.Netlink().LinkList()
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range links {
			a := l.Attrs()
			if a.Flags&net.FlagUp == 0 || a.Flags&net.FlagLoopback != 0 {
				continue
			}
			addrs, err := h.Netlink().AddrList(l, netlink.FAMILY_V6)
			if err != nil {
				t.Fatal(err)
			}
			ll := false
			for _, ad := range addrs {
				if ad.IP.IsLinkLocalUnicast() {
					ll = true
				}
			}
			ready = ready && ll
		}
		if ready {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("IPv6 link-local addresses in %s not settled:\n%s", h.Name(), h.Run("ip", "-6", "addr"))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// countAnnouncements opens a packet socket on h's link now and returns a
// function that waits until what arrived meanwhile is want (or 10 s went
// by), stops the socket and reports what arrived: "garp MAC" (ARP
// requests with sender = target address) and "na MAC" (neighbour
// advertisements with the override flag, by their target link-layer
// address option) with how many of each. Frames the kernel queued on the
// socket before the stop are all counted, however late the reader runs.
func countAnnouncements(t *testing.T, h *netnstest.Host, ifname string) func(want map[string]int) map[string]int {
	t.Helper()
	conn, _ := observerSocket(t, h, ifname, unix.ETH_P_ALL)
	var mu sync.Mutex
	counts := map[string]int{}
	tally := func(frame []byte) {
		p := gopacket.NewPacket(frame, layers.LayerTypeEthernet, gopacket.Default)
		mu.Lock()
		defer mu.Unlock()
		if arp, ok := p.Layer(layers.LayerTypeARP).(*layers.ARP); ok {
			if arp.Operation == layers.ARPRequest && bytes.Equal(arp.SourceProtAddress, arp.DstProtAddress) {
				counts["garp "+net.HardwareAddr(arp.SourceHwAddress).String()]++
			}
			return
		}
		if na, ok := p.Layer(layers.LayerTypeICMPv6NeighborAdvertisement).(*layers.ICMPv6NeighborAdvertisement); ok && na.Override() {
			for _, o := range na.Options {
				if o.Type == layers.ICMPv6OptTargetAddress {
					counts["na "+net.HardwareAddr(o.Data).String()]++
				}
			}
		}
	}
	snapshot := func() map[string]int {
		mu.Lock()
		defer mu.Unlock()
		return maps.Clone(counts)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		b := make([]byte, 4096)
		for {
			n, _, err := conn.ReadFrom(b)
			if err != nil {
				return
			}
			tally(b[:n])
		}
	}()
	var once bool
	stop := func() {
		if once {
			return
		}
		once = true
		// A deadline in the past ends the reader at once; a reader that
		// ran late may leave frames queued, and a read after a deadline
		// never reaches the socket: take them without waiting.
		conn.SetReadDeadline(time.Unix(1, 0))
		<-done
		if rc, err := conn.SyscallConn(); err == nil {
			rc.Control(func(fd uintptr) {
				b := make([]byte, 4096)
				for {
					n, _, err := unix.Recvfrom(int(fd), b, unix.MSG_DONTWAIT)
					if err != nil {
						return
					}
					tally(b[:n])
				}
			})
		}
		conn.Close()
	}
	t.Cleanup(stop)
	return func(want map[string]int) map[string]int {
		// Frames for different announcements may be handled on different
		// CPUs: one seen in a neighbour table does not mean every earlier
		// one was counted yet.
		for deadline := time.Now().Add(10 * time.Second); !maps.Equal(snapshot(), want) && time.Now().Before(deadline); {
			time.Sleep(20 * time.Millisecond)
		}
		stop()
		return snapshot()
	}
}

// observerSocket opens a raw packet socket for EtherType proto on a link of
// h, inside h's namespace, and returns it with the link's MAC address.
func observerSocket(t *testing.T, h *netnstest.Host, ifname string, proto int) (*packet.Conn, net.HardwareAddr) {
	t.Helper()
	l, err := h.Netlink().LinkByName(ifname)
	if err != nil {
		t.Fatal(err)
	}
	mac := l.Attrs().HardwareAddr
	ifi := &net.Interface{Index: l.Attrs().Index, Name: ifname, HardwareAddr: mac, MTU: l.Attrs().MTU}
	var conn *packet.Conn
	if err := h.Do(func() error {
		var err error
		conn, err = packet.Listen(ifi, packet.Raw, proto, nil)
		return err
	}); err != nil {
		t.Fatalf("packet socket on %s in %s: %v", ifname, h.Name(), err)
	}
	return conn, mac
}
