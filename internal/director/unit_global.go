package director

import (
	"context"
	"fmt"

	"github.com/lvskit/lvskit/clock"
	"github.com/lvskit/lvskit/internal/alert"
	"github.com/lvskit/lvskit/ipvs"
)

// alertSpec is the e-mail notifier of global_defs.
type alertSpec struct {
	Config alert.Config
}

func (s alertSpec) key() unitKey { return unitKey{kind: kindAlerts} }

func (s alertSpec) build(d *Director, _ unit) (unit, error) {
	cfg := s.Config
	cfg.Logger = d.log.With("component", "alert")
	cfg.Clock = d.clock
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("configure alerts: %w", err)
	}
	return &alertUnit{d: d, cfg: cfg}, nil
}

// alertUnit is the notifier the director's transitions are mailed
// through (Director.notifier).
type alertUnit struct {
	d   *Director
	cfg alert.Config
	n   *alert.Notifier
}

// start takes over from the notifier in use, which finishes sending what
// it has queued in the background.
func (u *alertUnit) start(context.Context) {
	n, err := alert.New(u.cfg)
	if err != nil { // build validated cfg
		u.d.log.Error("configure alerts", "err", err)
		return
	}
	u.n = n
	if old := u.d.notifier.Swap(n); old != nil {
		u.d.bg.Go(func() { _ = old.Close() })
	}
}

// stop, unless a new notifier takes over, stops mailing and gives the
// queue its ConnectTimeout to drain.
func (u *alertUnit) stop(replaced bool) {
	if replaced || u.n == nil {
		return
	}
	u.d.notifier.CompareAndSwap(u.n, nil)
	_ = u.n.Close()
}

func (u *alertUnit) discard() {}

// globalSpec is what global_defs sets for the director as a whole.
type globalSpec struct {
	NoEmailFaults bool
	// LVSTimeouts are written to the backend when set; a plan without them
	// leaves the backend's as they are.
	LVSTimeouts ipvs.Timeouts
}

func (s globalSpec) key() unitKey { return unitKey{kind: kindGlobals} }

func (s globalSpec) build(d *Director, _ unit) (unit, error) { return globalUnit{d: d, s: s}, nil }

type globalUnit struct {
	d *Director
	s globalSpec
}

func (u globalUnit) start(ctx context.Context) {
	u.d.noEmailFaults.Store(u.s.NoEmailFaults)
	if u.s.LVSTimeouts != (ipvs.Timeouts{}) {
		u.d.setTimeouts(ctx, u.s.LVSTimeouts)
	}
}

func (globalUnit) stop(bool) {}
func (globalUnit) discard()  {}

// setTimeouts writes lvs_timeouts to a backend that has them.
func (d *Director) setTimeouts(ctx context.Context, t ipvs.Timeouts) {
	type timeoutSetter interface {
		SetTimeouts(context.Context, ipvs.Timeouts) error
	}
	ts, ok := d.backend.Backend.(timeoutSetter)
	if !ok {
		d.log.Warn("lvs_timeouts: not supported by this IPVS backend; ignored", "backend", d.backendName)
		return
	}
	ctx, cancel := clock.WithTimeout(ctx, d.clock, syncTimeout)
	defer cancel()
	if err := ts.SetTimeouts(ctx, t); err != nil {
		d.log.Error("lvs_timeouts", "err", err)
	}
}
