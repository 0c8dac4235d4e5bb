package netcfg

import (
	"errors"
	"fmt"
	"strings"
	"sync"
)

// A Step is one thing a Host actually changed. The concrete types are
// SysctlChange, AddressChange, RouteChange, RuleChange, LinkChange,
// NATChange and BlockChange; callers may type-switch on them to report
// what happened.
type Step interface {
	String() string
	undo(h *Host) error
}

// Change records what one call actually changed, in order, with the old
// values needed to put things back exactly. A call that found everything
// already as asked returns an empty Change, so undoing it touches nothing:
// apply twice, undo the first, and the namespace is as it was before.
type Change struct {
	host  *Host
	Steps []Step

	mu     sync.Mutex
	undone bool
}

func (h *Host) newChange() *Change { return &Change{host: h} }

func (c *Change) add(s Step) { c.Steps = append(c.Steps, s) }

// merge appends other's steps; used by the one-call configurations.
func (c *Change) merge(other *Change) {
	if other != nil {
		c.Steps = append(c.Steps, other.Steps...)
	}
}

// Empty reports whether nothing was changed.
func (c *Change) Empty() bool { return c == nil || len(c.Steps) == 0 }

// Undo reverts the steps in reverse order. It carries on past a failing
// step (so as much as possible is put back) and returns all failures
// joined. Undo is idempotent; a nil or empty Change undoes nothing.
func (c *Change) Undo() error {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.undone {
		return nil
	}
	c.undone = true
	var errs []error
	for i := len(c.Steps) - 1; i >= 0; i-- {
		s := c.Steps[i]
		if err := s.undo(c.host); err != nil {
			errs = append(errs, fmt.Errorf("undo %s: %w", s, err))
			continue
		}
		c.host.log.Debug("netcfg: undone", "step", s.String())
	}
	return errors.Join(errs...)
}

// String lists the steps, one per line.
func (c *Change) String() string {
	if c.Empty() {
		return "no change"
	}
	var b strings.Builder
	for i, s := range c.Steps {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(s.String())
	}
	return b.String()
}

// rollback undoes a partly applied change after a failure and returns
// the original error, with the rollback's failure if it had one.
func (c *Change) rollback(err error) error {
	if uerr := c.Undo(); uerr != nil {
		return fmt.Errorf("%w (and rolling back failed: %v)", err, uerr)
	}
	return err
}
