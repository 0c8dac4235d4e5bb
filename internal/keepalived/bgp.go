package keepalived

import (
	"math"
	"net/netip"
	"strings"
	"time"
)

// The bgp block is lvskit's own (keepalived has no BGP): it makes a
// director announce the addresses of its virtual servers to routers, for
// active-active directors behind the routers' ECMP. Its syntax follows
// keepalived's habits (one keyword a line, blocks, times in seconds; BFD
// intervals in milliseconds as in keepalived's bfd_instance):
//
//	bgp {
//	    local_as 65001
//	    router_id 192.168.0.200
//	    drain_timeout 10
//	    community 65001:100
//	    neighbor 192.168.0.254 {
//	        remote_as 65000
//	        password secret
//	        hold_time 9
//	        keepalive 3
//	        bfd {
//	            min_rx 100
//	            min_tx 100
//	            multiplier 3
//	        }
//	    }
//	    announce 192.168.0.253
//	    announce 2001:db8::253 {
//	        med 10
//	    }
//	}

// BGP is the bgp block.
type BGP struct {
	Pos Pos
	// LocalAS is the director's autonomous system number. Required.
	LocalAS Value[uint32]
	// RouterID is the BGP identifier, an IPv4 address. Required.
	RouterID Value[netip.Addr]
	// ListenPort is the TCP port sessions are accepted on (default 179);
	// NoListen (no_listen) makes the director only connect out.
	ListenPort Value[uint16]
	NoListen   Value[bool]
	// DrainTimeout bounds the wait, on a graceful stop, between the
	// withdrawal of the routes and the removal of the services (default
	// 10s).
	DrainTimeout Value[time.Duration]
	// BGPAttributes are the attributes of every announced route, unless an
	// announce block sets its own.
	BGPAttributes
	Neighbors []BGPNeighbor
	Announce  []BGPAnnounce
}

// BGPAttributes are the path attributes sent with a route.
type BGPAttributes struct {
	// Communities are the words of the community lines, each "AS:VALUE"
	// or a well-known name (no-export, no-advertise, local-AS), checked by
	// the director.
	Communities []Value[string]
	// MED is the MULTI_EXIT_DISC (med); not set means none is sent.
	MED Value[uint32]
	// LocalPref is the LOCAL_PREF (local_preference) sent to iBGP peers;
	// not set means 100.
	LocalPref Value[uint32]
}

// BGPNeighbor is a neighbor block: one router.
type BGPNeighbor struct {
	Pos  Pos
	Addr netip.Addr
	// RemoteAS is the router's autonomous system number. Required; equal
	// to local_as makes the session internal (iBGP).
	RemoteAS Value[uint32]
	// Port is the router's TCP port (default 179).
	Port Value[uint16]
	// LocalAddress is the session's source address, and so the next hop
	// of the routes (default: the kernel's choice).
	LocalAddress Value[netip.Addr]
	// Password turns on TCP MD5 signatures (RFC 2385).
	Password Value[string]
	// EBGPMultihop is the TTL of a session to a router that is not
	// directly connected (ebgp_multihop; default 1: directly connected).
	EBGPMultihop Value[int]
	// HoldTime (hold_time, default 90s), Keepalive (keepalive, default a
	// third of the hold time) and ConnectRetry (connect_retry, default
	// 5s) are in whole seconds.
	HoldTime     Value[time.Duration]
	Keepalive    Value[time.Duration]
	ConnectRetry Value[time.Duration]
	// Passive waits for the router to connect.
	Passive     Value[bool]
	Description Value[string]
	BFD         BGPBFD
}

// BGPBFD is a neighbor's BFD session: on by default (300 ms × 3), off
// with no_bfd, timed by a bfd block.
type BGPBFD struct {
	// Pos is the bfd block's.
	Pos     Pos
	Disable Value[bool]
	// MinRx and MinTx are min_rx and min_tx, in milliseconds in the file
	// (default 300).
	MinRx, MinTx Value[time.Duration]
	// Multiplier is the detection multiplier (default 3).
	Multiplier Value[int]
}

// BGPAnnounce is an announce line or block: an address announced as a
// host route while a virtual server on it has its quorum, with attributes
// that replace the bgp block's (each set one replaces that attribute).
type BGPAnnounce struct {
	Pos  Pos
	Addr netip.Addr
	BGPAttributes
}

func (d *decoder) bgp(n *node) {
	if !d.blockOnly(n, 0, 0) {
		return
	}
	if prev := d.cfg.BGP; prev != nil {
		d.errorf(n.pos, "bgp: given twice (first at %s)", prev.Pos)
		return
	}
	b := &BGP{Pos: n.pos}
	from := len(d.warns)
	t := table{
		"local_as":      d.asn(&b.LocalAS),
		"router_id":     d.addr(&b.RouterID),
		"listen_port":   d.port(&b.ListenPort),
		"no_listen":     d.fixed(&b.NoListen, true),
		"drain_timeout": d.duration(&b.DrainTimeout),
		"neighbor": func(c *node) {
			if nb, ok := d.bgpNeighbor(c); ok {
				b.Neighbors = append(b.Neighbors, nb)
			}
		},
		"announce": func(c *node) {
			if a, ok := d.bgpAnnounce(c); ok {
				b.Announce = append(b.Announce, a)
			}
		},
	}
	d.bgpAttributes(t, &b.BGPAttributes)
	d.decodeBlock("bgp", n, t, nil)
	d.strict(from)
	if !b.LocalAS.Set() {
		d.errorf(n.pos, "bgp: missing local_as")
	}
	if !b.RouterID.Set() {
		d.errorf(n.pos, "bgp: missing router_id")
	}
	if len(b.Neighbors) == 0 {
		d.errorf(n.pos, "bgp: no neighbor")
	}
	d.cfg.BGP = b
}

// keepalivedIgnores are the endings of the warnings of values and
// keywords keepalived ignores.
var keepalivedIgnores = []string{
	": the line is ignored, as keepalived does",
	": ignored, as keepalived does",
	" ignored, as keepalived does",
	": keepalived ignores the '{'",
}

// strict turns the warnings given since the from'th into errors. The bgp
// block is lvskit's own, so there is no keepalived behaviour to follow
// in it: a keyword or value that elsewhere keepalived ignores, with a
// warning, would here run a BGP speaker other than written (a mistyped
// BFD timer left at its default, say), so it rejects the file.
func (d *decoder) strict(from int) {
	for _, w := range d.warns[from:] {
		msg := w.Msg
		for _, end := range keepalivedIgnores {
			if i := strings.Index(msg, end); i >= 0 {
				msg = msg[:i]
				break
			}
		}
		d.errorf(w.Pos, "%s", msg)
	}
	d.warns = d.warns[:from]
}

// bgpAttributes adds the keywords of route attributes to t.
func (d *decoder) bgpAttributes(t table, a *BGPAttributes) {
	t["community"] = func(c *node) {
		if !d.plain(c, 1, -1) {
			return
		}
		for _, w := range c.args {
			a.Communities = append(a.Communities, Value[string]{V: w.Text, Pos: w.Pos})
		}
	}
	t["med"] = d.uint32v(&a.MED)
	t["local_preference"] = d.uint32v(&a.LocalPref)
}

// asn reads an AS number, 1..4294967295 (4-byte ASNs as plain numbers).
func (d *decoder) asn(dst *Value[uint32]) kwFunc {
	return func(n *node) {
		if !d.plain(n, 1, 1) {
			return
		}
		if v, ok := d.parseInt(n.name, n.args[0], 1, math.MaxUint32); ok {
			*dst = Value[uint32]{V: uint32(v), Pos: n.pos}
		}
	}
}

// millis reads a whole number of milliseconds.
func (d *decoder) millis(dst *Value[time.Duration], min, max int64) kwFunc {
	return func(n *node) {
		if !d.plain(n, 1, 1) {
			return
		}
		if v, ok := d.parseInt(n.name+" (milliseconds)", n.args[0], min, max); ok {
			*dst = Value[time.Duration]{V: time.Duration(v) * time.Millisecond, Pos: n.pos}
		}
	}
}

func (d *decoder) bgpNeighbor(n *node) (BGPNeighbor, bool) {
	nb := BGPNeighbor{Pos: n.pos}
	if !d.blockOnly(n, 1, 1) {
		return nb, false
	}
	a, ok := d.parseAddr("neighbor", n.args[0])
	if !ok {
		return nb, false
	}
	nb.Addr = a
	t := table{
		"remote_as":     d.asn(&nb.RemoteAS),
		"port":          d.port(&nb.Port),
		"local_address": d.addr(&nb.LocalAddress),
		"password":      d.str(&nb.Password),
		"ebgp_multihop": d.integer(&nb.EBGPMultihop, 1, 255),
		"hold_time":     d.duration(&nb.HoldTime),
		"keepalive":     d.duration(&nb.Keepalive),
		"connect_retry": d.duration(&nb.ConnectRetry),
		"passive":       d.fixed(&nb.Passive, true),
		"description":   d.str(&nb.Description),
		"no_bfd":        d.fixed(&nb.BFD.Disable, true),
		"bfd": func(c *node) {
			if !d.blockOnly(c, 0, 0) {
				return
			}
			nb.BFD.Pos = c.pos
			d.decodeBlock("bfd", c, table{
				"min_rx":     d.millis(&nb.BFD.MinRx, 10, 60000),
				"min_tx":     d.millis(&nb.BFD.MinTx, 10, 60000),
				"multiplier": d.integer(&nb.BFD.Multiplier, 1, 255),
			}, nil)
		},
	}
	d.decodeBlock("neighbor", n, t, nil)
	if !nb.RemoteAS.Set() {
		d.errorf(n.pos, "neighbor %s: missing remote_as", nb.Addr)
		return nb, false
	}
	if nb.BFD.Disable.Set() && nb.BFD.Pos.IsValid() {
		d.errorf(nb.BFD.Disable.Pos, "neighbor %s: no_bfd and a bfd block (at %s) contradict each other", nb.Addr, nb.BFD.Pos)
		return nb, false
	}
	return nb, true
}

// bgpAnnounce reads "announce ADDR" with an optional block of attributes.
func (d *decoder) bgpAnnounce(n *node) (BGPAnnounce, bool) {
	a := BGPAnnounce{Pos: n.pos}
	if !d.nargs(n, 1, 1) {
		return a, false
	}
	addr, ok := d.parseAddr("announce", n.args[0])
	if !ok {
		return a, false
	}
	if addr.Zone() != "" {
		d.errorf(n.args[0].Pos, "announce: %s: an announced address has no zone", addr)
		return a, false
	}
	a.Addr = addr.Unmap()
	if n.block {
		t := table{}
		d.bgpAttributes(t, &a.BGPAttributes)
		d.decodeBlock("announce", n, t, nil)
	}
	return a, true
}
