package ipvs

import (
	"context"
	"fmt"
	"net/netip"

	"github.com/vishvananda/netlink/nl"
)

// DaemonState is the role of a kernel IPVS connection sync daemon.
type DaemonState uint32

// Sync daemon roles (the kernel's IP_VS_STATE_*). A director runs the
// master while it holds the VIP and the backup otherwise; both may run at
// once.
const (
	DaemonMaster DaemonState = 1 // sends the connection table
	DaemonBackup DaemonState = 2 // receives it
)

func (s DaemonState) String() string {
	switch s {
	case DaemonMaster:
		return "master"
	case DaemonBackup:
		return "backup"
	}
	return fmt.Sprintf("state(%d)", uint32(s))
}

// SyncDaemon is the configuration of a kernel connection sync daemon, as
// keepalived's lvs_sync_daemon or ipvsadm --start-daemon set it.
type SyncDaemon struct {
	State     DaemonState
	Interface string // multicast interface, required
	SyncID    uint8  // only messages with this id are accepted; 0 accepts all

	// Zero values mean the kernel's defaults, which Daemons reports as
	// the values in use: MaxLen from the interface MTU, McastGroup
	// 224.0.0.81, McastPort 8848, McastTTL 1.
	MaxLen     uint16     // UDP payload size of sync messages
	McastGroup netip.Addr // IPv4 or IPv6 multicast group
	McastPort  uint16
	McastTTL   uint8
}

// DaemonController starts, stops and lists the kernel's connection sync
// daemons. The netlink backend implements it; a director type-asserts its
// Backend to find out whether it can sync connections.
type DaemonController interface {
	StartDaemon(ctx context.Context, d SyncDaemon) error
	StopDaemon(ctx context.Context, state DaemonState) error
	Daemons(ctx context.Context) ([]SyncDaemon, error)
}

// Validate checks d as the kernel and ipvsadm would. The error wraps
// ErrInvalid.
func (d *SyncDaemon) Validate() error {
	what := "sync daemon " + d.State.String()
	if d.State != DaemonMaster && d.State != DaemonBackup {
		return invalid(what, "State", "must be master or backup")
	}
	if err := validName(d.Interface, maxIfNameLen); err != nil {
		return invalid(what, "Interface", "%q: %v", d.Interface, err)
	}
	if d.McastGroup.IsValid() && !d.McastGroup.IsMulticast() {
		return invalid(what, "McastGroup", "%s is not a multicast address", d.McastGroup)
	}
	if d.MaxLen != 0 && d.MaxLen < 64 {
		// ipvsadm refuses a sync maxlen it cannot fit a message in.
		return invalid(what, "MaxLen", "%d: too small", d.MaxLen)
	}
	return nil
}

func encodeDaemon(d *SyncDaemon, full bool) *nl.RtAttr {
	n := nl.NewRtAttr(ipvsCmdAttrDaemon, nil)
	n.AddRtAttr(ipvsDaemonAttrState, nl.Uint32Attr(uint32(d.State)))
	if !full {
		return n
	}
	n.AddRtAttr(ipvsDaemonAttrMcastIfn, nl.ZeroTerminated(d.Interface))
	n.AddRtAttr(ipvsDaemonAttrSyncID, nl.Uint32Attr(uint32(d.SyncID)))
	if d.MaxLen != 0 {
		n.AddRtAttr(ipvsDaemonAttrSyncMaxLen, nl.Uint16Attr(d.MaxLen))
	}
	if g := d.McastGroup.Unmap(); g.IsValid() {
		if g.Is4() {
			a := g.As4()
			n.AddRtAttr(ipvsDaemonAttrMcastGroup, a[:])
		} else {
			a := g.As16()
			n.AddRtAttr(ipvsDaemonAttrMcastGroup6, a[:])
		}
	}
	if d.McastPort != 0 {
		n.AddRtAttr(ipvsDaemonAttrMcastPort, nl.Uint16Attr(d.McastPort))
	}
	if d.McastTTL != 0 {
		n.AddRtAttr(ipvsDaemonAttrMcastTTL, nl.Uint8Attr(d.McastTTL))
	}
	return n
}

func decodeDaemon(b []byte) (SyncDaemon, error) {
	as, err := parseAttrs(b)
	if err != nil {
		return SyncDaemon{}, err
	}
	var d SyncDaemon
	for _, a := range as {
		switch a.typ {
		case ipvsDaemonAttrState:
			var v uint32
			v, err = getU32(a.data)
			d.State = DaemonState(v)
		case ipvsDaemonAttrMcastIfn:
			d.Interface = getString(a.data)
		case ipvsDaemonAttrSyncID:
			var v uint32
			v, err = getU32(a.data)
			d.SyncID = uint8(v)
		case ipvsDaemonAttrSyncMaxLen:
			d.MaxLen, err = getU16(a.data)
		case ipvsDaemonAttrMcastGroup:
			d.McastGroup, err = getAddr(Inet, a.data)
		case ipvsDaemonAttrMcastGroup6:
			d.McastGroup, err = getAddr(Inet6, a.data)
		case ipvsDaemonAttrMcastPort:
			d.McastPort, err = getU16(a.data)
		case ipvsDaemonAttrMcastTTL:
			d.McastTTL, err = getU8(a.data)
		}
		if err != nil {
			return SyncDaemon{}, fmt.Errorf("sync daemon attribute %d: %w", a.typ, err)
		}
	}
	return d, nil
}

// StartDaemon starts a sync daemon. One of each State may run per
// namespace; starting a running one is an error wrapping ErrExists.
func (n *Netlink) StartDaemon(ctx context.Context, d SyncDaemon) error {
	if err := d.Validate(); err != nil {
		return fmt.Errorf("start sync daemon: %w", err)
	}
	return n.do(ctx, fmt.Sprintf("start sync daemon %s on %s", d.State, d.Interface), ipvsCmdNewDaemon, encodeDaemon(&d, true))
}

// StopDaemon stops the sync daemon in state; stopping one that does not
// run is an error wrapping ErrNotFound.
func (n *Netlink) StopDaemon(ctx context.Context, state DaemonState) error {
	if state != DaemonMaster && state != DaemonBackup {
		return fmt.Errorf("stop sync daemon: state %d: %w", uint32(state), ErrInvalid)
	}
	return n.do(ctx, "stop sync daemon "+state.String(), ipvsCmdDelDaemon, encodeDaemon(&SyncDaemon{State: state}, false))
}

// Daemons lists the running sync daemons with the values they use.
func (n *Netlink) Daemons(ctx context.Context) ([]SyncDaemon, error) {
	if err := n.lock(); err != nil {
		return nil, fmt.Errorf("list sync daemons: %w", err)
	}
	defer n.mu.Unlock()
	var out []SyncDaemon
	err := n.c.dump(ctx, n.c.request(n.family, ipvsCmdGetDaemon, 0), func(p []byte) error {
		b, err := nested(p, ipvsCmdAttrDaemon)
		if err != nil {
			return err
		}
		d, err := decodeDaemon(b)
		if err != nil {
			return err
		}
		out = append(out, d)
		return nil
	})
	if err != nil {
		return nil, cmdError("list sync daemons", err)
	}
	return out, nil
}

// DaemonControllerOf returns b's sync daemon controller, or an error
// wrapping ErrNotSupported when b cannot sync connections (the userspace
// and memory backends).
func DaemonControllerOf(b Backend) (DaemonController, error) {
	if dc, ok := b.(DaemonController); ok {
		return dc, nil
	}
	return nil, fmt.Errorf("connection sync daemon with a %T backend: %w", b, ErrNotSupported)
}
