package director

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lvskit/lvskit/healthcheck"
	"github.com/lvskit/lvskit/internal/alert"
	"github.com/lvskit/lvskit/ipvs"
	"github.com/lvskit/lvskit/vrrp"
)

// vrrpUnit is what starts and stops together: one instance, or the
// members of a sync group with the group.
type vrrpUnit struct {
	key       string
	fp        string
	instances []*vrrp.Instance
	group     *vrrp.SyncGroup

	cancel context.CancelFunc
	done   chan struct{}

	mu   sync.Mutex
	errs map[string]string // instance name -> why its Run failed
}

// runError is why the instance's Run returned an error, if it did.
func (u *vrrpUnit) runError(name string) string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.errs[name]
}

// discard releases a unit that was built and will not run.
func (u *vrrpUnit) discard() {
	if u.group != nil {
		u.group.Close()
	}
}

func (u *vrrpUnit) stop() {
	if u.cancel == nil {
		return
	}
	u.cancel()
	<-u.done
}

// buildUnitsOrErr builds the plan's VRRP units, not started, by key;
// failures are joined into *errp.
func (d *Director) buildUnitsOrErr(plan *Plan, errp *error) map[string]*vrrpUnit {
	units := map[string]*vrrpUnit{}
	byName := map[string]*InstancePlan{}
	for i := range plan.Instances {
		byName[plan.Instances[i].VRRP.Name] = &plan.Instances[i]
	}
	for i := range plan.SyncGroups {
		g := &plan.SyncGroups[i]
		u := &vrrpUnit{key: "group " + g.Name}
		fps := []string{g.fingerprint()}
		for _, m := range g.Members {
			p := byName[m]
			if p == nil {
				continue
			}
			in, err := d.newInstance(p)
			if err != nil {
				*errp = errors.Join(*errp, err)
				continue
			}
			u.instances = append(u.instances, in)
			fps = append(fps, p.fingerprint())
		}
		u.fp = strings.Join(fps, "\n")
		sg, err := vrrp.NewSyncGroup(g.Name, vrrp.Notify{
			Script: g.Notify.Script, Master: g.Notify.Master, Backup: g.Notify.Backup,
			Fault: g.Notify.Fault, Stop: g.Notify.Stop, FIFO: g.Notify.FIFO,
			Func: d.onGroup(*g),
		}, d.log.With("sync_group", g.Name), u.instances...)
		if err != nil {
			*errp = errors.Join(*errp, fmt.Errorf("vrrp_sync_group %s: %w", g.Name, err))
			continue
		}
		u.group = sg
		units[u.key] = u
	}
	for i := range plan.Instances {
		p := &plan.Instances[i]
		if p.SyncGroup != "" {
			continue
		}
		in, err := d.newInstance(p)
		if err != nil {
			*errp = errors.Join(*errp, err)
			continue
		}
		u := &vrrpUnit{key: "instance " + p.VRRP.Name, fp: p.fingerprint(), instances: []*vrrp.Instance{in}}
		units[u.key] = u
	}
	return units
}

func (d *Director) newInstance(p *InstancePlan) (*vrrp.Instance, error) {
	c := p.VRRP
	c.Network = d.network
	c.Transport = d.transport
	c.Logger = d.log.With("component", "vrrp")
	c.Metrics = d.vrrpMetrics
	c.Notify.Func = d.onVRRP(*p)
	for _, t := range p.Tracks {
		switch t.Kind {
		case "interface":
			c.Trackers = append(c.Trackers, vrrp.Track{Name: t.Name, Weight: t.Weight, Tracker: vrrp.TrackInterface(t.Interface, nil)})
		case "script":
			c.Trackers = append(c.Trackers, vrrp.Track{Name: t.Name, Weight: t.Weight, Tracker: vrrp.TrackScript(t.Script)})
		case "file":
			fc := &healthcheck.FileChecker{Path: t.File, Reverse: t.Reverse}
			c.Trackers = append(c.Trackers, vrrp.Track{Name: t.Name, Weight: t.Weight, Tracker: vrrp.TrackFunc(time.Second, fc.Check)})
		}
	}
	in, err := vrrp.New(c)
	if err != nil {
		return nil, fmt.Errorf("%s: vrrp_instance %s: %w", p.Pos, p.VRRP.Name, err)
	}
	return in, nil
}

func (d *Director) startUnit(u *vrrpUnit) {
	ctx, cancel := context.WithCancel(d.runCtx)
	u.cancel = cancel
	u.done = make(chan struct{})
	var wg sync.WaitGroup
	for _, in := range u.instances {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := in.Run(ctx); err != nil {
				d.log.Error("vrrp instance stopped", "instance", in.Name(), "err", err)
				u.mu.Lock()
				if u.errs == nil {
					u.errs = map[string]string{}
				}
				u.errs[in.Name()] = err.Error()
				u.mu.Unlock()
			}
		}()
	}
	d.units[u.key] = u
	d.bg.Add(1)
	go func() {
		defer d.bg.Done()
		wg.Wait()
		if u.group != nil {
			u.group.Close()
		}
		close(u.done)
	}()
}

func alertState(s vrrp.State) string {
	if s == vrrp.StateInit {
		return "STOP"
	}
	return s.String()
}

func (d *Director) onVRRP(p InstancePlan) func(vrrp.Transition) {
	return func(tr vrrp.Transition) {
		d.log.Debug("vrrp transition", "instance", tr.Name, "from", tr.From.String(), "to", tr.To.String(), "priority", tr.Priority)
		if f := d.follower.Load(); f != nil && f.cfg.Instance == tr.Name {
			f.set(tr.To)
		}
		if !p.SMTPAlert || (tr.To == vrrp.StateFault && d.noEmailFaults.Load()) {
			return
		}
		from := ""
		if tr.From != vrrp.StateInit {
			from = alertState(tr.From)
		}
		d.notifier.Load().Notify(alert.Event{Kind: alert.VRRPInstance, Name: tr.Name, From: from, To: alertState(tr.To),
			Time: tr.Time, Reason: fmt.Sprintf("effective priority %d", tr.Priority)})
	}
}

func (d *Director) onGroup(g SyncGroupPlan) func(vrrp.Transition) {
	return func(tr vrrp.Transition) {
		d.log.Info("vrrp sync group transition", "group", tr.Name, "from", tr.From.String(), "to", tr.To.String())
		if !g.SMTPAlert || (tr.To == vrrp.StateFault && d.noEmailFaults.Load()) {
			return
		}
		from := ""
		if tr.From != vrrp.StateInit {
			from = alertState(tr.From)
		}
		d.notifier.Load().Notify(alert.Event{Kind: alert.VRRPSyncGroup, Name: tr.Name, From: from, To: alertState(tr.To), Time: tr.Time})
	}
}

// poolRun is one running pool.
type poolRun struct {
	plan *VirtualServerPlan
	fp   string
	pool *healthcheck.Pool

	cancel context.CancelFunc
	done   chan struct{}
	// quiet silences the pool's notifications while a reload replaces it
	// (omega would otherwise report every alive server down).
	quiet atomic.Bool
}

func (p *poolRun) stop() {
	if p.cancel == nil {
		return
	}
	p.cancel()
	<-p.done
}

// aliveByChecks maps "destination|checks" of each real server to whether it
// is alive now.
func (p *poolRun) aliveByChecks() map[string]bool {
	alive := p.pool.Alive()
	m := map[string]bool{}
	for i := range p.plan.RealServers {
		if i >= len(alive) {
			break
		}
		rs := &p.plan.RealServers[i]
		m[rs.DestinationKey(p.plan.Service.Port).String()+"|"+rs.checksFingerprint()] = alive[i]
	}
	return m
}

// serviceName is how alerts name a virtual server.
func serviceName(k ipvs.ServiceKey) string {
	if k.FWMark != 0 {
		return fmt.Sprintf("fwmark %d", k.FWMark)
	}
	return netip.AddrPortFrom(k.Addr, k.Port).String()
}

func upDown(b bool) string {
	if b {
		return "UP"
	}
	return "DOWN"
}

func (d *Director) buildPool(vs *VirtualServerPlan, prev *poolRun) (*poolRun, error) {
	cfg := poolConfig(vs, prev, d.table)
	cfg.Logger = d.log.With("component", "healthcheck")
	cfg.Metrics = d.hcMetrics
	rsAlert := map[ipvs.DestinationKey]bool{}
	rsPlan := map[ipvs.DestinationKey]*RealServerPlan{}
	for i := range vs.RealServers {
		k := vs.RealServers[i].DestinationKey(vs.Service.Port)
		rsAlert[k] = vs.RealServers[i].SMTPAlert
		rsPlan[k] = &vs.RealServers[i]
	}
	vsAlert := vs.SMTPAlert
	pr := &poolRun{plan: vs, fp: vs.fingerprint()}
	cfg.OnRealServer = func(ev healthcheck.RealServerEvent) {
		if pr.quiet.Load() {
			return
		}
		reason := ""
		if ev.Err != nil {
			reason = ev.Err.Error()
		}
		d.log.Info("real server "+strings.ToLower(upDown(ev.Alive)), "service", ev.Service.String(), "real_server", ev.RealServer.String(), "reason", reason)
		if rp := rsPlan[ev.RealServer]; rp != nil {
			if ev.Alive {
				d.runScript("notify_up", rp.NotifyUp)
			} else {
				d.runScript("notify_down", rp.NotifyDown)
			}
		}
		if !rsAlert[ev.RealServer] {
			return
		}
		d.notifier.Load().Notify(alert.Event{Kind: alert.RealServer,
			Name: fmt.Sprintf("virtual_server %s -> real_server %s", serviceName(ev.Service), ev.RealServer),
			From: upDown(!ev.Alive), To: upDown(ev.Alive), Reason: reason})
	}
	cfg.OnQuorum = func(ev healthcheck.QuorumEvent) {
		if pr.quiet.Load() {
			return
		}
		d.log.Info("quorum "+strings.ToLower(upDown(ev.Up)), "service", ev.Service.String(), "weight_sum", ev.WeightSum, "threshold", ev.Threshold)
		if ev.Up {
			d.runScript("quorum_up", vs.QuorumUp)
		} else {
			d.runScript("quorum_down", vs.QuorumDown)
		}
		if !vsAlert {
			return
		}
		d.notifier.Load().Notify(alert.Event{Kind: alert.Quorum,
			Name: "virtual_server " + serviceName(ev.Service),
			From: upDown(!ev.Up), To: upDown(ev.Up),
			Reason: fmt.Sprintf("alive weight %d, threshold %d", ev.WeightSum, ev.Threshold)})
	}
	pool, err := healthcheck.NewPool(cfg)
	if err != nil {
		return nil, fmt.Errorf("%s: virtual_server %s: %w", vs.Pos, vs.Service.String(), err)
	}
	pr.pool = pool
	return pr, nil
}

func (d *Director) startPool(p *poolRun) {
	ctx, cancel := context.WithCancel(d.runCtx)
	p.cancel = cancel
	p.done = make(chan struct{})
	d.pools[p.plan.Key()] = p
	d.bg.Add(1)
	go func() {
		defer d.bg.Done()
		defer close(p.done)
		if err := p.pool.Run(ctx); err != nil {
			d.log.Error("pool stopped", "service", p.plan.Service.String(), "err", err)
		}
	}()
}

// scriptTimeout bounds a notify_up/notify_down/quorum_up/quorum_down run.
const scriptTimeout = 10 * time.Second

// runScript runs a checker notify program in the background, without a
// shell, killed after scriptTimeout; failures are logged.
func (d *Director) runScript(what string, argv []string) {
	if len(argv) == 0 {
		return
	}
	d.bg.Add(1)
	go func() {
		defer d.bg.Done()
		ctx, cancel := context.WithTimeout(context.Background(), scriptTimeout)
		defer cancel()
		out, err := exec.CommandContext(ctx, argv[0], argv[1:]...).CombinedOutput()
		if err != nil {
			d.log.Warn(what+" script failed", "script", argv, "err", err, "output", string(out))
			return
		}
		d.log.Debug(what+" script ran", "script", argv)
	}()
}
