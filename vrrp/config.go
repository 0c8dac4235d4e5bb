package vrrp

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"time"

	"github.com/lvskit/lvskit/clock"
	"github.com/lvskit/lvskit/internal/names"
)

// Config describes one VRRP instance (keepalived's vrrp_instance). The zero
// value of each field is keepalived 2.2.7's default where it has one.
type Config struct {
	// Name names the instance in logs, metrics and notifications;
	// empty means "VI_<VRID>".
	Name string
	// Interface is the link adverts are sent and received on. Required.
	Interface string
	// VRID is the virtual router ID, 1..255. Required.
	VRID uint8
	// Version is 2 (RFC 3768) or 3 (RFC 5798); 0 means 2 for IPv4 and 3
	// for IPv6, as keepalived's vrrp_version default.
	Version int
	// Priority is 1..255; 0 means 100. 255 means we own the addresses:
	// the instance starts as master and ignores adverts.
	Priority int
	// InitialState is keepalived's "state": StateMaster or StateBackup;
	// zero (StateInit) means MASTER for priority 255, else BACKUP. As in
	// keepalived 2.2.7 it is not the state the instance starts in: only an
	// address owner (priority 255) starts as master, every other instance
	// starts as BACKUP and takes over after the master-down interval like
	// any backup, in a sync group too (measured against keepalived 2.2.7).
	// What StateMaster does change, as in keepalived: Priority 0 means 255
	// instead of 100 (so the instance is the owner), and NoPreempt and
	// PreemptDelay are ignored (keepalived clears them with a warning).
	InitialState State
	// AdvertInterval is advert_int: 0 means 1s. Version 2 takes whole
	// seconds (1..255), version 3 centiseconds (10ms..40.95s).
	AdvertInterval time.Duration
	// VIPs are the virtual addresses (virtual_ipaddress), all of one
	// family. None is valid: the instance runs for its notifications.
	// Their family chooses IPv4 or IPv6. At least one is required.
	VIPs []VIP
	// Routes are virtual_routes, added with the addresses (needs a
	// Network that is also a RouteNetwork).
	Routes []Route
	// MasterItems are more host settings that follow the MASTER state:
	// added after the addresses and Routes, in order, and removed before
	// them, in reverse order (needs a Network that is also a
	// MasterItemNetwork). The director puts its virtual_routes and
	// virtual_rules here, with all their options.
	MasterItems []MasterItem
	// Source is the primary address adverts are sent from (unicast_src_ip);
	// zero means the interface's first IPv4 address or its IPv6 link-local.
	Source netip.Addr
	// Unicast sends adverts to UnicastPeers instead of the multicast group.
	// Unicast with no peers is an error (keepalived's unicast_fault_no_peer).
	// A non-empty UnicastPeers implies Unicast.
	Unicast      bool
	UnicastPeers []netip.Addr
	// Group is the multicast group adverts are sent to and received on:
	// keepalived's vrrp_mcast_group4 / vrrp_mcast_group6 (global_defs) or
	// mcast_dst_ip (an instance's). Zero means 224.0.0.18 / ff02::12. Not
	// used with unicast peers.
	Group netip.Addr
	// CheckUnicastSource drops unicast adverts whose source is not a peer.
	CheckUnicastSource bool
	// AuthPass enables version 2 authentication with up to 8 bytes: a
	// simple password (auth_type PASS) or the key of an AH header
	// (AuthType AuthAH); empty means none.
	AuthPass string
	// AuthType is AuthSimple (auth_type PASS) or AuthAH (auth_type AH:
	// keepalived's IPsec AH header, IP protocol 51, with an HMAC-MD5-96
	// keyed by AuthPass and anti-replay sequence numbers; IPv4 only). Zero
	// means AuthSimple when AuthPass is set.
	AuthType uint8
	// NoPreempt is keepalived's nopreempt: a backup with a higher priority
	// does not take over from a working lower-priority master.
	NoPreempt bool
	// PreemptDelay delays preemption (preempt_delay); 0 means none.
	PreemptDelay time.Duration
	// NoAccept drops traffic to the VIPs when not the owner (no_accept).
	// The default is accept mode, keepalived's default out of strict mode.
	// NoAccept needs a Network that is also an AcceptNetwork.
	NoAccept bool
	// LowerPrioNoAdvert follows the RFC strictly: a master ignores a lower
	// priority advert. By default it answers with an advert and
	// GARPLowerPrioRepeat announcements (keepalived), at most once per
	// AdvertInterval however many such adverts come.
	LowerPrioNoAdvert bool
	// SkipCheckAdvAddr accepts adverts whose address list differs from
	// VIPs (vrrp_skip_check_adv_addr); by default they are dropped.
	SkipCheckAdvAddr bool

	// GARPMasterDelay is the delay before the second set of gratuitous
	// ARPs / NAs after becoming master; 0 means 5s, negative means none.
	GARPMasterDelay time.Duration
	// GARPMasterRepeat is how many are sent in each set; 0 means 5.
	GARPMasterRepeat int
	// GARPMasterRefresh re-announces periodically while master; 0 means never.
	GARPMasterRefresh time.Duration
	// GARPMasterRefreshRepeat is the count per refresh; 0 means 1.
	GARPMasterRefreshRepeat int
	// GARPLowerPrioDelay and GARPLowerPrioRepeat: announcements after a
	// master hears a lower-priority advert; 0 means the GARPMaster* value,
	// negative means none.
	GARPLowerPrioDelay  time.Duration
	GARPLowerPrioRepeat int
	// GARPInterval / GNAInterval space the messages of one set; 0 means
	// back to back.
	GARPInterval time.Duration
	GNAInterval  time.Duration

	// UseVMAC puts the VIPs on a macvlan with the VRRP virtual MAC named
	// VMACName (default "vrrp.<VRID>"); needs a VMACNetwork. As in
	// keepalived 2.2, multicast adverts (IPv4, and IPv6 from a link-local
	// address the macvlan gets: Source if it is link-local, else the
	// parent's) are sent and received on the macvlan too, so they carry
	// the virtual MAC; with unicast peers keepalived forces
	// vmac_xmit_base, and so does this: adverts use Interface and its MAC,
	// the VIPs and their gratuitous ARPs / NAs the macvlan.
	UseVMAC  bool
	VMACName string
	// VMACXmitBase is keepalived's vmac_xmit_base: with UseVMAC, adverts
	// are sent and received on Interface (its MAC) even for multicast;
	// the VIPs and their announcements stay on the macvlan. Implied by
	// unicast peers.
	VMACXmitBase bool

	// Trackers change the effective priority (track_interface,
	// track_script, or a Go function).
	Trackers []Track

	// Notify says who hears about state changes.
	Notify Notify

	// Network configures the host. Required.
	Network Network
	// Transport carries the adverts. Required (NewRawTransport for real
	// sockets, MemNet for simulation).
	Transport Transport
	// Clock is the time source of the instance, of the trackers of this
	// package that have none of their own, and of script timeouts; nil
	// means the system clock.
	Clock Clock
	// Logger receives logs; nil discards. Dropped packets log at debug.
	Logger *slog.Logger
	// Metrics, when set, collects this instance's counters.
	Metrics *Metrics
}

// VIP is one virtual address (a line of virtual_ipaddress).
type VIP struct {
	// Prefix is the address with its prefix length; a bare address
	// (/32, /128) is what keepalived adds when none is given.
	Prefix netip.Prefix
	// Link is the interface to add it to; empty means Config.Interface.
	Link string
	// Label is the IPv4 address label, e.g. "eth0:1".
	Label string
}

// AcceptNetwork is needed with Config.NoAccept: it blocks traffic to and
// from the addresses while they are held without accept mode (netcfg does
// it in nftables as keepalived does). An IPv6 link-local address comes
// with its link as zone.
type AcceptNetwork interface {
	BlockAddresses(addrs []netip.Addr) error
	UnblockAddresses(addrs []netip.Addr) error
}

// resolved is Config with defaults applied and derived values computed.
type resolved struct {
	Config
	ipv6     bool
	addrs    []netip.Addr // sorted VIP addresses, for adverts and checks
	authData [authDataLen]byte
	authType uint8
	ahKey    AHKey
	peers    []netip.Addr
}

// Validate reports whether c describes a valid instance, as New checks it:
// the identity, addresses, version, priority, timers, authentication,
// unicast peers and trackers. It does not look at the run-time parts
// (Network, Transport, Clock, Logger, Metrics), which New checks; a
// program that reads a configuration ahead of running it (a director's
// check mode) calls Validate.
func (c *Config) Validate() error {
	_, err := c.settle()
	return err
}

// resolve is settle plus the checks of the run-time parts.
func (c Config) resolve() (*resolved, error) {
	r, err := c.settle()
	if err != nil {
		return nil, err
	}
	if r.Network == nil {
		return nil, errors.New("config: Network is required")
	}
	if r.Transport == nil {
		return nil, errors.New("config: Transport is required")
	}
	if len(r.Routes) > 0 {
		if _, ok := r.Network.(RouteNetwork); !ok {
			return nil, errors.New("config: Routes need a Network that can add routes")
		}
	}
	if len(r.MasterItems) > 0 {
		if _, ok := r.Network.(MasterItemNetwork); !ok {
			return nil, errors.New("config: MasterItems need a Network that can add them")
		}
	}
	if r.UseVMAC {
		if _, ok := r.Network.(VMACNetwork); !ok {
			return nil, errors.New("config: UseVMAC needs a Network that can create a VMAC")
		}
	}
	if r.NoAccept {
		if _, ok := r.Network.(AcceptNetwork); !ok {
			return nil, errors.New("config: NoAccept needs a Network that can block addresses")
		}
	}
	if r.Clock == nil {
		r.Clock = clock.Wall{}
	}
	if r.Logger == nil {
		r.Logger = slog.New(slog.DiscardHandler)
	}
	return r, nil
}

// settle checks c and applies the defaults of everything but the run-time
// parts.
func (c Config) settle() (*resolved, error) {
	r := &resolved{Config: c}
	if c.Interface == "" {
		return nil, errors.New("config: Interface is required")
	}
	if c.VRID == 0 {
		return nil, errors.New("config: VRID must be 1..255")
	}
	if r.Name == "" {
		r.Name = fmt.Sprintf("VI_%d", c.VRID)
	}
	if err := c.checkNames(); err != nil {
		return nil, err
	}
	// No VIPs is valid, as in keepalived ("No VIP specified"): the
	// instance runs for its notifications. Its family is then that of
	// its source or first unicast peer, else IPv4.
	switch {
	case len(c.VIPs) > 0:
		r.ipv6 = c.VIPs[0].Prefix.Addr().Is6()
	case c.Source.IsValid():
		r.ipv6 = c.Source.Is6() && !c.Source.Is4In6()
	case len(c.UnicastPeers) > 0:
		r.ipv6 = c.UnicastPeers[0].Is6() && !c.UnicastPeers[0].Is4In6()
	}
	if len(c.VIPs) > 255 {
		// An advert's count is one byte; keepalived moves the excess to
		// virtual_ipaddress_excluded, which lvskit does not have.
		return nil, fmt.Errorf("config: %d VIPs, an advert carries at most 255", len(c.VIPs))
	}
	for i, v := range c.VIPs {
		if !v.Prefix.IsValid() {
			return nil, fmt.Errorf("config: VIP %d is not a valid prefix", i)
		}
		if v.Prefix.Addr().Is6() != r.ipv6 {
			return nil, fmt.Errorf("config: VIP %v: all VIPs of an instance must be of one family", v.Prefix)
		}
		if r.VIPs[i].Link == "" {
			r.VIPs = slices.Clone(r.VIPs)
			r.VIPs[i].Link = c.Interface
		}
		r.addrs = append(r.addrs, v.Prefix.Addr())
	}
	slices.SortFunc(r.addrs, netip.Addr.Compare)
	switch {
	case r.Version == 0 && r.ipv6:
		r.Version = 3
	case r.Version == 0:
		r.Version = 2
	case r.Version != 2 && r.Version != 3:
		return nil, fmt.Errorf("config: version %d, want 2 or 3", r.Version)
	}
	if r.Version == 2 && r.ipv6 {
		return nil, errors.New("config: version 2 carries IPv4 only; use version 3 for IPv6")
	}
	switch r.InitialState {
	case StateInit, StateBackup:
	case StateMaster:
		// vrrp_complete_instance: "nopreempt will not work with initial
		// state MASTER - clearing", the same for preempt_delay.
		r.NoPreempt = false
		r.PreemptDelay = 0
	default:
		return nil, fmt.Errorf("config: initial state %v, want MASTER or BACKUP", r.InitialState)
	}
	switch {
	case r.Priority == 0 && r.InitialState == StateMaster:
		// "If no priority has been set, derive it from the initial state."
		r.Priority = PriorityOwner
	case r.Priority == 0:
		r.Priority = 100
	case r.Priority < 1 || r.Priority > 255:
		return nil, fmt.Errorf("config: priority %d, want 1..255", r.Priority)
	}
	if r.AdvertInterval == 0 {
		r.AdvertInterval = time.Second
	}
	if r.Version == 2 && (r.AdvertInterval%time.Second != 0 || r.AdvertInterval > 255*time.Second || r.AdvertInterval < 0) {
		return nil, fmt.Errorf("config: version 2 advert interval %v must be whole seconds 1..255", r.AdvertInterval)
	}
	if r.Version == 3 && (r.AdvertInterval%(10*time.Millisecond) != 0 || r.AdvertInterval > maxAdvertV3 || r.AdvertInterval < 0) {
		return nil, fmt.Errorf("config: version 3 advert interval %v must be centiseconds up to 40.95s", r.AdvertInterval)
	}
	switch {
	case r.AuthPass == "" && r.AuthType != AuthNone:
		return nil, fmt.Errorf("config: auth type %d needs AuthPass", r.AuthType)
	case r.AuthPass != "":
		if r.Version != 2 {
			return nil, errors.New("config: authentication exists in version 2 only")
		}
		if len(r.AuthPass) > authDataLen {
			return nil, fmt.Errorf("config: auth pass is %d bytes, at most %d", len(r.AuthPass), authDataLen)
		}
		switch r.AuthType {
		case AuthNone, AuthSimple:
			r.authType = AuthSimple
			copy(r.authData[:], r.AuthPass)
		case AuthAH:
			// The VRRP message's authentication data stays zero.
			r.authType = AuthAH
			copy(r.ahKey[:], r.AuthPass)
		default:
			return nil, fmt.Errorf("config: auth type %d, want %d (PASS) or %d (AH)", r.AuthType, AuthSimple, AuthAH)
		}
	}
	if len(r.UnicastPeers) > 0 {
		r.Unicast = true
	}
	if r.Unicast {
		if len(r.UnicastPeers) == 0 {
			return nil, errors.New("config: unicast with an empty peer list")
		}
		for _, p := range r.UnicastPeers {
			if p.Is6() != r.ipv6 {
				return nil, fmt.Errorf("config: unicast peer %v is not of the VIPs' family", p)
			}
		}
		if r.CheckUnicastSource {
			r.peers = r.UnicastPeers
		}
	}
	if r.Group.IsValid() {
		if !r.Group.IsMulticast() || r.Group.Is6() != r.ipv6 || r.Group.Is4In6() {
			return nil, fmt.Errorf("config: group %v is not a multicast address of the VIPs' family", r.Group)
		}
		r.Group = r.Group.WithZone("")
	}
	if r.Source.IsValid() && r.Source.Is6() != r.ipv6 {
		return nil, fmt.Errorf("config: source %v is not of the VIPs' family", r.Source)
	}
	if r.GARPMasterDelay == 0 {
		r.GARPMasterDelay = 5 * time.Second
	}
	if r.GARPMasterRepeat == 0 {
		r.GARPMasterRepeat = 5
	}
	if r.GARPMasterRefreshRepeat == 0 {
		r.GARPMasterRefreshRepeat = 1
	}
	if r.GARPLowerPrioDelay == 0 {
		r.GARPLowerPrioDelay = r.GARPMasterDelay
	}
	if r.GARPLowerPrioRepeat == 0 {
		r.GARPLowerPrioRepeat = r.GARPMasterRepeat
	}
	if r.UseVMAC && r.VMACName == "" {
		r.VMACName = fmt.Sprintf("vrrp.%d", r.VRID)
	}
	for i, t := range r.Trackers {
		if t.Tracker == nil {
			return nil, fmt.Errorf("config: tracker %d has no Tracker", i)
		}
		if t.Weight < -253 || t.Weight > 253 {
			return nil, fmt.Errorf("config: tracker %q weight %d, want -253..253", t.Name, t.Weight)
		}
		if _, ok := t.Tracker.(levelTracker); ok && t.Weight != 0 {
			return nil, fmt.Errorf("config: tracker %q sets the priority change itself; attach it with weight 0", t.Name)
		}
		if f, ok := t.Tracker.(*fileTracker); ok && (f.cfg.Weight < -254 || f.cfg.Weight > 254) {
			return nil, fmt.Errorf("config: track file %q weight %d, want -254..254", t.Name, f.cfg.Weight)
		}
		if p, ok := t.Tracker.(*procTracker); ok {
			c := p.cfg
			switch {
			case c.Name == "":
				return nil, fmt.Errorf("config: track process %q has no process name", t.Name)
			case c.Weight < -254 || c.Weight > 254:
				return nil, fmt.Errorf("config: track process %q weight %d, want -254..254", t.Name, c.Weight)
			case c.QuorumMax > 0 && max(c.Quorum, 1) > c.QuorumMax:
				return nil, fmt.Errorf("config: track process %q quorum %d above quorum_max %d", t.Name, c.Quorum, c.QuorumMax)
			}
		}
	}
	return r, nil
}

func (r *resolved) coreConfig(primary netip.Addr) coreConfig {
	neg0 := func(d time.Duration) time.Duration { return max(d, 0) }
	return coreConfig{
		version:           r.Version,
		interval:          r.AdvertInterval,
		preempt:           !r.NoPreempt,
		preemptDelay:      r.PreemptDelay,
		primary:           primary,
		lowerPrioNoAdv:    r.LowerPrioNoAdvert,
		garpRepeat:        max(r.GARPMasterRepeat, 0),
		garpDelay:         neg0(r.GARPMasterDelay),
		garpRefresh:       neg0(r.GARPMasterRefresh),
		garpRefreshRepeat: max(r.GARPMasterRefreshRepeat, 0),
		garpLowerRepeat:   max(r.GARPLowerPrioRepeat, 0),
		garpLowerDelay:    neg0(r.GARPLowerPrioDelay),
		owner:             r.Priority == PriorityOwner,
	}
}

// initialWant is the instance's wantstate at start: MASTER for an owner
// (see core.configuredWant).
func (r *resolved) initialWant() State {
	if r.Priority == PriorityOwner {
		return StateMaster
	}
	return StateBackup
}

// vmacAddr is the VRRP virtual MAC of RFC 5798 7.3.
func vmacAddr(vrid uint8, ipv6 bool) net.HardwareAddr {
	if ipv6 {
		return net.HardwareAddr{0, 0, 0x5e, 0, 2, vrid}
	}
	return net.HardwareAddr{0, 0, 0x5e, 0, 1, vrid}
}

// checkNames refuses a name that could not be a metric label or a log
// value (package names): the instance's, its interfaces', its trackers',
// and its notify programs and FIFO.
func (c *Config) checkNames() error {
	type name struct {
		what, s string
		check   func(string) error
	}
	all := []name{{"name", c.Name, names.Name}, {"interface", c.Interface, names.Interface},
		{"VMAC name", c.VMACName, names.Interface}, {"notify FIFO", c.Notify.FIFO, names.Text}}
	for _, v := range c.VIPs {
		all = append(all, name{"VIP link", v.Link, names.Interface}, name{"VIP label", v.Label, names.Interface})
	}
	for _, rt := range c.Routes {
		all = append(all, name{"route link", rt.Link, names.Interface})
	}
	for _, t := range c.Trackers {
		all = append(all, name{"tracker", t.Name, names.Name})
	}
	for _, argv := range [][]string{c.Notify.Script, c.Notify.Master, c.Notify.Backup, c.Notify.Fault, c.Notify.Stop} {
		for _, a := range argv {
			all = append(all, name{"notify program", a, names.Text})
		}
	}
	for _, n := range all {
		if err := n.check(n.s); err != nil {
			return fmt.Errorf("config: %s %q: %w", n.what, n.s, err)
		}
	}
	return nil
}
