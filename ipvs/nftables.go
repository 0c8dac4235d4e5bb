package ipvs

import (
	"context"
	"encoding/binary"
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
	seq    uint32 // the next batch's first sequence number

	// The table as the last read or commit left it, and the ruleset
	// generation it is valid at: Apply plans from it instead of reading
	// the table again, and the kernel refuses the batch if the
	// generation moved on (anyone else committed).
	cache    *nftState
	cacheGen uint32
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
	n := &NFTables{ns: ns, cfg: cfg, log: log, seq: 1 << 24}
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
			// Errors without the refused message's payload, with the
			// kernel's explanation.
			_ = c.SetOption(netlink.CapAcknowledge, true)
			_ = c.SetOption(netlink.ExtendedAcknowledge, true)
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
	n.cache = nil
	n.conn.CloseLasting()
	if err := n.dial(); err != nil {
		n.log.Warn("ipvs: nftables: reconnect", "err", err)
	}
}

// batch starts a transaction numbered after the last one; a non-zero gen
// makes it conditional on the ruleset generation (nftBatch).
func (n *NFTables) batch(gen uint32) *nftBatch {
	return newNFTBatch(n.seq, gen)
}

// commit sends w as one transaction and reads the kernel's answers up to
// the acknowledgement of its last message. On any error the socket is
// replaced, so that no late answer confuses the next exchange.
func (n *NFTables) commit(w *nftBatch) error {
	b, err := w.bytes()
	if err != nil || b == nil {
		return err
	}
	n.seq = w.last() + 2
	n.log.Debug("ipvs: nftables: transaction", "messages", w.messages(), "bytes", len(b))
	if err := n.exchange(b, func(data []byte, r *nftReply) error { return w.read(r, data) }); err != nil {
		n.redial()
		return err
	}
	n.writes++
	return nil
}

// exchange sends b (with one sendmsg: the kernel takes a batch only
// whole) and passes each datagram of answers to read until it says done.
// It returns the first refusal read, or the socket's error.
func (n *NFTables) exchange(b []byte, read func([]byte, *nftReply) error) error {
	raw, err := n.nl.SyscallConn()
	if err != nil {
		return fmt.Errorf("netlink socket: %w", err)
	}
	var serr error
	if err := raw.Write(func(fd uintptr) bool {
		serr = unix.Sendto(int(fd), b, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK})
		return serr != unix.EAGAIN
	}); err != nil {
		return fmt.Errorf("send transaction: %w", err)
	}
	if serr != nil {
		return fmt.Errorf("send transaction of %d bytes: %w", len(b), serr)
	}
	buf := make([]byte, 1<<16)
	var r nftReply
	for !r.done {
		var got int
		var rerr error
		if err := raw.Read(func(fd uintptr) bool {
			got, _, rerr = unix.Recvfrom(int(fd), buf, 0)
			return rerr != unix.EAGAIN
		}); err != nil {
			return fmt.Errorf("read the kernel's answer: %w", err)
		}
		if rerr != nil {
			return fmt.Errorf("read the kernel's answer: %w", rerr)
		}
		if err := read(buf[:got], &r); err != nil {
			return err
		}
	}
	if len(r.errs) > 0 {
		if len(r.errs) > 1 {
			return fmt.Errorf("%w (and %d more refusals)", r.errs[0], len(r.errs)-1)
		}
		return r.errs[0]
	}
	return nil
}

// generation asks the kernel for the ruleset's generation, which every
// commit in the namespace moves on.
func (n *NFTables) generation() (uint32, error) {
	seq := n.seq
	n.seq++
	b := binary.NativeEndian.AppendUint32(nil, unix.NLMSG_HDRLEN+4)
	b = binary.NativeEndian.AppendUint16(b, unix.NFNL_SUBSYS_NFTABLES<<8|unix.NFT_MSG_GETGEN)
	b = binary.NativeEndian.AppendUint16(b, unix.NLM_F_REQUEST)
	b = binary.NativeEndian.AppendUint32(b, seq)
	b = binary.NativeEndian.AppendUint32(b, 0)
	b = append(b, unix.AF_UNSPEC, unix.NFNETLINK_V0, 0, 0)
	var gen uint32
	var found bool
	err := n.exchange(b, func(data []byte, r *nftReply) error {
		g, ok, err := parseGen(data, seq)
		if err != nil {
			return err
		}
		gen, found, r.done = g, ok, ok
		return nil
	})
	if err != nil {
		n.redial()
		return 0, fmt.Errorf("read ruleset generation: %w", err)
	}
	if !found {
		return 0, errors.New("read ruleset generation: no answer")
	}
	return gen, nil
}

// parseGen finds the answer to GETGEN number seq in a datagram.
func parseGen(data []byte, seq uint32) (gen uint32, ok bool, err error) {
	for len(data) >= unix.NLMSG_HDRLEN {
		l := int(binary.NativeEndian.Uint32(data))
		if l < unix.NLMSG_HDRLEN || l > len(data) {
			return 0, false, fmt.Errorf("message of %d bytes in %d", l, len(data))
		}
		typ := binary.NativeEndian.Uint16(data[4:])
		if binary.NativeEndian.Uint32(data[8:]) == seq {
			switch {
			case typ == unix.NLMSG_ERROR && l >= unix.NLMSG_HDRLEN+4:
				if errno := -int32(binary.NativeEndian.Uint32(data[16:])); errno != 0 {
					return 0, false, nftErr(syscall.Errno(errno))
				}
			case typ == unix.NFNL_SUBSYS_NFTABLES<<8|unix.NFT_MSG_NEWGEN:
				a := data[unix.NLMSG_HDRLEN+4 : l]
				for len(a) >= 4 {
					al := int(binary.NativeEndian.Uint16(a))
					if al < 4 || al > len(a) {
						break
					}
					if binary.NativeEndian.Uint16(a[2:]) == unix.NFTA_GEN_ID && al == 8 {
						return binary.BigEndian.Uint32(a[4:]), true, nil
					}
					a = a[nlmAlign(al):]
				}
				return 0, false, errors.New("answer without a generation id")
			}
		}
		data = data[nlmAlign(l):]
	}
	return 0, false, nil
}

// snapshot reads lvskit's tables (readState) as of one ruleset
// generation: the generation before and after the reads must agree, else
// it reads again.
func (n *NFTables) snapshot(counters bool) (*nftState, uint32, error) {
	for range 5 {
		g1, err := n.generation()
		if err != nil {
			return nil, 0, err
		}
		st, err := n.readState(counters)
		if err != nil {
			return nil, 0, err
		}
		g2, err := n.generation()
		if err != nil {
			return nil, 0, err
		}
		if g1 == g2 {
			return st, g1, nil
		}
	}
	return nil, 0, errors.New("the ruleset kept changing while it was read")
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
	n.cache = nil
	w := n.batch(0)
	for _, f := range []nftFam{nftFam4, nftFam6} {
		if _, err := n.conn.ListTableOfFamily(nftTableName, f.tfam); err == nil {
			w.DelTable(nftTable(f))
		}
	}
	if w.messages() == 0 {
		return nil
	}
	if err := n.commit(w); err != nil {
		return fmt.Errorf("flush: %w", err)
	}
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
	st, gen, err := n.snapshot(true)
	if err != nil {
		n.redial()
		return nil, fmt.Errorf("dump services: %w", err)
	}
	n.cache, n.cacheGen = st, gen
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
	fresh := n.cache == nil
	for {
		cur, gen := n.cache, n.cacheGen
		if cur == nil {
			var err error
			if cur, gen, err = n.snapshot(false); err != nil {
				n.redial()
				return &ApplyError{Index: 0, Op: ops[0], Err: fmt.Errorf("read nftables state: %w", err)}
			}
			n.cache, n.cacheGen = cur, gen
		}
		next, changed, err := planNFT(cur, ops)
		if err != nil {
			if !fresh {
				// Planned from what this backend last saw: make sure
				// the refusal holds for the table as it is.
				n.cache, fresh = nil, true
				continue
			}
			return err
		}
		w := n.batch(gen)
		if err := writeChanges(w, cur, next, changed, n.cfg.MaxFlows, defaultNFTTimeouts); err != nil {
			return &ApplyError{Index: 0, Op: ops[0], Err: err}
		}
		if n.cfg.inject != nil {
			n.cfg.inject(w)
		}
		err = n.commit(w)
		if err == nil {
			n.cache, n.cacheGen = next, nextGen(gen)
			return nil
		}
		n.cache = nil
		if restarted(err) && !fresh {
			// Someone else committed since the table was read: read
			// it again and plan anew.
			n.log.Debug("ipvs: nftables: the ruleset changed since it was read, planning again")
			fresh = true
			continue
		}
		return &ApplyError{Index: 0, Op: ops[0],
			Err: fmt.Errorf("the kernel refused the transaction of %d operations, nothing was applied: %w", len(ops), err)}
	}
}

// nextGen is the generation a commit at gen leaves (never zero).
func nextGen(gen uint32) uint32 {
	if gen+1 == 0 {
		return 1
	}
	return gen + 1
}

// sortServices orders a dump by key, destinations by key.
func sortServices(out []Service) {
	slices.SortFunc(out, func(a, b Service) int { return compareServiceKey(a.Key(), b.Key()) })
	for i := range out {
		slices.SortFunc(out[i].Destinations, func(a, b Destination) int { return compareDestKey(a.Key(), b.Key()) })
	}
}
