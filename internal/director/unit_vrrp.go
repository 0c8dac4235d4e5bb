package director

import (
	"context"
	"sync"

	"github.com/lvskit/lvskit/vrrp"
)

// vrrpSpec is a VRRP unit: one instance, or a sync group with its members
// (which start and stop together).
type vrrpSpec struct {
	Group   *SyncGroupPlan // nil for an instance outside any group
	Members []InstancePlan
}

// vrrpUnits lists the plan's VRRP units: its sync groups, then the
// instances outside any group.
func (p *Plan) vrrpUnits() []unitSpec {
	byName := map[string]*InstancePlan{}
	for i := range p.Instances {
		byName[p.Instances[i].VRRP.Name] = &p.Instances[i]
	}
	var out []unitSpec
	for i := range p.SyncGroups {
		g := &p.SyncGroups[i]
		s := vrrpSpec{Group: g}
		for _, m := range g.Members {
			if in := byName[m]; in != nil {
				s.Members = append(s.Members, *in)
			}
		}
		out = append(out, s)
	}
	for i := range p.Instances {
		if p.Instances[i].SyncGroup == "" {
			out = append(out, vrrpSpec{Members: []InstancePlan{p.Instances[i]}})
		}
	}
	return out
}

func (s vrrpSpec) key() unitKey {
	if s.Group != nil {
		return unitKey{kindVRRP, "group " + s.Group.Name}
	}
	return unitKey{kindVRRP, "instance " + s.Members[0].VRRP.Name}
}

func (s vrrpSpec) build(d *Director, _ unit) (unit, error) {
	u := &vrrpUnit{d: d}
	for i := range s.Members {
		in, err := d.newInstance(&s.Members[i])
		if err != nil {
			return nil, err
		}
		u.instances = append(u.instances, in)
	}
	if g := s.Group; g != nil {
		notify := g.Notify
		notify.Func = d.onGroup(g.SMTPAlert)
		notify.Netns = d.ns
		sg, err := vrrp.NewSyncGroup(g.Name, notify, d.log.With("sync_group", g.Name), u.instances...)
		if err != nil {
			return nil, errorAt(g.Pos, "vrrp_sync_group %s: %v", g.Name, err)
		}
		u.group = sg
	}
	return u, nil
}

// newInstance builds one instance of the plan with the director's
// run-time parts: network, transport, clock, logger, metrics, trackers and
// the transition callback.
func (d *Director) newInstance(p *InstancePlan) (*vrrp.Instance, error) {
	c := p.VRRP
	c.Network = d.network
	c.Transport = d.transport
	c.Clock = d.clock
	c.Logger = d.log.With("component", "vrrp")
	c.Metrics = d.vrrpMetrics
	c.Notify.Func = d.onVRRP(p.SMTPAlert)
	c.Notify.Netns = d.ns
	c.Trackers = nil
	for _, t := range p.Tracks {
		var tr vrrp.Tracker
		switch t.Kind {
		case TrackInterface:
			tr = vrrp.TrackInterface(t.Interface, d.netnsPtr())
		case TrackScript:
			tr = d.scriptTracker(t.Script)
			tr = d.recordScript(t.Name, tr)
		case TrackFile:
			tr = vrrp.TrackFile(t.File)
		case TrackProcess:
			tr = vrrp.TrackProcess(t.Process)
		default:
			return nil, errorAt(p.Pos, "vrrp_instance %s: tracker %q of unknown kind %d", p.VRRP.Name, t.Name, t.Kind)
		}
		c.Trackers = append(c.Trackers, vrrp.Track{Name: t.Name, Weight: t.Weight, Tracker: tr})
	}
	in, err := vrrp.New(c)
	if err != nil {
		return nil, errorAt(p.Pos, "vrrp_instance %s: %v", p.VRRP.Name, err)
	}
	return in, nil
}

// vrrpUnit runs the instances of a vrrpSpec.
type vrrpUnit struct {
	d         *Director
	instances []*vrrp.Instance
	group     *vrrp.SyncGroup

	cancel context.CancelFunc
	done   chan struct{}

	mu   sync.Mutex
	errs map[string]string // instance name -> why its Run failed
}

func (u *vrrpUnit) start(ctx context.Context) {
	u.done = make(chan struct{})
	ctx, u.cancel = context.WithCancel(ctx)
	var wg sync.WaitGroup
	// Deferred, so that done closes even if start panics half-way (stop
	// then returns once what did start has ended).
	defer u.d.bg.Go(func() {
		wg.Wait()
		u.discard()
		close(u.done)
	})
	for _, in := range u.instances {
		wg.Go(func() {
			// A panic in Run has run Run's deferred graceful stop
			// (priority 0, addresses removed) by the time guard sees it.
			err := u.d.guard("vrrp instance "+in.Name(), func() error { return in.Run(ctx) })
			if err != nil {
				u.d.log.Error("vrrp instance stopped", "instance", in.Name(), "err", err)
				u.mu.Lock()
				if u.errs == nil {
					u.errs = map[string]string{}
				}
				u.errs[in.Name()] = err.Error()
				u.mu.Unlock()
			}
		})
	}
}

// stop ends the instances gracefully (a master sends priority 0 and
// removes its addresses) and waits for them.
func (u *vrrpUnit) stop(bool) {
	if u.cancel == nil { // never started
		u.discard()
		return
	}
	u.cancel()
	<-u.done
}

func (u *vrrpUnit) discard() {
	if u.group != nil {
		u.group.Close()
	}
}

// runError is why the instance's Run returned an error, if it did.
func (u *vrrpUnit) runError(name string) string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.errs[name]
}
