package director

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"sync"
)

// runningUnit is a started unit with the spec it was built from.
type runningUnit struct {
	spec unitSpec
	unit unit
}

// apply makes what runs match the plan next, from the running plan cur:
// starting is applying a plan over nil, a reload applies the new plan over
// the running one, and stopping applies nil over the running plan. Per
// unit (changes): a kept unit is not touched, a restarted one is replaced,
// a started one starts and a stopped one stops.
//
// Every unit that starts is built first, before anything running is
// touched: if any build fails (or panics), apply discards what it built
// and returns the errors, and the running configuration stays as it was.
// Then the units that go away stop, the last kind first; then, kind by
// kind from the first, the units replaced stop (together) and the new ones
// start. If a unit's start panics, apply goes back to cur (rollBack): the
// units of next that started stop, and those of cur that stopped are
// built and started again, so a failed start leaves nothing half-running
// and a failed reload leaves the configuration that ran before it.
// Call with d.mu held.
func (d *Director) apply(ctx context.Context, cur, next *Plan) error {
	chs := changes(d.specs(cur), d.specs(next))
	if err := d.carryOut(ctx, chs, false); err != nil {
		return err
	}
	if cur != nil && next != nil {
		var summary [stopped + 1][]string
		for _, c := range chs {
			summary[c.what] = append(summary[c.what], c.key.String())
		}
		d.log.Info("configuration reloaded", "kept", summary[kept], "restarted", summary[restarted],
			"started", summary[started], "stopped", summary[stopped])
	}
	return nil
}

// specs lists the units of p (wrapped by the test's wrapSpecs, if set).
func (d *Director) specs(p *Plan) []unitSpec {
	s := p.units()
	if d.wrapSpecs != nil {
		s = d.wrapSpecs(s)
	}
	return s
}

// starts says whether the change builds and starts a unit.
func (c change) starts() bool { return c.what == started || c.what == restarted }

// carryOut builds, stops and starts units as chs says (see apply). While
// rolling back it does what it can: a unit that fails to build keeps
// running as it is, and one that fails to start does not stop the others.
func (d *Director) carryOut(ctx context.Context, chs []change, rollingBack bool) error {
	built, errs := d.buildUnits(chs)
	if errs != nil && !rollingBack {
		d.discardAll(built)
		return errs
	}
	var todo []change
	for _, c := range chs {
		if _, ok := built[c.key]; ok || !c.starts() {
			todo = append(todo, c)
		}
	}

	for kind := numKinds - 1; kind >= 0; kind-- {
		d.stopUnits(todo, kind, stopped)
	}
	for kind := range numKinds {
		d.stopUnits(todo, kind, restarted)
		for _, c := range todo {
			if c.key.kind != kind || !c.starts() {
				continue
			}
			u := built[c.key]
			delete(built, c.key)
			// Running from here on, whatever start does: a start that
			// fails half-way is stopped like any running unit.
			d.units[c.key] = runningUnit{spec: c.new, unit: u}
			err := d.guard("start "+c.key.String(), func() error { u.start(ctx); return nil })
			if err == nil {
				continue
			}
			if rollingBack {
				errs = errors.Join(errs, err)
				continue
			}
			d.discardAll(built)
			return d.rollBack(ctx, chs, err)
		}
	}
	return errs
}

// buildUnits builds the unit of every change that starts one, each
// guarded against panics, and returns those built and every error. It is
// the one build of start, reload, rollback and Check (check.go): a unit's
// build has no side effects (unitSpec), so building is how a plan is
// checked against everything short of running it.
func (d *Director) buildUnits(chs []change) (map[unitKey]unit, error) {
	built := map[unitKey]unit{}
	var errs error
	for _, c := range chs {
		if !c.starts() {
			continue
		}
		var u unit
		err := d.guard("build "+c.key.String(), func() error {
			var err error
			u, err = c.new.build(d, d.units[c.key].unit)
			return err
		})
		if err != nil {
			errs = errors.Join(errs, err)
			continue
		}
		built[c.key] = u
	}
	return built, errs
}

// rollBack returns to the units that ran before chs were carried out,
// after a unit failed to start (cause): it applies them over what runs
// now. It returns cause, joined with what could not be restored.
func (d *Director) rollBack(ctx context.Context, chs []change, cause error) error {
	d.log.Error("a unit failed to start; going back to the configuration that ran before", "err", cause)
	var running, before []unitSpec
	for _, r := range d.units {
		running = append(running, r.spec)
	}
	for _, c := range chs {
		if c.old != nil {
			before = append(before, c.old)
		}
	}
	if err := d.carryOut(ctx, changes(running, before), true); err != nil {
		d.log.Error("restore the configuration that ran before", "err", err)
		return errors.Join(cause, fmt.Errorf("restore the configuration that ran before: %w", err))
	}
	return cause
}

// stopUnits stops, together, the running units of kind whose change is
// what (stopped: they go away; restarted: they are replaced).
func (d *Director) stopUnits(chs []change, kind unitKind, what changeKind) {
	var wg sync.WaitGroup
	for _, c := range chs {
		if c.key.kind != kind || c.what != what {
			continue
		}
		r, ok := d.units[c.key]
		if !ok {
			continue
		}
		delete(d.units, c.key)
		wg.Go(func() {
			_ = d.guard("stop "+c.key.String(), func() error { r.unit.stop(what == restarted); return nil })
		})
	}
	wg.Wait()
}

func (d *Director) discardAll(built map[unitKey]unit) {
	for k, u := range built {
		_ = d.guard("discard "+k.String(), func() error { u.discard(); return nil })
	}
}

// guard runs f and turns a panic in it into an error, logged with its
// stack: a unit's build, start, stop or goroutine that panics is a bug,
// and it must not take the director (and the VIPs it holds, without a
// priority-0 advert) down with it.
func (d *Director) guard(what string, f func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%s: panic: %v", what, r)
			d.log.Error("recovered from a panic", "in", what, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
		}
	}()
	return f()
}
