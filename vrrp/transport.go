package vrrp

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sync"
)

// Transport carries VRRP messages between routers. NewRawTransport is the
// real one (IP protocol 112); MemNet makes in-memory ones for simulations.
type Transport interface {
	// Open starts receiving for one instance. deliver is called, from the
	// transport's goroutine, for each packet arriving on the interface in
	// the family of the endpoint (with this VRID, or any packet whose VRID
	// no endpoint claims, so that instances count it). deliver must not
	// block, and must copy the packet's Data to keep it past its return.
	Open(cfg EndpointConfig, deliver func(Packet)) (Endpoint, error)
}

// flusher is an Endpoint whose transport may hold received packets back
// for a while (to read them in batches). Flush delivers every packet the
// endpoint's socket has received before it returns.
type flusher interface {
	Flush()
}

// EndpointConfig says where an instance speaks.
type EndpointConfig struct {
	Interface string
	IPv6      bool
	VRID      uint8
	// Source is the address adverts are sent from; zero means the
	// interface's first IPv4 address, or its IPv6 link-local address.
	Source netip.Addr
	// Multicast joins Group; false means unicast only.
	Multicast bool
	// Group is the multicast group; zero means 224.0.0.18 / ff02::12.
	// The endpoint receives multicast adverts sent to its group only.
	Group netip.Addr
	// AH is for an instance with AH authentication (IPv4 only): the
	// endpoint speaks IP protocol 51, Send takes whole IPv4 datagrams
	// (AppendAH; their ICV covers the IP header) and the packets it
	// delivers carry Packet.IPHeader.
	AH bool
	// Device, when set, is the link the endpoint sends and receives on
	// instead of Interface — keepalived's use_vmac macvlan, so adverts
	// leave with the virtual MAC — while the default source address is
	// still Interface's.
	Device string
}

// group is the multicast group of the endpoint.
func (c EndpointConfig) group() netip.Addr {
	switch {
	case c.Group.IsValid():
		return c.Group
	case c.IPv6:
		return GroupIPv6
	}
	return GroupIPv4
}

// Endpoint is one instance's attachment to a Transport.
type Endpoint interface {
	// LocalAddr is the source address adverts carry.
	LocalAddr() netip.Addr
	// Send transmits a VRRP message to dst (the group or a unicast peer)
	// with TTL / hop limit 255.
	Send(msg []byte, dst netip.Addr) error
	Close() error
}

// ErrClosed is returned by Send on a closed endpoint.
var ErrClosed = errors.New("endpoint closed")

// MemNet is an in-memory network of segments, named like interfaces, for
// simulating many routers in one process. Delivery is synchronous.
type MemNet struct {
	mu       sync.Mutex
	eps      []*memEndpoint
	down     map[netip.Addr]bool // addresses cut off from the network
	hopLimit int
}

// NewMemNet returns an empty in-memory network.
func NewMemNet() *MemNet { return &MemNet{down: map[netip.Addr]bool{}, hopLimit: 255} }

// SetHopLimit sets the hop limit every delivered packet reports (255 by
// default), to exercise the receive check.
func (n *MemNet) SetHopLimit(h int) { n.mu.Lock(); n.hopLimit = h; n.mu.Unlock() }

// SetDown cuts the router with address addr off (true) or reconnects it.
func (n *MemNet) SetDown(addr netip.Addr, down bool) {
	n.mu.Lock()
	n.down[addr] = down
	n.mu.Unlock()
}

// Transport returns a transport for a router with the given addresses,
// one per family.
func (n *MemNet) Transport(addrs ...netip.Addr) Transport {
	return &memTransport{n: n, addrs: addrs}
}

type memTransport struct {
	n     *MemNet
	addrs []netip.Addr
}

type memEndpoint struct {
	n       *MemNet
	cfg     EndpointConfig
	local   netip.Addr
	deliver func(Packet)
	closed  bool
}

func (t *memTransport) Open(cfg EndpointConfig, deliver func(Packet)) (Endpoint, error) {
	local := cfg.Source
	if !local.IsValid() {
		for _, a := range t.addrs {
			if a.Is6() == cfg.IPv6 {
				local = a
				break
			}
		}
	}
	if !local.IsValid() {
		return nil, fmt.Errorf("open memnet endpoint: no address for the family on %s", cfg.Interface)
	}
	ep := &memEndpoint{n: t.n, cfg: cfg, local: local, deliver: deliver}
	t.n.mu.Lock()
	t.n.eps = append(t.n.eps, ep)
	t.n.mu.Unlock()
	return ep, nil
}

func (e *memEndpoint) LocalAddr() netip.Addr { return e.local }

func (e *memEndpoint) Close() error {
	e.n.mu.Lock()
	defer e.n.mu.Unlock()
	e.closed = true
	e.n.eps = slices.DeleteFunc(e.n.eps, func(x *memEndpoint) bool { return x == e })
	return nil
}

func (e *memEndpoint) Send(msg []byte, dst netip.Addr) error {
	n := e.n
	n.mu.Lock()
	if e.closed {
		n.mu.Unlock()
		return ErrClosed
	}
	if n.down[e.local] {
		n.mu.Unlock()
		return nil // the wire is cut: the packet is lost
	}
	hl := n.hopLimit
	var hdr []byte
	if e.cfg.AH {
		var err error
		if hdr, msg, err = SplitAH(msg); err != nil {
			n.mu.Unlock()
			return fmt.Errorf("send ah datagram: %w", err)
		}
	}
	vrid := uint8(0)
	if len(msg) > 1 {
		vrid = msg[1]
	}
	var targets, all []*memEndpoint
	for _, o := range n.eps {
		if o == e || o.local == e.local || o.cfg.Interface != e.cfg.Interface || o.cfg.IPv6 != e.cfg.IPv6 || n.down[o.local] {
			continue
		}
		if o.cfg.AH != e.cfg.AH {
			continue // another IP protocol
		}
		if dst.IsMulticast() && (!o.cfg.Multicast || o.cfg.group() != dst) || !dst.IsMulticast() && o.local != dst {
			continue
		}
		all = append(all, o)
		if o.cfg.VRID == vrid {
			targets = append(targets, o)
		}
	}
	n.mu.Unlock()
	if len(targets) == 0 {
		targets = all
	}
	for _, o := range targets {
		o.deliver(Packet{Src: e.local, Dst: dst, HopLimit: hl, Data: slices.Clone(msg), IPHeader: slices.Clone(hdr)})
	}
	return nil
}
