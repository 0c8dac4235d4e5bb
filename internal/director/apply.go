package director

import (
	"context"
	"errors"
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
// touched: if any build fails, apply discards what it built and returns
// the errors, and the running configuration stays as it was. Then the
// units that go away stop, the last kind first; then, kind by kind from
// the first, the units replaced stop (together) and the new ones start.
// Call with d.mu held.
func (d *Director) apply(ctx context.Context, cur, next *Plan) error {
	chs := changes(cur.units(), next.units())
	built := map[unitKey]unit{}
	var errs error
	for _, c := range chs {
		if c.what != started && c.what != restarted {
			continue
		}
		u, err := c.new.build(d, d.units[c.key].unit)
		if err != nil {
			errs = errors.Join(errs, err)
			continue
		}
		built[c.key] = u
	}
	if errs != nil {
		for _, u := range built {
			u.discard()
		}
		return errs
	}

	var summary [stopped + 1][]string
	for _, c := range chs {
		summary[c.what] = append(summary[c.what], c.key.String())
	}
	for kind := numKinds - 1; kind >= 0; kind-- {
		d.stopUnits(chs, kind, stopped)
	}
	for kind := range numKinds {
		d.stopUnits(chs, kind, restarted)
		for _, c := range chs {
			if c.key.kind != kind || (c.what != started && c.what != restarted) {
				continue
			}
			u := built[c.key]
			u.start(ctx)
			d.units[c.key] = runningUnit{spec: c.new, unit: u}
		}
	}
	if cur != nil && next != nil {
		d.log.Info("configuration reloaded", "kept", summary[kept], "restarted", summary[restarted],
			"started", summary[started], "stopped", summary[stopped])
	}
	return nil
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
		wg.Go(func() { r.unit.stop(what == restarted) })
	}
	wg.Wait()
}
