package director

import (
	"context"
	"errors"
	"sync/atomic"

	"github.com/lvskit/lvskit/ipvs"
)

// openIPVS opens the IPVS backend: Options.IPVS when set, else what
// ipvs.Open chooses for Options.Backend (which ipvs.Open logs with its
// reason). It checks the plan against what the backend can carry (its
// Capabilities), so that a refused setting is reported at its line.
func (d *Director) openIPVS(plan *Plan) error {
	var b ipvs.Backend
	var choice ipvs.Choice
	if d.opts.IPVS != nil {
		b = d.opts.IPVS
		choice = ipvs.Choice{Kind: d.opts.Backend, Reason: "given by the caller"}
		if choice.Kind == "" || choice.Kind == ipvs.KindAuto {
			choice.Kind = "custom"
		}
	} else {
		var err error
		b, choice, err = ipvs.Open(context.Background(), ipvs.OpenConfig{Kind: d.opts.Backend, Logger: d.log,
			Netlink: ipvs.NetlinkConfig{Netns: d.ns}})
		if err != nil {
			return err
		}
	}
	d.backend = &countingBackend{Backend: b}
	d.backendName, d.backendReason = choice.Kind, choice.Reason
	d.log.Info("IPVS backend", "backend", choice.Kind, "reason", choice.Reason)
	caps := b.Capabilities()
	if dc, ok := b.(ipvs.DaemonController); ok && caps.SyncDaemon {
		d.daemons = dc
	}
	if err := plan.CheckCapabilities(choice.Kind, caps); err != nil {
		for _, dg := range Diagnostics(err) {
			d.log.Error("configuration: " + dg.String())
		}
		return err
	}
	return nil
}

// countingBackend counts the operations applied to a backend, so that a
// reload can be shown to touch only what changed.
type countingBackend struct {
	ipvs.Backend
	writes atomic.Uint64
}

// Unwrap returns the backend counted, so that ipvs.NewCollector finds what
// the backend itself exports (the userspace proxy's descriptor budget).
func (c *countingBackend) Unwrap() ipvs.Backend { return c.Backend }

func (c *countingBackend) Apply(ctx context.Context, ops []ipvs.Op) error {
	err := c.Backend.Apply(ctx, ops)
	n := len(ops)
	var ae *ipvs.ApplyError
	if errors.As(err, &ae) {
		n = ae.Index
	} else if err != nil {
		n = 0
	}
	c.writes.Add(uint64(n))
	return err
}
