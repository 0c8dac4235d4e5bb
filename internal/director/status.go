package director

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/netip"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/lvskit/lvskit/clock"
	"github.com/lvskit/lvskit/ipvs"
	"github.com/lvskit/lvskit/vrrp"
)

// Status is the JSON document served at /status and on the control
// socket, and what `director status` prints.
type Status struct {
	// Time is when the snapshot was taken, on the director's clock; the
	// time an instance has been in its state is Time - LastTransition.
	Time          time.Time `json:"time"`
	RouterID      string    `json:"router_id"`
	Backend       string    `json:"backend"`
	BackendReason string    `json:"backend_reason"`
	Config        string    `json:"config"`
	// IPVSWrites counts the IPVS operations applied since start.
	IPVSWrites    uint64 `json:"ipvs_writes_total"`
	ReloadsOK     uint64 `json:"reloads_ok"`
	ReloadsFailed uint64 `json:"reloads_failed"`

	VRRP []VRRPStatus `json:"vrrp"`
	// Scripts are the vrrp_scripts the instances track.
	Scripts        []ScriptStatus        `json:"vrrp_scripts"`
	VirtualServers []VirtualServerStatus `json:"virtual_servers"`
	SyncDaemon     *SyncDaemonStatus     `json:"sync_daemon,omitempty"`
	// BGP is the speaker's peers and routes (unit_bgp.go); absent without
	// a bgp block.
	BGP *BGPStatus `json:"bgp,omitempty"`
	// Error is set when the IPVS table could not be read.
	Error string `json:"error,omitempty"`
}

// VRRPStatus is one VRRP instance.
type VRRPStatus struct {
	Name              string `json:"name"`
	State             string `json:"state"`
	Interface         string `json:"interface"`
	VRID              int    `json:"vrid"`
	Version           int    `json:"version"`
	Priority          int    `json:"priority"`
	EffectivePriority int    `json:"effective_priority"`
	// Master is the current master's address (ours while MASTER).
	Master    string `json:"master,omitempty"`
	SyncGroup string `json:"sync_group,omitempty"`
	// VIPs are the virtual addresses as "ADDR[/LEN] dev LINK [label L]".
	VIPs []string `json:"vips"`
	// LastTransition is when the instance entered its state (zero before
	// its first transition); Transitions counts its state changes.
	LastTransition time.Time    `json:"last_transition,omitzero"`
	Transitions    uint64       `json:"transitions"`
	Counters       VRRPCounters `json:"counters"`
	// Error says why the instance is not running (it could not start).
	Error string `json:"error,omitempty"`
}

// VRRPCounters are an instance's counts since the director started (they
// outlive a reload that restarts the instance), as keepalived keeps them.
type VRRPCounters struct {
	AdvertsSent          uint64 `json:"adverts_sent"`
	AdvertsReceived      uint64 `json:"adverts_received"`
	PriorityZeroSent     uint64 `json:"priority_zero_sent"`
	PriorityZeroReceived uint64 `json:"priority_zero_received"`
	BecameMaster         uint64 `json:"became_master"`
	LeftMaster           uint64 `json:"left_master"`
	// Drops counts received packets dropped, by the rule they broke
	// (vrrp.DropReason).
	Drops map[string]uint64 `json:"drops,omitempty"`
}

// VirtualServerStatus is one IPVS service.
type VirtualServerStatus struct {
	// Service is "TCP 10.0.0.1:80" or "FWM 1 inet".
	Service string `json:"service"`
	// Protocol is TCP, UDP, SCTP or FWM; Address is ip:port, or the mark
	// of a FWM service.
	Protocol  string `json:"protocol"`
	Address   string `json:"address"`
	Scheduler string `json:"scheduler"`
	// Flags are ipvsadm's words for the service flags: ops, sh-fallback,
	// sh-port, mh-fallback, mh-port, flag-3.
	Flags []string `json:"flags,omitempty"`
	// Persistence is the persistence timeout in seconds (0: none), with
	// its client netmask as a prefix length.
	Persistence     int `json:"persistence,omitempty"`
	PersistenceMask int `json:"persistence_mask,omitempty"`

	QuorumUp    bool               `json:"quorum_up"`
	InTable     bool               `json:"in_table"`
	Connections uint64             `json:"connections"`
	BytesIn     uint64             `json:"bytes_in"`
	BytesOut    uint64             `json:"bytes_out"`
	RealServers []RealServerStatus `json:"real_servers"`
}

// RealServerStatus is one real server with its health and its entry in
// the IPVS table.
type RealServerStatus struct {
	Address       string `json:"address"` // ip:port
	Weight        int    `json:"weight"`  // configured
	Forward       string `json:"forward"` // nat, dr or tun
	Healthy       bool   `json:"healthy"`
	InTable       bool   `json:"in_table"`
	TableWeight   int    `json:"table_weight"`
	ActiveConns   uint32 `json:"active_conns"`
	InactiveConns uint32 `json:"inactive_conns"`
	Connections   uint64 `json:"connections"`
	BytesIn       uint64 `json:"bytes_in"`
	BytesOut      uint64 `json:"bytes_out"`
}

// SyncDaemonStatus is the connection sync daemon.
type SyncDaemonStatus struct {
	Instance  string `json:"instance,omitempty"`
	Interface string `json:"interface"`
	Role      string `json:"role"` // "", master, backup, both
	Error     string `json:"error,omitempty"`
}

// Status returns a snapshot of the director.
func (d *Director) Status(ctx context.Context) Status {
	d.mu.Lock()
	plan := d.plan
	st := Status{
		Time:          d.clock.Now(),
		RouterID:      plan.RouterID,
		Backend:       d.backendName,
		BackendReason: d.backendReason,
		Config:        d.opts.ConfigPath,
		IPVSWrites:    d.backend.writes.Load(),
		ReloadsOK:     d.reloadOK.Load(),
		ReloadsFailed: d.reloadErr.Load(),
		VRRP:          []VRRPStatus{},
	}
	type poolSnap struct {
		alive    map[ipvs.DestinationKey]bool
		quorumUp bool
	}
	pools := map[ipvs.ServiceKey]poolSnap{}
	for _, r := range d.units {
		if p, ok := r.unit.(*poolUnit); ok {
			pools[p.vs.Key()] = poolSnap{alive: p.pool.Alive(), quorumUp: p.pool.QuorumUp()}
		}
	}
	running := d.runningInstances()
	d.mu.Unlock()
	st.VRRP = d.instanceStatus(plan, running)
	st.Scripts = d.scriptStatus(plan)
	dctx, cancel := clock.WithTimeout(ctx, d.clock, 5*time.Second)
	table, err := d.backend.Dump(dctx)
	cancel()
	if err != nil {
		st.Error = "dump IPVS table: " + err.Error()
	}
	byKey := map[ipvs.ServiceKey]*ipvs.Service{}
	for i := range table {
		byKey[table[i].Key()] = &table[i]
	}
	st.VirtualServers = []VirtualServerStatus{}
	for i := range plan.VirtualServers {
		vp := &plan.VirtualServers[i]
		k := vp.Key()
		snap := pools[k]
		vs := VirtualServerStatus{Service: k.String(), Protocol: "FWM", Address: fmt.Sprint(k.FWMark),
			Scheduler: vp.Service.SchedulerName(), Flags: serviceFlags(&vp.Service), QuorumUp: snap.quorumUp, RealServers: []RealServerStatus{}}
		if k.FWMark == 0 {
			vs.Protocol, vs.Address = k.Protocol.String(), netip.AddrPortFrom(k.Addr, k.Port).String()
		}
		if t := vp.Service.PersistenceTimeout; t > 0 {
			vs.Persistence = int(t / time.Second)
			if m := vp.Service.PersistenceMask(); m != 32 && m != 128 {
				vs.PersistenceMask = m
			}
		}
		have := byKey[k]
		dests := map[ipvs.DestinationKey]*ipvs.Destination{}
		if have != nil {
			vs.InTable = true
			vs.Connections, vs.BytesIn, vs.BytesOut = have.Stats.Connections, have.Stats.BytesIn, have.Stats.BytesOut
			for j := range have.Destinations {
				dst := &have.Destinations[j]
				dests[have.DestinationKey(dst)] = dst
			}
		}
		for j := range vp.RealServers {
			rp := &vp.RealServers[j]
			dk := vp.Service.DestinationKey(&rp.Destination)
			rs := RealServerStatus{Address: netip.AddrPortFrom(dk.Addr, dk.Port).String(), Weight: int(rp.Weight),
				Forward: rp.Forward.String(), Healthy: snap.alive[dk]}
			if dst := dests[dk]; dst != nil {
				rs.InTable = true
				rs.TableWeight = int(dst.Weight)
				rs.ActiveConns, rs.InactiveConns = dst.ActiveConns, dst.InactiveConns
				rs.Connections, rs.BytesIn, rs.BytesOut = dst.Stats.Connections, dst.Stats.BytesIn, dst.Stats.BytesOut
			}
			vs.RealServers = append(vs.RealServers, rs)
		}
		st.VirtualServers = append(st.VirtualServers, vs)
	}
	st.BGP = d.bgpStatus(plan)
	if f := d.follower.Load(); f != nil {
		role, e := f.status()
		st.SyncDaemon = &SyncDaemonStatus{Instance: f.cfg.Instance, Interface: f.cfg.Daemon.Interface, Role: role, Error: e}
	}
	return st
}

// runningInstances snapshots the running VRRP instances by name: state,
// effective priority, master and why Run failed. Call with d.mu held.
func (d *Director) runningInstances() map[string]VRRPStatus {
	out := map[string]VRRPStatus{}
	for _, r := range d.units {
		u, ok := r.unit.(*vrrpUnit)
		if !ok {
			continue
		}
		for _, in := range u.instances {
			s := in.Status()
			vs := VRRPStatus{Name: s.Name, State: s.State.String(), EffectivePriority: int(s.Priority), Error: u.runError(s.Name)}
			if s.Master.IsValid() {
				vs.Master = s.Master.String()
			}
			out[s.Name] = vs
		}
	}
	return out
}

// vrrpSnapshot is the plan running now with the status of its instances.
func (d *Director) vrrpSnapshot() (*Plan, []VRRPStatus) {
	d.mu.Lock()
	plan := d.plan
	running := d.runningInstances()
	d.mu.Unlock()
	return plan, d.instanceStatus(plan, running)
}

// instanceStatus is the status of each instance of the plan, in its
// order: what runs (INIT for an instance not running), its configuration
// and its counters.
func (d *Director) instanceStatus(plan *Plan, running map[string]VRRPStatus) []VRRPStatus {
	out := []VRRPStatus{}
	for i := range plan.Instances {
		in := &plan.Instances[i]
		s, ok := running[in.VRRP.Name]
		if !ok {
			s = VRRPStatus{Name: in.VRRP.Name, State: "INIT"}
		}
		s.Interface, s.VRID, s.Version = in.VRRP.Interface, int(in.VRRP.VRID), vrrpVersion(&in.VRRP)
		s.Priority = in.VRRP.Priority
		s.SyncGroup = in.SyncGroup
		s.VIPs = []string{}
		for _, v := range in.VRRP.VIPs {
			s.VIPs = append(s.VIPs, vipString(v, in.VRRP.Interface))
		}
		s.LastTransition = d.lastTransition(in.VRRP.Name)
		vs := d.vrrpMetrics.Stats(in.VRRP.Name)
		s.Transitions = vs.Transitions
		s.Counters = VRRPCounters{AdvertsSent: vs.AdvertsSent, AdvertsReceived: vs.AdvertsReceived,
			PriorityZeroSent: vs.PriorityZeroSent, PriorityZeroReceived: vs.PriorityZeroReceived,
			BecameMaster: vs.BecameMaster, LeftMaster: vs.LeftMaster}
		for r, n := range vs.Drops {
			if s.Counters.Drops == nil {
				s.Counters.Drops = map[string]uint64{}
			}
			s.Counters.Drops[string(r)] = n
		}
		out = append(out, s)
	}
	return out
}

// lastTransition is when the instance named name last changed state, or
// zero.
func (d *Director) lastTransition(name string) time.Time {
	t, _ := d.lastTransitions.Load(name)
	tt, _ := t.(time.Time)
	return tt
}

// vrrpVersion is the instance's VRRP version with the default resolved:
// 2 for IPv4, 3 for IPv6, as keepalived's vrrp_version default.
func vrrpVersion(c *vrrp.Config) int {
	if c.Version != 0 {
		return c.Version
	}
	if len(c.VIPs) > 0 && c.VIPs[0].Prefix.Addr().Is6() {
		return 3
	}
	return 2
}

// vipString is a virtual address as the status shows it:
// "ADDR[/LEN] dev LINK [label L]", the length left out for a host address.
func vipString(v vrrp.VIP, iface string) string {
	s := v.Prefix.Addr().String()
	if !v.Prefix.IsSingleIP() {
		s = v.Prefix.String()
	}
	link := v.Link
	if link == "" {
		link = iface
	}
	s += " dev " + link
	if v.Label != "" {
		s += " label " + v.Label
	}
	return s
}

// serviceFlags names a service's flags as ipvsadm does.
func serviceFlags(s *ipvs.Service) []string {
	var out []string
	if s.Flags&ipvs.OnePacket != 0 {
		out = append(out, "ops")
	}
	prefix := ""
	switch s.SchedulerName() {
	case "sh":
		prefix = "sh-"
	case "mh":
		prefix = "mh-"
	}
	if prefix != "" && s.Flags&ipvs.SHFallback != 0 {
		out = append(out, prefix+"fallback")
	}
	if prefix != "" && s.Flags&ipvs.SHPort != 0 {
		out = append(out, prefix+"port")
	}
	if prefix == "" && s.Flags&(ipvs.SHFallback|ipvs.SHPort) != 0 {
		if s.Flags&ipvs.SHFallback != 0 {
			out = append(out, "flag-1")
		}
		if s.Flags&ipvs.SHPort != 0 {
			out = append(out, "flag-2")
		}
	}
	if s.Flags&ipvs.Sched3 != 0 {
		out = append(out, "flag-3")
	}
	return out
}

// Handler serves /metrics (Prometheus) and /status (JSON).
func (d *Director) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(d.reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("/status", func(w http.ResponseWriter, r *http.Request) {
		st := d.Status(r.Context())
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(st)
	})
	return mux
}

// alertCollector forwards to the notifier of the moment (it changes on a
// reload that changes the mail settings). It is an unchecked collector.
type alertCollector struct{ d *Director }

func (alertCollector) Describe(chan<- *prometheus.Desc) {}

func (c alertCollector) Collect(ch chan<- prometheus.Metric) {
	if n := c.d.notifier.Load(); n != nil {
		n.Collect(ch)
	}
}
