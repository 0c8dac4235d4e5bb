package director

import (
	"context"
	"encoding/json"
	"net/http"
	"net/netip"

	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/lvskit/lvskit/clock"
	"github.com/lvskit/lvskit/ipvs"
)

// Status is the JSON document served at /status.
type Status struct {
	RouterID      string `json:"router_id"`
	Backend       string `json:"backend"`
	BackendReason string `json:"backend_reason"`
	Config        string `json:"config"`
	// IPVSWrites counts the IPVS operations applied since start.
	IPVSWrites    uint64 `json:"ipvs_writes_total"`
	ReloadsOK     uint64 `json:"reloads_ok"`
	ReloadsFailed uint64 `json:"reloads_failed"`

	VRRP           []VRRPStatus          `json:"vrrp"`
	VirtualServers []VirtualServerStatus `json:"virtual_servers"`
	SyncDaemon     *SyncDaemonStatus     `json:"sync_daemon,omitempty"`
	// Error is set when the IPVS table could not be read.
	Error string `json:"error,omitempty"`
}

// VRRPStatus is one VRRP instance.
type VRRPStatus struct {
	Name              string `json:"name"`
	State             string `json:"state"`
	Priority          int    `json:"priority"`
	EffectivePriority int    `json:"effective_priority"`
	Master            string `json:"master,omitempty"`
	SyncGroup         string `json:"sync_group,omitempty"`
	// Error says why the instance is not running (it could not start).
	Error string `json:"error,omitempty"`
}

// VirtualServerStatus is one IPVS service.
type VirtualServerStatus struct {
	Service     string             `json:"service"`
	Scheduler   string             `json:"scheduler"`
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
		RouterID:      plan.RouterID,
		Backend:       d.backendName,
		BackendReason: d.backendReason,
		Config:        d.opts.ConfigPath,
		IPVSWrites:    d.backend.writes.Load(),
		ReloadsOK:     d.reloadOK.Load(),
		ReloadsFailed: d.reloadErr.Load(),
		VRRP:          []VRRPStatus{},
	}
	instStatus := map[string]VRRPStatus{}
	type poolSnap struct {
		alive    map[ipvs.DestinationKey]bool
		quorumUp bool
	}
	pools := map[ipvs.ServiceKey]poolSnap{}
	for _, r := range d.units {
		if p, ok := r.unit.(*poolUnit); ok {
			pools[p.vs.Key()] = poolSnap{alive: p.pool.Alive(), quorumUp: p.pool.QuorumUp()}
		}
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
			instStatus[s.Name] = vs
		}
	}
	d.mu.Unlock()

	for _, in := range plan.Instances {
		s, ok := instStatus[in.VRRP.Name]
		if !ok {
			s = VRRPStatus{Name: in.VRRP.Name, State: "INIT"}
		}
		s.Priority = in.VRRP.Priority
		s.SyncGroup = in.SyncGroup
		st.VRRP = append(st.VRRP, s)
	}
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
		vs := VirtualServerStatus{Service: k.String(), Scheduler: vp.Service.SchedulerName(), QuorumUp: snap.quorumUp, RealServers: []RealServerStatus{}}
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
			rs := RealServerStatus{Address: netip.AddrPortFrom(dk.Addr, dk.Port).String(), Weight: int(rp.Weight), Healthy: snap.alive[dk]}
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
	if f := d.follower.Load(); f != nil {
		role, e := f.status()
		st.SyncDaemon = &SyncDaemonStatus{Instance: f.cfg.Instance, Interface: f.cfg.Daemon.Interface, Role: role, Error: e}
	}
	return st
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
