package director

import (
	"errors"
)

// Reload reads the configuration file again and applies only what
// changed. A configuration with any error changes nothing: every error is
// logged and returned, and the running configuration stays.
func (d *Director) Reload() error {
	err := d.reload()
	if err != nil {
		d.reloads.WithLabelValues("error").Inc()
		d.reloadErr.Add(1)
		for _, dg := range Diagnostics(err) {
			d.log.Error("reload rejected: " + dg.String())
		}
		return err
	}
	d.reloads.WithLabelValues("ok").Inc()
	d.reloadOK.Add(1)
	return nil
}

func (d *Director) reload() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.running || d.stopped {
		return errors.New("reload: the director is not running")
	}
	plan, warns, err := Load(d.opts.ConfigPath, d.opts.Hostname)
	for _, w := range warns {
		d.log.Warn("configuration: " + w.String())
	}
	if err != nil {
		return err
	}
	logNotices(d.log, plan)
	if err := plan.CheckCapabilities(d.backendName, d.backend.Capabilities()); err != nil {
		return err
	}
	if plan.NetNamespace != d.plan.NetNamespace {
		d.log.Warn("configuration: net_namespace cannot change on a reload (nor in keepalived): still running in the namespace it started in",
			"at", plan.NetNamespacePos.String(), "running", d.plan.NetNamespace, "asked", plan.NetNamespace)
	}
	if err := d.apply(d.runCtx, d.plan, plan); err != nil {
		return err
	}
	d.plan = plan
	return nil
}

// Plan returns the configuration running now.
func (d *Director) Plan() *Plan {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.plan
}
