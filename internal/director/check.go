package director

import (
	"github.com/lvskit/lvskit/healthcheck"
	"github.com/lvskit/lvskit/ipvs"
	"github.com/lvskit/lvskit/netcfg/vrrpnet"
	"github.com/lvskit/lvskit/vrrp"
)

// Check is what `director -t` runs: it loads the configuration as New
// does (Load: parse, translate, the libraries' Validate) and then builds
// every unit of the plan with the code Run starts them with (buildUnits),
// and discards them. Building has no side effects, so Check opens
// nothing: the units are built on stand-ins of the same kinds as what New
// opens (the host's network as vrrpnet.Network, raw VRRP sockets that
// open nothing before Run, metrics in no registry, an IPVS table in
// memory), or on opts.Network and opts.Transport when set. A file Check
// accepts therefore cannot fail to build at start for a reason that lies
// in the file; what only the host can say (a missing interface, a
// backend that cannot be opened) is found when it runs.
//
// When opts.Backend names a kind whose capabilities are known without
// opening it (ipvs.CapabilitiesOf: "userspace", "netlink", ...), the plan
// is also checked against them, each refused setting at its line, as New
// checks it against the backend it opens; "auto" is known only then.
func Check(opts Options) (*Plan, []Warning, error) {
	d := newDirector(opts)
	plan, warns, err := Load(d.opts.ConfigPath, d.opts.Hostname)
	if err != nil {
		return nil, warns, err
	}
	if caps, ok := ipvs.CapabilitiesOf(d.opts.Backend); ok {
		if err := plan.CheckCapabilities(d.opts.Backend, caps); err != nil {
			return nil, warns, err
		}
	}
	if err := d.check(plan); err != nil {
		return nil, warns, err
	}
	return plan, warns, nil
}

// check builds every unit of plan on stand-ins (see Check) and discards
// them.
func (d *Director) check(plan *Plan) error {
	d.network, d.transport = d.opts.Network, d.opts.Transport
	if d.network == nil {
		d.network = vrrpnet.New(nil) // what open makes, without the host
	}
	if d.transport == nil {
		d.transport = vrrp.NewRawTransport(vrrp.RawConfig{Logger: d.log})
	}
	d.vrrpMetrics = vrrp.NewMetrics()
	hm, err := healthcheck.NewMetrics(nil)
	if err != nil {
		return err
	}
	d.hcMetrics = hm
	d.backend = &countingBackend{Backend: ipvs.NewMemory()}
	d.table = healthcheck.NewTable(d.backend)
	built, err := d.buildUnits(changes(nil, d.specs(plan)))
	d.discardAll(built)
	return err
}
