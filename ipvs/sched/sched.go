package sched

import (
	"errors"
	"fmt"
	"net/netip"
	"sort"
	"sync/atomic"
	"time"
)

// Scheduler picks the real server for a new connection.
type Scheduler interface {
	// Pick returns the destination for a new connection, or nil when no
	// destination may take it (none, all weight 0, all overloaded).
	Pick(f Flow) *Dest
	// Update replaces the destination list, in the kernel's list order.
	// Call it after adding, removing or re-weighting a destination.
	Update(dests []*Dest)
}

// Flow is what a scheduler may look at of a new connection: the client
// (source) and the address it connected to (destination, the service).
type Flow struct {
	Src netip.AddrPort
	Dst netip.AddrPort
}

// Flags are the scheduler flags of ipvsadm's -b option.
type Flags uint32

const (
	// FlagFallback is sh-fallback / mh-fallback (the kernel's
	// IP_VS_SVC_F_SCHED1): when the hashed server is unavailable, try the
	// next buckets instead of giving up.
	FlagFallback Flags = 1 << iota
	// FlagPort is sh-port / mh-port (IP_VS_SVC_F_SCHED2): hash the client
	// port as well as its address.
	FlagPort
)

// ErrUnknown is wrapped by New for a scheduler name or flag it does not know.
var ErrUnknown = errors.New("unknown scheduler or flag")

// Options tune the schedulers that have state beyond the destination list.
// The zero value gives the kernel's defaults.
type Options struct {
	// Now is the clock for lblc/lblcr entry expiry; nil means time.Now.
	Now func() time.Time
	// LocalityExpiration is how long an unused lblc/lblcr entry lives, and
	// how long an lblcr set stays unchanged before it sheds its most loaded
	// member (the kernel's lblc_expiration / lblcr_expiration sysctls).
	// Zero means 24 hours.
	LocalityExpiration time.Duration
	// MHTableSize is the Maglev lookup table size, a prime from the
	// kernel's list (251 ... 131071). Zero means 4093, the kernel's default
	// (CONFIG_IP_VS_MH_TAB_INDEX=12).
	MHTableSize int
}

func (o Options) now() time.Time {
	if o.Now != nil {
		return o.Now()
	}
	return time.Now()
}

func (o Options) expiration() time.Duration {
	if o.LocalityExpiration > 0 {
		return o.LocalityExpiration
	}
	return 24 * time.Hour
}

var constructors = map[string]func(Flags, Options) (Scheduler, error){
	"rr":    func(Flags, Options) (Scheduler, error) { return &roundRobin{}, nil },
	"wrr":   func(Flags, Options) (Scheduler, error) { return &weightedRoundRobin{}, nil },
	"lc":    func(Flags, Options) (Scheduler, error) { return &scan{pick: pickLC}, nil },
	"wlc":   func(Flags, Options) (Scheduler, error) { return &scan{pick: pickWLC}, nil },
	"sed":   func(Flags, Options) (Scheduler, error) { return &scan{pick: pickSED}, nil },
	"nq":    func(Flags, Options) (Scheduler, error) { return &scan{pick: pickNQ}, nil },
	"fo":    func(Flags, Options) (Scheduler, error) { return &scan{pick: pickFO}, nil },
	"ovf":   func(Flags, Options) (Scheduler, error) { return &scan{pick: pickOVF}, nil },
	"lblc":  func(_ Flags, o Options) (Scheduler, error) { return newLBLC(o), nil },
	"lblcr": func(_ Flags, o Options) (Scheduler, error) { return newLBLCR(o), nil },
	"dh":    func(Flags, Options) (Scheduler, error) { return &destHash{}, nil },
	"sh":    func(f Flags, _ Options) (Scheduler, error) { return &sourceHash{flags: f}, nil },
	"mh":    newMaglev,
}

// Names returns the names New accepts, sorted.
func Names() []string {
	names := make([]string, 0, len(constructors))
	for n := range constructors {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// New returns the scheduler called name (as ipvsadm -s names it) with no
// destinations. Flags are used by sh and mh; the kernel accepts and ignores
// them for the others, and so does New. Bits other than FlagFallback and
// FlagPort are an error wrapping ErrUnknown.
func New(name string, flags Flags, opts Options) (Scheduler, error) {
	if flags&^(FlagFallback|FlagPort) != 0 {
		return nil, fmt.Errorf("create scheduler %q: flags %#x: %w", name, uint32(flags), ErrUnknown)
	}
	c, ok := constructors[name]
	if !ok {
		return nil, fmt.Errorf("create scheduler %q: %w", name, ErrUnknown)
	}
	return c(flags, opts)
}

// destList is an immutable snapshot of the destinations, swapped by Update.
type destList struct {
	p atomic.Pointer[[]*Dest]
}

func (l *destList) load() []*Dest {
	if p := l.p.Load(); p != nil {
		return *p
	}
	return nil
}

func (l *destList) store(dests []*Dest) {
	c := append([]*Dest(nil), dests...)
	l.p.Store(&c)
}

func gcd(a, b int32) int32 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}
