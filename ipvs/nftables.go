package ipvs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/google/nftables"
	"github.com/mdlayher/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// NFTablesConfig configures OpenNFTables. The zero value programs the
// caller's network namespace with the defaults below.
type NFTablesConfig struct {
	// Netns is the network namespace whose tables to program. Zero or
	// netns.None() means the namespace of the calling thread at open time.
	// The backend keeps its own duplicate of the handle; the caller keeps
	// its own.
	Netns netns.NsHandle

	// MaxFlows bounds the DR connection table and the persistence
	// templates (each, per address family). Zero means 262,144. A flow
	// that finds the table full is still forwarded, by its scheduler
	// alone.
	MaxFlows uint32

	// Timeout bounds each exchange with the kernel when the context has
	// no earlier deadline. Zero means 30 seconds.
	Timeout time.Duration

	// Logger receives debug messages. Nil discards them.
	Logger *slog.Logger

	// inject, set by tests, adds objects to every transaction after the
	// backend's own (to make the kernel refuse one).
	inject func(w nftWriter)
}

// NFTables is an IPVS table carried by the kernel's nftables instead of
// IPVS: NAT by DNAT with conntrack, DR by duplicating the packet to the
// real server's MAC and dropping the original, in tables of its own
// ("lvskit_ipvs", family ip and ip6) that it never shares. Every Apply is
// one nftables transaction: it takes effect whole or not at all. It is
// safe for concurrent use; calls are serialised.
type NFTables struct {
	mu     sync.Mutex
	conn   *nftables.Conn
	nl     *netlink.Conn // the connection's socket, for deadlines
	ns     netns.NsHandle
	cfg    NFTablesConfig
	log    *slog.Logger
	closed bool
	writes uint64
}

var _ Backend = (*NFTables)(nil)

// OpenNFTables opens the nftables backend in a network namespace. Without
// nf_tables in the kernel it returns an error wrapping ErrNotSupported and
// no backend; without CAP_NET_ADMIN the kernel's refusal.
func OpenNFTables(cfg NFTablesConfig) (*NFTables, error) {
	if cfg.MaxFlows == 0 {
		cfg.MaxFlows = 1 << 18
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var ns netns.NsHandle
	var err error
	if cfg.Netns > 0 {
		var fd int
		fd, err = unix.Dup(int(cfg.Netns))
		ns = netns.NsHandle(fd)
	} else {
		ns, err = netns.Get()
	}
	if err != nil {
		return nil, fmt.Errorf("open nftables: network namespace: %w", err)
	}
	n := &NFTables{ns: ns, cfg: cfg, log: log}
	if err := n.dial(); err != nil {
		ns.Close()
		return nil, fmt.Errorf("open nftables: %w", err)
	}
	// Prove that nf_tables answers (and that we may ask) before returning.
	if _, err := n.conn.ListTablesOfFamily(nftables.TableFamilyIPv4); err != nil {
		n.conn.CloseLasting()
		ns.Close()
		return nil, fmt.Errorf("open nftables: list tables: %w", nftErr(err))
	}
	log.Debug("ipvs: nftables backend open", "table", nftTableName)
	return n, nil
}

// nftErr marks the kernel's "no nf_tables" answers as ErrNotSupported.
func nftErr(err error) error {
	for _, e := range []syscall.Errno{unix.EPROTONOSUPPORT, unix.EOPNOTSUPP, unix.EAFNOSUPPORT} {
		if errors.Is(err, e) {
			return fmt.Errorf("the kernel has no nf_tables (%v): %w", err, ErrNotSupported)
		}
	}
	return err
}

// dial opens the lasting netlink socket, with buffers large enough for a
// transaction of thousands of services and the kernel's answers to it.
func (n *NFTables) dial() error {
	const buf = 64 << 20
	var nl *netlink.Conn
	c, err := nftables.New(nftables.AsLasting(), nftables.WithNetNSFd(int(n.ns)),
		nftables.WithSockOptions(func(c *netlink.Conn) error {
			nl = c
			raw, err := c.SyscallConn()
			if err != nil {
				return err
			}
			var serr error
			if err := raw.Control(func(fd uintptr) {
				serr = errors.Join(
					unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, buf),
					unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, buf))
			}); err != nil {
				return err
			}
			if serr != nil {
				// Without CAP_NET_ADMIN the force options fail: take what
				// the limits allow.
				_ = c.SetReadBuffer(buf)
				_ = c.SetWriteBuffer(buf)
			}
			return nil
		}))
	if err != nil {
		return nftErr(err)
	}
	n.conn, n.nl = c, nl
	return nil
}

// redial replaces the socket after a failed exchange, whose unread
// answers would confuse the next one.
func (n *NFTables) redial() {
	n.conn.CloseLasting()
	if err := n.dial(); err != nil {
		n.log.Warn("ipvs: nftables: reconnect", "err", err)
	}
}

// deadline bounds the next exchange by ctx and the configured timeout.
func (n *NFTables) deadline(ctx context.Context) {
	d := time.Now().Add(n.cfg.Timeout)
	if cd, ok := ctx.Deadline(); ok && cd.Before(d) {
		d = cd
	}
	if n.nl != nil {
		_ = n.nl.SetDeadline(d)
	}
}

// Capabilities says what the nftables backend carries (NFTablesCapabilities).
func (n *NFTables) Capabilities() Capabilities { return NFTablesCapabilities() }

// NFTablesCapabilities is what the nftables backend can carry: NAT and DR
// (not TUN: nftables cannot encapsulate), TCP, UDP and SCTP, firewall
// marks, port-zero persistent services, the schedulers that need no live
// connection counts, persistence without engines; no thresholds, no
// one-packet scheduling, no sync daemon, and one forwarding method per
// service.
func NFTablesCapabilities() Capabilities {
	return Capabilities{
		Forwards:    []Forward{Masquerade, DirectRoute},
		Protocols:   []Protocol{TCP, UDP, SCTP},
		Schedulers:  []string{"rr", "wrr", "sh", "dh", "fo", "mh"},
		FWMark:      true,
		SchedFlag3:  true, // kept and read back; no scheduler reads it, as in IPVS
		PortZero:    true,
		Persistence: true,
	}
}

// Writes returns how many transactions Apply has committed.
func (n *NFTables) Writes() uint64 {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.writes
}

// Close closes the socket and the namespace handle. The tables stay (the
// data plane goes on serving); it is idempotent.
func (n *NFTables) Close() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if !n.closed {
		n.closed = true
		n.conn.CloseLasting()
		n.ns.Close()
	}
	return nil
}

// Flush removes lvskit's tables, and with them every service.
func (n *NFTables) Flush(ctx context.Context) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return fmt.Errorf("flush: %w", errClosed)
	}
	n.deadline(ctx)
	present := false
	for _, f := range []nftFam{nftFam4, nftFam6} {
		if _, err := n.conn.ListTableOfFamily(nftTableName, f.tfam); err == nil {
			n.conn.DelTable(nftTable(f))
			present = true
		}
	}
	if !present {
		return nil
	}
	if err := n.conn.Flush(); err != nil {
		n.redial()
		return fmt.Errorf("flush: %w", err)
	}
	n.writes++
	return nil
}

// Dump reads the table back from the kernel: services and destinations
// from lvskit's maps, counters from their elements, connection counts from
// the DR flow table and, for NAT, from conntrack.
func (n *NFTables) Dump(ctx context.Context) ([]Service, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("dump services: %w", err)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return nil, fmt.Errorf("dump services: %w", errClosed)
	}
	n.deadline(ctx)
	st, err := n.readState(true)
	if err != nil {
		n.redial()
		return nil, fmt.Errorf("dump services: %w", err)
	}
	if err := n.countNAT(st); err != nil {
		n.log.Debug("ipvs: nftables: conntrack counts", "err", err)
	}
	return st.services(), nil
}

// Apply performs ops as one nftables transaction: all of them take effect
// at once, or (on any error) none. Malformed ops are ErrInvalid, what the
// backend cannot carry ErrNotSupported, and ErrExists / ErrNotFound as
// the kernel's IPVS answers; the *ApplyError names the op. When the kernel
// refuses the transaction itself, nothing was applied and the error names
// op 0.
func (n *NFTables) Apply(ctx context.Context, ops []Op) error {
	for i := range ops {
		if err := validateOp(&ops[i]); err != nil {
			return &ApplyError{Index: i, Op: ops[i], Err: err}
		}
	}
	if len(ops) == 0 {
		return nil
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return fmt.Errorf("apply: %w", errClosed)
	}
	if err := ctx.Err(); err != nil {
		return &ApplyError{Index: 0, Op: ops[0], Err: err}
	}
	n.deadline(ctx)
	cur, err := n.readState(false)
	if err != nil {
		n.redial()
		return &ApplyError{Index: 0, Op: ops[0], Err: fmt.Errorf("read nftables state: %w", err)}
	}
	next, changed, err := planNFT(cur, ops)
	if err != nil {
		return err
	}
	w := &connWriter{c: n.conn}
	if err := writeChanges(w, cur, next, changed, n.cfg.MaxFlows, defaultNFTTimeouts); err != nil {
		n.redial()
		return &ApplyError{Index: 0, Op: ops[0], Err: err}
	}
	if n.cfg.inject != nil {
		n.cfg.inject(w)
	}
	if err := n.conn.Flush(); err != nil {
		n.redial()
		return &ApplyError{Index: 0, Op: ops[0],
			Err: fmt.Errorf("the kernel refused the transaction of %d operations, nothing was applied: %w", len(ops), err)}
	}
	n.writes++
	return nil
}

// connWriter queues a transaction on a google/nftables connection.
type connWriter struct{ c *nftables.Conn }

func (w *connWriter) AddTable(t *nftables.Table)   { w.c.AddTable(t) }
func (w *connWriter) AddChain(c *nftables.Chain)   { w.c.AddChain(c) }
func (w *connWriter) FlushChain(c *nftables.Chain) { w.c.FlushChain(c) }
func (w *connWriter) DelChain(c *nftables.Chain)   { w.c.DelChain(c) }
func (w *connWriter) AddRule(r *nftables.Rule)     { w.c.AddRule(r) }

// nftChunk is how many elements go into one netlink message: a message's
// element list is one attribute, whose length has 16 bits.
const nftChunk = 512

func (w *connWriter) AddSet(s *nftables.Set, e []nftables.SetElement) error {
	n := min(len(e), nftChunk)
	if err := w.c.AddSet(s, e[:n]); err != nil {
		return err
	}
	return w.AddElements(s, e[n:])
}
func (w *connWriter) DelSet(s *nftables.Set)   { w.c.DelSet(s) }
func (w *connWriter) FlushSet(s *nftables.Set) { w.c.FlushSet(s) }
func (w *connWriter) AddElements(s *nftables.Set, e []nftables.SetElement) error {
	for len(e) > 0 {
		n := min(len(e), nftChunk)
		if err := w.c.SetAddElements(s, e[:n]); err != nil {
			return err
		}
		e = e[n:]
	}
	return nil
}
func (w *connWriter) DelElements(s *nftables.Set, e []nftables.SetElement) error {
	for len(e) > 0 {
		n := min(len(e), nftChunk)
		if err := w.c.SetDeleteElements(s, e[:n]); err != nil {
			return err
		}
		e = e[n:]
	}
	return nil
}

// sortServices orders a dump by key, destinations by key.
func sortServices(out []Service) {
	slices.SortFunc(out, func(a, b Service) int { return compareServiceKey(a.Key(), b.Key()) })
	for i := range out {
		slices.SortFunc(out[i].Destinations, func(a, b Destination) int { return compareDestKey(a.Key(), b.Key()) })
	}
}
