package bgp

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"time"

	"github.com/lvskit/lvskit/clock"
)

// Config describes one BGP speaker: the local AS and router ID, and the
// peers (routers) it announces routes to. The zero value of each optional
// field is the documented default.
type Config struct {
	// ASN is the local autonomous system number (4-byte ASNs allowed).
	// Required.
	ASN uint32
	// RouterID is the BGP identifier, an IPv4 address. Required.
	RouterID netip.Addr
	// ListenPort is the TCP port the speaker accepts sessions on: 0 means
	// 179, negative means it does not listen and only connects out. A
	// router can open the session either way; listening lets it do so
	// first.
	ListenPort int
	// ListenAddresses are the addresses to listen on; empty means all
	// (0.0.0.0 and ::).
	ListenAddresses []netip.Addr
	// Peers are the routers to announce to. At least one is required;
	// addresses must be unique.
	Peers []Peer
	// StopTimeout bounds how long Run, once its context ends, waits for
	// the withdrawals to be sent and then for the sessions to close; 0
	// means 5s.
	StopTimeout time.Duration
	// Clock stamps status times; nil means the wall clock.
	Clock clock.Clock
	// Logger receives logs (also GoBGP's, under component=gobgp); nil
	// discards them.
	Logger *slog.Logger
	// Metrics, when set, exports this speaker's peers and routes.
	Metrics *Metrics
}

// Peer is one BGP neighbor. A peer whose ASN equals Config.ASN is internal
// (iBGP), any other external (eBGP). Routes go to the peers of their family:
// IPv4 routes to peers with an IPv4 Address, IPv6 routes to IPv6 peers, each
// with the local address of that session as next hop ("next-hop self").
type Peer struct {
	// Address is the peer's address. Required.
	Address netip.Addr
	// ASN is the peer's autonomous system number. Required.
	ASN uint32
	// Port is the peer's TCP port; 0 means 179.
	Port uint16
	// LocalAddress is the source address of the session, and so the next
	// hop of the routes sent on it; zero lets the kernel choose it.
	LocalAddress netip.Addr
	// Password enables TCP MD5 signatures (RFC 2385) with this key, as
	// FRR's "neighbor X password". Empty means none. At most 80 bytes.
	Password string
	// Multihop is the TTL of an eBGP session to a peer that is not
	// directly connected (ebgp-multihop); 0 means directly connected
	// (TTL 1). BFD is single-hop only, so it needs BFD.Disable.
	Multihop uint8
	// HoldTime is the hold time proposed in OPEN; 0 means 90s. The
	// session uses the smaller of both sides'. Non-zero values below 3s
	// are an error.
	HoldTime time.Duration
	// KeepaliveInterval is the keepalive period; 0 means HoldTime/3.
	KeepaliveInterval time.Duration
	// ConnectRetry is the wait between connection attempts, and before
	// the first one after a session went down; 0 means 5s.
	ConnectRetry time.Duration
	// Passive waits for the peer to connect and never connects out.
	Passive bool
	// Description names the peer in logs.
	Description string
	// BFD runs a BFD session with the peer (on by default).
	BFD BFD
}

// BFD configures one peer's BFD session (RFC 5880, single hop as in RFC
// 5881: UDP port 3784, TTL 255). When the session goes down after having
// been up, the BGP session is torn down at once. The router detects this
// speaker's loss after Multiplier × max(MinTx, the router's receive
// interval).
type BFD struct {
	// Disable turns BFD off for the peer: its loss is then seen through
	// the BGP hold timer only.
	Disable bool
	// MinTx is the desired minimum transmit interval; 0 means 300ms.
	MinTx time.Duration
	// MinRx is the required minimum receive interval; 0 means 300ms.
	MinRx time.Duration
	// Multiplier is the detection multiplier; 0 means 3.
	Multiplier uint8
}

const (
	defaultHoldTime     = 90 * time.Second
	defaultConnectRetry = 5 * time.Second
	defaultStopTimeout  = 5 * time.Second
	defaultBFDInterval  = 300 * time.Millisecond
	defaultBFDMult      = 3
	maxPasswordLen      = 80 // TCP_MD5SIG_MAXKEYLEN
)

// Validate reports whether c is a configuration New accepts, without
// making a speaker: the same checks, and the error New would return.
func (c Config) Validate() error {
	_, err := c.resolve()
	return err
}

// resolved is a validated Config with its defaults applied.
type resolved struct {
	Config
	peers []Peer
	// families says which route families have at least one peer.
	v4, v6 bool
}

func (c Config) resolve() (*resolved, error) {
	if c.ASN == 0 {
		return nil, errors.New("config: ASN is required")
	}
	if !c.RouterID.Is4() || c.RouterID.IsUnspecified() {
		return nil, fmt.Errorf("config: RouterID %v: want a non-zero IPv4 address", c.RouterID)
	}
	if c.ListenPort > 65535 {
		return nil, fmt.Errorf("config: ListenPort %d out of range", c.ListenPort)
	}
	for _, a := range c.ListenAddresses {
		if !a.IsValid() {
			return nil, errors.New("config: ListenAddresses holds an invalid address")
		}
	}
	if len(c.Peers) == 0 {
		return nil, errors.New("config: at least one peer is required")
	}
	if c.StopTimeout < 0 {
		return nil, fmt.Errorf("config: StopTimeout %v is negative", c.StopTimeout)
	}
	r := &resolved{Config: c}
	if r.StopTimeout == 0 {
		r.StopTimeout = defaultStopTimeout
	}
	r.Clock = clock.Or(c.Clock)
	if r.Logger == nil {
		r.Logger = slog.New(slog.DiscardHandler)
	}
	seen := make(map[netip.Addr]bool, len(c.Peers))
	for i, p := range c.Peers {
		p, err := p.resolve()
		if err != nil {
			return nil, fmt.Errorf("config: peer %d: %w", i, err)
		}
		if seen[p.Address] {
			return nil, fmt.Errorf("config: peer %d: address %v repeated", i, p.Address)
		}
		seen[p.Address] = true
		if p.Address.Is4() {
			r.v4 = true
		} else {
			r.v6 = true
		}
		r.peers = append(r.peers, p)
	}
	return r, nil
}

func (p Peer) resolve() (Peer, error) {
	if !p.Address.IsValid() || p.Address.IsUnspecified() {
		return p, fmt.Errorf("address %v: want a peer address", p.Address)
	}
	p.Address = p.Address.Unmap()
	if p.Address.Zone() != "" {
		return p, fmt.Errorf("address %v: link-local peers with a zone are not supported", p.Address)
	}
	if p.ASN == 0 {
		return p, fmt.Errorf("peer %v: ASN is required", p.Address)
	}
	if p.LocalAddress.IsValid() {
		p.LocalAddress = p.LocalAddress.Unmap()
		if p.LocalAddress.Is4() != p.Address.Is4() {
			return p, fmt.Errorf("peer %v: LocalAddress %v is of the other family", p.Address, p.LocalAddress)
		}
	}
	if len(p.Password) > maxPasswordLen {
		return p, fmt.Errorf("peer %v: password longer than %d bytes", p.Address, maxPasswordLen)
	}
	switch {
	case p.HoldTime == 0:
		p.HoldTime = defaultHoldTime
	case p.HoldTime < 3*time.Second || p.HoldTime > 65535*time.Second:
		return p, fmt.Errorf("peer %v: HoldTime %v: want 0 (90s) or 3s..65535s", p.Address, p.HoldTime)
	case p.HoldTime%time.Second != 0:
		return p, fmt.Errorf("peer %v: HoldTime %v: want whole seconds", p.Address, p.HoldTime)
	}
	switch {
	case p.KeepaliveInterval == 0:
		p.KeepaliveInterval = p.HoldTime / 3
	case p.KeepaliveInterval < time.Second || p.KeepaliveInterval%time.Second != 0 || p.KeepaliveInterval > p.HoldTime:
		return p, fmt.Errorf("peer %v: KeepaliveInterval %v: want whole seconds, 1s..HoldTime", p.Address, p.KeepaliveInterval)
	}
	switch {
	case p.ConnectRetry == 0:
		p.ConnectRetry = defaultConnectRetry
	case p.ConnectRetry < time.Second || p.ConnectRetry%time.Second != 0:
		return p, fmt.Errorf("peer %v: ConnectRetry %v: want whole seconds, at least 1s", p.Address, p.ConnectRetry)
	}
	if p.BFD.Disable {
		return p, nil
	}
	if p.Multihop > 1 {
		return p, fmt.Errorf("peer %v: BFD is single-hop (RFC 5881) and the peer is multihop: set BFD.Disable", p.Address)
	}
	var err error
	if p.BFD.MinTx, err = bfdInterval("MinTx", p.BFD.MinTx); err != nil {
		return p, fmt.Errorf("peer %v: %w", p.Address, err)
	}
	if p.BFD.MinRx, err = bfdInterval("MinRx", p.BFD.MinRx); err != nil {
		return p, fmt.Errorf("peer %v: %w", p.Address, err)
	}
	if p.BFD.Multiplier == 0 {
		p.BFD.Multiplier = defaultBFDMult
	}
	return p, nil
}

// bfdInterval applies the default and checks a BFD interval: whole
// microseconds on the wire, and no faster than 10ms here, where the
// sender is a Go timer rather than hardware.
func bfdInterval(name string, d time.Duration) (time.Duration, error) {
	switch {
	case d == 0:
		return defaultBFDInterval, nil
	case d < 10*time.Millisecond || d > time.Minute:
		return 0, fmt.Errorf("BFD %s %v: want 10ms..1m", name, d)
	case d%time.Microsecond != 0:
		return 0, fmt.Errorf("BFD %s %v: want whole microseconds", name, d)
	}
	return d, nil
}

// ibgp reports whether p is an internal peer of a speaker in AS asn.
func (p Peer) ibgp(asn uint32) bool { return p.ASN == asn }
