package ipvs

import (
	"context"
	"fmt"
	"slices"
	"sync"
)

// Memory is a Backend that keeps its table in memory and forwards no
// packets. It checks what the kernel checks and fails the way the netlink
// backend fails (ErrExists, ErrNotFound, ErrNotSupported for a scheduler
// or persistence engine the kernel does not ship, ErrInvalid), so callers
// can test their use of a Backend without privileges. Its statistics stay
// zero. It is safe for concurrent use.
type Memory struct {
	mu       sync.Mutex
	services []Service // insertion order; destinations in insertion order
	closed   bool
	writes   int
}

var _ Backend = (*Memory)(nil)

// NewMemory returns an empty in-memory table.
func NewMemory() *Memory { return &Memory{} }

// Writes returns how many operations Apply has performed successfully:
// tests use it to show that a no-op Sync writes nothing.
func (m *Memory) Writes() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.writes
}

// Dump returns a copy of the table.
func (m *Memory) Dump(ctx context.Context) ([]Service, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("dump services: %w", err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, fmt.Errorf("dump services: %w", errClosed)
	}
	out := make([]Service, len(m.services))
	for i, s := range m.services {
		out[i] = s
		out[i].Destinations = slices.Clone(s.Destinations)
	}
	return out, nil
}

// Apply performs ops in order. Every operation is validated before the
// first is applied, so malformed input changes nothing; after that, Apply
// stops at the first operation the kernel would refuse.
func (m *Memory) Apply(ctx context.Context, ops []Op) error {
	for i := range ops {
		if err := validateOp(&ops[i]); err != nil {
			return &ApplyError{Index: i, Op: ops[i], Err: err}
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return fmt.Errorf("apply: %w", errClosed)
	}
	for i := range ops {
		if err := ctx.Err(); err != nil {
			return &ApplyError{Index: i, Op: ops[i], Err: err}
		}
		if err := m.apply(&ops[i]); err != nil {
			return &ApplyError{Index: i, Op: ops[i], Err: err}
		}
		m.writes++
	}
	return nil
}

// Flush removes every service.
func (m *Memory) Flush(ctx context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.services = nil
	m.writes++
	return nil
}

// Capabilities says what the in-memory table carries: what the kernel's
// does.
func (m *Memory) Capabilities() Capabilities { return KernelCapabilities() }

// Close marks the backend closed; later calls fail. It is idempotent.
func (m *Memory) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	return nil
}

func (m *Memory) find(k ServiceKey) int {
	for i := range m.services {
		if m.services[i].Key() == k {
			return i
		}
	}
	return -1
}

// kernelSchedulerKnown reports whether a kernel would find ip_vs_<name>.
func kernelSchedulerKnown(name string) bool { return slices.Contains(KernelSchedulers(), name) }

func (m *Memory) apply(op *Op) error {
	k := op.Service.Key()
	i := m.find(k)
	switch op.Kind {
	case AddService, UpdateService:
		if i >= 0 && op.Kind == AddService {
			return fmt.Errorf("add service %s: %w", k, ErrExists)
		}
		if i < 0 && op.Kind == UpdateService {
			return fmt.Errorf("update service %s: %w", k, ErrNotFound)
		}
		s := serviceOnly(&op.Service)
		if !kernelSchedulerKnown(s.SchedulerName()) {
			return fmt.Errorf("%s %s: scheduler %q: %w", op.Kind, k, s.SchedulerName(), ErrNotSupported)
		}
		if s.PEName != "" && s.PEName != "sip" {
			return fmt.Errorf("%s %s: persistence engine %q: %w", op.Kind, k, s.PEName, ErrNotSupported)
		}
		s.Family = k.Family
		s.Addr = k.Addr
		if s.FWMark != 0 {
			s.Protocol = 0
		}
		s.Scheduler = s.SchedulerName()
		s.PersistenceBits = s.PersistenceMask()
		if i < 0 {
			m.services = append(m.services, s)
			return nil
		}
		s.Destinations = m.services[i].Destinations
		m.services[i] = s
		return nil
	case DeleteService:
		if i < 0 {
			return fmt.Errorf("delete service %s: %w", k, ErrNotFound)
		}
		m.services = slices.Delete(m.services, i, i+1)
		return nil
	}

	if i < 0 {
		return fmt.Errorf("%s %s: service: %w", op.Kind, k, ErrNotFound)
	}
	s := &m.services[i]
	d := normalDest(s, &op.Destination)
	dk := d.Key()
	j := slices.IndexFunc(s.Destinations, func(x Destination) bool { return x.Key() == dk })
	switch op.Kind {
	case AddDestination:
		if j >= 0 {
			return fmt.Errorf("add destination %s to %s: %w", dk, k, ErrExists)
		}
		s.Destinations = append(s.Destinations, d)
	case UpdateDestination:
		if j < 0 {
			return fmt.Errorf("update destination %s of %s: %w", dk, k, ErrNotFound)
		}
		s.Destinations[j] = d
	case DeleteDestination:
		if j < 0 {
			return fmt.Errorf("delete destination %s of %s: %w", dk, k, ErrNotFound)
		}
		s.Destinations = slices.Delete(s.Destinations, j, j+1)
	}
	return nil
}
