package netcfg

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/mdlayher/packet"
	"github.com/vishvananda/netlink"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// Announcement asks for gratuitous ARPs (IPv4) and unsolicited neighbour
// advertisements (IPv6) telling a LAN where addresses now live, the way a
// new VRRP master does (keepalived's garp_master_repeat and friends).
type Announcement struct {
	// Link is the interface to send on; required.
	Link string
	// Addrs are the addresses to announce; IPv4 ones go out as ARP, IPv6
	// ones as neighbour advertisements.
	Addrs []netip.Addr
	// Count is how many rounds to send (each round one frame per
	// address); zero means 1.
	Count int
	// Interval is the pause between rounds; zero means none.
	Interval time.Duration
	// SourceMAC is the link-layer address announced (and the frames'
	// source), for example a VRRP virtual MAC; nil means Link's own.
	SourceMAC net.HardwareAddr
	// Router sets the NA router flag. Nil means: set it when IPv6
	// forwarding is on for Link, as keepalived does (a wrong R flag makes
	// neighbours drop a router from their default router list).
	Router *bool
}

// Announce sends a's frames from a packet socket opened inside the Host's
// namespace. It returns when all rounds are sent, or early with ctx's
// error.
//
// A gratuitous ARP here is an ARP request with sender and target protocol
// address both the announced address, to the broadcast MAC. The neighbour
// advertisement goes to ff02::1 with hop limit 255, the override flag and
// the target link-layer address option; its IPv6 source is the announced
// address itself. Receivers update neighbour entries they already have;
// Linux creates new ones only with arp_accept / accept_untracked_na.
func (h *Host) Announce(ctx context.Context, a Announcement) error {
	if len(a.Addrs) == 0 {
		return nil
	}
	l, err := h.link(a.Link)
	if err != nil {
		return fmt.Errorf("announce: %w", err)
	}
	attrs := l.Attrs()
	mac := a.SourceMAC
	if mac == nil {
		mac = attrs.HardwareAddr
	}
	if len(mac) != 6 {
		return fmt.Errorf("announce on %q: source MAC %v: want a 6-byte Ethernet address", a.Link, mac)
	}
	if mac[0]&1 != 0 {
		return fmt.Errorf("announce on %q: source MAC %v is a group address", a.Link, mac)
	}
	var v4, v6 [][]byte
	for _, ip := range a.Addrs {
		if !ip.IsValid() || ip.IsUnspecified() || ip.IsMulticast() || ip.Is4In6() {
			return fmt.Errorf("announce on %q: %v is not a unicast address", a.Link, ip)
		}
	}
	router := false
	if a.Router != nil {
		router = *a.Router
	}
	for _, ip := range a.Addrs {
		if ip.Is4() {
			f, err := GratuitousARP(mac, ip)
			if err != nil {
				return fmt.Errorf("announce on %q: %w", a.Link, err)
			}
			v4 = append(v4, f)
			continue
		}
		if a.Router == nil && len(v6) == 0 {
			v, err := h.Sysctl(ConfKey6(attrs.Name, "forwarding"))
			router = err == nil && v == "1"
		}
		f, err := UnsolicitedNA(mac, ip, router)
		if err != nil {
			return fmt.Errorf("announce on %q: %w", a.Link, err)
		}
		v6 = append(v6, f)
	}
	var arpConn, ndConn *packet.Conn
	if len(v4) > 0 {
		if arpConn, err = h.sendSocket(attrs, unix.ETH_P_ARP); err != nil {
			return fmt.Errorf("announce on %q: %w", a.Link, err)
		}
	}
	if len(v6) > 0 {
		if ndConn, err = h.sendSocket(attrs, unix.ETH_P_IPV6); err != nil {
			return fmt.Errorf("announce on %q: %w", a.Link, err)
		}
	}
	count := max(a.Count, 1)
	bcast := &packet.Addr{HardwareAddr: layers.EthernetBroadcast}
	allNodes := &packet.Addr{HardwareAddr: net.HardwareAddr{0x33, 0x33, 0, 0, 0, 1}}
	var timer *time.Timer
	for round := 0; round < count; round++ {
		if round > 0 && a.Interval > 0 {
			if timer == nil {
				timer = time.NewTimer(a.Interval)
				defer timer.Stop()
			} else {
				timer.Reset(a.Interval)
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-timer.C:
			}
		} else if err := ctx.Err(); err != nil {
			return err
		}
		for _, f := range v4 {
			if _, err := arpConn.WriteTo(f, bcast); err != nil {
				h.dropSendSocket(attrs.Name, unix.ETH_P_ARP, arpConn)
				return fmt.Errorf("announce on %q: send gratuitous ARP: %w", a.Link, describeSendErr(err))
			}
		}
		for _, f := range v6 {
			if _, err := ndConn.WriteTo(f, allNodes); err != nil {
				h.dropSendSocket(attrs.Name, unix.ETH_P_IPV6, ndConn)
				return fmt.Errorf("announce on %q: send neighbour advertisement: %w", a.Link, describeSendErr(err))
			}
		}
	}
	h.log.Debug("netcfg: announced", "link", a.Link, "addrs", a.Addrs, "mac", mac.String(), "rounds", count)
	return nil
}

func describeSendErr(err error) error {
	if errors.Is(err, unix.ENETDOWN) {
		return fmt.Errorf("%w (is the interface up?)", err)
	}
	return err
}

// GratuitousARP builds the Ethernet frame Announce sends for an IPv4
// address: an ARP request from mac, sender and target address ip, to the
// broadcast address (RFC 5227 calls it an ARP announcement).
func GratuitousARP(mac net.HardwareAddr, ip netip.Addr) ([]byte, error) {
	if !ip.Is4() {
		return nil, fmt.Errorf("gratuitous ARP for %v: not an IPv4 address", ip)
	}
	if len(mac) != 6 {
		return nil, fmt.Errorf("gratuitous ARP for %v: bad MAC %v", ip, mac)
	}
	a4 := ip.As4()
	eth := &layers.Ethernet{SrcMAC: mac, DstMAC: layers.EthernetBroadcast, EthernetType: layers.EthernetTypeARP}
	arp := &layers.ARP{
		AddrType:          layers.LinkTypeEthernet,
		Protocol:          layers.EthernetTypeIPv4,
		HwAddressSize:     6,
		ProtAddressSize:   4,
		Operation:         layers.ARPRequest,
		SourceHwAddress:   mac,
		SourceProtAddress: a4[:],
		DstHwAddress:      make([]byte, 6),
		DstProtAddress:    a4[:],
	}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true}, eth, arp); err != nil {
		return nil, fmt.Errorf("gratuitous ARP for %v: %w", ip, err)
	}
	return buf.Bytes(), nil
}

// NA flags (RFC 4861 section 4.4).
const (
	naRouter    = 0x80
	naSolicited = 0x40
	naOverride  = 0x20
)

// UnsolicitedNA builds the Ethernet frame Announce sends for an IPv6
// address: a neighbour advertisement for ip with the override flag (and
// the router flag if router), the target link-layer address option mac,
// from ip to ff02::1 (Ethernet 33:33:00:00:00:01), hop limit 255.
func UnsolicitedNA(mac net.HardwareAddr, ip netip.Addr, router bool) ([]byte, error) {
	if !ip.Is6() || ip.Is4In6() {
		return nil, fmt.Errorf("neighbour advertisement for %v: not an IPv6 address", ip)
	}
	if len(mac) != 6 {
		return nil, fmt.Errorf("neighbour advertisement for %v: bad MAC %v", ip, mac)
	}
	allNodes := net.ParseIP("ff02::1")
	eth := &layers.Ethernet{SrcMAC: mac, DstMAC: net.HardwareAddr{0x33, 0x33, 0, 0, 0, 1}, EthernetType: layers.EthernetTypeIPv6}
	ip6 := &layers.IPv6{Version: 6, HopLimit: 255, NextHeader: layers.IPProtocolICMPv6, SrcIP: ip.AsSlice(), DstIP: allNodes}
	icmp := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(layers.ICMPv6TypeNeighborAdvertisement, 0)}
	if err := icmp.SetNetworkLayerForChecksum(ip6); err != nil {
		return nil, err
	}
	flags := uint8(naOverride)
	if router {
		flags |= naRouter
	}
	na := &layers.ICMPv6NeighborAdvertisement{
		Flags:         flags,
		TargetAddress: ip.AsSlice(),
		Options:       layers.ICMPv6Options{{Type: layers.ICMPv6OptTargetAddress, Data: []byte(mac)}},
	}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, eth, ip6, icmp, na); err != nil {
		return nil, fmt.Errorf("neighbour advertisement for %v: %w", ip, err)
	}
	return buf.Bytes(), nil
}

// sendSocket returns the Host's packet socket for sending frames of
// ethertype proto on a link, opening it (inside the namespace) on first
// use. Sockets are kept until the Host closes because closing one costs
// the kernel an RCU grace period (packet_release calls synchronize_net),
// tens of milliseconds on a busy machine, which a VRRP takeover should
// not wait for. They carry a filter that accepts nothing, so they never
// queue received frames. A link that was deleted and made again (new
// index) gets a new socket.
func (h *Host) sendSocket(attrs *netlink.LinkAttrs, proto int) (*packet.Conn, error) {
	h.sockMu.Lock()
	defer h.sockMu.Unlock()
	if h.socks == nil {
		h.socks = map[sockKey]sendSock{}
	}
	key := sockKey{attrs.Name, proto}
	if s, ok := h.socks[key]; ok {
		if s.index == attrs.Index {
			return s.conn, nil
		}
		s.conn.Close()
		delete(h.socks, key)
	}
	ifi := &net.Interface{Index: attrs.Index, Name: attrs.Name, HardwareAddr: attrs.HardwareAddr, MTU: attrs.MTU}
	var conn *packet.Conn
	err := h.do(func() error {
		var err error
		conn, err = packet.Listen(ifi, packet.Raw, proto, &packet.Config{Filter: dropAll})
		return err
	})
	if err != nil {
		return nil, withPrivilegeHint(fmt.Errorf("open packet socket: %w", err))
	}
	h.socks[key] = sendSock{index: attrs.Index, conn: conn}
	return conn, nil
}

// dropSendSocket forgets (and closes) a socket that failed to send, so
// the next Announce starts afresh.
func (h *Host) dropSendSocket(link string, proto int, conn *packet.Conn) {
	h.sockMu.Lock()
	defer h.sockMu.Unlock()
	key := sockKey{link, proto}
	if s, ok := h.socks[key]; ok && s.conn == conn {
		delete(h.socks, key)
		conn.Close()
	}
}

func (h *Host) closeSendSockets() {
	h.sockMu.Lock()
	defer h.sockMu.Unlock()
	for k, s := range h.socks {
		s.conn.Close()
		delete(h.socks, k)
	}
}

type sockKey struct {
	link  string
	proto int
}

type sendSock struct {
	index int
	conn  *packet.Conn
}

// dropAll is the classic BPF program "ret #0": keep no bytes of any frame.
var dropAll = []bpf.RawInstruction{{Op: 0x06, K: 0}}
