package ipvs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"syscall"
	"time"

	"github.com/vishvananda/netlink/nl"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// NetlinkConfig configures OpenNetlink. The zero value programs the IPVS
// table of the caller's network namespace.
type NetlinkConfig struct {
	// Netns is the network namespace whose table to program. Zero or
	// netns.None() means the namespace of the calling thread at open time.
	// The handle is used only during OpenNetlink; the caller keeps it.
	Netns netns.NsHandle

	// BatchSize is how many requests Apply writes in one datagram before
	// it reads their acknowledgements. Zero means 64. The kernel handles
	// every request of a datagram even after one fails, so with a batch
	// larger than one, operations after a failed one in the same batch
	// may have been applied; the *ApplyError still names the first
	// failure and nothing after that batch is sent. 1 stops exactly at
	// the first failure, at one round trip per operation.
	BatchSize int

	// Timeout bounds the wait for each reply when the context has no
	// earlier deadline. Zero means 10 seconds.
	Timeout time.Duration

	// Logger receives debug messages. Nil discards them.
	Logger *slog.Logger
}

// Netlink is the kernel's IPVS table, programmed over generic netlink (the
// "IPVS" family) on one socket bound to a network namespace. It is safe
// for concurrent use; calls are serialised.
type Netlink struct {
	mu     sync.Mutex
	c      *conn
	family uint16
	batch  int
	log    *slog.Logger
	closed bool
	writes uint64
}

var (
	_ Backend          = (*Netlink)(nil)
	_ DaemonController = (*Netlink)(nil)
)

// OpenNetlink opens the kernel's IPVS table. Without IPVS in the kernel
// (the ip_vs module not loaded, or not built) it returns an error wrapping
// ErrNotSupported and no backend.
func OpenNetlink(cfg NetlinkConfig) (*Netlink, error) {
	timeout := cfg.Timeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	batch := cfg.BatchSize
	if batch <= 0 {
		batch = 64
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c, err := dialGeneric(cfg.Netns, timeout)
	if err != nil {
		return nil, fmt.Errorf("open ipvs: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	fam, err := c.resolveFamily(ctx, ipvsGenlName)
	if err != nil {
		c.close()
		if errors.Is(err, unix.ENOENT) {
			return nil, fmt.Errorf("open ipvs: generic netlink family %q not found (is the ip_vs module loaded?): %w", ipvsGenlName, ErrNotSupported)
		}
		return nil, fmt.Errorf("open ipvs: resolve generic netlink family %q: %w", ipvsGenlName, err)
	}
	n := &Netlink{c: c, family: fam, batch: batch, log: log}
	// Prove the handle works (and that we may use it) before returning it.
	info, err := n.Info(ctx)
	if err != nil {
		c.close()
		return nil, fmt.Errorf("open ipvs: %w", err)
	}
	log.Debug("ipvs: netlink backend open", "family", fam, "version", info.Version, "conn_tab_size", info.ConnTableSize)
	return n, nil
}

// Capabilities says what the kernel's IPVS carries (KernelCapabilities).
func (n *Netlink) Capabilities() Capabilities { return KernelCapabilities() }

// Close closes the socket. It is idempotent.
func (n *Netlink) Close() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if !n.closed {
		n.closed = true
		n.c.close()
	}
	return nil
}

// Writes returns how many write requests (service, destination, flush,
// config and daemon changes) this backend has sent to the kernel.
func (n *Netlink) Writes() uint64 {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.writes
}

func (n *Netlink) lock() error {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return errClosed
	}
	return nil
}

// Dump returns every service of the namespace with its destinations, and
// the 64-bit statistics of both.
func (n *Netlink) Dump(ctx context.Context) ([]Service, error) {
	if err := n.lock(); err != nil {
		return nil, fmt.Errorf("dump services: %w", err)
	}
	defer n.mu.Unlock()
	var out []Service
	err := n.c.dump(ctx, n.c.request(n.family, ipvsCmdGetService, 0), func(p []byte) error {
		b, err := nested(p, ipvsCmdAttrService)
		if err != nil {
			return err
		}
		s, err := decodeService(b)
		if err != nil {
			return err
		}
		out = append(out, s)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("dump services: %w", err)
	}
	for i := range out {
		s := &out[i]
		req := n.c.request(n.family, ipvsCmdGetDest, 0, encodeService(s, false))
		err := n.c.dump(ctx, req, func(p []byte) error {
			b, err := nested(p, ipvsCmdAttrDest)
			if err != nil {
				return err
			}
			d, err := decodeDest(b, s.Family)
			if err != nil {
				return err
			}
			s.Destinations = append(s.Destinations, d)
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("dump destinations of %s: %w", s.Key(), err)
		}
	}
	return out, nil
}

// opRequest builds the netlink request of one operation.
func (n *Netlink) opRequest(op *Op) *nl.NetlinkRequest {
	s := &op.Service
	switch op.Kind {
	case AddService:
		return n.c.request(n.family, ipvsCmdNewService, unix.NLM_F_ACK, encodeService(s, true))
	case UpdateService:
		return n.c.request(n.family, ipvsCmdSetService, unix.NLM_F_ACK, encodeService(s, true))
	case DeleteService:
		return n.c.request(n.family, ipvsCmdDelService, unix.NLM_F_ACK, encodeService(s, false))
	case AddDestination:
		return n.c.request(n.family, ipvsCmdNewDest, unix.NLM_F_ACK, encodeService(s, false), encodeDest(s, &op.Destination, true))
	case UpdateDestination:
		return n.c.request(n.family, ipvsCmdSetDest, unix.NLM_F_ACK, encodeService(s, false), encodeDest(s, &op.Destination, true))
	default: // DeleteDestination; validateOp rejected anything else
		return n.c.request(n.family, ipvsCmdDelDest, unix.NLM_F_ACK, encodeService(s, false), encodeDest(s, &op.Destination, false))
	}
}

// Apply performs ops in order, pipelined in batches of
// NetlinkConfig.BatchSize requests. Every operation is validated before
// the first is sent, so malformed input changes nothing. Kernel refusals
// come back as an *ApplyError wrapping ErrExists, ErrNotFound,
// ErrNotSupported (a scheduler or persistence engine module the kernel
// lacks) or ErrInvalid, with the errno.
func (n *Netlink) Apply(ctx context.Context, ops []Op) error {
	for i := range ops {
		if err := validateOp(&ops[i]); err != nil {
			return &ApplyError{Index: i, Op: ops[i], Err: err}
		}
	}
	if err := n.lock(); err != nil {
		return fmt.Errorf("apply: %w", err)
	}
	defer n.mu.Unlock()
	reqs := make([]*nl.NetlinkRequest, 0, min(n.batch, len(ops)))
	for start := 0; start < len(ops); start += n.batch {
		if err := ctx.Err(); err != nil {
			return &ApplyError{Index: start, Op: ops[start], Err: err}
		}
		end := min(start+n.batch, len(ops))
		reqs = reqs[:0]
		for i := start; i < end; i++ {
			reqs = append(reqs, n.opRequest(&ops[i]))
		}
		n.writes += uint64(len(reqs))
		failed, errno, err := n.c.exchange(ctx, reqs)
		if err != nil {
			return &ApplyError{Index: start, Op: ops[start], Err: err}
		}
		if failed >= 0 {
			i := start + failed
			return &ApplyError{Index: i, Op: ops[i], Err: opError(&ops[i], errno)}
		}
	}
	return nil
}

// opError maps the kernel's answer to an operation onto the sentinels,
// keeping the errno: EEXIST is ErrExists; ESRCH (no such service) and
// ENOENT (no such destination) are ErrNotFound, except that ENOENT while
// adding or editing a service means the scheduler or persistence engine
// module is missing, ErrNotSupported; EINVAL and ERANGE are ErrInvalid.
func opError(op *Op, errno syscall.Errno) error {
	var what string
	switch op.Kind {
	case AddService, UpdateService:
		what = fmt.Sprintf("%s %s (scheduler %s", op.Kind, op.Service.Key(), op.Service.SchedulerName())
		if op.Service.PEName != "" {
			what += ", pe " + op.Service.PEName
		}
		what += ")"
	case DeleteService:
		what = fmt.Sprintf("%s %s", op.Kind, op.Service.Key())
	default:
		what = fmt.Sprintf("%s %s -> %s", op.Kind, op.Service.Key(), op.Destination.Key())
	}
	var sentinel error
	switch errno {
	case unix.EEXIST:
		sentinel = ErrExists
	case unix.ESRCH:
		sentinel = ErrNotFound
	case unix.ENOENT:
		if op.Kind == AddService || op.Kind == UpdateService {
			sentinel = ErrNotSupported
		} else {
			sentinel = ErrNotFound
		}
	case unix.EOPNOTSUPP, unix.EAFNOSUPPORT, unix.EPROTONOSUPPORT:
		sentinel = ErrNotSupported
	case unix.EINVAL, unix.ERANGE:
		sentinel = ErrInvalid
	}
	if sentinel == nil {
		return fmt.Errorf("%s: %w", what, errno)
	}
	return fmt.Errorf("%s: %w: %w", what, sentinel, errno)
}

// cmdError maps the kernel's answer to a command that is not a table
// operation.
func cmdError(what string, err error) error {
	var errno syscall.Errno
	if !errors.As(err, &errno) {
		return fmt.Errorf("%s: %w", what, err)
	}
	switch errno {
	case unix.EEXIST:
		return fmt.Errorf("%s: %w: %w", what, ErrExists, errno)
	case unix.ESRCH, unix.ENOENT:
		return fmt.Errorf("%s: %w: %w", what, ErrNotFound, errno)
	case unix.EOPNOTSUPP, unix.EAFNOSUPPORT:
		return fmt.Errorf("%s: %w: %w", what, ErrNotSupported, errno)
	case unix.EINVAL, unix.ERANGE:
		return fmt.Errorf("%s: %w: %w", what, ErrInvalid, errno)
	}
	return fmt.Errorf("%s: %w", what, errno)
}

// do sends one write command with attributes and waits for its ack.
func (n *Netlink) do(ctx context.Context, what string, cmd uint8, attrs ...*nl.RtAttr) error {
	if err := n.lock(); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	defer n.mu.Unlock()
	n.writes++
	failed, errno, err := n.c.exchange(ctx, []*nl.NetlinkRequest{n.c.request(n.family, cmd, unix.NLM_F_ACK, attrs...)})
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if failed >= 0 {
		return cmdError(what, errno)
	}
	return nil
}

// Flush deletes every service (and so every destination) of the
// namespace.
func (n *Netlink) Flush(ctx context.Context) error {
	return n.do(ctx, "flush ipvs table", ipvsCmdFlush)
}

// ZeroStats resets the counters of every service and destination.
func (n *Netlink) ZeroStats(ctx context.Context) error {
	return n.do(ctx, "zero ipvs counters", ipvsCmdZero)
}

// Info describes the kernel's IPVS.
type Info struct {
	Version       string // "1.2.1"
	VersionCode   uint32 // IP_VS_VERSION_CODE, 0x010201
	ConnTableSize uint32 // buckets of the connection hash table
}

// Info asks the kernel for its IPVS version and connection table size.
func (n *Netlink) Info(ctx context.Context) (Info, error) {
	if err := n.lock(); err != nil {
		return Info{}, fmt.Errorf("get ipvs info: %w", err)
	}
	defer n.mu.Unlock()
	p, _, err := n.c.get(ctx, n.c.request(n.family, ipvsCmdGetInfo, 0))
	if err != nil {
		return Info{}, cmdError("get ipvs info", err)
	}
	as, err := parseAttrs(p)
	if err != nil {
		return Info{}, fmt.Errorf("get ipvs info: %w", err)
	}
	var info Info
	for _, a := range as {
		switch a.typ {
		case ipvsInfoAttrVersion:
			info.VersionCode, err = getU32(a.data)
		case ipvsInfoAttrConnTabSize:
			info.ConnTableSize, err = getU32(a.data)
		}
		if err != nil {
			return Info{}, fmt.Errorf("get ipvs info: %w", err)
		}
	}
	v := info.VersionCode
	info.Version = fmt.Sprintf("%d.%d.%d", v>>16&0xff, v>>8&0xff, v&0xff)
	return info, nil
}

// Timeouts are the kernel's IPVS connection timeouts (ipvsadm --set).
type Timeouts struct {
	TCP    time.Duration // established TCP connections
	TCPFin time.Duration // TCP after a FIN
	UDP    time.Duration
}

// Timeouts reads the connection timeouts.
func (n *Netlink) Timeouts(ctx context.Context) (Timeouts, error) {
	if err := n.lock(); err != nil {
		return Timeouts{}, fmt.Errorf("get ipvs timeouts: %w", err)
	}
	defer n.mu.Unlock()
	p, _, err := n.c.get(ctx, n.c.request(n.family, ipvsCmdGetConfig, 0))
	if err != nil {
		return Timeouts{}, cmdError("get ipvs timeouts", err)
	}
	as, err := parseAttrs(p)
	if err != nil {
		return Timeouts{}, fmt.Errorf("get ipvs timeouts: %w", err)
	}
	var t Timeouts
	for _, a := range as {
		var p *time.Duration
		switch a.typ {
		case ipvsCmdAttrTimeoutTCP:
			p = &t.TCP
		case ipvsCmdAttrTimeoutTCPFin:
			p = &t.TCPFin
		case ipvsCmdAttrTimeoutUDP:
			p = &t.UDP
		default:
			continue
		}
		v, err := getU32(a.data)
		if err != nil {
			return Timeouts{}, fmt.Errorf("get ipvs timeouts: %w", err)
		}
		*p = time.Duration(v) * time.Second
	}
	return t, nil
}

// check reports a timeout that the kernel cannot take: each must be zero
// (unchanged) or a positive whole number of seconds.
func (t Timeouts) check() error {
	for _, f := range []struct {
		name string
		d    time.Duration
	}{{"TCP", t.TCP}, {"TCPFin", t.TCPFin}, {"UDP", t.UDP}} {
		if f.d != 0 && (f.d < time.Second || f.d%time.Second != 0 || f.d/time.Second > 1<<31-1) {
			return fmt.Errorf("set ipvs timeouts: %s %v: not a positive whole number of seconds: %w", f.name, f.d, ErrInvalid)
		}
	}
	return nil
}

// SetTimeouts changes the connection timeouts. A zero field is left as it
// is; the others must be whole seconds.
func (n *Netlink) SetTimeouts(ctx context.Context, t Timeouts) error {
	if err := t.check(); err != nil {
		return err
	}
	var attrs []*nl.RtAttr
	for _, f := range []struct {
		typ int
		d   time.Duration
	}{{ipvsCmdAttrTimeoutTCP, t.TCP}, {ipvsCmdAttrTimeoutTCPFin, t.TCPFin}, {ipvsCmdAttrTimeoutUDP, t.UDP}} {
		if f.d != 0 {
			attrs = append(attrs, nl.NewRtAttr(f.typ, nl.Uint32Attr(uint32(f.d/time.Second))))
		}
	}
	if len(attrs) == 0 {
		return nil
	}
	return n.do(ctx, "set ipvs timeouts", ipvsCmdSetConfig, attrs...)
}
